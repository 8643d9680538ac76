//! `GET /health`: the process is up and serving. Open to all, for load balancers.

use utoipa_axum::routes;

use super::ApiRouter;
use axum::Json;
use serde_json::{json, Value};

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(health))
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "ops",
    summary = "Liveness: the gateway answers.",
    responses(
        (status = 200, description = "status ok and version", content_type = "application/json"),
    )
)]
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}
