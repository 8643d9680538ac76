//! The seed logs service's API over the file index and the sync's mirrors:
//! `GET /api/v1/services`, `/api/v1/services/stats`, `/api/v1/logs?service=&limit=` (also
//! `target=`, `name=`, `since=`, `until=`), `/api/v1/logs/content?path=&tail=` (also `target=`,
//! `offset=` and `length=`), `/api/v1/logs/search?q=&service=` (literal, or `regex=true`; also
//! `target=`, `context=`, `limit=`; bounded in matches and in time). Content is read from the mirror: `tail` from the end of the file,
//! without reading the rest. Paths are confined to the target's mirror: NUL bytes, absolute
//! paths, `..` (also percent-encoded, which the query decoding turns into `..`) and symlinks
//! that lead out of it are refused with 400 naming `path`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_schemas::Timestamp;
use tailrace_sinks::files::{FileQuery, FilesView};

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// The seed's services, listed even before they hold files.
const SEED_SERVICES: &[&str] = &["server", "client", "monitoring", "vllm", "slurm", "logs", "uncategorized"];
/// Lines `tail=` returns at most.
const MAX_TAIL: usize = 10_000;
/// Bytes one content answer carries at most.
const MAX_BYTES: u64 = 4 << 20;

pub fn router(state: &AppState) -> Router<AppState> {
    super::protect(
        Router::new()
            .route("/api/v1/services", get(services))
            .route("/api/v1/services/stats", get(stats))
            .route("/api/v1/logs", get(logs))
            .route("/api/v1/logs/content", get(content))
            .route("/api/v1/logs/search", get(search)),
        state,
        Access::Read,
    )
}

fn files(state: &AppState) -> Result<(&FilesView, &Path), ApiError> {
    state.files.as_ref().map(|(v, root)| (v, root.as_path())).ok_or_else(|| {
        ApiError::Unavailable("this gateway keeps no file index (it runs without the files sink)".to_owned())
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

async fn services(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (view, _) = files(&state)?;
    let mut names: Vec<String> = SEED_SERVICES.iter().map(|s| (*s).to_owned()).collect();
    for s in view.services().map_err(internal)? {
        if !names.contains(&s.service) {
            names.push(s.service);
        }
    }
    Ok(Json(json!({ "services": names })))
}

async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (view, _) = files(&state)?;
    Ok(Json(json!({ "services": view.services().map_err(internal)? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    service: Option<String>,
    target: Option<String>,
    name: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    removed: bool,
}

fn time(field: &'static str, v: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    v.map(|s| Timestamp::parse_rfc3339(s).map_err(|e| ApiError::bad_request(field, &format!("{s:?}: {e}"))))
        .transpose()
}

async fn logs(State(state): State<AppState>, Query(q): Query<LogsQuery>) -> Result<Json<Value>, ApiError> {
    let (view, _) = files(&state)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::bad_request("limit", &format!("{limit}: between 1 and 10000")));
    }
    let query = FileQuery {
        service: q.service,
        target: q.target,
        name: q.name,
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
        include_removed: q.removed,
        limit,
    };
    if let (Some(s), Some(u)) = (query.since, query.until) {
        if s > u {
            return Err(ApiError::bad_request("until", &"is before since"));
        }
    }
    let (total, rows) = view.files(&query).map_err(internal)?;
    Ok(Json(json!({ "total": total, "logs": rows })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentQuery {
    path: String,
    target: Option<String>,
    tail: Option<usize>,
    offset: Option<u64>,
    length: Option<u64>,
}

/// The target's mirror directory: the one named, or the only one there is.
fn target_root(sync_root: &Path, target: Option<&str>) -> Result<(String, PathBuf), ApiError> {
    let known: Vec<String> = std::fs::read_dir(sync_root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("files").is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let name = match target {
        Some(t) if known.iter().any(|k| k == t) => t.to_owned(),
        Some(t) => {
            return Err(ApiError::bad_request(
                "target",
                &format!("no synced target is called {t:?}; the targets are: {}", known.join(", ")),
            ))
        }
        None if known.len() == 1 => known[0].clone(),
        None => {
            return Err(ApiError::bad_request(
                "target",
                &format!("is required: the targets are {}", known.join(", ")),
            ))
        }
    };
    Ok((name.clone(), sync_root.join(name).join("files")))
}

/// `path` inside `root`, after resolving symlinks; refused naming `path` otherwise.
fn confine(root: &Path, path: &str) -> Result<PathBuf, ApiError> {
    let refuse = |why: &str| ApiError::bad_request("path", &format!("{path:?}: {why}"));
    if path.is_empty() {
        return Err(refuse("is empty"));
    }
    if path.contains('\0') {
        return Err(refuse("holds a NUL byte"));
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(refuse("must be relative to the target's sync root"));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refuse("may not go up with .."));
    }
    let real_root = root.canonicalize().map_err(internal)?;
    let real = match root.join(p).canonicalize() {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound(format!("log file {path:?}")))
        }
        Err(e) => return Err(internal(e)),
    };
    if !real.starts_with(&real_root) {
        return Err(refuse("leads out of the sync root"));
    }
    if !real.is_file() {
        return Err(refuse("is not a file"));
    }
    Ok(real)
}

/// The start offset of the last `n` lines of `f` (of `size` bytes), reading back from the end.
fn tail_start(f: &mut std::fs::File, size: u64, n: usize) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut end = size;
    // A last line without its newline counts as a line.
    let mut newlines = 0usize;
    let mut skip_last = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut buf = vec![0; (end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        for (i, b) in buf.iter().enumerate().rev() {
            if *b == b'\n' {
                if skip_last && start + i as u64 == size - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        skip_last = false;
        end = start;
    }
    Ok(0)
}

async fn content(
    State(state): State<AppState>,
    Query(q): Query<ContentQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, sync_root) = files(&state)?;
    let (target, root) = target_root(sync_root, q.target.as_deref())?;
    let file = confine(&root, &q.path)?;
    if q.tail.is_some() && (q.offset.is_some() || q.length.is_some()) {
        return Err(ApiError::bad_request("tail", &"give tail, or offset and length, not both"));
    }
    let mut f = std::fs::File::open(&file).map_err(internal)?;
    let size = f.metadata().map_err(internal)?.len();
    let (start, len) = match (q.tail, q.offset) {
        (Some(n), _) => {
            if n == 0 || n > MAX_TAIL {
                return Err(ApiError::bad_request("tail", &format!("{n}: between 1 and {MAX_TAIL}")));
            }
            let start = tail_start(&mut f, size, n).map_err(internal)?;
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
    };
    f.seek(SeekFrom::Start(start)).map_err(internal)?;
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut buf).map_err(internal)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(Json(json!({
        "target": target,
        "path": q.path,
        "size": size,
        "offset": start,
        "length": buf.len(),
        "lines": text.lines().count(),
        "content": text,
    })))
}

/// How long one search may read at most: what it found by then is answered, marked `truncated`.
const SEARCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    service: Option<String>,
    target: Option<String>,
    #[serde(default)]
    regex: bool,
    /// Lines before and after each match.
    context: Option<usize>,
    limit: Option<usize>,
}

/// One match: where, the line, and the lines around it.
#[derive(Debug, serde::Serialize)]
struct Match {
    target: String,
    path: String,
    service: String,
    line_number: u64,
    line: String,
    before: Vec<String>,
    after: Vec<String>,
}

async fn search(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let (view, sync_root) = files(&state)?;
    if q.q.is_empty() {
        return Err(ApiError::bad_request("q", &"is empty: give the text to find"));
    }
    let pattern = if q.regex {
        regex::Regex::new(&q.q)
            .map_err(|e| ApiError::bad_request("q", &format!("not a regular expression: {e}")))?
    } else {
        regex::Regex::new(&regex::escape(&q.q)).map_err(internal)?
    };
    let context = q.context.unwrap_or(2);
    if context > 20 {
        return Err(ApiError::bad_request("context", &format!("{context}: at most 20 lines")));
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit", &format!("{limit}: between 1 and 1000")));
    }
    let query = FileQuery { service: q.service, target: q.target, limit: usize::MAX, ..Default::default() };
    let (_, rows) = view.files(&query).map_err(internal)?;
    let root = sync_root.to_owned();
    let (matches, truncated, files_searched) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut matches: Vec<Match> = Vec::new();
        let mut searched = 0usize;
        for row in rows {
            if matches.len() >= limit || started.elapsed() > SEARCH_BUDGET {
                return (matches, true, searched);
            }
            let mirror = root.join(&row.target).join("files");
            let Ok(file) = confine(&mirror, &row.path) else { continue };
            let Ok(f) = std::fs::File::open(file) else { continue };
            searched += 1;
            let mut before: std::collections::VecDeque<String> = Default::default();
            // Matches still collecting their lines after.
            let mut open: Vec<usize> = Vec::new();
            let reader = std::io::BufReader::new(f);
            for (n, line) in std::io::BufRead::split(reader, b'\n').enumerate() {
                let Ok(bytes) = line else { break };
                let text = String::from_utf8_lossy(&bytes).trim_end_matches('\r').to_owned();
                open.retain(|&i| {
                    matches[i].after.push(text.clone());
                    matches[i].after.len() < context
                });
                if pattern.is_match(&text) {
                    if matches.len() >= limit {
                        return (matches, true, searched);
                    }
                    matches.push(Match {
                        target: row.target.clone(),
                        path: row.path.clone(),
                        service: row.category.clone(),
                        line_number: n as u64 + 1,
                        line: text.clone(),
                        before: before.iter().cloned().collect(),
                        after: Vec::new(),
                    });
                    if context > 0 {
                        open.push(matches.len() - 1);
                    }
                }
                before.push_back(text);
                if before.len() > context {
                    before.pop_front();
                }
                if n % 4096 == 0 && started.elapsed() > SEARCH_BUDGET {
                    return (matches, true, searched);
                }
            }
        }
        (matches, false, searched)
    })
    .await
    .map_err(internal)?;
    Ok(Json(json!({
        "q": q.q,
        "regex": q.regex,
        "total": matches.len(),
        "truncated": truncated,
        "files_searched": files_searched,
        "matches": matches,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_starts_at_the_nth_line_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        for (body, n, want) in [
            ("a\nb\nc\n", 1, "c\n"),
            ("a\nb\nc\n", 2, "b\nc\n"),
            ("a\nb\nc", 1, "c"),
            ("a\nb\nc", 2, "b\nc"),
            ("a\nb\nc\n", 9, "a\nb\nc\n"),
            ("", 3, ""),
        ] {
            let p = dir.path().join("f");
            std::fs::write(&p, body).unwrap();
            let mut f = std::fs::File::open(&p).unwrap();
            let start = tail_start(&mut f, body.len() as u64, n).unwrap() as usize;
            assert_eq!(&body[start..], want, "{body:?} tail {n}");
        }
        let long: String = (0..100_000).map(|i| format!("{i}\n")).collect();
        let p = dir.path().join("long");
        std::fs::write(&p, &long).unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        let start = tail_start(&mut f, long.len() as u64, 20_000).unwrap() as usize;
        assert_eq!(long[start..].lines().next(), Some("80000"));
    }
}
