//! `tailrace replay` and `tailrace streams` against a real nats-server: the whole stream to
//! stdout in order, a subject's share of it, a sequence range, a republish that a rerun does not
//! double, each wrong range refused before anything is read, each sink rebuilt while it runs; a
//! stream's details, the lag of its readers, and one subject purged.

mod support;

use support::binary::tailrace;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{subject, HostId, LogBatch, LogLine, SourceId, Timestamp};

/// Publishes `n` batches of one numbered line each, alternating between two files.
async fn numbered_batches(server: &TestServer, n: u64) {
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let host = HostId::new("web-1");
    let mut acks = Vec::new();
    for i in 0..n {
        let source = SourceId::new(if i % 2 == 0 { "a.log" } else { "b.log" });
        let batch = LogBatch {
            v: 1,
            host: host.clone(),
            source: source.clone(),
            path: source.as_str().to_owned(),
            file: None,
            generation: 0,
            lines: vec![LogLine {
                offset: i * 100,
                text: format!("line {i:05}"),
                lossy: false,
                priority: None,
            }],
            next_offset: Some(i * 100 + 11),
            cursor: None,
            cursor_lines: None,
            read_at: Timestamp::now(),
        };
        let out =
            Outgoing::encode(subject::logs_raw(&host, &source), &batch, format!("numbered/{i}")).unwrap();
        acks.push(publisher.publish(out).await);
    }
    for a in acks {
        a.await.unwrap();
    }
}

fn replay(server: &TestServer, args: &[&str]) -> (bool, Vec<serde_json::Value>, String) {
    let out = tailrace().arg("replay").args(args).env("TAILRACE_NATS__URL", server.url()).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn texts(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().map(|l| l["payload"]["lines"][0]["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_prints_the_stream_in_order_and_ranges_and_republishes_once() {
    let server = TestServer::start_with_topology().await;
    numbered_batches(&server, 500).await;

    // The whole stream: every message once, in sequence order, decoded.
    let (ok, all, err) = replay(&server, &["--stream", "LOGS"]);
    assert!(ok, "{err}");
    let seqs: Vec<u64> = all.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
    assert_eq!(texts(&all), (0..500).map(|i| format!("line {i:05}")).collect::<Vec<_>>());
    assert!(all.iter().all(|l| l["stored_at"].as_str().is_some_and(|t| Timestamp::parse_rfc3339(t).is_ok())));
    assert!(err.contains("replayed 500 messages of logs.raw.> (sequences 1..=500)"), "{err}");

    // One file's subject; a sequence range.
    let a_log = all[0]["subject"].as_str().unwrap().to_owned();
    let (ok, a, _) = replay(&server, &["--stream", "logs", "--subject", &a_log]);
    assert!(ok);
    assert_eq!(texts(&a), (0..500).step_by(2).map(|i| format!("line {i:05}")).collect::<Vec<_>>());
    let (ok, range, _) = replay(&server, &["--stream", "LOGS", "--from-seq", "101", "--to-seq", "150"]);
    assert!(ok);
    assert_eq!(texts(&range), (100..150).map(|i| format!("line {i:05}")).collect::<Vec<_>>());
    let (ok, future, _) = replay(&server, &["--stream", "LOGS", "--since", "2099-01-01T00:00:00Z"]);
    assert!(ok && future.is_empty(), "nothing was stored after then");

    // Republished to another subject: the same payloads; a second run stores nothing twice.
    for _ in 0..2 {
        let (ok, printed, err) =
            replay(&server, &["--stream", "LOGS", "--to-seq", "40", "--to-subject", "derived.replayed.web"]);
        assert!(ok && printed.is_empty(), "{err}");
    }
    let (ok, copies, _) = replay(&server, &["--stream", "DERIVED", "--subject", "derived.replayed.>"]);
    assert!(ok);
    assert_eq!(copies.len(), 40, "40 copies, none doubled by the rerun");
    // A replay into its own stream ends at the stream's end as it was when it began.
    let (ok, _, err) = replay(&server, &["--stream", "DERIVED", "--to-subject", "derived.replayed.again"]);
    assert!(ok, "{err}");
    assert_eq!(replay(&server, &["--stream", "DERIVED"]).1.len(), 80);

    // Wrong ranges are refused, naming the option, and exit non-zero.
    for (args, says) in [
        (vec!["--stream", "NOPE"], "--stream \"NOPE\" is not a stream"),
        (vec!["--stream", "LOGS", "--subject", "issues.>"], "is not a subject of stream LOGS"),
        (vec!["--stream", "LOGS", "--from-seq", "9", "--to-seq", "3"], "--from-seq 9 is after --to-seq 3"),
        (
            vec!["--stream", "LOGS", "--from-seq", "900"],
            "--from-seq 900 is past the end of LOGS (its last sequence is 500)",
        ),
        (vec!["--stream", "LOGS", "--since", "last tuesday"], "--since \"last tuesday\" is neither"),
        (vec!["--stream", "LOGS", "--to-subject", "nowhere.x"], "--to-subject \"nowhere.x\" is in no stream"),
    ] {
        let (ok, printed, err) = replay(&server, &args);
        assert!(!ok && printed.is_empty(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// Sink `sink`'s readers on `stream` (ephemeral consumers outlive their reader a while):
/// name → messages of the stream still to deliver.
async fn readers(
    js: &async_nats::jetstream::Context,
    stream: &str,
    sink: &str,
) -> std::collections::HashMap<String, u64> {
    use futures::StreamExt;
    let mut found = std::collections::HashMap::new();
    let mut consumers = js.get_stream(stream).await.unwrap().consumers();
    while let Some(Ok(info)) = consumers.next().await {
        if info.config.description.as_deref().is_some_and(|d| d.starts_with(&format!("sink {sink} "))) {
            found.insert(info.name, info.num_pending);
        }
    }
    found
}

/// Waits until a reader of `sink` other than those `before` (of earlier runs) has been
/// delivered everything in `stream`.
async fn until_read(
    js: &async_nats::jetstream::Context,
    stream: &str,
    sink: &str,
    before: &std::collections::HashMap<String, u64>,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = readers(js, stream, sink).await;
        if now.into_iter().any(|(name, pending)| !before.contains_key(&name) && pending == 0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sink {sink} did not read all of {stream} in 30 s: {:?} before {before:?}",
            readers(js, stream, sink).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `tailrace sink --dump SINK` of the data directory in `config` (its sink stopped): the rows,
/// sorted, and the last stream sequence applied.
fn dump(config: &std::path::Path, sink: &str) -> (String, u64) {
    let out = tailrace().arg("-c").arg(config).args(["sink", "--dump", sink]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let applied = said
        .split("applied up to sequence ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no applied sequence in {said}"));
    // Rows whose sort keys tie may come in either order.
    let mut rows: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    rows.sort();
    (rows.join("\n"), applied)
}

/// Publishes `messages` into `stream`, runs `tailrace sink SINK` until it has applied them all,
/// rebuilds it with `tailrace replay --rebuild SINK` while it runs, and checks the rebuilt
/// table equals the one it replaced. Returns the server and config for more checks.
async fn rebuild_trial(sink: &str, stream: &str, messages: Vec<Outgoing>) -> (TestServer, tempfile::TempDir) {
    let server = TestServer::start_with_topology().await;
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let n = messages.len();
    let mut acks = Vec::new();
    for m in messages {
        acks.push(publisher.publish(m).await);
    }
    for a in acks {
        a.await.unwrap();
    }
    let js = server.jetstream().await;
    let last = js.get_stream(stream).await.unwrap().info().await.unwrap().state.last_sequence;
    assert_eq!(last, n as u64, "every message stored once");
    let dir = tempfile::tempdir().unwrap();
    let config = support::binary::write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[nats]\nurl = \"{}\"\n",
            dir.path().join("data").display(),
            server.url()
        ),
    );
    let spawn = || {
        support::binary::Reaped(
            tailrace()
                .arg("-c")
                .arg(&config)
                .args(["sink", sink])
                .stderr(std::fs::File::create(dir.path().join(format!("sink-{sink}.log"))).unwrap())
                .spawn()
                .unwrap(),
        )
    };
    // Stops the running sink and dumps its table once it has applied the whole stream (a sink
    // stopped with deliveries it had not handled resumes from what it applied: restarted until
    // it has applied them all).
    let settled = |mut running: support::binary::Reaped, mut earlier| {
        let (js, config) = (js.clone(), config.clone());
        async move {
            for _ in 0..20 {
                until_read(&js, stream, sink, &earlier).await;
                support::binary::stop(&mut running).await;
                let (rows, applied) = dump(&config, sink);
                if applied == last {
                    return rows;
                }
                earlier = readers(&js, stream, sink).await;
                running = spawn();
            }
            panic!("sink {sink} never applied all {last}");
        }
    };
    let before = settled(spawn(), readers(&js, stream, sink).await).await;
    assert!(!before.is_empty(), "sink {sink} holds rows");

    // Rebuilt while it runs: cleared, read again from the start, the same table.
    let earlier = readers(&js, stream, sink).await;
    let running = spawn();
    until_read(&js, stream, sink, &earlier).await;
    let before_rebuild = readers(&js, stream, sink).await;
    let out = tailrace().arg("-c").arg(&config).args(["replay", "--rebuild", sink]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("tables cleared") && said.contains(&format!("read {n} messages of {stream} again")),
        "{said}"
    );
    assert_eq!(
        settled(running, before_rebuild).await,
        before,
        "the rebuilt {sink} table equals the one it replaced"
    );
    (server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_materializes_each_running_sink_again_equal_to_what_it_held() {
    use tailrace_schemas::{
        AppName, Category, CopyState, CustomerId, FileEvent, FileEventKind, Fingerprint, IssueOccurrence,
        Scope, Severity, TargetId,
    };
    let at = Timestamp::parse_rfc3339("2026-12-05T06:00:00Z").unwrap();
    let secs = |i: u64| at.saturating_add_nanos(i as i64 * 1_000_000_000);

    // issues: 300 occurrences of 77 (app, fingerprint) pairs.
    let occurrences = (0..300u64)
        .map(|i| {
            let app = format!("app-{}", i % 7);
            let o = IssueOccurrence {
                v: 1,
                scope: Scope::new(app.as_str()),
                fingerprint: Fingerprint(i % 11),
                severity: Severity::Error,
                message: format!("failure <*> of kind {}", i % 11),
                count: 1 + i % 3,
                first_seen: secs(i),
                last_seen: secs(i),
                sample: format!("failure {i} of kind {}", i % 11),
                host: None,
                source: None,
                app: Some(AppName::new(app.as_str())),
                customer: Some(CustomerId::new(format!("c-{}", i % 5))),
                reported_at: Some(at.saturating_add_nanos(i as i64)),
            };
            Outgoing::encode(subject::issues(&o.scope), &o, format!("occ/{i}")).unwrap()
        })
        .collect();
    let (server, dir) = rebuild_trial("issues", "ISSUES", occurrences).await;
    assert_eq!(dump(&dir.path().join("tailrace.toml"), "issues").0.lines().count(), 77);

    // telemetry: 120 reports of 4 customers, two apps each.
    let reports = (0..120u64)
        .map(|i| {
            let customer = CustomerId::new(format!("cust-{}", i % 4));
            let report = serde_json::json!({
                "customer_id": customer.as_str(),
                "reported_at": secs(i * 1800).to_rfc3339(),
                "controller_version": "v0.28.0",
                "app_telemetry": [
                    {"app_name": "shop", "memory_avg_mb": 100.0 + i as f64, "memory_peak_mb": 150.0 + i as f64,
                     "cpu_avg_percent": 5.0, "catalog_limit": "512M", "log_errors": i % 3, "log_warnings": 1},
                    {"app_name": "api", "memory_avg_mb": 40.0, "memory_peak_mb": 60.0, "catalog_limit": "64M",
                     "log_errors": 0, "log_warnings": 0},
                ],
            });
            Outgoing { subject: subject::reports(&customer), payload: report.to_string().into(), msg_id: format!("r/{i}") }
        })
        .collect();
    rebuild_trial("telemetry", "REPORTS", reports).await;

    // files: 200 events over 3 targets, files created, modified and some removed.
    let events = (0..200u64)
        .map(|i| {
            let e = FileEvent {
                v: 1,
                target: TargetId::new(format!("t{}", i % 3)),
                category: Category::new(["app", "db"][(i % 2) as usize]),
                kind: match i % 10 {
                    9 => FileEventKind::Removed,
                    0..=3 => FileEventKind::Created,
                    _ => FileEventKind::Modified,
                },
                path: format!("logs/f-{}.log", i % 40),
                size: 100 * i,
                modified: secs(i),
                sha256: None,
                lines: Some(i),
                copy: CopyState::Plain,
                first_line_at: None,
                last_line_at: None,
            };
            Outgoing::encode(subject::files_synced(&e.target, &e.category), &e, format!("f/{i}")).unwrap()
        })
        .collect();
    rebuild_trial("files", "FILES", events).await;

    // A sink that does not exist, or none running, is said plainly.
    let config = dir.path().join("tailrace.toml");
    let out = tailrace().arg("-c").arg(&config).args(["replay", "--rebuild", "nope"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rebuild \"nope\" is not a sink"));
    let out = tailrace().arg("-c").arg(&config).args(["replay", "--rebuild", "issues"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running sink issues answered"));
    drop(server);
}

fn streams(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tailrace().arg("streams").args(args).env("TAILRACE_NATS__URL", server.url()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_info_lag_and_purge_tell_an_operator_what_is_there_and_remove_one_subject() {
    let server = TestServer::start_with_topology().await;
    numbered_batches(&server, 500).await;

    let (ok, info, err) = streams(&server, &["info", "logs"]);
    assert!(ok, "{err}");
    for line in [
        "stream       LOGS",
        "subjects     logs.raw.>",
        "messages     500",
        "first        1 at",
        "last         500 at",
    ] {
        assert!(info.contains(line), "{line:?} in {info}");
    }
    let (ok, _, err) = streams(&server, &["info", "NOPE"]);
    assert!(!ok && err.contains("\"NOPE\" is not a stream"), "{err}");

    // A processor's durable consumer that has read nothing yet is 500 behind.
    let js = server.jetstream().await;
    js.get_stream("LOGS")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("classify".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (ok, lag, err) = streams(&server, &["lag"]);
    assert!(ok, "{err}");
    assert!(
        lag.lines().any(|l| l.starts_with("LOGS") && l.contains("processor classify") && l.contains(" 500 ")),
        "{lag}"
    );

    // One file's lines: counted, then removed only with --yes; the other file's stay.
    let (_, all, _) = replay(&server, &["--stream", "LOGS", "--to-seq", "1"]);
    let a_log = all[0]["subject"].as_str().unwrap().to_owned();
    let (ok, said, err) = streams(&server, &["purge", "--subject", &a_log]);
    assert!(ok && said.contains("250 messages of") && said.contains("would be removed"), "{said}{err}");
    assert_eq!(replay(&server, &["--stream", "LOGS"]).1.len(), 500, "nothing removed without --yes");
    let (ok, said, err) = streams(&server, &["purge", "--subject", &a_log, "--yes"]);
    assert!(ok && said.contains("removed 250 messages"), "{said}{err}");
    let left = replay(&server, &["--stream", "LOGS"]).1;
    assert_eq!(left.len(), 250);
    assert!(left.iter().all(|l| l["subject"] != a_log.as_str()));
    let (ok, _, err) = streams(&server, &["purge", "--subject", "nowhere.>"]);
    assert!(!ok && err.contains("is in no stream"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republish_killed_midway_and_run_again_stores_each_message_once() {
    let server = TestServer::start_with_topology().await;
    const N: u64 = 20_000;
    numbered_batches(&server, N).await;
    let js = server.jetstream().await;
    let copies = || {
        let js = js.clone();
        async move {
            let mut s = js.get_stream("DERIVED").await.unwrap();
            s.info().await.unwrap().state.messages
        }
    };
    let args = ["replay", "--stream", "LOGS", "--to-subject", "derived.replayed.web"];
    // Killed (SIGKILL) once it has stored some copies but not all.
    let mut child = support::binary::Reaped(
        tailrace()
            .args(args)
            .env("TAILRACE_NATS__URL", server.url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let stored = copies().await;
        assert!(stored < N, "the replay finished before it could be killed; make N larger");
        if stored > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no copy stored within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.0.wait().unwrap();
    let partial = copies().await;
    assert!(partial < N, "killed part-way ({partial} of {N})");

    // Run again to the end: every message once (the copies' ids are the source sequences).
    let out = tailrace().args(args).env("TAILRACE_NATS__URL", server.url()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(copies().await, N, "{partial} copies before the kill, none doubled or lost after the rerun");
    let (ok, printed, _) = replay(&server, &["--stream", "DERIVED"]);
    assert!(ok);
    assert_eq!(texts(&printed), (0..N).map(|i| format!("line {i:05}")).collect::<Vec<_>>(), "in order");
}
