//! `/socket.io/`: the seed's own live-tail client, unchanged. Its Next.js page speaks Socket.IO
//! (socket.io-client 4.x, polling upgraded to WebSocket), emitting `start_tail_f {cvm_ip,
//! log_path, log_name}` and `stop_tail_f`, and receiving `log {name, line}` and `tail_f_status
//! {status, message}`. Served by socketioxide on the same tail machinery as `/api/v1/ws`
//! ([`watch::start`]): the same roles (the `auth::require` layer runs first: a token as
//! `Authorization: Bearer` or `?access_token=`, which socket.io-client's `query` option sends),
//! the same Origin check, the same limit of tails per connection.
//!
//! A refused start comes back as `tail_f_status {status: "error", message, name}`, the event the
//! seed's page already shows (Socket.IO reserves no `error` event for us to use); so does the
//! gateway stopping (`kind: "shutdown"`), so the page does not stay "active" with nothing coming. A client that
//! cannot keep up (its send buffer full) is disconnected rather than silently skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::IntoResponse;
use futures::StreamExt;
use serde_json::{json, Value};
use socketioxide::extract::{HttpExtension, SocketRef, TryData};
use socketioxide::SocketIo;
use utoipa_axum::routes;

use super::ApiRouter;
use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::protocol::ServerEvent;
use crate::state::AppState;
use crate::tail::{watch, TailRequest};

/// Packets a Socket.IO connection may have waiting to be sent before it is disconnected.
const SEND_BUFFER: usize = 4096;

/// The tails of one Socket.IO connection. socketioxide runs each event (and the disconnect) in
/// a task of its own, so starts, stops and the disconnect may interleave: a start reserves its
/// slot before it waits, and a tail that comes up after the connection closed stops at once.
#[derive(Debug, Default)]
struct TailSet {
    /// `(host, name)` → the task forwarding its events (`None` while it starts).
    tails: HashMap<(String, String), Option<tokio::task::JoinHandle<()>>>,
    closed: bool,
}

type Tails = Arc<Mutex<TailSet>>;

pub fn router(state: &AppState) -> ApiRouter {
    // One service for both methods: each `layer()` of a Socket.IO layer starts an engine of its
    // own, and a polling session's GET and POST must reach the same one.
    let (service, io) = SocketIo::builder()
        .req_path("/socket.io/")
        .max_buffer_size(SEND_BUFFER)
        .max_payload(state.config.max_body_bytes as u64)
        .build_svc();
    let on_connect = {
        let state = state.clone();
        move |socket: SocketRef, HttpExtension(caller): HttpExtension<Caller>| {
            let state = state.clone();
            async move { connected(&state, &socket, &caller) }
        }
    };
    io.ns("/", on_connect);
    let (schemas, paths, _): utoipa_axum::router::UtoipaMethodRouter<AppState> = routes!(polling, posting);
    let engine = axum::routing::get_service(service.clone()).post_service(service);
    let routes = ApiRouter::new().routes((schemas, paths, engine));
    let hosts = state.hosts.clone();
    let routes = routes.route_layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let hosts = hosts.clone();
        async move {
            match super::ws::check_origin(req.headers(), &hosts) {
                Ok(()) => next.run(req).await,
                Err(e) => e.into_response(),
            }
        }
    }));
    super::protect(routes, state, Access::Read)
}

/// One Socket.IO connection: its tails, started and stopped by the seed's events.
fn connected(state: &AppState, socket: &SocketRef, caller: &Caller) {
    let tails: Tails = Arc::default();
    let start = {
        let (state, caller, tails) = (state.clone(), caller.clone(), tails.clone());
        move |socket: SocketRef, TryData(data): TryData<serde_json::Value>| {
            let (state, caller, tails) = (state.clone(), caller.clone(), tails.clone());
            async move {
                let parsed = data
                    .map_err(|e| {
                        ApiError::bad_request("data", &format!("start_tail_f needs a JSON object: {e}"))
                    })
                    .and_then(crate::extract::from_json::<TailRequest>);
                let req = match parsed {
                    Ok(req) => req,
                    Err(e) => return refuse(&socket, None, &e),
                };
                if let Err(e) = start_tail(&state, &caller, &socket, &tails, &req).await {
                    refuse(&socket, req.name().ok().as_deref(), &e);
                }
            }
        }
    };
    socket.on("start_tail_f", start);
    let stop = {
        let tails = tails.clone();
        move |socket: SocketRef| {
            let tails = tails.clone();
            async move { stop_all(&socket, &tails) }
        }
    };
    socket.on("stop_tail_f", stop);
    socket.on_disconnect(move || {
        let tails = tails.clone();
        async move {
            // Aborting the tasks drops their watches, which releases the tails.
            let mut set = tails.lock().expect("tails lock");
            set.closed = true;
            for (_, task) in set.tails.drain() {
                task.inspect(tokio::task::JoinHandle::abort);
            }
        }
    });
}

/// `stop_tail_f`: every tail of the connection ends, each answered `stopped`.
fn stop_all(socket: &SocketRef, tails: &Tails) {
    let stopped: Vec<(String, String)> = {
        let mut set = tails.lock().expect("tails lock");
        set.tails
            .drain()
            .map(|(key, task)| {
                task.inspect(tokio::task::JoinHandle::abort);
                key
            })
            .collect()
    };
    for (host, name) in stopped {
        let data = json!({ "status": "stopped", "kind": "stopped", "message": "stopped by the viewer", "name": name, "host": host });
        let _ = socket.emit(ServerEvent::TailFStatus.name(), &data);
    }
}

async fn start_tail(
    state: &AppState,
    caller: &Caller,
    socket: &SocketRef,
    tails: &Tails,
    req: &TailRequest,
) -> Result<(), ApiError> {
    let max = state.config.max_ws_subscriptions;
    let name = req.name()?;
    let key = (req.cvm_ip.trim().to_owned(), name);
    {
        // The slot is taken before the wait, so starts at once cannot pass the limit together.
        let mut set = tails.lock().expect("tails lock");
        set.tails.retain(|_, t| t.as_ref().is_none_or(|t| !t.is_finished()));
        if set.tails.contains_key(&key) {
            return Ok(()); // already watched (or starting) on this connection
        }
        if set.tails.len() >= max {
            return Err(ApiError::bad_request(
                "subscriptions",
                &format!("this connection already holds {max} tails (gateway.max_ws_subscriptions)"),
            ));
        }
        set.tails.insert(key.clone(), None);
    }
    let w = match watch::start(state, caller, req, None).await {
        Ok(w) => w,
        Err(e) => {
            tails.lock().expect("tails lock").tails.remove(&key);
            return Err(e);
        }
    };
    let socket = socket.clone();
    let mut events = w.events;
    let stopping = state.stopping.clone();
    let (host, name) = key.clone();
    let task = tokio::spawn(async move {
        loop {
            let e = tokio::select! {
                e = events.next() => e,
                // The gateway is stopping: the seed's page shows an `error` status (it has no
                // other way to hear of it), instead of staying "active" with nothing arriving.
                _ = stopping.cancelled() => {
                    let data = json!({
                        "status": "error",
                        "kind": "shutdown",
                        "message": "the gateway is stopping; start the tail again in a moment",
                        "name": name,
                        "host": host,
                    });
                    let _ = socket.emit(ServerEvent::TailFStatus.name(), &data);
                    break;
                }
            };
            let Some(e) = e else { break };
            if let Err(err) = socket.emit(e.event.name(), &e.data) {
                tracing::info!(error = %err, "a Socket.IO client cannot take more; disconnecting it");
                let _ = socket.disconnect();
                break;
            }
            if e.ends {
                break;
            }
        }
    });
    let mut set = tails.lock().expect("tails lock");
    let closed = set.closed;
    match set.tails.get_mut(&key) {
        Some(slot) if !closed => *slot = Some(task),
        // Stopped or disconnected while it started: it ends now.
        _ => task.abort(),
    }
    Ok(())
}

/// A refused request as the seed's page shows errors: a `tail_f_status` of status `error`.
fn refuse(socket: &SocketRef, name: Option<&str>, e: &ApiError) {
    let (_, body) = e.body();
    let data: Value = json!({
        "status": "error",
        "kind": "refused",
        "message": body["detail"],
        "field": body["field"],
        "name": name,
    });
    let _ = socket.emit(ServerEvent::TailFStatus.name(), &data);
}

/// The operations of `/socket.io/` for the OpenAPI document; the requests themselves are
/// answered by the Socket.IO service registered in their place.
#[utoipa::path(
    get,
    path = "/socket.io/",
    tag = "live",
    summary = "Socket.IO (the seed's client): Engine.IO polling, or the upgrade to WebSocket.",
    params(("EIO" = String, Query, description = "Engine.IO protocol version (4)"), ("transport" = String, Query, description = "polling or websocket")),
    responses(
        (status = 200, description = "Engine.IO packets", content_type = "text/plain"),
        (status = 101, description = "switched to WebSocket"),
        (status = 400, description = "not an Engine.IO request", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn polling() {}

#[utoipa::path(
    post,
    path = "/socket.io/",
    tag = "live",
    summary = "Socket.IO (the seed's client): Engine.IO packets sent over long-polling.",
    responses(
        (status = 200, description = "accepted", content_type = "text/plain"),
        (status = 400, description = "not an Engine.IO request", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn posting() {}
