//! `GET /metrics`: Prometheus text format. Counters come from the `metrics` facade, which every
//! crate writes to; stream and consumer gauges are read from the broker at scrape time.

use utoipa_axum::routes;

use super::ApiRouter;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::auth::Access;
use crate::state::AppState;

/// The process-wide recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test harness's) may already be installed; then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

/// Every metric tailrace writes, with its `# HELP` text (one table: a metric added elsewhere
/// is described here).
const DESCRIBED: &[(&str, &str, &str)] = &[
    ("counter", "tailrace_publish_messages_total", "Messages published and acknowledged by JetStream"),
    ("counter", "tailrace_publish_bytes_total", "Payload bytes published (after compression)"),
    ("counter", "tailrace_publish_compression_saved_bytes_total", "Bytes zstd saved on published payloads"),
    (
        "counter",
        "tailrace_publish_duplicates_total",
        "Publishes JetStream dropped as duplicates of a message id",
    ),
    (
        "counter",
        "tailrace_publish_retries_total",
        "Publish attempts retried after a failed or late acknowledgement",
    ),
    ("counter", "tailrace_publish_failures_total", "Publishes given up after every retry"),
    ("counter", "tailrace_consumer_received_total", "Messages a consumer runner received"),
    ("counter", "tailrace_consumer_acked_total", "Messages a consumer runner acknowledged after handling"),
    (
        "counter",
        "tailrace_consumer_retried_total",
        "Messages left for redelivery after a handler's transient error",
    ),
    (
        "counter",
        "tailrace_consumer_dead_lettered_total",
        "Messages sent to the dead-letter stream with their reason",
    ),
    (
        "counter",
        "tailrace_issues_suppressed_total",
        "Issue occurrences not published because a batch was over its caps",
    ),
    ("counter", "tailrace_http_requests_total", "HTTP requests answered, by route, method and status"),
    (
        "histogram",
        "tailrace_http_request_seconds",
        "Time to answer an HTTP request (to the first byte of a stream)",
    ),
    ("gauge", "tailrace_broker_connected", "1 while the gateway's NATS connection is up"),
    ("gauge", "tailrace_stream_messages", "Messages stored in a stream"),
    ("gauge", "tailrace_stream_bytes", "Bytes stored in a stream"),
    ("gauge", "tailrace_consumer_pending", "Messages of a durable consumer not yet delivered"),
    (
        "gauge",
        "tailrace_consumer_ack_pending",
        "Messages delivered to a durable consumer and not yet acknowledged",
    ),
    ("gauge", "tailrace_consumer_redelivered", "Messages a durable consumer had redelivered"),
];

fn describe() {
    for (kind, name, help) in DESCRIBED {
        match *kind {
            "counter" => metrics::describe_counter!(*name, *help),
            "gauge" => metrics::describe_gauge!(*name, *help),
            _ => metrics::describe_histogram!(*name, *help),
        }
    }
}

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(render)), state, Access::Read)
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics.",
    responses(
        (status = 200, description = "metrics in the Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let status = super::status::collect(&state).await;
    metrics::gauge!("tailrace_broker_connected").set(if status.broker.connected { 1.0 } else { 0.0 });
    for s in &status.streams {
        metrics::gauge!("tailrace_stream_messages", "stream" => s.name.clone()).set(s.messages as f64);
        metrics::gauge!("tailrace_stream_bytes", "stream" => s.name.clone()).set(s.bytes as f64);
        for c in &s.consumers {
            let labels = [("stream", s.name.clone()), ("consumer", c.name.clone())];
            metrics::gauge!("tailrace_consumer_pending", &labels).set(c.pending as f64);
            metrics::gauge!("tailrace_consumer_ack_pending", &labels).set(c.ack_pending as f64);
            metrics::gauge!("tailrace_consumer_redelivered", &labels).set(c.redelivered as f64);
        }
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// Middleware: counts requests and their latency per route and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let labels = [("route", route), ("method", method), ("status", resp.status().as_u16().to_string())];
    metrics::counter!("tailrace_http_requests_total", &labels).increment(1);
    metrics::histogram!("tailrace_http_request_seconds", &labels).record(start.elapsed().as_secs_f64());
    resp
}
