//! The issue table over HTTP:
//! - `GET /api/v1/issues?scope=&severity=&window=&sort=&limit=&offset=`: a page of issues,
//!   most occurrences first by default; `window` (`24h`, `7d`, `30d`, any duration) counts
//!   occurrences over the last that long and leaves out issues with none in it.
//! - `GET /api/v1/issues/{scope}/{fingerprint}`: one issue with its hourly trend.
//!
//! A viewer sees the issues of catalog sources (and of reports, which name no source), as it
//! sees their lines.

use utoipa_axum::routes;

use super::ApiRouter;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_schemas::{Severity, Timestamp};
use tailrace_sinks::issues::{IssueQuery, IssueRow, IssueSort, IssuesView};

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

pub fn router(state: &AppState) -> ApiRouter {
    let routes = ApiRouter::new().routes(routes!(list)).routes(routes!(one));
    super::protect(routes, state, Access::Read)
}

/// The most issues one page holds.
const MAX_LIMIT: usize = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    scope: Option<String>,
    severity: Option<String>,
    window: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn view(state: &AppState) -> Result<&IssuesView, ApiError> {
    state.issues.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "this gateway keeps no issue table (it runs without the issues sink)".to_owned(),
        )
    })
}

/// Whether `caller` may see `row`: operators all; viewers the issues of catalog sources, and
/// those that name no source (from reports).
fn visible(state: &AppState, caller: &Caller, row: &IssueRow) -> bool {
    let viewer = state.auth.enabled() && caller.role.is_none_or(|r| !r.grants(Access::Control));
    if !viewer || row.sources.is_empty() {
        return true;
    }
    let catalog = &state.config.catalog;
    row.sources.iter().any(|s| catalog.kinds.values().flatten().any(|f| &f.name == s))
}

#[utoipa::path(
    get,
    path = "/api/v1/issues",
    tag = "issues",
    summary = "Issue groups, filtered and sorted.",
    params(ListQuery),
    responses(
        (status = 200, description = "issues and totals", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let severity = q
        .severity
        .as_deref()
        .map(|s| s.parse::<Severity>().map_err(|e| ApiError::bad_request("severity", &e)))
        .transpose()?;
    let window = q
        .window
        .as_deref()
        .map(|w| {
            humantime::parse_duration(w).map_err(|e| {
                ApiError::bad_request("window", &format!("{w:?} is not a duration such as 24h or 7d: {e}"))
            })
        })
        .transpose()?;
    let sort = match q.sort.as_deref() {
        None | Some("count") => IssueSort::Count,
        Some("last_seen") => IssueSort::LastSeen,
        Some("first_seen") => IssueSort::FirstSeen,
        Some(other) => {
            return Err(ApiError::bad_request(
                "sort",
                &format!("{other:?}: sort by count, last_seen or first_seen"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request("limit", &format!("between 1 and {MAX_LIMIT}")));
    }
    let query = IssueQuery { scope: q.scope, severity, window, sort, limit: usize::MAX, offset: 0 };
    let page = view(&state)?.list(&query, Timestamp::now()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let shown: Vec<_> = page.issues.into_iter().filter(|i| visible(&state, &caller, &i.row)).collect();
    let total = shown.len();
    let issues: Vec<_> = shown.into_iter().skip(q.offset.unwrap_or(0)).take(limit).collect();
    Ok(Json(json!({
        "total": total,
        "window": window.map(|w| humantime::format_duration(w).to_string()),
        "issues": issues,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/issues/{scope}/{fingerprint}",
    tag = "issues",
    summary = "One issue group with its trend and samples.",
    params(("scope" = String, Path, description = "the scope (host or customer)"), ("fingerprint" = String, Path, description = "the fingerprint")),
    responses(
        (status = 200, description = "the issue", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
        (status = 404, description = "no such issue", body = crate::error::ErrorBody),
    )
)]
async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((scope, fingerprint)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let row = view(&state)?
        .get(&scope, &fingerprint)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .filter(|row| visible(&state, &caller, row))
        .ok_or_else(|| ApiError::NotFound(format!("issue {fingerprint} in {scope}")))?;
    let trend: Vec<Value> = row
        .hourly
        .iter()
        .map(|(hour, n)| json!([Timestamp::from_unix_seconds(hour * 3600).to_rfc3339(), n]))
        .collect();
    let mut body = serde_json::to_value(&row).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["trend"] = Value::Array(trend);
    body["last_24h"] = json!(row.count_since(
        Timestamp::now().saturating_add_nanos(-(Duration::from_secs(86_400).as_nanos() as i64))
    ));
    Ok(Json(body))
}
