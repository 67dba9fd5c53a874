//! The embedded default: `mynorfolk serve` with no DATABASE_URL starts its own PostgreSQL, serves,
//! and on SIGTERM stops both, leaving no postgres behind; a second start reuses the data folder.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::helpers::config_dir;

fn start(data: &Path) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mynorfolk"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "development")
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP_DATABASE__EMBEDDED_DATA_DIR", data.join("postgres"))
        .env("APP_EMAIL__OUTBOX_DIR", data.join("emails"))
        .env("APP_LOG__FILTER", "warn")
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting mynorfolk");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("listening on"))
        .expect("the start-up line");
    // Keep reading, as a terminal would, until the program exits.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(line.contains("embedded PostgreSQL"), "{line}");
    assert!(line.contains(".eml files"), "{line}");
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("port in the start-up line");
    (child, port)
}

fn postmaster_pid(data: &Path) -> i32 {
    let text =
        std::fs::read_to_string(data.join("postgres/postmaster.pid")).expect("postmaster.pid");
    text.lines().next().unwrap().trim().parse().unwrap()
}

fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own, not yet reaped, child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status}");
}

async fn ready(port: u16) -> u16 {
    reqwest::get(format!("http://127.0.0.1:{port}/health/ready"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn serve_runs_its_own_postgres_and_stops_it_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let (child, port) = tokio::task::spawn_blocking({
            let path = data.path().to_owned();
            move || start(&path)
        })
        .await
        .unwrap();
        assert_eq!(ready(port).await, 200, "run {run}");
        let postgres = postmaster_pid(data.path());
        tokio::task::spawn_blocking(move || stop(child))
            .await
            .unwrap();
        assert!(
            !Path::new(&format!("/proc/{postgres}")).exists(),
            "run {run}: postgres {postgres} is still running"
        );
        assert!(!data.path().join("postgres/postmaster.pid").exists());
    }
}
