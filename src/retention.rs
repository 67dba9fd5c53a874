//! Retention sweeps: personal data is kept only as long as the registry says. Run hourly in the
//! background by `serve`, and on demand by `mynorfolk retention run`. Idempotent and batched;
//! `SKIP LOCKED` lets two instances sweep at once without blocking each other.

use chrono::{Duration, Utc};
use diesel_async::AsyncConnection;

use crate::configuration::Settings;
use crate::db::{DbPool, accounts, retention as store};

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
    let (app, rights) = (&settings.app, &settings.data_rights);
    let now = Utc::now();
    let years = |n: i64| now - Duration::days(365 * n + n / 4);
    let mut conn = pool.get().await?;
    let mut report = SweepReport::default();

    let cutoff = now - Duration::days(app.unverified_account_retention_days);
    loop {
        let deleted = conn
            .transaction(async |conn| accounts::delete_unverified_before(conn, cutoff, BATCH).await)
            .await?;
        report.unverified_accounts += deleted;
        if deleted < BATCH as usize {
            break;
        }
    }
    // Spent or expired tokens are useless a day later; ended sessions a month later.
    report.dead_tokens = accounts::delete_dead_tokens(&mut conn, now - Duration::days(1)).await?;
    report.ended_sessions =
        store::delete_ended_sessions(&mut conn, now - Duration::days(30), BATCH).await?;
    report.old_emails = store::delete_old_emails(
        &mut conn,
        now - Duration::days(rights.sent_email_retention_days),
        BATCH,
    )
    .await?;
    report.old_idempotency_keys = store::delete_old_idempotency_keys(
        &mut conn,
        now - Duration::days(rights.idempotency_key_retention_days),
        BATCH,
    )
    .await?;
    let finished = years(rights.closed_application_retention_years);
    report.anonymised_applications =
        store::anonymise_finished_applications(&mut conn, finished, BATCH).await?;
    report.old_data_requests = store::delete_old_data_requests(&mut conn, finished, BATCH).await?;
    report.old_audit_events =
        store::delete_old_audit_events(&mut conn, years(rights.audit_retention_years), BATCH)
            .await?;
    Ok(report)
}

/// Sweeps every `interval`, forever; the caller stops it by dropping the future.
pub async fn run_periodically(pool: DbPool, settings: Settings, interval: std::time::Duration) {
    loop {
        match sweep(&pool, &settings).await {
            Ok(report) => tracing::info!(?report, "retention sweep done"),
            Err(error) => tracing::warn!(error = %error, "retention sweep failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
