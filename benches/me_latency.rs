//! Benchmark for the accounts issue: the cost of one argon2id hash with the configured
//! parameters, and the latency of `GET /api/v1/me` when idle versus while sign-ins saturate the
//! hash pool. Run: `cargo bench --bench me_latency` (release build; starts its own PostgreSQL
//! unless DATABASE_URL is set). Prints figures; asserts nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mynorfolk::auth::password::PasswordHasher;
use mynorfolk::configuration::Settings;
use mynorfolk::db::DatabaseUrls;
use mynorfolk::db::embedded_postgres::{Durability, EmbeddedPostgres};
use mynorfolk::startup::ApiServer;

const PASSWORD: &str = "a long enough passphrase";
const SAMPLES: usize = 2000;
const SIGN_IN_CLIENTS: usize = 16;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The process environment applies (APP_AUTH__HASH_MAX_CONCURRENT=2 to compare, say).
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.entry("APP_ENV".to_owned())
        .or_insert_with(|| "development".to_owned());
    let mut settings =
        Settings::load_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"), &vars)?;
    settings.server.port = 0;
    settings.limits.sign_in_per_minute = u32::MAX;
    settings.limits.failed_sign_ins_before_backoff = u32::MAX;
    let emails = tempfile::tempdir()?;
    settings.email.outbox_dir = emails.path().to_owned();

    let data = tempfile::tempdir()?;
    let (_cluster, urls) = match std::env::var("DATABASE_URL") {
        Ok(url) => (
            None,
            DatabaseUrls {
                runtime: url.clone(),
                migration: url,
            },
        ),
        Err(_) => {
            let cluster = EmbeddedPostgres::start(&data.path().join("pg"), Durability::Throwaway)?;
            let urls = cluster.prepare("bench").await?;
            (Some(cluster), urls)
        }
    };

    let cost = settings.auth.hash_cost;
    let hasher = PasswordHasher::new(cost, 1)?;
    let started = Instant::now();
    for _ in 0..20 {
        hasher.hash(PASSWORD).await?;
    }
    println!(
        "argon2id m={} KiB t={} p={}: {:.1} ms per hash",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        started.elapsed().as_secs_f64() * 1000.0 / 20.0
    );

    let app = ApiServer::build(settings, &urls).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let email = "bench@example.org";
    let body = serde_json::json!({"name": "Bench Mark", "email": email, "password": PASSWORD, "accept_terms": true});
    client
        .post(format!("{base}/api/v1/accounts"))
        .json(&body)
        .send()
        .await?;
    AsyncPgConnection::establish(&urls.migration)
        .await?
        .batch_execute("UPDATE accounts SET email_verified_at = now()")
        .await?;
    let sign_in = serde_json::json!({"email": email, "password": PASSWORD});
    let tokens: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&sign_in)
        .send()
        .await?
        .json()
        .await?;
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    let idle = measure(&client, &base, &access).await?;
    report("GET /api/v1/me, idle", &idle);

    let stop = Arc::new(AtomicBool::new(false));
    let sign_ins = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..SIGN_IN_CLIENTS {
        let (client, base, sign_in, stop, sign_ins) = (
            client.clone(),
            base.clone(),
            sign_in.clone(),
            stop.clone(),
            sign_ins.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = client
                    .post(format!("{base}/api/v1/sessions"))
                    .json(&sign_in)
                    .send()
                    .await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    sign_ins.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let before = sign_ins.load(Ordering::Relaxed);
    let busy = measure(&client, &base, &access).await?;
    let rate = (sign_ins.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await?;
    }
    report(
        &format!("GET /api/v1/me, {SIGN_IN_CLIENTS} clients signing in ({rate:.0} sign-ins/s)"),
        &busy,
    );
    Ok(())
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    access: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(access)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "GET /me answered {}",
            response.status()
        );
        response.bytes().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

fn report(what: &str, sorted: &[Duration]) {
    let at = |q: f64| {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms (n={})",
        at(0.50),
        at(0.99),
        sorted.len()
    );
}
