//! Writing to the append-only audit log, always inside the transaction of the change it records.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::ids::AccountId;

use crate::schema::audit_events;

/// Who did something: an account (with its role) or the system, and the request it came with.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<AccountId>,
    pub role: &'static str,
    pub request_id: Option<String>,
}

impl Actor {
    /// The role recorded for the service itself (sweeps, workers, the command line).
    pub const SYSTEM_ROLE: &'static str = "system";

    pub fn system() -> Actor {
        Actor {
            id: None,
            role: Actor::SYSTEM_ROLE,
            request_id: None,
        }
    }
}

/// One audit event. `subject` is the person whose data was touched; `reason` says why (never
/// personal data).
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<Uuid>,
    pub subject_id: Option<AccountId>,
    pub reason: Option<&'a str>,
}

/// Takes a shared reference, so it can be pipelined with the change it records.
pub async fn record(conn: &AsyncPgConnection, actor: &Actor, event: Event<'_>) -> QueryResult<()> {
    // One row as a single-row insert (not a batch of one): diesel prepares it once per
    // connection, and nearly every write records one event.
    diesel::insert_into(audit_events::table)
        .values(row(actor, &event))
        .execute(&mut { conn })
        .await?;
    Ok(())
}

/// Records several events by one actor in one statement (staff reading a page of a queue).
pub async fn record_all(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    events: &[Event<'_>],
) -> QueryResult<()> {
    let rows: Vec<_> = events.iter().map(|event| row(actor, event)).collect();
    if !rows.is_empty() {
        diesel::insert_into(audit_events::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The columns of one audit row, as diesel inserts them.
type Row<'a> = (
    diesel::dsl::Eq<audit_events::actor_id, Option<AccountId>>,
    diesel::dsl::Eq<audit_events::actor_role, &'a str>,
    diesel::dsl::Eq<audit_events::action, &'a str>,
    diesel::dsl::Eq<audit_events::target_type, &'a str>,
    diesel::dsl::Eq<audit_events::target_id, Option<Uuid>>,
    diesel::dsl::Eq<audit_events::subject_id, Option<AccountId>>,
    diesel::dsl::Eq<audit_events::reason, Option<&'a str>>,
    diesel::dsl::Eq<audit_events::request_id, Option<&'a str>>,
);

fn row<'a>(actor: &'a Actor, event: &Event<'a>) -> Row<'a> {
    (
        audit_events::actor_id.eq(actor.id),
        audit_events::actor_role.eq(actor.role),
        audit_events::action.eq(event.action),
        audit_events::target_type.eq(event.target_type),
        audit_events::target_id.eq(event.target_id),
        audit_events::subject_id.eq(event.subject_id),
        audit_events::reason.eq(event.reason),
        audit_events::request_id.eq(actor.request_id.as_deref()),
    )
}

/// Shorthand for an event about an account (target and subject are the same person).
pub fn about_account(action: &str, account: AccountId) -> Event<'_> {
    Event {
        action,
        target_type: "account",
        target_id: Some(account.0),
        subject_id: Some(account),
        reason: None,
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct Stored {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor_id: Option<AccountId>,
    pub actor_role: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub subject_id: Option<AccountId>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// Events about this person's data.
    pub subject_id: Option<AccountId>,
    pub actor_id: Option<AccountId>,
    pub action: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub before: Option<chrono::DateTime<chrono::Utc>>,
}

/// Newest first, keyset-paginated on the id.
pub async fn page(
    conn: &mut AsyncPgConnection,
    filters: &Filters,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Stored>> {
    let mut query = audit_events::table.select(Stored::as_select()).into_boxed();
    if let Some(subject) = filters.subject_id {
        query = query.filter(audit_events::subject_id.eq(subject));
    }
    if let Some(actor) = filters.actor_id {
        query = query.filter(audit_events::actor_id.eq(actor));
    }
    if let Some(action) = &filters.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filters.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(before) = filters.before {
        query = query.filter(audit_events::occurred_at.lt(before));
    }
    if let Some(id) = before_id {
        query = query.filter(audit_events::id.lt(id));
    }
    query
        .order(audit_events::id.desc())
        .limit(limit + 1)
        .load(conn)
        .await
}
