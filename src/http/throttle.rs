//! Per-client rate limits as an extractor. Listed first among a handler's arguments, it counts
//! the request before anything else is read, so every answer of a throttled operation — a 422 as
//! much as a 202 — carries the `RateLimit-Policy` and `RateLimit` fields (added by
//! `middleware::response_headers` from the status this leaves on the request).

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::auth::throttle::{RateLimiter, retry_after_secs};
use crate::http::ApiError;
use crate::state::{AppState, Throttles};

/// Which limit an operation counts against.
pub trait Limit {
    fn limiter(throttles: &Throttles) -> &RateLimiter;
}

/// Sign-up and email change: both send a link to an address the caller chooses.
pub struct SignUp;
pub struct SignIn;
/// Asking for a reset link and using one.
pub struct PasswordReset;

impl Limit for SignUp {
    fn limiter(throttles: &Throttles) -> &RateLimiter {
        &throttles.sign_up
    }
}

impl Limit for SignIn {
    fn limiter(throttles: &Throttles) -> &RateLimiter {
        &throttles.sign_in
    }
}

impl Limit for PasswordReset {
    fn limiter(throttles: &Throttles) -> &RateLimiter {
        &throttles.password_reset
    }
}

/// A request that was within its limit; 429 with an exact `Retry-After` otherwise.
pub struct Throttled<L>(PhantomData<L>);

impl<L: Limit> FromRequest for Throttled<L> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal(anyhow::anyhow!("no AppState"))));
        };
        let status = L::limiter(&state.throttles).check(client_ip(req, state));
        req.extensions_mut().insert(status);
        ready(match status.retry_after {
            None => Ok(Throttled(PhantomData)),
            Some(wait) => Err(ApiError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            }),
        })
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
