//! Account use cases shared by the HTTP handlers and the command line: the links emails carry,
//! and creating staff accounts. No HTTP here.

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::auth::tokens::OpaqueToken;
use crate::configuration::AppSettings;
use crate::db::accounts::{NewAccountRow, TokenPurpose};
use crate::db::audit::{self, Actor};
use crate::db::{accounts, outbox};
use crate::domain::account::{AccountName, EmailAddress, Role};
use crate::email::templates::Template;

pub const VERIFY_TOKEN_TTL: Duration = Duration::hours(24);
pub const RESET_TOKEN_TTL: Duration = Duration::hours(1);

/// A link into the resident web frontend, e.g. `<frontend_url>/verify-email?token=…`.
pub fn frontend_link(app: &AppSettings, page: &str, token: Option<&OpaqueToken>) -> String {
    let base = app.frontend_url.trim_end_matches('/');
    match token {
        Some(token) => format!("{base}/{page}?token={}", token.as_str()),
        None => format!("{base}/{page}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Creates a staff or admin account, verified (the council vouches for the address). With a
/// password hash the account can sign in at once; without one, a "choose your password" email
/// (a 24-hour reset link) is queued.
pub async fn create_staff(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    actor: &Actor,
    name: &AccountName,
    email: &EmailAddress,
    role: Role,
    password_hash: Option<&str>,
) -> Result<Uuid, StaffError> {
    conn.transaction(async move |conn| {
        let now = Utc::now();
        let row = NewAccountRow {
            name: name.as_str(),
            email: email.as_str(),
            email_normalized: &email.normalized(),
            password_hash,
            role: role.as_str(),
            terms_version: &app.terms_version,
            terms_accepted_at: now,
            email_verified_at: Some(now),
        };
        let id = accounts::insert_if_new(conn, &row)
            .await?
            .ok_or(StaffError::EmailTaken)?;
        if password_hash.is_none() {
            let token = OpaqueToken::generate();
            accounts::insert_token(
                conn,
                &token.digest(),
                id,
                TokenPurpose::ResetPassword,
                None,
                now + VERIFY_TOKEN_TTL,
            )
            .await?;
            let welcome = Template::StaffWelcome {
                name: name.as_str().to_owned(),
                role: role.as_str().to_owned(),
                link: frontend_link(app, "reset-password", Some(&token)),
            };
            outbox::enqueue(conn, Some(id), email.as_str(), &welcome).await?;
        }
        audit::record(
            conn,
            actor,
            audit::Event {
                action: "staff.created",
                ..audit::about_account("", id)
            },
        )
        .await?;
        Ok(id)
    })
    .await
}
