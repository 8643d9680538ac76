//! `GET /api/v1/logs/search?q=&service=`: a literal (or, with `regex=true`, a regular
//! expression) over the synced files of a service or target, newest files first, each match with
//! its line number and `context=` lines around it; compressed copies are searched as they read.
//! Bounded: `limit=` matches and [`SEARCH_BUDGET`] of reading, after which what was found is
//! answered marked `truncated`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_sinks::files::FileQuery;

use super::copy::Copy;
use super::{files, internal};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// How long one search may read at most: what it found by then is answered, marked `truncated`.
const SEARCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
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

#[utoipa::path(
    get,
    path = "/api/v1/logs/search",
    tag = "logs",
    summary = "Text or regex search in the synced files.",
    params(SearchQuery),
    responses(
        (status = 200, description = "matches with context", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
pub async fn search(
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
            let Ok(copy) = Copy::find(&mirror, &row.path) else { continue };
            let Ok(reader) = copy.reader() else { continue };
            searched += 1;
            let mut before: std::collections::VecDeque<String> = Default::default();
            // Matches still collecting their lines after.
            let mut open: Vec<usize> = Vec::new();
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
