//! `GET /api/v1/logs/content?path=&tail=` (or `offset=&length=`, or the whole file when it is
//! small): a synced file's content as the seed answered it, read from the mirror's copy, plain
//! or compressed. `follow=1` answers with SSE instead: those lines, then every line the sync
//! appends, each a `log` event whose id is the offset after it, so `Last-Event-ID` resumes
//! exactly; a copy replaced by a shorter or different file sends `reset` and starts over from
//! its last lines.

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::json;

use super::copy::{target_root, Copy};
use super::{files, internal};
use crate::error::ApiError;
use crate::extract::Query;
use crate::sse;
use crate::state::AppState;

/// Lines `tail=` returns at most.
const MAX_TAIL: usize = 10_000;
/// Bytes one content answer carries at most.
const MAX_BYTES: u64 = 4 << 20;
/// Lines a follow starts with when it names no start.
const FOLLOW_TAIL: usize = 100;
/// How often a followed copy is looked at. The sync replaces copies by rename, so the path is
/// found again each time (an inotify watch would follow the replaced file).
const POLL: Duration = Duration::from_millis(250);
/// Bytes before the followed position that must not change between looks: otherwise the copy
/// was replaced by another file at least as long, and the follow starts over.
const GUARD: u64 = 64;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContentQuery {
    path: String,
    target: Option<String>,
    tail: Option<usize>,
    offset: Option<u64>,
    length: Option<u64>,
    follow: Option<String>,
}

fn follows(q: &ContentQuery) -> Result<bool, ApiError> {
    match q.follow.as_deref() {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(ApiError::bad_request("follow", &format!("{other:?}: use 1 or 0"))),
    }
}

/// Where the answer starts and how many bytes it takes, from `tail`, `offset` and `length`.
fn selection(q: &ContentQuery, copy: &Copy, default_tail: Option<usize>) -> Result<(u64, u64), ApiError> {
    if q.tail.is_some() && (q.offset.is_some() || q.length.is_some()) {
        return Err(ApiError::bad_request("tail", &"give tail, or offset and length, not both"));
    }
    let size = copy.size;
    Ok(match (q.tail.or(if q.offset.is_none() { default_tail } else { None }), q.offset) {
        (Some(n), _) => {
            if n == 0 || n > MAX_TAIL {
                return Err(ApiError::bad_request("tail", &format!("{n}: between 1 and {MAX_TAIL}")));
            }
            let start = copy.tail_start(n).map_err(internal)?;
            if size - start > MAX_BYTES {
                return Err(ApiError::bad_request(
                    "tail",
                    &format!("the last {n} lines are over {MAX_BYTES} bytes; ask for fewer"),
                ));
            }
            (start, size - start)
        }
        (None, Some(offset)) => {
            let length = q.length.unwrap_or(MAX_BYTES);
            if length > MAX_BYTES {
                return Err(ApiError::bad_request("length", &format!("{length}: at most {MAX_BYTES}")));
            }
            (offset.min(size), length.min(size.saturating_sub(offset)))
        }
        (None, None) => {
            if size > MAX_BYTES {
                return Err(ApiError::bad_request(
                    "path",
                    &format!("{:?} is {size} bytes: ask for tail= lines or offset=&length=", q.path),
                ));
            }
            (0, size)
        }
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/logs/content",
    tag = "logs",
    summary = "A synced file's lines: its last lines, a byte range, or followed live (SSE with follow=1).",
    params(ContentQuery),
    responses(
        (status = 200, description = "the lines (text/event-stream with follow=1)", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
pub async fn content(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ContentQuery>,
) -> Result<Response, ApiError> {
    let (_, sync_root) = files(&state)?;
    let (target, root) = target_root(sync_root, q.target.as_deref())?;
    let follow = follows(&q)?;
    let copy = {
        let (root, path) = (root.clone(), q.path.clone());
        tokio::task::spawn_blocking(move || Copy::find(&root, &path)).await.map_err(internal)??
    };
    if follow {
        let start = match resume_point(&headers, copy.size)? {
            Some(at) => at,
            None => selection(&q, &copy, Some(FOLLOW_TAIL))?.0,
        };
        let frames = following(root, q.path, start, q.tail.unwrap_or(FOLLOW_TAIL));
        return Ok(sse::response(frames, state.config.keep_alive, &state.stopping));
    }
    let (start, len) = selection(&q, &copy, None)?;
    let compressed = copy.form == super::copy::Form::Compressed;
    let size = copy.size;
    let buf = tokio::task::spawn_blocking(move || copy.range(start, len))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    // Where the lines after these start: after the last newline (a last line without one is
    // not complete yet; `follow=1&offset=` from here sends it once it is).
    let next = start + buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i as u64 + 1);
    Ok(Json(json!({
        "target": target,
        "path": q.path,
        "size": size,
        "compressed": compressed,
        "offset": start,
        "length": buf.len(),
        "lines": text.lines().count(),
        "next_offset": next,
        "content": text,
    }))
    .into_response())
}

/// `Last-Event-ID` of a follow: the offset after the last line the client has.
fn resume_point(headers: &HeaderMap, size: u64) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let at: u64 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("Last-Event-ID", &format!("{raw:?} is not a byte offset")))?;
    if at > size {
        return Err(ApiError::bad_request(
            "Last-Event-ID",
            &format!("{at} is past the end of the file ({size} bytes): start again without it"),
        ));
    }
    Ok(Some(at))
}

/// Where a follow is: the offset after the last line sent, and the bytes just before it.
struct Followed {
    root: PathBuf,
    path: String,
    at: u64,
    guard: Vec<u8>,
    tail: usize,
    first: bool,
    /// The copy's file as last looked at (inode, modification time, length): unchanged, it is
    /// not read again (a compressed copy would be expanded to be compared).
    seen: Option<(u64, i64, u64)>,
    ended: bool,
}

/// The frames of a follow starting at `at`: what is there, then what is appended.
fn following(root: PathBuf, path: String, at: u64, tail: usize) -> impl futures::Stream<Item = Bytes> + Send {
    let state = Followed { root, path, at, guard: Vec::new(), tail, first: true, seen: None, ended: false };
    futures::stream::unfold(state, |mut f| async move {
        loop {
            if f.ended {
                return None;
            }
            if !std::mem::take(&mut f.first) {
                tokio::time::sleep(POLL).await;
            }
            let look = {
                let (root, path, at, guard) = (f.root.clone(), f.path.clone(), f.at, f.guard.clone());
                let (tail, seen) = (f.tail, f.seen);
                tokio::task::spawn_blocking(move || look(&root, &path, at, &guard, tail, seen)).await
            };
            match look {
                Ok(Ok(Some(next))) => {
                    let mut out = BytesMut::new();
                    if next.reset {
                        out.extend_from_slice(&sse::frame(
                            Some("reset"),
                            None,
                            &json!({"path": f.path, "reason": "the file was truncated or replaced"})
                                .to_string(),
                        ));
                    }
                    for (offset, line) in &next.lines {
                        let end = offset + line.len() as u64 + 1;
                        let text = String::from_utf8_lossy(line);
                        let text = text.strip_suffix('\r').unwrap_or(&text);
                        out.extend_from_slice(&sse::frame(
                            Some("log"),
                            Some(&end.to_string()),
                            &json!({"path": f.path, "offset": offset, "line": text}).to_string(),
                        ));
                    }
                    f.at = next.at;
                    f.guard = next.guard;
                    f.seen = next.seen;
                    if !out.is_empty() {
                        return Some((out.freeze(), f));
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    // Gone (expired, or the target removed): said once, then the stream ends.
                    let frame =
                        sse::frame(Some("error"), None, &json!({"path": f.path, "error": e}).to_string());
                    f.ended = true;
                    return Some((frame, f));
                }
                Err(_) => return None,
            }
        }
    })
}

/// What a look at the copy found past `at`.
struct Next {
    reset: bool,
    /// Complete lines, each with its start offset (without its newline).
    lines: Vec<(u64, Vec<u8>)>,
    at: u64,
    guard: Vec<u8>,
    seen: Option<(u64, i64, u64)>,
}

/// Reads the complete lines after `at` (at most [`MAX_BYTES`] at a time), checking first that
/// the bytes before it are still `guard`.
fn look(
    root: &std::path::Path,
    path: &str,
    at: u64,
    guard: &[u8],
    tail: usize,
    seen: Option<(u64, i64, u64)>,
) -> Result<Option<Next>, String> {
    use std::os::unix::fs::MetadataExt;
    let copy = match Copy::find(root, path) {
        Ok(c) => c,
        Err(ApiError::NotFound(_)) => return Err(format!("{path:?} is no longer in the mirror")),
        Err(e) => return Err(e.to_string()),
    };
    let meta = std::fs::metadata(&copy.path).map_err(|e| e.to_string())?;
    let stamp = Some((meta.ino(), meta.mtime_nsec() + meta.mtime() * 1_000_000_000, meta.len()));
    if stamp == seen {
        return Ok(None);
    }
    let from = at.saturating_sub(guard.len() as u64);
    let same = copy.size >= at && copy.range(from, at - from).map_err(|e| e.to_string())? == guard;
    let (reset, at) =
        if same { (false, at) } else { (true, copy.tail_start(tail).map_err(|e| e.to_string())?) };
    if !reset && copy.size == at {
        return Ok(Some(Next { reset, lines: Vec::new(), at, guard: guard.to_vec(), seen: stamp }));
    }
    let bytes = copy.range(at, (copy.size - at).min(MAX_BYTES)).map_err(|e| e.to_string())?;
    // Read to the end: the next look needs the file changed to read again. Not yet: it must not
    // wait for a change.
    let stamp = if at + bytes.len() as u64 >= copy.size { stamp } else { None };
    let mut lines = Vec::new();
    let mut start = 0usize;
    while let Some(nl) = bytes[start..].iter().position(|b| *b == b'\n') {
        lines.push((at + start as u64, bytes[start..start + nl].to_vec()));
        start += nl + 1;
    }
    let next = at + start as u64;
    let from = next.saturating_sub(GUARD);
    let guard = copy.range(from, next - from).map_err(|e| e.to_string())?;
    Ok(Some(Next { reset, lines, at: next, guard, seen: stamp }))
}
