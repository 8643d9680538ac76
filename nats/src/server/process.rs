//! [`ServerProcess`]: one nats-server child that dies with the process that started it, and how
//! to tell that a server answering on a port is that child.
//!
//! A managed server that outlives its parent is how a `kill -9` of `tailrace run` used to lose
//! every stored line: the next start took the orphan's greeting for its own server while its
//! own children opened the same store. So every child gets `PR_SET_PDEATHSIG` (SIGTERM: the
//! orphan still shuts down cleanly), and readiness means "our child is alive and a server
//! named as we named ours answers", not "something answers on the port".

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::ServerError;

/// What to start.
#[derive(Debug, Clone)]
pub struct Spawn<'a> {
    pub binary: &'a Path,
    pub addr: SocketAddr,
    pub log: &'a Path,
    /// Arguments besides `-a`, `-p` and `-l`.
    pub args: &'a [String],
    pub ready_timeout: Duration,
    /// The `server_name` the child was given: ready means a server of this name answers.
    pub name: Option<&'a str>,
    /// A file descriptor the child keeps open (the store lock), so the lock is held for as long
    /// as the child lives, whatever happens to us.
    pub inherit: Option<RawFd>,
}

/// One nats-server child process and how to reach it.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Spawns the server and waits until it accepts connections.
    pub async fn spawn(spec: &Spawn<'_>) -> Result<Self, ServerError> {
        let mut cmd = Command::new(spec.binary);
        cmd.arg("-a")
            .arg(spec.addr.ip().to_string())
            .arg("-p")
            .arg(spec.addr.port().to_string())
            .arg("-l")
            .arg(spec.log)
            .args(spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut cmd, spec.inherit);
        let child = fork_from_keeper(cmd)
            .map_err(|source| ServerError::Spawn { binary: spec.binary.to_owned(), source })?;
        let mut process = ServerProcess { child, addr: spec.addr, log: spec.log.to_owned() };
        process.wait_ready(spec.ready_timeout, spec.name).await?;
        Ok(process)
    }

    async fn wait_ready(&mut self, timeout: Duration, name: Option<&str>) -> Result<(), ServerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Err(ServerError::Exited {
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log),
                });
            }
            if let Some(info) = greeting(self.addr).await {
                if name.is_none_or(|n| info.server_name.as_deref() == Some(n)) {
                    // The greeting may have come from a server that was there first while our
                    // child is about to fail on the taken port: it must still be running.
                    if self.child.try_wait().ok().flatten().is_none() {
                        return Ok(());
                    }
                    continue;
                }
                return Err(ServerError::NotOurs {
                    addr: self.addr,
                    name: info.server_name.unwrap_or_default(),
                });
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

/// Asks the kernel to send the child SIGTERM when its parent dies, and keeps `inherit` open
/// across `exec`.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command, inherit: Option<RawFd>) {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use nix::sys::signal::Signal;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls (prctl, getppid, fcntl); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            // The parent may have died between fork and prctl: then nobody would signal us.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the parent exited while starting nats-server"));
            }
            if let Some(fd) = inherit {
                let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
                fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
            }
            Ok(())
        });
    }
}

/// A spawn request for the keeper thread.
type Request = (Command, tokio::runtime::Handle, mpsc::SyncSender<std::io::Result<Child>>);

/// Forks `cmd` from a thread that lives as long as the process. `PR_SET_PDEATHSIG` fires when
/// the *thread* that forked the child exits, and runtime threads may come and go.
fn fork_from_keeper(cmd: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<std::sync::Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("nats-server-keeper".into())
            .spawn(move || {
                for (mut cmd, runtime, reply) in rx {
                    // The child is reaped by the runtime of whoever asked.
                    let _entered = runtime.enter();
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("cannot start the nats-server keeper thread");
        std::sync::Mutex::new(tx)
    });
    let (reply, result) = mpsc::sync_channel(1);
    keeper
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((cmd, tokio::runtime::Handle::current(), reply))
        .map_err(|_| std::io::Error::other("the nats-server keeper thread is gone"))?;
    // A fork takes a millisecond; blocking this worker for it is cheaper than a hop.
    result.recv().map_err(|_| std::io::Error::other("the nats-server keeper thread is gone"))?
}

/// The parts of a server's `INFO` greeting we look at.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Greeting {
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// The `INFO` greeting of whatever listens on `addr`, if it is a NATS server that answers
/// within a second.
pub async fn greeting(addr: SocketAddr) -> Option<Greeting> {
    let probe = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let mut line = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !line.ends_with(b"\r\n") {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 || line.len() > 64 * 1024 {
                return None;
            }
            line.extend_from_slice(&buf[..n]);
        }
        let json = line.strip_prefix(b"INFO ")?;
        Some(serde_json::from_slice::<Greeting>(json.trim_ascii_end()).unwrap_or_default())
    };
    tokio::time::timeout(Duration::from_secs(1), probe).await.ok().flatten()
}

/// A server is healthy when it sends its `INFO` greeting on a fresh connection.
pub async fn answers_info(addr: SocketAddr) -> bool {
    greeting(addr).await.is_some()
}

/// Whether anything at all accepts connections on `addr`.
pub async fn port_taken(addr: SocketAddr) -> bool {
    tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await.is_ok_and(|r| r.is_ok())
}

pub(super) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
