//! `tailrace replay` against a real nats-server: the whole stream to stdout in order, a
//! subject's share of it, a sequence range, a republish that a rerun does not double, and each
//! wrong range refused before anything is read.

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
    ] {
        let (ok, printed, err) = replay(&server, &args);
        assert!(!ok && printed.is_empty(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
