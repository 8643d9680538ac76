//! The consumer runner: ack after outputs, redelivery with backoff, dead letters with reasons.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tailrace_nats::config::{ConsumerConfig, PublisherConfig, StreamsConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::topology::{ConsumerSpec, Topology};
use tailrace_nats::{ConsumerRunner, Delivery, HandleError, Handler, Outgoing, Publisher};
use tailrace_schemas::{decode, ConsumerName, DeadLetter, Subject};
use tokio_util::sync::CancellationToken;

struct Harness {
    _server: TestServer,
    publisher: Publisher,
    cancel: CancellationToken,
}

impl Harness {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let publisher = Publisher::new(server.client().await, PublisherConfig::default());
        Topology::from_config(&StreamsConfig::default()).apply(publisher.jetstream()).await.unwrap();
        Self { _server: server, publisher, cancel: CancellationToken::new() }
    }

    fn config() -> ConsumerConfig {
        ConsumerConfig {
            max_deliveries: 3,
            ack_wait: Duration::from_secs(2),
            batch: 16,
            concurrency: 4,
            retry_delay: Duration::from_millis(20),
            max_retry_delay: Duration::from_millis(100),
        }
    }

    fn run<H: Handler>(&self, name: &str, handler: H) -> tokio::task::JoinHandle<()> {
        let spec =
            ConsumerSpec::new(ConsumerName::new(name).unwrap(), tailrace_schemas::StreamName::LOGS, vec![]);
        let runner = ConsumerRunner::new(spec, Self::config(), self.publisher.clone());
        let cancel = self.cancel.clone();
        tokio::spawn(async move { runner.run(handler, cancel).await.unwrap() })
    }

    async fn put(&self, subject: &str, payload: &str) {
        let out = Outgoing {
            subject: Subject::parse(subject).unwrap(),
            payload: Bytes::from(payload.to_owned()),
            msg_id: payload.to_owned(),
        };
        self.publisher.publish_and_wait(out).await.unwrap();
    }

    async fn read(&self, stream: &str, n: usize) -> Vec<async_nats::jetstream::Message> {
        let s = self.publisher.jetstream().get_stream(stream).await.unwrap();
        let c =
            s.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await.unwrap();
        let mut msgs = c.messages().await.unwrap();
        let mut out = Vec::new();
        while out.len() < n {
            let m = tokio::time::timeout(Duration::from_secs(15), msgs.next())
                .await
                .expect("message within 15 s")
                .unwrap()
                .unwrap();
            out.push(m);
        }
        out
    }

    async fn stream_len(&self, stream: &str) -> u64 {
        let mut s = self.publisher.jetstream().get_stream(stream).await.unwrap();
        s.info().await.unwrap().state.messages
    }
}

/// The input's payload to `issues.test`, with the id `consumer` derives from the input.
fn forward(d: &Delivery, consumer: &str) -> Outgoing {
    Outgoing {
        subject: Subject::parse("issues.test").unwrap(),
        payload: d.payload().clone(),
        msg_id: d.output_id(consumer, 0),
    }
}

/// Fails the first `fail_first` deliveries of every message, then forwards it to issues.
struct Flaky {
    fail_first: u64,
    calls: Arc<AtomicU64>,
}

impl Handler for Flaky {
    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if d.delivered <= self.fail_first {
            return Err(HandleError::Retry(format!("database unavailable on delivery {}", d.delivered)));
        }
        Ok(vec![forward(d, "flaky")])
    }
}

#[tokio::test]
async fn an_unacked_message_is_redelivered_and_its_output_stored_once() {
    let h = Harness::start().await;
    h.put("logs.raw.h.s", "one").await;
    let calls = Arc::new(AtomicU64::new(0));
    let task = h.run("flaky", Flaky { fail_first: 1, calls: calls.clone() });

    let out = h.read("ISSUES", 1).await;
    assert_eq!(out[0].payload.as_ref(), b"one");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "failed once, then handled on redelivery");
    h.cancel.cancel();
    task.await.unwrap();
    assert_eq!(h.stream_len("ISSUES").await, 1);
    assert_eq!(h.stream_len("DLQ").await, 0);
}

#[tokio::test]
async fn a_poison_message_lands_in_the_dlq_after_n_tries_with_its_reason() {
    let h = Harness::start().await;
    h.put("logs.raw.h.s", "poison").await;
    let calls = Arc::new(AtomicU64::new(0));
    let task = h.run("flaky", Flaky { fail_first: u64::MAX, calls: calls.clone() });

    let dead = h.read("DLQ", 1).await;
    assert_eq!(dead[0].subject.as_str(), "dlq.flaky");
    let letter: DeadLetter = decode(&dead[0].payload).unwrap();
    assert_eq!(letter.deliveries, 3);
    assert_eq!(letter.payload, b"poison");
    assert_eq!(letter.subject, "logs.raw.h.s");
    assert!(
        letter.reason.contains("failed 3 times")
            && letter.reason.contains("database unavailable on delivery 3"),
        "{}",
        letter.reason
    );
    assert!(letter.headers.iter().any(|(k, v)| k == "Nats-Msg-Id" && v == "poison"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Terminated: not delivered again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    h.cancel.cancel();
    task.await.unwrap();
}

struct Strict;

impl Handler for Strict {
    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        tailrace_schemas::decode::<tailrace_schemas::LogBatch>(d.payload())
            .map_err(|e| HandleError::Reject(e.to_string()))?;
        Ok(vec![])
    }
}

#[tokio::test]
async fn a_malformed_message_is_dead_lettered_at_once_and_the_next_one_still_handled() {
    let h = Harness::start().await;
    h.put("logs.raw.h.s", "{not json").await;
    let task = h.run("strict", Strict);
    let dead = h.read("DLQ", 1).await;
    let letter: DeadLetter = decode(&dead[0].payload).unwrap();
    assert_eq!(letter.deliveries, 1);
    assert!(letter.reason.starts_with("rejected: invalid LogBatch"), "{}", letter.reason);
    h.cancel.cancel();
    task.await.unwrap();
}

/// Counts what it sees; used to check that two runners share one durable consumer.
struct Counting(Arc<AtomicU64>);

impl Handler for Counting {
    async fn handle(&self, _: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(vec![])
    }
}

#[tokio::test]
async fn two_runners_of_one_name_split_the_work_without_duplicates() {
    let h = Harness::start().await;
    let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let ta = h.run("shared", Counting(a.clone()));
    let tb = h.run("shared", Counting(b.clone()));
    for i in 0..400 {
        h.put("logs.raw.h.s", &format!("m{i}")).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while a.load(Ordering::SeqCst) + b.load(Ordering::SeqCst) < 400 {
        assert!(tokio::time::Instant::now() < deadline, "not all handled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.load(Ordering::SeqCst) + b.load(Ordering::SeqCst), 400, "each message handled once");
    h.cancel.cancel();
    ta.await.unwrap();
    tb.await.unwrap();
}

/// Forwards each message after a delay that shrinks with its number, so later messages finish
/// handling first.
struct SlowFirst;

impl Handler for SlowFirst {
    fn concurrent(&self) -> bool {
        true
    }

    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let n: u64 = std::str::from_utf8(d.payload()).unwrap().trim_start_matches('m').parse().unwrap();
        tokio::time::sleep(Duration::from_millis(40u64.saturating_sub(n * 3))).await;
        Ok(vec![forward(d, "slow-first")])
    }
}

#[tokio::test]
async fn outputs_are_stored_in_input_order_when_later_inputs_finish_handling_first() {
    let h = Harness::start().await;
    let inputs: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    for m in &inputs {
        h.put("logs.raw.h.s", m).await;
    }
    let task = h.run("slow-first", SlowFirst);
    let out = h.read("ISSUES", inputs.len()).await;
    let got: Vec<String> = out.iter().map(|m| String::from_utf8(m.payload.to_vec()).unwrap()).collect();
    assert_eq!(got, inputs);
    h.cancel.cancel();
    task.await.unwrap();
}

/// Records how many `handle` calls were ever in progress at once.
struct Sequential {
    active: Arc<AtomicU64>,
    most: Arc<AtomicU64>,
}

impl Handler for Sequential {
    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.active.fetch_sub(1, Ordering::SeqCst);
        Ok(vec![forward(d, "sequential")])
    }
}

#[tokio::test]
async fn a_handler_that_is_not_concurrent_gets_one_message_at_a_time() {
    let h = Harness::start().await;
    for i in 0..12 {
        h.put("logs.raw.h.s", &format!("s{i}")).await;
    }
    let most = Arc::new(AtomicU64::new(0));
    let task = h.run("sequential", Sequential { active: Arc::new(AtomicU64::new(0)), most: most.clone() });
    h.read("ISSUES", 12).await;
    assert_eq!(most.load(Ordering::SeqCst), 1);
    h.cancel.cancel();
    task.await.unwrap();
}

/// Panics on `boom`, forwards everything else.
struct Fragile;

impl Handler for Fragile {
    fn concurrent(&self) -> bool {
        true
    }

    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        assert_ne!(d.payload().as_ref(), b"boom", "cannot handle this one");
        Ok(vec![forward(d, "fragile")])
    }
}

#[tokio::test]
async fn a_message_the_handler_panics_on_is_dead_lettered_and_the_rest_handled() {
    let h = Harness::start().await;
    for m in ["before", "boom", "after"] {
        h.put("logs.raw.h.s", m).await;
    }
    let task = h.run("fragile", Fragile);
    let out = h.read("ISSUES", 2).await;
    assert_eq!(out.iter().map(|m| m.payload.as_ref()).collect::<Vec<_>>(), [b"before".as_ref(), b"after"]);
    let letter: DeadLetter = decode(&h.read("DLQ", 1).await[0].payload).unwrap();
    assert_eq!(letter.payload, b"boom");
    assert!(
        letter.reason.contains("panicked") && letter.reason.contains("cannot handle this one"),
        "{}",
        letter.reason
    );
    h.cancel.cancel();
    task.await.unwrap();
}

/// An aggregating handler that panics on `boom` and counts the rest per window.
struct FragileWindow(Arc<AtomicU64>);

impl Handler for FragileWindow {
    fn window(&self) -> Option<Duration> {
        Some(Duration::from_millis(100))
    }

    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        assert_ne!(d.payload().as_ref(), b"boom", "cannot aggregate this one");
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Vec::new())
    }

    async fn flush(&self, id: tailrace_nats::FlushId) -> Result<Vec<Outgoing>, HandleError> {
        let n = self.0.swap(0, Ordering::SeqCst);
        Ok(vec![Outgoing {
            subject: Subject::parse("issues.test").unwrap(),
            payload: Bytes::from(n.to_string()),
            msg_id: id.output_id("fragile-window", 0),
        }])
    }
}

#[tokio::test]
async fn an_aggregating_handler_that_panics_dead_letters_that_message_and_keeps_running() {
    let h = Harness::start().await;
    for m in ["a", "boom", "b"] {
        h.put("logs.raw.h.s", m).await;
    }
    let task = h.run("fragile-window", FragileWindow(Arc::new(AtomicU64::new(0))));
    let letter: DeadLetter = decode(&h.read("DLQ", 1).await[0].payload).unwrap();
    assert_eq!(letter.payload, b"boom");
    assert!(letter.reason.contains("cannot aggregate this one"), "{}", letter.reason);
    // The runner lives on: the other two are counted in the windows' flushes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let counted: u64 = h
            .read("ISSUES", h.stream_len("ISSUES").await as usize)
            .await
            .iter()
            .map(|m| std::str::from_utf8(&m.payload).unwrap().parse::<u64>().unwrap())
            .sum();
        if counted == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "counted {counted} of 2");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!task.is_finished(), "the runner is still running");
    h.cancel.cancel();
    task.await.unwrap();
}

/// An in-order aggregating handler whose first flush fails.
struct FailsFirstFlush(Arc<AtomicU64>);

impl Handler for FailsFirstFlush {
    fn window(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }

    fn in_order(&self) -> bool {
        true
    }

    async fn handle(&self, _d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        Ok(Vec::new())
    }

    async fn flush(&self, _id: tailrace_nats::FlushId) -> Result<Vec<Outgoing>, HandleError> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(HandleError::Retry("the disk is full".into()));
        }
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn an_in_order_handler_whose_flush_fails_stops_the_runner_instead_of_redelivering_out_of_order() {
    let h = Harness::start().await;
    h.put("logs.raw.h.s", "one").await;
    let spec =
        ConsumerSpec::new(ConsumerName::new("in-order").unwrap(), tailrace_schemas::StreamName::LOGS, vec![]);
    let runner = ConsumerRunner::new(spec, Harness::config(), h.publisher.clone());
    let flushes = Arc::new(AtomicU64::new(0));
    let outcome = tokio::time::timeout(
        Duration::from_secs(15),
        runner.run(FailsFirstFlush(flushes.clone()), h.cancel.clone()),
    )
    .await
    .expect("the runner stopped on its own");
    match outcome {
        Err(tailrace_nats::RunnerError::Stopped { reason, .. }) => {
            assert!(reason.contains("the disk is full"), "{reason}")
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert_eq!(flushes.load(Ordering::SeqCst), 1);
}
