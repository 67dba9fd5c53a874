//! Cross-cutting response behaviour: security headers, the request id header, CORS, and the
//! guarantee that every error response is problem+json — including the ones actix makes itself
//! (unknown route, wrong method).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{Error, HttpMessage, HttpResponse};
use tracing_actix_web::RequestId;

use crate::auth::throttle::RateLimitStatus;
use crate::http::ApiError;
use crate::http::error::{PROBLEM_JSON, Problem};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// IETF draft-ietf-httpapi-ratelimit-headers fields, on every answer of a throttled operation.
pub const RATE_LIMIT_POLICY: &str = "ratelimit-policy";
pub const RATE_LIMIT: &str = "ratelimit";

/// The API serves JSON only: nothing may be framed, scripted or embedded.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// The docs page runs the Swagger UI bundle served from this origin, and nothing else.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                        script-src 'self'; frame-ancestors 'none'";

/// Adds security headers and `x-request-id` (the id on every log line of the request) to every
/// response.
pub async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let is_docs = req.path() == "/docs" || req.path().starts_with("/docs/");
    let draining = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_some_and(|state| state.draining.is_on());
    let mut response = next.call(req).await?;
    if draining {
        // Shutting down: this answer is the connection's last, so the client's next request
        // opens a connection the load balancer sends elsewhere.
        response
            .response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    let headers = response.headers_mut();
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), id);
    }
    let csp = if is_docs { DOCS_CSP } else { API_CSP };
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-site",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !is_docs && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let rate_limit = response
        .request()
        .extensions()
        .get::<RateLimitStatus>()
        .copied();
    if let Some(status) = rate_limit {
        let headers = response.headers_mut();
        for (name, value) in [
            (RATE_LIMIT_POLICY, status.policy_field()),
            (RATE_LIMIT, status.limit_field()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    Ok(response)
}

/// A percent-encoded NUL in the address is refused here, once, before any handler: PostgreSQL
/// text cannot hold it and no path or parameter has a use for it. In the path nothing can be
/// found (404); in the query, 400 names the parameter.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.path().contains("%00") {
        return Err(ApiError::NotFound.into());
    }
    let query = url::form_urlencoded::parse(req.query_string().as_bytes());
    if let Some((name, _)) = query
        .into_iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        return Err(ApiError::MalformedRequest(format!(
            "the query parameter {} must not contain the NUL character",
            name.replace('\0', "%00")
        ))
        .into());
    }
    next.call(req).await
}

/// Turns any error response that is not already problem+json into one, keeping the headers that
/// tell a client what to do next.
pub fn problem_json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(ensure_problem_json)
}

fn ensure_problem_json<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (request, original) = response.into_parts();
    let mut builder = HttpResponse::build(status);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = original.headers().get(&name) {
            builder.insert_header((name, value.clone()));
        }
    }
    let problem = Problem::for_status(status).into_response(builder);
    let response: ServiceResponse<EitherBody<B>> =
        ServiceResponse::new(request, problem).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(response))
}

/// CORS for the resident web frontend, which runs on another origin.
pub fn cors(allowed_origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            header::RETRY_AFTER,
            header::LOCATION,
            HeaderName::from_static(RATE_LIMIT_POLICY),
            HeaderName::from_static(RATE_LIMIT),
        ])
        .max_age(3600);
    for origin in allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
