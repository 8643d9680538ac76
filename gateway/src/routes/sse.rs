//! `GET /api/v1/stream?subject=FILTER[&from=SEQ|&since=TIME]`: Server-Sent Events of any
//! subject the caller may read. Each event's id is its stream sequence, so a reconnecting
//! `EventSource` (which sends `Last-Event-ID`) resumes exactly after the last event it got.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tailrace_schemas::Timestamp;

use crate::auth::{Access, Caller};
use crate::error::ApiError;
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

/// Server-Sent Events from stream items: `message` events with ids, then `lagged` or `error`.
pub fn sse_response(items: impl Stream<Item = StreamItem> + Send + 'static, state: &AppState) -> Response {
    let events = items
        .scan(false, |ended, item| {
            if *ended {
                return futures::future::ready(None);
            }
            let event = match item {
                StreamItem::Event(e) => SseEvent::default().id(e.seq.to_string()).data(&e.json),
                StreamItem::Lagged(n) => {
                    *ended = true;
                    SseEvent::default().event("lagged").data(
                        serde_json::json!({ "missed": n, "detail": "this client fell behind and was cut off; reconnect to resume from the last event id" }).to_string(),
                    )
                }
                StreamItem::Failed(reason) => {
                    *ended = true;
                    SseEvent::default().event("error").data(serde_json::json!({ "detail": reason }).to_string())
                }
            };
            futures::future::ready(Some(event))
        });
    live_response(events, state)
}

/// A live SSE response: keep-alives, and headers that stop proxies buffering or caching it.
pub fn live_response(events: impl Stream<Item = SseEvent> + Send + 'static, state: &AppState) -> Response {
    let events = events.map(Ok::<_, Infallible>);
    let mut resp =
        Sse::new(events).keep_alive(KeepAlive::new().interval(state.config.keep_alive)).into_response();
    // Proxies (nginx) must not buffer a live stream.
    resp.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
    resp
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
