//! HTTP endpoints, one module per group.

pub mod apps;
pub mod health;
pub mod history;
pub mod issues;
pub mod log_entry;
pub mod logs;
pub mod metrics;
pub mod report;
pub mod sse;
pub mod status;
pub mod streams;
pub mod sync;
pub mod tail;
pub mod ws;

use axum::middleware::from_fn_with_state;
use axum::Router;

use crate::auth::{self, Access};
use crate::state::AppState;

/// Puts every route of `router` behind `access`.
pub(crate) fn protect(router: Router<AppState>, state: &AppState, access: Access) -> Router<AppState> {
    router.route_layer(from_fn_with_state((state.auth.clone(), access), auth::require))
}
