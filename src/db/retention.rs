//! The statements behind the retention sweep. Each works in batches, locking with `SKIP LOCKED`
//! so two instances can sweep at once, and each is idempotent.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// Deletes, batch by batch, the rows of `table` selected by `condition` (which binds `$1`, the
/// cutoff), and returns how many went. `privileged` opens the audit log's maintenance path.
async fn delete_batched(
    conn: &mut AsyncPgConnection,
    table: &'static str,
    condition: &'static str,
    cutoff: DateTime<Utc>,
    batch: i64,
    privileged: bool,
) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let sql = format!(
            "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {condition} LIMIT $2 FOR UPDATE SKIP LOCKED)"
        );
        let deleted = conn
            .transaction(async |conn| {
                if privileged {
                    conn.batch_execute("SET LOCAL mynorfolk.retention = 'on'")
                        .await?;
                }
                diesel::sql_query(sql)
                    .bind::<Timestamptz, _>(cutoff)
                    .bind::<BigInt, _>(batch)
                    .execute(conn)
                    .await
            })
            .await?;
        total += deleted;
        if deleted < batch as usize {
            return Ok(total);
        }
    }
}

pub async fn delete_old_emails(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    delete_batched(
        conn,
        "email_outbox",
        "status IN ('sent', 'failed') AND created_at < $1",
        cutoff,
        batch,
        false,
    )
    .await
}

pub async fn delete_ended_sessions(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    delete_batched(
        conn,
        "sessions",
        "(expires_at < $1 OR revoked_at < $1)",
        cutoff,
        batch,
        false,
    )
    .await
}

pub async fn delete_old_idempotency_keys(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    delete_batched(
        conn,
        "idempotency_keys",
        "created_at < $1",
        cutoff,
        batch,
        false,
    )
    .await
}

pub async fn delete_old_audit_events(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    delete_batched(
        conn,
        "audit_events",
        "occurred_at < $1",
        cutoff,
        batch,
        true,
    )
    .await
}

pub async fn delete_old_data_requests(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    delete_batched(
        conn,
        "data_requests",
        "status IN ('completed', 'refused') AND decided_at < $1",
        cutoff,
        batch,
        false,
    )
    .await
}

/// Anonymises applications finished (closed, withdrawn or refused) before `cutoff`: the record of
/// the decision stays, the applicant and what they wrote go.
pub async fn anonymise_finished_applications(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let done = conn
            .transaction(async |conn| {
                diesel::sql_query(
                    "WITH due AS (
                         SELECT id FROM applications
                         WHERE status IN ('closed', 'withdrawn', 'rejected') AND account_id IS NOT NULL
                           AND coalesce(closed_at, decided_at, updated_at) < $1
                         LIMIT $2 FOR UPDATE SKIP LOCKED),
                     notes AS (
                         UPDATE application_events SET public_note = NULL, internal_note = NULL
                         WHERE application_id IN (SELECT id FROM due))
                     UPDATE applications SET account_id = NULL, details = '{\"erased\": true}'::jsonb
                     WHERE id IN (SELECT id FROM due)",
                )
                .bind::<Timestamptz, _>(cutoff)
                .bind::<BigInt, _>(batch)
                .execute(conn)
                .await
            })
            .await?;
        total += done;
        if done < batch as usize {
            return Ok(total);
        }
    }
}
