//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every endpoint of the gateway. It is
//! built from the routers themselves (each route is registered with its `#[utoipa::path]`
//! operation by `routes!`), so it lists exactly what the gateway serves.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_axum::routes;

use super::ApiRouter;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(openapi))
}

/// The document's frame: title, version, how to authenticate; the paths come from the routers.
pub fn document() -> OpenApi {
    use utoipa::OpenApi as _;
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(
            title = "tailrace gateway",
            description = "Live subjects over SSE and WebSocket, history pages, the synced logs, \
                           fleet telemetry and issues. With auth on, send `Authorization: Bearer \
                           TOKEN` (or `access_token=` where headers cannot be sent: EventSource, \
                           WebSocket). Every 4xx answer is JSON naming the field that was wrong."
        ),
        components(schemas(crate::error::ErrorBody)),
        tags(
            (name = "logs", description = "Synced files, history pages of stored lines, posted entries"),
            (name = "live", description = "Live subjects and tails (SSE, WebSocket)"),
            (name = "fleet", description = "Controller reports and the fleet's apps and customers"),
            (name = "issues", description = "Issue groups"),
            (name = "sync", description = "Directory sync"),
            (name = "ops", description = "Health, status, metrics, streams"),
            (name = "pages", description = "The web pages and their assets"),
        )
    )]
    struct Frame;
    let mut doc = Frame::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "access_token",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("access_token"))),
    );
    doc
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "ops",
    summary = "This document.",
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json"))
)]
async fn openapi(Extension(doc): Extension<Arc<OpenApi>>) -> Json<OpenApi> {
    Json(OpenApi::clone(&doc))
}
