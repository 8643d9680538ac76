//! The issue table against a real nats-server: every occurrence counted exactly once, across
//! redeliveries, aborted runs and rebuilds.

use std::collections::BTreeMap;
use std::time::Duration;

use tailrace_nats::config::{ConsumerConfig, PublisherConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{subject, Fingerprint, IssueOccurrence, Scope, Severity, StreamName, Timestamp};
use tailrace_sinks::issues::{IssueQuery, IssueSort, IssuesSink, IssuesView};
use tailrace_sinks::{Sink, SinkContext, Tables};
use tokio_util::sync::CancellationToken;

/// Occurrence `i`: one of 7 issues in 3 scopes, counts 1..=5.
fn occurrence(i: u64) -> IssueOccurrence {
    let issue = i % 7;
    IssueOccurrence {
        v: 1,
        scope: Scope::new(format!("scope-{}", issue % 3)),
        fingerprint: Fingerprint(0x1000 + issue),
        severity: if issue % 2 == 0 { Severity::Error } else { Severity::Warn },
        message: format!("template {issue} <*>"),
        count: 1 + i % 5,
        first_seen: Timestamp::from_unix_seconds(1_800_000_000 + i as i64),
        last_seen: Timestamp::from_unix_seconds(1_800_000_000 + i as i64 + 1),
        sample: format!("line {i}"),
        host: Some(format!("host-{}", i % 4).as_str().into()),
        source: Some("app".into()),
        app: None,
        customer: None,
        reported_at: None,
    }
}

/// What the table must say: (scope, fingerprint) → total count.
fn expected(n: u64) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for i in 0..n {
        let o = occurrence(i);
        *out.entry((o.scope.as_str().to_owned(), o.fingerprint.to_string())).or_insert(0) += o.count;
    }
    out
}

async fn publish(publisher: &Publisher, range: std::ops::Range<u64>) {
    for i in range {
        let o = occurrence(i);
        let out = Outgoing::encode(subject::issues(&o.scope), &o, format!("occ/{i}")).unwrap();
        publisher.publish_and_wait(out).await.unwrap();
    }
}

fn counts(view: &IssuesView) -> BTreeMap<(String, String), u64> {
    let page = view.list(&IssueQuery { limit: 1000, ..Default::default() }, Timestamp::now()).unwrap();
    page.issues.into_iter().map(|i| ((i.row.scope, i.row.fingerprint), i.row.count)).collect()
}

struct World {
    _nats: TestServer,
    client: async_nats::Client,
    publisher: Publisher,
    dir: tempfile::TempDir,
    tables: Tables,
}

impl World {
    async fn new() -> Self {
        let nats = TestServer::start_with_topology().await;
        let client = nats.client().await;
        let publisher = Publisher::new(client.clone(), PublisherConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let tables = Tables::open(&dir.path().join("sled")).unwrap();
        Self { _nats: nats, client, publisher, dir, tables }
    }

    fn ctx(&self) -> SinkContext {
        SinkContext {
            client: self.client.clone(),
            publisher: self.publisher.clone(),
            consumer: ConsumerConfig { ack_wait: Duration::from_secs(2), batch: 16, ..Default::default() },
            tables: self.tables.clone(),
            retention: Default::default(),
        }
    }

    fn start(&self) -> (CancellationToken, tokio::task::JoinHandle<Result<(), tailrace_sinks::SinkError>>) {
        let cancel = CancellationToken::new();
        (cancel.clone(), tokio::spawn(tailrace_sinks::run(IssuesSink, self.ctx(), cancel)))
    }

    async fn last_seq(&self) -> u64 {
        tailrace_nats::replay::last_sequence(self.publisher.jetstream(), StreamName::ISSUES).await.unwrap()
    }

    /// Waits until the table has applied everything stored.
    async fn caught_up(&self) {
        let last = self.last_seq().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.tables.applied("issues", StreamName::ISSUES).unwrap() < last {
            assert!(tokio::time::Instant::now() < deadline, "the sink did not catch up within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_occurrence_is_counted_once_and_queries_sort_and_filter() {
    let w = World::new().await;
    publish(&w.publisher, 0..300).await;
    let (cancel, task) = w.start();
    w.caught_up().await;
    let view = IssuesView::new(&w.tables).unwrap();
    assert_eq!(counts(&view), expected(300));

    let errors = view
        .list(
            &IssueQuery { severity: Some(Severity::Error), limit: 100, ..Default::default() },
            Timestamp::now(),
        )
        .unwrap();
    assert!(errors.issues.iter().all(|i| i.row.severity == Severity::Error) && errors.total == 4);
    let scope0 = view
        .list(
            &IssueQuery { scope: Some("scope-0".into()), limit: 100, ..Default::default() },
            Timestamp::now(),
        )
        .unwrap();
    assert!(scope0.issues.iter().all(|i| i.row.scope == "scope-0") && scope0.total == 3);
    let top = view
        .list(&IssueQuery { sort: IssueSort::Count, limit: 2, ..Default::default() }, Timestamp::now())
        .unwrap();
    assert!(top.issues[0].row.count >= top.issues[1].row.count);
    assert_eq!((top.total, top.issues.len()), (7, 2));
    let one = &top.issues[0].row;
    assert_eq!(view.get(&one.scope, &one.fingerprint).unwrap().as_ref(), Some(one));
    assert_eq!(one.hosts.len(), 4);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_aborted_at_any_moment_and_started_again_counts_nothing_twice() {
    let w = World::new().await;
    let publisher = w.publisher.clone();
    let writer = tokio::spawn(async move { publish(&publisher, 0..600).await });
    // Aborted mid-window, mid-write, between the sled write and the acks: wherever it lands,
    // over two and a half windows (so most rounds reach a write).
    let spread = IssuesSink.window().as_millis() as u64 * 5 / 2;
    for round in 0..12u64 {
        let (_cancel, task) = w.start();
        tokio::time::sleep(Duration::from_millis(60 + (round * 211) % spread)).await;
        task.abort();
        let _ = task.await;
    }
    writer.await.unwrap();
    let (cancel, task) = w.start();
    w.caught_up().await;
    assert_eq!(counts(&IssuesView::new(&w.tables).unwrap()), expected(600));
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_clears_the_table_and_materializes_the_same_from_the_stream_while_it_runs() {
    let w = World::new().await;
    publish(&w.publisher, 0..200).await;
    let (cancel, task) = w.start();
    w.caught_up().await;
    let view = IssuesView::new(&w.tables).unwrap();
    let before = counts(&view);

    let reply = w.client.request(tailrace_sinks::rebuild_subject("issues"), "".into()).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["status"], "rebuilding");
    publish(&w.publisher, 200..250).await; // the system keeps running
    w.caught_up().await;
    assert_eq!(counts(&view), expected(250));
    assert_ne!(before, expected(250));
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_lost_while_the_consumer_remembers_its_place_are_materialized_again() {
    let w = World::new().await;
    publish(&w.publisher, 0..100).await;
    let (cancel, task) = w.start();
    w.caught_up().await;
    cancel.cancel();
    task.await.unwrap().unwrap();
    // The operator deletes the sled directory (or it was corrupted and moved away).
    let path = w.dir.path().join("fresh-sled");
    let tables = Tables::open(&path).unwrap();
    let ctx = SinkContext { tables: tables.clone(), ..w.ctx() };
    let cancel = CancellationToken::new();
    let task = tokio::spawn(tailrace_sinks::run(IssuesSink, ctx, cancel.clone()));
    let last = w.last_seq().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tables.applied("issues", StreamName::ISSUES).unwrap() < last {
        assert!(tokio::time::Instant::now() < deadline, "not rebuilt from the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counts(&IssuesView::new(&tables).unwrap()), expected(100));
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// Occurrence `fp` of customer b's report made at `at`.
fn reported(fp: u64, at: Timestamp) -> IssueOccurrence {
    IssueOccurrence {
        scope: Scope::new("shop"),
        fingerprint: Fingerprint(fp),
        app: Some("shop".into()),
        customer: Some("b".into()),
        reported_at: Some(at),
        first_seen: at,
        last_seen: at,
        ..occurrence(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_the_first_layout_is_migrated_so_a_replayed_report_counts_once() {
    let w = World::new().await;
    let at = |i: i64| Timestamp::from_unix_seconds(1_800_000_000 + i * 3600);
    // What layout 1 left: an issue counted from five reports the stream no longer holds, each
    // marked under a key of its own (the report's key, then scope, NUL, fingerprint).
    let tree = w.tables.tree("issues").unwrap();
    let first = reported(7, at(0));
    let mut row = tailrace_sinks::issues::IssueRow::new(&first, &first.fingerprint.to_string());
    for i in 0..5 {
        let counted = reported(7, at(i));
        row.absorb(&counted);
        let mark = [
            b"report/b\0".as_slice(),
            &at(i).as_nanos().to_be_bytes(),
            b"shop\0",
            counted.fingerprint.to_string().as_bytes(),
        ]
        .concat();
        tree.insert(mark, Vec::new()).unwrap();
    }
    tree.insert(
        [b"issue/shop\0".as_slice(), Fingerprint(7).to_string().as_bytes()].concat(),
        tailrace_sinks::staged::encode(&row),
    )
    .unwrap();

    // The stream holds the last of those reports again (a replay), with an issue the table has
    // not counted, twice.
    for (i, o) in [reported(7, at(4)), reported(8, at(4)), reported(8, at(4))].iter().enumerate() {
        let out = Outgoing::encode(subject::issues(&o.scope), o, format!("replay/{i}")).unwrap();
        w.publisher.publish_and_wait(out).await.unwrap();
    }
    let (cancel, task) = w.start();
    w.caught_up().await;
    let by_fp: BTreeMap<String, u64> =
        counts(&IssuesView::new(&w.tables).unwrap()).into_iter().map(|((_, fp), n)| (fp, n)).collect();
    assert_eq!(
        by_fp,
        BTreeMap::from([(Fingerprint(7).to_string(), 5), (Fingerprint(8).to_string(), 1)]),
        "the table is kept (not rebuilt from what the stream holds), the replayed report counts \
         nothing again, the new issue counts once"
    );
    let marks = tree.scan_prefix(b"report/").count();
    assert_eq!(marks, 5, "one row of marks per report");
    cancel.cancel();
    task.await.unwrap().unwrap();
}
