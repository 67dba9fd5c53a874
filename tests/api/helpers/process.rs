//! Instances of the real binary (`mynorfolk serve`) over a test's database, as processes of their
//! own: they can be sent SIGTERM or killed with SIGKILL, as an orchestrator would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{TestApp, config_dir, database_server};

/// A running `mynorfolk serve`; killed when dropped.
pub struct Instance {
    pub address: String,
    child: Child,
}

impl TestApp {
    /// Starts `mynorfolk serve` over this test's database, with this test's mail folder and
    /// `env` on top; returns once it listens.
    pub async fn start_process(&self, env: &[(&str, &str)]) -> Instance {
        let urls = database_server().await.urls(&self.db_name);
        let mut command = Command::new(env!("CARGO_BIN_EXE_mynorfolk"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_ENV", "test")
            .env("APP_CONFIG_DIR", config_dir())
            .env("DATABASE_URL", &urls.runtime)
            .env("DATABASE_MIGRATION_URL", &urls.migration)
            .env("PORT", "0")
            .env("APP_EMAIL__OUTBOX_DIR", self.email_dir.path())
            .stdout(Stdio::piped())
            // Its logs with `TEST_LOG=1`, as for the in-process apps.
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting mynorfolk serve");
        let stdout = child.stdout.take().unwrap();
        let address = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let line = lines
                .by_ref()
                .map_while(Result::ok)
                .find(|line| line.contains("listening on"))
                .expect("the instance announces its address");
            // Keep reading, so the instance never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            let start = line.find("http://").unwrap();
            line[start..].split_whitespace().next().unwrap().to_owned()
        })
        .await
        .unwrap();
        Instance { address, child }
    }
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// What an orchestrator sends to stop it.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// A crash: no chance to finish anything.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own child, which has not been reaped (it is waited for below).
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits (up to `within`) for the process to exit.
    pub async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the instance did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
