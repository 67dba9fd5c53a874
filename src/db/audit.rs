//! Writing to the append-only audit log, always inside the transaction of the change it records.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::audit_events;

/// Who did something: an account (with its role) or the system, and the request it came with.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub role: &'static str,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            id: None,
            role: "system",
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
    pub subject_id: Option<Uuid>,
    pub reason: Option<&'a str>,
}

pub async fn record(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    event: Event<'_>,
) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::actor_id.eq(actor.id),
            audit_events::actor_role.eq(actor.role),
            audit_events::action.eq(event.action),
            audit_events::target_type.eq(event.target_type),
            audit_events::target_id.eq(event.target_id),
            audit_events::subject_id.eq(event.subject_id),
            audit_events::reason.eq(event.reason),
            audit_events::request_id.eq(actor.request_id.as_deref()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Shorthand for an event about an account (target and subject are the same person).
pub fn about_account(action: &str, account: Uuid) -> Event<'_> {
    Event {
        action,
        target_type: "account",
        target_id: Some(account),
        subject_id: Some(account),
        reason: None,
    }
}
