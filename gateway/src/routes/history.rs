//! `GET /api/v1/logs/history`: the lines of a `logs.raw` or `logs.classified` subject, newest
//! first, a page at a time, with the seed's meta (`previousPage`, `startingFrom`).
//!
//! A line's cursor is `SEQ.INDEX`: its message's stream sequence and its place in that batch.
//! Lines that share a timestamp are therefore never skipped or repeated between pages (paging
//! by time is what loses them in Loki and Grafana). `before` and `after` take a cursor or an
//! RFC 3339 time; a bare `SEQ` stands for the whole message. JetStream reads only forwards, so
//! a page back from `before` reads windows of sequences, each four times the last, until it has
//! `limit` lines or reaches the stream's first message (or `after`); a page of `after` alone
//! reads windows forwards and holds the oldest `limit` lines after it.
//!
//! The seed's hierarchy filters map onto subject tokens: `namespace` is the host token and
//! `instance` the source token (a posted entry lands on `logs.raw.{namespace}.{instance}`);
//! `route`, `activity` and `trace` keep lines carrying that `key=value` field.

use utoipa_axum::routes;

use super::ApiRouter;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_nats::replay::{self, Start};
use tailrace_schemas::{HostId, Severity, SourceId, StreamName, Timestamp};

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

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(history)), state, Access::Read)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// A subject filter of `logs.raw.>` or `logs.classified.>`; default `logs.raw.>` when a
    /// hierarchy filter is given.
    pub subject: Option<String>,
    /// Lines older than this cursor (`SEQ` or `SEQ.INDEX`) or time (RFC 3339); default: all.
    pub before: Option<String>,
    /// Lines newer than this cursor or time.
    pub after: Option<String>,
    pub limit: Option<usize>,
    /// Only lines containing this text.
    pub q: Option<String>,
    /// Only lines of this severity or above (classified subjects: raw lines have none).
    pub level: Option<String>,
    /// The seed's hierarchy: the host token of the subject.
    pub namespace: Option<String>,
    /// The seed's hierarchy: the source token of the subject.
    pub instance: Option<String>,
    pub route: Option<String>,
    pub activity: Option<String>,
    pub trace: Option<String>,
}

/// A line's place: its message's stream sequence and its index in that message's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    seq: u64,
    index: usize,
}

impl Cursor {
    /// A cursor, and whether it named a line (`SEQ.INDEX`) rather than a whole message (`SEQ`).
    fn parse(raw: &str) -> Option<(Self, bool)> {
        match raw.split_once('.') {
            Some((seq, index)) => Some((Self { seq: seq.parse().ok()?, index: index.parse().ok()? }, true)),
            None => Some((Self { seq: raw.parse().ok()?, index: 0 }, false)),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.seq, self.index)
    }
}

/// What a page keeps of the messages it reads.
struct Sieve {
    visibility: Visibility,
    level: Option<Severity>,
    needle: Option<String>,
    /// `key=value` tokens a line must carry (route, activity, trace).
    fields: Vec<String>,
    max_line_bytes: usize,
}

impl Sieve {
    /// The kept lines of `m` with their cursors, in batch order.
    fn lines(&self, m: &replay::Replayed) -> Vec<(Cursor, Value)> {
        let payload = crate::stream::json::payload(&m.subject, &m.payload, self.max_line_bytes);
        if !self.visibility.shows(&m.subject, &payload) {
            return Vec::new();
        }
        let severity =
            payload.get("severity").and_then(Value::as_str).and_then(|s| s.parse::<Severity>().ok());
        if self.level.is_some_and(|l| severity.is_none_or(|s| s < l)) {
            return Vec::new();
        }
        let Some(batch_lines) = payload.get("lines").and_then(Value::as_array) else { return Vec::new() };
        let mut out = Vec::new();
        for (index, line) in batch_lines.iter().enumerate() {
            let text = line.get("text").and_then(Value::as_str).unwrap_or_default();
            if self.needle.as_deref().is_some_and(|n| !text.contains(n)) {
                continue;
            }
            if !self.fields.iter().all(|f| text.split_ascii_whitespace().any(|t| t == f)) {
                continue;
            }
            let cursor = Cursor { seq: m.seq, index };
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
            if let Some(priority) = line.get("priority").filter(|p| !p.is_null()) {
                item["priority"] = priority.clone();
            }
            for key in ["severity", "category"] {
                if let Some(v) = payload.get(key) {
                    item[key] = v.clone();
                }
            }
            out.push((cursor, item));
        }
        out
    }
}

/// `subject` narrowed by the seed's `namespace` and `instance` onto its host and source tokens.
fn narrowed_subject(q: &HistoryQuery) -> Result<String, ApiError> {
    let hierarchy = [("namespace", 0, &q.namespace), ("instance", 1, &q.instance)];
    let given: Vec<_> = hierarchy.iter().filter_map(|(f, i, v)| v.as_deref().map(|v| (*f, *i, v))).collect();
    let Some(subject) = q.subject.as_deref().or(if given.is_empty() { None } else { Some("logs.raw.>") })
    else {
        return Err(ApiError::bad_request("subject", &"missing: give subject= (or namespace= / instance=)"));
    };
    if given.is_empty() {
        return Ok(subject.to_owned());
    }
    let mut tokens: Vec<String> = subject.split('.').map(str::to_owned).collect();
    // Where the host token is, and how many tokens a subject of the stream has.
    let (host_at, len) = match tokens.get(1).map(String::as_str) {
        Some("raw") => (2, 4),
        Some("classified") => (4, 6),
        _ => {
            return Err(ApiError::bad_request(
                "subject",
                &format!("namespace= and instance= narrow logs.raw.> or logs.classified.>, not {subject}"),
            ))
        }
    };
    if tokens.last().is_some_and(|t| t == ">") {
        tokens.pop();
        tokens.resize(len.max(tokens.len()), "*".to_owned());
    }
    if tokens.len() != len {
        return Err(ApiError::bad_request("subject", &format!("{subject} is not a subject of {len} tokens")));
    }
    for (field, offset, value) in given {
        let token = match offset {
            0 => HostId::new(value).token(),
            _ => SourceId::new(value).token(),
        };
        let at = &mut tokens[host_at + offset];
        if at == "*" {
            *at = token.as_str().to_owned();
        } else if at != token.as_str() {
            return Err(ApiError::bad_request(field, &format!("{value:?} conflicts with subject={subject}")));
        }
    }
    Ok(tokens.join("."))
}

/// A `before`/`after` bound: a cursor, or the cursor of the first message at or after a time.
enum Bound {
    Cursor(Cursor, bool),
    Time(Timestamp),
}

fn bound(field: &str, raw: &str) -> Result<Bound, ApiError> {
    if let Some((c, line)) = Cursor::parse(raw) {
        return Ok(Bound::Cursor(c, line));
    }
    Timestamp::parse_rfc3339(raw).map(Bound::Time).map_err(|_| {
        ApiError::bad_request(
            field,
            &format!("{raw:?} is neither a cursor (SEQ or SEQ.INDEX) nor an RFC 3339 time"),
        )
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/logs/history",
    tag = "logs",
    summary = "Pages of stored lines of a subject, newest first, by exact cursor.",
    params(HistoryQuery),
    responses(
        (status = 200, description = "lines and meta (previousPage, nextPage, startingFrom)", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let subject = narrowed_subject(&q)?;
    let (filter, stream) = resolve(&subject, &state.auth, &caller)?;
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
    let needle = q.q.clone().filter(|s| !s.is_empty());
    if needle.as_ref().is_some_and(|s| s.len() > MAX_QUERY) {
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
    let mut fields = Vec::new();
    for (key, value) in [("route", &q.route), ("activity", &q.activity), ("trace", &q.trace)] {
        match value.as_deref() {
            Some(v) if v.chars().any(char::is_whitespace) => {
                return Err(ApiError::bad_request(key, &"a field value has no spaces"))
            }
            Some(v) if !v.is_empty() => fields.push(format!("{key}={v}")),
            _ => {}
        }
    }
    let info = state
        .js
        .get_stream(stream.as_str())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .cached_info()
        .clone();
    let (first, last) = (info.state.first_sequence.max(1), info.state.last_sequence);
    let end = Cursor { seq: last + 1, index: 0 };

    // Lines kept are those with `from <= cursor < before`.
    let before_raw = q.before.as_deref().filter(|s| !s.is_empty());
    let after_raw = q.after.as_deref().filter(|s| !s.is_empty());
    let (before_bound, after_bound) = (
        before_raw.map(|r| bound("before", r)).transpose()?,
        after_raw.map(|r| bound("after", r)).transpose()?,
    );
    if let (Some(Bound::Time(b)), Some(Bound::Time(a))) = (&before_bound, &after_bound) {
        if a >= b {
            return Err(ApiError::bad_request(
                "after",
                &format!("{} is not before {}: the time range is reversed", a.to_rfc3339(), b.to_rfc3339()),
            ));
        }
    }
    let before = match before_bound {
        None => end,
        Some(Bound::Cursor(c, _)) if c.seq > last + 1 => {
            return Err(ApiError::bad_request(
                "before",
                &format!("{c} is past the end of {}: its last sequence is {last}", stream.as_str()),
            ))
        }
        Some(Bound::Cursor(c, _)) => c,
        Some(Bound::Time(t)) => first_at_or_after(&state, stream, filter.as_str(), t)
            .await?
            .map_or(end, |seq| Cursor { seq, index: 0 }),
    };
    let past =
        || ApiError::bad_request("after", &format!("{} is past any line", after_raw.unwrap_or_default()));
    let from = match after_bound {
        None => Cursor { seq: first, index: 0 },
        Some(Bound::Cursor(c, true)) => {
            Cursor { seq: c.seq, index: c.index.checked_add(1).ok_or_else(past)? }
        }
        Some(Bound::Cursor(c, false)) => Cursor { seq: c.seq.checked_add(1).ok_or_else(past)?, index: 0 },
        Some(Bound::Time(t)) => first_at_or_after(&state, stream, filter.as_str(), t)
            .await?
            .map_or(end, |seq| Cursor { seq, index: 0 }),
    };
    if after_raw.is_some() && before_raw.is_some() && from > before {
        return Err(ApiError::bad_request(
            "after",
            &format!("{} is not before {}: the range is reversed", after_raw.unwrap_or_default(), before),
        ));
    }
    let sieve = Sieve {
        visibility: Visibility::of(&state.auth, &caller, &state.config.catalog, stream),
        level,
        needle,
        fields,
        max_line_bytes: state.config.max_line_bytes,
    };
    let bounds = Bounds { first, last };
    // The lines of the page, oldest first, and whether more lie beyond each end of it.
    let (page, older, newer) = if before_raw.is_none() && after_raw.is_some() {
        let (lines, newer) =
            walk_forward(&state, stream, filter.as_str(), &sieve, from, limit, bounds).await?;
        // Older lines may exist only if the range starts after the stream's first line.
        (lines, from > Cursor { seq: bounds.first, index: 0 }, newer)
    } else {
        let (lines, older) =
            walk_back(&state, stream, filter.as_str(), &sieve, before, from, limit, bounds).await?;
        (lines, older, before < end)
    };
    let previous = page.first().filter(|_| older).map(|(c, _)| c.to_string());
    let next = page.last().filter(|_| newer).map(|(c, _)| c.to_string());
    let lines: Vec<Value> = page.into_iter().rev().map(|(_, v)| v).collect();
    Ok(Json(json!({
        "lines": lines,
        "meta": {
            "previousPage": previous,
            "nextPage": next,
            "startingFrom": before.to_string(),
            "subject": filter.as_str(),
            "limit": limit,
        },
    })))
}

/// The stream's first and last sequences when a page began.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    first: u64,
    last: u64,
}

/// The lines kept by `sieve` with `from <= cursor < before`, at most `limit` (the newest),
/// oldest first, and whether older ones remain.
#[allow(clippy::too_many_arguments)]
async fn walk_back(
    state: &AppState,
    stream: StreamName,
    filter: &str,
    sieve: &Sieve,
    before: Cursor,
    from: Cursor,
    limit: usize,
    bounds: Bounds,
) -> Result<(Vec<(Cursor, Value)>, bool), ApiError> {
    let floor = from.seq.max(bounds.first);
    let mut lines: Vec<(Cursor, Value)> = Vec::new();
    let mut hi = if before.index == 0 { before.seq.saturating_sub(1) } else { before.seq };
    let mut window = FIRST_WINDOW;
    let reached_start = loop {
        if hi < floor {
            break true;
        }
        let lo = hi.saturating_sub(window - 1).max(floor);
        let mut found = Vec::new();
        for m in read(state, stream, filter, lo, hi).await? {
            found.extend(sieve.lines(&m).into_iter().filter(|(c, _)| *c < before && *c >= from));
        }
        found.append(&mut lines);
        lines = found;
        if lines.len() >= limit {
            break lo <= floor && lines.len() == limit;
        }
        if lo <= floor {
            break true;
        }
        hi = lo - 1;
        window = window.saturating_mul(4);
    };
    let older = lines.len() > limit || !reached_start;
    let page = lines.split_off(lines.len().saturating_sub(limit));
    Ok((page, older))
}

/// The oldest `limit` lines kept by `sieve` at or after `from`, oldest first, and whether newer
/// ones remain.
async fn walk_forward(
    state: &AppState,
    stream: StreamName,
    filter: &str,
    sieve: &Sieve,
    from: Cursor,
    limit: usize,
    bounds: Bounds,
) -> Result<(Vec<(Cursor, Value)>, bool), ApiError> {
    let mut lines: Vec<(Cursor, Value)> = Vec::new();
    let (mut lo, mut window) = (from.seq.max(bounds.first), FIRST_WINDOW);
    while lines.len() <= limit && lo <= bounds.last {
        let hi = lo.saturating_add(window - 1).min(bounds.last);
        for m in read(state, stream, filter, lo, hi).await? {
            lines.extend(sieve.lines(&m).into_iter().filter(|(c, _)| *c >= from));
        }
        lo = hi + 1;
        window = window.saturating_mul(4);
    }
    let newer = lines.len() > limit;
    lines.truncate(limit);
    Ok((lines, newer))
}

async fn read(
    state: &AppState,
    stream: StreamName,
    filter: &str,
    lo: u64,
    hi: u64,
) -> Result<Vec<replay::Replayed>, ApiError> {
    replay::range(&state.js, stream, filter, lo, hi).await.map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// Where a live view of `filter` (a subject of lines) starts so that it shows its newest `n`
/// stored lines first: the `(sequence, index)` of the oldest of them, or the sequence after
/// the stream's end when it has none. Read as a history page is, so the view and its
/// scroll-back meet without a gap or a repeat.
pub async fn context_start(
    state: &AppState,
    stream: StreamName,
    filter: &str,
    n: usize,
) -> Result<(u64, usize), ApiError> {
    let info = state
        .js
        .get_stream(stream.as_str())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .cached_info()
        .clone();
    let bounds = Bounds { first: info.state.first_sequence.max(1), last: info.state.last_sequence };
    let end = Cursor { seq: bounds.last + 1, index: 0 };
    if n == 0 {
        return Ok((end.seq, 0));
    }
    let sieve = Sieve {
        visibility: Visibility::All,
        level: None,
        needle: None,
        fields: Vec::new(),
        max_line_bytes: state.config.max_line_bytes,
    };
    let from = Cursor { seq: bounds.first, index: 0 };
    let (lines, _) = walk_back(state, stream, filter, &sieve, end, from, n, bounds).await?;
    Ok(lines.first().map_or((end.seq, 0), |(c, _)| (c.seq, c.index)))
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
        assert_eq!(Cursor::parse("42"), Some((Cursor { seq: 42, index: 0 }, false)));
        assert_eq!(
            Cursor::parse("42.7").map(|(c, line)| (c.to_string(), line)),
            Some(("42.7".to_owned(), true))
        );
        assert_eq!(Cursor::parse("x.1"), None);
        assert_eq!(Cursor::parse("2026-12-05T06:00:00Z"), None);
        assert!(Cursor { seq: 3, index: 9 } < Cursor { seq: 4, index: 0 });
    }
}
