//! `GET /api/v1/stream?subject=FILTER[&from=SEQ|&since=TIME]`: Server-Sent Events of any
//! subject the caller may read. Each event's id is its stream sequence, so a reconnecting
//! `EventSource` (which sends `Last-Event-ID`) resumes exactly after the last event it got.

use utoipa_axum::routes;

use super::ApiRouter;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tailrace_schemas::Timestamp;

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::extract::Query;
use crate::sse;
use crate::state::AppState;
use crate::stream::{self, Start, StreamItem};

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(subscribe)), state, Access::Read)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    pub subject: String,
    /// Start at this stream sequence.
    pub from: Option<u64>,
    /// Start at this time (RFC 3339).
    pub since: Option<String>,
}

/// Decides where a stream starts: `Last-Event-ID` wins (a reconnect), then `from`, then `since`.
/// Also returns the parameter a sequence start came from (`None` for a reconnect), for
/// [`stream::check_start`].
pub fn start_point(
    headers: &HeaderMap,
    from: Option<u64>,
    since: Option<&str>,
) -> Result<(Start, Option<&'static str>), ApiError> {
    if let Some(last) = headers.get("last-event-id") {
        let last: u64 = last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID", &"not a sequence number"))?;
        // The id after the largest one cannot exist: live only.
        return Ok((last.checked_add(1).map_or(Start::Live, Start::Sequence), None));
    }
    if from.is_some() && since.is_some() {
        return Err(ApiError::bad_request("since", &"give from or since, not both"));
    }
    if let Some(seq) = from {
        return Ok((Start::Sequence(seq), Some("from")));
    }
    if let Some(since) = since {
        let t = Timestamp::parse_rfc3339(since).map_err(|e| ApiError::bad_request("since", &e))?;
        return Ok((Start::Time(t), None));
    }
    Ok((Start::Live, None))
}

/// Server-Sent Events from stream items: `message` events with ids (rendered once by the hub),
/// then `lagged` or `error`.
pub fn sse_response(items: impl Stream<Item = StreamItem> + Send + 'static, state: &AppState) -> Response {
    let frames = items.scan(false, |ended, item| {
        if *ended {
            return futures::future::ready(None);
        }
        let frame = match (&item, item.ending(None)) {
            (StreamItem::Event(e), _) => e.sse.clone(),
            (_, ending) => {
                *ended = true;
                let (name, data) = ending.expect("only events have no ending");
                sse::frame(Some(name), None, &data.to_string())
            }
        };
        futures::future::ready(Some(frame))
    });
    sse::response(frames, state.config.keep_alive, &state.stopping)
}

#[utoipa::path(
    get,
    path = "/api/v1/stream",
    tag = "live",
    summary = "Server-Sent Events of any readable subject; Last-Event-ID resumes exactly.",
    params(StreamQuery),
    responses(
        (status = 200, description = "events, each with its stream sequence as id", content_type = "text/event-stream"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn subscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let (filter, stream_name) = stream::access::resolve(&q.subject, &state.auth, &caller)?;
    let (start, field) = start_point(&headers, q.from, q.since.as_deref())?;
    let start = stream::check_start(&state.hub, stream_name, start, field).await?;
    // Subscribed before the response starts: whatever is published after the client sees the
    // headers reaches it.
    let items = stream::subscribe(state.hub.clone(), stream_name, filter.to_string(), start).await;
    let items =
        stream::access::Visibility::of(&state.auth, &caller, &state.config.catalog, stream_name).apply(items);
    Ok(sse_response(items, &state))
}
