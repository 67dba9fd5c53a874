//! GOV.UK Pay's public API (<https://docs.payments.service.gov.uk/api_reference/>): `POST
//! /v1/payments`, `GET /v1/payments/{id}`, `POST /v1/payments/{id}/refunds`, with the service's
//! API key as a bearer token.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{PaymentRequest, ProviderError, ProviderPayment, ProviderRefund};
use crate::domain::payment::{PaymentState, RefundStatus};

pub const NAME: &str = "govuk_pay";

pub struct GovUkPay {
    client: reqwest::Client,
    base_url: String,
    api_key: SecretString,
    webhook_secret: SecretString,
}

/// `state` of a payment: `status` is one of GOV.UK Pay's states.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: String,
    #[serde(default)]
    pub finished: bool,
}

#[derive(Debug, Deserialize)]
struct Payment {
    payment_id: String,
    state: State,
    #[serde(rename = "_links", default)]
    links: Links,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    next_url: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

#[derive(Debug, Deserialize)]
struct Refund {
    refund_id: String,
    status: String,
}

/// GOV.UK Pay's error body: `{code, description}`.
#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(default)]
    code: String,
    #[serde(default)]
    description: String,
}

impl From<Payment> for ProviderPayment {
    fn from(payment: Payment) -> Self {
        ProviderPayment {
            id: payment.payment_id,
            state: PaymentState::parse(&payment.state.status),
            next_url: payment.links.next_url.map(|link| link.href),
        }
    }
}

impl GovUkPay {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        api_key: SecretString,
        webhook_secret: SecretString,
    ) -> GovUkPay {
        GovUkPay {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            webhook_secret,
        }
    }

    pub fn webhook_secret(&self) -> &[u8] {
        self.webhook_secret.expose_secret().as_bytes()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn create(&self, request: &PaymentRequest) -> Result<ProviderPayment, ProviderError> {
        let mut call = self
            .client
            .post(self.url("/v1/payments"))
            .bearer_auth(self.api_key.expose_secret())
            .json(&serde_json::json!({
                "amount": request.amount_pence,
                "reference": request.reference,
                "description": request.description,
                "return_url": request.return_url,
                "language": "en",
            }));
        if let Some(key) = &request.idempotency_key {
            call = call.header("Idempotency-Key", key);
        }
        let payment: Payment = answer(call.send().await).await?;
        Ok(payment.into())
    }

    pub async fn payment(&self, id: &str) -> Result<ProviderPayment, ProviderError> {
        let call = self
            .client
            .get(self.url(&format!("/v1/payments/{}", path_segment(id)?)))
            .bearer_auth(self.api_key.expose_secret());
        let payment: Payment = answer(call.send().await).await?;
        Ok(payment.into())
    }

    pub async fn refund(
        &self,
        id: &str,
        amount_pence: i32,
        available_pence: i32,
    ) -> Result<ProviderRefund, ProviderError> {
        let call = self
            .client
            .post(self.url(&format!("/v1/payments/{}/refunds", path_segment(id)?)))
            .bearer_auth(self.api_key.expose_secret())
            .json(&serde_json::json!({
                "amount": amount_pence,
                "refund_amount_available": available_pence,
            }));
        let refund: Refund = answer(call.send().await).await?;
        Ok(ProviderRefund {
            id: refund.refund_id,
            // GOV.UK Pay: submitted, success or error (the last: it did not go through).
            status: match refund.status.as_str() {
                "success" => RefundStatus::Success,
                "error" => RefundStatus::Failed,
                _ => RefundStatus::Submitted,
            },
        })
    }
}

/// A provider id as one path segment: GOV.UK Pay's ids are letters and digits.
fn path_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(ProviderError::NotFound)
    }
}

/// Reads the provider's answer: a 2xx body, a refusal (4xx, with GOV.UK Pay's description), or
/// unavailable (no answer, a 5xx, a 429 or a body that is not what the API documents).
async fn answer<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, ProviderError> {
    let response = sent.map_err(|e| ProviderError::Unavailable(e.into()))?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()));
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(ProviderError::NotFound);
    }
    // 401 and 403 mean our API key is wrong: our fault, not the payer's (logged as unavailable).
    let ours = [401, 403, 429].contains(&status.as_u16());
    if status.is_client_error() && !ours {
        let failure: Failure = response.json().await.unwrap_or(Failure {
            code: String::new(),
            description: String::new(),
        });
        return Err(ProviderError::Refused(
            format!("{} {}", failure.code, failure.description)
                .trim()
                .chars()
                .take(200)
                .collect(),
        ));
    }
    Err(ProviderError::Unavailable(anyhow::anyhow!(
        "GOV.UK Pay answered {status}"
    )))
}
