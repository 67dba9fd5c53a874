//! The embedded default as a newcomer meets it: the binary started from a fresh private folder
//! (mode 0700, no `config/` in it, as `mktemp -d` or `/root` would be) with no settings at all
//! starts its own PostgreSQL, serves, stops both on SIGTERM leaving no postgres behind, and a
//! second start reuses the data. Start-up failures are one or two plain sentences.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// The binary with nothing but `PATH` and the given variables, run in `dir`.
fn mynorfolk(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mynorfolk"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().copied());
    command
}

/// What the start-up line says.
struct Started {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    postgres_port: u16,
}

fn start(dir: &Path) -> Started {
    let mut child = mynorfolk(dir, &[("PORT", "0"), ("APP_LOG__FILTER", "warn")])
        .arg("serve")
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
    assert!(line.contains(".eml files"), "{line}");
    let between = |before: &str, after: &str| -> String {
        let rest = line.split(before).nth(1).expect(before);
        rest.split(after).next().unwrap().to_owned()
    };
    Started {
        child,
        port: between("http://127.0.0.1:", " ").parse().unwrap(),
        data_dir: between("embedded PostgreSQL, data in ", " (port ").into(),
        postgres_port: between(" (port ", ")").parse().unwrap(),
    }
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
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

fn running_as_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Removes a cluster the binary placed outside the checkout (as root, in the postgres user's home).
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(dir.with_extension("log"));
        }
    }
}

#[tokio::test]
async fn a_fresh_private_folder_serves_twice_on_the_same_data() {
    let checkout = tempfile::tempdir().unwrap();
    std::fs::set_permissions(checkout.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let checkout_path = checkout.path().canonicalize().unwrap();
    let mut cleanup = RemoveOnDrop(None);
    let mut first_data_dir = None;

    for run in 1..=2 {
        let started = tokio::task::spawn_blocking({
            let dir = checkout_path.clone();
            move || start(&dir)
        })
        .await
        .unwrap();
        let data_dir = started.data_dir.clone();
        if running_as_root() {
            // The postgres user cannot enter the 0700 folder, which stays as it was.
            assert!(
                !data_dir.starts_with(&checkout_path),
                "{}",
                data_dir.display()
            );
            cleanup.0 = Some(data_dir.clone());
            let mode = std::fs::metadata(&checkout_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o700,
                "the checkout's permissions are untouched"
            );
        } else {
            assert_eq!(data_dir, checkout_path.join(".data/postgres"));
        }
        assert_eq!(
            *first_data_dir.get_or_insert_with(|| data_dir.clone()),
            data_dir,
            "run {run} finds the same cluster"
        );
        assert_eq!(ready(started.port).await, 200, "run {run}");

        // Data written in the first run is there in the second.
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/mynorfolk",
            started.postgres_port
        );
        let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
        let sql = match run {
            1 => "CREATE TABLE kept_between_runs (x int)",
            _ => "SELECT x FROM kept_between_runs",
        };
        conn.batch_execute(sql).await.unwrap();
        drop(conn);

        let postgres = postmaster_pid(&data_dir);
        tokio::task::spawn_blocking(move || stop(started.child))
            .await
            .unwrap();
        assert!(
            !Path::new(&format!("/proc/{postgres}")).exists(),
            "run {run}: postgres {postgres} is still running"
        );
        assert!(!data_dir.join("postmaster.pid").exists());
    }
    assert!(checkout_path.join(".data/emails").is_dir());
}

/// Runs the binary to its end and returns its exit success and standard error.
fn fails_with(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = mynorfolk(dir.path(), vars).arg("serve").output().unwrap();
    assert!(!output.status.success(), "{vars:?} should not start");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn start_up_failures_are_plain_sentences() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    // An unreachable database: the port is checked before anything slow happens.
    let unreachable = "postgres://nobody@127.0.0.1:1/none";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("PORT", &port), ("DATABASE_URL", unreachable)],
            "is already in use. Stop the program using it, or choose another port with PORT",
        ),
        (&[("PORT", "eighty")], "The setting server.port is invalid"),
        (
            &[("PG_BIN_DIR", "/nonexistent")],
            "PG_BIN_DIR=/nonexistent holds no initdb and postgres.",
        ),
        (
            &[("PORT", "0"), ("DATABASE_URL", unreachable)],
            "Cannot connect to the database",
        ),
    ];
    for (vars, expected) in cases {
        let stderr = fails_with(vars);
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{vars:?}: one line: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Backtrace"));
    }

    // Asked for, the backtrace comes after the sentence.
    let stderr = fails_with(&[
        ("PORT", &port),
        ("DATABASE_URL", unreachable),
        ("RUST_BACKTRACE", "1"),
    ]);
    let first = stderr.lines().next().unwrap();
    assert!(first.ends_with("(PORT=0 takes any free one)."), "{stderr}");
    assert!(stderr.lines().count() > 3, "a backtrace follows: {stderr}");
    drop(taken);
}
