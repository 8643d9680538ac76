//! `GET /api/v1/stream?subject=FILTER[&from=SEQ|&since=TIME]`: Server-Sent Events of any
//! subject the caller may read. Each event's id is its stream sequence, so a reconnecting
//! `EventSource` (which sends `Last-Event-ID`) resumes exactly after the last event it got.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tailrace_schemas::Timestamp;

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::sse;
use crate::state::AppState;
use crate::stream::{self, Start, StreamItem};

pub fn router(state: &AppState) -> Router<AppState> {
    super::protect(Router::new().route("/api/v1/stream", get(subscribe)), state, Access::Read)
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    pub subject: String,
    /// Start at this stream sequence.
    pub from: Option<u64>,
    /// Start at this time (RFC 3339).
    pub since: Option<String>,
}

/// Decides where a stream starts: `Last-Event-ID` wins (a reconnect), then `from`, then `since`.
pub fn start_point(headers: &HeaderMap, from: Option<u64>, since: Option<&str>) -> Result<Start, ApiError> {
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        let last: u64 = last
            .trim()
            .parse()
            .map_err(|_| ApiError::bad_request("Last-Event-ID", &"not a sequence number"))?;
        return Ok(Start::Sequence(last + 1));
    }
    if let Some(seq) = from {
        return Ok(Start::Sequence(seq));
    }
    if let Some(since) = since {
        let t = Timestamp::parse_rfc3339(since).map_err(|e| ApiError::bad_request("since", &e))?;
        return Ok(Start::Time(t));
    }
    Ok(Start::Live)
}

/// Server-Sent Events from stream items: `message` events with ids (rendered once by the hub),
/// then `lagged` or `error`.
pub fn sse_response(items: impl Stream<Item = StreamItem> + Send + 'static, state: &AppState) -> Response {
    let frames = items.scan(false, |ended, item| {
        if *ended {
            return futures::future::ready(None);
        }
        let frame = match item {
            StreamItem::Event(e) => e.sse.clone(),
            StreamItem::Lagged(n) => {
                *ended = true;
                let detail = serde_json::json!({ "missed": n, "detail": "this client fell behind and was cut off; reconnect to resume from the last event id" });
                sse::frame(Some("lagged"), None, &detail.to_string())
            }
            StreamItem::Failed(reason) => {
                *ended = true;
                sse::frame(Some("error"), None, &serde_json::json!({ "detail": reason }).to_string())
            }
        };
        futures::future::ready(Some(frame))
    });
    sse::response(frames, state.config.keep_alive)
}

async fn subscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let (filter, stream_name) = stream::access::resolve(&q.subject, &state.auth, &caller)?;
    let start = start_point(&headers, q.from, q.since.as_deref())?;
    // Subscribed before the response starts: whatever is published after the client sees the
    // headers reaches it.
    let items = stream::subscribe(state.hub.clone(), stream_name, filter.to_string(), start).await;
    Ok(sse_response(items, &state))
}
