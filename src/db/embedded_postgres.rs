//! A private PostgreSQL cluster that the program starts itself, for `cargo run` on a fresh machine
//! and for the test harness. It uses the PostgreSQL server binaries already installed (no
//! download), keeps its data under a folder of ours, listens on loopback only, and stops when we
//! stop — or, if we die, when the kernel tells it our thread has gone (`setpriv --pdeathsig`).
//!
//! No maintained crate fits: `postgresql_embedded` downloads binaries (impossible offline) and
//! `pgtemp` relies on `sudo`. As root, `initdb` refuses to run, so the server runs as the
//! unprivileged `postgres` user through `setpriv`.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

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
        fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let as_root = running_as_root();
        if as_root {
            hand_to_server_user(&data_dir)?;
        }
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
        format!(
            "postgres://{SERVER_USER}@127.0.0.1:{}/{database}",
            self.port
        )
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
                bail!(
                    "postgres exited during start-up ({status}); its log {} ends with:\n{}",
                    log_path.display(),
                    tail(log_path)
                );
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
        bail!("PG_BIN_DIR={} holds no initdb and postgres", dir.display());
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
    versions.pop().map(|(_, dir)| dir).context(
        "PostgreSQL server binaries (initdb, postgres) were not found on PATH or under \
         /usr/lib/postgresql; install PostgreSQL or set DATABASE_URL",
    )
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

/// As root, the data folder must belong to the server user, who must also be able to reach it.
fn hand_to_server_user(data_dir: &Path) -> anyhow::Result<()> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let out = Command::new("id").args([flag, SERVER_USER]).output()?;
        if !out.status.success() {
            bail!("running as root needs a '{SERVER_USER}' system user to run the server as");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    std::os::unix::fs::chown(data_dir, Some(uid), Some(gid))
        .with_context(|| format!("handing {} to the {SERVER_USER} user", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
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
        bail!(
            "initdb failed for {} (the {SERVER_USER} user must be able to reach that folder):\n{}",
            data_dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A port that was free a moment ago. The tiny window before postgres binds it is acceptable
/// for a development and test cluster; a clash shows up as a clear start-up error.
fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
