//! Sign-up, email verification and password reset: the endpoints used before signing in.
//! Answers never reveal whether an address has an account.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{RESET_TOKEN_TTL, VERIFY_TOKEN_TTL, frontend_link};
use crate::auth::tokens::{self, OpaqueToken};
use crate::db::accounts::{NewAccountRow, TokenPurpose};
use crate::db::audit::{self, Actor};
use crate::db::{accounts, outbox, sessions};
use crate::domain::account::{EmailAddress, NewAccount, Password};
use crate::domain::validation::ValidationErrors;
use crate::email::templates::Template;
use crate::http::ApiError;
use crate::http::auth::request_id;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// How the resident wants to be addressed (1–100 characters, any script).
    #[schema(example = "Siân O'Brien-Ng")]
    pub name: String,
    #[schema(example = "sian@example.org")]
    pub email: String,
    /// 12–128 characters, not a common password.
    #[schema(format = Password)]
    pub password: String,
    /// Must be `true`: the account is opened under the contract of the current terms.
    pub accept_terms: bool,
}

/// The same answer whatever happened, so no one can learn which addresses have accounts.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "accepted")]
    pub status: &'static str,
    pub detail: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the emailed link.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Done {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    #[schema(format = Password)]
    pub new_password: String,
}

const SIGN_UP_ACCEPTED: Accepted = Accepted {
    status: "accepted",
    detail: "We have sent an email to this address. Follow the link in it to continue.",
};

const RESET_ACCEPTED: Accepted = Accepted {
    status: "accepted",
    detail: "If this address has an account, we have sent it a link to reset the password.",
};

/// Opens a resident account (name and email only, under the lawful basis *contract*).
///
/// Always 202 with the same body. A new address gets a verification email; an address that
/// already has an account gets a "you already have an account" email instead.
#[utoipa::path(
    tag = "accounts",
    request_body = SignUpRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/accounts")]
pub async fn sign_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<SignUpRequest>,
) -> Result<HttpResponse, ApiError> {
    super::throttle(&state.throttles.sign_up, &req)?;
    let new = NewAccount::parse(&body.name, &body.email, &body.password, body.accept_terms)?;
    // Hashed whether or not the address is taken, so both paths take the same time.
    let hash = state.hasher.hash(new.password.expose()).await?;
    let app = &state.settings.app;
    let request_id = request_id(&req);
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let now = Utc::now();
        let normalized = new.email.normalized();
        let row = NewAccountRow {
            name: new.name.as_str(),
            email: new.email.as_str(),
            email_normalized: &normalized,
            password_hash: Some(&hash),
            role: "resident",
            terms_version: &app.terms_version,
            terms_accepted_at: now,
            email_verified_at: None,
        };
        let (account_id, name, address, verified) = match accounts::insert_if_new(conn, &row)
            .await?
        {
            Some(id) => {
                let actor = Actor {
                    id: Some(id),
                    role: "resident",
                    request_id,
                };
                audit::record(conn, &actor, audit::about_account("account.created", id)).await?;
                (
                    id,
                    new.name.as_str().to_owned(),
                    new.email.as_str().to_owned(),
                    false,
                )
            }
            None => {
                let existing = accounts::find_by_email(conn, &normalized)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Internal(anyhow::anyhow!("account vanished during sign-up"))
                    })?;
                let verified = existing.email_verified_at.is_some();
                if verified {
                    (existing.id, existing.name, existing.email, true)
                } else {
                    // Never verified: whoever signed up before cannot be trusted to own the address.
                    // The latest sign-up's name and password replace theirs and earlier links stop
                    // working, so only the person who controls the mailbox ends up with the account.
                    accounts::restart_unverified(conn, existing.id, new.name.as_str(), &hash)
                        .await?;
                    let name = new.name.as_str().to_owned();
                    (existing.id, name, existing.email, false)
                }
            }
        };
        let email = if verified {
            Template::AlreadyRegistered {
                name,
                sign_in_link: frontend_link(app, "sign-in", None),
                reset_link: frontend_link(app, "forgot-password", None),
            }
        } else {
            // New, or registered but never verified: (re)send a verification link.
            let token = OpaqueToken::generate();
            accounts::insert_token(
                conn,
                &token.digest(),
                account_id,
                TokenPurpose::VerifyEmail,
                None,
                now + VERIFY_TOKEN_TTL,
            )
            .await?;
            Template::VerifyEmail {
                name,
                link: frontend_link(app, "verify-email", Some(&token)),
            }
        };
        outbox::enqueue(conn, Some(account_id), &address, &email).await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().json(SIGN_UP_ACCEPTED))
}

/// Confirms an email address from the emailed link: a new account's address, or the new address
/// of an email change (which then takes effect, and the old address is told).
#[utoipa::path(
    tag = "accounts",
    request_body = TokenRequest,
    responses(
        (status = 200, body = Done),
        (status = 409, description = "The new address has been taken by another account meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown, used or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/accounts/verify")]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let digest = tokens::digest(&body.token);
    let request_id = request_id(&req);
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let purposes = [TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail];
        let spent = accounts::spend_token(conn, &digest, &purposes)
            .await?
            .ok_or_else(invalid_token)?;
        let account = accounts::find(conn, spent.account_id).await?;
        let actor = Actor {
            id: Some(account.id),
            role: "resident",
            request_id,
        };
        match spent.new_email {
            None => {
                accounts::mark_verified(conn, account.id).await?;
                audit::record(
                    conn,
                    &actor,
                    audit::about_account("account.email_verified", account.id),
                )
                .await?;
            }
            Some(new_email) => {
                let parsed = EmailAddress::parse(&new_email).map_err(|_| invalid_token())?;
                if !accounts::set_email(conn, account.id, parsed.as_str(), &parsed.normalized())
                    .await?
                {
                    return Err(ApiError::Conflict(
                        "this email address now belongs to another account".into(),
                    ));
                }
                accounts::mark_verified(conn, account.id).await?;
                let notice = Template::EmailChanged {
                    name: account.name.clone(),
                    new_email: mask_email(&new_email),
                };
                outbox::enqueue(conn, Some(account.id), &account.email, &notice).await?;
                audit::record(
                    conn,
                    &actor,
                    audit::about_account("account.email_changed", account.id),
                )
                .await?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Done { status: "ok" }))
}

/// Asks for a password-reset link. Always 202, whether or not the address has an account.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/password-resets")]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    super::throttle(&state.throttles.password_reset, &req)?;
    // A malformed address cannot have an account: same answer, nothing to do.
    let Ok(email) = EmailAddress::parse(&body.email) else {
        return Ok(HttpResponse::Accepted().json(RESET_ACCEPTED));
    };
    // Answered before the look-up, so the response time says nothing about whether the address
    // has an account; the link is queued right after (a failure is logged, and the person retries).
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        if let Err(error) = queue_reset_link(&state, &email).await {
            tracing::error!(error = ?error, "could not queue a password-reset email");
        }
    });
    Ok(HttpResponse::Accepted().json(RESET_ACCEPTED))
}

async fn queue_reset_link(state: &AppState, email: &EmailAddress) -> Result<(), ApiError> {
    let app = &state.settings.app;
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let Some(account) = accounts::find_by_email(conn, &email.normalized()).await? else {
            return Ok(());
        };
        let token = OpaqueToken::generate();
        let expires_at = Utc::now() + RESET_TOKEN_TTL;
        accounts::insert_token(
            conn,
            &token.digest(),
            account.id,
            TokenPurpose::ResetPassword,
            None,
            expires_at,
        )
        .await?;
        let link = frontend_link(app, "reset-password", Some(&token));
        let email = Template::ResetPassword {
            name: account.name,
            link,
        };
        outbox::enqueue(conn, Some(account.id), &account.email, &email).await?;
        Ok(())
    })
    .await
}

/// Sets a new password from a reset link. Every session of the account is signed out.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetConfirm,
    responses(
        (status = 200, body = Done),
        (status = 422, description = "Weak password, or unknown, used or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/password-resets/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse(&body.new_password)
        .map_err(|e| ValidationErrors::single("new_password", e.to_string()))?;
    let hash = state.hasher.hash(password.expose()).await?;
    let digest = tokens::digest(&body.token);
    let app = &state.settings.app;
    let request_id = request_id(&req);
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let spent = accounts::spend_token(conn, &digest, &[TokenPurpose::ResetPassword])
            .await?
            .ok_or_else(invalid_token)?;
        let account = accounts::find(conn, spent.account_id).await?;
        accounts::set_password_hash(conn, account.id, &hash).await?;
        // Following the emailed link proves the address, too.
        accounts::mark_verified(conn, account.id).await?;
        sessions::revoke_all(conn, account.id).await?;
        let notice = Template::PasswordChanged {
            name: account.name.clone(),
            reset_link: frontend_link(app, "forgot-password", None),
        };
        outbox::enqueue(conn, Some(account.id), &account.email, &notice).await?;
        let actor = Actor {
            id: Some(account.id),
            role: "resident",
            request_id,
        };
        audit::record(
            conn,
            &actor,
            audit::about_account("account.password_reset", account.id),
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Done { status: "ok" }))
}

fn invalid_token() -> ApiError {
    ApiError::invalid("token", "is invalid, has been used, or has expired")
}

/// `sian.jones@example.org` → `s***@example.org`: enough to recognise, not to harvest.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}
