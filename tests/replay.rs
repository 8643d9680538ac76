//! `tailrace replay` and `tailrace streams` against a real nats-server: the whole stream to
//! stdout in order, a subject's share of it, a sequence range, a republish that a rerun does not
//! double, each wrong range refused before anything is read, a sink rebuilt while it runs; a
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
            lines: vec![LogLine { offset: i * 100, text: format!("line {i:05}"), lossy: false }],
            next_offset: Some(i * 100 + 11),
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

/// The issues sink's readers on ISSUES (ephemeral consumers outlive their reader a while):
/// name → messages of the stream still to deliver.
async fn readers(js: &async_nats::jetstream::Context) -> std::collections::HashMap<String, u64> {
    use futures::StreamExt;
    let mut found = std::collections::HashMap::new();
    let mut consumers = js.get_stream("ISSUES").await.unwrap().consumers();
    while let Some(Ok(info)) = consumers.next().await {
        if info.config.description.as_deref().is_some_and(|d| d.starts_with("sink issues ")) {
            found.insert(info.name, info.num_pending);
        }
    }
    found
}

/// Waits until a reader of the issues sink other than those `before` (of earlier runs) has
/// been delivered everything in ISSUES.
async fn until_read(js: &async_nats::jetstream::Context, before: &std::collections::HashMap<String, u64>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if readers(js).await.into_iter().any(|(name, pending)| !before.contains_key(&name) && pending == 0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the issues sink did not read all of ISSUES in 30 s: {:?} before {before:?}",
            readers(js).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `tailrace sink --dump issues` of the data directory in `config` (its sink stopped).
fn dump_issues(config: &std::path::Path) -> String {
    let out = tailrace().arg("-c").arg(config).args(["sink", "--dump", "issues"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Rows whose sort keys tie may come in either order.
    let mut rows: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    rows.sort();
    rows.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_materializes_a_running_sink_again_equal_to_what_it_held() {
    use tailrace_schemas::{AppName, CustomerId, Fingerprint, IssueOccurrence, Scope, Severity};
    let server = TestServer::start_with_topology().await;
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let at = Timestamp::parse_rfc3339("2026-12-05T06:00:00Z").unwrap();
    let mut acks = Vec::new();
    for i in 0..300u64 {
        let app = format!("app-{}", i % 7);
        let o = IssueOccurrence {
            v: 1,
            scope: Scope::new(app.as_str()),
            fingerprint: Fingerprint(i % 11),
            severity: Severity::Error,
            message: format!("failure <*> of kind {}", i % 11),
            count: 1 + i % 3,
            first_seen: at.saturating_add_nanos(i as i64 * 1_000_000_000),
            last_seen: at.saturating_add_nanos(i as i64 * 1_000_000_000),
            sample: format!("failure {i} of kind {}", i % 11),
            host: None,
            source: None,
            app: Some(AppName::new(app.as_str())),
            customer: Some(CustomerId::new(format!("c-{}", i % 5))),
            reported_at: Some(at.saturating_add_nanos(i as i64)),
        };
        let out = Outgoing::encode(subject::issues(&o.scope), &o, format!("occ/{i}")).unwrap();
        acks.push(publisher.publish(out).await);
    }
    for a in acks {
        a.await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = support::binary::write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[nats]\nurl = \"{}\"\n",
            dir.path().join("data").display(),
            server.url()
        ),
    );
    let sink = || {
        support::binary::Reaped(
            tailrace()
                .arg("-c")
                .arg(&config)
                .args(["sink", "issues"])
                .stderr(std::fs::File::create(dir.path().join("sink.log")).unwrap())
                .spawn()
                .unwrap(),
        )
    };
    let js = server.jetstream().await;
    // Stops the running sink and dumps its table once it holds all 300 occurrences (a sink
    // stopped with deliveries it had not handled resumes from what it applied: restarted until
    // it has applied them all).
    let settled = |mut running: support::binary::Reaped, mut earlier| {
        let (js, config) = (js.clone(), config.clone());
        async move {
            for _ in 0..20 {
                until_read(&js, &earlier).await;
                support::binary::stop(&mut running).await;
                let rows = dump_issues(&config);
                let counted: u64 = rows
                    .lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["count"].as_u64().unwrap())
                    .sum();
                if counted == (0..300u64).map(|i| 1 + i % 3).sum::<u64>() {
                    return rows;
                }
                earlier = readers(&js).await;
                running = sink();
            }
            panic!("the sink never applied all 300");
        }
    };
    let before = settled(sink(), readers(&js).await).await;
    // Every (app, fingerprint) pair of i % 7 and i % 11 occurs among 300.
    assert_eq!(before.lines().count(), 77, "{before}");

    // Rebuilt while it runs: cleared, read again from the start, the same table.
    let earlier = readers(&js).await;
    let running = sink();
    until_read(&js, &earlier).await;
    let before_rebuild = readers(&js).await;
    let out = tailrace().arg("-c").arg(&config).args(["replay", "--rebuild", "issues"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("tables cleared") && said.contains("read 300 messages of ISSUES again"), "{said}");
    assert_eq!(
        settled(running, before_rebuild).await,
        before,
        "the rebuilt table equals the one it replaced"
    );

    // A sink that does not exist, or none running, is said plainly.
    let out = tailrace().arg("-c").arg(&config).args(["replay", "--rebuild", "nope"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rebuild \"nope\" is not a sink"));
    let out = tailrace().arg("-c").arg(&config).args(["replay", "--rebuild", "issues"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running sink issues answered"));
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
