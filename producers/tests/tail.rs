//! The live tail against a real OpenSSH sshd on loopback and a real nats-server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::Publisher;
use tailrace_producers::ssh::SshAuth;
use tailrace_producers::tail::{run_tail, FollowerKind, Roots, TailConfig, TailEnd, TailSpec, Transport};
use tailrace_producers::testing::{append_numbered, numbered, readable_dir, TestJournald, TestSshd};
use tailrace_schemas::{decode, subject, TailStatus, TailStatusKind};
use tokio_util::sync::CancellationToken;

struct World {
    nats: TestServer,
    publisher: Publisher,
    client: async_nats::Client,
    /// A directory the SSH user can read.
    files: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let nats = TestServer::start_with_topology().await;
        let client = nats.client().await;
        let publisher = Publisher::new(client.clone(), PublisherConfig::default());
        let files = readable_dir("tailrace-tail-");
        Self { nats, publisher, client, files }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    fn spec(&self, host: &str, path: &Path) -> TailSpec {
        TailSpec { host: host.into(), source: "app".into(), path: path.display().to_string() }
    }

    fn start(
        &self,
        spec: &TailSpec,
        transport: Transport,
        cfg: TailConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<TailEnd>) {
        self.start_in(spec, transport, cfg, Roots::new([self.files.path().display().to_string()]))
    }

    fn start_in(
        &self,
        spec: &TailSpec,
        transport: Transport,
        cfg: TailConfig,
        roots: Roots,
    ) -> (CancellationToken, tokio::task::JoinHandle<TailEnd>) {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_tail(
            spec.clone(),
            transport,
            roots,
            cfg,
            self.publisher.clone(),
            cancel.clone(),
        ));
        (cancel, task)
    }

    /// Every status published for `spec` from now on.
    async fn statuses(&self, spec: &TailSpec) -> async_nats::Subscriber {
        self.client.subscribe(subject::tail_status(&spec.host, &spec.source).to_string()).await.unwrap()
    }

    /// Reads lines stored for `spec` until `n` have arrived.
    async fn lines(&self, spec: &TailSpec, n: usize) -> Vec<String> {
        tailrace_producers::testing::stored_lines(self.publisher.jetstream(), &spec.host, &spec.source, n)
            .await
    }
}

async fn wait_status(sub: &mut async_nats::Subscriber, kind: TailStatusKind) -> TailStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = tokio::time::timeout_at(deadline, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind:?} status within 20 s"))
            .unwrap();
        let s: TailStatus = decode(&m.payload).unwrap();
        if s.kind == kind {
            return s;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_appended_to_a_remote_file_arrive_in_order_starting_with_the_last_n() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let path = w.file("app.log");
    append_numbered(&path, 0, 150);
    let spec = w.spec("10.55.23.41", &path);
    let mut status = w.statuses(&spec).await;
    let (cancel, task) = w.start(&spec, Transport::ssh(sshd.host_config("cvm")), TailConfig::default());
    let started = wait_status(&mut status, TailStatusKind::Started).await;
    assert_eq!(started.status, tailrace_schemas::TailState::Started);
    for chunk in 0..10 {
        append_numbered(&path, 150 + chunk * 100, 250 + chunk * 100);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The last 100 of the first 150 lines, then everything appended.
    assert_eq!(w.lines(&spec, 1100).await, numbered(50, 1150));
    cancel.cancel();
    task.await.unwrap();
    wait_status(&mut status, TailStatusKind::Stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_the_ssh_connection_is_killed_without_gap_or_duplicate() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let path = w.file("app.log");
    append_numbered(&path, 0, 1);
    let spec = w.spec("cvm", &path);
    let mut status = w.statuses(&spec).await;
    let (cancel, task) = w.start(&spec, Transport::ssh(sshd.host_config("cvm")), TailConfig::default());
    wait_status(&mut status, TailStatusKind::Started).await;
    let writer = {
        let path = path.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                append_numbered(&path, 1 + i * 50, 1 + (i + 1) * 50);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sshd.cut_sessions();
    wait_status(&mut status, TailStatusKind::ConnectionLost).await;
    let resumed = wait_status(&mut status, TailStatusKind::Resumed).await;
    assert!(resumed.offset.unwrap() > 0);
    writer.await.unwrap();
    assert_eq!(w.lines(&spec, 2001).await, numbered(0, 2001));
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_truncation_are_followed() {
    follows_rotation_and_truncation(FollowerKind::Perl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bash_follower_follows_rotation_and_truncation_too() {
    follows_rotation_and_truncation(FollowerKind::Bash).await;
}

async fn follows_rotation_and_truncation(follower: FollowerKind) {
    let w = World::new().await;
    let path = w.file("app.log");
    append_numbered(&path, 0, 10);
    let spec = w.spec("local", &path);
    let mut status = w.statuses(&spec).await;
    let (cancel, task) = w.start(&spec, Transport::Local, TailConfig { follower, ..Default::default() });
    wait_status(&mut status, TailStatusKind::Started).await;
    assert_eq!(w.lines(&spec, 10).await, numbered(0, 10));

    std::fs::rename(&path, w.file("app.log.1")).unwrap();
    append_numbered(&path, 10, 20);
    wait_status(&mut status, TailStatusKind::Rotated).await;
    assert_eq!(w.lines(&spec, 20).await, numbered(0, 20));

    std::fs::write(&path, "").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    append_numbered(&path, 20, 25);
    wait_status(&mut status, TailStatusKind::Truncated).await;
    assert_eq!(w.lines(&spec, 25).await, numbered(0, 25));
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_producer_continues_after_the_last_stored_line() {
    let w = World::new().await;
    let path = w.file("app.log");
    append_numbered(&path, 0, 20);
    let spec = w.spec("local", &path);
    let (cancel, task) = w.start(&spec, Transport::Local, TailConfig::default());
    assert_eq!(w.lines(&spec, 20).await, numbered(0, 20));
    cancel.cancel();
    task.await.unwrap();
    append_numbered(&path, 20, 30);
    let mut status = w.statuses(&spec).await;
    let (cancel, task) = w.start(&spec, Transport::Local, TailConfig::default());
    wait_status(&mut status, TailStatusKind::Resumed).await;
    assert_eq!(w.lines(&spec, 30).await, numbered(0, 30), "no line lost or repeated across the restart");
    cancel.cancel();
    task.await.unwrap();
}

async fn first_error(w: &World, spec: &TailSpec, transport: Transport, kind: TailStatusKind) -> TailStatus {
    let mut status = w.statuses(spec).await;
    let (cancel, task) = w.start(spec, transport, TailConfig::default());
    let s = wait_status(&mut status, kind).await;
    cancel.cancel();
    task.await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_failures_are_reported_with_their_reason() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let path = w.file("app.log");
    append_numbered(&path, 0, 1);
    let spec = w.spec("cvm", &path);

    let mut wrong_key = sshd.host_config("cvm");
    wrong_key.auth = SshAuth { key_file: Some(sshd.dir().join("other_key")), ..Default::default() };
    let s = first_error(&w, &spec, Transport::ssh(wrong_key), TailStatusKind::AuthFailed).await;
    assert!(s.message.contains("authentication") && s.message.contains("other_key"), "{}", s.message);

    let mut changed = sshd.host_config("cvm");
    let other = std::fs::read_to_string(sshd.dir().join("other_key.pub")).unwrap();
    let mut parts = other.split_whitespace();
    let kh = sshd.dir().join("changed_known_hosts");
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {} {}\n", sshd.port, parts.next().unwrap(), parts.next().unwrap()),
    )
    .unwrap();
    changed.known_hosts = kh.clone();
    changed.trust_on_first_use = true;
    let s = first_error(&w, &spec, Transport::ssh(changed), TailStatusKind::HostKeyChanged).await;
    assert!(s.message.contains("CHANGED"), "{}", s.message);

    let mut unknown = sshd.host_config("cvm");
    unknown.known_hosts = sshd.dir().join("empty_known_hosts");
    let s = first_error(&w, &spec, Transport::ssh(unknown), TailStatusKind::HostKeyUnknown).await;
    assert!(s.message.contains("not in"), "{}", s.message);

    let mut unreachable = sshd.host_config("cvm");
    unreachable.port = tailrace_nats::testing::free_port();
    let s = first_error(&w, &spec, Transport::ssh(unreachable), TailStatusKind::Unreachable).await;
    assert!(s.message.contains("cannot reach"), "{}", s.message);

    let missing = w.spec("cvm", &w.file("not-yet.log"));
    let s =
        first_error(&w, &missing, Transport::ssh(sshd.host_config("cvm")), TailStatusKind::FileMissing).await;
    assert!(s.message.contains("not-yet.log") && s.message.contains("waiting"), "{}", s.message);

    let secret = w.file("secret.log");
    append_numbered(&secret, 0, 1);
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let denied = w.spec("cvm", &secret);
    let s =
        first_error(&w, &denied, Transport::ssh(sshd.host_config("cvm")), TailStatusKind::PermissionDenied)
            .await;
    assert!(s.message.contains("permission denied"), "{}", s.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_on_first_use_records_the_key_then_a_missing_file_is_waited_for() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let mut host = sshd.host_config("cvm");
    host.known_hosts = sshd.dir().join("tofu_known_hosts");
    host.trust_on_first_use = true;
    host.auth = SshAuth {
        key_file: Some(sshd.dir().join("user_key_pass")),
        passphrase: Some("correct horse".into()),
        password: None,
    };
    let path = w.file("later.log");
    let spec = w.spec("cvm", &path);
    let mut status = w.statuses(&spec).await;
    let (cancel, task) = w.start(&spec, Transport::ssh(host.clone()), TailConfig::default());
    wait_status(&mut status, TailStatusKind::FileMissing).await;
    assert!(std::fs::read_to_string(&host.known_hosts)
        .unwrap()
        .contains(&format!("[127.0.0.1]:{}", sshd.port)));
    append_numbered(&path, 0, 5);
    wait_status(&mut status, TailStatusKind::Started).await;
    assert_eq!(w.lines(&spec, 5).await, numbered(0, 5));
    cancel.cancel();
    task.await.unwrap();
    drop(w.nats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_authentication_works_when_configured() {
    let sshd = TestSshd::start().await;
    if sshd.user != tailrace_producers::testing::TEST_USER {
        panic!(
            "password test needs the {} user (deploy/test.sh creates it)",
            tailrace_producers::testing::TEST_USER
        );
    }
    let mut host = sshd.host_config("cvm");
    host.auth = SshAuth {
        key_file: None,
        passphrase: None,
        password: Some(tailrace_producers::testing::TEST_PASSWORD.into()),
    };
    let session = tailrace_producers::ssh::connect(&host).await.unwrap();
    drop(session);
    host.auth.password = Some("wrong".into());
    let Err(err) = tailrace_producers::ssh::connect(&host).await else {
        panic!("a wrong password was accepted")
    };
    assert_eq!(err.status_kind(), TailStatusKind::AuthFailed, "{err}");
}

/// A secret outside the tail's roots (the SSH user can read it).
fn secret(w: &World) -> (tempfile::TempDir, PathBuf) {
    let outside = readable_dir("tailrace-secret-");
    let path = outside.path().join("secret.conf");
    std::fs::write(&path, "token=hunter2\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert!(!path.starts_with(w.files.path()));
    (outside, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_out_of_the_roots_a_directory_and_proc_are_refused_on_the_host() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let (_outside, secret) = secret(&w);
    let link = w.file("innocent.log");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let dir = w.file("archive");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Another name for the secret inside the roots (same filesystem).
    let hard = w.file("hard.log");
    std::fs::hard_link(&secret, &hard).unwrap();
    for (path, why) in [
        (link.clone(), "outside the roots"),
        (dir.clone(), "is a directory"),
        (hard.clone(), "hard links"),
        (PathBuf::from("/proc/self/environ"), "never served"),
        (PathBuf::from(format!("{}/../../proc/self/environ", w.files.path().display())), "never served"),
    ] {
        let spec = w.spec("cvm", &path);
        let mut status = w.statuses(&spec).await;
        let (_cancel, task) = w.start(&spec, Transport::ssh(sshd.host_config("cvm")), TailConfig::default());
        let refused = wait_status(&mut status, TailStatusKind::Refused).await;
        assert!(refused.message.contains(why), "{}: {}", path.display(), refused.message);
        assert_eq!(refused.status, tailrace_schemas::TailState::Error);
        assert_eq!(task.await.unwrap(), TailEnd::Refused, "{}", path.display());
    }
    let js = w.publisher.jetstream();
    let mut logs = js.get_stream("LOGS").await.unwrap();
    assert_eq!(logs.info().await.unwrap().state.messages, 0, "not a byte of any of them was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_to_a_symlink_out_of_the_roots_is_refused_by_either_follower() {
    for follower in [FollowerKind::Perl, FollowerKind::Bash] {
        let w = World::new().await;
        let sshd = TestSshd::start().await;
        let (_outside, secret) = secret(&w);
        let path = w.file("app.log");
        append_numbered(&path, 0, 3);
        let spec = w.spec("cvm", &path);
        let mut status = w.statuses(&spec).await;
        let cfg = TailConfig { follower, ..TailConfig::default() };
        let (_cancel, task) = w.start(&spec, Transport::ssh(sshd.host_config("cvm")), cfg);
        wait_status(&mut status, TailStatusKind::Started).await;
        assert_eq!(w.lines(&spec, 3).await, numbered(0, 3));
        // Rotated away, and a link to the secret put in its place.
        std::fs::rename(&path, w.file("app.log.1")).unwrap();
        std::os::unix::fs::symlink(&secret, &path).unwrap();
        let refused = wait_status(&mut status, TailStatusKind::Refused).await;
        assert!(refused.message.contains("outside the roots"), "{follower:?}: {}", refused.message);
        assert_eq!(task.await.unwrap(), TailEnd::Refused);
        // Had the secret been read, it would be in the last batch stored for the tail.
        let logs = w.publisher.jetstream().get_stream("LOGS").await.unwrap();
        let last =
            logs.get_last_raw_message_by_subject(subject::logs_raw(&spec.host, &spec.source).as_str()).await;
        let last: tailrace_schemas::LogBatch = decode(&last.unwrap().payload).unwrap();
        assert_eq!(
            last.lines.last().unwrap().text,
            numbered(2, 3)[0],
            "{follower:?}: something after the rotation was published"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_only_what_the_roots_serve() {
    use tailrace_producers::tail::listing;
    let w = World::new().await;
    append_numbered(&w.file("app.log"), 0, 1);
    let (outside, secret) = secret(&w);
    std::os::unix::fs::symlink(outside.path(), w.file("elsewhere")).unwrap();
    let roots = Roots::new([w.files.path().display().to_string()]);
    let host = tailrace_schemas::HostId::new("local");
    let ok = listing::list(&host, &Transport::Local, &roots, &w.files.path().display().to_string()).await;
    assert!(ok.error.is_none(), "{ok:?}");
    let names: Vec<&str> = ok.entries.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"app.log"), "{names:?}");
    for refused in
        [outside.path().display().to_string(), w.file("elsewhere").display().to_string(), "/proc".into()]
    {
        let l = listing::list(&host, &Transport::Local, &roots, &refused).await;
        assert!(l.error.as_deref().is_some_and(|e| e.starts_with(listing::NOT_SERVED)), "{refused}: {l:?}");
    }
    drop(secret);
}

/// A journal line's message: what follows its `time host program[pid]: ` head.
fn message(line: &str) -> &str {
    line.split_once("]: ").map_or(line, |(_, m)| m)
}

fn messages(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|l| message(l)).collect()
}

/// A tail of `journald`'s entries of `program`, served under the namespace's root.
fn journal_tail(
    w: &World,
    journald: &TestJournald,
    program: &str,
    host: &str,
    transport: Transport,
) -> (TailSpec, CancellationToken, tokio::task::JoinHandle<TailEnd>) {
    let path = journald.path(&format!("SYSLOG_IDENTIFIER={program}"));
    let spec = TailSpec { host: host.into(), source: "app".into(), path };
    let roots = Roots::new([journald.path("")]);
    let (cancel, task) = w.start_in(&spec, transport, TailConfig::default(), roots);
    (spec, cancel, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_is_followed_locally_and_over_ssh_from_its_last_entries_with_their_priorities() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let journald = TestJournald::start().await;
    let hosts =
        [("local", "app", Transport::Local), ("cvm", "remote-app", Transport::ssh(sshd.host_config("cvm")))];
    for (_, program, _) in &hosts {
        journald.send_numbered(program, 0, 150);
    }
    journald.send_numbered("other", 0, 5);
    tailrace_producers::testing::until("journald stored the entries", || journald.count("remote-app") == 150)
        .await;
    for (host, program, transport) in hosts {
        let (spec, cancel, task) = journal_tail(&w, &journald, program, host, transport);
        let lines = w.lines(&spec, 100).await;
        assert_eq!(messages(&lines), numbered(50, 150), "{host}: the last 100 entries of {program} only");
        assert!(lines[0].contains(&format!(" {program}[")), "{host}: the program is named: {}", lines[0]);
        // Live: a message of two lines stays together after its head; priorities are kept.
        journald.send(&[
            ("MESSAGE", "disk full\n  at /srv"),
            ("PRIORITY", "3"),
            ("SYSLOG_IDENTIFIER", program),
        ]);
        journald.send(&[("MESSAGE", "running low"), ("PRIORITY", "4"), ("SYSLOG_IDENTIFIER", program)]);
        let all = tailrace_producers::testing::stored_log_lines(
            w.publisher.jetstream(),
            &spec.host,
            &spec.source,
            103,
        )
        .await;
        let live: Vec<(&str, Option<u8>)> =
            all[100..].iter().map(|l| (message(&l.text), l.priority)).collect();
        assert_eq!(
            live,
            [("disk full", Some(3)), ("  at /srv", Some(3)), ("running low", Some(4))],
            "{host}"
        );
        assert_eq!(all[0].priority, Some(6));
        assert!(journald.followers() > 0);
        cancel.cancel();
        assert_eq!(task.await.unwrap(), TailEnd::Stopped);
        // journalctl writes nothing while the journal is quiet: it is ended with its tail, not
        // at its next write.
        tailrace_producers::testing::until("journalctl ends with its tail", || journald.followers() == 0)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_tail_resumes_after_the_ssh_link_is_cut_and_after_a_restart_without_gap_or_duplicate() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let journald = TestJournald::start().await;
    journald.send_numbered("app", 0, 1);
    tailrace_producers::testing::until("the first entry is stored", || journald.count("app") == 1).await;
    let (spec, cancel, task) =
        journal_tail(&w, &journald, "app", "cvm", Transport::ssh(sshd.host_config("cvm")));
    let mut status = w.statuses(&spec).await;
    assert_eq!(messages(&w.lines(&spec, 1).await), numbered(0, 1));
    let writer = {
        let namespace = journald.namespace.clone();
        tokio::task::spawn_blocking(move || {
            let socket = format!("/run/systemd/journal.{namespace}/socket");
            let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
            for i in 1..2001 {
                let datagram = format!(
                    "MESSAGE={}\nPRIORITY=6\nSYSLOG_IDENTIFIER=app\n",
                    tailrace_producers::testing::numbered_line(i)
                );
                s.send_to(datagram.as_bytes(), &socket).unwrap();
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(25));
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sshd.cut_sessions();
    wait_status(&mut status, TailStatusKind::ConnectionLost).await;
    wait_status(&mut status, TailStatusKind::Resumed).await;
    writer.await.unwrap();
    assert_eq!(
        messages(&w.lines(&spec, 2001).await),
        numbered(0, 2001),
        "nothing lost or doubled across the cut"
    );
    cancel.cancel();
    task.await.unwrap();
    // Stopped, more entries, started again: it continues after the last stored entry.
    journald.send_numbered("app", 2001, 2100);
    let (spec, cancel, task) =
        journal_tail(&w, &journald, "app", "cvm", Transport::ssh(sshd.host_config("cvm")));
    wait_status(&mut status, TailStatusKind::Resumed).await;
    assert_eq!(
        messages(&w.lines(&spec, 2100).await),
        numbered(0, 2100),
        "nothing lost or doubled across the restart"
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_outside_the_roots_or_malformed_is_refused() {
    let w = World::new().await;
    let journald = TestJournald::start().await;
    for (path, why) in [
        ("journal:*".to_owned(), "not a journal this host serves"),
        ("journal/other-namespace:*".to_owned(), "not a journal this host serves"),
        (journald.path("lower=x"), "upper-case"),
    ] {
        let spec = TailSpec { host: "local".into(), source: "app".into(), path: path.clone() };
        let mut status = w.statuses(&spec).await;
        let roots = Roots::new([journald.path("")]);
        let (_cancel, task) = w.start_in(&spec, Transport::Local, TailConfig::default(), roots);
        let refused = wait_status(&mut status, TailStatusKind::Refused).await;
        assert!(refused.message.contains(why), "{path}: {}", refused.message);
        assert_eq!(task.await.unwrap(), TailEnd::Refused, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_of_many_lines_spans_batches_whole_and_a_restart_inside_it_continues_at_the_next_line() {
    let w = World::new().await;
    let journald = TestJournald::start().await;
    let trace: Vec<String> = (0..35).map(|i| format!("  frame {i:02}")).collect();
    let message = format!("panic: boom\n{}", trace.join("\n"));
    journald.send(&[("MESSAGE", &message), ("PRIORITY", "2"), ("SYSLOG_IDENTIFIER", "app")]);
    journald.send_numbered("app", 0, 3);
    tailrace_producers::testing::until("journald stored the entries", || journald.count("app") >= 4).await;
    let cfg = TailConfig { batch_lines: 10, ..TailConfig::default() };
    let spec =
        TailSpec { host: "local".into(), source: "app".into(), path: journald.path("SYSLOG_IDENTIFIER=app") };
    let roots = || Roots::new([journald.path("")]);

    // All 36 lines of the entry arrive, over four batches, none lost as a duplicate of another.
    let (cancel, task) = w.start_in(&spec, Transport::Local, cfg.clone(), roots());
    let lines = w.lines(&spec, 39).await;
    assert_eq!(messages(&lines[..1]), ["panic: boom"]);
    assert_eq!(lines[1..36], trace[..]);
    assert_eq!(messages(&lines[36..]), numbered(0, 3));
    cancel.cancel();
    task.await.unwrap();

    // A stored batch that ended 12 lines into the entry (a producer stopped there): the next
    // start continues at its 13th line, then the entries after it.
    let js = w.publisher.jetstream();
    // (Another source name: a subject whose last batch is this one.)
    let spec = TailSpec { source: "app-again".into(), ..spec };
    let cursor = journald.cursors("app").into_iter().next().unwrap();
    let stored = tailrace_schemas::LogBatch {
        v: 1,
        host: spec.host.clone(),
        source: spec.source.clone(),
        path: spec.path.clone(),
        file: None,
        generation: 0,
        lines: vec![tailrace_schemas::LogLine {
            offset: 0,
            text: "(earlier)".into(),
            lossy: false,
            priority: None,
        }],
        next_offset: None,
        cursor: Some(cursor),
        cursor_lines: Some(12),
        read_at: tailrace_schemas::Timestamp::now(),
    };
    js.publish(
        subject::logs_raw(&spec.host, &spec.source).to_string(),
        tailrace_schemas::encode(&stored).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let (cancel, task) = w.start_in(&spec, Transport::Local, cfg, roots());
    let lines = w.lines(&spec, 1 + 24 + 3).await;
    assert_eq!(lines[1..25], trace[11..], "the entry's lines after the 12 stored, once");
    assert_eq!(messages(&lines[25..]), numbered(0, 3));
    cancel.cancel();
    task.await.unwrap();
}
