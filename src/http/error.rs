//! The one error type of the HTTP layer and its RFC 9457 `application/problem+json` rendering.
//!
//! Policy (after crates.io's `util/errors.rs`): handlers return `Result<_, ApiError>`; domain and
//! persistence errors convert into it with `?`. diesel's `NotFound` becomes 404, pool and connection
//! failures 503, anything unexpected 500 — logged with its cause, answered with a generic text so
//! no SQL, stack trace or personal data ever reaches a client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Base of every problem `type` URI; the last segment is a stable, machine-readable code.
pub const PROBLEM_TYPE_BASE: &str = "https://mynorfolk.norfolk.gov.uk/problems/";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// URI naming the kind of problem; its last segment is a stable code (e.g. `validation-failed`).
    #[serde(rename = "type")]
    #[schema(max_length = 200)]
    pub problem_type: String,
    #[schema(max_length = 100)]
    pub title: String,
    pub status: u16,
    #[schema(max_length = 1000)]
    pub detail: String,
    /// Field-level messages for `422 validation-failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)] // MAX_FIELD_ERRORS
    pub errors: Vec<FieldError>,
}

/// One invalid field: `field` is a dotted path into the request body (`details.start_date`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    #[schema(max_length = 200)]
    pub field: String,
    #[schema(max_length = 500)]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON, or the request is otherwise unreadable.
    #[error("{0}")]
    MalformedRequest(String),
    /// 401: no credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403 with a specific code, such as `email-not-verified`.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 404: not found, or not yours — deliberately indistinguishable.
    #[error("the resource was not found")]
    NotFound,
    /// 404 `link-invalid`: an emailed link's token that is unknown, used or expired.
    #[error("this link is invalid, has been used, or has expired: ask for a new one")]
    LinkInvalid,
    /// 409: the request conflicts with the current state (e.g. an illegal status transition).
    #[error("{0}")]
    Conflict(String),
    /// 409 with a specific code, such as `payment-required`.
    #[error("{detail}")]
    ConflictWith { code: &'static str, detail: String },
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: the body is not `application/json`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// 415 `unsupported-file-type`: an attachment whose content is not a type the council takes.
    #[error("attach a PDF, PNG or JPEG file: this file's content is none of them")]
    UnsupportedFileType,
    /// 422: well-formed JSON that breaks the rules.
    #[error("the request is not valid")]
    Validation(Vec<FieldError>),
    /// 429: too many requests; try again after `retry_after_secs`.
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a dependency (the database) is not reachable.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug or an unexpected failure. The cause is logged, never sent.
    #[error("an unexpected error occurred")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 with a single field message.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// The stable code that ends the problem `type` URI.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedRequest(_) => "malformed-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { code, .. } => code,
            ApiError::NotFound => "not-found",
            ApiError::LinkInvalid => "link-invalid",
            ApiError::Conflict(_) => "conflict",
            ApiError::ConflictWith { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::UnsupportedFileType => "unsupported-file-type",
            ApiError::Validation(_) => "validation-failed",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::Unavailable(_) => "service-unavailable",
            ApiError::Internal(_) => "internal-error",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let errors = match self {
            ApiError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        Problem::new(status, self.code(), self.to_string(), errors)
    }
}

/// Bounds of a problem document (also in its schema): messages can quote what a client sent, so
/// they are cut to size rather than echo a whole body back.
const MAX_FIELD_ERRORS: usize = 100;
const MAX_DETAIL_CHARS: usize = 1000;
const MAX_FIELD_CHARS: usize = 200;
const MAX_MESSAGE_CHARS: usize = 500;

fn cut(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &str,
        detail: impl Into<String>,
        mut errors: Vec<FieldError>,
    ) -> Self {
        errors.truncate(MAX_FIELD_ERRORS);
        Problem {
            problem_type: format!("{PROBLEM_TYPE_BASE}{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: cut(detail.into(), MAX_DETAIL_CHARS),
            errors: errors
                .into_iter()
                .map(|e| FieldError {
                    field: cut(e.field, MAX_FIELD_CHARS),
                    message: cut(e.message, MAX_MESSAGE_CHARS),
                })
                .collect(),
        }
    }

    /// The problem for a response that actix or a middleware produced without one (unknown route,
    /// wrong method, ...): the status says it all.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status.as_u16() {
            400 => ("malformed-request", "the request could not be read"),
            401 => ("unauthorized", "authentication is required"),
            403 => ("forbidden", "you are not allowed to do this"),
            404 => ("not-found", "there is nothing at this address"),
            405 => (
                "method-not-allowed",
                "this address does not accept that method",
            ),
            406 => ("not-acceptable", "this resource is only available as JSON"),
            408 => ("request-timeout", "the request took too long to arrive"),
            413 => ("payload-too-large", "the request body is too large"),
            414 => ("uri-too-long", "the request address is too long"),
            415 => (
                "unsupported-media-type",
                "send the body as application/json",
            ),
            429 => ("rate-limited", "too many requests"),
            431 => ("headers-too-large", "the request headers are too large"),
            503 => (
                "service-unavailable",
                "the service is temporarily unavailable",
            ),
            s if s >= 500 => ("internal-error", "an unexpected error occurred"),
            _ => ("client-error", "the request cannot be served"),
        };
        Problem::new(status, code, detail, Vec::new())
    }

    pub fn into_response(self, mut builder: actix_web::HttpResponseBuilder) -> HttpResponse {
        builder
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(serde_json::to_vec(&self).expect("a problem always serialises"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::LinkInvalid => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::ConflictWith { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedFileType => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable")
            }
            _ => {}
        }
        let mut builder = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        self.to_problem().into_response(builder)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => ApiError::NotFound,
            // The database went away under a pooled connection (a restart, a failover).
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _,
            ) => ApiError::Unavailable(error.into()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::domain::validation::ValidationErrors> for ApiError {
    fn from(errors: crate::domain::validation::ValidationErrors) -> Self {
        ApiError::Validation(
            errors
                .0
                .into_iter()
                .map(|p| FieldError::new(p.field, p.message))
                .collect(),
        )
    }
}

impl From<crate::db::session_checks::CheckFailed> for ApiError {
    fn from(failure: crate::db::session_checks::CheckFailed) -> Self {
        use crate::db::session_checks::CheckFailed;
        match failure {
            CheckFailed::Unreachable(_) => ApiError::Unavailable(failure.into()),
            CheckFailed::Failed(_) => ApiError::Internal(failure.into()),
        }
    }
}

impl From<crate::db::PoolError> for ApiError {
    fn from(error: crate::db::PoolError) -> Self {
        ApiError::Unavailable(error.into())
    }
}

/// Every use-case failure, as the HTTP answer it gets: the one place they are translated.
impl From<crate::use_cases::Error> for ApiError {
    fn from(failure: crate::use_cases::Error) -> Self {
        use crate::use_cases::Error;
        match failure {
            Error::NotFound | Error::Erased => ApiError::NotFound,
            Error::Conflict(message) => ApiError::Conflict(message),
            Error::Transition(e) => ApiError::Conflict(e.to_string()),
            Error::PaymentRequired(detail) => ApiError::ConflictWith {
                code: "payment-required",
                detail,
            },
            Error::AttachmentsMissing(detail) => ApiError::ConflictWith {
                code: "attachments-missing",
                detail,
            },
            Error::ProviderRefused(why) => ApiError::ConflictWith {
                code: "payment-provider-refused",
                detail: format!("the payment provider refused: {why}"),
            },
            Error::ProviderUnavailable(cause) | Error::StorageUnavailable(cause) => {
                ApiError::Unavailable(cause)
            }
            Error::Invalid { field, message } => ApiError::invalid(field, message),
            Error::InvalidToken => ApiError::LinkInvalid,
            Error::PasswordChanged => ApiError::Unauthorized(
                "the password changed while this request was under way: sign in again",
            ),
            Error::RateLimited(wait) => ApiError::RateLimited {
                retry_after_secs: crate::auth::throttle::retry_after_secs(wait),
            },
            Error::WrongCredentials => {
                ApiError::Unauthorized("the email address or password is not right")
            }
            Error::EmailNotVerified => ApiError::Forbidden {
                code: "email-not-verified",
                detail: "confirm your email address first: follow the link we emailed you".into(),
            },
            Error::DatabaseUnavailable(e) => e.into(),
            Error::Database(e) => e.into(),
            Error::Other(e) => ApiError::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn render(error: ApiError) -> (StatusCode, String, serde_json::Value) {
        let response = error.error_response();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = to_bytes(response.into_body()).await.unwrap();
        (status, content_type, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn every_error_class_is_problem_json_with_its_status() {
        let cases = [
            (
                ApiError::MalformedRequest("x".into()),
                400,
                "malformed-request",
            ),
            (ApiError::Unauthorized("no token"), 401, "unauthorized"),
            (
                ApiError::Forbidden {
                    code: "email-not-verified",
                    detail: "verify".into(),
                },
                403,
                "email-not-verified",
            ),
            (ApiError::NotFound, 404, "not-found"),
            (ApiError::LinkInvalid, 404, "link-invalid"),
            (ApiError::Conflict("illegal".into()), 409, "conflict"),
            (
                ApiError::ConflictWith {
                    code: "payment-required",
                    detail: "pay first".into(),
                },
                409,
                "payment-required",
            ),
            (
                ApiError::PayloadTooLarge { limit: 10 },
                413,
                "payload-too-large",
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported-media-type",
            ),
            (
                ApiError::invalid("name", "too long"),
                422,
                "validation-failed",
            ),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate-limited",
            ),
            (
                ApiError::Unavailable(anyhow::anyhow!("pool")),
                503,
                "service-unavailable",
            ),
            (
                ApiError::Internal(anyhow::anyhow!("boom")),
                500,
                "internal-error",
            ),
        ];
        for (error, status, code) in cases {
            let (got_status, content_type, body) = render(error).await;
            assert_eq!(got_status.as_u16(), status);
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(body["status"], status);
            assert_eq!(body["type"], format!("{PROBLEM_TYPE_BASE}{code}"));
            assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
    }

    #[actix_web::test]
    async fn validation_lists_field_errors() {
        let (_, _, body) = render(ApiError::invalid(
            "details.start_date",
            "must not be in the past",
        ))
        .await;
        assert_eq!(body["errors"][0]["field"], "details.start_date");
        assert_eq!(body["errors"][0]["message"], "must not be in the past");
    }

    #[actix_web::test]
    async fn internal_errors_never_leak_their_cause() {
        let cause = anyhow::anyhow!("SELECT * FROM accounts WHERE email = 'siân@example.com'");
        let (_, _, body) = render(ApiError::Internal(cause)).await;
        let text = body.to_string();
        assert!(!text.contains("SELECT"), "{text}");
        assert!(!text.contains("example.com"), "{text}");
    }

    #[actix_web::test]
    async fn sign_in_failures_get_their_own_answers() {
        use crate::use_cases::Error;
        let wait = std::time::Duration::from_millis(1_500);
        let limited = ApiError::from(Error::RateLimited(wait)).error_response();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers().get(header::RETRY_AFTER).unwrap(), "2");
        let busy = Error::DatabaseUnavailable(crate::db::PoolError::Timeout(
            deadpool::managed::TimeoutType::Wait,
        ));
        let cases = [
            (Error::WrongCredentials, 401, "unauthorized"),
            (Error::EmailNotVerified, 403, "email-not-verified"),
            (busy, 503, "service-unavailable"),
        ];
        for (failure, status, code) in cases {
            let (got_status, _, body) = render(failure.into()).await;
            assert_eq!(got_status.as_u16(), status);
            assert_eq!(body["type"], format!("{PROBLEM_TYPE_BASE}{code}"));
        }
    }

    #[actix_web::test]
    async fn rate_limited_says_when_to_retry() {
        let response = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "7");
    }
}
