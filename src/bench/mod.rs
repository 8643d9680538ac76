//! `tailrace bench`: measurements that compare tailrace with the plain way of doing the same
//! thing, in one process against one server, so the ratio means something on a noisy machine.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{FileIdentity, LogBatch, LogLine, Subject, Timestamp};

use crate::config::Config;

mod controller;
mod fleet;
mod pipeline;
mod replay;
mod seed_scan;
mod seed_store;
mod server;
pub use controller::{controller, Shape as ControllerShape};
pub use fleet::{fleet, Budget};
pub use pipeline::pipeline;
pub use replay::replay;

const LINE_BYTES: usize = 200;
const SIZES: [usize; 3] = [1, 64, 512];

#[derive(Debug, Clone, Copy)]
enum Variant {
    Plain,
    Publisher,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain async-nats",
            Variant::Publisher => "tailrace Publisher",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    lines: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Run {
    fn lines_per_s(&self) -> f64 {
        self.lines as f64 / self.elapsed.as_secs_f64()
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// Encoded LogBatch messages of `lines` lines of 200 bytes, as a tail would produce them.
fn messages(lines_per_msg: usize, count: usize) -> Vec<(Bytes, String)> {
    let text: String = "x".repeat(LINE_BYTES - 12);
    (0..count)
        .map(|m| {
            let batch = LogBatch {
                v: 1,
                host: "10.55.23.41".into(),
                source: "genesis".into(),
                path: "/home/nutanix/data/logs/genesis.out".into(),
                file: Some(FileIdentity { dev: 2049, inode: 131_072 }),
                generation: 0,
                lines: (0..lines_per_msg)
                    .map(|l| {
                        let offset = ((m * lines_per_msg + l) * LINE_BYTES) as u64;
                        LogLine { offset, text: format!("{offset:>11} {text}"), lossy: false, priority: None }
                    })
                    .collect(),
                next_offset: None,
                cursor: None,
                cursor_lines: None,
                read_at: Timestamp::now(),
            };
            let id = batch.dedup_id();
            (Bytes::from(tailrace_schemas::encode(&batch).expect("encode")), id)
        })
        .collect()
}

async fn plain(js: &jetstream::Context, msgs: &[(Bytes, String)], window: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut pending: FuturesUnordered<<PublishAckFuture as IntoFuture>::IntoFuture> = FuturesUnordered::new();
    for (payload, id) in msgs {
        if pending.len() >= window {
            pending.next().await.context("ack")??;
        }
        let msg = PublishMessage::build().payload(payload.clone()).message_id(id);
        pending.push(js.send_publish("bench.raw.h.s", msg).await?.into_future());
    }
    while let Some(ack) = pending.next().await {
        ack?;
    }
    Ok(start.elapsed())
}

/// As a producer uses it: confirms in publish order (to know the delivered offset), holding at
/// most `window` unconfirmed handles, like the plain loop's window of ack futures.
async fn ours(publisher: &Publisher, msgs: &[(Bytes, String)], window: usize) -> anyhow::Result<Duration> {
    let subject = Subject::parse("bench.raw.h.s")?;
    let start = Instant::now();
    let mut handles = std::collections::VecDeque::with_capacity(window + 1);
    for (payload, id) in msgs {
        let out = Outgoing { subject: subject.clone(), payload: payload.clone(), msg_id: id.clone() };
        handles.push_back(publisher.publish(out).await);
        if handles.len() > window {
            if let Some(oldest) = handles.pop_front() {
                oldest.await?;
            }
        }
    }
    for h in handles {
        h.await?;
    }
    Ok(start.elapsed())
}

/// `tailrace bench publish`.
pub async fn publish(cfg: &Config, rounds: usize, line_budget: usize) -> anyhow::Result<()> {
    let bench = server::BenchServer::start(cfg, false).await?;
    let client = bench.client.clone();
    // Both sides send the same bytes: this measures the publisher's bookkeeping, not compression
    // (which `bench pipeline` measures).
    let pub_cfg = PublisherConfig { max_in_flight: 256, compress_from: 0, ..cfg.nats.publisher.clone() };
    let window = pub_cfg.max_in_flight;
    let publisher = Publisher::new(client.clone(), pub_cfg);
    let js = jetstream::new(client);
    let mut bench_stream = js
        .create_stream(stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;

    let mut table = Vec::new();
    for lines in SIZES {
        let count = (line_budget / lines).max(2_000);
        let msgs = messages(lines, count);
        let mut results: Vec<(Variant, Run)> = Vec::new();
        for round in 0..rounds {
            // Alternate who goes first so neither always meets a warmer or fuller store.
            let order = if round % 2 == 0 {
                [Variant::Plain, Variant::Publisher]
            } else {
                [Variant::Publisher, Variant::Plain]
            };
            for variant in order {
                bench_stream.purge().await?;
                let elapsed = match variant {
                    Variant::Plain => plain(&js, &msgs, window).await?,
                    Variant::Publisher => ours(&publisher, &msgs, window).await?,
                };
                let run = Run {
                    lines: (count * lines) as u64,
                    bytes: msgs.iter().map(|(p, _)| p.len() as u64).sum(),
                    elapsed,
                };
                eprintln!(
                    "bench: {lines:>3} lines/msg, round {}/{rounds}, {:<18} {:>10.0} lines/s {:>8.1} MB/s",
                    round + 1,
                    variant.name(),
                    run.lines_per_s(),
                    run.mb_per_s()
                );
                results.push((variant, run));
            }
        }
        let median = |v: Variant| {
            let mut runs: Vec<Run> = results
                .iter()
                .filter(|(x, _)| std::mem::discriminant(x) == std::mem::discriminant(&v))
                .map(|(_, r)| *r)
                .collect();
            runs.sort_by_key(|r| r.elapsed);
            runs[runs.len() / 2]
        };
        table.push((lines, count, median(Variant::Plain), median(Variant::Publisher)));
    }
    bench_stream.info().await?;
    js.delete_stream("BENCH").await?;
    bench.stop().await;

    say("| lines/msg | msgs | plain lines/s | plain MB/s | Publisher lines/s | Publisher MB/s | Publisher / plain |");
    say("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (lines, count, p, o) in table {
        say(&format!(
            "| {lines} | {count} | {:.0} | {:.1} | {:.0} | {:.1} | {:.2} |",
            p.lines_per_s(),
            p.mb_per_s(),
            o.lines_per_s(),
            o.mb_per_s(),
            o.lines_per_s() / p.lines_per_s()
        ));
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // the table is the command's output
fn say(line: &str) {
    println!("{line}");
}
