//! The black-box harness: a real PostgreSQL, the real app on a random port, an HTTP client.
//!
//! With `DATABASE_URL` set, tests use that server; otherwise one private cluster is started for
//! the whole test run by the same launcher as `mynorfolk serve`. A template database is migrated
//! once per run and every test gets its own copy (`CREATE DATABASE … TEMPLATE`), dropped when the
//! test ends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mynorfolk::configuration::Settings;
use mynorfolk::db::embedded_postgres::{Durability, EmbeddedPostgres};
use mynorfolk::db::{self, DatabaseUrls, quote_identifier};
use mynorfolk::startup::ApiServer;
use tokio::sync::OnceCell;

/// A PostgreSQL server for this test run and its migrated template database.
pub struct TestDatabaseServer {
    /// `postgres://…/` without a database name.
    base_url: String,
    template: String,
}

/// The password of the service's role in tests (ignored by the private cluster's trust
/// authentication; needed on a server given by `DATABASE_URL`).
const RUNTIME_PASSWORD: &str = "mynorfolk-test-runtime";

impl TestDatabaseServer {
    /// As the harness's own (administrative) role: for setting up and for checks.
    pub fn url(&self, database: &str) -> String {
        format!("{}{database}", self.base_url)
    }

    /// As the service's own role, the way the application connects.
    pub fn urls(&self, database: &str) -> DatabaseUrls {
        let mut runtime = url::Url::parse(&self.url(database)).expect("a database URL");
        runtime.set_username(db::RUNTIME_LOGIN).unwrap();
        runtime.set_password(Some(RUNTIME_PASSWORD)).unwrap();
        DatabaseUrls {
            runtime: runtime.to_string(),
            migration: self.url(database),
        }
    }

    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }
}

static SERVER: OnceCell<TestDatabaseServer> = OnceCell::const_new();

pub async fn database_server() -> &'static TestDatabaseServer {
    SERVER
        .get_or_init(|| async {
            let base_url = match std::env::var("DATABASE_URL") {
                Ok(url) => server_base(&url),
                Err(_) => tokio::task::spawn_blocking(start_private_cluster)
                    .await
                    .expect("cluster thread"),
            };
            let template = format!("mynorfolk_template_{}", std::process::id());
            let server = TestDatabaseServer { base_url, template };
            let mut admin = AsyncPgConnection::establish(&server.admin_url())
                .await
                .expect("connecting to the test PostgreSQL server");
            let name = quote_identifier(&server.template);
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                admin
                    .batch_execute(&sql)
                    .await
                    .expect("creating the template database");
            }
            db::ensure_runtime_login(
                &server.admin_url(),
                db::RUNTIME_LOGIN,
                Some(RUNTIME_PASSWORD),
            )
            .await
            .expect("creating the service's role");
            db::run_migrations(&server.url(&server.template))
                .await
                .expect("migrating the template database");
            server
        })
        .await
}

/// `postgres://u:p@h:5432/db?x` → `postgres://u:p@h:5432/`.
fn server_base(url: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("DATABASE_URL is a URL");
    parsed.set_path("/");
    parsed.set_query(None);
    parsed.to_string()
}

/// Starts the private cluster on a thread that lives as long as the test process: the cluster is
/// told to stop (`--pdeathsig`) when that thread — that is, the process — ends.
fn start_private_cluster() -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            sweep_stale_clusters();
            let dir = cluster_dir(std::process::id());
            let _ = std::fs::remove_dir_all(&dir);
            match EmbeddedPostgres::start(&dir.join("data"), Durability::Throwaway) {
                Ok(cluster) => {
                    sender.send(Ok(cluster.url(""))).unwrap();
                    loop {
                        std::thread::park();
                    }
                }
                Err(error) => sender.send(Err(format!("{error:#}"))).unwrap(),
            }
        })
        .expect("spawning the cluster thread");
    receiver
        .recv()
        .expect("cluster thread")
        .unwrap_or_else(|error| panic!("starting the test PostgreSQL cluster: {error}"))
}

fn cluster_dir(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("mynorfolk-test-pg-{pid}"))
}

/// Removes clusters left by earlier test runs whose process is gone.
fn sweep_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("mynorfolk-test-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Settings for a test application: the `test` profile, port 0, emails to a folder of its own.
pub fn test_settings(email_dir: &Path) -> Settings {
    let vars = HashMap::from([("APP_ENV".to_owned(), "test".to_owned())]);
    let mut settings = Settings::load_from(&config_dir(), &vars).expect("test settings");
    settings.server.port = 0;
    settings.server.host = "127.0.0.1".into();
    settings.database.migrate_on_start = false;
    settings.email.smtp_url = None;
    settings.email.outbox_dir = email_dir.to_path_buf();
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
    /// Stops this instance at once, as a crash would: in-flight work and its background workers
    /// (email delivery, sweeps) are dropped, the database stays.
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

/// An email as delivered (read back from the `.eml` file the app wrote).
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Email {
    /// The `token` query parameter of the first link in the body.
    pub fn token(&self) -> String {
        let start = self.body.find("token=").expect("a link with a token") + "token=".len();
        self.body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// `None` for a file the app is still writing (it is created empty, then filled). Parsed by
/// mail-parser, so headers and bodies are decoded as a mail client would decode them.
fn parse_eml(raw: &[u8]) -> Option<Email> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    let to = message.to()?.first()?.address()?.to_owned();
    Some(Email {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        body: message.body_text(0)?.replace("\r\n", "\n"),
    })
}

impl TestApp {
    /// Every email delivered so far.
    pub fn emails(&self) -> Vec<Email> {
        std::fs::read_dir(self.email_dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| parse_eml(&std::fs::read(e.path()).ok()?))
            .collect()
    }

    /// Emails to `to` whose subject contains `subject`.
    pub fn emails_to(&self, to: &str, subject: &str) -> Vec<Email> {
        self.emails()
            .into_iter()
            .filter(|e| e.to.eq_ignore_ascii_case(to) && e.subject.contains(subject))
            .collect()
    }

    /// Waits (up to 10 s) until `count` such emails have been delivered, and returns the last.
    pub async fn wait_for_email(&self, to: &str, subject: &str, count: usize) -> Email {
        for _ in 0..200 {
            let found = self.emails_to(to, subject);
            if found.len() >= count {
                return found.last().unwrap().clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no email '{subject}' #{count} to {to}; delivered: {:?}",
            self.emails()
        );
    }

    /// A connection to this test's database, for checks an HTTP client cannot make.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db_url).await.unwrap()
    }

    /// Runs SQL on this test's database (to age a token, for example).
    pub async fn sql(&self, sql: &str) {
        self.db().await.batch_execute(sql).await.unwrap();
    }

    /// Number of rows in `table` (of this test's database).
    pub async fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db().await;
        let row: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")),
            &mut conn,
        )
        .await
        .unwrap();
        row.n
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A request with a bearer token and a JSON body.
    async fn send_authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    pub async fn post_authed(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_authed(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A POST without a body (withdraw).
    pub async fn post_authed_empty(&self, path: &str, token: &str) -> reqwest::Response {
        self.send_authed(reqwest::Method::POST, path, token, None)
            .await
    }

    pub async fn put_authed(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_authed(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn patch_authed(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send_authed(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete_authed(&self, path: &str, token: &str) -> reqwest::Response {
        self.send_authed(reqwest::Method::DELETE, path, token, None)
            .await
    }

    /// The catalogue's example details for `service`: a valid application body to start from.
    pub async fn details_example(&self, service: &str) -> serde_json::Value {
        let body: serde_json::Value = self
            .get(&format!("/api/v1/services/{service}"))
            .await
            .json()
            .await
            .unwrap();
        body["details_example"].clone()
    }

    /// Everything this test's database holds, as `pg_dump` writes it.
    pub fn pg_dump(&self) -> String {
        let bin = db::embedded_postgres::find_bin_dir()
            .map(|d| d.join("pg_dump"))
            .ok()
            .filter(|p| p.is_file())
            .unwrap_or_else(|| "pg_dump".into());
        let output = std::process::Command::new(bin)
            .args(["--no-owner", "--dbname", &self.db_url])
            .output()
            .expect("pg_dump");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// GET with a token, expecting JSON back.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.get_authed(path, token).await.json().await.unwrap()
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(&self, name: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/accounts",
            &serde_json::json!({"name": name, "email": email, "password": password, "accept_terms": true}),
        )
        .await
    }

    /// Follows a reset link (or a finish-your-sign-up link) with a new password.
    pub async fn confirm_reset(&self, token: &str, new_password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/password-resets/confirm",
            &serde_json::json!({"token": token, "new_password": new_password}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/sessions",
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs up, follows the verification email, signs in; returns the token pair.
    pub async fn verified_resident(&self, email: &str) -> Tokens {
        assert_eq!(
            self.sign_up("Test Resident", email, PASSWORD)
                .await
                .status(),
            202
        );
        let verification = self.wait_for_email(email, "Confirm your email", 1).await;
        let verified = self
            .post_json(
                "/api/v1/accounts/verify",
                &serde_json::json!({"token": verification.token()}),
            )
            .await;
        assert_eq!(verified.status(), 200);
        self.sign_in_ok(email, PASSWORD).await
    }

    pub async fn sign_in_ok(&self, email: &str, password: &str) -> Tokens {
        let response = self.sign_in(email, password).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Creates a staff or admin account directly (as `mynorfolk staff create` does) and signs it in.
    pub async fn staff(&self, email: &str, role: mynorfolk::domain::account::Role) -> Tokens {
        use mynorfolk::domain::account::{AccountName, EmailAddress};
        let hasher =
            mynorfolk::auth::password::PasswordHasher::new(self.settings.auth.hash_cost, 1)
                .unwrap();
        let hash = hasher.hash(PASSWORD).await.unwrap();
        let mut conn = self.db().await;
        mynorfolk::use_cases::accounts::create_staff(
            &mut conn,
            &self.settings.app,
            &mynorfolk::db::audit::Actor::system(),
            &AccountName::parse("Council Officer").unwrap(),
            &EmailAddress::parse(email).unwrap(),
            role,
            Some(&hash),
        )
        .await
        .unwrap();
        self.sign_in_ok(email, PASSWORD).await
    }
}

pub const PASSWORD: &str = "a long enough passphrase";

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
}
