//! The email outbox: rows written in the caller's transaction, claimed by the delivery worker
//! with `FOR UPDATE SKIP LOCKED` so several instances never send the same email twice.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::ids::AccountId;
use crate::schema::email_outbox;

/// Where an email stands in the outbox (the column's CHECK lists the same three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Pending,
    Sent,
    Failed,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
        }
    }
}

/// An email ready to be stored: the template that made it (a stable code) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    pub template: &'static str,
    pub subject: String,
    pub body: String,
}

/// Queues `email` for `to`, in the caller's transaction (a shared reference: it can be pipelined
/// with the change that sends it).
pub async fn enqueue(
    conn: &AsyncPgConnection,
    account_id: Option<AccountId>,
    to: &str,
    email: &NewEmail,
) -> QueryResult<()> {
    insert(conn, account_id, to, email, false).await
}

/// Queues an email whose row is deleted once sent (for a person who has just been erased).
pub async fn enqueue_ephemeral(
    conn: &AsyncPgConnection,
    to: &str,
    email: &NewEmail,
) -> QueryResult<()> {
    insert(conn, None, to, email, true).await
}

async fn insert(
    conn: &AsyncPgConnection,
    account_id: Option<AccountId>,
    to: &str,
    email: &NewEmail,
    delete_after_send: bool,
) -> QueryResult<()> {
    diesel::insert_into(email_outbox::table)
        .values((
            email_outbox::account_id.eq(account_id),
            email_outbox::to_address.eq(to),
            email_outbox::template.eq(email.template),
            email_outbox::subject.eq(&email.subject),
            email_outbox::body_text.eq(&email.body),
            email_outbox::delete_after_send.eq(delete_after_send),
        ))
        .execute(&mut { conn })
        .await?;
    Ok(())
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = email_outbox)]
pub struct DueEmail {
    pub id: Uuid,
    pub account_id: Option<AccountId>,
    pub template: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub attempts: i32,
}

/// Leases up to `limit` due emails until `until` (call inside a transaction): they become
/// invisible to other workers until then, and are sent outside any transaction. A worker that
/// dies mid-send leaves them to be retried when the lease runs out (delivery is at least once).
/// `until` is stored exactly (whole microseconds), so the lease can be told from a later one.
pub async fn lease_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    until: DateTime<Utc>,
) -> QueryResult<Vec<DueEmail>> {
    let due: Vec<Uuid> = email_outbox::table
        .filter(email_outbox::status.eq(Delivery::Pending.as_str()))
        .filter(email_outbox::next_attempt_at.le(diesel::dsl::now))
        .order(email_outbox::next_attempt_at.asc())
        .limit(limit)
        .select(email_outbox::id)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    diesel::update(email_outbox::table.filter(email_outbox::id.eq_any(&due)))
        .set(email_outbox::next_attempt_at.eq(until))
        .returning(DueEmail::as_returning())
        .get_results(conn)
        .await
}

/// Hands back at once the emails of the lease `until` that were not sent (a worker that is
/// stopping, or whose lease is running out); an email another worker has leased since is not
/// touched.
pub async fn release(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    until: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        email_outbox::table
            .filter(email_outbox::id.eq_any(ids))
            .filter(email_outbox::status.eq(Delivery::Pending.as_str()))
            .filter(email_outbox::next_attempt_at.eq(until)),
    )
    .set(email_outbox::next_attempt_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Sent: the body (which may hold a one-time link) is no longer needed; an ephemeral row goes.
pub async fn mark_sent(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(
        email_outbox::table
            .find(id)
            .filter(email_outbox::delete_after_send.eq(true)),
    )
    .execute(conn)
    .await?;
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(Delivery::Sent.as_str()),
            email_outbox::sent_at.eq(diesel::dsl::now),
            email_outbox::body_text.eq(""),
            email_outbox::attempts.eq(email_outbox::attempts + 1),
            email_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Not sent this time: try again at `retry_at`, or give up (`None`). Giving up on an ephemeral
/// email (to an erased person) deletes it, so the address does not linger.
pub async fn mark_attempt_failed(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    if retry_at.is_none() {
        let deleted = diesel::delete(
            email_outbox::table
                .find(id)
                .filter(email_outbox::delete_after_send.eq(true)),
        )
        .execute(conn)
        .await?;
        if deleted == 1 {
            return Ok(());
        }
    }
    let status = match retry_at {
        Some(_) => Delivery::Pending,
        None => Delivery::Failed,
    };
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(status.as_str()),
            email_outbox::attempts.eq(email_outbox::attempts + 1),
            email_outbox::last_error.eq(error),
            email_outbox::next_attempt_at.eq(retry_at.unwrap_or_else(Utc::now)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
