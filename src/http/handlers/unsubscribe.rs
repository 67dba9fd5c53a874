//! One-click unsubscribe (RFC 8058): the link in every status-update email turns those emails
//! off with one POST, no sign-in needed; its signed token names the account.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::ApiError;
use crate::http::auth::request_id;
use crate::http::error::Problem;
use crate::http::schemas;
use crate::state::AppState;
use crate::use_cases;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeQuery {
    /// The token of the link in the email.
    pub token: String,
}

impl IntoParams for UnsubscribeQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![schemas::required_query(
            "token",
            "The token of the link in the email",
            schemas::unsubscribe_token(),
        )]
    }
}

#[derive(Serialize, ToSchema)]
pub struct Unsubscribed {
    /// Always `false` after this: status-update emails are off.
    pub status_update_emails: bool,
}

/// Turns status-update emails off, from the `List-Unsubscribe` link of one of them (mail clients
/// POST `List-Unsubscribe=One-Click` to it; any body is ignored). Idempotent. A forged, altered
/// or erased account's token is 404. Transactional emails (links, receipts) are not affected.
#[utoipa::path(
    tag = "me",
    params(UnsubscribeQuery),
    responses(
        (status = 200, body = Unsubscribed),
        (status = 404, description = "The token is not one this service signed, or its account no longer exists", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/unsubscribe")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    query: web::Query<UnsubscribeQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let account = state
        .signer
        .unsubscribe_account(&query.token)
        .ok_or(ApiError::NotFound)?;
    use_cases::accounts::unsubscribe(&mut *state.pool.get().await?, account, request_id(&req))
        .await?;
    Ok(HttpResponse::Ok().json(Unsubscribed {
        status_update_emails: false,
    }))
}
