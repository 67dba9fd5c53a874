//! Paying an application's fee (resident), and the payment provider's webhook.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use uuid::Uuid;

use crate::db::ids::ApplicationId;
use crate::http::ApiError;
use crate::http::auth::Authenticated;
use crate::http::error::Problem;
use crate::http::extract::idempotency_key;
use crate::http::schemas;
use crate::http::views::PaymentView;
use crate::payments::webhook;
use crate::state::AppState;
use crate::use_cases::payments;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PaymentList {
    // One payment at a time; each failed one can be followed by another.
    #[schema(max_items = 1000)]
    pub items: Vec<PaymentView>,
}

/// Starts paying the fee of one of your applications: answers the payment, whose `next_url` is
/// the payment provider's page. The outcome comes from the provider (ask again with GET), never
/// from coming back to the frontend. 409 when nothing is due (already paid, a payment under way,
/// or the application decided or withdrawn); 503, with nothing recorded, when the provider
/// cannot be reached.
#[utoipa::path(
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$", description = "Makes retries safe: 1–255 visible ASCII characters"),
    ),
    responses(
        (status = 201, body = PaymentView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing is due, or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The payment provider (or the database) is unavailable; nothing was recorded", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/applications/{id}/payments")]
pub async fn start_payment(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let id = ApplicationId(*id);
    let answer = payments::start(
        &state.pool,
        &state.payments,
        &state.settings.app.frontend_url,
        payments::Paying {
            actor: &caller.actor(),
            account: caller.account_id,
            application: id,
            idempotency_key: key.as_deref(),
        },
        |payment| serde_json::to_value(PaymentView::new(payment, Vec::new())),
    )
    .await?;
    let location = format!(
        "/api/v1/applications/{id}/payments/{}",
        answer.body["id"].as_str().unwrap_or_default()
    );
    Ok(HttpResponse::build(
        StatusCode::from_u16(answer.status as u16).unwrap_or(StatusCode::CREATED),
    )
    .insert_header((actix_web::http::header::LOCATION, location))
    .json(answer.body))
}

/// The payments of one of your applications, oldest first, with their refunds. A payment in
/// progress is first brought up to date from the payment provider.
#[utoipa::path(
    tag = "payments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PaymentList), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/api/v1/applications/{id}/payments")]
pub async fn list_payments(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let listed = payments::list(
        &state.pool,
        &state.payments,
        caller.account_id,
        ApplicationId(*id),
    )
    .await?;
    let items = listed
        .into_iter()
        .map(|(payment, refunds)| PaymentView::new(payment, refunds))
        .collect();
    Ok(HttpResponse::Ok().json(PaymentList { items }))
}

/// One payment of one of your applications (brought up to date from the provider while it is in
/// progress).
#[utoipa::path(
    tag = "payments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("payment_id" = Uuid, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/api/v1/applications/{id}/payments/{payment_id}")]
pub async fn get_payment(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, payment_id) = path.into_inner();
    let listed = payments::list(
        &state.pool,
        &state.payments,
        caller.account_id,
        ApplicationId(id),
    )
    .await?;
    let (payment, refunds) = listed
        .into_iter()
        .find(|(payment, _)| payment.id == payment_id)
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(PaymentView::new(payment, refunds)))
}

/// The request body of the webhook: GOV.UK Pay's webhook message (only these fields are read;
/// the rest of the provider's message is accepted as it is).
pub struct WebhookMessage;

impl utoipa::PartialSchema for WebhookMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schemas::webhook_message().into()
    }
}

impl utoipa::ToSchema for WebhookMessage {}

/// The payment provider's event (GOV.UK Pay's webhook), signed: `Pay-Signature` is the
/// lower-case hex HMAC-SHA256 of the raw body with the webhook's secret. A bad signature is 401
/// and changes nothing; an event delivered again, or out of order, changes nothing either.
#[utoipa::path(
    tag = "payments",
    security(("pay_signature" = [])),
    request_body(content = WebhookMessage, content_type = "application/json"),
    responses(
        (status = 204, description = "Received (whether or not it changed anything)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature is missing or wrong; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider must be asked and cannot be reached, or the database is unavailable: send it again later", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/webhooks/payments")]
pub async fn payment_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let signature = req
        .headers()
        .get("pay-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !webhook::verify(state.payments.webhook_secret(), &body, signature) {
        return Err(ApiError::Unauthorized(
            "Pay-Signature is missing or does not match the body",
        ));
    }
    let message: webhook::Message = serde_json::from_slice(&body).map_err(|error| {
        ApiError::MalformedRequest(format!("not a payment provider's webhook message: {error}"))
    })?;
    payments::receive(&state.pool, &state.payments, &message).await?;
    Ok(HttpResponse::NoContent().finish())
}
