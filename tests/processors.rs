//! Processors as separate processes: `tailrace process` killed between its outputs and its acks,
//! and a processor written in Python with nats-py.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{subject, ClassifiedBatch, HostId, LogBatch, LogLine, SourceId, Timestamp};

/// `tailrace process NAMES` against `server`, acks awaited for at most 2 s.
fn process(server: &TestServer, dir: &std::path::Path, names: &[&str]) -> Child {
    let config = dir.join("tailrace.toml");
    std::fs::write(
        &config,
        format!(
            "[nats]\nurl = \"{}\"\n[nats.consumer]\nack_wait = \"2s\"\nbatch = 32\n[processors.fingerprint]\nwindow = \"500ms\"\n",
            server.url()
        ),
    )
    .unwrap();
    support::binary::tailrace()
        .arg("--config")
        .arg(&config)
        .arg("process")
        .args(names)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn batch(host: &str, first: u64, n: usize) -> LogBatch {
    LogBatch {
        v: 1,
        host: HostId::new(host),
        source: SourceId::new("app"),
        path: "/var/log/app.log".into(),
        file: None,
        generation: 0,
        lines: (0..n as u64)
            .map(|i| LogLine {
                offset: first + i,
                text: format!("ERROR line {}", first + i),
                lossy: false,
                priority: None,
            })
            .collect(),
        next_offset: Some(first + n as u64),
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    }
}

async fn publish(publisher: &Publisher, b: &LogBatch) {
    let out = Outgoing::encode(subject::logs_raw(&b.host, &b.source), b, b.dedup_id()).unwrap();
    publisher.publish_and_wait(out).await.unwrap();
}

async fn stream_messages(server: &TestServer, stream: &str) -> u64 {
    let mut s = server.jetstream().await.get_stream(stream).await.unwrap();
    s.info().await.unwrap().state.messages
}

/// Every message of `stream`, payloads only.
async fn all(server: &TestServer, stream: &str) -> Vec<bytes::Bytes> {
    let n = stream_messages(server, stream).await as usize;
    let s = server.jetstream().await.get_stream(stream).await.unwrap();
    let c = s.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await.unwrap();
    let mut msgs = c.messages().await.unwrap();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(msgs.next().await.unwrap().unwrap().payload.clone());
    }
    out
}

async fn wait_for(server: &TestServer, stream: &str, n: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let have = stream_messages(server, stream).await;
        if have >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{stream}: {have} of {n} messages after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_processor_killed_between_outputs_and_acks_loses_and_doubles_nothing() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let batches = 3000u64;
    for b in 0..batches {
        publish(&publisher, &batch("h", b * 4, 4)).await;
    }
    // Kill it mid-stream, more than once: some outputs are stored whose inputs were never acked.
    kill_9_mid_stream(&server, dir.path(), &["classify"], "CLASSIFIED", 300, batches).await;
    let mut child = process(&server, dir.path(), &["classify"]);
    wait_for(&server, "CLASSIFIED", batches, Duration::from_secs(60)).await;
    // The redeliveries of the killed runs have had time to come back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success(), "a clean exit on SIGTERM");
    let mut offsets: Vec<u64> = all(&server, "CLASSIFIED")
        .await
        .iter()
        .flat_map(|p| {
            tailrace_schemas::decode::<ClassifiedBatch>(p).unwrap().lines.into_iter().map(|l| l.offset)
        })
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets.len() as u64, batches * 4, "no line doubled");
    assert_eq!(offsets, (0..batches * 4).collect::<Vec<_>>(), "no line lost");
}

/// Waits until consumer `name` of `stream` has nothing pending or unacknowledged.
async fn drained(server: &TestServer, stream: &str, name: &str, within: Duration) {
    let js = server.jetstream().await;
    let deadline = Instant::now() + within;
    loop {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            js.get_stream(stream).await.unwrap().get_consumer(name).await.unwrap();
        let info = consumer.info().await.unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {} pending, {} unacked",
            info.num_pending,
            info.num_ack_pending
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `tailrace process NAMES` started and killed -9 `times`, each time once `stream` has grown by
/// `step` messages (or reached `cap`) since it started: killed mid-stream, some outputs stored
/// whose inputs were never acked.
async fn kill_9_mid_stream(
    server: &TestServer,
    dir: &std::path::Path,
    names: &[&str],
    stream: &str,
    step: u64,
    cap: u64,
) {
    for _ in 0..3 {
        let mut child = process(server, dir, names);
        let before = stream_messages(server, stream).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while stream_messages(server, stream).await < (before + step).min(cap) {
            assert!(Instant::now() < deadline, "{names:?} made no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
    }
}

/// `tailrace process classify fingerprint` until CLASSIFIED holds `classified` messages, the
/// fingerprint processor has acked them all and ISSUES holds at least `issues`; then SIGTERM,
/// which must end it cleanly.
async fn fingerprint_until_drained(server: &TestServer, dir: &std::path::Path, classified: u64, issues: u64) {
    let mut child = process(server, dir, &["classify", "fingerprint"]);
    wait_for(server, "CLASSIFIED", classified, Duration::from_secs(60)).await;
    drained(server, "CLASSIFIED", "fingerprint", Duration::from_secs(60)).await;
    wait_for(server, "ISSUES", issues, Duration::from_secs(30)).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success(), "a clean exit on SIGTERM");
}

#[tokio::test]
async fn fingerprint_killed_at_any_moment_counts_each_error_line_once() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let batches = 1500u64;
    for b in 0..batches {
        publish(&publisher, &batch("h", b * 4, 4)).await;
    }
    let fingerprint = ["classify", "fingerprint"];
    kill_9_mid_stream(&server, dir.path(), &fingerprint, "ISSUES", 50, u64::MAX).await;
    fingerprint_until_drained(&server, dir.path(), batches, 0).await;
    let counted: u64 = all(&server, "ISSUES")
        .await
        .iter()
        .map(|p| tailrace_schemas::decode::<tailrace_schemas::IssueOccurrence>(p).unwrap().count)
        .sum();
    assert_eq!(counted, batches * 4, "every error line counted once across the kills");
}

#[tokio::test]
async fn a_python_processor_reads_classified_lines_and_writes_its_own_subject() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let mut classify = process(&server, dir.path(), &["classify"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/processors/examples/python/line_counter.py");
    let mut python = Command::new("python3")
        .arg(script)
        .arg(server.url())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with nats-py, msgpack and zstandard (deploy/prereqs.sh installs them)");
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let mut b = batch("10.0.0.7", 0, 3);
    b.lines[1].text = "INFO all good".into();
    publish(&publisher, &b).await;
    // Long enough that its classified batch goes out as a zstd frame.
    publish(&publisher, &batch("web.example", 100, 400)).await;
    // Three classified batches (error, info, error), three outputs.
    wait_for(&server, "DERIVED", 3, Duration::from_secs(30)).await;
    let classified = server.jetstream().await.get_stream("CLASSIFIED").await.unwrap();
    let mut web = None;
    for seq in 1..=3 {
        let m = classified.get_raw_message(seq).await.unwrap();
        if m.subject.contains("web~2Eexample") {
            web = Some(m);
        }
    }
    let web = web.expect("the web.example batch was classified");
    assert!(
        tailrace_schemas::is_compressed(&web.payload),
        "the python processor was given a compressed batch"
    );
    let s = server.jetstream().await.get_stream("DERIVED").await.unwrap();
    let c = s.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await.unwrap();
    let mut msgs = c.messages().await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = msgs.next().await.unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        seen.push((
            m.subject.to_string(),
            v["host"].as_str().unwrap().to_owned(),
            v["severity"].as_str().unwrap().to_owned(),
            v["lines"].as_u64().unwrap(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                "derived.py-line-counter.10~2E0~2E0~2E7".to_owned(),
                "10.0.0.7".to_owned(),
                "error".to_owned(),
                2
            ),
            (
                "derived.py-line-counter.10~2E0~2E0~2E7".to_owned(),
                "10.0.0.7".to_owned(),
                "info".to_owned(),
                1
            ),
            (
                "derived.py-line-counter.web~2Eexample".to_owned(),
                "web.example".to_owned(),
                "error".to_owned(),
                400
            ),
        ]
    );
    for child in [&mut python, &mut classify] {
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        assert!(child.wait().unwrap().success());
    }
}

#[tokio::test]
async fn a_stack_trace_is_one_event_classified_by_its_first_line_and_counted_once() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    let event = |n: u64, frame: &str| {
        vec![
            format!("2026-12-05 10:00:0{n} ERROR [main] app.jobs - job {n} failed"),
            "Traceback (most recent call last):".to_owned(),
            format!("  File \"{frame}.py\", line {n}, in run"),
            "    step()".to_owned(),
            format!("ValueError: bad input {n}"),
            format!("2026-12-05 10:00:0{n} INFO [main] app.jobs - retrying job {n}"),
        ]
    };
    let mut b = batch("h", 0, 0);
    for (n, frame) in [(1, "a"), (2, "b")] {
        for (i, text) in event(n, frame).into_iter().enumerate() {
            b.lines.push(LogLine { offset: n * 100 + i as u64, text, lossy: false, priority: None });
        }
    }
    publish(&publisher, &b).await;
    fingerprint_until_drained(&server, dir.path(), 2, 1).await;

    // The traces went with their error lines, whole and in order; the retries are info.
    let classified: Vec<ClassifiedBatch> =
        all(&server, "CLASSIFIED").await.iter().map(|p| tailrace_schemas::decode(p).unwrap()).collect();
    let errors: Vec<&str> = classified
        .iter()
        .filter(|c| c.severity == tailrace_schemas::Severity::Error)
        .flat_map(|c| c.lines.iter().map(|l| l.text.as_str()))
        .collect();
    let want: Vec<String> = [event(1, "a"), event(2, "b")].iter().flat_map(|e| e[..5].to_vec()).collect();
    assert_eq!(errors, want);

    // One issue of two occurrences, by the first line; the frames are not issues of their own.
    let occurrences: Vec<tailrace_schemas::IssueOccurrence> =
        all(&server, "ISSUES").await.iter().map(|p| tailrace_schemas::decode(p).unwrap()).collect();
    let fingerprints: std::collections::HashSet<_> = occurrences.iter().map(|o| o.fingerprint).collect();
    assert_eq!(fingerprints.len(), 1, "{occurrences:?}");
    assert_eq!(occurrences.iter().map(|o| o.count).sum::<u64>(), 2, "{occurrences:?}");
    let sample = &occurrences[0].sample;
    assert!(
        sample.contains("ERROR") && sample.contains("Traceback") && sample.contains("ValueError"),
        "{sample}"
    );
}

/// Lines of an in-house format whose host and service words nothing but the source's own
/// lines tell from its messages, `n` of them from `first`.
fn in_house(first: u64, n: u64) -> LogBatch {
    let events = [
        "payment error for order {} by issuer",
        "cache error on shard {} of the ring",
        "shipping error for order {} at warehouse",
        "gateway error after {} ms on retry",
    ];
    let hosts = ["alpha", "bravo", "charlie", "delta", "echo"];
    let services = ["billing", "search", "checkout", "ledger"];
    let mut b = batch("inhouse", 0, 0);
    b.lines = (first..first + n)
        .map(|i| LogLine {
            offset: i,
            text: format!(
                "2026-12-05T10:{:02}:{:02}Z {} {} {}",
                i / 60 % 60,
                i % 60,
                hosts[(i * 7 % 5) as usize],
                services[(i / 3 % 4) as usize],
                events[(i % 4) as usize].replace("{}", &(i * 7919 % 10_000).to_string())
            ),
            lossy: false,
            priority: None,
        })
        .collect();
    b.next_offset = Some(first + n);
    b
}

async fn issue_fingerprints(server: &TestServer) -> std::collections::HashSet<tailrace_schemas::Fingerprint> {
    all(server, "ISSUES")
        .await
        .iter()
        .map(|p| tailrace_schemas::decode::<tailrace_schemas::IssueOccurrence>(p).unwrap().fingerprint)
        .collect()
}

#[tokio::test]
async fn a_sources_learned_header_columns_are_stored_and_read_alike_after_a_restart() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    publish(&publisher, &in_house(0, 200)).await;
    fingerprint_until_drained(&server, dir.path(), 1, 1).await;

    // Four events, each one issue: the host and service words were learned as header.
    let first = issue_fingerprints(&server).await;
    assert_eq!(first.len(), 4, "{first:?}");
    let kv = server.jetstream().await.get_key_value("fingerprint-templates").await.unwrap();
    let keys: Vec<String> = kv.keys().await.unwrap().map(Result::unwrap).collect().await;
    let shape_keys: Vec<&String> = keys.iter().filter(|k| k.starts_with("shape.")).collect();
    assert_eq!(shape_keys.len(), 1, "{keys:?}");
    let shape: tailrace_schemas::SourceShape =
        tailrace_schemas::decode(&kv.get(shape_keys[0]).await.unwrap().unwrap()).unwrap();
    assert_eq!(shape.cut, 2);

    // Restarted, a batch too small to learn from is read as the stored shape says.
    let before = stream_messages(&server, "ISSUES").await;
    publish(&publisher, &in_house(200, 8)).await;
    fingerprint_until_drained(&server, dir.path(), 2, before + 1).await;
    assert_eq!(issue_fingerprints(&server).await, first, "the same four issues, no new ones");
}

#[tokio::test]
async fn a_learned_header_shape_holds_across_kill_9_of_fingerprint_and_counts_stay_exact() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    // A first batch to learn from, then many small ones, every line an error.
    publish(&publisher, &in_house(0, 200)).await;
    let batches = 600u64;
    for b in 0..batches {
        publish(&publisher, &in_house(200 + b * 4, 4)).await;
    }
    kill_9_mid_stream(&server, dir.path(), &["classify", "fingerprint"], "ISSUES", 20, u64::MAX).await;
    fingerprint_until_drained(&server, dir.path(), batches + 1, 0).await;
    let occurrences: Vec<tailrace_schemas::IssueOccurrence> =
        all(&server, "ISSUES").await.iter().map(|p| tailrace_schemas::decode(p).unwrap()).collect();
    let counted: u64 = occurrences.iter().map(|o| o.count).sum();
    assert_eq!(counted, 200 + batches * 4, "every error line counted once across the kills");
    let fingerprints: std::collections::HashSet<_> = occurrences.iter().map(|o| o.fingerprint).collect();
    assert_eq!(fingerprints.len(), 4, "one issue per event whichever process read the lines");
}
