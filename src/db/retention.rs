//! The statements behind the retention sweep. Each works in batches, locking with `SKIP LOCKED`
//! so two instances can sweep at once, and each is idempotent.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Rows of `table` that `condition` (binding `$1`, the cutoff) says have outlived their period.
pub struct Expiry {
    pub table: &'static str,
    pub condition: &'static str,
}

/// Never verified, and older than the cutoff (tokens, sessions and emails go with them).
/// Takes each account's lock exclusively (see `db::accounts`), skipping an account a request is
/// writing for right now: that sign-up or reset then finds the account gone, rather than failing
/// half-way on a row deleted under it.
pub const UNVERIFIED_ACCOUNTS: Expiry = Expiry {
    table: "accounts",
    condition: "email_verified_at IS NULL AND role = 'resident' AND created_at < $1 \
                AND pg_try_advisory_xact_lock(hashtextextended(id::text, 0))",
};
pub const DEAD_TOKENS: Expiry = Expiry {
    table: "account_tokens",
    condition: "(expires_at < $1 OR used_at < $1)",
};
pub const ENDED_SESSIONS: Expiry = Expiry {
    table: "sessions",
    condition: "(expires_at < $1 OR revoked_at < $1)",
};
pub const OLD_EMAILS: Expiry = Expiry {
    table: "email_outbox",
    condition: "status IN ('sent', 'failed') AND created_at < $1",
};
pub const OLD_IDEMPOTENCY_KEYS: Expiry = Expiry {
    table: "idempotency_keys",
    condition: "created_at < $1",
};
pub const OLD_DATA_REQUESTS: Expiry = Expiry {
    table: "data_requests",
    condition: "status IN ('completed', 'refused') AND decided_at < $1",
};
/// Deletes, batch by batch, the rows `expiry` selects, and returns how many went.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    expiry: &Expiry,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    // Table and condition are constants above, never input.
    let sql = format!(
        "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {condition} LIMIT $2 FOR UPDATE SKIP LOCKED)",
        table = expiry.table,
        condition = expiry.condition,
    );
    in_batches(conn, &sql, cutoff, batch).await
}

#[derive(diesel::QueryableByName)]
struct Deleted {
    #[diesel(sql_type = BigInt)]
    deleted: i64,
}

/// Deletes audit rows older than `cutoff`, batch by batch, through the owner's function (the
/// service's role cannot delete audit rows itself; the function refuses rows under six years).
pub async fn delete_expired_audit_events(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let done: Deleted =
            diesel::sql_query("SELECT audit_events_delete_expired($1, $2) AS deleted")
                .bind::<Timestamptz, _>(cutoff)
                .bind::<BigInt, _>(batch)
                .get_result(conn)
                .await?;
        total += done.deleted as usize;
        if done.deleted < batch {
            return Ok(total);
        }
    }
}

/// Anonymises applications finished (closed, withdrawn or refused) before `cutoff`: the record of
/// the decision stays, the applicant and what they wrote go. Their payments and refunds stay as
/// financial records, without the link to the payer or the reasons written about them; their
/// attachments are deleted (the trigger queues each file for removal from storage).
pub async fn anonymise_finished_applications(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    let sql = "WITH due AS (
                         SELECT id FROM applications
                         WHERE status IN ('closed', 'withdrawn', 'rejected') AND account_id IS NOT NULL
                           AND coalesce(closed_at, decided_at, updated_at) < $1
                         LIMIT $2 FOR UPDATE SKIP LOCKED),
                     notes AS (
                         UPDATE application_events SET public_note = NULL, internal_note = NULL
                         WHERE application_id IN (SELECT id FROM due)),
                     paid AS (
                         UPDATE payments SET account_id = NULL, next_url = NULL
                         WHERE application_id IN (SELECT id FROM due)
                         RETURNING id),
                     refunded AS (
                         UPDATE refunds SET reason = 'erased'
                         WHERE payment_id IN (SELECT id FROM paid)),
                     documents AS (
                         DELETE FROM attachments WHERE application_id IN (SELECT id FROM due))
                     UPDATE applications SET account_id = NULL, details = '{\"erased\": true}'::jsonb
                     WHERE id IN (SELECT id FROM due)";
    in_batches(conn, sql, cutoff, batch).await
}

/// Runs `sql` (binding `$1` to `cutoff` and `$2` to `batch`) in a transaction of its own, again
/// and again until it touches fewer than `batch` rows; returns how many it touched in all. Short
/// transactions keep the sweep from holding locks that requests wait on.
async fn in_batches(
    conn: &mut AsyncPgConnection,
    sql: &str,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let done = conn
            .transaction(async |conn| {
                diesel::sql_query(sql)
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

/// Claims this period's run of `job` for the caller: true for exactly one caller per `period`,
/// however many instances ask at once (the conditional UPDATE takes the row's lock, and the
/// losers see the moved time).
pub async fn claim_run(
    conn: &mut AsyncPgConnection,
    job: &str,
    period: std::time::Duration,
) -> QueryResult<bool> {
    let claimed = diesel::sql_query(
        "UPDATE background_runs SET last_started_at = now(), runs = runs + 1 \
         WHERE job = $1 AND last_started_at <= now() - $2 * interval '1 microsecond'",
    )
    .bind::<diesel::sql_types::Text, _>(job)
    .bind::<BigInt, _>(i64::try_from(period.as_micros()).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(claimed == 1)
}

/// Rate-limit rows whose quota is whole again and back-off rows past their `forget_at`: both
/// count as absent already, so deleting them changes no answer. By the database's clock (the one
/// the rows were written by), batched and `SKIP LOCKED`, so a request counting against one of
/// them never waits for this.
pub async fn delete_spent_throttles(
    conn: &mut AsyncPgConnection,
    batch: i64,
) -> QueryResult<usize> {
    let mut total = 0;
    for sql in [
        "DELETE FROM rate_limits WHERE ctid IN (SELECT ctid FROM rate_limits \
         WHERE theoretical_arrival < now() LIMIT $1 FOR UPDATE SKIP LOCKED)",
        "DELETE FROM sign_in_backoff WHERE ctid IN (SELECT ctid FROM sign_in_backoff \
         WHERE forget_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ] {
        loop {
            let done = diesel::sql_query(sql)
                .bind::<BigInt, _>(batch)
                .execute(conn)
                .await?;
            total += done;
            if done < batch as usize {
                break;
            }
        }
    }
    Ok(total)
}
