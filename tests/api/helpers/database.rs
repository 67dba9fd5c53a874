//! The PostgreSQL server of a test run: a private cluster (or the one `DATABASE_URL` names), with
//! the service's own role and a migrated template database that every test copies.

use std::path::{Path, PathBuf};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mynorfolk::db::embedded_postgres::{Durability, EmbeddedPostgres};
use mynorfolk::db::{self, DatabaseUrls, quote_identifier};
use tokio::sync::OnceCell;

/// A PostgreSQL server for this test run and its migrated template database.
pub struct TestDatabaseServer {
    /// `postgres://…/` without a database name.
    base_url: String,
    pub(super) template: String,
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
    // Every test starts here: reqwest's TLS (rustls) then has its crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
