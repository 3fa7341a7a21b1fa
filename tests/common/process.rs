//! The `robot serve` binary as a separate process, as systemd runs it: for what only a
//! real process shows — `kill -9`, SIGTERM, and the log it writes to stdout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub struct ServerProcess {
    pub addr: SocketAddr,
    pub data: PathBuf,
    /// stdout and stderr, appended across restarts.
    pub log: PathBuf,
    child: Child,
}

impl ServerProcess {
    /// Starts `robot serve` on `data` (JSON logs at `log_level` into `log`) and waits
    /// until it answers `/health`. `env` adds or overrides ROBOT_* variables.
    pub async fn start(
        data: &Path,
        log: &Path,
        log_level: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_robot"));
        cmd.arg("serve")
            .env_remove("ROBOT_CONFIG")
            .env("ROBOT_DATA_DIR", data)
            .env("ROBOT_LISTEN", addr.to_string())
            .env("ROBOT_DOMAIN", format!("localhost:{port}"))
            .env("ROBOT_LOG", log_level)
            .env("ROBOT_LOG_FORMAT", "json")
            .env("ROBOT_SEMANTIC", "false")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn robot serve");
        let server = ServerProcess {
            addr,
            data: data.to_path_buf(),
            log: log.to_path_buf(),
            child,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = super::browser_client();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/health", self.root())).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "robot serve did not come up; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn root(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    pub fn wiki_url(&self, slug: &str) -> String {
        format!("http://{slug}.localhost:{}", self.addr.port())
    }

    pub fn repo(&self, slug: &str) -> PathBuf {
        self.data.join("wikis").join(slug).join("repo.git")
    }

    /// `kill -9`: no handler, no cleanup, no flush.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (what `systemctl stop` sends) without waiting.
    pub fn sigterm(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "robot did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
