//! `GET /api/v1/streams` lists streams and consumers; `POST /api/v1/streams/apply` makes the
//! server match the declared topology (operators only).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use tailrace_nats::topology::{self, ApplyOutcome, StreamReport, Topology};

use crate::auth::Access;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    let read = super::protect(Router::new().route("/api/v1/streams", get(list)), state, Access::Read);
    let control =
        super::protect(Router::new().route("/api/v1/streams/apply", post(apply)), state, Access::Control);
    read.merge(control)
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<StreamReport>>, ApiError> {
    topology::inspect(&state.js).await.map(Json).map_err(|e| ApiError::Unavailable(e.to_string()))
}

async fn apply(State(state): State<AppState>) -> Result<Json<Vec<ApplyOutcome>>, ApiError> {
    let topo = Topology::from_config(&state.streams);
    let outcomes = topo.apply(&state.js).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    tracing::info!(?outcomes, "topology applied from the API");
    Ok(Json(outcomes))
}
