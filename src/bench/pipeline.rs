//! `tailrace bench pipeline`: raw lines through classify and fingerprint to issues, beside the
//! consumer runner copying the same messages without looking at them (the broker's and the
//! runner's share of the cost), against one throwaway server.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::topology::{ConsumerSpec, Topology};
use tailrace_nats::{ConsumerRunner, Delivery, HandleError, Handler, Outgoing, Publisher};
use tailrace_processors::registry::{self, Context};
use tailrace_processors::synthetic::{self, LINE_BYTES};
use tailrace_schemas::{ConsumerName, Subject};
use tokio_util::sync::CancellationToken;

use super::say;
use super::server::{reached, BenchServer, Point};
use crate::config::Config;

const LINES_PER_BATCH: usize = 512;

/// Republishes every message unchanged: the runner and the broker, without any processing.
struct Copy;

impl Handler for Copy {
    fn concurrent(&self) -> bool {
        true
    }

    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let subject = Subject::parse("benchcopy.raw").map_err(|e| HandleError::Reject(e.to_string()))?;
        Ok(vec![Outgoing { subject, payload: d.payload().clone(), msg_id: d.output_id("copy", 0) }])
    }
}

pub async fn pipeline(cfg: &Config, lines: usize) -> anyhow::Result<()> {
    let bench = BenchServer::start(cfg, true).await?;
    let client = bench.client.clone();
    let js = jetstream::new(client.clone());
    Topology::from_config(&cfg.nats.streams).apply(&js).await?;
    for stream in ["LOGS", "CLASSIFIED", "ISSUES"] {
        let held = js.get_stream(stream).await?.info().await?.state.messages;
        anyhow::ensure!(
            held == 0,
            "{stream} already holds {held} messages: the bench needs servers that hold nothing"
        );
    }
    js.create_stream(stream::Config {
        name: "BENCHCOPY".into(),
        subjects: vec!["benchcopy.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let publisher =
        Publisher::new(client.clone(), PublisherConfig { max_in_flight: 256, ..cfg.nats.publisher.clone() });

    let input = synthetic::batches(lines, LINES_PER_BATCH);
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
    let spec = ConsumerSpec::new(ConsumerName::new("copy")?, tailrace_schemas::StreamName::LOGS, vec![]);
    let copy = tokio::spawn(
        ConsumerRunner::new(spec, consumer.clone(), publisher.clone()).run(Copy, cancel.clone()),
    );
    let copied = reached(&js, "LOGS", "copy", Point::Acked, messages).await?;
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
    let classified = reached(&js, "LOGS", "classify", Point::Acked, messages).await?;
    let classified_msgs = js.get_stream("CLASSIFIED").await?.info().await?.state.messages;
    reached(&js, "CLASSIFIED", "fingerprint", Point::Delivered, classified_msgs).await?;
    let fingerprinted = start.elapsed();
    reached(&js, "CLASSIFIED", "fingerprint", Point::Acked, classified_msgs).await?;
    let through = start.elapsed();
    cancel.cancel();
    for t in tasks {
        t.await??;
    }
    let issues = js.get_stream("ISSUES").await?.info().await?.state.messages;
    let raw_bytes = js.get_stream("LOGS").await?.info().await?.state.bytes;
    let classified_bytes = js.get_stream("CLASSIFIED").await?.info().await?.state.bytes;
    bench.stop().await;

    let rate = |d: Duration| lines as f64 / d.as_secs_f64();
    let servers = match &cfg.nats.url {
        Some(url) => {
            format!("{} nats-server(s), {} replicas", url.split(',').count(), cfg.nats.streams.replicas)
        }
        None => "one nats-server".to_owned(),
    };
    say(&format!("{lines} lines of {LINE_BYTES} bytes, {messages} messages of {LINES_PER_BATCH} lines, {servers}, this machine's cores shared by all"));
    say(&format!(
        "stored: LOGS {:.1} MB, CLASSIFIED {:.1} MB for {:.1} MB of line text (nats.publisher.compress_from = {})",
        raw_bytes as f64 / 1e6,
        classified_bytes as f64 / 1e6,
        (lines * LINE_BYTES) as f64 / 1e6,
        cfg.nats.publisher.compress_from
    ));
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
        "| classify + fingerprint: raw -> fingerprinted (all delivered to fingerprint) | {:.2} | {:.0} | {:.2} |",
        fingerprinted.as_secs_f64(),
        rate(fingerprinted),
        rate(fingerprinted) / rate(copied)
    ));
    say(&format!(
        "| the same until all {issues} occurrences are stored, the last window's included (+ up to {:?} window) | {:.2} | {:.0} | {:.2} |",
        cfg.processors.fingerprint.window,
        through.as_secs_f64(),
        rate(through),
        rate(through) / rate(copied)
    ));
    Ok(())
}
