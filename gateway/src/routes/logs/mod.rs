//! The seed logs service's API over the file index and the sync's mirrors:
//! `GET /api/v1/services`, `/api/v1/services/stats`, `/api/v1/logs?service=&limit=` (also
//! `target=`, `name=`, `since=`, `until=`, `removed=`), and by job:
//! - [`content`]: `/api/v1/logs/content?path=&tail=` (also `target=`, `offset=` and `length=`;
//!   `follow=1` streams appended lines as SSE);
//! - [`search`]: `/api/v1/logs/search?q=&service=` (literal, or `regex=true`; also `target=`,
//!   `context=`, `limit=`; bounded in matches and in time);
//! - [`copy`]: finding a file's copy in the mirror (confined to it: NUL bytes, absolute paths,
//!   `..`, also percent-encoded, which the query decoding turns into `..`, and symlinks that
//!   lead out of it are refused with 400 naming `path`) and reading it, plain or compressed
//!   by retention.
//!
//! Nothing here writes: the mirrors are the sync's, the index the files sink's.

mod content;
mod copy;
mod search;

use utoipa_axum::routes;

use super::ApiRouter;
use std::path::Path;

use axum::extract::State;
use axum::Json;
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

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(
        ApiRouter::new()
            .routes(routes!(services))
            .routes(routes!(stats))
            .routes(routes!(logs))
            .routes(routes!(content::content))
            .routes(routes!(search::search)),
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

#[utoipa::path(
    get,
    path = "/api/v1/services",
    tag = "logs",
    summary = "The synced services (categories) with file counts and sizes.",
    responses(
        (status = 200, description = "services", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/services/stats",
    tag = "logs",
    summary = "Totals of the synced logs.",
    responses(
        (status = 200, description = "statistics", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (view, _) = files(&state)?;
    Ok(Json(json!({ "services": view.services().map_err(internal)? })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(
    get,
    path = "/api/v1/logs",
    tag = "logs",
    summary = "The synced log files, filtered.",
    params(LogsQuery),
    responses(
        (status = 200, description = "files", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
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
