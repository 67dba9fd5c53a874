//! A private PostgreSQL cluster that the program starts itself, for `cargo run` on a fresh machine
//! and for the test harness. It uses the PostgreSQL server binaries already installed (no
//! download), keeps its data under a folder of ours, listens on loopback only, and stops when we
//! stop — or, if we die, when the kernel tells it our thread has gone (`setpriv --pdeathsig`).
//!
//! No maintained crate fits: `postgresql_embedded` downloads binaries (impossible offline) and
//! `pgtemp` relies on `sudo`. As root, `initdb` refuses to run, so the server runs as the
//! unprivileged `postgres` user through `setpriv`, in a folder that user can reach (see
//! `server_user_data_dir`).

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::startup_error::StartupError;

/// How carefully the cluster writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// PostgreSQL's defaults: for a data folder people keep.
    Durable,
    /// fsync off: for throwaway test clusters, where speed matters and a crash loses nothing.
    Throwaway,
}

/// A running private cluster. Dropping it stops the server.
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

const SERVER_USER: &str = "postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

impl EmbeddedPostgres {
    /// Initialises `data_dir` on first use, then starts the server on a free loopback port and
    /// waits until it accepts connections.
    pub fn start(data_dir: &Path, durability: Durability) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        let as_root = running_as_root();
        let data_dir = if as_root {
            server_user_data_dir(data_dir)?
        } else {
            own_data_dir(data_dir)?
        };
        if !data_dir.join("PG_VERSION").exists() {
            initdb(&bin_dir, &data_dir, as_root)?;
        }

        let port = free_loopback_port()?;
        let log_path = data_dir.with_extension("log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut command = server_user_command(&bin_dir.join("postgres"), as_root);
        command.arg("-D").arg(&data_dir).args([
            "-p",
            &port.to_string(),
            "-h",
            "127.0.0.1",
            "-k",
            "",
        ]);
        if durability == Durability::Throwaway {
            command.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
            command.args(["-c", "full_page_writes=off", "-c", "max_connections=300"]);
        }
        // Its own process group: a Ctrl-C in the terminal reaches us, and we stop the server
        // after the HTTP server has drained, not before.
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command.spawn().context("starting postgres")?;
        let mut cluster = EmbeddedPostgres {
            data_dir,
            port,
            child: Some(child),
        };
        cluster.wait_until_ready(&bin_dir, &log_path)?;
        Ok(cluster)
    }

    /// A connection URL for `database` on this cluster (trust authentication, loopback only).
    pub fn url(&self, database: &str) -> String {
        self.url_as(SERVER_USER, database)
    }

    /// A connection URL for `database` as `user` (trust authentication, loopback only).
    pub fn url_as(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// Makes `database` ready for the service (created, and the service's own role in place) and
    /// says how to reach it as each role. Shared by the command line and the benchmarks.
    pub async fn prepare(&self, database: &str) -> anyhow::Result<super::DatabaseUrls> {
        let admin = self.url("postgres");
        super::ensure_database(&admin, database).await?;
        super::ensure_runtime_login(&admin, super::RUNTIME_LOGIN, None).await?;
        Ok(super::DatabaseUrls {
            runtime: self.url_as(super::RUNTIME_LOGIN, database),
            migration: self.url(database),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn wait_until_ready(&mut self, bin_dir: &Path, log_path: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let child = self.child.as_mut().expect("started");
            if let Some(status) = child.try_wait()? {
                return Err(StartupError::new(
                    format!(
                        "The embedded PostgreSQL in {} stopped during start-up ({status}): {}.",
                        self.data_dir.display(),
                        last_line(log_path).trim_end_matches('.')
                    ),
                    format!(
                        "Its log is {}; if another server uses that folder, stop it, or choose \
                         another folder with APP_DATABASE__EMBEDDED_DATA_DIR.",
                        log_path.display()
                    ),
                )
                .into());
            }
            let pg_isready = Some(bin_dir.join("pg_isready"))
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("pg_isready"));
            let ready = Command::new(pg_isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", SERVER_USER])
                .status()
                .context("running pg_isready")?;
            if ready.success() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                self.stop();
                bail!("postgres did not accept connections within {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fast shutdown (SIGINT): open sessions are ended, data is flushed. Waits for the server
    /// to exit; kills it if it has not gone after a while.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal(&child, libc::SIGINT);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!("postgres did not stop in time; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with the pid of a child we have not yet reaped, so it cannot be recycled.
    unsafe {
        libc::kill(pid, signal);
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The folder holding `initdb` and `postgres`: `PG_BIN_DIR`, else the first on `PATH`, else the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep them there).
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN_DIR").map(PathBuf::from) {
        if has_server(&dir) {
            return Ok(dir);
        }
        return Err(StartupError::new(
            format!("PG_BIN_DIR={} holds no initdb and postgres.", dir.display()),
            "Point PG_BIN_DIR at the folder with PostgreSQL's server programs, or unset it.",
        )
        .into());
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|d| has_server(d)));
    if let Some(dir) = on_path {
        // Often a symlink into the real installation, which also holds pg_isready.
        let real = dir.join("postgres").canonicalize()?;
        return Ok(real
            .parent()
            .filter(|d| has_server(d))
            .unwrap_or(&dir)
            .to_path_buf());
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).ok_or_else(|| {
        StartupError::new(
            "The PostgreSQL server programs (initdb, postgres) were not found on PATH or under \
             /usr/lib/postgresql.",
            "Install PostgreSQL (Debian: apt-get install postgresql), set PG_BIN_DIR to the folder \
             that holds them, or set DATABASE_URL to use a running server.",
        )
        .into()
    })
}

/// A command that runs `program` as the server user when we are root, and that the kernel
/// interrupts (SIGINT, PostgreSQL's fast shutdown) when the spawning thread dies.
fn server_user_command(program: &Path, as_root: bool) -> Command {
    let mut command = Command::new("setpriv");
    if as_root {
        command.args([
            format!("--reuid={SERVER_USER}"),
            format!("--regid={SERVER_USER}"),
            "--init-groups".to_owned(),
        ]);
    }
    command.args(["--pdeathsig", "INT", "--"]).arg(program);
    command
}

/// Not root: the cluster runs as us, in the configured folder.
fn own_data_dir(configured: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(configured)
        .and_then(|()| configured.canonicalize())
        .map_err(|error| unusable_data_dir(configured, &error).into())
}

/// As root the server runs as the `postgres` user, which must be able to reach its data folder.
/// A configured folder it can reach is handed to it. One it cannot reach (a checkout under a 0700
/// folder such as `/root` or `mktemp -d`) is replaced by a folder in that user's home, named after
/// the configured path so that every run from the same checkout finds the same cluster. The
/// permissions of folders we did not create are never changed.
fn server_user_data_dir(configured: &Path) -> anyhow::Result<PathBuf> {
    let user = ServerUser::look_up()?;
    let name = configured
        .file_name()
        .ok_or_else(|| unusable_data_dir(configured, "it does not name a folder"))?;
    let parent = match configured.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let configured = fs::create_dir_all(parent)
        .and_then(|()| parent.canonicalize())
        .map_err(|error| unusable_data_dir(configured, &error))?
        .join(name);
    let data_dir = if user.can_traverse(configured.parent().unwrap_or(Path::new("/")))? {
        configured
    } else {
        let digest = Sha256::digest(configured.as_os_str().as_encoded_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        user.home.join(format!("mynorfolk-{hex}"))
    };
    fs::create_dir_all(&data_dir)
        .and_then(|()| std::os::unix::fs::chown(&data_dir, Some(user.uid), Some(user.gid)))
        .and_then(|()| fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700)))
        .map_err(|error| unusable_data_dir(&data_dir, &error))?;
    Ok(data_dir)
}

fn unusable_data_dir(dir: &Path, why: impl std::fmt::Display) -> StartupError {
    StartupError::new(
        format!("The data folder {} cannot be used: {why}.", dir.display()),
        "Choose another with APP_DATABASE__EMBEDDED_DATA_DIR, or fix that folder's permissions.",
    )
}

/// The unprivileged system user the server runs as when we are root.
struct ServerUser {
    uid: u32,
    gid: u32,
    home: PathBuf,
}

impl ServerUser {
    fn look_up() -> anyhow::Result<ServerUser> {
        let missing = || {
            StartupError::new(
                format!(
                    "Running as root needs a '{SERVER_USER}' system user with a home folder to run PostgreSQL as."
                ),
                "Install PostgreSQL from your distribution's packages (they create it), or run as an ordinary user.",
            )
        };
        let out = Command::new("getent")
            .args(["passwd", SERVER_USER])
            .output()
            .context("running getent")?;
        // name:password:uid:gid:gecos:home:shell
        let entry = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = entry.trim().split(':').collect();
        let (Some(uid), Some(gid), Some(home)) = (
            fields.get(2).and_then(|f| f.parse().ok()),
            fields.get(3).and_then(|f| f.parse().ok()),
            fields.get(5).map(PathBuf::from).filter(|h| h.is_dir()),
        ) else {
            return Err(missing().into());
        };
        Ok(ServerUser { uid, gid, home })
    }

    /// Whether this user can reach `dir`, asked of the kernel as that user (groups and ACLs
    /// included) rather than guessed from mode bits.
    fn can_traverse(&self, dir: &Path) -> anyhow::Result<bool> {
        let status = server_user_command(Path::new("test"), true)
            .arg("-x")
            .arg(dir)
            .status()
            .context("running test as the postgres user")?;
        Ok(status.success())
    }
}

fn initdb(bin_dir: &Path, data_dir: &Path, as_root: bool) -> anyhow::Result<()> {
    let output = server_user_command(&bin_dir.join("initdb"), as_root)
        .arg("-D")
        .arg(data_dir)
        .args([
            "-U",
            SERVER_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .output()
        .context("running initdb")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(StartupError::new(
            format!(
                "initdb could not create a cluster in {}: {why}",
                data_dir.display()
            ),
            "Empty or remove that folder, or choose another with APP_DATABASE__EMBEDDED_DATA_DIR.",
        )
        .into());
    }
    Ok(())
}

/// A port that was free a moment ago. The tiny window before postgres binds it is acceptable
/// for a development and test cluster; a clash shows up as a clear start-up error.
fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn last_line(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("no log")
        .to_owned()
}
