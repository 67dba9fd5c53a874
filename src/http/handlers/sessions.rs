//! Signing in and out: access and refresh tokens.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::password::Verified;
use crate::auth::throttle::retry_after_secs;
use crate::auth::tokens::{self, OpaqueToken};
use crate::db::audit::Actor;
use crate::db::ids::{AccountId, SessionId};
use crate::db::sessions::Rotation;
use crate::db::{accounts, sessions, throttles};
use crate::domain::account::{EmailAddress, Role};
use crate::http::ApiError;
use crate::http::auth::{Authenticated, request_id};
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::schemas;
use crate::http::throttle::{SignIn, limited};
use crate::state::AppState;
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

const WRONG_CREDENTIALS: ApiError =
    ApiError::Unauthorized("the email address or password is not right");

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
    // No longer address can exist; capping the key keeps the back-off map small under a flood.
    let key: String = body
        .email
        .trim()
        .to_lowercase()
        .chars()
        .take(EmailAddress::MAX_CHARS + 1)
        .collect();
    // Counted as a failure before the slow check, so parallel guesses all count (on every
    // instance: the count is in the database, sent with the account lookup in one round trip);
    // a success clears it.
    let backoff = state.throttles.failed_sign_ins;
    let address_key = state.throttles.keys.address(&key);
    let account = {
        let conn = state.pool.get().await?;
        let (locked, account) = futures_util::future::try_join(
            throttles::begin_sign_in_attempt(
                &conn,
                &address_key,
                backoff.free_failures,
                &state.throttles.failed_sign_in_locks,
                backoff.max,
            ),
            accounts::find_by_email(&conn, &key),
        )
        .await?;
        if let Some(wait) = locked {
            return Err(ApiError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            });
        }
        account
    };
    // No connection is held while waiting for the hasher: a burst of sign-ins must not drain the
    // pool that every other request needs.
    // Verified against a dummy hash when there is no account: the same work either way.
    let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let verified = state.hasher.verify(&body.password, stored).await?;
    let (Some(account), Verified::Yes | Verified::YesRehashed(_)) = (account, &verified) else {
        return Err(WRONG_CREDENTIALS);
    };
    let mut conn = state.pool.get().await?;
    // The session may only be written for the password checked here, if it is still current.
    let mut checked_hash = account.password_hash.clone().unwrap_or_default();
    if let Verified::YesRehashed(new_hash) = &verified
        && accounts::rehash_password(&mut conn, account.id, &checked_hash, new_hash).await?
    {
        checked_hash = new_hash.clone();
    }
    if account.email_verified_at.is_none() {
        // The password was right: the address's failures are cleared all the same.
        throttles::clear_sign_in_failures(&conn, &address_key).await?;
        return Err(ApiError::Forbidden {
            code: "email-not-verified",
            detail: "confirm your email address first: follow the link we emailed you".into(),
        });
    }
    let role = account.role;
    let refresh_token = OpaqueToken::generate();
    let expires_at = Utc::now() + Duration::days(state.settings.auth.refresh_token_ttl_days);
    let device = device_label(&req);
    let actor = Actor {
        id: Some(account.id),
        role: role.as_str(),
        request_id: request_id(&req),
    };
    let digest = refresh_token.digest();
    let session_id = crate::use_cases::accounts::open_session(
        &mut conn,
        &actor,
        account.id,
        &checked_hash,
        &device,
        expires_at,
        &digest,
        &address_key,
    )
    .await
    .map_err(|failure| match failure {
        // Reset or erased while the password was being checked: as if it were wrong.
        crate::use_cases::Error::PasswordChanged | crate::use_cases::Error::Erased => {
            WRONG_CREDENTIALS
        }
        other => other.into(),
    })?;
    token_pair(&state, account.id, session_id, role, refresh_token)
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
