//! [`AppState`]: what every handler shares. Cheap to clone.

use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream;
use metrics_exporter_prometheus::PrometheusHandle;

use tailrace_nats::config::StreamsConfig;

use crate::auth::Auth;
use crate::config::GatewayConfig;

#[derive(Clone, Debug)]
pub struct AppState {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub auth: Auth,
    pub config: Arc<GatewayConfig>,
    /// The declared stream limits, for `POST /api/v1/streams/apply`.
    pub streams: Arc<StreamsConfig>,
    pub metrics: PrometheusHandle,
    pub started: Instant,
    /// Shared live subscriptions for SSE and WebSocket clients.
    pub hub: crate::stream::Hub,
}

impl AppState {
    pub fn new(client: async_nats::Client, config: GatewayConfig, streams: StreamsConfig) -> Self {
        Self {
            js: jetstream::new(client.clone()),
            hub: crate::stream::Hub::new(jetstream::new(client.clone()), config.stream_buffer_events),
            client,
            auth: Auth::new(&config.tokens),
            config: Arc::new(config),
            streams: Arc::new(streams),
            metrics: crate::routes::metrics::handle(),
            started: Instant::now(),
        }
    }
}
