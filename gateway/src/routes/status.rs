//! `GET /status`: is the broker connected, and what do its streams and consumers hold.

use utoipa_axum::routes;

use super::ApiRouter;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tailrace_nats::topology::{self, StreamReport};

use crate::auth::Access;
use crate::state::AppState;

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(status)), state, Access::Read)
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub broker: Broker,
    pub streams: Vec<StreamReport>,
    /// Why the streams could not be read, when they could not.
    pub error: Option<String>,
    pub uptime_seconds: u64,
    /// The sync targets' status, from the sync role (empty when none runs).
    pub sync: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Broker {
    pub connected: bool,
    pub state: String,
    pub server: String,
    pub version: String,
}

pub async fn collect(state: &AppState) -> Status {
    let conn = state.client.connection_state();
    let info = state.client.server_info();
    let (streams, error) = match topology::inspect(&state.js).await {
        Ok(s) => (s, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Status {
        broker: Broker {
            connected: conn == async_nats::connection::State::Connected,
            state: conn.to_string(),
            server: info.server_name,
            version: info.version,
        },
        streams,
        error,
        uptime_seconds: state.started.elapsed().as_secs(),
        sync: super::sync::statuses(state).await.unwrap_or_default(),
    }
}

#[utoipa::path(
    get,
    path = "/status",
    tag = "ops",
    summary = "The broker, every stream with its consumers, sync targets.",
    responses(
        (status = 200, description = "the status report", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(collect(&state).await)
}
