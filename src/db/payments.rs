//! Payments and refunds (financial records), and the simulated provider's own records.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::ids::{AccountId, ApplicationId};
use crate::domain::payment::{Ledger, PaymentState, RefundStatus};
use crate::schema::{payments, refunds, simulated_payments};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: Uuid,
    pub application_id: ApplicationId,
    pub account_id: Option<AccountId>,
    pub provider: String,
    pub provider_payment_id: String,
    pub amount_pence: i32,
    #[diesel(deserialize_as = String)]
    pub state: PaymentState,
    pub next_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = payments)]
pub struct NewPayment<'a> {
    pub application_id: ApplicationId,
    pub account_id: AccountId,
    pub provider: &'a str,
    pub provider_payment_id: &'a str,
    pub amount_pence: i32,
    pub state: &'a str,
    pub next_url: Option<&'a str>,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewPayment<'_>) -> QueryResult<Payment> {
    diesel::insert_into(payments::table)
        .values(new)
        .returning(Payment::as_returning())
        .get_result(conn)
        .await
}

/// An application's payments, oldest first.
pub async fn for_application(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
) -> QueryResult<Vec<Payment>> {
    payments::table
        .filter(payments::application_id.eq(application))
        .order((payments::created_at.asc(), payments::id.asc()))
        .select(Payment::as_select())
        .load(conn)
        .await
}

/// The payment the provider knows as `provider_payment_id`.
pub async fn find_by_provider_id(
    conn: &mut AsyncPgConnection,
    provider: &str,
    provider_payment_id: &str,
) -> QueryResult<Option<Payment>> {
    payments::table
        .filter(payments::provider.eq(provider))
        .filter(payments::provider_payment_id.eq(provider_payment_id))
        .select(Payment::as_select())
        .first(conn)
        .await
        .optional()
}

/// One payment, locked for the rest of the transaction.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Payment> {
    payments::table
        .find(id)
        .for_update()
        .select(Payment::as_select())
        .first(conn)
        .await
}

pub async fn set_state(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    state: PaymentState,
) -> QueryResult<Payment> {
    let now = Utc::now();
    diesel::update(payments::table.find(id))
        .set((
            payments::state.eq(state.as_str()),
            payments::updated_at.eq(now),
            state.is_finished().then_some((
                payments::finished_at.eq(now),
                payments::next_url.eq(None::<String>),
            )),
        ))
        .returning(Payment::as_returning())
        .get_result(conn)
        .await
}

/// What the application's payments and refunds add up to, for a fee of `fee_pence`.
pub async fn ledger(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
    fee_pence: i32,
) -> QueryResult<Ledger> {
    let states: Vec<(Uuid, String, i32)> = payments::table
        .filter(payments::application_id.eq(application))
        .select((payments::id, payments::state, payments::amount_pence))
        .load(conn)
        .await?;
    let paid = states
        .iter()
        .find(|(_, state, _)| state == PaymentState::Success.as_str());
    let in_progress = states
        .iter()
        .any(|(_, state, _)| PaymentState::parse(state).is_some_and(|state| !state.is_finished()));
    let refunded_pence = match paid {
        Some((payment, _, _)) => {
            let counted: Vec<i32> = refunds::table
                .filter(refunds::payment_id.eq(payment))
                .filter(refunds::status.ne(RefundStatus::Failed.as_str()))
                .select(refunds::amount_pence)
                .load(conn)
                .await?;
            counted.iter().sum()
        }
        None => 0,
    };
    Ok(Ledger {
        fee_pence,
        paid_pence: paid.map(|(_, _, amount)| *amount),
        in_progress,
        refunded_pence,
    })
}

/// The successful payment of an application, if any.
pub async fn successful(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
) -> QueryResult<Option<Payment>> {
    payments::table
        .filter(payments::application_id.eq(application))
        .filter(payments::state.eq(PaymentState::Success.as_str()))
        .select(Payment::as_select())
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub provider_refund_id: Option<String>,
    pub amount_pence: i32,
    pub reason: String,
    #[diesel(deserialize_as = String)]
    pub status: RefundStatus,
    pub requested_by: Option<AccountId>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refunds)]
pub struct NewRefund<'a> {
    pub payment_id: Uuid,
    pub amount_pence: i32,
    pub reason: &'a str,
    pub status: &'a str,
    pub requested_by: Option<AccountId>,
}

pub async fn insert_refund(
    conn: &mut AsyncPgConnection,
    new: &NewRefund<'_>,
) -> QueryResult<Refund> {
    diesel::insert_into(refunds::table)
        .values(new)
        .returning(Refund::as_returning())
        .get_result(conn)
        .await
}

/// What the provider has taken back of `payment`: its submitted and successful refunds.
pub async fn refunds_taken(conn: &mut AsyncPgConnection, payment: Uuid) -> QueryResult<i32> {
    let taken: Vec<i32> = refunds::table
        .filter(refunds::payment_id.eq(payment))
        .filter(refunds::status.eq_any([
            RefundStatus::Submitted.as_str(),
            RefundStatus::Success.as_str(),
        ]))
        .select(refunds::amount_pence)
        .load(conn)
        .await?;
    Ok(taken.iter().sum())
}

pub async fn refunds_of(conn: &mut AsyncPgConnection, payment: Uuid) -> QueryResult<Vec<Refund>> {
    refunds::table
        .filter(refunds::payment_id.eq(payment))
        .order((refunds::requested_at.asc(), refunds::id.asc()))
        .select(Refund::as_select())
        .load(conn)
        .await
}

/// A refund still owed, locked for the rest of the transaction; `None` when it is no longer owed
/// or another worker holds it (that one is submitting it).
pub async fn claim_owed_refund(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Refund>> {
    refunds::table
        .find(id)
        .filter(refunds::status.eq(RefundStatus::Requested.as_str()))
        .for_update()
        .skip_locked()
        .select(Refund::as_select())
        .first(conn)
        .await
        .optional()
}

/// Refunds still owed, oldest first (for the worker that submits them).
pub async fn owed_refunds(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Uuid>> {
    refunds::table
        .filter(refunds::status.eq(RefundStatus::Requested.as_str()))
        .order(refunds::requested_at.asc())
        .limit(limit)
        .select(refunds::id)
        .load(conn)
        .await
}

pub async fn find_refund(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Refund> {
    refunds::table
        .find(id)
        .select(Refund::as_select())
        .first(conn)
        .await
}

pub async fn find_payment(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Payment> {
    payments::table
        .find(id)
        .select(Payment::as_select())
        .first(conn)
        .await
}

pub async fn set_refund(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: RefundStatus,
    provider_refund_id: Option<&str>,
) -> QueryResult<Refund> {
    diesel::update(refunds::table.find(id))
        .set((
            refunds::status.eq(status.as_str()),
            refunds::provider_refund_id.eq(provider_refund_id),
            refunds::updated_at.eq(Utc::now()),
        ))
        .returning(Refund::as_returning())
        .get_result(conn)
        .await
}

/// A payment at the simulated provider.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = simulated_payments)]
pub struct SimulatedPayment {
    pub id: String,
    pub amount: i32,
    pub reference: String,
    pub description: String,
    pub return_url: String,
    #[diesel(deserialize_as = String)]
    pub state: PaymentState,
    pub refunded: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = simulated_payments)]
pub struct NewSimulatedPayment<'a> {
    pub id: &'a str,
    pub amount: i32,
    pub reference: &'a str,
    pub description: &'a str,
    pub return_url: &'a str,
    pub state: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// Creates a simulated payment, or returns the one already created with the same idempotency key.
pub async fn create_simulated(
    conn: &mut AsyncPgConnection,
    new: &NewSimulatedPayment<'_>,
) -> QueryResult<SimulatedPayment> {
    let created = diesel::insert_into(simulated_payments::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(SimulatedPayment::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    match (created, new.idempotency_key) {
        (Some(created), _) => Ok(created),
        (None, Some(key)) => {
            simulated_payments::table
                .filter(simulated_payments::idempotency_key.eq(key))
                .select(SimulatedPayment::as_select())
                .first(conn)
                .await
        }
        (None, None) => Err(diesel::result::Error::NotFound),
    }
}

pub async fn find_simulated(
    conn: &mut AsyncPgConnection,
    id: &str,
) -> QueryResult<Option<SimulatedPayment>> {
    simulated_payments::table
        .find(id)
        .select(SimulatedPayment::as_select())
        .first(conn)
        .await
        .optional()
}

/// Moves a simulated payment to `state` unless it has finished; returns it as it now is.
pub async fn advance_simulated(
    conn: &mut AsyncPgConnection,
    id: &str,
    state: PaymentState,
) -> QueryResult<Option<SimulatedPayment>> {
    let unfinished: Vec<&str> = crate::domain::payment::PaymentState::ALL
        .into_iter()
        .filter(|s| !s.is_finished())
        .map(PaymentState::as_str)
        .collect();
    diesel::update(simulated_payments::table.find(id))
        .filter(simulated_payments::state.eq_any(unfinished))
        .set(simulated_payments::state.eq(state.as_str()))
        .execute(conn)
        .await?;
    find_simulated(conn, id).await
}

/// Takes `amount` off a simulated payment, if exactly `available` was left (GOV.UK Pay's
/// `refund_amount_available` check); `false` when it was not.
pub async fn refund_simulated(
    conn: &mut AsyncPgConnection,
    id: &str,
    amount: i32,
    available: i32,
) -> QueryResult<bool> {
    let taken = diesel::update(simulated_payments::table.find(id))
        .filter(simulated_payments::state.eq(PaymentState::Success.as_str()))
        .filter((simulated_payments::amount - simulated_payments::refunded).eq(available))
        .filter(simulated_payments::refunded.le(simulated_payments::amount - amount))
        .set(simulated_payments::refunded.eq(simulated_payments::refunded + amount))
        .execute(conn)
        .await?;
    Ok(taken == 1)
}
