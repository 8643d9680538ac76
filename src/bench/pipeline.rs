//! `tailrace bench pipeline`: raw lines through classify and fingerprint to issues, beside the
//! consumer runner copying the same messages without looking at them (the broker's and the
//! runner's share of the cost), against one throwaway server.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use tailrace_nats::config::{PublisherConfig, ServerConfig};
use tailrace_nats::topology::{ConsumerSpec, Topology};
use tailrace_nats::{ConsumerRunner, Delivery, HandleError, Handler, ManagedServer, Outgoing, Publisher};
use tailrace_processors::registry::{self, Context};
use tailrace_schemas::{ConsumerName, HostId, LogBatch, LogLine, SourceId, Subject, Timestamp};
use tokio_util::sync::CancellationToken;

use super::say;
use crate::config::Config;

const LINE_BYTES: usize = 200;
const LINES_PER_BATCH: usize = 512;

/// A line of 200 bytes: one in ten is a warning or an error of a handful of templates.
fn line(n: usize) -> String {
    let body = match n % 20 {
        0 => format!("ERROR Connection to 10.0.{}.{}:5432 timed out after {}ms", n % 250, n % 7, n % 9000),
        1 => format!("WARN Disk /dev/sd{} is {}% full on node-{}", n % 4, n % 100, n % 64),
        _ => format!("INFO request {n} served in {}us for user{}", n % 5000, n % 300),
    };
    let mut text =
        format!("2026-11-23 10:{:02}:{:02},{:03} {body} ", n / 60_000 % 60, n / 1000 % 60, n % 1000);
    while text.len() < LINE_BYTES {
        text.push('.');
    }
    text.truncate(LINE_BYTES);
    text
}

fn batches(lines: usize) -> Vec<LogBatch> {
    (0..lines.div_ceil(LINES_PER_BATCH))
        .map(|b| {
            let first = b * LINES_PER_BATCH;
            let last = (first + LINES_PER_BATCH).min(lines);
            LogBatch {
                v: 1,
                host: HostId::new(format!("node-{}", b % 8)),
                source: SourceId::new("server"),
                path: "/var/log/server-app.log".into(),
                file: None,
                generation: 0,
                lines: (first..last)
                    .map(|n| LogLine { offset: (n * LINE_BYTES) as u64, text: line(n), lossy: false })
                    .collect(),
                next_offset: Some((last * LINE_BYTES) as u64),
                read_at: Timestamp::now(),
            }
        })
        .collect()
}

/// Republishes every message unchanged: the runner and the broker, without any processing.
struct Copy;

impl Handler for Copy {
    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let subject = Subject::parse("benchcopy.raw").map_err(|e| HandleError::Reject(e.to_string()))?;
        Ok(vec![Outgoing { subject, payload: d.payload().clone(), msg_id: d.output_id("copy", 0) }])
    }
}

/// Waits until `consumer` on `stream` has nothing pending or unacked, printing progress.
async fn drained(
    js: &jetstream::Context,
    stream: &str,
    consumer: &str,
    total: u64,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let s = js.get_stream(stream).await?;
        if let Ok(info) = s.consumer_info(consumer).await {
            let left = info.num_pending + info.num_ack_pending as u64;
            if left == 0 && info.delivered.stream_sequence > 0 {
                return Ok(start.elapsed());
            }
            if last_report.elapsed() >= Duration::from_secs(2) {
                eprintln!("bench: {consumer}: {left} of {total} messages left");
                last_report = Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn pipeline(cfg: &Config, lines: usize) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("tailrace-bench-").tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let server = ManagedServer::start(&ServerConfig { port, ..cfg.nats.server.clone() }, dir.path()).await?;
    eprintln!("bench: nats-server at {} (store {})", server.url(), dir.path().display());
    let client = tailrace_nats::connect(&cfg.nats, Some(server.url()), "tailrace-bench").await?;
    let js = jetstream::new(client.clone());
    Topology::from_config(&cfg.nats.streams).apply(&js).await?;
    js.create_stream(stream::Config {
        name: "BENCHCOPY".into(),
        subjects: vec!["benchcopy.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let publisher =
        Publisher::new(client.clone(), PublisherConfig { max_in_flight: 256, ..cfg.nats.publisher.clone() });

    let input = batches(lines);
    let messages = input.len() as u64;
    eprintln!("bench: publishing {lines} lines of {LINE_BYTES} bytes in {messages} LogBatch messages…");
    let start = Instant::now();
    let mut acks = Vec::with_capacity(input.len());
    for b in &input {
        let subject = tailrace_schemas::subject::logs_raw(&b.host, &b.source);
        acks.push(publisher.publish(Outgoing::encode(subject, b, b.dedup_id())?).await);
    }
    for a in acks {
        a.await?;
    }
    let ingest = start.elapsed();
    drop(input);

    let consumer = cfg.nats.consumer.clone();
    eprintln!("bench: copy (the consumer runner republishing each message untouched)…");
    let cancel = CancellationToken::new();
    let spec = ConsumerSpec::new(ConsumerName::new("copy")?, tailrace_nats::topology::LOGS, vec![]);
    let copy = tokio::spawn(
        ConsumerRunner::new(spec, consumer.clone(), publisher.clone()).run(Copy, cancel.clone()),
    );
    let copied = drained(&js, "LOGS", "copy", messages).await?;
    cancel.cancel();
    copy.await??;

    eprintln!("bench: classify and fingerprint, together…");
    let cancel = CancellationToken::new();
    let ctx = Context { js: js.clone(), publisher: publisher.clone(), consumer, cfg: cfg.processors.clone() };
    let mut tasks = Vec::new();
    let start = Instant::now();
    for name in ["classify", "fingerprint"] {
        tasks.push(registry::start(name, &ctx, cancel.clone()).await?);
    }
    let classified = drained(&js, "LOGS", "classify", messages).await?;
    let classified_msgs = js.get_stream("CLASSIFIED").await?.info().await?.state.messages;
    drained(&js, "CLASSIFIED", "fingerprint", classified_msgs).await?;
    cancel.cancel();
    for t in tasks {
        t.await??;
    }
    let through = start.elapsed();
    let issues = js.get_stream("ISSUES").await?.info().await?.state.messages;
    server.stop().await;

    let rate = |d: Duration| lines as f64 / d.as_secs_f64();
    say(&format!("{lines} lines of {LINE_BYTES} bytes, {messages} messages of {LINES_PER_BATCH} lines, one nats-server, this machine's cores shared by all"));
    say("");
    say("| stage | seconds | lines/s | vs copy |");
    say("| --- | ---: | ---: | ---: |");
    say(&format!(
        "| publish to logs.raw (Publisher) | {:.2} | {:.0} | |",
        ingest.as_secs_f64(),
        rate(ingest)
    ));
    say(&format!(
        "| copy: runner republishing untouched | {:.2} | {:.0} | 1.00 |",
        copied.as_secs_f64(),
        rate(copied)
    ));
    say(&format!(
        "| classify: logs.raw -> logs.classified | {:.2} | {:.0} | {:.2} |",
        classified.as_secs_f64(),
        rate(classified),
        rate(classified) / rate(copied)
    ));
    say(&format!(
        "| classify + fingerprint: raw -> issues ({issues} occurrences) | {:.2} | {:.0} | {:.2} |",
        through.as_secs_f64(),
        rate(through),
        rate(through) / rate(copied)
    ));
    Ok(())
}
