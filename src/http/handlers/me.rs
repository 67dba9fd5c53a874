//! The signed-in resident's own account: view and correct it, change email, preferences, and the
//! list of signed-in devices.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::password::Verified;
use crate::db::ids::SessionId;
use crate::db::{accounts, sessions};
use crate::domain::account::{AccountName, EmailAddress};
use crate::domain::validation::ValidationErrors;
use crate::http::ApiError;
use crate::http::auth::Authenticated;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::schemas;
use crate::http::throttle::{SignUp, limited};
use crate::http::views::Me;
use crate::state::AppState;
use crate::use_cases;
use actix_web::middleware::from_fn;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[schema(schema_with = schemas::account_name)]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmail {
    #[schema(schema_with = schemas::email)]
    pub new_email: String,
    /// The current password, to confirm it is really the account holder.
    #[schema(schema_with = schemas::current_password)]
    pub password: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Email me when one of my applications changes status.
    pub status_update_emails: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    #[schema(max_length = 120)]
    pub device: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session of the token that made this request.
    pub current: bool,
}

/// The caller's account.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/me")]
pub async fn get_me(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let account = accounts::find(&mut conn, caller.account_id).await?;
    Ok(HttpResponse::Ok().json(Me::from_account(account)))
}

/// Corrects the caller's name (the right to rectification).
#[utoipa::path(tag = "me", security(("bearer" = [])), request_body = UpdateMe, responses((status = 200, body = Me), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[patch("/api/v1/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: Authenticated,
    Json(body): Json<UpdateMe>,
) -> Result<HttpResponse, ApiError> {
    let name = AccountName::parse(&body.name)
        .map_err(|e| ValidationErrors::single("name", e.to_string()))?;
    let mut conn = state.pool.get().await?;
    let account =
        use_cases::accounts::rectify_name(&mut conn, &caller.actor(), caller.account_id, &name)
            .await?;
    Ok(HttpResponse::Ok().json(Me::from_account(account)))
}

/// Starts an email change: the new address gets a confirmation link, and the change takes effect
/// when it is followed (the old address is then told). 202 whether or not the new address is free.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ChangeEmail,
    responses(
        (status = 202, body = super::accounts::Accepted),
        (status = 403, description = "`wrong-password`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
// It sends email to an address the caller names: limited like sign-up.
#[post("/api/v1/me/email", wrap = "from_fn(limited::<SignUp>)")]
pub async fn change_email(
    state: web::Data<AppState>,
    caller: Authenticated,
    Json(body): Json<ChangeEmail>,
) -> Result<HttpResponse, ApiError> {
    let new_email = EmailAddress::parse(&body.new_email)
        .map_err(|e| ValidationErrors::single("new_email", e.to_string()))?;
    // Not holding a connection while the password is checked (see sessions::sign_in).
    let account = accounts::find(&mut *state.pool.get().await?, caller.account_id).await?;
    let verified = state
        .hasher
        .verify(&body.password, account.password_hash.as_deref())
        .await?;
    if verified == Verified::No {
        return Err(ApiError::Forbidden {
            code: "wrong-password",
            detail: "the current password is not right".into(),
        });
    }
    let mut conn = state.pool.get().await?;
    use_cases::accounts::request_email_change(
        &mut conn,
        &state.settings.app,
        &caller.actor(),
        &account,
        &new_email,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(super::accounts::Accepted {
        status: "accepted",
        detail: "We have sent a confirmation link to the new address. The change takes effect when it is followed.",
    }))
}

/// The caller's preferences.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = Preferences)))]
#[get("/api/v1/me/preferences")]
pub async fn get_preferences(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let account = accounts::find(&mut conn, caller.account_id).await?;
    Ok(HttpResponse::Ok().json(Preferences {
        status_update_emails: account.status_update_emails,
    }))
}

/// Replaces the caller's preferences.
#[utoipa::path(tag = "me", security(("bearer" = [])), request_body = Preferences, responses((status = 200, body = Preferences), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/api/v1/me/preferences")]
pub async fn put_preferences(
    state: web::Data<AppState>,
    caller: Authenticated,
    Json(body): Json<Preferences>,
) -> Result<HttpResponse, ApiError> {
    let on = body.status_update_emails;
    let mut conn = state.pool.get().await?;
    use_cases::accounts::set_status_update_emails(
        &mut conn,
        &caller.actor(),
        caller.account_id,
        on,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Preferences {
        status_update_emails: on,
    }))
}

/// The caller's signed-in devices (live sessions), newest first.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = Page<SessionView>)))]
#[get("/api/v1/me/sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let (limit, after) = pagination::parse(query.limit, query.cursor.as_deref())?;
    let rows = sessions::list_live(&mut conn, caller.account_id, after, limit).await?;
    let page = pagination::page(rows, limit, sessions::Session::position, |s| SessionView {
        current: s.id == caller.session_id,
        id: s.id.into(),
        device: s.device,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: s.expires_at,
    });
    Ok(HttpResponse::Ok().json(page))
}

/// Signs one of the caller's devices out.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/api/v1/me/sessions/{id}")]
pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    super::sessions::revoke_session(&state, &caller, SessionId(id.into_inner())).await
}
