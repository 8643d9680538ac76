//! The acceptance test of roles as processes on a 3-node cluster: two `tailrace process
//! classify fingerprint`, one `tailrace sink issues` and one `tailrace gateway`, each its own OS
//! process, on R3 streams, while the nats-server leading LOGS, one processor and the sink are
//! killed with -9 and started again. Counted at the end: every acknowledged line in CLASSIFIED
//! exactly once, the issue tables equal to counts computed from the input, an SSE client's
//! error lines exactly once across its reconnects, and a rebuilt table equal to the live one.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::binary::{tailrace, write_config};
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::{free_port, TestCluster};
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{subject, ClassifiedBatch, HostId, LogBatch, LogLine, SourceId, Timestamp};

const LINES: u64 = 200_000;
const PER_BATCH: u64 = 100;
const WORDS: [&str; 3] = ["payment", "shipment", "refund"];

/// Line `n`: every tenth an error of one of three kinds.
fn text(n: u64) -> String {
    if n % 10 == 0 {
        format!("2026-12-02 10:00:00 ERROR {} failed for order {n}", WORDS[(n / 10 % 3) as usize])
    } else {
        format!("2026-12-02 10:00:00 INFO line {n} is fine")
    }
}

fn expected_errors() -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for n in (0..LINES).step_by(10) {
        *out.entry(WORDS[(n / 10 % 3) as usize]).or_insert(0) += 1;
    }
    out
}

struct Role {
    args: Vec<String>,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Role {
    fn new(dir: &std::path::Path, name: &str, args: &[&str], config: &str) -> Self {
        let config = write_config(&dir.join(name).tap_mkdir(), config);
        let mut role = Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            config,
            log: dir.join(format!("{name}.log")),
            child: None,
        };
        role.start();
        role
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        self.child = Some(
            tailrace()
                .arg("-c")
                .arg(&self.config)
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
    }

    async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            support::binary::signal(&c, Signal::SIGTERM);
            let status = support::binary::exited(&mut c, Duration::from_secs(20)).await;
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(status.success(), "{:?} exited with {status}; its log:\n{log}", self.args);
        }
    }
}

trait Mkdir {
    fn tap_mkdir(self) -> Self;
}

impl Mkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

/// An SSE client of every classified error line that reconnects with `Last-Event-ID` until it
/// has seen `want` lines; returns how often it saw each line number.
async fn watch_errors(base: String, want: u64) -> BTreeMap<u64, u32> {
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let mut last: Option<String> = None;
    let mut total = 0u64;
    let deadline = Instant::now() + Duration::from_secs(240);
    while total < want {
        assert!(Instant::now() < deadline, "the SSE client saw {total} of {want} error lines");
        let mut req = reqwest::Client::new()
            .get(format!("{base}/api/v1/stream?subject=logs.classified.*.error.>&from=1"));
        if let Some(id) = &last {
            req = req.header("Last-Event-ID", id);
        }
        let Ok(resp) = req.send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        'events: while let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_secs(20), body.next()).await
        {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let (mut id, mut data, mut event) = (None, String::new(), None);
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    }
                }
                if event.is_some() {
                    break 'events; // lagged or error: reconnect from the last id
                }
                let Some(id) = id else { continue };
                let v: serde_json::Value = serde_json::from_str(&data).unwrap();
                for line in v["payload"]["lines"].as_array().unwrap() {
                    *seen.entry(line["offset"].as_u64().unwrap()).or_insert(0) += 1;
                    total += 1;
                }
                last = Some(id);
                if total >= want {
                    break 'events;
                }
            }
        }
    }
    seen
}

/// Every payload `stream` holds now.
async fn stored(js: &async_nats::jetstream::Context, stream: &str) -> Vec<bytes::Bytes> {
    let mut s = js.get_stream(stream).await.unwrap();
    let n = s.info().await.unwrap().state.messages;
    let consumer =
        s.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await.unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let m =
            tokio::time::timeout(Duration::from_secs(20), messages.next()).await.unwrap().unwrap().unwrap();
        out.push(m.payload.clone());
    }
    out
}

/// Per error word, the count the issue table holds (by the template's text).
fn by_word(issues: &[serde_json::Value]) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for i in issues {
        let message = i["message"].as_str().unwrap_or_default();
        let count = i["count"].as_u64().unwrap();
        if let Some(word) = WORDS.iter().find(|w| message.contains(*w)) {
            *out.entry(*word).or_insert(0) += count;
        }
    }
    out
}

/// Waits (up to 2 min) until the gateway's issue table holds `expected`; otherwise fails with
/// the end of the gateway's log.
async fn gateway_table_equals(
    base: &str,
    expected: &BTreeMap<&'static str, u64>,
    log: &std::path::Path,
    when: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = by_word(&gateway_issues(base).await);
        if &got == expected {
            return;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "{when}: the gateway's issue table {got:?}, expected {expected:?}; its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn gateway_issues(base: &str) -> Vec<serde_json::Value> {
    let body: serde_json::Value =
        reqwest::get(format!("{base}/api/v1/issues?limit=500")).await.unwrap().json().await.unwrap();
    body["issues"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_on_a_three_node_cluster_survive_kill_9_of_a_leader_a_processor_and_the_sink() {
    let mut cluster = TestCluster::start().await;
    let dir = tempfile::Builder::new().prefix("tailrace-cluster-").tempdir().unwrap();
    let common = format!(
        "[nats]\nurl = \"{}\"\n[nats.streams]\nreplicas = 3\n[nats.consumer]\nack_wait = \"4s\"\n\
         [processors.fingerprint]\nwindow = \"500ms\"\n",
        cluster.urls()
    );
    let http = free_port();
    let data = |name: &str| format!("data_dir = \"{}\"\n", dir.path().join(name).join("data").display());
    let gateway_cfg = format!("{}{common}[gateway]\nbind = \"127.0.0.1:{http}\"\n", data("gateway"));
    // The topology, at replicas 3, before any role starts.
    let apply_cfg =
        write_config(&dir.path().join("apply").tap_mkdir(), &format!("{}{common}", data("apply")));
    let out = tailrace().args(["streams", "apply", "-c"]).arg(&apply_cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut p1 = Role::new(
        dir.path(),
        "process-1",
        &["process", "classify", "fingerprint"],
        &format!("{}{common}", data("p1")),
    );
    let mut p2 = Role::new(
        dir.path(),
        "process-2",
        &["process", "classify", "fingerprint"],
        &format!("{}{common}", data("p2")),
    );
    let mut sink = Role::new(dir.path(), "sink", &["sink", "issues"], &format!("{}{common}", data("sink")));
    let mut gateway = Role::new(dir.path(), "gateway", &["gateway"], &gateway_cfg);
    let base = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{base}/health")).await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let watcher = tokio::spawn(watch_errors(base.clone(), LINES / 10));

    // 200,000 numbered lines with acks, while things die under them.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(cluster.urls().split(',').map(str::to_owned).collect::<Vec<_>>())
        .await
        .unwrap();
    let publisher = Publisher::new(
        client.clone(),
        PublisherConfig {
            ack_timeout: Duration::from_secs(2),
            max_attempts: 100,
            max_in_flight: 256,
            ..Default::default()
        },
    );
    let p = publisher.clone();
    let producer = tokio::spawn(async move {
        let mut pending = std::collections::VecDeque::new();
        let mut acked = 0u64;
        for b in 0..LINES / PER_BATCH {
            let lines = (b * PER_BATCH..(b + 1) * PER_BATCH)
                .map(|n| LogLine { offset: n, text: text(n), lossy: false, priority: None })
                .collect();
            let batch = LogBatch {
                v: 1,
                host: HostId::new("h"),
                source: SourceId::new("app"),
                path: "/var/log/app.log".into(),
                file: None,
                generation: 0,
                lines,
                next_offset: Some((b + 1) * PER_BATCH),
                cursor: None,
                cursor_lines: None,
                read_at: Timestamp::now(),
            };
            let out =
                Outgoing::encode(subject::logs_raw(&batch.host, &batch.source), &batch, batch.dedup_id())
                    .unwrap();
            pending.push_back(p.publish(out).await);
            if pending.len() >= 128 {
                acked += u64::from(pending.pop_front().unwrap().await.is_ok());
            }
        }
        for h in pending {
            acked += u64::from(h.await.is_ok());
        }
        acked
    });

    let js = async_nats::jetstream::new(client.clone());
    let progress = |at: u64| {
        let js = js.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                if let Ok(mut s) = js.get_stream("LOGS").await {
                    if s.info().await.map(|i| i.state.messages).unwrap_or(0) >= at {
                        return;
                    }
                }
                assert!(Instant::now() < deadline, "LOGS stuck below {at}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // The nats-server leading LOGS goes down and comes back.
    progress(300).await;
    let mut logs = js.get_stream("LOGS").await.unwrap();
    let leader = logs.info().await.unwrap().cluster.clone().unwrap().leader.unwrap();
    let index: usize = leader.trim_start_matches('n').parse().unwrap();
    cluster.servers[index].kill().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.servers[index].start_again().await;
    // A processor instance, then the sink.
    progress(900).await;
    p1.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    p1.start();
    progress(1500).await;
    sink.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sink.start();

    let acked = tokio::time::timeout(Duration::from_secs(240), producer).await.unwrap().unwrap();
    assert_eq!(acked, LINES / PER_BATCH, "every batch was acknowledged");

    // Every acknowledged line in CLASSIFIED exactly once.
    let deadline = Instant::now() + Duration::from_secs(180);
    let counts = loop {
        let mut counts = vec![0u8; LINES as usize];
        for payload in stored(&js, "CLASSIFIED").await {
            for line in tailrace_schemas::decode::<ClassifiedBatch>(&payload).unwrap().lines {
                counts[line.offset as usize] = counts[line.offset as usize].saturating_add(1);
            }
        }
        if counts.iter().all(|c| *c >= 1) || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let lost = counts.iter().filter(|c| **c == 0).count();
    let doubled = counts.iter().filter(|c| **c > 1).count();
    assert_eq!((lost, doubled), (0, 0), "CLASSIFIED: lost and doubled lines");
    let dead = js.get_stream("DLQ").await.unwrap().info().await.unwrap().state.messages;
    assert_eq!(dead, 0, "nothing was dead-lettered: the outages were the broker's, not the messages'");

    // The SSE client saw every error line exactly once across its reconnects.
    let seen = tokio::time::timeout(Duration::from_secs(240), watcher).await.unwrap().unwrap();
    let errors: Vec<u64> = (0..LINES).step_by(10).collect();
    assert_eq!(seen.len(), errors.len(), "error lines the SSE client saw");
    assert!(seen.values().all(|n| *n == 1), "an error line reached the SSE client twice");

    // The occurrences in ISSUES add up to the input's error lines (fingerprint counted each
    // once); both issue tables (the gateway's own and the sink process's) hold the same.
    let expected = expected_errors();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let occurrences: Vec<serde_json::Value> = stored(&js, "ISSUES")
            .await
            .iter()
            .map(|p| {
                let o: tailrace_schemas::IssueOccurrence = tailrace_schemas::decode(p).unwrap();
                serde_json::json!({ "message": o.message, "count": o.count })
            })
            .collect();
        let got = by_word(&occurrences);
        if got == expected {
            break;
        }
        assert!(Instant::now() < deadline, "ISSUES holds {got:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    gateway_table_equals(&base, &expected, &gateway.log, "live").await;
    // A rebuild while everything runs gives the same table.
    let reply = client.request(tailrace_sinks::rebuild_subject("issues"), "".into()).await.unwrap();
    assert!(String::from_utf8_lossy(&reply.payload).contains("rebuilding"));
    gateway_table_equals(&base, &expected, &gateway.log, "after the rebuild").await;
    for role in [&mut p1, &mut p2, &mut gateway] {
        role.stop().await;
    }
    sink.stop().await;
    let dump = tailrace().args(["sink", "--dump", "issues", "-c"]).arg(&sink.config).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&dump.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(by_word(&rows), expected, "the sink process's table");
}
