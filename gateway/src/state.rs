//! [`AppState`]: what every handler shares. Cheap to clone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream::{self, kv};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::OnceCell;

use tailrace_nats::config::StreamsConfig;

use crate::auth::Auth;
use crate::config::GatewayConfig;
use crate::error::ApiError;

#[derive(Clone, Debug)]
pub struct AppState {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub auth: Auth,
    /// The Host names and Origins the gateway answers to.
    pub hosts: crate::host::Hosts,
    pub config: Arc<GatewayConfig>,
    /// The declared stream limits, for `POST /api/v1/streams/apply`.
    pub streams: Arc<StreamsConfig>,
    pub metrics: PrometheusHandle,
    pub started: Instant,
    /// Shared live subscriptions for SSE and WebSocket clients.
    pub hub: crate::stream::Hub,
    /// The issue table this process keeps, when it runs the issues sink.
    pub issues: Option<tailrace_sinks::issues::IssuesView>,
    /// The telemetry table this process keeps, when it runs the telemetry sink.
    pub telemetry: Option<tailrace_sinks::telemetry::TelemetryView>,
    /// The file index this process keeps (the files sink), and where the sync's mirrors are.
    pub files: Option<(tailrace_sinks::files::FilesView, std::path::PathBuf)>,
    /// Publishes what the gateway ingests (reports over HTTP).
    pub publisher: tailrace_nats::Publisher,
    /// Cancelled when the gateway begins to stop: live streams send `shutdown` and end, so
    /// clients are told and reconnect instead of being cut.
    pub stopping: tokio_util::sync::CancellationToken,
    buckets: Arc<Buckets>,
}

/// KV buckets, opened on first use (the topology may be applied after the gateway starts).
#[derive(Debug)]
struct Buckets {
    /// This gateway process, in viewer ids (`{instance}/{n}`), so viewers of two gateway
    /// replicas never collide in a session record.
    instance: String,
    next_viewer: AtomicU64,
    sessions: OnceCell<kv::Store>,
    hosts: OnceCell<kv::Store>,
}

impl AppState {
    pub fn new(client: async_nats::Client, config: GatewayConfig, streams: StreamsConfig) -> Self {
        let instance = format!(
            "{}-{}-{:x}",
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
            std::process::id(),
            tailrace_schemas::Timestamp::now().as_nanos() & 0xffff_ffff
        );
        Self {
            js: jetstream::new(client.clone()),
            hub: crate::stream::Hub::new(
                jetstream::new(client.clone()),
                config.stream_buffer_events,
                crate::stream::Linger { above: config.fanout_linger_above, window: config.fanout_linger },
                config.max_line_bytes,
            ),
            publisher: tailrace_nats::Publisher::new(client.clone(), Default::default()),
            client,
            auth: Auth::new(&config.tokens),
            hosts: crate::host::Hosts::new(&config),
            config: Arc::new(config),
            streams: Arc::new(streams),
            metrics: crate::routes::metrics::handle(),
            started: Instant::now(),
            issues: None,
            telemetry: None,
            files: None,
            stopping: tokio_util::sync::CancellationToken::new(),
            buckets: Arc::new(Buckets {
                instance,
                next_viewer: AtomicU64::new(1),
                sessions: OnceCell::new(),
                hosts: OnceCell::new(),
            }),
        }
    }

    /// The state with this process's issue table to serve.
    pub fn with_issues(mut self, view: tailrace_sinks::issues::IssuesView) -> Self {
        self.issues = Some(view);
        self
    }

    /// The state with this process's telemetry table to serve.
    pub fn with_telemetry(mut self, view: tailrace_sinks::telemetry::TelemetryView) -> Self {
        self.telemetry = Some(view);
        self
    }

    /// The state serving the file index `view` and the sync mirrors under `sync_root`
    /// (`data_dir/sync`: a directory per target, its files under `files/`).
    pub fn with_files(
        mut self,
        view: tailrace_sinks::files::FilesView,
        sync_root: std::path::PathBuf,
    ) -> Self {
        self.files = Some((view, sync_root));
        self
    }

    /// The state publishing with `publisher` (the process's configured one).
    pub fn with_publisher(mut self, publisher: tailrace_nats::Publisher) -> Self {
        self.publisher = publisher;
        self
    }

    /// A viewer id unique across gateway processes.
    pub fn new_viewer_id(&self) -> String {
        format!("{}/{}", self.buckets.instance, self.buckets.next_viewer.fetch_add(1, Ordering::Relaxed))
    }

    /// The `tail-sessions` bucket.
    pub async fn tail_sessions(&self) -> Result<&kv::Store, ApiError> {
        self.bucket(&self.buckets.sessions, tailrace_nats::topology::TAIL_SESSIONS).await
    }

    /// The `tail-hosts` bucket.
    pub async fn tail_hosts(&self) -> Result<&kv::Store, ApiError> {
        self.bucket(&self.buckets.hosts, tailrace_nats::topology::TAIL_HOSTS).await
    }

    async fn bucket<'a>(&self, cell: &'a OnceCell<kv::Store>, name: &str) -> Result<&'a kv::Store, ApiError> {
        cell.get_or_try_init(|| async {
            self.js.get_key_value(name).await.map_err(|e| {
                ApiError::Unavailable(format!("KV bucket {name}: {e} (run `tailrace streams apply`)"))
            })
        })
        .await
    }
}
