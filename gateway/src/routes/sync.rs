//! `POST /api/v1/sync/trigger[?target=NAME][&wait=true]` (the seed's manual trigger): asks the
//! sync role to sync one target, or every target, now. A target that is syncing already is not
//! synced twice: the trigger joins that sync. Answers 202 with the targets triggered and whether
//! each was running; with `wait=true`, 200 once the syncs ended, with their outcomes.

use utoipa_axum::routes;

use super::ApiRouter;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_schemas::{subject, TargetId};

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// How long a status request waits for the sync role.
const STATUS_WAIT: Duration = Duration::from_secs(2);
/// How long `wait=true` waits for a sync to end.
const SYNC_WAIT: Duration = Duration::from_secs(600);

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(trigger)), state, Access::Control)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TriggerQuery {
    target: Option<String>,
    #[serde(default)]
    wait: bool,
}

/// Every target's status from the sync role; `None` when no sync role answers.
pub async fn statuses(state: &AppState) -> Option<Vec<Value>> {
    let reply = tokio::time::timeout(STATUS_WAIT, state.client.request(subject::SYNC_STATUS, "".into()))
        .await
        .ok()?
        .ok()?;
    serde_json::from_slice(&reply.payload).ok()
}

#[utoipa::path(
    post,
    path = "/api/v1/sync/trigger",
    tag = "sync",
    summary = "Starts a sync of one target or all now.",
    params(TriggerQuery),
    responses(
        (status = 202, description = "started (or done, with wait=1)", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn trigger(
    State(state): State<AppState>,
    Query(q): Query<TriggerQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let all = statuses(&state).await.ok_or_else(|| {
        ApiError::Unavailable("no sync role answers (is [[sync.targets]] configured?)".into())
    })?;
    let chosen: Vec<&Value> = match &q.target {
        Some(name) => {
            let found: Vec<&Value> = all.iter().filter(|s| s["target"] == name.as_str()).collect();
            if found.is_empty() {
                let known: Vec<&str> = all.iter().filter_map(|s| s["target"].as_str()).collect();
                return Err(ApiError::bad_request(
                    "target",
                    &format!("no sync target is called {name:?}; the targets are: {}", known.join(", ")),
                ));
            }
            found
        }
        None => all.iter().collect(),
    };
    let mut answers = Vec::new();
    if q.wait {
        let requests = chosen.iter().map(|s| {
            let name = s["target"].as_str().unwrap_or_default().to_owned();
            let client = state.client.clone();
            async move {
                let subject = subject::sync_trigger(&TargetId::new(name.clone()));
                match tokio::time::timeout(SYNC_WAIT, client.request(subject.as_str().to_owned(), "".into())).await {
                    Ok(Ok(reply)) => serde_json::from_slice(&reply.payload).unwrap_or(Value::Null),
                    Ok(Err(e)) => json!({ "target": name, "status": "failed", "error": e.to_string() }),
                    Err(_) => json!({ "target": name, "status": "still running", "error": "not done within 10 minutes" }),
                }
            }
        });
        answers = futures::future::join_all(requests).await;
        return Ok((StatusCode::OK, Json(json!({ "synced": answers }))));
    }
    for s in chosen {
        let name = s["target"].as_str().unwrap_or_default().to_owned();
        let subject = subject::sync_trigger(&TargetId::new(name.clone()));
        state
            .client
            .publish(subject.as_str().to_owned(), "".into())
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        answers.push(json!({ "target": name, "already_running": s["running"] == true }));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "triggered": answers }))))
}
