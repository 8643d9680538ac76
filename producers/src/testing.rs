//! A real OpenSSH sshd on loopback for tests: the one SSH-server helper of the project.
//!
//! [`TestSshd::start`] generates a host key and a user key in a temporary directory, writes an
//! sshd_config that accepts that key (and, for a user that has one, a password), and runs
//! `/usr/sbin/sshd -D` on a free port. [`TestSshd::host_config`] gives a `HostConfig` that
//! trusts it. The server can be killed and started again on the same port and keys; dropping
//! it kills the server and deletes everything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::ssh::{HostConfig, SshAuth};

/// The unprivileged user tests log in as when one exists (deploy/test.sh creates it), so that
/// permission checks mean something; otherwise the current user.
pub const TEST_USER: &str = "tailrace-test";
/// That user's password (set by deploy/test.sh) for password-authentication tests.
pub const TEST_PASSWORD: &str = "tailrace-test-password";

#[derive(Debug)]
pub struct TestSshd {
    dir: TempDir,
    pub port: u16,
    pub user: String,
    child: Option<std::process::Child>,
}

fn keygen(path: &Path, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "tailrace-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

pub fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl TestSshd {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A host that allows SFTP only: every session runs `internal-sftp`, whatever it asks.
    pub async fn start_sftp_only() -> Self {
        Self::start_with("ForceCommand internal-sftp\n").await
    }

    /// Started with `extra` lines at the end of its sshd_config.
    pub async fn start_with(extra: &str) -> Self {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "no /usr/sbin/sshd: apt-get install openssh-server (deploy/test.sh does)");
        let dir = tempfile::Builder::new().prefix("tailrace-sshd-").tempdir().expect("temp dir");
        // sshd refuses keys in group/world-writable places and drops privileges to the user.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        keygen(&dir.path().join("host_key"), "");
        keygen(&dir.path().join("user_key"), "");
        keygen(&dir.path().join("user_key_pass"), "correct horse");
        keygen(&dir.path().join("other_key"), "");
        let mut authorized = std::fs::read_to_string(dir.path().join("user_key.pub")).unwrap();
        authorized += &std::fs::read_to_string(dir.path().join("user_key_pass.pub")).unwrap();
        std::fs::write(dir.path().join("authorized_keys"), authorized).unwrap();
        let root = current_user() == "root";
        let user = if root && user_exists(TEST_USER) { TEST_USER.to_owned() } else { current_user() };
        if root {
            // Privilege separation needs this directory; a fresh container may lack it.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = tailrace_nats::testing::free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             AllowUsers {user}\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n\
             Subsystem sftp internal-sftp\n{extra}",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let mut sshd = Self { dir, port, user, child: None };
        sshd.start_again().await;
        sshd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A known_hosts file holding this server's key for 127.0.0.1:port.
    pub fn known_hosts(&self) -> PathBuf {
        let path = self.dir.path().join("known_hosts");
        if !path.exists() {
            let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
            let mut parts = key.split_whitespace();
            let line =
                format!("[127.0.0.1]:{} {} {}\n", self.port, parts.next().unwrap(), parts.next().unwrap());
            std::fs::write(&path, line).unwrap();
        }
        path
    }

    /// A host config that trusts this server and logs in with the user key.
    pub fn host_config(&self, name: &str) -> HostConfig {
        HostConfig {
            name: name.to_owned(),
            address: "127.0.0.1".to_owned(),
            kind: "linux".to_owned(),
            port: self.port,
            user: self.user.clone(),
            auth: SshAuth {
                key_file: Some(self.dir.path().join("user_key")),
                passphrase: None,
                password: None,
            },
            known_hosts: self.known_hosts(),
            trust_on_first_use: false,
            connect_timeout: Duration::from_secs(5),
            allow: Vec::new(),
        }
    }

    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "sshd already running");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut banner = [0u8; 4];
                if tokio::io::AsyncReadExt::read_exact(&mut s, &mut banner).await.is_ok()
                    && &banner == b"SSH-"
                {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(std::process::Child::try_wait) {
                panic!(
                    "sshd exited ({status}): {}",
                    std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
                );
            }
            assert!(tokio::time::Instant::now() < deadline, "sshd did not answer within 15 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kills the listening sshd; established sessions (their own processes) are left alone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills every session process of this server (what a network cut does to the client's
    /// connection), leaving the listener up. Only this server's: tests running beside it keep
    /// theirs.
    pub fn cut_sessions(&self) {
        let Some(listener) = self.child.as_ref().map(|c| c.id()) else { return };
        for pid in descendants(listener) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Every process below `root` (children, their children, ...), from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command may hold spaces and parentheses: the fields after its last ')'.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the lines stored on `logs.raw.{host}.{source}` from the start until at least `n` have
/// arrived (panics after 20 s, showing what did arrive).
pub async fn stored_lines(
    js: &async_nats::jetstream::Context,
    host: &tailrace_schemas::HostId,
    source: &tailrace_schemas::SourceId,
    n: usize,
) -> Vec<String> {
    stored_log_lines(js, host, source, n).await.into_iter().map(|l| l.text).collect()
}

/// [`stored_lines`], whole: offsets, marks and priorities too.
pub async fn stored_log_lines(
    js: &async_nats::jetstream::Context,
    host: &tailrace_schemas::HostId,
    source: &tailrace_schemas::SourceId,
    n: usize,
) -> Vec<tailrace_schemas::LogLine> {
    use futures::StreamExt;
    let stream = js.get_stream(tailrace_schemas::StreamName::LOGS.as_str()).await.expect("LOGS stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: tailrace_schemas::subject::logs_raw(host, source).to_string(),
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut msgs = consumer.messages().await.expect("messages");
    let mut out: Vec<tailrace_schemas::LogLine> = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(20), msgs.next()).await;
        let m = next.unwrap_or_else(|_| {
            panic!("only {} of {n} lines within 20 s: {:?}", out.len(), out.last().map(|l| &l.text))
        });
        let batch: tailrace_schemas::LogBatch =
            tailrace_schemas::decode(&m.unwrap().unwrap().payload).unwrap();
        out.extend(batch.lines);
    }
    out
}

/// A temporary directory the SSH test user can read (files put in it by the test).
pub fn readable_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod temp dir");
    dir
}

/// The text of numbered line `i` as [`append_numbered`] writes it.
pub fn numbered_line(i: usize) -> String {
    format!("line {i:06} {}", "x".repeat(40))
}

/// Lines `from..to` as [`append_numbered`] writes them.
pub fn numbered(from: usize, to: usize) -> Vec<String> {
    (from..to).map(numbered_line).collect()
}

/// Appends numbered lines `from..to` to `path` in one write (creating it readable by all).
pub fn append_numbered(path: &Path, from: usize, to: usize) {
    use std::io::Write;
    let mut text = String::new();
    for i in from..to {
        text.push_str(&numbered_line(i));
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
}

/// Follower processes reading `path` on this machine (sshd runs them here too).
pub fn followers(path: &Path) -> usize {
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(format!("tailrace-follow {}", path.display()))
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Waits until `f` holds, polling; panics after 20 s naming `what`.
pub async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A real systemd-journald for tests, in a journal namespace of its own (`journalctl
/// --namespace`), so it runs beside the machine's journal (or where there is none) and beside
/// other tests. Entries are written with the journal's native protocol, as `sd_journal_send`
/// writes them. Needs root (journald writes under /var/log/journal); dropping it stops the
/// daemon and deletes its journal.
#[derive(Debug)]
pub struct TestJournald {
    pub namespace: String,
    child: std::process::Child,
    socket: PathBuf,
    /// Where journald keeps it: under /var/log/journal where that exists, else /run/log/journal.
    stores: [PathBuf; 2],
}

impl TestJournald {
    pub async fn start() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let namespace = format!("tailrace-test-{}-{n}", std::process::id());
        let binary = ["/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("systemd-journald (apt-get install systemd)");
        let child = Command::new(binary)
            .arg(&namespace)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start systemd-journald");
        let machine = std::fs::read_to_string("/etc/machine-id").expect("/etc/machine-id");
        let socket = PathBuf::from(format!("/run/systemd/journal.{namespace}/socket"));
        let stores = ["/var/log/journal", "/run/log/journal"]
            .map(|dir| PathBuf::from(format!("{dir}/{}.{namespace}", machine.trim())));
        let journald = Self { namespace, child, socket, stores };
        until("systemd-journald listens", || journald.socket.exists()).await;
        journald
    }

    /// The journal source path of `selector` in this namespace (`journal/NS:selector`).
    pub fn path(&self, selector: &str) -> String {
        format!("journal/{}:{selector}", self.namespace)
    }

    /// Writes one entry of `fields` (`MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, ...).
    pub fn send(&self, fields: &[(&str, &str)]) {
        let mut datagram = Vec::new();
        for (name, value) in fields {
            if value.contains('\n') {
                // A value holding a newline: its length as 64-bit little-endian, then the bytes.
                datagram.extend_from_slice(name.as_bytes());
                datagram.push(b'\n');
                datagram.extend_from_slice(&(value.len() as u64).to_le_bytes());
                datagram.extend_from_slice(value.as_bytes());
            } else {
                datagram.extend_from_slice(format!("{name}={value}").as_bytes());
            }
            datagram.push(b'\n');
        }
        let socket = std::os::unix::net::UnixDatagram::unbound().expect("datagram socket");
        socket.send_to(&datagram, &self.socket).expect("send to journald");
    }

    /// Writes numbered entries `from..to` as [`numbered_line`]s from program `program`.
    pub fn send_numbered(&self, program: &str, from: usize, to: usize) {
        for i in from..to {
            self.send(&[("MESSAGE", &numbered_line(i)), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", program)]);
        }
    }

    /// Processes following this journal (journalctl and the `sh` around it), here or for an
    /// SSH session to this machine.
    pub fn followers(&self) -> usize {
        let out = Command::new("pgrep")
            .args(["-f", "--"])
            .arg(format!("--follow.*--namespace={}", self.namespace))
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// The cursors of `program`'s entries, oldest first.
    pub fn cursors(&self, program: &str) -> Vec<String> {
        let out = Command::new("journalctl")
            .arg(format!("--namespace={}", self.namespace))
            .args(["--quiet", "--no-pager", "--output=export", "--output-fields=__CURSOR"])
            .arg(format!("SYSLOG_IDENTIFIER={program}"))
            .output()
            .expect("journalctl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("__CURSOR=").map(str::to_owned))
            .collect()
    }

    /// Entries of `program` the journal holds now (journald writes asynchronously).
    pub fn count(&self, program: &str) -> usize {
        let out = Command::new("journalctl")
            .arg(format!("--namespace={}", self.namespace))
            .args(["--quiet", "--no-pager", "--output=cat"])
            .arg(format!("SYSLOG_IDENTIFIER={program}"))
            .output()
            .expect("journalctl");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

impl Drop for TestJournald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for store in &self.stores {
            let _ = std::fs::remove_dir_all(store);
        }
        if let Some(dir) = self.socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
