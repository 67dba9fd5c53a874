//! Retention sweeps: personal data is kept only as long as it is needed. Run hourly in the
//! background by `serve`, and on demand by `mynorfolk retention run`. Idempotent and batched;
//! `SKIP LOCKED` lets two instances sweep at once without blocking each other.

use chrono::{Duration, Utc};
use diesel_async::AsyncConnection;

use crate::configuration::AppSettings;
use crate::db::{DbPool, accounts};

const BATCH: i64 = 500;

/// How much one sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub unverified_accounts: usize,
    pub dead_tokens: usize,
}

pub async fn sweep(pool: &DbPool, app: &AppSettings) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut conn = pool.get().await?;
    let cutoff = Utc::now() - Duration::days(app.unverified_account_retention_days);
    loop {
        let deleted = conn
            .transaction(async |conn| accounts::delete_unverified_before(conn, cutoff, BATCH).await)
            .await?;
        report.unverified_accounts += deleted;
        if deleted < BATCH as usize {
            break;
        }
    }
    // Spent or expired tokens are useless a day later.
    report.dead_tokens =
        accounts::delete_dead_tokens(&mut conn, Utc::now() - Duration::days(1)).await?;
    Ok(report)
}

/// Sweeps every `interval`, forever; the caller stops it by dropping the future.
pub async fn run_periodically(pool: DbPool, app: AppSettings, interval: std::time::Duration) {
    loop {
        match sweep(&pool, &app).await {
            Ok(report) => tracing::info!(?report, "retention sweep done"),
            Err(error) => tracing::warn!(error = %error, "retention sweep failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
