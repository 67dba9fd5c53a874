//! Request handlers, one module per area of the contract. Handlers parse, call the domain and
//! persistence layers, and shape the response — nothing more.

pub mod accounts;
pub mod admin;
pub mod admin_applications;
pub mod admin_data;
pub mod applications;
pub mod data_rights;
pub mod docs;
pub mod health;
pub mod me;
pub mod sessions;

use std::net::IpAddr;
use std::time::Instant;

use actix_web::HttpRequest;

use crate::auth::throttle::{RateLimiter, client_key, retry_after_secs};
use crate::http::ApiError;

/// Counts a request against a per-client limit; 429 with `Retry-After` when over it. Behind a
/// reverse proxy (`server.trust_forwarded_for`), the client is the one the proxy names.
pub(crate) fn throttle(limiter: &RateLimiter<IpAddr>, req: &HttpRequest) -> Result<(), ApiError> {
    let trust_proxy = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_some_and(|state| state.settings.server.trust_forwarded_for);
    let forwarded = trust_proxy
        .then(|| {
            req.connection_info()
                .realip_remote_addr()
                .and_then(|a| a.parse::<IpAddr>().ok())
        })
        .flatten();
    let ip = forwarded
        .or_else(|| req.peer_addr().map(|addr| addr.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    limiter
        .check(&client_key(ip), Instant::now())
        .map_err(|wait| ApiError::RateLimited {
            retry_after_secs: retry_after_secs(wait),
        })
}
