//! [`BenchServer`]: the throwaway nats-server (and scratch directory) of a bench, and
//! [`reached`]: waiting, with progress, until a consumer has come through a stream.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use tailrace_nats::config::ServerConfig;
use tailrace_nats::ManagedServer;

use crate::config::Config;

/// A bench's server and scratch directory, both gone when it stops.
pub struct BenchServer {
    pub client: async_nats::Client,
    server: Option<ManagedServer>,
    pub dir: tempfile::TempDir,
}

impl BenchServer {
    /// A managed server of its own on a free port; or, with `nats.url` set and `use_url`, the
    /// servers (a cluster, say) there, which must hold nothing yet.
    pub async fn start(cfg: &Config, use_url: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("tailrace-bench-").tempdir()?;
        if let (Some(url), true) = (&cfg.nats.url, use_url) {
            eprintln!("bench: the servers at {url}, {} replicas", cfg.nats.streams.replicas);
            let client = tailrace_nats::connect(&cfg.nats, None, "tailrace-bench").await?;
            return Ok(Self { client, server: None, dir });
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let server =
            ManagedServer::start(&ServerConfig { port, ..cfg.nats.server.clone() }, dir.path()).await?;
        eprintln!("bench: nats-server at {} (store {})", server.url(), dir.path().display());
        let client = tailrace_nats::connect(&server.client_config(&cfg.nats), None, "tailrace-bench").await?;
        Ok(Self { client, server: Some(server), dir })
    }

    pub async fn stop(self) {
        tailrace_nats::connect::flush_within(&self.client, tailrace_nats::connect::FLUSH_WAIT).await;
        if let Some(server) = self.server {
            server.stop().await;
        }
    }
}

/// How far a consumer has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Every message was delivered to it (an aggregating handler may still hold them).
    Delivered,
    /// Every message was acked.
    Acked,
}

/// Waits until `consumer` on `stream` reaches `point`, printing progress; how long that took.
pub async fn reached(
    js: &jetstream::Context,
    stream: &str,
    consumer: &str,
    point: Point,
    total: u64,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let s = js.get_stream(stream).await?;
        if let Ok(info) = s.consumer_info(consumer).await {
            let unacked = if point == Point::Acked { info.num_ack_pending as u64 } else { 0 };
            let left = info.num_pending + unacked;
            if left == 0 && info.delivered.stream_sequence > 0 {
                return Ok(start.elapsed());
            }
            if last_report.elapsed() >= Duration::from_secs(2) {
                eprintln!("bench: {consumer}: {left} of {total} messages left");
                last_report = Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
