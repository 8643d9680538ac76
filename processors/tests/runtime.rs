//! Processors against a real nats-server: classify, the fingerprint processor's windows and
//! templates, dead letters, and instances sharing one durable consumer.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tailrace_nats::config::{ConsumerConfig, PublisherConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Delivery, HandleError, Handler, Outgoing, Publisher};
use tailrace_processors::classify::{Classify, ClassifyConfig};
use tailrace_processors::registry::{self, Context, ProcessorsConfig};
use tailrace_processors::{Inputs, Processor};
use tailrace_schemas::{
    subject, ClassifiedBatch, ConsumerName, DeadLetter, HostId, IssueOccurrence, LogBatch, LogLine, Payload,
    SourceId, SubjectFilter, Timestamp,
};
use tokio_util::sync::CancellationToken;

struct Pipeline {
    server: TestServer,
    publisher: Publisher,
}

impl Pipeline {
    async fn start() -> Self {
        let server = TestServer::start_with_topology().await;
        let publisher = Publisher::new(server.client().await, PublisherConfig::default());
        Self { server, publisher }
    }

    fn consumer() -> ConsumerConfig {
        ConsumerConfig { ack_wait: Duration::from_secs(4), batch: 64, ..ConsumerConfig::default() }
    }

    async fn context(&self, cfg: ProcessorsConfig) -> Context {
        Context {
            js: self.server.jetstream().await,
            publisher: Publisher::new(self.server.client().await, PublisherConfig::default()),
            consumer: Self::consumer(),
            cfg,
        }
    }

    /// Publishes lines as one raw batch of `host`/`source`, offsets from `first`.
    async fn raw(&self, host: &str, source: &str, path: &str, first: u64, lines: &[String]) {
        let batch = LogBatch {
            v: 1,
            host: HostId::new(host),
            source: SourceId::new(source),
            path: path.to_owned(),
            file: None,
            generation: 0,
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, t)| LogLine {
                    offset: first + i as u64,
                    text: t.clone(),
                    lossy: false,
                    priority: None,
                })
                .collect(),
            next_offset: None,
            cursor: None,
            cursor_lines: None,
            read_at: Timestamp::now(),
        };
        let subject = subject::logs_raw(&batch.host, &batch.source);
        let id = batch.dedup_id();
        self.publisher.publish_and_wait(Outgoing::encode(subject, &batch, id).unwrap()).await.unwrap();
    }

    /// The first `n` messages of `stream` matching `filter`, decoded, with their subjects.
    async fn read<T: Payload>(&self, stream: &str, filter: &str, n: usize) -> Vec<(String, T)> {
        let js = self.server.jetstream().await;
        let s = js.get_stream(stream).await.unwrap();
        let c = s
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: filter.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut msgs = c.messages().await.unwrap();
        let mut out = Vec::new();
        while out.len() < n {
            let m = tokio::time::timeout(Duration::from_secs(20), msgs.next())
                .await
                .unwrap_or_else(|_| panic!("{n} messages on {filter} within 20 s; got {}", out.len()))
                .unwrap()
                .unwrap();
            out.push((m.subject.to_string(), tailrace_schemas::decode(&m.payload).unwrap()));
        }
        out
    }

    async fn count(&self, stream: &str) -> u64 {
        let mut s = self.server.jetstream().await.get_stream(stream).await.unwrap();
        s.info().await.unwrap().state.messages
    }
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

#[tokio::test]
async fn raw_lines_are_classified_once_by_category_and_severity() {
    let p = Pipeline::start().await;
    let cancel = CancellationToken::new();
    let ctx = p.context(ProcessorsConfig::default()).await;
    let task = registry::start("classify", &ctx, cancel.clone()).await.unwrap();
    let lines = vec![
        "2024-01-02 10:00:00,000 INFO started".to_owned(),
        "2024-01-02 10:00:01,000 ERROR disk /dev/sda1 full".to_owned(),
        "2024-01-02 10:00:02,000 INFO serving".to_owned(),
    ];
    p.raw("cvm-1", "genesis", "/home/nutanix/data/logs/genesis.out", 0, &lines).await;
    // The same batch again (a producer retry): stored once upstream, classified once.
    p.raw("cvm-1", "genesis", "/home/nutanix/data/logs/genesis.out", 0, &lines).await;
    let out: Vec<(String, ClassifiedBatch)> = p.read("CLASSIFIED", ">", 2).await;
    assert_eq!(out[0].0, "logs.classified.genesis.info.cvm-1.genesis");
    assert_eq!(out[0].1.lines.iter().map(|l| l.offset).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(out[1].0, "logs.classified.genesis.error.cvm-1.genesis");
    assert_eq!(out[1].1.lines[0].text, lines[1]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(p.count("CLASSIFIED").await, 2);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_poison_message_reaches_the_dlq_with_the_reason() {
    let p = Pipeline::start().await;
    let cancel = CancellationToken::new();
    let task = registry::start("classify", &p.context(ProcessorsConfig::default()).await, cancel.clone())
        .await
        .unwrap();
    let subject = subject::logs_raw(&HostId::new("h"), &SourceId::new("s"));
    let poison = Outgoing { subject, payload: "{\"not\": \"a batch\"}".into(), msg_id: "poison".into() };
    p.publisher.publish_and_wait(poison).await.unwrap();
    p.raw("h", "s", "/x.log", 0, &numbered("ERROR after the poison", 1)).await;
    let letters: Vec<(String, DeadLetter)> = p.read("DLQ", "dlq.classify", 1).await;
    assert!(letters[0].1.reason.contains("LogBatch"), "{}", letters[0].1.reason);
    assert_eq!(letters[0].1.payload, b"{\"not\": \"a batch\"}");
    let after: Vec<(String, ClassifiedBatch)> = p.read("CLASSIFIED", ">", 1).await;
    assert_eq!(after[0].1.lines[0].text, "ERROR after the poison 0", "the next message is not held up");
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// A classifier that counts what it handled.
struct Counting {
    inner: Classify,
    handled: Arc<AtomicUsize>,
}

impl Handler for Counting {
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<Vec<Outgoing>, HandleError>> + Send {
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.inner.handle(delivery)
    }
}

impl Processor for Counting {
    fn name(&self) -> &ConsumerName {
        self.inner.name()
    }
    fn inputs(&self) -> Inputs {
        self.inner.inputs()
    }
    fn outputs(&self) -> Vec<SubjectFilter> {
        self.inner.outputs()
    }
    fn description(&self) -> &'static str {
        "counting classifier"
    }
}

#[tokio::test]
async fn two_instances_split_one_durable_consumer_without_duplicates() {
    let p = Pipeline::start().await;
    let cancel = CancellationToken::new();
    let counts: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let mut tasks = Vec::new();
    for handled in &counts {
        let inner = Classify::new(&ClassifyConfig::default()).unwrap();
        let publisher = Publisher::new(p.server.client().await, PublisherConfig::default());
        let processor = Counting { inner, handled: handled.clone() };
        let consumer = ConsumerConfig { batch: 4, ..Pipeline::consumer() };
        tasks.push(tokio::spawn(tailrace_processors::run(processor, publisher, consumer, cancel.clone())));
    }
    // Let both instances attach before the work arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let batches = 200;
    for b in 0..batches {
        p.raw("h", "s", "/var/log/app.log", b * 10, &numbered(&format!("ERROR batch {b} line"), 10)).await;
    }
    let out: Vec<(String, ClassifiedBatch)> = p.read("CLASSIFIED", ">", batches as usize).await;
    let mut offsets: Vec<u64> = out.iter().flat_map(|(_, b)| b.lines.iter().map(|l| l.offset)).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..batches * 10).collect::<Vec<_>>(), "every line once");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(p.count("CLASSIFIED").await, batches);
    let handled: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(handled.iter().sum::<usize>(), batches as usize, "{handled:?}");
    assert!(handled.iter().all(|&n| n > 0), "both instances took work: {handled:?}");
    cancel.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

fn fast_windows() -> ProcessorsConfig {
    let mut cfg = ProcessorsConfig::default();
    cfg.fingerprint.window = Duration::from_millis(300);
    cfg
}

/// Starts classify and fingerprint; returns their cancel token and tasks.
async fn start_both(
    p: &Pipeline,
) -> (CancellationToken, Vec<tokio::task::JoinHandle<Result<(), tailrace_nats::RunnerError>>>) {
    let cancel = CancellationToken::new();
    let ctx = p.context(fast_windows()).await;
    let mut tasks = Vec::new();
    for name in ["classify", "fingerprint"] {
        tasks.push(registry::start(name, &ctx, cancel.clone()).await.unwrap());
    }
    (cancel, tasks)
}

async fn stop(
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Result<(), tailrace_nats::RunnerError>>>,
) {
    cancel.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

fn errors(round: u32) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..5 {
        let n = round * 100 + i;
        lines.push(format!(
            "2024-01-02 10:00:0{i},000 ERROR Connection to 10.0.{n}.1:5432 timed out after {n}ms"
        ));
        lines.push(format!("2024-01-02 10:00:0{i},000 WARN Disk /dev/sd{i} is {n}% full on node-{n}"));
        lines.push(format!("2024-01-02 10:00:0{i},000 INFO request {n} served"));
    }
    lines
}

#[tokio::test]
async fn issues_are_tallied_per_window_and_keep_their_fingerprints_across_restarts_and_instances() {
    let p = Pipeline::start().await;
    let (cancel, tasks) = start_both(&p).await;
    p.raw("web-1", "app", "/var/log/server-app.log", 0, &errors(1)).await;
    let first: Vec<(String, IssueOccurrence)> = p.read("ISSUES", ">", 2).await;
    let by_message = |occ: &[(String, IssueOccurrence)]| {
        let mut v: Vec<(String, u64, String)> =
            occ.iter().map(|(_, o)| (o.message.clone(), o.count, o.fingerprint.to_string())).collect();
        v.sort();
        v
    };
    let seen = by_message(&first);
    assert_eq!(seen[0].0, "Connection to <*> timed out after <*>");
    assert_eq!(seen[0].1, 5, "five lines, one occurrence");
    assert_eq!(seen[1].0, "Disk <*> is <*> full on <*>");
    assert!(first.iter().all(|(s, _)| s == "issues.server"), "scope is the category");
    let o = &first[0].1;
    assert_eq!(o.host.as_ref().map(|h| h.as_str()), Some("web-1"));
    assert!(o.first_seen <= o.last_seen && !o.sample.is_empty());
    stop(cancel, tasks).await;

    // A restart: the templates come back from the bucket.
    let (cancel, tasks) = start_both(&p).await;
    p.raw("web-1", "app", "/var/log/server-app.log", 100, &errors(2)).await;
    let again: Vec<(String, IssueOccurrence)> = p.read("ISSUES", ">", 4).await;
    assert_eq!(by_message(&again[2..]), seen, "same templates, same fingerprints after a restart");

    // A second instance, started while the first runs, splits the work and agrees.
    let (cancel2, tasks2) = start_both(&p).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 3..9 {
        p.raw("web-2", "app", "/var/log/server-app.log", u64::from(round) * 100, &errors(round)).await;
    }
    let _: Vec<(String, IssueOccurrence)> = p.read("ISSUES", ">", 6).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later: Vec<(String, IssueOccurrence)> = p.read("ISSUES", ">", p.count("ISSUES").await as usize).await;
    let fingerprints: std::collections::BTreeSet<String> =
        later.iter().map(|(_, o)| format!("{} {}", o.fingerprint, o.message)).collect();
    assert_eq!(fingerprints.len(), 2, "two templates, two fingerprints: {fingerprints:?}");
    let total: u64 = later
        .iter()
        .filter(|(_, o)| o.host.as_ref().unwrap().as_str() == "web-2")
        .map(|(_, o)| o.count)
        .sum();
    assert_eq!(total, 6 * 10, "every warn and error line of web-2 counted once");
    stop(cancel2, tasks2).await;
    stop(cancel, tasks).await;
}

/// Two instances that learned different shapes for one source before either stored it: the
/// first stored stands, and the other takes it when it saves.
#[tokio::test]
async fn the_first_stored_header_shape_of_a_source_is_the_one_every_instance_takes() {
    use tailrace_processors::fingerprint::{SharedFingerprinter, TemplateStore};
    use tailrace_processors::template::{MinerConfig, SourceKey};
    let server = TestServer::start_with_topology().await;
    let js = server.jetstream().await;
    let cancel = CancellationToken::new();
    let open = || async {
        let store = TemplateStore::open(&js).await.unwrap();
        SharedFingerprinter::open(store, MinerConfig::default(), cancel.clone()).await.unwrap()
    };
    let (a, b) = (open().await, open().await);
    let source = SourceKey::new("web", "app");
    let hosts = ["alpha", "bravo", "charlie", "delta"];
    let events = ["payment error for order 1 by issuer", "cache error on shard 2 of the ring"];
    // A sees several hosts before the same events: a host column. B sees one host: no column.
    let lines = |varied: bool| -> Vec<String> {
        (0..200)
            .map(|i| {
                let host = if varied { hosts[(i / 3) % 4] } else { "alpha" };
                format!("2026-12-05T10:00:00Z {host} {}", events[i % 2])
            })
            .collect()
    };
    let (seen_by_a, seen_by_b) = (lines(true), lines(false));
    a.with(|f| f.look_ahead(source, seen_by_a.iter().map(String::as_str)));
    b.with(|f| f.look_ahead(source, seen_by_b.iter().map(String::as_str)));
    assert_eq!(a.with(|f| f.shapes().cut_of(source)), Some(1));
    assert_eq!(b.with(|f| f.shapes().cut_of(source)), Some(0));
    a.save().await.unwrap();
    b.save().await.unwrap();
    assert_eq!(b.with(|f| f.shapes().cut_of(source)), Some(1), "B takes the shape A stored first");
    let line = "2026-12-05T10:00:01Z delta payment error for order 7 by issuer";
    let fp = |s: &SharedFingerprinter| s.with(|f| f.line_from(source, line, None).fingerprint);
    assert_eq!(fp(&a), fp(&b));
    cancel.cancel();
}

/// A template an earlier build stored with a word today's masking makes a variable: the
/// processor opening the bucket takes today's lines under the stored fingerprint, and stores the
/// migrated template in its place at its next save.
#[tokio::test]
async fn a_template_stored_by_an_earlier_build_is_migrated_in_the_bucket_under_its_fingerprint() {
    use tailrace_processors::fingerprint::templates::Stored;
    use tailrace_processors::fingerprint::{SharedFingerprinter, TemplateStore};
    use tailrace_processors::template::{MinerConfig, TemplateRecord};
    use tailrace_schemas::Fingerprint;
    let server = TestServer::start_with_topology().await;
    let js = server.jetstream().await;
    // Opened before anything is stored, as a processor opens it long before a restart's load.
    let store = TemplateStore::open(&js).await.unwrap();
    let old = TemplateRecord {
        v: 1,
        fingerprint: Fingerprint(0xd1),
        template: "disk sda1 failed".into(),
        settled: vec![],
        masked: vec![],
        masking: 0,
        grouping: 0,
    };
    store.save(&[Stored::Template(old)]).await.unwrap();
    let cancel = CancellationToken::new();
    let shared =
        SharedFingerprinter::open(store.clone(), MinerConfig::default(), cancel.clone()).await.unwrap();
    assert_eq!(shared.with(|f| f.content("disk sdb7 failed").fingerprint), Fingerprint(0xd1));
    shared.save().await.unwrap();
    let (stored, _watch) = store.load().await.unwrap();
    let templates: Vec<_> =
        stored.into_iter().filter_map(|s| if let Stored::Template(t) = s { Some(t) } else { None }).collect();
    assert_eq!(templates.len(), 1, "{templates:?}");
    assert_eq!(
        (templates[0].fingerprint, templates[0].template.as_str()),
        (Fingerprint(0xd1), "disk <*> failed")
    );
    cancel.cancel();
}
