//! The fleet over HTTP: the seed's store queries on the telemetry table, JSON with the seed's
//! field names in snake_case. Every `period` is `24h`, `7d` (the default) or `30d`.
//!
//! - `GET /api/v1/apps?period=&sort=memory|deployments|errors&order=asc|desc`: the fleet app
//!   summary with the seed's summary cards (apps, deployments, apps with errors).
//! - `GET /api/v1/apps/{app}?period=`: one app's summary with its memory-limit advice.
//! - `GET /api/v1/apps/{app}/history?period=`: hourly buckets for the chart.
//! - `GET /api/v1/apps/{app}/customers?period=`: the customer breakdown.
//! - `GET /api/v1/apps/{app}/issues?limit=`: the app's issues, most recently seen first.
//! - `GET /api/v1/customers`, `GET /api/v1/customers/{id}/apps?period=`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_schemas::Timestamp;
use tailrace_sinks::issues::{IssueQuery, IssueSort};
use tailrace_sinks::telemetry::{Period, TelemetryView};

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .route("/api/v1/apps", get(fleet))
        .route("/api/v1/apps/{app}", get(app))
        .route("/api/v1/apps/{app}/history", get(history))
        .route("/api/v1/apps/{app}/customers", get(app_customers))
        .route("/api/v1/apps/{app}/issues", get(app_issues))
        .route("/api/v1/customers", get(customers))
        .route("/api/v1/customers/{id}/apps", get(customer_apps));
    super::protect(routes, state, Access::Read)
}

#[derive(Debug, Deserialize)]
struct PeriodQuery {
    period: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FleetQuery {
    period: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IssuesQuery {
    limit: Option<usize>,
}

fn period(p: Option<&str>) -> Result<Period, ApiError> {
    match p {
        None => Ok(Period::default()),
        Some(p) => Period::parse(p)
            .ok_or_else(|| ApiError::bad_request("period", &format!("{p:?}: one of 24h, 7d, 30d"))),
    }
}

fn view(state: &AppState) -> Result<&TelemetryView, ApiError> {
    state.telemetry.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "this gateway keeps no telemetry table (it runs without the telemetry sink)".to_owned(),
        )
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn to_json(v: &impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(internal)
}

async fn fleet(State(state): State<AppState>, Query(q): Query<FleetQuery>) -> Result<Json<Value>, ApiError> {
    let period = period(q.period.as_deref())?;
    let descending = match q.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(o) => return Err(ApiError::bad_request("order", &format!("{o:?}: asc or desc"))),
    };
    let now = Timestamp::now();
    let mut apps = view(&state)?.fleet(period, now).map_err(internal)?;
    match q.sort.as_deref() {
        None | Some("deployments") => apps.sort_by(|a, b| {
            a.deployment_count.cmp(&b.deployment_count).then(a.avg_memory_mb.total_cmp(&b.avg_memory_mb))
        }),
        Some("memory") => apps.sort_by(|a, b| a.avg_memory_mb.total_cmp(&b.avg_memory_mb)),
        Some("errors") => apps.sort_by_key(|a| a.total_errors),
        Some(s) => {
            return Err(ApiError::bad_request("sort", &format!("{s:?}: memory, deployments or errors")))
        }
    }
    if descending {
        apps.reverse();
    }
    Ok(Json(json!({
        "period": period.as_str(),
        "since": period.since(now),
        "total_apps": apps.len(),
        "total_deployments": apps.iter().map(|a| a.deployment_count).sum::<usize>(),
        "apps_with_errors": apps.iter().filter(|a| a.total_errors > 0).count(),
        "apps": apps,
    })))
}

async fn app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(q.period.as_deref())?;
    let detail = view(&state)?
        .app(&app, period, Timestamp::now())
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound(format!("app {app:?}")))?;
    Ok(Json(to_json(&detail)?))
}

async fn history(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(q.period.as_deref())?;
    let now = Timestamp::now();
    let view = view(&state)?;
    let detail = view
        .app(&app, period, now)
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound(format!("app {app:?}")))?;
    let points = view.history(&app, period, now).map_err(internal)?;
    Ok(Json(json!({
        "app_name": app,
        "period": period.as_str(),
        "since": period.since(now),
        "catalog_limit_mb": detail.summary.catalog_limit_mb,
        "points": points,
    })))
}

async fn app_customers(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(q.period.as_deref())?;
    let now = Timestamp::now();
    let customers = view(&state)?.customers_of(&app, period, now).map_err(internal)?;
    Ok(Json(
        json!({ "app_name": app, "period": period.as_str(), "since": period.since(now), "customers": customers }),
    ))
}

async fn app_issues(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<IssuesQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if limit == 0 || limit > 500 {
        return Err(ApiError::bad_request("limit", &"between 1 and 500"));
    }
    let issues = state.issues.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "this gateway keeps no issue table (it runs without the issues sink)".to_owned(),
        )
    })?;
    let query =
        IssueQuery { scope: Some(app.clone()), sort: IssueSort::LastSeen, limit, ..Default::default() };
    let page = issues.list(&query, Timestamp::now()).map_err(internal)?;
    let rows: Vec<Value> = page
        .issues
        .into_iter()
        .map(|i| {
            let mut v = to_json(&i.row)?;
            v["affected_customers"] = json!(i.row.customers.keys().collect::<Vec<_>>());
            v["occurrence_count"] = json!(i.row.count);
            Ok(v)
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(json!({ "app_name": app, "total": page.total, "issues": rows })))
}

async fn customers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let customers = view(&state)?.customers().map_err(internal)?;
    Ok(Json(json!({ "total": customers.len(), "customers": customers })))
}

async fn customer_apps(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(q.period.as_deref())?;
    let now = Timestamp::now();
    let apps = view(&state)?
        .customer_apps(&id, period, now)
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound(format!("customer {id:?}")))?;
    Ok(Json(
        json!({ "customer_id": id, "period": period.as_str(), "since": period.since(now), "apps": apps }),
    ))
}
