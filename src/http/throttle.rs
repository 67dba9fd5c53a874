//! Per-client rate limits as route middleware. It counts the request before anything else is
//! read, so every answer of a throttled operation — a 422 as
//! much as a 202 — carries the `RateLimit-Policy` and `RateLimit` fields (added by
//! `middleware::response_headers` from the status this leaves on the request). The count is one
//! statement in the database, shared by every instance; a refusal that still stands is answered
//! from this instance's memory.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};

use crate::auth::throttle::{RateLimit, retry_after_secs};
use crate::db::throttles;
use crate::http::ApiError;
use crate::state::{AppState, Throttles};

/// Which limit an operation counts against.
pub trait Limit {
    fn limit(throttles: &Throttles) -> RateLimit;
}

/// Sign-up and email change: both send a link to an address the caller chooses.
pub struct SignUp;
pub struct SignIn;
/// Asking for a reset link and using one.
pub struct PasswordReset;

impl Limit for SignUp {
    fn limit(throttles: &Throttles) -> RateLimit {
        throttles.sign_up
    }
}

impl Limit for SignIn {
    fn limit(throttles: &Throttles) -> RateLimit {
        throttles.sign_in
    }
}

impl Limit for PasswordReset {
    fn limit(throttles: &Throttles) -> RateLimit {
        throttles.password_reset
    }
}

/// The limit `L` as middleware of one route (`#[post(…, wrap = "from_fn(limited::<SignIn>)")]`):
/// the request is counted before any of the handler's extractors runs, so a malformed body or a
/// bad token is counted and told its budget like any other request; over the limit it is 429 with
/// an exact `Retry-After`, and the handler never runs.
pub async fn limited<L: Limit>(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match count::<L>(req.request()).await {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

async fn count<L: Limit>(req: &HttpRequest) -> Result<(), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no AppState")))?;
    let throttles = &state.throttles;
    let limit = L::limit(throttles);
    let key = throttles.keys.client(client_ip(req, state));
    let now = Instant::now();
    let (allowed, ahead) = match throttles.refusals.standing(&limit, &key, now) {
        Some(ahead) => (false, ahead),
        None => {
            let (allowed, ahead) = throttles::take_rate_limit(
                &mut *state.pool.get().await?,
                limit.policy,
                &key,
                limit.interval(),
                limit.window,
            )
            .await?;
            if !allowed {
                throttles.refusals.remember(&limit, &key, ahead, now);
            }
            (allowed, ahead)
        }
    };
    let status = limit.status(allowed, ahead);
    req.extensions_mut().insert(status);
    match status.retry_after {
        None => Ok(()),
        Some(wait) => Err(ApiError::RateLimited {
            retry_after_secs: retry_after_secs(wait),
        }),
    }
}

/// The client's address. Behind a reverse proxy (`server.trust_forwarded_for`), the one the proxy
/// names; otherwise the peer's.
fn client_ip(req: &HttpRequest, state: &AppState) -> IpAddr {
    let forwarded = state
        .settings
        .server
        .trust_forwarded_for
        .then(|| {
            req.connection_info()
                .realip_remote_addr()
                .and_then(|a| a.parse::<IpAddr>().ok())
        })
        .flatten();
    forwarded
        .or_else(|| req.peer_addr().map(|addr| addr.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}
