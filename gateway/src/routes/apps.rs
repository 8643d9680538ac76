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

use utoipa_axum::routes;

use super::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_schemas::Timestamp;
use tailrace_sinks::issues::{IssueQuery, IssueSort};
use tailrace_sinks::telemetry::{Period, TelemetryView};

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

pub fn router(state: &AppState) -> ApiRouter {
    let routes = ApiRouter::new()
        .routes(routes!(fleet))
        .routes(routes!(app))
        .routes(routes!(history))
        .routes(routes!(app_customers))
        .routes(routes!(app_issues))
        .routes(routes!(customers))
        .routes(routes!(customer_apps));
    super::protect(routes, state, Access::Read)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PeriodQuery {
    period: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FleetQuery {
    period: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(
    get,
    path = "/api/v1/apps",
    tag = "fleet",
    summary = "Every app of the fleet over a period, with its memory-limit advice.",
    params(FleetQuery),
    responses(
        (status = 200, description = "apps and totals", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}",
    tag = "fleet",
    summary = "One app over a period.",
    params(("app" = String, Path, description = "the app name"), PeriodQuery),
    responses(
        (status = 200, description = "the app", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
        (status = 404, description = "no such app", body = crate::error::ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/history",
    tag = "fleet",
    summary = "One app's hourly memory and CPU over a period.",
    params(("app" = String, Path, description = "the app name"), PeriodQuery),
    responses(
        (status = 200, description = "points per hour", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
        (status = 404, description = "no such app", body = crate::error::ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(q.period.as_deref())?;
    let now = Timestamp::now();
    let view = view(&state)?;
    let info =
        view.app_info(&app).map_err(internal)?.ok_or_else(|| ApiError::NotFound(format!("app {app:?}")))?;
    let points = view.history(&app, period, now).map_err(internal)?;
    Ok(Json(json!({
        "app_name": app,
        "period": period.as_str(),
        "since": period.since(now),
        "catalog_limit_mb": tailrace_sinks::telemetry::mem_size::parse_mb(&info.catalog_limit),
        "points": points,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/customers",
    tag = "fleet",
    summary = "The customers running an app.",
    params(("app" = String, Path, description = "the app name"), PeriodQuery),
    responses(
        (status = 200, description = "customers", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/issues",
    tag = "fleet",
    summary = "The issues reported for an app.",
    params(("app" = String, Path, description = "the app name"), IssuesQuery),
    responses(
        (status = 200, description = "issues", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
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
            let mut affected: Vec<&str> = i.row.customers.keys().map(|c| c.as_str()).collect();
            affected.sort_unstable();
            v["affected_customers"] = json!(affected);
            v["occurrence_count"] = json!(i.row.count);
            Ok(v)
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(json!({ "app_name": app, "total": page.total, "issues": rows })))
}

#[utoipa::path(
    get,
    path = "/api/v1/customers",
    tag = "fleet",
    summary = "Every customer that reported.",
    responses(
        (status = 200, description = "customers", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn customers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let customers = view(&state)?.customers().map_err(internal)?;
    Ok(Json(json!({ "total": customers.len(), "customers": customers })))
}

#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/apps",
    tag = "fleet",
    summary = "The apps of one customer.",
    params(("id" = String, Path, description = "the customer id"), PeriodQuery),
    responses(
        (status = 200, description = "apps", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
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
