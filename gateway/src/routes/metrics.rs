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
            handle
        })
        .clone()
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
