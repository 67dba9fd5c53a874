//! The command line: `staff create` and `retention run` against a configured database.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{config_dir, spawn_app};

fn mynorfolk(db_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mynorfolk"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "test")
        .env("APP_CONFIG_DIR", config_dir())
        .env("DATABASE_URL", db_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn staff_create_reads_the_password_from_stdin() {
    let app = spawn_app().await;
    let url = app.db_url.clone();
    let args = [
        "staff",
        "create",
        "--name",
        "Jo Officer",
        "--email",
        "jo@norfolk.gov.uk",
        "--role",
        "admin",
    ];
    let output =
        tokio::task::spawn_blocking(move || mynorfolk(&url, &args, "officer passphrase 1\n"))
            .await
            .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin account"));

    let tokens = app
        .sign_in_ok("jo@norfolk.gov.uk", "officer passphrase 1")
        .await;
    let me: Value = app.get_json("/api/v1/me", &tokens.access_token).await;
    assert_eq!(me["roles"], serde_json::json!(["admin"]));

    // A weak password is refused and nothing is created.
    let url = app.db_url.clone();
    let args = [
        "staff",
        "create",
        "--name",
        "Al Officer",
        "--email",
        "al@norfolk.gov.uk",
        "--role",
        "staff",
    ];
    let output = tokio::task::spawn_blocking(move || mynorfolk(&url, &args, "short\n"))
        .await
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        app.count("accounts WHERE email = 'al@norfolk.gov.uk'")
            .await,
        0
    );
}

#[tokio::test]
async fn retention_run_applies_the_periods() {
    let app = spawn_app().await;
    app.sign_up(
        "Old Unverified",
        "old@example.org",
        crate::helpers::PASSWORD,
    )
    .await;
    app.sql("UPDATE accounts SET created_at = now() - interval '30 days'")
        .await;
    let url = app.db_url.clone();
    let output = tokio::task::spawn_blocking(move || mynorfolk(&url, &["retention", "run"], ""))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn seed_fills_the_database_for_benchmarks() {
    let app = spawn_app().await;
    let url = app.db_url.clone();
    let args = ["seed", "--accounts", "30", "--applications", "250"];
    let output = tokio::task::spawn_blocking(move || mynorfolk(&url, &args, ""))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(app.count("applications").await, 250);
    assert_eq!(app.count("accounts WHERE role = 'staff'").await, 10);
    assert_eq!(
        app.count("accounts WHERE email NOT LIKE '%@example.invalid'")
            .await,
        0
    );
    assert_eq!(
        app.count("(SELECT DISTINCT reference FROM applications) AS r")
            .await,
        250
    );
    assert!(
        app.count("applications WHERE assigned_to IS NOT NULL")
            .await
            > 0
    );
}
