//! Retention sweeps: personal data is kept only as long as the registry says. Run hourly in the
//! background by `serve` (by one instance per hour, whichever claims the hour first), and on
//! demand by `mynorfolk retention run`. Idempotent and batched; `SKIP LOCKED` lets a sweep and
//! an on-demand run overlap without blocking each other.

use chrono::{Duration, Utc};

use crate::configuration::Settings;
use crate::db::{DbPool, retention as store};

const BATCH: i64 = 500;

/// How much one sweep removed or anonymised.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub unverified_accounts: usize,
    pub dead_tokens: usize,
    pub ended_sessions: usize,
    pub old_emails: usize,
    pub old_idempotency_keys: usize,
    pub anonymised_applications: usize,
    pub old_data_requests: usize,
    pub old_audit_events: usize,
}

pub async fn sweep(pool: &DbPool, settings: &Settings) -> anyhow::Result<SweepReport> {
    let periods = &settings.retention;
    let now = Utc::now();
    let days = |n: i64| now - Duration::days(n);
    // Calendar years (leap days included), as the database's own six-year floor counts them.
    let years = |n: i64| {
        let months = u32::try_from(n * 12).unwrap_or(u32::MAX);
        now.checked_sub_months(chrono::Months::new(months))
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
    };
    let mut conn = pool.get().await?;
    let mut delete = async |expiry: &store::Expiry, cutoff| {
        store::delete_expired(&mut conn, expiry, cutoff, BATCH).await
    };
    let mut report = SweepReport {
        unverified_accounts: delete(
            &store::UNVERIFIED_ACCOUNTS,
            days(periods.unverified_account_days),
        )
        .await?,
        dead_tokens: delete(&store::DEAD_TOKENS, days(periods.spent_link_days)).await?,
        ended_sessions: delete(&store::ENDED_SESSIONS, days(periods.ended_session_days)).await?,
        old_emails: delete(&store::OLD_EMAILS, days(periods.sent_email_days)).await?,
        old_idempotency_keys: delete(
            &store::OLD_IDEMPOTENCY_KEYS,
            days(periods.idempotency_key_days),
        )
        .await?,
        old_data_requests: delete(&store::OLD_DATA_REQUESTS, years(periods.closed_case_years))
            .await?,
        old_audit_events: 0,
        anonymised_applications: 0,
    };
    report.old_audit_events =
        store::delete_expired_audit_events(&mut conn, years(periods.audit_years), BATCH).await?;
    report.anonymised_applications =
        store::anonymise_finished_applications(&mut conn, years(periods.closed_case_years), BATCH)
            .await?;
    Ok(report)
}

/// Sweeps once every `interval` across all instances, forever: each instance asks every
/// `min(interval, 1 min)` and only the one that claims the period sweeps. Spent throttle rows go
/// on every instance's every tick (they are cheap to find, and a flood of fresh clients must not
/// wait an hour to be cleared). The caller stops it by dropping the future.
pub async fn run_periodically(pool: DbPool, settings: Settings, interval: std::time::Duration) {
    let tick = interval.min(std::time::Duration::from_secs(60));
    loop {
        match claim_and_sweep(&pool, &settings, interval).await {
            Ok(Some(report)) => tracing::info!(?report, "retention sweep done"),
            Ok(None) => {}
            Err(error) => tracing::warn!(error = %error, "retention sweep failed"),
        }
        if let Err(error) = delete_spent_throttles(&pool).await {
            tracing::warn!(error = %error, "spent throttle rows not deleted");
        }
        tokio::time::sleep(tick).await;
    }
}

/// The job's name in `background_runs`.
const JOB: &str = "retention-sweep";

/// This period's sweep, if this instance is the one to claim it.
async fn claim_and_sweep(
    pool: &DbPool,
    settings: &Settings,
    interval: std::time::Duration,
) -> anyhow::Result<Option<SweepReport>> {
    if !store::claim_run(&mut *pool.get().await?, JOB, interval).await? {
        return Ok(None);
    }
    Ok(Some(sweep(pool, settings).await?))
}

async fn delete_spent_throttles(pool: &DbPool) -> anyhow::Result<()> {
    let spent = store::delete_spent_throttles(&mut *pool.get().await?, BATCH).await?;
    tracing::debug!(spent, "spent throttle rows deleted");
    Ok(())
}
