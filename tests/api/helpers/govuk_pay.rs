//! A local stand-in for GOV.UK Pay's public API (we cannot reach the real one from here): the
//! endpoints the service calls, as documented (`POST /v1/payments` with `Idempotency-Key`, `GET
//! /v1/payments/{id}`, `POST /v1/payments/{id}/refunds` with `refund_amount_available`), bearer
//! API-key checks, and signed webhooks sent on the test's say-so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub const API_KEY: &str = "api_test_fake-govuk-pay-key";
pub const WEBHOOK_SECRET: &str = "webhook-secret-of-the-fake-govuk-pay";

#[derive(Debug, Clone)]
pub struct FakePayment {
    pub amount: i64,
    pub reference: String,
    pub return_url: String,
    pub status: String,
    pub refunded: i64,
}

#[derive(Default)]
struct Books {
    payments: HashMap<String, FakePayment>,
    by_key: HashMap<String, String>,
}

/// The fake provider, running until the test ends.
#[derive(Clone)]
pub struct FakeGovUkPay {
    pub url: String,
    books: Arc<Mutex<Books>>,
    down: Arc<AtomicBool>,
    created: Arc<AtomicUsize>,
}

impl FakeGovUkPay {
    pub async fn start() -> FakeGovUkPay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeGovUkPay {
            url,
            books: Arc::default(),
            down: Arc::default(),
            created: Arc::default(),
        };
        let shared = web::Data::new(fake.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(shared.clone())
                .route("/v1/payments", web::post().to(create))
                .route("/v1/payments/{id}", web::get().to(find))
                .route("/v1/payments/{id}/refunds", web::post().to(refund))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake
    }

    /// While down, every call answers 503 (as GOV.UK Pay does when it is unavailable).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many payments were really created (an idempotent retry creates none).
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn payment(&self, id: &str) -> FakePayment {
        self.books.lock().unwrap().payments[id].clone()
    }

    /// The payer did something on GOV.UK Pay's pages: the payment is now `status`.
    pub fn set_status(&self, id: &str, status: &str) {
        self.books
            .lock()
            .unwrap()
            .payments
            .get_mut(id)
            .unwrap()
            .status = status.into();
    }

    /// A webhook message as GOV.UK Pay sends it, about payment `id` in `status`.
    pub fn webhook_body(&self, id: &str, status: &str) -> Vec<u8> {
        let payment = self.payment(id);
        let finished = matches!(status, "success" | "failed" | "cancelled" | "error");
        serde_json::to_vec(&json!({
            "webhook_message_id": uuid::Uuid::new_v4().simple().to_string(),
            "api_version": 1,
            "created_date": "2026-12-02T10:36:26.988Z",
            "resource_id": id,
            "resource_type": "payment",
            "event_type": if status == "success" { "card_payment_succeeded" } else { "card_payment_failed" },
            "resource": payment_json(&self.url, id, &payment, Some((status, finished))),
        }))
        .unwrap()
    }

    /// Posts `body` to the service's webhook, signed with `secret`; returns the status.
    pub async fn deliver(&self, service: &str, body: &[u8], secret: &str) -> u16 {
        reqwest::Client::new()
            .post(format!("{service}/api/v1/webhooks/payments"))
            .header("content-type", "application/json")
            .header(
                "Pay-Signature",
                mynorfolk::payments::webhook::sign(secret.as_bytes(), body),
            )
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn payment_json(
    base: &str,
    id: &str,
    payment: &FakePayment,
    status: Option<(&str, bool)>,
) -> Value {
    let status = status.map_or(payment.status.as_str(), |(s, _)| s);
    let finished = matches!(status, "success" | "failed" | "cancelled" | "error");
    json!({
        "payment_id": id,
        "amount": payment.amount,
        "reference": payment.reference,
        "description": "A highway service",
        "return_url": payment.return_url,
        "payment_provider": "sandbox",
        "created_date": "2026-12-02T10:36:26.988Z",
        "state": {"status": status, "finished": finished},
        "refund_summary": {"status": "available", "amount_available": payment.amount - payment.refunded, "amount_submitted": payment.refunded},
        "_links": {
            "self": {"href": format!("{base}/v1/payments/{id}"), "method": "GET"},
            "next_url": if finished { Value::Null } else { json!({"href": format!("{base}/secure/{id}"), "method": "GET"}) },
        },
    })
}

/// 401 without the API key, 503 while down.
fn refused(fake: &FakeGovUkPay, req: &HttpRequest) -> Option<HttpResponse> {
    if fake.down.load(Ordering::SeqCst) {
        return Some(
            HttpResponse::ServiceUnavailable()
                .json(json!({"code": "P0999", "description": "GOV.UK Pay is unavailable"})),
        );
    }
    let authorised = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Bearer {API_KEY}").as_bytes());
    (!authorised).then(|| HttpResponse::Unauthorized().finish())
}

async fn create(
    fake: web::Data<FakeGovUkPay>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(refusal) = refused(&fake, &req) {
        return refusal;
    }
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut books = fake.books.lock().unwrap();
    if let Some(existing) = key.as_ref().and_then(|k| books.by_key.get(k)).cloned() {
        let payment = books.payments[&existing].clone();
        return HttpResponse::Created().json(payment_json(&fake.url, &existing, &payment, None));
    }
    let (Some(amount), Some(reference), Some(return_url)) = (
        body["amount"].as_i64(),
        body["reference"].as_str(),
        body["return_url"].as_str(),
    ) else {
        return HttpResponse::BadRequest()
            .json(json!({"code": "P0101", "description": "Missing mandatory attribute"}));
    };
    let id = uuid::Uuid::new_v4().simple().to_string()[..26].to_owned();
    let payment = FakePayment {
        amount,
        reference: reference.into(),
        return_url: return_url.into(),
        status: "created".into(),
        refunded: 0,
    };
    books.payments.insert(id.clone(), payment.clone());
    if let Some(key) = key {
        books.by_key.insert(key, id.clone());
    }
    fake.created.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Created().json(payment_json(&fake.url, &id, &payment, None))
}

async fn find(
    fake: web::Data<FakeGovUkPay>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    if let Some(refusal) = refused(&fake, &req) {
        return refusal;
    }
    match fake.books.lock().unwrap().payments.get(id.as_str()) {
        Some(payment) => HttpResponse::Ok().json(payment_json(&fake.url, &id, payment, None)),
        None => HttpResponse::NotFound().json(json!({"code": "P0200", "description": "Not found"})),
    }
}

async fn refund(
    fake: web::Data<FakeGovUkPay>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(refusal) = refused(&fake, &req) {
        return refusal;
    }
    let mut books = fake.books.lock().unwrap();
    let Some(payment) = books.payments.get_mut(id.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let amount = body["amount"].as_i64().unwrap_or(0);
    let available = body["refund_amount_available"].as_i64();
    if available != Some(payment.amount - payment.refunded) {
        return HttpResponse::PreconditionFailed()
            .json(json!({"code": "P0604", "description": "Refund amount available mismatch."}));
    }
    if payment.status != "success" || amount < 1 || amount > payment.amount - payment.refunded {
        return HttpResponse::BadRequest().json(
            json!({"code": "P0603", "description": "The payment is not available for refund."}),
        );
    }
    payment.refunded += amount;
    HttpResponse::Accepted().json(json!({
        "refund_id": uuid::Uuid::new_v4().simple().to_string(),
        "amount": amount,
        "status": "submitted",
        "created_date": "2026-12-02T10:36:26.988Z",
    }))
}
