//! `tailrace bench replay`: reading a stream's history through `tailrace_nats::replay` (what
//! `tailrace replay`, the history views and sink rebuilds use) beside a plain async-nats ordered
//! consumer over the same messages, in one process against one server, rounds alternating.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::replay::{self, Start};
use tailrace_nats::{Outgoing, Publisher, Topology};
use tailrace_schemas::{StreamName, Subject};

use super::server::BenchServer;
use crate::config::Config;

pub async fn replay(cfg: &Config, lines: usize, per_message: usize, rounds: usize) -> anyhow::Result<()> {
    let bench = BenchServer::start(cfg, false).await?;
    let js = jetstream::new(bench.client.clone());
    Topology::from_config(&cfg.nats.streams).apply(&js).await?;
    let count = lines.div_ceil(per_message).max(1);
    eprintln!("bench: publishing {count} LogBatch messages of {per_message} lines of 200 bytes to LOGS…");
    let publisher = Publisher::new(
        bench.client.clone(),
        PublisherConfig { max_in_flight: 512, ..cfg.nats.publisher.clone() },
    );
    let subject = Subject::parse("logs.raw.10_55_23_41.genesis")?;
    let mut acks = Vec::with_capacity(count);
    let mut published = 0usize;
    while published < count {
        let chunk = (count - published).min(10_000);
        for (payload, id) in super::messages(per_message, chunk) {
            let out = Outgoing { subject: subject.clone(), payload, msg_id: format!("{published}/{id}") };
            acks.push(publisher.publish(out).await);
            published += 1;
        }
        for a in acks.drain(..) {
            a.await.context("publishing")?;
        }
        eprintln!("bench: {published} of {count} published");
    }
    let last = replay::last_sequence(&js, StreamName::LOGS).await?;
    let bytes = js.get_stream("LOGS").await?.info().await?.state.bytes;
    let pages: Vec<(usize, Vec<Duration>)> = {
        let mut pages = Vec::new();
        for limit in [100, 1000] {
            pages.push((limit, history_pages(cfg, &bench.client, last, limit, 200).await?));
        }
        pages
    };

    let mut runs: [Vec<Duration>; 5] = Default::default();
    for round in 1..=rounds {
        runs[0].push(plain(&js, last, false).await?);
        runs[1].push(ours(&js, last, Output::AsStored).await?);
        runs[2].push(ours(&js, last, Output::Decoded).await?);
        runs[3].push(ours(&js, last, Output::JsonLines).await?);
        runs[4].push(plain(&js, last, true).await?);
        eprintln!(
            "bench: round {round} of {rounds}: plain {:.2?}, replay {:.2?}, decoded only {:.2?}, as JSON lines {:.2?}, plain as JSON lines {:.2?}",
            runs[0][round - 1],
            runs[1][round - 1],
            runs[2][round - 1],
            runs[3][round - 1],
            runs[4][round - 1]
        );
    }
    bench.stop().await;

    let median = |v: &Vec<Duration>| {
        let mut v = v.clone();
        v.sort();
        v[v.len() / 2]
    };
    let total_lines = (count * per_message) as f64;
    let plain_median = median(&runs[0]);
    crate::cli::say(&format!(
        "{count} messages ({} lines, {:.0} MB stored) read from sequence 1 to {last}; median of {rounds} rounds\n",
        count * per_message,
        bytes as f64 / 1e6
    ));
    crate::cli::say("| | messages/s | lines/s | of the plain rate |\n| --- | ---: | ---: | ---: |");
    for (name, v) in [
        ("plain async-nats ordered consumer", &runs[0]),
        ("tailrace_nats::replay::history (payloads as stored)", &runs[1]),
        (
            "the same, each message only decoded (zstd, MessagePack: the least any JSON output costs)",
            &runs[2],
        ),
        ("the same, decoded and written as JSON lines (`tailrace replay`)", &runs[3]),
        ("the plain consumer, each message written as JSON lines by the same writer", &runs[4]),
    ] {
        let m = median(v).as_secs_f64();
        crate::cli::say(&format!(
            "| {name} | {:.0} | {:.0} | {:.2} |",
            count as f64 / m,
            total_lines / m,
            plain_median.as_secs_f64() / m
        ));
    }
    let quantile = |v: &Vec<Duration>, q: f64| {
        let mut v = v.clone();
        v.sort();
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    crate::cli::say("\n| history page (`GET /api/v1/logs/history`, at random depths) | p50 | p99 |\n| --- | ---: | ---: |");
    for (limit, times) in &pages {
        crate::cli::say(&format!(
            "| {limit} lines | {:.2} ms | {:.2} ms |",
            quantile(times, 0.5).as_secs_f64() * 1e3,
            quantile(times, 0.99).as_secs_f64() * 1e3
        ));
    }
    Ok(())
}

/// `runs` history pages of `limit` lines, each before a sequence spread over the whole stream,
/// asked of the gateway's router in this process (no socket: the page's own work).
async fn history_pages(
    cfg: &Config,
    client: &async_nats::Client,
    last: u64,
    limit: usize,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    use tower::ServiceExt;
    let state =
        tailrace_gateway::AppState::new(client.clone(), cfg.gateway.clone(), cfg.nats.streams.clone());
    let app = tailrace_gateway::app(state);
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        // Spread evenly, in a scrambled order, so no page is served from the last one's reads.
        let before = 1 + (i as u64 * 7919 % runs as u64) * last / runs as u64;
        let uri = format!("/api/v1/logs/history?subject=logs.raw.%3E&limit={limit}&before={before}");
        let request = axum::http::Request::get(uri).body(axum::body::Body::empty())?;
        let started = Instant::now();
        let response = app.clone().oneshot(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        times.push(started.elapsed());
        anyhow::ensure!(status.is_success(), "history page: {status}: {}", String::from_utf8_lossy(&body));
    }
    eprintln!("bench: {runs} history pages of {limit} lines");
    Ok(times)
}

/// A plain ordered pull consumer of LOGS from the first message until `last`; with `json`,
/// each message written as `tailrace replay` writes it, by the same writer.
async fn plain(js: &jetstream::Context, last: u64, json: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let consumer =
        js.get_stream_no_info("LOGS").await?.create_consumer(pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    let mut out = crate::replay::JsonLines::new(std::io::BufWriter::new(std::io::sink()));
    while let Some(m) = messages.next().await {
        let m = m?;
        let info = m.info().map_err(|e| anyhow::anyhow!("{e}"))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        if json {
            let stored_at = i64::try_from(info.published.unix_timestamp_nanos())
                .ok()
                .map(tailrace_schemas::Timestamp::from_nanos);
            let subject = m.subject.to_string();
            out.push(replay::Replayed { seq, subject, payload: m.payload.clone(), pending, stored_at })
                .await?;
        } else {
            std::hint::black_box(m.payload.len());
        }
        if seq >= last {
            break;
        }
    }
    out.finish().await?;
    Ok(started.elapsed())
}

/// What [`ours`] does with each message read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Nothing: the payload as stored.
    AsStored,
    /// Decompressed and decoded into a `LogBatch`, in chunks on the blocking pool as
    /// `tailrace replay` encodes them: a bound on any JSON output's rate.
    Decoded,
    /// Decoded and written as `tailrace replay` writes it (to a sink, not a terminal).
    JsonLines,
}

/// The same through the project's reader, each message handled as `output` says.
async fn ours(js: &jetstream::Context, last: u64, output: Output) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut messages = replay::history(js, StreamName::LOGS, "logs.raw.>", Start::Sequence(1)).await?;
    let sink = std::io::BufWriter::new(std::io::sink());
    let mut out = match output {
        Output::Decoded => crate::replay::JsonLines::with_encoder(sink, |m, _| {
            std::hint::black_box(tailrace_schemas::decode::<tailrace_schemas::LogBatch>(&m.payload).ok());
            Ok(())
        }),
        Output::AsStored | Output::JsonLines => crate::replay::JsonLines::new(sink),
    };
    let mut seen = 0u64;
    while let Some(m) = messages.next().await {
        let m = m?;
        seen = m.seq;
        if output == Output::AsStored {
            std::hint::black_box(m.payload.len());
        } else {
            out.push(m).await?;
        }
    }
    out.finish().await?;
    anyhow::ensure!(seen >= last, "the replay ended at {seen}, before {last}");
    Ok(started.elapsed())
}
