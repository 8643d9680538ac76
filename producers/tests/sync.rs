//! Directory sync of a `local` target against a real nats-server: the first sync copies the
//! tree, an append moves only the new bytes, truncation, replacement and deletion are handled,
//! and a sync that lost its manifest (a crash before it was saved) publishes nothing twice.

use std::collections::BTreeMap;
use std::path::Path;

use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::Publisher;
use tailrace_producers::sync::source::Filter;
use tailrace_producers::sync::{sync_target, LocalSource, SyncOutcome, Target};
use tailrace_schemas::categories::Rules;
use tailrace_schemas::{decode, FileEvent, FileEventKind, HostId, LogBatch, TargetId};

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn append(root: &Path, rel: &str, body: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(root.join(rel))
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
}

/// Every message of `stream`, decoded by `f`.
async fn all<T>(js: &async_nats::jetstream::Context, stream: &str, f: impl Fn(&[u8]) -> T) -> Vec<T> {
    tailrace_nats::testing::stored(js, stream).await.iter().map(|m| f(&m.payload)).collect()
}

/// How many times each (file, line text) was published.
async fn lines(js: &async_nats::jetstream::Context) -> BTreeMap<(String, String), u32> {
    let mut counts = BTreeMap::new();
    for b in all(js, "LOGS", |p| decode::<LogBatch>(p).unwrap()).await {
        for l in b.lines {
            *counts.entry((b.path.clone(), l.text)).or_insert(0) += 1;
        }
    }
    counts
}

fn same_tree(source: &Path, mirror: &Path, files: &[&str]) {
    for f in files {
        assert_eq!(std::fs::read(source.join(f)).unwrap(), std::fs::read(mirror.join(f)).unwrap(), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_tree_is_mirrored_incrementally_and_each_change_is_announced_once() {
    let nats = TestServer::start_with_topology().await;
    let publisher = Publisher::new(nats.client().await, PublisherConfig::default());
    let js = nats.jetstream().await;
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("remote");
    let data = scratch.path().join("data");
    write(&src, "server-app.log", "ERROR one\nINFO two\n");
    write(&src, "jobs/slurm-job-7.out", "job 7 started\n");
    write(&src, "vllm-0.log", "loading model\nready\n");
    write(&src, "skip/me.tmp", "not taken\n");
    let rules = Rules::new(&[], true).unwrap();
    let target = Target {
        name: TargetId::new("cluster"),
        host: HostId::new("local"),
        mirror: tailrace_producers::sync::mirror::Mirror::new(data.join("files")),
        manifest: data.join("manifest.json"),
        rules: &rules,
        bandwidth: 0,
        retention: Default::default(),
    };
    let source = LocalSource::new(&src, Filter::new(&[], &["*.tmp".into()]).unwrap());
    let sync = || sync_target(&target, &source, &publisher, |_| {});
    let mirror = data.join("files");
    let files = ["server-app.log", "jobs/slurm-job-7.out", "vllm-0.log"];

    let first = sync().await.unwrap();
    assert_eq!((first.files, first.created, first.errors.len()), (3, 3, 0), "{first:?}");
    same_tree(&src, &mirror, &files);
    assert!(!mirror.join("skip/me.tmp").exists(), "excluded");
    let events = all(&js, "FILES", |p| decode::<FileEvent>(p).unwrap()).await;
    let categories: BTreeMap<String, String> =
        events.iter().map(|e| (e.path.clone(), e.category.as_str().to_owned())).collect();
    assert_eq!(categories["server-app.log"], "server");
    assert_eq!(categories["jobs/slurm-job-7.out"], "server", "slurm-job is the server's, before *.out");
    assert_eq!(categories["vllm-0.log"], "vllm");
    assert_eq!(lines(&js).await.len(), 5);

    // An append moves the new bytes and the verified block, nothing else.
    append(&src, "server-app.log", "WARN three\n");
    let grown = sync().await.unwrap();
    assert_eq!((grown.appended, grown.unchanged), (1, 2), "{grown:?}");
    assert_eq!(grown.bytes_read, "ERROR one\nINFO two\n".len() as u64 + "WARN three\n".len() as u64);
    same_tree(&src, &mirror, &files);

    // Truncated and rewritten; replaced by another file of the same size; deleted.
    write(&src, "vllm-0.log", "restarted\n");
    let replacement = src.join("jobs/.new");
    std::fs::write(&replacement, "job 8 started\n").unwrap();
    std::fs::rename(&replacement, src.join("jobs/slurm-job-7.out")).unwrap();
    std::fs::remove_file(src.join("server-app.log")).unwrap();
    let changed = sync().await.unwrap();
    assert_eq!((changed.modified, changed.removed), (2, 1), "{changed:?}");
    same_tree(&src, &mirror, &["jobs/slurm-job-7.out", "vllm-0.log"]);
    assert!(mirror.join("server-app.log").exists(), "a removed file's copy stays readable");
    let kinds: Vec<(String, FileEventKind)> = all(&js, "FILES", |p| decode::<FileEvent>(p).unwrap())
        .await
        .into_iter()
        .map(|e| (e.path, e.kind))
        .collect();
    assert!(kinds.contains(&("server-app.log".into(), FileEventKind::Removed)), "{kinds:?}");

    // Another process syncing the same target: refused, saying so.
    let held = nix::fcntl::Flock::lock(
        std::fs::File::open(data.join("sync.lock")).unwrap(),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .unwrap();
    let busy = sync().await.unwrap_err().to_string();
    assert!(busy.contains("cluster is being synced by another process"), "{busy}");
    drop(held);

    // Nothing changed: nothing read, nothing announced.
    let before = all(&js, "FILES", |_| ()).await.len();
    let idle = sync().await.unwrap();
    assert_eq!(idle, SyncOutcome { files: 2, unchanged: 2, duration: idle.duration, ..Default::default() });
    assert_eq!(all(&js, "FILES", |_| ()).await.len(), before);

    // A sync that stopped before it saved its manifest: the next one starts from the manifest
    // before it, and publishes no line twice (nor misses one).
    let before = std::fs::read(data.join("manifest.json")).unwrap();
    append(&src, "vllm-0.log", "serving\n");
    write(&src, "new.log", "ERROR first words\n");
    let crashed = sync().await.unwrap();
    assert_eq!((crashed.appended, crashed.created), (1, 1), "{crashed:?}");
    std::fs::write(data.join("manifest.json"), &before).unwrap();
    let after = sync().await.unwrap();
    assert!(after.errors.is_empty(), "{after:?}");
    same_tree(&src, &mirror, &["jobs/slurm-job-7.out", "vllm-0.log", "new.log"]);
    let counts = lines(&js).await;
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "published twice: {doubled:?}");
    for (file, line) in [
        ("vllm-0.log", "restarted"),
        ("vllm-0.log", "serving"),
        ("jobs/slurm-job-7.out", "job 8 started"),
        ("new.log", "ERROR first words"),
    ] {
        assert!(counts.contains_key(&(file.into(), line.into())), "{file}: {line} missing from {counts:?}");
    }
}

/// Writes a big new file into `src`; the returned future waits until its copy is being written
/// into `mirror` and cuts every SSH session of `sshd` (what a dropped link does).
fn cut_while_big_file_moves<'a>(
    sshd: &'a tailrace_producers::testing::TestSshd,
    src: &Path,
    mirror: &'a Path,
) -> impl std::future::Future<Output = ()> + 'a {
    let big: String = (0..400_000).map(|i| format!("line {i:08}\n")).collect();
    write(src, "big.log", &big);
    cut_mid_copy(sshd, mirror)
}

async fn cut_mid_copy(sshd: &tailrace_producers::testing::TestSshd, mirror: &Path) {
    tailrace_producers::testing::until("the big file is being written", || {
        std::fs::read_dir(mirror)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tailrace-partial"))
    })
    .await;
    sshd.cut_sessions();
}

/// The same tree on a host reached over SSH (a real sshd on loopback, the tail's transport).
async fn ssh_source(
    sshd: &tailrace_producers::testing::TestSshd,
    root: &Path,
) -> tailrace_producers::sync::ShellSource {
    let transport = tailrace_producers::tail::transport::Transport::ssh(sshd.host_config("sshd-host"));
    let connection = transport.connect().await.unwrap();
    tailrace_producers::sync::ShellSource::new(
        connection,
        root.display().to_string(),
        Filter::new(&[], &[]).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ssh_a_tree_is_copied_an_append_moves_only_its_bytes_and_a_cut_link_leaves_no_partial_file() {
    let nats = TestServer::start_with_topology().await;
    let publisher = Publisher::new(nats.client().await, PublisherConfig::default());
    let sshd = tailrace_producers::testing::TestSshd::start().await;
    let remote = tailrace_producers::testing::readable_dir("tailrace-sync-remote-");
    let src = remote.path();
    write(src, "server-a.log", &"INFO served\n".repeat(1000));
    write(src, "logs/client-b.log", "ERROR refused\n");
    let data = tempfile::tempdir().unwrap();
    let rules = Rules::new(&[], true).unwrap();
    let target = Target {
        name: TargetId::new("far"),
        host: HostId::new("sshd-host"),
        mirror: tailrace_producers::sync::mirror::Mirror::new(data.path().join("files")),
        manifest: data.path().join("manifest.json"),
        rules: &rules,
        bandwidth: 0,
        retention: Default::default(),
    };
    for i in 0..200 {
        write(src, &format!("many/node-{i:03}.log"), &format!("INFO node {i} up\n"));
    }
    let mirror = data.path().join("files");
    let source = ssh_source(&sshd, src).await;
    let first = sync_target(&target, &source, &publisher, |_| {}).await.unwrap();
    assert_eq!((first.created, first.errors.len()), (202, 0), "{first:?}");
    same_tree(src, &mirror, &["server-a.log", "logs/client-b.log", "many/node-000.log", "many/node-199.log"]);
    // Every exec starts the user's shell: 202 files come through one, a listing and one batch.
    assert_eq!(source.execs(), 1, "one shell for the listing and a batch of reads");

    append(src, "server-a.log", "WARN slow\n");
    append(src, "many/node-007.log", "WARN slow too\n");
    let grown = sync_target(&target, &source, &publisher, |_| {}).await.unwrap();
    assert_eq!((grown.appended, grown.unchanged), (2, 200), "{grown:?}");
    assert_eq!(
        grown.bytes_read,
        4096 + "WARN slow\n".len() as u64 + "INFO node 7 up\nWARN slow too\n".len() as u64,
        "the verified blocks and the new bytes"
    );
    same_tree(src, &mirror, &["server-a.log", "many/node-007.log"]);
    assert_eq!(source.execs(), 1, "the same shell again");

    // A big new file, and the SSH link cut while it moves.
    let cut = cut_while_big_file_moves(&sshd, src, &mirror);
    // Capped at 2 MB/s, so the cut lands mid-file.
    let slow = Target { bandwidth: 2_000_000, ..target };
    let (outcome, ()) = tokio::join!(sync_target(&slow, &source, &publisher, |_| {}), cut);
    let target = slow;
    let failed = match outcome {
        Ok(o) => !o.errors.is_empty(),
        Err(_) => true,
    };
    assert!(failed, "the cut shows");
    assert!(!mirror.join("big.log").exists(), "no partial file under the file's name");
    assert!(
        std::fs::read_dir(&mirror).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tailrace-partial")),
        "the partial copy is gone"
    );
    let source = ssh_source(&sshd, src).await;
    let after = sync_target(&target, &source, &publisher, |_| {}).await.unwrap();
    assert_eq!((after.created, after.errors.len()), (1, 0), "{after:?}");
    same_tree(src, &mirror, &["big.log", "server-a.log", "logs/client-b.log"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_link_serves_the_next_sync_without_a_new_shell_and_a_cut_one_is_replaced_at_once() {
    use tailrace_producers::sync::configured::sync_configured;
    use tailrace_producers::tail::transport::Transport;
    let nats = TestServer::start_with_topology().await;
    let publisher = Publisher::new(nats.client().await, PublisherConfig::default());
    let js = nats.jetstream().await;
    let sshd = tailrace_producers::testing::TestSshd::start().await;
    let transport = Transport::ssh(sshd.host_config("sshd-host"));
    let remote = tailrace_producers::testing::readable_dir("tailrace-sync-kept-");
    let src = remote.path();
    let numbered = |from: u32, to: u32| (from..to).map(|i| format!("INFO line {i:05}\n")).collect::<String>();
    write(src, "server-a.log", &numbered(0, 100));
    let data = tempfile::tempdir().unwrap();
    let rules = Rules::new(&[], true).unwrap();
    let t = target_config("sshd-host", src, "shell");
    let mut link = None;

    let first =
        sync_configured(&t, &mut link, &transport, data.path(), &rules, &publisher, |_| {}).await.unwrap();
    assert_eq!((first.created, first.errors.len()), (1, 0), "{first:?}");
    assert_eq!(link.as_ref().map(|l| l.execs()), Some(1), "one shell, kept");

    append(src, "server-a.log", &numbered(100, 200));
    let second =
        sync_configured(&t, &mut link, &transport, data.path(), &rules, &publisher, |_| {}).await.unwrap();
    assert_eq!((second.appended, second.errors.len()), (1, 0), "{second:?}");
    assert_eq!(link.as_ref().map(|l| l.execs()), Some(1), "the kept shell served the second sync");

    // The link is cut while idle (a host restarted, a NAT forgot it): the next sync notices at
    // its listing and goes on at once on a new link.
    sshd.cut_sessions();
    append(src, "server-a.log", &numbered(200, 300));
    let third =
        sync_configured(&t, &mut link, &transport, data.path(), &rules, &publisher, |_| {}).await.unwrap();
    assert_eq!((third.appended, third.errors.len()), (1, 0), "{third:?}");
    // The cut one tried to start a shell again and failed; the new one started one.
    assert_eq!(link.as_ref().map(|l| l.execs()), Some(1), "a new link, kept in turn");
    same_tree(src, &data.path().join("sync/far/files"), &["server-a.log"]);
    let counts = lines(&js).await;
    let lost = (0..300)
        .filter(|i| !counts.contains_key(&("server-a.log".into(), format!("INFO line {i:05}"))))
        .count();
    let doubled = counts.values().filter(|n| **n > 1).count();
    assert_eq!((counts.len(), lost, doubled), (300, 0, 0), "every line once");
}

/// A `[[sync.targets]]` entry for `remote` on `host`.
fn target_config(host: &str, remote: &Path, transfer: &str) -> tailrace_producers::sync::TargetConfig {
    serde_json::from_value(serde_json::json!({
        "name": "far", "host": host, "remote_path": remote.display().to_string(), "transfer": transfer,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_allows_sftp_only_is_synced_over_sftp_incrementally_and_a_cut_link_leaves_no_partial_file(
) {
    use tailrace_producers::sync::configured::sync_configured;
    use tailrace_producers::tail::transport::Transport;
    let nats = TestServer::start_with_topology().await;
    let publisher = Publisher::new(nats.client().await, PublisherConfig::default());
    let sshd = tailrace_producers::testing::TestSshd::start_sftp_only().await;
    let transport = Transport::ssh(sshd.host_config("sftp-host"));
    let remote = tailrace_producers::testing::readable_dir("tailrace-sftp-remote-");
    let src = remote.path();
    write(src, "server-a.log", &"INFO served\n".repeat(1000));
    write(src, "nested/deeper/client-b.log", "ERROR refused\n");
    let data = tempfile::tempdir().unwrap();
    let rules = Rules::new(&[], true).unwrap();
    let mirror = data.path().join("sync/far/files");
    let auto = target_config("sftp-host", src, "auto");
    let sync = |t: &tailrace_producers::sync::TargetConfig| {
        let (t, transport, publisher, rules) =
            (t.clone(), transport.clone(), publisher.clone(), rules.clone());
        let dir = data.path().to_owned();
        async move { sync_configured(&t, &mut None, &transport, &dir, &rules, &publisher, |_| {}).await }
    };

    // Asked for a shell, the host has none: a clear failure, nothing written.
    let err = sync(&target_config("sftp-host", src, "shell")).await;
    assert!(err.as_ref().map_or(true, |o| !o.errors.is_empty() || o.files == 0), "{err:?}");

    // auto finds no shell and reads over SFTP.
    let first = sync(&auto).await.unwrap();
    assert_eq!((first.created, first.errors.len()), (2, 0), "{first:?}");
    same_tree(src, &mirror, &["server-a.log", "nested/deeper/client-b.log"]);

    append(src, "server-a.log", "WARN slow\n");
    let grown = sync(&auto).await.unwrap();
    assert_eq!((grown.appended, grown.unchanged), (1, 1), "{grown:?}");
    assert_eq!(grown.bytes_read, 4096 + "WARN slow\n".len() as u64, "the verified block and the new bytes");
    same_tree(src, &mirror, &["server-a.log"]);

    // Without inodes, another file of the same length under the name shows in its bytes, once
    // its time differs (SFTP's times are whole seconds).
    write(src, "nested/deeper/client-b.log", "ERROR REFUSED\n");
    std::fs::File::options()
        .write(true)
        .open(src.join("nested/deeper/client-b.log"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let replaced = sync(&auto).await.unwrap();
    assert_eq!(replaced.modified, 1, "{replaced:?}");
    same_tree(src, &mirror, &["nested/deeper/client-b.log"]);

    // A big new file, and the SSH link cut while it moves (capped at 2 MB/s, so mid-file).
    let slow = tailrace_producers::sync::TargetConfig { bandwidth: Some(2_000_000), ..auto.clone() };
    let cut = cut_while_big_file_moves(&sshd, src, &mirror);
    let (outcome, ()) = tokio::join!(sync(&slow), cut);
    assert!(outcome.map_or(true, |o| !o.errors.is_empty()), "the cut shows");
    assert!(!mirror.join("big.log").exists(), "no partial file under the file's name");
    let after = sync(&auto).await.unwrap();
    assert_eq!((after.created, after.errors.len()), (1, 0), "{after:?}");
    same_tree(src, &mirror, &["big.log", "server-a.log", "nested/deeper/client-b.log"]);
}
