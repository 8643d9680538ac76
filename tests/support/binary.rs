//! The `tailrace` binary as an operator runs it: a clean environment, a config file in a
//! scratch directory, `tailrace run` started, waited for, killed and stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tailrace_nats::config::NatsConfig;
use tailrace_nats::testing::{free_port, STORE_LIMIT};
use tailrace_nats::ManagedServer;

/// The binary, with nothing from the developer's environment leaking in.
pub fn tailrace() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tailrace"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TAILRACE_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c
}

pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("tailrace.toml");
    std::fs::write(&path, body).unwrap();
    path
}

/// A data directory and config for `tailrace run` on free ports.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub http: u16,
    pub nats: u16,
    pub config: PathBuf,
}

impl Setup {
    /// `extra` is appended to the config (more sections; `[tail]` is taken: `local` may serve
    /// the scratch directory).
    pub fn new(extra: &str) -> Self {
        Self::with_allow(&[], extra)
    }

    /// [`Setup::new`], with `local` also serving `allow` (more roots: paths, journal roots).
    pub fn with_allow(allow: &[&str], extra: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("tailrace-run-").tempdir().unwrap();
        let (http, nats) = (free_port(), free_port());
        let roots: String = allow.iter().map(|r| format!(", \"{r}\"")).collect();
        let body = format!(
            "data_dir = \"{}\"\n[nats.server]\nport = {nats}\nmax_store = {STORE_LIMIT}\n[gateway]\nbind = \"127.0.0.1:{http}\"\n\
             [tail]\nlocal_allow = [\"{}\"{roots}]\n{extra}",
            dir.path().join("data").display(),
            dir.path().display()
        );
        let config = write_config(dir.path(), &body);
        Self { dir, http, nats, config }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The managed server's store, canonical.
    pub fn store(&self) -> PathBuf {
        self.data().join("nats").canonicalize().unwrap()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Starts `tailrace run`; its log is appended to `run.log` in the scratch directory.
    pub fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("run.log"))
            .unwrap();
        tailrace().arg("run").arg("-c").arg(&self.config).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.log")).unwrap_or_default()
    }

    /// Waits until `/health` answers and the broker is connected.
    pub async fn wait_ready(&self, child: &mut Child, within: Duration) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("tailrace run exited ({status}) before it was ready; log:\n{}", self.log());
            }
            if let Ok(r) = client.get(format!("{}/status", self.base())).send().await {
                if let Ok(v) = r.json::<serde_json::Value>().await {
                    if v["broker"]["connected"] == true {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "tailrace run not ready within {within:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client config for the managed server, with the credentials `tailrace run` generated.
    pub fn nats_config(&self) -> NatsConfig {
        let mut base = NatsConfig::default();
        base.server.port = self.nats;
        base.reconnect.initial_delay = Duration::from_millis(20);
        base.reconnect.max_delay = Duration::from_millis(250);
        ManagedServer::local_client_config(&base, &base.server, &self.data()).unwrap()
    }

    pub async fn client(&self) -> async_nats::Client {
        tailrace_nats::connect(&self.nats_config(), None, "test").await.unwrap()
    }
}

pub fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

/// Waits for `child` to exit, at most `within`.
pub async fn exited(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM, then waits for a clean exit.
pub async fn stop(child: &mut Child) {
    signal(child, nix::sys::signal::Signal::SIGTERM);
    let status = exited(child, Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status}");
}

/// Whether process `pid` still runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// A child process that is killed when dropped, so a test that fails leaves no process behind
/// (holding its ports and files for the tests after it).
pub struct Reaped(pub Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
