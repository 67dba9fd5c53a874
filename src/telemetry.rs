//! Logging and request tracing. One place decides what a log line may contain: ids, routes,
//! statuses and timings — never names, emails, tokens, query strings, client IPs or bodies.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
/// Calling it twice (as tests do) is harmless: the second call keeps the first subscriber.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.filter.as_str()))
        // actix-http reports a client's unparseable request (a NUL in a header, say) at ERROR; it
        // answers 400 and nothing on our side failed, so it must not page anyone.
        .add_directive(
            "actix_http::h1::dispatcher=off"
                .parse()
                .expect("a valid directive"),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Root span of every request. Unlike tracing-actix-web's default it records the matched route
/// pattern (`/api/v1/applications/{id}`) instead of the raw target, so no query string or path
/// value — which may be personal data — reaches the logs, and it leaves out the client IP and
/// user agent for the same reason.
pub struct PrivacyRootSpan;

struct RequestStart(Instant);

impl RootSpanBuilder for PrivacyRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        request
            .extensions_mut()
            .insert(RequestStart(Instant::now()));
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = %request.match_pattern().unwrap_or_else(|| "(unmatched)".into()),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                span.record("status", status);
                let elapsed_ms = response
                    .request()
                    .extensions()
                    .get::<RequestStart>()
                    .map(|start| start.0.elapsed().as_secs_f64() * 1000.0)
                    .unwrap_or_default();
                // 503 is a dependency that is down or an instance that is stopping (both warned
                // about where they are found); an error is a fault of ours.
                if status == 503 {
                    tracing::warn!(elapsed_ms, "request refused: unavailable");
                } else if status >= 500 {
                    tracing::error!(elapsed_ms, "request failed");
                } else {
                    tracing::info!(elapsed_ms, "request completed");
                }
            }
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                span.record("status", status);
                // A middleware's refusal (a 4xx) is the client's mistake, not a failure of ours.
                if status >= 500 {
                    tracing::error!("request failed before a response was built");
                } else {
                    tracing::info!("request refused before a response was built");
                }
            }
        }
    }
}
