//! Fees: paid through GOV.UK Pay (a local fake that speaks its API) or the simulated provider,
//! before staff can review; signed webhooks, replays, a provider that is down, refunds.

use mynorfolk::domain::account::Role;
use serde_json::{Value, json};

use crate::helpers::{
    FakeGovUkPay, TestApp, Tokens, assert_problem, spawn_app, spawn_app_with_govuk_pay,
};

const WEBHOOK_SECRET: &str = "webhook-secret-of-the-fake-govuk-pay";

struct Case {
    app: TestApp,
    fake: FakeGovUkPay,
    resident: Tokens,
    staff: Tokens,
    id: String,
}

/// A resident with a submitted skip permit (fee £45), on an app paid through the fake GOV.UK Pay.
async fn case() -> Case {
    let fake = FakeGovUkPay::start().await;
    let app = spawn_app_with_govuk_pay(&fake).await;
    let resident = app.verified_resident("sian@example.org").await;
    let staff = app.staff("officer@norfolk.gov.uk", Role::Staff).await;
    let submitted = app
        .submit_example(&resident.access_token, "skip-permit")
        .await;
    let id = submitted["id"].as_str().unwrap().to_owned();
    Case {
        app,
        fake,
        resident,
        staff,
        id,
    }
}

impl Case {
    async fn start_payment(&self) -> reqwest::Response {
        self.app
            .post_authed_empty(
                &format!("/api/v1/applications/{}/payments", self.id),
                &self.resident.access_token,
            )
            .await
    }

    async fn started(&self) -> Value {
        let response = self.start_payment().await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// The fake's id of a payment, from its `next_url` (`…/secure/{id}`).
    fn provider_id(payment: &Value) -> String {
        payment["next_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    }

    async fn application(&self) -> Value {
        self.app
            .get_json(
                &format!("/api/v1/applications/{}", self.id),
                &self.resident.access_token,
            )
            .await
    }

    async fn payment_status(&self) -> Value {
        self.application().await["payment"]["status"].clone()
    }

    async fn review(&self) -> reqwest::Response {
        self.app
            .post_authed(
                &format!("/api/v1/admin/applications/{}/transitions", self.id),
                &self.staff.access_token,
                &json!({"to": "under_review"}),
            )
            .await
    }

    async fn refund(&self, amount_pence: i64, reason: &str) -> reqwest::Response {
        self.app
            .post_authed(
                &format!("/api/v1/admin/applications/{}/refunds", self.id),
                &self.staff.access_token,
                &json!({"amount_pence": amount_pence, "reason": reason}),
            )
            .await
    }

    /// The fake says the payment is `status`, and tells the service by a signed webhook.
    async fn provider_reports(&self, provider_id: &str, status: &str) {
        self.fake.set_status(provider_id, status);
        let body = self.fake.webhook_body(provider_id, status);
        assert_eq!(
            self.fake
                .deliver(&self.app.address, &body, WEBHOOK_SECRET)
                .await,
            204
        );
    }
}

#[tokio::test]
async fn paying_through_govuk_pay_then_review() {
    let case = case().await;
    assert_eq!(
        case.application().await["payment"],
        json!({"status": "due", "amount_pence": 4500})
    );
    assert_problem(case.review().await, 409, "payment-required").await;

    let payment = case.started().await;
    assert_eq!(payment["status"], "created");
    assert_eq!(payment["amount_pence"], 4500);
    let provider_id = Case::provider_id(&payment);
    assert!(
        payment["next_url"]
            .as_str()
            .unwrap()
            .starts_with(&case.fake.url)
    );
    // What GOV.UK Pay was asked for: the fee, the reference, a return to the frontend.
    let asked = case.fake.payment(&provider_id);
    assert_eq!(asked.amount, 4500);
    assert_eq!(asked.reference, case.application().await["reference"]);
    assert_eq!(
        asked.return_url,
        format!("http://localhost:3000/applications/{}/payment", case.id)
    );
    assert_eq!(case.payment_status().await, "pending");
    // Still not reviewable while the payment is under way, and a second one is refused.
    assert_problem(case.review().await, 409, "payment-required").await;
    assert_problem(case.start_payment().await, 409, "conflict").await;

    case.provider_reports(&provider_id, "success").await;
    assert_eq!(case.payment_status().await, "paid");
    let receipt = case
        .app
        .wait_for_email("sian@example.org", "Payment received", 1)
        .await;
    assert!(receipt.body.contains("£45.00"), "{}", receipt.body);
    assert_eq!(
        case.app
            .count("audit_events WHERE action = 'payment.succeeded'")
            .await,
        1
    );
    assert_problem(case.start_payment().await, 409, "conflict").await;
    assert_eq!(case.review().await.status(), 200);

    let listed = case
        .app
        .get_json(
            &format!("/api/v1/applications/{}/payments", case.id),
            &case.resident.access_token,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["status"], "success");
    assert_eq!(listed["items"][0]["next_url"], Value::Null);
    let one = case
        .app
        .get_json(
            &format!(
                "/api/v1/applications/{}/payments/{}",
                case.id,
                payment["id"].as_str().unwrap()
            ),
            &case.resident.access_token,
        )
        .await;
    assert_eq!(one["id"], payment["id"]);
}

#[tokio::test]
async fn a_failed_payment_makes_the_fee_due_again_and_the_outcome_is_asked_of_the_provider() {
    let case = case().await;
    let first = Case::provider_id(&case.started().await);
    case.provider_reports(&first, "failed").await;
    assert_eq!(case.payment_status().await, "due");
    assert_eq!(
        case.app
            .count("email_outbox WHERE template = 'payment_received'")
            .await,
        0
    );

    let second = Case::provider_id(&case.started().await);
    assert_ne!(first, second);
    // The payer pays, and no webhook comes: reading the payments asks GOV.UK Pay.
    case.fake.set_status(&second, "success");
    assert_eq!(case.payment_status().await, "pending");
    let listed = case
        .app
        .get_json(
            &format!("/api/v1/applications/{}/payments", case.id),
            &case.resident.access_token,
        )
        .await;
    let states: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["failed", "success"]);
    assert_eq!(case.payment_status().await, "paid");
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_is_401_and_changes_nothing() {
    let case = case().await;
    let provider_id = Case::provider_id(&case.started().await);
    case.fake.set_status(&provider_id, "success");
    let body = case.fake.webhook_body(&provider_id, "success");
    for secret in ["not-the-secret", ""] {
        assert_eq!(
            case.fake.deliver(&case.app.address, &body, secret).await,
            401
        );
    }
    // Signed, then altered on the way.
    let signature = mynorfolk::payments::webhook::sign(WEBHOOK_SECRET.as_bytes(), b"{}");
    let unsigned = case
        .app
        .client
        .post(case.app.url("/api/v1/webhooks/payments"))
        .header("Pay-Signature", signature)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_problem(unsigned, 401, "unauthorized").await;
    let missing = case
        .app
        .client
        .post(case.app.url("/api/v1/webhooks/payments"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(missing, 401, "unauthorized").await;
    assert_eq!(case.app.count("payments WHERE state = 'created'").await, 1);
    assert_eq!(
        case.app
            .count("audit_events WHERE action LIKE 'payment.%'")
            .await,
        1
    );
}

#[tokio::test]
async fn replayed_and_late_webhooks_change_nothing_twice() {
    let case = case().await;
    let provider_id = Case::provider_id(&case.started().await);
    case.fake.set_status(&provider_id, "success");
    let success = case.fake.webhook_body(&provider_id, "success");
    let late = [
        case.fake.webhook_body(&provider_id, "started"),
        case.fake.webhook_body(&provider_id, "failed"),
    ];
    // The same message five times at once, then older news.
    let deliveries = (0..5).map(|_| {
        case.fake
            .deliver(&case.app.address, &success, WEBHOOK_SECRET)
    });
    for status in futures_util::future::join_all(deliveries).await {
        assert_eq!(status, 204);
    }
    for body in &late {
        assert_eq!(
            case.fake
                .deliver(&case.app.address, body, WEBHOOK_SECRET)
                .await,
            204
        );
    }
    assert_eq!(case.payment_status().await, "paid");
    assert_eq!(case.app.count("payments WHERE state = 'success'").await, 1);
    assert_eq!(
        case.app
            .count("audit_events WHERE action = 'payment.succeeded'")
            .await,
        1
    );
    assert_eq!(
        case.app
            .count("email_outbox WHERE template = 'payment_received'")
            .await,
        1
    );
    // A signed message about a payment we never made is acknowledged and ignored.
    let stranger = serde_json::to_vec(&json!({
        "webhook_message_id": "m1", "resource_id": "unknownpayment", "resource_type": "payment",
        "event_type": "card_payment_succeeded", "resource": {"state": {"status": "success"}}
    }))
    .unwrap();
    assert_eq!(
        case.fake
            .deliver(&case.app.address, &stranger, WEBHOOK_SECRET)
            .await,
        204
    );
    assert_eq!(case.app.count("payments").await, 1);
}

#[tokio::test]
async fn a_provider_that_is_down_is_a_503_and_nothing_is_written() {
    let case = case().await;
    case.fake.set_down(true);
    let answer = assert_problem(case.start_payment().await, 503, "service-unavailable").await;
    assert!(
        !answer["detail"].as_str().unwrap().contains("fake"),
        "{answer}"
    );
    assert_eq!(case.app.count("payments").await, 0);
    assert_eq!(
        case.app
            .count("audit_events WHERE action LIKE 'payment.%'")
            .await,
        0
    );
    assert_eq!(case.payment_status().await, "due");
    case.fake.set_down(false);
    assert_eq!(case.start_payment().await.status(), 201);
}

#[tokio::test]
async fn parallel_starts_make_one_payment_and_a_key_makes_retries_safe() {
    for _ in 0..3 {
        let case = case().await;
        // Ten at once without a key: one payment, the rest told one is under way.
        let starts = (0..10).map(|_| case.start_payment());
        let statuses: Vec<u16> = futures_util::future::join_all(starts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 409),
            "{statuses:?}"
        );
        assert_eq!(case.app.count("payments").await, 1);

        // Ten at once with the same key, on a fresh application: one payment at GOV.UK Pay too.
        let other = case
            .app
            .submit_example(&case.resident.access_token, "skip-permit")
            .await;
        let path = format!(
            "/api/v1/applications/{}/payments",
            other["id"].as_str().unwrap()
        );
        let created_before = case.fake.created();
        let keyed = (0..10).map(|_| {
            case.app
                .client
                .post(case.app.url(&path))
                .bearer_auth(&case.resident.access_token)
                .header("Idempotency-Key", "pay-once")
                .send()
        });
        let answers = futures_util::future::join_all(keyed).await;
        let mut ids = Vec::new();
        for answer in answers {
            let answer = answer.unwrap();
            assert_eq!(answer.status(), 201);
            ids.push(answer.json::<Value>().await.unwrap()["id"].clone());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(case.fake.created() - created_before, 1);
        assert_eq!(case.app.count("payments").await, 2);
    }
}

#[tokio::test]
async fn staff_refund_part_then_the_rest_through_the_provider() {
    let case = case().await;
    assert_problem(
        case.refund(100, "Nothing was paid yet.").await,
        409,
        "conflict",
    )
    .await;
    let provider_id = Case::provider_id(&case.started().await);
    case.provider_reports(&provider_id, "success").await;

    let part = case
        .refund(1500, "The skip was removed a week early.")
        .await;
    assert_eq!(part.status(), 201);
    let part: Value = part.json().await.unwrap();
    assert_eq!(part["status"], "submitted");
    assert_eq!(case.payment_status().await, "partially_refunded");
    assert_eq!(case.fake.payment(&provider_id).refunded, 1500);
    let email = case
        .app
        .wait_for_email("sian@example.org", "Refund of £15.00", 1)
        .await;
    assert!(
        email.body.contains("removed a week early"),
        "{}",
        email.body
    );
    // Still reviewable with part of the fee kept; more than is left is refused.
    assert_eq!(case.review().await.status(), 200);
    assert_problem(case.refund(3001, "Too much.").await, 409, "conflict").await;
    assert_problem(case.refund(0, "Nothing.").await, 422, "validation-failed").await;
    assert_problem(case.refund(100, "  ").await, 422, "validation-failed").await;

    // The provider is down: two refunds are owed (202) and both go through once it is back.
    case.fake.set_down(true);
    for (amount, reason) in [
        (2000, "Permit cancelled by the council."),
        (1000, "Admin fee waived."),
    ] {
        let owed = case.refund(amount, reason).await;
        assert_eq!(owed.status(), 202);
        assert_eq!(owed.json::<Value>().await.unwrap()["status"], "requested");
    }
    assert_eq!(case.payment_status().await, "refunded");
    case.fake.set_down(false);
    case.app
        .wait_for_count("refunds WHERE status = 'submitted'", 3)
        .await;
    assert_eq!(case.app.count("refunds WHERE status = 'failed'").await, 0);
    assert_eq!(case.fake.payment(&provider_id).refunded, 4500);
    for action in ["payment.refund_requested", "payment.refunded"] {
        let audited = format!("audit_events WHERE action = '{action}'");
        assert_eq!(case.app.count(&audited).await, 3, "{action}");
    }
    let listed = case
        .app
        .get_json(
            &format!("/api/v1/applications/{}/payments", case.id),
            &case.resident.access_token,
        )
        .await;
    assert_eq!(listed["items"][0]["refunds"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn withdrawing_before_review_refunds_the_fee_in_full() {
    let case = case().await;
    let provider_id = Case::provider_id(&case.started().await);
    case.provider_reports(&provider_id, "success").await;
    let withdrawn = case
        .app
        .post_authed_empty(
            &format!("/api/v1/applications/{}/withdraw", case.id),
            &case.resident.access_token,
        )
        .await;
    assert_eq!(withdrawn.status(), 200);
    let withdrawn: Value = withdrawn.json().await.unwrap();
    assert_eq!(withdrawn["payment"]["status"], "refunded");
    case.app
        .wait_for_count("refunds WHERE status = 'submitted'", 1)
        .await;
    assert_eq!(case.fake.payment(&provider_id).refunded, 4500);
    case.app
        .wait_for_email("sian@example.org", "Refund of £45.00", 1)
        .await;
}

#[tokio::test]
async fn the_simulated_provider_pays_declines_and_cancels_on_its_own_page() {
    let app = spawn_app().await;
    let resident = app.verified_resident("sian@example.org").await;
    for (choice, expected) in [("decline", "due"), ("cancel", "due"), ("pay", "paid")] {
        let submitted = app
            .submit_example(&resident.access_token, "skip-permit")
            .await;
        let id = submitted["id"].as_str().unwrap();
        let started = app
            .post_authed_empty(
                &format!("/api/v1/applications/{id}/payments"),
                &resident.access_token,
            )
            .await;
        assert_eq!(started.status(), 201);
        let payment: Value = started.json().await.unwrap();
        assert!(
            payment["next_url"]
                .as_str()
                .unwrap()
                .starts_with(&app.address)
        );
        let back = app.choose_on_pay_page(&payment, choice).await;
        assert_eq!(
            back,
            format!("http://localhost:3000/applications/{id}/payment")
        );
        let application = app
            .get_json(
                &format!("/api/v1/applications/{id}"),
                &resident.access_token,
            )
            .await;
        assert_eq!(application["payment"]["status"], expected, "{choice}");
        // The page cannot be used twice.
        let again = app
            .client
            .post(format!("{}/pay", payment["next_url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 303);
        let after = app
            .get_json(
                &format!("/api/v1/applications/{id}"),
                &resident.access_token,
            )
            .await;
        assert_eq!(
            after["payment"]["status"], expected,
            "{choice}, pressed again"
        );
    }
    // A made-up page, and a made-up choice.
    let missing = app
        .client
        .get(app.url("/simulated-pay/nosuchpayment"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let wrong = app
        .client
        .post(app.url("/simulated-pay/nosuchpayment/steal"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    assert_eq!(
        app.count("email_outbox WHERE template = 'payment_received'")
            .await,
        1
    );
}
