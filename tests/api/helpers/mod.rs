//! The black-box harness: a real PostgreSQL, the real app on a random port, an HTTP client.
//!
//! With `DATABASE_URL` set, tests use that server; otherwise one private cluster is started for
//! the whole test run by the same launcher as `mynorfolk serve`. A template database is migrated
//! once per run and every test gets its own copy (`CREATE DATABASE … TEMPLATE`), dropped when the
//! test ends.

mod client;
mod database;
mod emails;
mod govuk_pay;
mod process;
mod smtp;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mynorfolk::configuration::Settings;
use mynorfolk::db::quote_identifier;
use mynorfolk::startup::ApiServer;

pub use client::{JPEG, PASSWORD, PDF, PNG, Tokens};
pub use database::database_server;
pub use govuk_pay::FakeGovUkPay;
pub use smtp::{SmtpSink, smtp_sink};

/// Settings for a test application: the `test` profile, port 0, emails to a folder of its own.
pub fn test_settings(email_dir: &Path) -> Settings {
    let vars = HashMap::from([("APP_ENV".to_owned(), "test".to_owned())]);
    let mut settings = Settings::load_from(&config_dir(), &vars).expect("test settings");
    settings.server.port = 0;
    settings.server.host = "127.0.0.1".into();
    settings.database.migrate_on_start = false;
    settings.email.smtp_url = None;
    settings.email.outbox_dir = email_dir.to_path_buf();
    // Beside the emails (which are read from the folder itself, not from this one).
    settings.storage.local_dir = email_dir.join("files");
    settings
}

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// A running application with a database of its own.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_name: String,
    pub db_url: String,
    pub settings: Settings,
    /// Where this app writes its emails (kept alive for the app's lifetime).
    pub email_dir: tempfile::TempDir,
    admin_url: String,
    server: actix_web::dev::ServerHandle,
}

/// The app with GOV.UK Pay (the local fake) as its payment provider.
pub async fn spawn_app_with_govuk_pay(fake: &FakeGovUkPay) -> TestApp {
    let base_url = fake.url.clone();
    spawn_app_with(move |s| {
        s.payments.provider = mynorfolk::configuration::ProviderKind::GovukPay;
        s.payments.base_url = base_url;
        s.payments.api_key = Some(govuk_pay::API_KEY.into());
        s.payments.webhook_secret = govuk_pay::WEBHOOK_SECRET.into();
        s.payments.timeout_ms = 2000;
    })
    .await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after letting the test adjust its settings.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let server = database_server().await;
    let db_name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&server.admin_url())
        .await
        .expect("admin connection");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_identifier(&db_name),
            quote_identifier(&server.template)
        ))
        .await
        .expect("creating the test database");

    let email_dir = tempfile::tempdir().expect("email folder");
    let mut settings = test_settings(email_dir.path());
    customise(&mut settings);
    // `TEST_LOG=1 cargo test …` shows the app's logs (RUST_LOG picks the level).
    if std::env::var_os("TEST_LOG").is_some() {
        mynorfolk::telemetry::init(&settings.log);
    }
    let db_url = server.url(&db_name);
    let app = ApiServer::build(settings.clone(), &server.urls(&db_name))
        .await
        .expect("building the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    tokio::spawn(app.run_until_stopped());

    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db_name,
        db_url,
        settings,
        email_dir,
        admin_url: server.admin_url(),
        server: handle,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// Runs SQL on the server's maintenance database (to make this test's database unreachable,
    /// for example).
    pub async fn admin_sql(&self, sql: &str) {
        let mut admin = AsyncPgConnection::establish(&self.admin_url).await.unwrap();
        admin.batch_execute(sql).await.unwrap();
    }
}

impl TestApp {
    /// Stops this instance's requests at once, as a crash would (in-flight requests are cut off;
    /// the database stays); its background work then stops as after SIGTERM. For a real crash
    /// of everything, run a process (`start_process`) and `kill` it.
    pub async fn crash(&self) {
        self.server.stop(false).await;
    }

    /// Starts another instance over the same database, with the same settings (as `customise`
    /// leaves them) and mail folder; returns its address. It runs until the test ends.
    pub async fn start_another_instance(&self, customise: impl FnOnce(&mut Settings)) -> String {
        let server = database_server().await;
        let mut settings = self.settings.clone();
        customise(&mut settings);
        let app = ApiServer::build(settings, &server.urls(&self.db_name))
            .await
            .expect("building another instance");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(&self.db_name)
        );
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                admin.batch_execute(&sql).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database: {error}");
        }
    }
}

/// Asserts a response is problem+json with `status` and the given code, and returns its body.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert_eq!(
        body["type"],
        format!("{}{code}", mynorfolk::http::error::PROBLEM_TYPE_BASE),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}
