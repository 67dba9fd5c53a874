//! Paying an application's fee and refunding it, through the payment provider.
//!
//! A call to the provider never happens inside a transaction that other writers wait on, and
//! nothing is written before the provider has answered: a payment is created at the provider
//! first, then recorded in one transaction with its audit row. A provider that is down leaves
//! nothing behind (the resident gets a 503); a payment the provider created for a request that
//! then lost a race is never visited, and expires there. What a payment became is learnt from the
//! provider (a signed webhook, or asking it), never from the resident's return, and a report
//! that comes late or twice changes nothing (`PaymentState::moves_on_to`).
//!
//! Refunds are owed first (a `requested` row, written with the decision that owes them), then
//! submitted; one the provider could not take is retried by `run_refund_worker`.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::applications::Answer;
use super::{Error, lock_application};
use crate::db::DbPool;
use crate::db::applications::{self as applications_store, Application};
use crate::db::audit::{self, Actor};
use crate::db::ids::{AccountId, ApplicationId};
use crate::db::payments::{self as store, NewPayment, NewRefund, Payment, Refund};
use crate::db::{accounts, outbox};
use crate::domain::payment::{PaymentState, PaymentStatus, RefundStatus, format_pence};
use crate::email::templates::Template;
use crate::payments::{PaymentProvider, PaymentRequest, ProviderError, ProviderPayment};

impl From<ProviderError> for Error {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unavailable(cause) => Error::ProviderUnavailable(cause),
            ProviderError::Refused(why) => Error::ProviderRefused(why),
            ProviderError::NotFound => {
                Error::ProviderRefused("it does not know this payment".into())
            }
        }
    }
}

/// Where the provider sends the resident once they have paid (or not): the frontend's page for
/// the application, which then asks this service what happened.
pub fn return_url(frontend_url: &str, application: ApplicationId) -> String {
    format!(
        "{}/applications/{application}/payment",
        frontend_url.trim_end_matches('/')
    )
}

/// Who pays for which application, and the request's Idempotency-Key.
pub struct Paying<'a> {
    pub actor: &'a Actor,
    pub account: AccountId,
    pub application: ApplicationId,
    pub idempotency_key: Option<&'a str>,
}

/// Starts paying an application's fee: the provider creates the payment, then it is recorded
/// (with the application's payment now `pending`). 409 when nothing is due. With an
/// Idempotency-Key, a retry gets the first answer back, and the provider is given a key derived
/// from it, so a raced retry cannot create two payments the resident could both pay.
pub async fn start(
    pool: &DbPool,
    provider: &PaymentProvider,
    frontend_url: &str,
    paying: Paying<'_>,
    view: impl Fn(Payment) -> serde_json::Result<serde_json::Value> + Send,
) -> Result<Answer, Error> {
    let Paying {
        actor,
        account,
        application: id,
        idempotency_key: key,
    } = paying;
    let request_hash = Sha256::digest(format!("payment\n{id}")).to_vec();
    let (application, description) = {
        let mut conn = pool.get().await?;
        let application = own(&mut conn, account, id).await?;
        if let Some(key) = key
            && let Some(stored) =
                applications_store::stored_response(&mut conn, account, key).await?
        {
            return replay(stored, &request_hash);
        }
        nothing_due(&application)?;
        let description = applications_store::active_service(&mut conn, &application.service_code)
            .await?
            .map_or_else(|| application.service_code.clone(), |s| s.name);
        (application, description)
    };
    let created = provider
        .create(&PaymentRequest {
            amount_pence: application.fee_pence,
            reference: application.reference.clone(),
            description,
            return_url: return_url(frontend_url, id),
            idempotency_key: key.map(|key| {
                // The application and amount too: the same key on another application (after a
                // first attempt that recorded nothing) must not be handed back the first payment.
                let digest =
                    Sha256::digest(format!("{account}\n{id}\n{}\n{key}", application.fee_pence));
                digest.iter().map(|b| format!("{b:02x}")).collect()
            }),
        })
        .await?;
    // What the provider was asked to take is what is recorded.
    let asked_pence = application.fee_pence;
    let mut conn = pool.get().await?;
    conn.transaction(async move |conn| {
        if !accounts::lock_active(conn, account).await? {
            return Err(Error::NotFound);
        }
        let application = applications_store::find(conn, id, true)
            .await?
            .filter(|a| a.account_id == Some(account))
            .ok_or(Error::NotFound)?;
        if let Some(key) = key
            && let Some(stored) =
                applications_store::claim_idempotency_key(conn, account, key, &request_hash).await?
        {
            return replay(stored, &request_hash);
        }
        // Another request may have started one meanwhile: the provider's payment for this one is
        // then never visited, and expires.
        nothing_due(&application)?;
        // A provider payment already recorded (an old key handed back by the provider after ours
        // expired) is not recorded twice.
        if store::find_by_provider_id(conn, provider.name(), &created.id).await?.is_some() {
            return Err(Error::Conflict(
                "the payment provider returned a payment already recorded: use another Idempotency-Key".into(),
            ));
        }
        let payment = store::insert(
            conn,
            &NewPayment {
                application_id: id,
                account_id: account,
                provider: provider.name(),
                provider_payment_id: &created.id,
                amount_pence: asked_pence,
                state: created.state.unwrap_or(PaymentState::Created).as_str(),
                next_url: created.next_url.as_deref(),
            },
        )
        .await?;
        settle(conn, &application).await?;
        audit::record(conn, actor, payment_event("payment.started", &payment)).await?;
        let body = view(payment).map_err(anyhow::Error::from)?;
        if let Some(key) = key {
            applications_store::store_idempotent_response(conn, account, key, 201, &body).await?;
        }
        Ok(Answer { status: 201, body })
    })
    .await
}

fn replay(
    stored: applications_store::StoredResponse,
    request_hash: &[u8],
) -> Result<Answer, Error> {
    if stored.request_hash != request_hash {
        return Err(Error::Conflict(
            "this Idempotency-Key was already used for a different request".into(),
        ));
    }
    Ok(Answer {
        status: stored.status,
        body: stored.body,
    })
}

/// 409 unless the fee is due on an application still open.
fn nothing_due(application: &Application) -> Result<(), Error> {
    if !application.status.is_open() {
        return Err(Error::Conflict(format!(
            "nothing is due: the application is {}",
            application.status
        )));
    }
    match application.payment_status {
        PaymentStatus::Due => Ok(()),
        PaymentStatus::Pending => Err(Error::Conflict(
            "a payment is already under way: finish it at its next_url, or wait for it to end (GET its payments)".into(),
        )),
        other => Err(Error::Conflict(format!(
            "nothing is due: the fee is {}",
            other.as_str()
        ))),
    }
}

async fn own(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    id: ApplicationId,
) -> Result<Application, Error> {
    applications_store::find(conn, id, false)
        .await?
        .filter(|a| a.account_id == Some(account))
        .ok_or(Error::NotFound)
}

/// An application's payments, each with its refunds. A payment still in progress is first
/// brought up to date from the provider (a provider that does not answer leaves it as it was).
pub async fn list(
    pool: &DbPool,
    provider: &PaymentProvider,
    account: AccountId,
    id: ApplicationId,
) -> Result<Vec<(Payment, Vec<Refund>)>, Error> {
    let mut conn = pool.get().await?;
    own(&mut conn, account, id).await?;
    let payments = store::for_application(&mut conn, id).await?;
    drop(conn);
    for payment in payments.iter().filter(|p| !p.state.is_finished()) {
        match provider.payment(&payment.provider_payment_id).await {
            Ok(ProviderPayment {
                state: Some(state), ..
            }) => {
                record(pool, provider.name(), &payment.provider_payment_id, state).await?;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "could not refresh a payment from the provider")
            }
        }
    }
    let mut conn = pool.get().await?;
    let mut listed = Vec::new();
    for payment in store::for_application(&mut conn, id).await? {
        let refunds = store::refunds_of(&mut conn, payment.id).await?;
        listed.push((payment, refunds));
    }
    Ok(listed)
}

/// What the provider reported about one of its payments (a webhook, or our own question):
/// recorded if it moves the payment on, in one transaction with the application's payment
/// status, the audit row and — once paid — the resident's receipt. A report about a payment
/// this service does not know changes nothing.
pub async fn record(
    pool: &DbPool,
    provider: &str,
    provider_payment_id: &str,
    reported: PaymentState,
) -> Result<Option<Payment>, Error> {
    let mut conn = pool.get().await?;
    conn.transaction(async move |conn| {
        let Some(found) = store::find_by_provider_id(conn, provider, provider_payment_id).await?
        else {
            return Ok(None);
        };
        let (application, payer_live) = lock_application(conn, found.application_id).await?;
        let current = store::lock(conn, found.id).await?;
        if !current.state.moves_on_to(reported) {
            return Ok(Some(current));
        }
        let payment = store::set_state(conn, current.id, reported).await?;
        let application = settle(conn, &application).await?;
        if !reported.is_finished() {
            return Ok(Some(payment));
        }
        let system = Actor::system();
        let action = match reported {
            PaymentState::Success => "payment.succeeded",
            _ => "payment.failed",
        };
        audit::record(conn, &system, payment_event(action, &payment)).await?;
        if reported == PaymentState::Success {
            if !application.status.is_open() {
                // Withdrawn (or decided) while the resident was paying: the fee goes back.
                owe_refund(
                    conn,
                    &system,
                    &payment,
                    payment.amount_pence,
                    "the application had been withdrawn when the payment went through",
                )
                .await?;
                settle(conn, &application).await?;
            } else if payer_live && let Some(owner) = application.account_id {
                let applicant = accounts::find(conn, owner).await?;
                let receipt = Template::PaymentReceived {
                    name: applicant.name,
                    reference: application.reference.clone(),
                    amount: format_pence(payment.amount_pence),
                };
                outbox::enqueue(conn, Some(owner), &applicant.email, &receipt.email()).await?;
            }
        }
        Ok(Some(payment))
    })
    .await
}

/// Brings the application's payment status in line with its payments and refunds.
pub(super) async fn settle(
    conn: &mut AsyncPgConnection,
    application: &Application,
) -> Result<Application, diesel::result::Error> {
    let ledger = store::ledger(conn, application.id, application.fee_pence).await?;
    let status = ledger.status();
    if status == application.payment_status {
        return Ok(application.clone());
    }
    applications_store::set_payment_status(conn, application.id, status).await
}

/// Owes a refund of `amount` on `payment` (submitted to the provider after the transaction).
pub(super) async fn owe_refund(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    payment: &Payment,
    amount_pence: i32,
    reason: &str,
) -> Result<Refund, diesel::result::Error> {
    let refund = store::insert_refund(
        conn,
        &NewRefund {
            payment_id: payment.id,
            amount_pence,
            reason,
            status: RefundStatus::Requested.as_str(),
            requested_by: actor.id,
        },
    )
    .await?;
    audit::record(
        conn,
        actor,
        audit::Event {
            action: "payment.refund_requested",
            target_type: "refund",
            target_id: Some(refund.id),
            subject_id: payment.account_id,
            reason: Some(reason),
        },
    )
    .await?;
    Ok(refund)
}

/// What happened to a refund staff asked for.
pub enum RefundOutcome {
    /// The provider took it.
    Submitted(Refund),
    /// Owed: the provider could not be reached, and it will be retried.
    Owed(Refund),
}

/// Refunds `amount_pence` of an application's fee, for `reason` (staff only): owed and audited
/// in one transaction, then submitted to the provider. More than is left to refund is a 409; so
/// is a refund the provider refuses (then recorded as failed).
pub async fn refund(
    pool: &DbPool,
    provider: &PaymentProvider,
    actor: &Actor,
    id: ApplicationId,
    amount_pence: i32,
    reason: &str,
) -> Result<RefundOutcome, Error> {
    let mut conn = pool.get().await?;
    let owed = conn
        .transaction(async |conn| {
            let (application, _) = lock_application(conn, id).await?;
            // No one refunds their own fee from the staff side.
            if application.account_id.is_some() && application.account_id == actor.id {
                return Err(Error::Conflict(
                    "this application is yours: a colleague must refund it".into(),
                ));
            }
            let payment = store::successful(conn, id).await?.ok_or_else(|| {
                Error::Conflict("nothing has been paid for this application".into())
            })?;
            let left = store::ledger(conn, id, application.fee_pence)
                .await?
                .refundable_pence();
            if amount_pence > left {
                return Err(Error::Conflict(format!(
                    "only {left} pence is left to refund"
                )));
            }
            let refund = owe_refund(conn, actor, &payment, amount_pence, reason).await?;
            settle(conn, &application).await?;
            Ok(refund)
        })
        .await?;
    drop(conn);
    match submit_refund(pool, provider, owed.id).await {
        Ok(Some(refund)) if refund.status == RefundStatus::Failed => Err(Error::ProviderRefused(
            "the payment provider refused the refund".into(),
        )),
        Ok(Some(refund)) => Ok(RefundOutcome::Submitted(refund)),
        Ok(None) => Ok(RefundOutcome::Owed(owed)),
        Err(Error::ProviderUnavailable(cause)) => {
            tracing::warn!(error = %cause, "refund owed: the provider will be asked again");
            Ok(RefundOutcome::Owed(owed))
        }
        Err(other) => Err(other),
    }
}

/// Submits an owed refund to the provider, holding it (so no other instance submits it too) until
/// the provider has answered. `None` when it is no longer owed or another worker has it. A
/// refusal is recorded (`failed`, the amount owed again), and the resident is emailed when the
/// provider takes it.
pub async fn submit_refund(
    pool: &DbPool,
    provider: &PaymentProvider,
    id: Uuid,
) -> Result<Option<Refund>, Error> {
    let mut conn = pool.get().await?;
    conn.transaction(async move |conn| {
        // The account and the application first (the lock order of `db::accounts`: an erasure
        // waiting for the account never holds this refund), then the refund itself.
        let payment_id = store::find_refund(conn, id).await?.payment_id;
        let payment = store::find_payment(conn, payment_id).await?;
        let (application, payer_live) = lock_application(conn, payment.application_id).await?;
        let Some(owed) = store::claim_owed_refund(conn, id).await? else {
            return Ok(None);
        };
        // What the provider has left to refund: the payment less the refunds it has taken
        // (owed ones, this one included, it has not seen yet).
        let available = payment.amount_pence - store::refunds_taken(conn, payment.id).await?;
        if payment.provider != provider.name() {
            // Taken by a provider this deployment no longer uses: left owed, for a person.
            return Ok(None);
        }
        let system = Actor::system();
        let (status, provider_refund_id) = match provider
            .refund(&payment.provider_payment_id, owed.amount_pence, available)
            .await
        {
            Ok(taken) => (taken.status, Some(taken.id)),
            Err(ProviderError::Unavailable(cause)) => {
                return Err(Error::ProviderUnavailable(cause));
            }
            Err(refused) => {
                tracing::warn!(error = %refused, "the payment provider refused a refund");
                (RefundStatus::Failed, None)
            }
        };
        let refund =
            store::set_refund(conn, owed.id, status, provider_refund_id.as_deref()).await?;
        settle(conn, &application).await?;
        let action = match status {
            RefundStatus::Failed => "payment.refund_refused",
            _ => "payment.refunded",
        };
        audit::record(
            conn,
            &system,
            audit::Event {
                action,
                target_type: "refund",
                target_id: Some(refund.id),
                subject_id: payment.account_id,
                reason: None,
            },
        )
        .await?;
        if status != RefundStatus::Failed
            && payer_live
            && let Some(owner) = application.account_id
        {
            let applicant = accounts::find(conn, owner).await?;
            let email = Template::RefundIssued {
                name: applicant.name,
                reference: application.reference.clone(),
                amount: format_pence(refund.amount_pence),
                reason: refund.reason.clone(),
            };
            outbox::enqueue(conn, Some(owner), &applicant.email, &email.email()).await?;
        }
        Ok(Some(refund))
    })
    .await
}

/// Submits owed refunds (a withdrawal's, or one the provider could not take at the time) every
/// `interval`, on every instance (each refund is held by one at a time).
pub async fn run_refund_worker(
    pool: DbPool,
    provider: std::sync::Arc<PaymentProvider>,
    interval: Duration,
) {
    loop {
        let owed = match pool.get().await {
            Ok(mut conn) => store::owed_refunds(&mut conn, 20).await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        for id in owed {
            match submit_refund(&pool, &provider, id).await {
                Ok(_) => {}
                Err(Error::ProviderUnavailable(cause)) => {
                    tracing::warn!(error = %cause, "owed refunds wait: the payment provider is unavailable");
                    break;
                }
                Err(error) => tracing::error!(error = %error, "submitting an owed refund failed"),
            }
        }
        tokio::time::sleep(interval).await;
    }
}

fn payment_event<'a>(action: &'a str, payment: &Payment) -> audit::Event<'a> {
    audit::Event {
        action,
        target_type: "payment",
        target_id: Some(payment.id),
        subject_id: payment.account_id,
        reason: None,
    }
}

/// A webhook message whose signature has been checked: the payment's new state is taken from
/// it, or asked of the provider when the message does not carry one this service knows.
pub async fn receive(
    pool: &DbPool,
    provider: &PaymentProvider,
    message: &crate::payments::webhook::Message,
) -> Result<(), Error> {
    if message.resource_type != "payment" {
        return Ok(());
    }
    let carried = message
        .resource
        .as_ref()
        .and_then(|resource| PaymentState::parse(&resource.state.status));
    let reported = match carried {
        Some(state) => state,
        None => match provider.payment(&message.resource_id).await {
            Ok(ProviderPayment {
                state: Some(state), ..
            }) => state,
            Ok(_) | Err(ProviderError::NotFound) => return Ok(()),
            Err(error) => return Err(error.into()),
        },
    };
    record(pool, provider.name(), &message.resource_id, reported).await?;
    Ok(())
}
