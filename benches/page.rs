//! The live view under load, in a real headless Chromium against a real gateway and
//! nats-server: lines arriving at a fixed rate for a while, the page's frame times (from
//! `requestAnimationFrame`) and JavaScript heap, beside the same lines appended to a plain
//! `<pre>` from the same SSE stream in the same run (see BENCHMARKS.md).
//!
//! ```sh
//! cargo bench --bench page                       # 10,000 lines/s for 10 s (100,000 lines)
//! RATE=5000 SECONDS=20 cargo bench --bench page
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use tailrace_gateway::browser::Browser;
use tailrace_gateway::testing::serve;
use tailrace_gateway::{AppState, GatewayConfig};
use tailrace_nats::config::StreamsConfig;
use tailrace_nats::testing::TestServer;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A batch of `n` lines of about 120 bytes, numbered from `first`; every 50th an error.
fn batch(first: u64, n: u64) -> bytes::Bytes {
    let b = tailrace_schemas::LogBatch {
        v: 1,
        host: "bench".into(),
        source: "app".into(),
        path: "/var/log/app.log".into(),
        file: None,
        generation: 0,
        lines: (first..first + n)
            .map(|i| tailrace_schemas::LogLine {
                offset: i * 128,
                text: format!(
                    "2026-12-05 10:00:00.{:03} {} [worker-{}] app.jobs - job {i:08} step {} done in {} ms",
                    i % 1000,
                    if i % 50 == 0 { "ERROR" } else { "INFO" },
                    i % 16,
                    i % 7,
                    i % 997
                ),
                lossy: false,
                priority: None,
            })
            .collect(),
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: tailrace_schemas::Timestamp::now(),
    };
    tailrace_schemas::encode(&b).unwrap().into()
}

/// Records frame times from now until `window.__stop`.
const RECORD_FRAMES: &str = "window.__frames = []; window.__stop = false; \
    const tick = (t) => { window.__frames.push(t); if (!window.__stop) requestAnimationFrame(tick); }; \
    requestAnimationFrame(tick);";

/// The baseline: the same SSE stream, each line appended to a `<pre>` as text.
const PLAIN_PRE: &str = "document.body.innerHTML = '<pre id=plain></pre>'; window.__n = 0; \
    const pre = document.getElementById('plain'); \
    const es = new EventSource('/api/v1/stream?subject=logs.raw.bench.%3E&from=' + arguments[0]); \
    es.onmessage = (m) => { const d = JSON.parse(m.data); for (const l of d.payload.lines) { \
      pre.append(l.text + '\\n'); window.__n++; } };";

/// p50, p95 and max of the frame intervals, heap MB, lines in the DOM.
const SUMMARY: &str = "window.__stop = true; const f = window.__frames; const d = []; \
    for (let i = 1; i < f.length; i++) d.push(f[i] - f[i - 1]); d.sort((a, b) => a - b); \
    const q = (p) => d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))] : 0; \
    const held = document.getElementById('plain') ? window.__n : document.querySelectorAll('#log .ln').length; \
    return [q(0.5), q(0.95), d.length ? d[d.length - 1] : 0, (performance.memory?.usedJSHeapSize ?? 0) / 1048576, held, d.length];";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rate = env_num("RATE", 10_000);
    let seconds = env_num("SECONDS", 10);
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;
    let browser = Browser::start().await;
    let total = rate * seconds;
    let per_tick = (rate / 100).max(1);
    let mut first = 0u64;
    let mut rows = Vec::new();
    for variant in ["tailrace log viewer (/subject)", "plain <pre> appended to"] {
        let plain = variant.starts_with("plain");
        let last = js.get_stream("LOGS").await.unwrap().info().await.unwrap().state.last_sequence;
        if plain {
            browser.client.goto(&format!("{base}/subject")).await.unwrap();
            browser.client.execute(PLAIN_PRE, vec![serde_json::json!(last + 1)]).await.unwrap();
        } else {
            browser.client.goto(&format!("{base}/subject?subject=logs.raw.bench.%3E")).await.unwrap();
            browser
                .wait_for(
                    "document.getElementById('status').textContent.startsWith('live')",
                    Duration::from_secs(20),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.client.execute(RECORD_FRAMES, vec![]).await.unwrap();
        eprintln!("page bench: {variant}: {rate} lines/s for {seconds} s…");
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut sent = 0u64;
        while sent < total {
            tick.tick().await;
            js.publish("logs.raw.bench.app", batch(first + sent, per_tick)).await.unwrap();
            sent += per_tick;
        }
        let took = started.elapsed();
        // Until the page has taken every line (the viewer counts what it received).
        let received = if plain {
            format!("window.__n >= {total}")
        } else {
            format!("document.getElementById('counts').textContent.replace(/[^0-9 ]/g, '').trim().startsWith('{total}')")
        };
        browser.wait_for(&received, Duration::from_secs(120)).await;
        let behind = started.elapsed() - took;
        let s = browser.client.execute(SUMMARY, vec![]).await.unwrap();
        let v: Vec<f64> = serde_json::from_value(s).unwrap();
        rows.push(format!(
            "| {variant} | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} MB | {:.0} | {:.1} s |",
            v[0],
            v[1],
            v[2],
            v[3],
            v[4],
            behind.as_secs_f64()
        ));
        first += total;
    }
    browser.close().await;
    println!("\n{total} lines at {rate} lines/s ({per_tick} a batch every 10 ms), headless Chromium\n");
    println!("| page | frame p50 | frame p95 | longest frame | JS heap | lines in the page | caught up after sending |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!("{r}");
    }
}
