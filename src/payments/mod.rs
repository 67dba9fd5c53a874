//! The payment provider: GOV.UK Pay (the service councils use) or, for development and tests, a
//! simulated provider built in. Both speak in GOV.UK Pay's terms: create a payment, send the payer
//! to its `next_url`, learn the outcome by asking (`GET /v1/payments/{id}`) or from a signed
//! webhook, refund. The outcome is never taken from the payer's return to our site.

pub mod govuk_pay;
pub mod simulated;
pub mod webhook;

use crate::domain::payment::{PaymentState, RefundStatus};

/// What we ask the provider to take.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    pub amount_pence: i32,
    /// The application's reference: what the payer and the council's finance team see.
    pub reference: String,
    pub description: String,
    /// Where the provider sends the payer afterwards (the frontend, which then asks us).
    pub return_url: String,
    /// The same key gives back the same payment (a retried or raced request pays once).
    pub idempotency_key: Option<String>,
}

/// A payment as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    pub id: String,
    /// `None`: a state this service does not know (a newer API): nothing is concluded from it.
    pub state: Option<PaymentState>,
    pub next_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    pub id: String,
    pub status: RefundStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable, timed out, or failing on its side: try again later.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(anyhow::Error),
    /// It answered, and said no (for a refund: the amount left to refund is not what we think).
    #[error("the payment provider refused: {0}")]
    Refused(String),
    /// It does not know the payment.
    #[error("the payment provider does not know this payment")]
    NotFound,
}

/// The configured provider (one per deployment).
pub enum PaymentProvider {
    GovUkPay(govuk_pay::GovUkPay),
    Simulated(simulated::Simulated),
}

impl PaymentProvider {
    /// How payments record their provider.
    pub fn name(&self) -> &'static str {
        match self {
            PaymentProvider::GovUkPay(_) => govuk_pay::NAME,
            PaymentProvider::Simulated(_) => simulated::NAME,
        }
    }

    pub async fn create(&self, request: &PaymentRequest) -> Result<ProviderPayment, ProviderError> {
        match self {
            PaymentProvider::GovUkPay(pay) => pay.create(request).await,
            PaymentProvider::Simulated(sim) => sim.create(request).await,
        }
    }

    /// The payment's state now (the provider's word, not a cached one).
    pub async fn payment(&self, id: &str) -> Result<ProviderPayment, ProviderError> {
        match self {
            PaymentProvider::GovUkPay(pay) => pay.payment(id).await,
            PaymentProvider::Simulated(sim) => sim.payment(id).await,
        }
    }

    /// Refunds `amount_pence` of payment `id`, provided `available_pence` is what is left to
    /// refund (so that a refund sent twice is refused the second time).
    pub async fn refund(
        &self,
        id: &str,
        amount_pence: i32,
        available_pence: i32,
    ) -> Result<ProviderRefund, ProviderError> {
        match self {
            PaymentProvider::GovUkPay(pay) => pay.refund(id, amount_pence, available_pence).await,
            PaymentProvider::Simulated(sim) => sim.refund(id, amount_pence, available_pence).await,
        }
    }

    /// The secret the provider signs its webhooks with.
    pub fn webhook_secret(&self) -> &[u8] {
        match self {
            PaymentProvider::GovUkPay(pay) => pay.webhook_secret(),
            PaymentProvider::Simulated(sim) => sim.webhook_secret(),
        }
    }
}

/// An HTTP client for the provider: TLS with the usual web roots (ring, as lettre uses), and a
/// bound on every call so that a slow provider cannot hold a request for long.
pub fn http_client(timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}
