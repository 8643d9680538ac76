//! Live tail over HTTP:
//! - `GET /api/v1/tail/catalog`: advertised hosts with the files offered for their type, each
//!   saying whether the host has it (as its producer found; `POST /api/v1/tail/catalog/refresh
//!   ?host=` has it look again).
//! - `GET /api/v1/tail/list?host=&dir=`: a directory on a host (answered by its producer).
//! - `GET /api/v1/tail/stream?host=&path=[&name=]`: starts (or joins) a tail and streams it as
//!   Server-Sent Events `log` and `tail_f_status`, for clients that cannot send (EventSource).
//!   Leaving the page releases the tail; `Last-Event-ID` resumes after the last line received.

use utoipa_axum::routes;

use super::ApiRouter;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_schemas::{decode, encode, subject, DirListing, ListRequest, TailHost};

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::extract::Query;
use crate::sse;
use crate::state::AppState;
use crate::tail::{hosts, watch, TailRequest};

pub fn router(state: &AppState) -> ApiRouter {
    let read = ApiRouter::new().routes(routes!(catalog)).routes(routes!(refresh)).routes(routes!(stream));
    let control = ApiRouter::new().routes(routes!(list));
    super::protect(read, state, Access::Read).merge(super::protect(control, state, Access::Control))
}

#[utoipa::path(
    get,
    path = "/api/v1/tail/catalog",
    tag = "live",
    summary = "The hosts that can be tailed and the catalog of their files.",
    responses(
        (status = 200, description = "hosts and kinds", content_type = "application/json"),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn catalog(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let hosts: Vec<Value> = hosts::list(&state).await?.iter().map(|h| host_entry(&state, h)).collect();
    Ok(Json(json!({ "hosts": hosts, "kinds": state.config.catalog })))
}

/// A host with its catalog's files, each saying whether the host has it (`null`: not known
/// yet).
fn host_entry(state: &AppState, h: &TailHost) -> Value {
    let files: Vec<Value> = state
        .config
        .catalog
        .files(&h.kind)
        .iter()
        .map(|f| {
            let present = h.present.as_ref().map(|p| p.contains(&f.path));
            json!({ "name": f.name, "path": f.path, "present": present })
        })
        .collect();
    json!({
        "host": h.host,
        "address": h.address,
        "kind": h.kind,
        "producer": h.producer,
        "files": files,
        "checked_at": h.checked_at,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HostQuery {
    /// The host's name or address.
    host: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tail/catalog/refresh",
    tag = "live",
    summary = "Look again which of its catalog's files a host has.",
    params(HostQuery),
    responses(
        (status = 200, description = "the host with its files", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
        (status = 503, description = "the producer did not answer", body = crate::error::ErrorBody),
    )
)]
async fn refresh(State(state): State<AppState>, Query(q): Query<HostQuery>) -> Result<Json<Value>, ApiError> {
    let advert = hosts::resolve(&state, q.host.trim()).await?;
    let reply = tokio::time::timeout(
        LIST_TIMEOUT,
        state.client.request(subject::tail_catalog(&advert.host).to_string(), Vec::new().into()),
    )
    .await
    .map_err(|_| ApiError::Unavailable(format!("{} did not answer within {LIST_TIMEOUT:?}", advert.host)))?
    .map_err(|e| ApiError::Unavailable(format!("looking on {}: {e}", advert.host)))?;
    let fresh: TailHost = decode(&reply.payload).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(host_entry(&state, &fresh)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    host: String,
    dir: String,
}

/// How long a listing may take (an SSH connect plus one `find`).
const LIST_TIMEOUT: Duration = Duration::from_secs(25);

#[utoipa::path(
    get,
    path = "/api/v1/tail/list",
    tag = "live",
    summary = "A directory listing on a host, for picking files to tail.",
    params(ListQuery),
    responses(
        (status = 200, description = "entries", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DirListing>, ApiError> {
    if !q.dir.starts_with('/') {
        return Err(ApiError::bad_request("dir", &format!("must be an absolute path, got {:?}", q.dir)));
    }
    if q.dir.len() > 4096 || q.dir.contains(['\0', '\n']) {
        return Err(ApiError::bad_request("dir", &"longer than 4096 bytes, or holds a NUL or newline"));
    }
    let advert = hosts::resolve(&state, q.host.trim()).await?;
    let request =
        encode(&ListRequest { v: 1, dir: q.dir.clone() }).map_err(|e| ApiError::Internal(e.to_string()))?;
    let reply = tokio::time::timeout(
        LIST_TIMEOUT,
        state.client.request(subject::tail_list(&advert.host).to_string(), request.into()),
    )
    .await
    .map_err(|_| {
        ApiError::Unavailable(format!("{} did not answer a listing within {LIST_TIMEOUT:?}", advert.host))
    })?
    .map_err(|e| ApiError::Unavailable(format!("listing on {}: {e}", advert.host)))?;
    let listing: DirListing = decode(&reply.payload).map_err(|e| ApiError::Internal(e.to_string()))?;
    match &listing.error {
        None => Ok(Json(listing)),
        Some(reason) if reason.starts_with(tailrace_schemas::dir_listing::NOT_SERVED) => {
            Err(ApiError::Refused {
                field: "dir".into(),
                reason: reason[tailrace_schemas::dir_listing::NOT_SERVED.len()..].to_owned(),
            })
        }
        Some(reason)
            if ["no such directory", "not a directory", "permission denied", "dir must"]
                .iter()
                .any(|p| reason.starts_with(p)) =>
        {
            Err(ApiError::bad_request("dir", reason))
        }
        Some(reason) => Err(ApiError::Unavailable(format!("{}: {reason}", advert.host))),
    }
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    #[serde(flatten)]
    tail: TailRequest,
}

/// `Last-Event-ID` of a `log` event: `{seq}.{index}`.
fn resume_point(headers: &HeaderMap) -> Result<Option<(u64, usize)>, ApiError> {
    let Some(raw) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) else { return Ok(None) };
    watch::line_id(raw, "Last-Event-ID").map(Some)
}

#[utoipa::path(
    get,
    path = "/api/v1/tail/stream",
    tag = "live",
    summary = "One live tail as Server-Sent Events (log and tail_f_status).",
    params(("cvm_ip" = String, Query, description = "the host's name or address"), ("log_path" = String, Query, description = "the file"), ("log_name" = Option<String>, Query, description = "display name; the file's stem when absent"), ("after" = Option<String>, Query, description = "continue after this line cursor (seq.index) instead of starting with context")),
    responses(
        (status = 200, description = "tail events", content_type = "text/event-stream"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    // `Last-Event-ID` (an EventSource reconnecting) wins over `after=`.
    let resume = match resume_point(&headers)? {
        Some(r) => Some(r),
        None => q.tail.after.as_deref().map(|raw| watch::line_id(raw, "after")).transpose()?,
    };
    let w = watch::start(&state, &caller, &q.tail, resume).await?;
    let frames = w.events.map(|e| sse::frame(Some(e.event.name()), e.id.as_deref(), &e.data.to_string()));
    Ok(sse::response(frames, state.config.keep_alive, &state.stopping))
}
