//! [`StoreLock`]: one managed server per JetStream store, ever.
//!
//! nats-server does not lock its store directory, and a second server started on a store that
//! another one is writing recovers it from under the writer (it logs "no message cache" and
//! deletes the stream directories). Two `flock`s guard the store:
//!
//! - `tailrace.owner.lock` is held by the tailrace process that manages the store, and only by
//!   it (the descriptor is close-on-exec): while it is held, another tailrace must not start.
//! - `nats-store.lock` is held by that process *and inherited by every nats-server it spawns*:
//!   while it is held, some server may still be writing the store, even if its parent is gone.
//!
//! At start the owner lock is taken first (or the start is refused, naming the owner); then
//! any nats-server still running on this store is an orphan of a crashed owner, and is stopped
//! (SIGTERM, SIGKILL after a grace) before the store lock is taken and a new server spawned.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::ServerError;

const OWNER_LOCK: &str = "tailrace.owner.lock";
const OWNER_PID: &str = "tailrace.owner";
const STORE_LOCK: &str = "nats-store.lock";
/// How long a start waits for an owner that still looks alive to let go of the store.
const OWNER_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Both locks of one store, held for as long as this value lives.
#[derive(Debug)]
pub struct StoreLock {
    store: PathBuf,
    _owner: Flock<File>,
    store_lock: Flock<File>,
}

impl StoreLock {
    /// Takes the store for this process, stopping an orphaned server of a crashed owner first.
    /// `grace` is how long an orphan gets to exit after SIGTERM before it is killed.
    pub async fn acquire(store: &Path, grace: Duration) -> Result<Self, ServerError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ServerError::Store { path, source }
        };
        std::fs::create_dir_all(store).map_err(io(store))?;
        let store = store.canonicalize().map_err(io(store))?;

        let owner_path = store.join(OWNER_LOCK);
        let mut file = open_lock(&owner_path).map_err(io(&owner_path))?;
        // A tailrace killed a moment ago still holds the lock while the kernel tears it down:
        // a restart at once (systemd's Restart=) waits for that instead of refusing.
        let started = tokio::time::Instant::now();
        let owner = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => break lock,
                Err((f, Errno::EWOULDBLOCK)) => {
                    let holder =
                        std::fs::read_to_string(store.join(OWNER_PID)).unwrap_or_default().trim().to_owned();
                    let gone = holder.parse::<u32>().map_or(true, |pid| !is_alive(pid));
                    let patience = if gone { grace } else { OWNER_EXIT_WAIT };
                    if started.elapsed() >= patience {
                        return Err(ServerError::StoreInUse { store: store.clone(), owner: holder });
                    }
                    file = f;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err((_, other)) => {
                    return Err(ServerError::Store { path: owner_path.clone(), source: other.into() })
                }
            }
        };
        let pid_path = store.join(OWNER_PID);
        std::fs::write(&pid_path, format!("{}\n", std::process::id())).map_err(io(&pid_path))?;

        let orphans = servers_on(&store);
        for pid in &orphans {
            tracing::warn!(pid, store = %store.display(), "a nats-server of a tailrace that is gone still runs on this store; stopping it");
            let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
        }
        let lock_path = store.join(STORE_LOCK);
        let mut file = open_lock(&lock_path).map_err(io(&lock_path))?;
        let started = tokio::time::Instant::now();
        let mut killed = false;
        loop {
            let alive: Vec<u32> = orphans.iter().copied().filter(|p| is_alive(*p)).collect();
            if alive.is_empty() {
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(store_lock) => return Ok(Self { store, _owner: owner, store_lock }),
                    Err((f, Errno::EWOULDBLOCK)) => file = f,
                    Err((_, errno)) => {
                        return Err(ServerError::Store { path: lock_path, source: errno.into() })
                    }
                }
            }
            if started.elapsed() >= grace && !killed {
                for pid in &alive {
                    tracing::warn!(pid, "the orphaned nats-server did not stop after SIGTERM; killing it");
                    let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
                }
                killed = true;
            }
            if started.elapsed() >= grace * 2 + Duration::from_secs(1) {
                return Err(ServerError::StoreHeld { store, orphans: alive });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The store directory, canonical.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// The descriptor each spawned server inherits, so the lock outlives us while it runs.
    pub fn inheritable_fd(&self) -> RawFd {
        self.store_lock.as_raw_fd()
    }
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    let mut f = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?;
    f.flush()?;
    Ok(f)
}

fn is_alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by its new parent) holds nothing any more.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Every running nats-server whose `--store_dir` is `store` (canonical), found in /proc.
pub fn servers_on(store: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && is_alive(*pid))
        .filter(|pid| store_dir_of(*pid).is_some_and(|dir| dir == store))
        .collect()
}

/// The canonical store directory of process `pid`, if it is a nats-server given one.
fn store_dir_of(pid: u32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let program = Path::new(std::str::from_utf8(args.first()?).ok()?);
    if !program.file_name()?.to_str()?.contains("nats-server") {
        return None;
    }
    let dir = args.windows(2).find_map(|w| {
        let flag = std::str::from_utf8(w[0]).ok()?;
        if let Some(v) = flag.strip_prefix("--store_dir=").or_else(|| flag.strip_prefix("-sd=")) {
            return Some(v.to_owned());
        }
        matches!(flag, "--store_dir" | "-sd" | "-store_dir")
            .then(|| String::from_utf8_lossy(w[1]).into_owned())
    })?;
    let dir = Path::new(&dir);
    let dir = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?.join(dir)
    };
    dir.canonicalize().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_owner_of_one_store_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = StoreLock::acquire(dir.path(), Duration::from_secs(1)).await.unwrap();
        let err = StoreLock::acquire(dir.path(), Duration::from_secs(1)).await.unwrap_err().to_string();
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        StoreLock::acquire(dir.path(), Duration::from_secs(1)).await.unwrap();
    }
}
