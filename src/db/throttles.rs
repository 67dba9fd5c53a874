//! The shared throttles' counting: each check is one statement (`INSERT … ON CONFLICT DO
//! UPDATE`), atomic under the row's lock, so every instance over the database counts against the
//! same limit and parallel requests are counted exactly. Times are the database's clock.
//! Stale rows behave as absent; the retention sweep deletes them (`retention::SPENT_*`).

use std::time::Duration;

use diesel::QueryResult;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Prepared;

#[derive(diesel::QueryableByName)]
struct Counted {
    #[diesel(sql_type = Bool)]
    decided: bool,
    #[diesel(sql_type = BigInt)]
    ahead_us: i64,
}

/// Counts one request of `client_key` against `policy` (one request per `interval`, bursts up to
/// `window`): GCRA on the client's theoretical arrival time. Returns whether it was allowed and
/// how far that time now lies ahead.
pub async fn take_rate_limit(
    conn: &mut AsyncPgConnection,
    policy: &str,
    client_key: &[u8],
    interval: Duration,
    window: Duration,
) -> QueryResult<(bool, Duration)> {
    // SET's expressions see the row as it was. The clock is read once the row is locked
    // (`clock_timestamp()`, not the statement's start time `now()`): a request that waited for
    // the lock must not judge the window by a time earlier than the request before it.
    let counted: Counted = Prepared::sql(
        "INSERT INTO rate_limits AS r (policy, client_key, theoretical_arrival, allowed) \
         VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond', true) \
         ON CONFLICT (policy, client_key) DO UPDATE SET (theoretical_arrival, allowed) = ( \
             SELECT CASE WHEN fits THEN next ELSE r.theoretical_arrival END, fits \
             FROM (SELECT clock_timestamp() AS at) AS clock, \
                  LATERAL (SELECT greatest(r.theoretical_arrival, at) + $3 * interval '1 microsecond' AS next) AS candidate, \
                  LATERAL (SELECT next <= at + $4 * interval '1 microsecond' AS fits) AS verdict) \
         RETURNING allowed AS decided, \
             (extract(epoch FROM theoretical_arrival - clock_timestamp()) * 1000000)::bigint AS ahead_us",
        |query| {
            query
                .bind::<Text, _>(policy)
                .bind::<Bytea, _>(client_key)
                .bind::<BigInt, _>(micros(interval))
                .bind::<BigInt, _>(micros(window))
        },
    )
    .get_result(conn)
    .await?;
    Ok((counted.decided, from_micros(counted.ahead_us)))
}

/// Counts a sign-in attempt for `address_key` as a failure (before its password is checked):
/// `Some(wait)` while the address is locked (and nothing is counted), `None` otherwise. The
/// first `free` failures in a row lock nothing; then `locks[n - 1]` is how long the n-th after
/// them locks the address for (the last entry for every later one). A key idle for
/// `forget_after` past its last lock starts afresh.
///
/// Takes a shared reference so it can travel with the account lookup in one round trip.
pub async fn begin_sign_in_attempt(
    conn: &AsyncPgConnection,
    address_key: &[u8],
    free: u32,
    locks: &[Duration],
    forget_after: Duration,
) -> QueryResult<Option<Duration>> {
    let locks: Vec<i64> = locks.iter().copied().map(micros).collect();
    // As above, the clock is read once the row is locked. The n-th failure's lock, in µs, is
    // `CASE WHEN n <= $4 THEN 0 ELSE $2[least(n - $4, cardinality($2))] END`.
    let counted: Counted = Prepared::sql(
        "INSERT INTO sign_in_backoff AS b (address_key, failures, locked_until, forget_at, refused) \
         SELECT $1, 1, clock_timestamp() + lock, clock_timestamp() + lock + $3 * interval '1 microsecond', false \
         FROM (SELECT CASE WHEN 1 <= $4 THEN 0 ELSE $2[1] END * interval '1 microsecond' AS lock) AS first \
         ON CONFLICT (address_key) DO UPDATE SET (failures, locked_until, forget_at, refused) = ( \
             SELECT CASE WHEN locked THEN b.failures ELSE counted END, \
                    CASE WHEN locked THEN b.locked_until ELSE at + lock END, \
                    CASE WHEN locked THEN b.forget_at \
                         ELSE at + lock + $3 * interval '1 microsecond' END, \
                    locked \
             FROM (SELECT clock_timestamp() AS at) AS clock, \
                  LATERAL (SELECT b.locked_until > at AS locked, \
                          CASE WHEN b.forget_at <= at THEN 0 ELSE b.failures END + 1 AS counted) AS attempt, \
                  LATERAL (SELECT CASE WHEN counted <= $4 THEN 0 \
                                       ELSE $2[least(counted - $4, cardinality($2))] END \
                                  * interval '1 microsecond' AS lock) AS rule) \
         RETURNING refused AS decided, \
             (extract(epoch FROM locked_until - clock_timestamp()) * 1000000)::bigint AS ahead_us",
        |query| {
            query
                .bind::<Bytea, _>(address_key)
                .bind::<Array<BigInt>, _>(locks)
                .bind::<BigInt, _>(micros(forget_after))
                .bind::<BigInt, _>(i64::from(free))
        },
    )
    .get_result(&mut { conn })
    .await?;
    Ok(counted.decided.then(|| from_micros(counted.ahead_us)))
}

/// A correct password clears the address's count.
pub async fn clear_sign_in_failures(
    conn: &AsyncPgConnection,
    address_key: &[u8],
) -> QueryResult<()> {
    Prepared::sql(
        "DELETE FROM sign_in_backoff WHERE address_key = $1",
        |query| query.bind::<Bytea, _>(address_key),
    )
    .execute(&mut { conn })
    .await?;
    Ok(())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}
