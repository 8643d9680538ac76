//! `GET /api/v1/streams` lists streams and consumers; `POST /api/v1/streams/apply` makes the
//! server match the declared topology (operators only).

use utoipa_axum::routes;

use super::ApiRouter;
use axum::extract::State;
use axum::Json;
use tailrace_nats::topology::{self, ApplyOutcome, StreamReport, Topology};

use crate::auth::Access;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: &AppState) -> ApiRouter {
    let read = super::protect(ApiRouter::new().routes(routes!(list)), state, Access::Read);
    let control = super::protect(ApiRouter::new().routes(routes!(apply)), state, Access::Control);
    read.merge(control)
}

#[utoipa::path(
    get,
    path = "/api/v1/streams",
    tag = "ops",
    summary = "The streams with sizes and consumers.",
    responses(
        (status = 200, description = "streams", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<StreamReport>>, ApiError> {
    topology::inspect(&state.js).await.map(Json).map_err(|e| ApiError::Unavailable(e.to_string()))
}

#[utoipa::path(
    post,
    path = "/api/v1/streams/apply",
    tag = "ops",
    summary = "Creates or updates the declared streams.",
    responses(
        (status = 200, description = "what was created, updated or left", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn apply(State(state): State<AppState>) -> Result<Json<Vec<ApplyOutcome>>, ApiError> {
    let topo = Topology::from_config(&state.streams);
    let outcomes = topo.apply(&state.js).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    tracing::info!(?outcomes, "topology applied from the API");
    Ok(Json(outcomes))
}
