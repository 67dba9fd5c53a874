//! The service catalogue, applications, their events, and idempotency keys.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{AccountId, ApplicationId};
use crate::domain::application::Status;
use crate::domain::payment::PaymentStatus;
use crate::schema::{application_events, applications, idempotency_keys, services};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
pub struct Service {
    pub code: String,
    pub reference_prefix: String,
    pub name: String,
    pub description: String,
    pub audience: String,
    pub fee_pence: i32,
    pub target_decision_days: i32,
    pub licence_validity_months: Option<i32>,
    pub legal_basis: String,
}

pub async fn active_services(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Service>> {
    services::table
        .filter(services::active.eq(true))
        .order(services::code.asc())
        .select(Service::as_select())
        .load(conn)
        .await
}

pub async fn active_service(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<Service>> {
    services::table
        .filter(services::active.eq(true))
        .filter(services::code.eq(code))
        .select(Service::as_select())
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = applications)]
pub struct Application {
    pub id: ApplicationId,
    pub reference: String,
    pub account_id: Option<AccountId>,
    pub service_code: String,
    #[diesel(deserialize_as = String)]
    pub status: Status,
    pub details: super::JsonText,
    pub fee_pence: i32,
    pub assigned_to: Option<AccountId>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expected_decision_by: NaiveDate,
    pub decided_at: Option<DateTime<Utc>>,
    pub issued_at: Option<DateTime<Utc>>,
    pub licence_expires_on: Option<NaiveDate>,
    pub closed_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = String)]
    pub payment_status: PaymentStatus,
}

impl Application {
    /// Where it stands in a newest-first list (by submission).
    pub fn position(&self) -> super::Position {
        super::Position {
            at: self.submitted_at,
            id: self.id.0,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = applications)]
pub struct NewApplication<'a> {
    pub reference: &'a str,
    pub account_id: AccountId,
    pub service_code: &'a str,
    pub status: &'a str,
    pub details: &'a serde_json::Value,
    pub fee_pence: i32,
    pub expected_decision_by: NaiveDate,
    pub payment_status: &'a str,
}

diesel::define_sql_function!(fn nextval(sequence: diesel::sql_types::Text) -> diesel::sql_types::BigInt);

/// The next number for a human reference. Rolled-back submissions leave gaps, which is fine.
pub async fn next_reference_number(conn: &AsyncPgConnection) -> QueryResult<i64> {
    // A bound name rather than literal SQL, so the statement is prepared once per connection.
    diesel::select(nextval("application_number_seq"))
        .get_result(&mut { conn })
        .await
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewApplication<'_>,
) -> QueryResult<Application> {
    diesel::insert_into(applications::table)
        .values(new)
        .returning(Application::as_returning())
        .get_result(conn)
        .await
}

/// One application, locked for the rest of the transaction when `for_update`.
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
    for_update: bool,
) -> QueryResult<Option<Application>> {
    let query = applications::table
        .find(id)
        .select(Application::as_select());
    if for_update {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// What changes with a status transition.
#[derive(Debug, Default)]
pub struct StatusChange<'a> {
    pub status: &'a str,
    pub details: Option<&'a serde_json::Value>,
    pub decided: bool,
    pub issued_licence_expires_on: Option<Option<NaiveDate>>,
    pub closed: bool,
}

pub async fn apply_change(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
    change: &StatusChange<'_>,
) -> QueryResult<Application> {
    let now = Utc::now();
    diesel::update(applications::table.find(id))
        .set((
            applications::status.eq(change.status),
            applications::updated_at.eq(now),
            change.details.map(|d| applications::details.eq(d.clone())),
            change.decided.then_some(applications::decided_at.eq(now)),
            change.issued_licence_expires_on.map(|expires| {
                (
                    applications::issued_at.eq(now),
                    applications::licence_expires_on.eq(expires),
                )
            }),
            change.closed.then_some(applications::closed_at.eq(now)),
        ))
        .returning(Application::as_returning())
        .get_result(conn)
        .await
}

/// Records where the application's fee stands (kept in step with its payments and refunds).
pub async fn set_payment_status(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
    status: PaymentStatus,
) -> QueryResult<Application> {
    diesel::update(applications::table.find(id))
        .set((
            applications::payment_status.eq(status.as_str()),
            applications::updated_at.eq(Utc::now()),
        ))
        .returning(Application::as_returning())
        .get_result(conn)
        .await
}

pub async fn assign(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
    staff: AccountId,
) -> QueryResult<Application> {
    diesel::update(applications::table.find(id))
        .set((
            applications::assigned_to.eq(staff),
            applications::updated_at.eq(Utc::now()),
        ))
        .returning(Application::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = application_events)]
pub struct Event {
    pub id: i64,
    #[diesel(deserialize_as = super::NullableText)]
    pub from_status: Option<Status>,
    #[diesel(deserialize_as = String)]
    pub to_status: Status,
    pub actor_role: String,
    pub actor_id: Option<AccountId>,
    pub public_note: Option<String>,
    pub internal_note: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = application_events)]
pub struct NewEvent<'a> {
    pub application_id: ApplicationId,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub actor_role: &'a str,
    pub actor_id: Option<AccountId>,
    pub public_note: Option<&'a str>,
    pub internal_note: Option<&'a str>,
}

pub async fn insert_event(conn: &AsyncPgConnection, event: &NewEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(application_events::table)
        .values(event)
        .execute(&mut { conn })
        .await?;
    Ok(())
}

/// At most this many events are listed (the OpenAPI document says so); real histories have tens.
pub const EVENTS_LISTED: i64 = 1000;

/// The application's history, oldest first.
/// One page of an application's events, oldest first, after the event `after` (an id).
pub async fn events_page(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    application_events::table
        .filter(application_events::application_id.eq(application))
        .filter(application_events::id.gt(after.unwrap_or(0)))
        .order(application_events::id.asc())
        .limit(limit + 1)
        .select(Event::as_select())
        .load(conn)
        .await
}

pub async fn events(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
) -> QueryResult<Vec<Event>> {
    application_events::table
        .filter(application_events::application_id.eq(application))
        .order(application_events::id.asc())
        .limit(EVENTS_LISTED)
        .select(Event::as_select())
        .load(conn)
        .await
}

/// Filters of the resident's list and the staff queue.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub account_id: Option<AccountId>,
    pub status: Option<String>,
    pub service: Option<String>,
    pub assigned_to: Option<AccountId>,
    pub submitted_from: Option<DateTime<Utc>>,
    pub submitted_before: Option<DateTime<Utc>>,
    /// A reference, or the start of one (upper-cased by the caller).
    pub reference_prefix: Option<String>,
}

/// The application behind an issued permit, by its reference (`None` if there is none, or it was
/// never issued).
pub async fn find_issued(
    conn: &mut AsyncPgConnection,
    reference: &str,
) -> QueryResult<Option<Application>> {
    applications::table
        .filter(applications::reference.eq(reference))
        .filter(applications::issued_at.is_not_null())
        .select(Application::as_select())
        .first(conn)
        .await
        .optional()
}

/// One page, newest first, using keyset pagination: `(submitted_at, id) < after`, which every
/// filter's index serves without an offset scan. Fetches `limit + 1` rows to know if there is more.
pub async fn page(
    conn: &AsyncPgConnection,
    filters: &Filters,
    after: Option<super::Position>,
    limit: i64,
) -> QueryResult<Vec<Application>> {
    let mut query = applications::table
        .select(Application::as_select())
        .into_boxed();
    if let Some(account) = filters.account_id {
        query = query.filter(applications::account_id.eq(account));
    }
    if let Some(status) = &filters.status {
        query = query.filter(applications::status.eq(status.clone()));
    }
    if let Some(service) = &filters.service {
        query = query.filter(applications::service_code.eq(service.clone()));
    }
    if let Some(staff) = filters.assigned_to {
        query = query.filter(applications::assigned_to.eq(staff));
    }
    if let Some(from) = filters.submitted_from {
        query = query.filter(applications::submitted_at.ge(from));
    }
    if let Some(before) = filters.submitted_before {
        query = query.filter(applications::submitted_at.lt(before));
    }
    if let Some(prefix) = &filters.reference_prefix {
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(applications::reference.like(pattern));
    }
    if let Some(after) = after {
        query = query.filter(
            diesel::dsl::sql::<Bool>("(applications.submitted_at, applications.id) < (")
                .bind::<Timestamptz, _>(after.at)
                .sql(", ")
                .bind::<SqlUuid, _>(after.id)
                .sql(")"),
        );
    }
    query
        .order((applications::submitted_at.desc(), applications::id.desc()))
        .limit(limit + 1)
        .load(&mut { conn })
        .await
}

/// A stored response for an idempotency key.
#[derive(Debug, Queryable)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status: i32,
    pub body: serde_json::Value,
}

/// Claims `key` for this request inside the caller's transaction. `None` means it is ours (go on
/// and record the response); `Some` is the first request's response. A concurrent request with
/// the same key waits on the row lock until the first commits, then sees its response.
pub async fn claim_idempotency_key(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    key: &str,
    request_hash: &[u8],
) -> QueryResult<Option<StoredResponse>> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::account_id.eq(account),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::response_status.eq(0),
            idempotency_keys::response_body.eq(serde_json::Value::Null),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(None);
    }
    stored_response(conn, account, key).await
}

/// The answer stored for `key`, if a request with it has committed.
pub async fn stored_response(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    key: &str,
) -> QueryResult<Option<StoredResponse>> {
    idempotency_keys::table
        .find((account, key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_status,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .await
        .optional()
}

pub async fn store_idempotent_response(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    key: &str,
    status: i32,
    body: &serde_json::Value,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((account, key)))
        .set((
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
