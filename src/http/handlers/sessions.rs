//! Signing in and out: access and refresh tokens.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::tokens::{self, OpaqueToken};
use crate::db::ids::{AccountId, SessionId};
use crate::db::sessions;
use crate::db::sessions::Rotation;
use crate::domain::account::Role;
use crate::http::ApiError;
use crate::http::auth::{Authenticated, request_id};
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::schemas;
use crate::http::throttle::{SignIn, limited};
use crate::state::AppState;
use crate::use_cases::accounts::{self, SignInAttempt, SignInBackoff};
use actix_web::middleware::from_fn;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    #[schema(schema_with = schemas::email)]
    pub email: String,
    #[schema(schema_with = schemas::current_password)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(schema_with = schemas::opaque_token)]
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer …`.
    #[schema(max_length = 4096)]
    pub access_token: String,
    #[schema(example = "Bearer")]
    #[schema(max_length = 20)]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single-use: exchange it at `/api/v1/sessions/refresh` for a new pair.
    #[schema(schema_with = schemas::opaque_token)]
    pub refresh_token: String,
}

/// Signs in. A wrong email and a wrong password get the same 401 in about the same time;
/// 403 `email-not-verified` comes only after a correct password.
#[utoipa::path(
    tag = "sessions",
    request_body = SignInRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`email-not-verified`", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/sessions", wrap = "from_fn(limited::<SignIn>)")]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<SignInRequest>,
) -> Result<HttpResponse, ApiError> {
    let throttles = &state.throttles;
    let backoff = SignInBackoff {
        keys: &throttles.keys,
        rule: throttles.failed_sign_ins,
        locks: &throttles.failed_sign_in_locks,
    };
    let attempt = SignInAttempt {
        email: &body.email,
        password: &body.password,
        device: &device_label(&req),
        request_id: request_id(&req),
    };
    let refresh_ttl = Duration::days(state.settings.auth.refresh_token_ttl_days);
    let opened =
        accounts::sign_in(&state.pool, &state.hasher, &backoff, refresh_ttl, attempt).await?;
    token_pair(
        &state,
        opened.account,
        opened.session,
        opened.role,
        opened.refresh_token,
    )
}

/// Exchanges a refresh token for a new pair. Presenting a spent one revokes that whole session.
#[utoipa::path(
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/sessions/refresh")]
pub async fn refresh_session(
    state: web::Data<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let replacement = OpaqueToken::generate();
    let mut conn = state.pool.get().await?;
    match sessions::rotate(
        &mut conn,
        &tokens::digest(&body.refresh_token),
        &replacement.digest(),
    )
    .await?
    {
        Rotation::Rotated {
            account_id,
            session_id,
            role,
        } => token_pair(&state, account_id, session_id, role, replacement),
        Rotation::Reused => {
            tracing::warn!("a spent refresh token was presented; its session is revoked");
            Err(ApiError::Unauthorized(
                "this refresh token has been used before; the session is signed out",
            ))
        }
        Rotation::Invalid => Err(ApiError::Unauthorized(
            "the refresh token is invalid or its session is over",
        )),
    }
}

/// Signs out: revokes the session of the access token used.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"))
)]
#[delete("/api/v1/sessions/current")]
pub async fn sign_out(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    revoke_session(&state, &caller, caller.session_id).await
}

/// Revokes one of the caller's sessions and audits it; 404 if it is not theirs or not live.
pub async fn revoke_session(
    state: &AppState,
    caller: &Authenticated,
    session: SessionId,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let (actor, account) = (caller.actor(), caller.account_id);
    crate::use_cases::accounts::revoke_session(&mut conn, &actor, account, session).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn token_pair(
    state: &AppState,
    account: AccountId,
    session: SessionId,
    role: Role,
    refresh: OpaqueToken,
) -> Result<HttpResponse, ApiError> {
    let access_token =
        state
            .jwt
            .issue(account.into(), session.into(), role, Utc::now().timestamp())?;
    Ok(HttpResponse::Ok().json(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.jwt.ttl_secs,
        refresh_token: refresh.into_string(),
    }))
}

/// A short label for the device list, from the User-Agent header.
fn device_label(req: &HttpRequest) -> String {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown device")
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}
