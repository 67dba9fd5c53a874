//! The simulated provider, for the embedded default and development (production refuses it): it
//! keeps its payments in the database (every instance sees them, as the real provider's would
//! be), serves its own pay page (`/simulated-pay/{id}`: pay, decline, cancel) and sends itself a
//! signed webhook, in GOV.UK Pay's format, when the payer chooses.

use secrecy::{ExposeSecret, SecretString};

use super::{PaymentRequest, ProviderError, ProviderPayment, ProviderRefund, webhook};
use crate::db::DbPool;
use crate::db::payments::{self as store, NewSimulatedPayment, SimulatedPayment};
use crate::domain::payment::{PaymentState, RefundStatus};

pub const NAME: &str = "simulated";

pub struct Simulated {
    pool: DbPool,
    /// This instance, as the payer's browser and its own webhook reach it.
    base_url: String,
    webhook_secret: SecretString,
    client: reqwest::Client,
}

/// What the payer chooses on the pay page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    Pay,
    Decline,
    Cancel,
}

impl Choice {
    fn outcome(self) -> PaymentState {
        match self {
            Choice::Pay => PaymentState::Success,
            Choice::Decline => PaymentState::Failed,
            Choice::Cancel => PaymentState::Cancelled,
        }
    }
}

impl Simulated {
    pub fn new(
        pool: DbPool,
        base_url: String,
        webhook_secret: SecretString,
        client: reqwest::Client,
    ) -> Simulated {
        Simulated {
            pool,
            base_url,
            webhook_secret,
            client,
        }
    }

    pub fn webhook_secret(&self) -> &[u8] {
        self.webhook_secret.expose_secret().as_bytes()
    }

    fn pay_page(&self, id: &str) -> String {
        format!("{}/simulated-pay/{id}", self.base_url)
    }

    fn reported(&self, payment: &SimulatedPayment) -> ProviderPayment {
        ProviderPayment {
            id: payment.id.clone(),
            state: Some(payment.state),
            next_url: (!payment.state.is_finished()).then(|| self.pay_page(&payment.id)),
        }
    }

    async fn conn(
        &self,
    ) -> Result<
        diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection>,
        ProviderError,
    > {
        self.pool
            .get()
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()))
    }

    pub async fn create(&self, request: &PaymentRequest) -> Result<ProviderPayment, ProviderError> {
        let id = new_id();
        let mut conn = self.conn().await?;
        let payment = store::create_simulated(
            &mut conn,
            &NewSimulatedPayment {
                id: &id,
                amount: request.amount_pence,
                reference: &request.reference,
                description: &request.description,
                return_url: &request.return_url,
                state: PaymentState::Created.as_str(),
                idempotency_key: request.idempotency_key.as_deref(),
            },
        )
        .await
        .map_err(|e| ProviderError::Unavailable(e.into()))?;
        Ok(self.reported(&payment))
    }

    pub async fn payment(&self, id: &str) -> Result<ProviderPayment, ProviderError> {
        let payment = self.find(id).await?.ok_or(ProviderError::NotFound)?;
        Ok(self.reported(&payment))
    }

    /// The payment behind the pay page.
    pub async fn find(&self, id: &str) -> Result<Option<SimulatedPayment>, ProviderError> {
        let mut conn = self.conn().await?;
        store::find_simulated(&mut conn, id)
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()))
    }

    pub async fn refund(
        &self,
        id: &str,
        amount_pence: i32,
        available_pence: i32,
    ) -> Result<ProviderRefund, ProviderError> {
        let mut conn = self.conn().await?;
        let taken = store::refund_simulated(&mut conn, id, amount_pence, available_pence)
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()))?;
        if !taken {
            return Err(ProviderError::Refused(
                "refund_amount_available does not match what is left to refund".into(),
            ));
        }
        Ok(ProviderRefund {
            id: new_id(),
            status: RefundStatus::Success,
        })
    }

    /// The payer opened the pay page: the payment has started. `None` if there is no such payment.
    pub async fn open(&self, id: &str) -> Result<Option<SimulatedPayment>, ProviderError> {
        let mut conn = self.conn().await?;
        let Some(current) = store::find_simulated(&mut conn, id)
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()))?
        else {
            return Ok(None);
        };
        if !current.state.moves_on_to(PaymentState::Started) {
            return Ok(Some(current));
        }
        store::advance_simulated(&mut conn, id, PaymentState::Started)
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()))
    }

    /// The payer chose: the payment finishes (unless it already had), and the service is told
    /// by a signed webhook, as GOV.UK Pay would tell it. Returns where to send the payer.
    pub async fn choose(&self, id: &str, choice: Choice) -> Result<Option<String>, ProviderError> {
        let mut conn = self.conn().await?;
        let Some(payment) = store::advance_simulated(&mut conn, id, choice.outcome())
            .await
            .map_err(|e| ProviderError::Unavailable(e.into()))?
        else {
            return Ok(None);
        };
        drop(conn);
        self.send_webhook(&payment).await;
        Ok(Some(payment.return_url))
    }

    /// Posts the webhook to this instance. A failure is only logged: the service also asks the
    /// provider whenever a payment in progress is read.
    async fn send_webhook(&self, payment: &SimulatedPayment) {
        let event_type = match payment.state {
            PaymentState::Success => "card_payment_succeeded",
            PaymentState::Cancelled => "card_payment_cancelled",
            _ => "card_payment_failed",
        };
        let message = webhook::Message {
            webhook_message_id: new_id(),
            resource_id: payment.id.clone(),
            resource_type: "payment".into(),
            event_type: event_type.into(),
            resource: Some(webhook::Resource {
                state: super::govuk_pay::State {
                    status: payment.state.as_str().into(),
                    finished: payment.state.is_finished(),
                },
            }),
        };
        let body = serde_json::to_vec(&message).expect("a message serialises");
        let sent = self
            .client
            .post(format!("{}/api/v1/webhooks/payments", self.base_url))
            .header("content-type", "application/json")
            .header("Pay-Signature", webhook::sign(self.webhook_secret(), &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(status = %response.status(), "the simulated provider's webhook was refused")
            }
            Err(error) => {
                tracing::warn!(error = %error, "the simulated provider's webhook was not delivered")
            }
        }
    }
}

/// A provider id like GOV.UK Pay's: 26 lower-case letters and digits, random.
fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 26];
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}
