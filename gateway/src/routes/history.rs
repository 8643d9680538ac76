//! `GET /api/v1/logs/history?subject=&before=&limit=&q=&level=`: the lines of a `logs.raw` or
//! `logs.classified` subject, newest first, a page at a time, with the seed's meta
//! (`previousPage`, `startingFrom`).
//!
//! A line's cursor is `SEQ.INDEX`: its message's stream sequence and its place in that batch.
//! Lines that share a timestamp are therefore never skipped or repeated between pages (paging
//! by time is what loses them in Loki and Grafana). `before` takes a cursor or an RFC 3339 time.
//! JetStream reads only forwards, so a page reads windows of sequences before the cursor, each
//! four times the last, until it has `limit` lines or reaches the stream's first message.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_nats::replay::{self, Start};
use tailrace_schemas::{Severity, StreamName, Timestamp};

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;
use crate::stream::access::{resolve, Visibility};

/// Lines a page has unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The longest `q` taken.
const MAX_QUERY: usize = 1024;
/// Messages the first window back from a cursor reads; each next one reads four times more.
/// A message is a batch of up to hundreds of lines, so a page usually needs one window.
const FIRST_WINDOW: u64 = 16;

pub fn router(state: &AppState) -> Router<AppState> {
    super::protect(Router::new().route("/api/v1/logs/history", get(history)), state, Access::Read)
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub subject: String,
    /// Lines older than this cursor (`SEQ` or `SEQ.INDEX`) or time (RFC 3339); default: all.
    pub before: Option<String>,
    pub limit: Option<usize>,
    /// Only lines containing this text.
    pub q: Option<String>,
    /// Only lines of this severity or above (classified subjects: raw lines have none).
    pub level: Option<String>,
}

/// A line's place: its message's stream sequence and its index in that message's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    seq: u64,
    index: usize,
}

impl Cursor {
    fn parse(raw: &str) -> Option<Self> {
        let (seq, index) = raw.split_once('.').unwrap_or((raw, "0"));
        Some(Self { seq: seq.parse().ok()?, index: index.parse().ok()? })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.seq, self.index)
    }
}

async fn history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let (filter, stream) = resolve(&q.subject, &state.auth, &caller)?;
    if stream != StreamName::LOGS && stream != StreamName::CLASSIFIED {
        return Err(ApiError::bad_request(
            "subject",
            &format!("{filter} holds no lines: history pages subjects of logs.raw.> and logs.classified.>"),
        ));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request("limit", &format!("between 1 and {MAX_LIMIT}, not {limit}")));
    }
    let needle = q.q.as_deref().filter(|s| !s.is_empty());
    if needle.is_some_and(|s| s.len() > MAX_QUERY) {
        return Err(ApiError::bad_request("q", &format!("at most {MAX_QUERY} bytes")));
    }
    let level = match q.level.as_deref() {
        None | Some("") => None,
        Some(_) if stream != StreamName::CLASSIFIED => {
            return Err(ApiError::bad_request(
                "level",
                &"raw lines have no severity: ask for a logs.classified.> subject",
            ))
        }
        Some(raw) => Some(raw.parse::<Severity>().map_err(|_| {
            ApiError::bad_request("level", &format!("{raw:?} is not one of trace, debug, info, warn, error"))
        })?),
    };
    let unavailable = |e: &dyn std::fmt::Display| ApiError::Unavailable(e.to_string());
    let info = state.js.get_stream(stream.as_str()).await.map_err(|e| unavailable(&e))?.cached_info().clone();
    let (first, last) = (info.state.first_sequence.max(1), info.state.last_sequence);
    let end = Cursor { seq: last + 1, index: 0 };
    let before = match q.before.as_deref() {
        None => end,
        Some(raw) => match Cursor::parse(raw) {
            Some(c) if c.seq > last + 1 => {
                return Err(ApiError::bad_request(
                    "before",
                    &format!("{raw} is past the end of {}: its last sequence is {last}", stream.as_str()),
                ))
            }
            Some(c) => c,
            None => {
                let t = Timestamp::parse_rfc3339(raw).map_err(|_| {
                    ApiError::bad_request(
                        "before",
                        &format!("{raw:?} is neither a cursor (SEQ or SEQ.INDEX) nor an RFC 3339 time"),
                    )
                })?;
                first_at_or_after(&state, stream, filter.as_str(), t)
                    .await?
                    .map_or(end, |seq| Cursor { seq, index: 0 })
            }
        },
    };
    let visibility = Visibility::of(&state.auth, &caller, &state.config.catalog, stream);

    // Windows back from the cursor, oldest first in `lines`.
    let mut lines: Vec<(Cursor, Value)> = Vec::new();
    let mut hi = if before.index == 0 { before.seq.saturating_sub(1) } else { before.seq };
    let mut window = FIRST_WINDOW;
    let reached_start = loop {
        if hi < first {
            break true;
        }
        let lo = hi.saturating_sub(window - 1).max(first);
        let messages =
            replay::range(&state.js, stream, filter.as_str(), lo, hi).await.map_err(|e| unavailable(&e))?;
        let mut found = Vec::new();
        for m in messages {
            let payload = crate::stream::json::payload(&m.subject, &m.payload, state.config.max_line_bytes);
            if !visibility.shows(&m.subject, &payload) {
                continue;
            }
            let severity =
                payload.get("severity").and_then(Value::as_str).and_then(|s| s.parse::<Severity>().ok());
            if level.is_some_and(|l| severity.is_none_or(|s| s < l)) {
                continue;
            }
            let Some(batch_lines) = payload.get("lines").and_then(Value::as_array) else { continue };
            for (index, line) in batch_lines.iter().enumerate() {
                let cursor = Cursor { seq: m.seq, index };
                if cursor >= before {
                    break;
                }
                let text = line.get("text").and_then(Value::as_str).unwrap_or_default();
                if needle.is_some_and(|n| !text.contains(n)) {
                    continue;
                }
                let mut item = json!({
                    "cursor": cursor.to_string(),
                    "seq": m.seq,
                    "index": index,
                    "subject": m.subject,
                    "stored_at": m.stored_at.map(Timestamp::to_rfc3339),
                    "host": payload.get("host"),
                    "source": payload.get("source"),
                    "path": payload.get("path"),
                    "line": text,
                    "offset": line.get("offset"),
                });
                for key in ["severity", "category"] {
                    if let Some(v) = payload.get(key) {
                        item[key] = v.clone();
                    }
                }
                found.push((cursor, item));
            }
        }
        found.append(&mut lines);
        lines = found;
        if lines.len() >= limit {
            break lo <= first && lines.len() == limit;
        }
        if lo <= first {
            break true;
        }
        hi = lo - 1;
        window = window.saturating_mul(4);
    };
    let more = lines.len() > limit || !reached_start;
    let page: Vec<(Cursor, Value)> = lines.split_off(lines.len().saturating_sub(limit));
    let previous = page.first().filter(|_| more).map(|(c, _)| c.to_string());
    let page: Vec<Value> = page.into_iter().rev().map(|(_, v)| v).collect();
    Ok(Json(json!({
        "lines": page,
        "meta": {
            "previousPage": previous,
            "startingFrom": before.to_string(),
            "subject": filter.as_str(),
            "limit": limit,
        },
    })))
}

/// The sequence of the first message of `filter` stored at or after `t`, if any.
async fn first_at_or_after(
    state: &AppState,
    stream: StreamName,
    filter: &str,
    t: Timestamp,
) -> Result<Option<u64>, ApiError> {
    use futures::StreamExt;
    let mut messages = replay::history(&state.js, stream, filter, Start::Time(t))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    match messages.next().await {
        Some(Ok(m)) => Ok(Some(m.seq)),
        Some(Err(e)) => Err(ApiError::Unavailable(e.to_string())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_and_order_by_sequence_then_index() {
        assert_eq!(Cursor::parse("42"), Some(Cursor { seq: 42, index: 0 }));
        assert_eq!(Cursor::parse("42.7").map(|c| c.to_string()), Some("42.7".to_owned()));
        assert_eq!(Cursor::parse("x.1"), None);
        assert_eq!(Cursor::parse("2026-12-05T06:00:00Z"), None);
        assert!(Cursor { seq: 3, index: 9 } < Cursor { seq: 4, index: 0 });
    }
}
