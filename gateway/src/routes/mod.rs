//! HTTP endpoints, one module per group.

pub mod apps;
pub mod health;
pub mod history;
pub mod issues;
pub mod log_entry;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod report;
pub mod socketio;
pub mod sse;
pub mod status;
pub mod streams;
pub mod sync;
pub mod tail;
pub mod ws;

use axum::middleware::from_fn_with_state;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{self, Access};
use crate::state::AppState;

/// A router whose every route is registered with its OpenAPI operation (`routes!` of handlers
/// annotated with `#[utoipa::path]`), so the document served at `/api/v1/openapi.json` cannot
/// fall behind the routes. Plain `route` is refused by clippy (`clippy.toml`).
pub type ApiRouter = OpenApiRouter<AppState>;

/// Puts every route of `router` behind `access`.
pub(crate) fn protect(router: ApiRouter, state: &AppState, access: Access) -> ApiRouter {
    router.route_layer(from_fn_with_state((state.auth.clone(), access), auth::require))
}
