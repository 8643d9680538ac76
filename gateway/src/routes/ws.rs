//! `GET /api/v1/ws`: the WebSocket of the seed's live-tail protocol, plus subject subscriptions.
//!
//! Every frame is JSON text `{"event": NAME, "data": {...}}`.
//!
//! In:
//! - `start_tail_f {cvm_ip, log_path, log_name}`: watch a file (several at once are fine);
//! - `stop_tail_f {}` stops every tail of the connection, `{cvm_ip, log_name}` just that one;
//! - `subscribe {subject, from?, since?}` and `unsubscribe {subject}`: any readable subject.
//!
//! Out: `log {name, host, line, offset, subject, cursor}`, `tail_f_status {status, kind, message, name, host}`,
//! `subscribed {subject}` / `unsubscribed {subject}` acknowledging those requests,
//! `message {subject, seq, payload}` for subscriptions, `error {error, detail, field, request}`
//! for a refused request (the connection stays open), and `lagged` before the server closes a
//! connection that fell too far behind.
//!
//! The `Origin` of a browser's handshake must be this server's own or in
//! `gateway.allowed_origins`; frames and messages over the configured limits close the socket.

use utoipa_axum::routes;

use super::ApiRouter;
use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::protocol::{ClientEvent, ServerEvent, StopRequest, SubscribeRequest, UnsubscribeRequest};
use crate::state::AppState;
use crate::stream::{self, StreamItem};
use crate::tail::{watch, TailRequest};

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(upgrade)), state, Access::Read)
}

/// Frames waiting to be written to one socket; producers of frames wait when it is full, and a
/// subscription that waits too long lags and cuts the connection off.
const OUTBOUND_FRAMES: usize = 256;

/// Whether a browser page from `Origin` may open the socket: same origin on an allowed Host,
/// or listed in `gateway.allowed_origins` (see [`crate::host`]).
pub(crate) fn check_origin(headers: &HeaderMap, hosts: &crate::host::Hosts) -> Result<(), ApiError> {
    let Some(origin) = headers.get("origin") else {
        // Not a browser (browsers always send Origin on a WebSocket handshake).
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("(not text)");
    let host = headers.get("host").and_then(|v| v.to_str().ok());
    if hosts.allows_origin(origin, host) {
        return Ok(());
    }
    Err(ApiError::OriginRefused(origin.to_owned()))
}

/// The close code for a read error: 1009 for a frame or message over the limits (so the
/// client learns why), 1002 for a protocol violation, none when the connection is gone.
fn close_code(e: axum::Error) -> Option<(u16, &'static str)> {
    let inner = e.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Some((1009, "message too big")),
        Some(tungstenite::Error::Protocol(_)) => Some((1002, "protocol error")),
        _ => None,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/ws",
    tag = "live",
    summary = "WebSocket: the seed's start_tail_f/stop_tail_f and subscribe/unsubscribe events.",
    responses(
        (status = 101, description = "switched to the WebSocket protocol"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&headers, &state.hosts)?;
    let cfg = &state.config;
    Ok(ws
        .max_frame_size(cfg.max_ws_frame_bytes)
        .max_message_size(cfg.max_ws_message_bytes)
        .on_upgrade(move |socket| Connection::new(state, caller).serve(socket)))
}

enum Out {
    Frame(String),
    /// Send this frame, then close the socket.
    Last(String),
}

/// A task that ends when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Connection {
    state: AppState,
    caller: Caller,
    tx: mpsc::Sender<Out>,
    rx: Option<mpsc::Receiver<Out>>,
    /// (host, name) → the task forwarding that tail; dropping it releases the viewer's lease.
    tails: HashMap<(String, String), Task>,
    /// subject filter → the task forwarding it.
    subscriptions: HashMap<String, Task>,
}

impl Connection {
    fn new(state: AppState, caller: Caller) -> Self {
        let (tx, rx) = mpsc::channel(OUTBOUND_FRAMES);
        Self { state, caller, tx, rx: Some(rx), tails: HashMap::new(), subscriptions: HashMap::new() }
    }

    async fn serve(mut self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        let mut rx = self.rx.take().expect("served once");
        let mut ping = tokio::time::interval(self.state.config.keep_alive);
        ping.tick().await;
        let stopping = self.state.stopping.clone();
        loop {
            tokio::select! {
                msg = incoming.next() => match msg {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        self.refuse("", &ApiError::bad_request("frame", &"binary frames are not part of the protocol; send JSON text")).await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(e)) => {
                        if let Some((code, reason)) = close_code(e) {
                            let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                            let _ = sink.send(Message::Close(Some(frame))).await;
                        }
                        break;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                },
                out = rx.recv() => {
                    let Some(out) = out else { break };
                    let (text, last) = match out {
                        Out::Frame(t) => (t, false),
                        Out::Last(t) => (t, true),
                    };
                    if sink.send(Message::Text(Utf8Bytes::from(text))).await.is_err() {
                        break;
                    }
                    if last {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame { code: 1013, reason: Utf8Bytes::from_static("lagged") })))
                            .await;
                        break;
                    }
                }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
                // The gateway is stopping: say so and close as "going away", rather than be cut.
                _ = stopping.cancelled() => {
                    let data = json!({ "detail": "the gateway is stopping; reconnect" });
                    let _ = sink.send(Message::Text(Utf8Bytes::from(ServerEvent::Shutdown.frame(&data)))).await;
                    let frame = CloseFrame { code: 1001, reason: Utf8Bytes::from_static("the gateway is stopping") };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
        }
        // Dropping the tasks releases every lease this connection held.
        self.tails.clear();
        self.subscriptions.clear();
    }

    async fn send(&self, event: ServerEvent, data: &Value) {
        let _ = self.tx.send(Out::Frame(event.frame(data))).await;
    }

    async fn refuse(&self, request: &str, e: &ApiError) {
        let (_, mut body) = e.body();
        body["request"] = json!(request);
        self.send(ServerEvent::Error, &body).await;
    }

    fn active(&self) -> usize {
        self.tails.values().chain(self.subscriptions.values()).filter(|t| !t.0.is_finished()).count()
    }

    fn check_room(&self) -> Result<(), ApiError> {
        let max = self.state.config.max_ws_subscriptions;
        if self.active() >= max {
            return Err(ApiError::bad_request(
                "subscriptions",
                &format!("this connection already holds {max} tails and subscriptions (gateway.max_ws_subscriptions)"),
            ));
        }
        Ok(())
    }

    async fn on_text(&mut self, text: &str) {
        let event = match ClientEvent::parse(text) {
            Ok(event) => event,
            Err((name, e)) => return self.refuse(&name, &e).await,
        };
        // A refused start names the file it was for, so a page tailing several can tell which.
        let mut about = serde_json::Map::new();
        if let ClientEvent::StartTailF(req) = &event {
            about.insert("log_path".into(), json!(req.log_path));
            about.insert("log_name".into(), json!(req.name().ok()));
        }
        let (name, result) = match event {
            ClientEvent::StartTailF(req) => ("start_tail_f", self.start_tail(req).await),
            ClientEvent::StopTailF(req) => ("stop_tail_f", self.stop_tail(req).await),
            ClientEvent::Subscribe(req) => ("subscribe", self.subscribe(req).await),
            ClientEvent::Unsubscribe(req) => ("unsubscribe", self.unsubscribe(&req).await),
        };
        if let Err(e) = result {
            let (_, mut body) = e.body();
            body["request"] = json!(name);
            for (k, v) in about {
                body[k] = v;
            }
            self.send(ServerEvent::Error, &body).await;
        }
    }

    async fn start_tail(&mut self, req: TailRequest) -> Result<(), ApiError> {
        self.check_room()?;
        let resume = req.after.as_deref().map(|raw| watch::line_id(raw, "after")).transpose()?;
        let w = watch::start(&self.state, &self.caller, &req, resume).await?;
        let key = (req.cvm_ip.trim().to_owned(), w.name.clone());
        if self.tails.get(&key).is_some_and(|t| !t.0.is_finished()) {
            // Already watching it on this connection: a repeated start changes nothing (the
            // second claim is released as `w` drops).
            return Ok(());
        }
        let tx = self.tx.clone();
        let mut events = w.events;
        let task = tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let text = e.event.frame(&e.data);
                let out = if e.event == ServerEvent::Lagged { Out::Last(text) } else { Out::Frame(text) };
                if tx.send(out).await.is_err() || e.ends {
                    break;
                }
            }
        });
        self.tails.insert(key, Task(task));
        Ok(())
    }

    async fn stop_tail(&mut self, req: StopRequest) -> Result<(), ApiError> {
        let matches = |(h, n): &(String, String)| {
            req.cvm_ip.as_deref().is_none_or(|want| want.trim() == h)
                && req.log_name.as_deref().is_none_or(|want| want.trim() == n)
        };
        let stopping: Vec<(String, String)> = self.tails.keys().filter(|k| matches(k)).cloned().collect();
        if stopping.is_empty() && (req.cvm_ip.is_some() || req.log_name.is_some()) {
            return Err(ApiError::bad_request("log_name", &"this connection is not watching that tail"));
        }
        for key in stopping {
            self.tails.remove(&key);
            let (host, name) = key;
            self.send(
                ServerEvent::TailFStatus,
                &json!({
                    "status": "stopped",
                    "kind": "stopped",
                    "message": format!("stopped watching {name} on {host}"),
                    "name": name,
                    "host": host,
                }),
            )
            .await;
        }
        Ok(())
    }

    async fn subscribe(&mut self, req: SubscribeRequest) -> Result<(), ApiError> {
        let (filter, stream_name) = stream::access::resolve(&req.subject, &self.state.auth, &self.caller)?;
        let key = filter.to_string();
        if self.subscriptions.get(&key).is_some_and(|t| !t.0.is_finished()) {
            return Ok(());
        }
        self.check_room()?;
        let (start, field) = super::sse::start_point(&HeaderMap::new(), req.from, req.since.as_deref())?;
        let start = stream::check_start(&self.state.hub, stream_name, start, field).await?;
        // Subscribed before `subscribed` is sent, so everything published after it arrives.
        let items = stream::subscribe(self.state.hub.clone(), stream_name, key.clone(), start).await;
        let mut items = stream::access::Visibility::of(
            &self.state.auth,
            &self.caller,
            &self.state.config.catalog,
            stream_name,
        )
        .apply(items);
        let tx = self.tx.clone();
        let subject = key.clone();
        let task = tokio::spawn(async move {
            while let Some(item) = items.next().await {
                let (out, ends) = match (&item, item.ending(Some(&subject))) {
                    // The event's JSON is rendered once for every client; only the envelope is new.
                    (StreamItem::Event(e), _) => {
                        (Out::Frame(format!(r#"{{"event":"message","data":{}}}"#, e.json)), false)
                    }
                    // Lagged closes the socket; a failed subscription ends, the socket stays.
                    (StreamItem::Lagged(_), Some((name, data))) => {
                        (Out::Last(ServerEvent::from_ending(name).frame(&data)), true)
                    }
                    (_, Some((name, mut data))) => {
                        data["request"] = json!("subscribe");
                        (Out::Frame(ServerEvent::from_ending(name).frame(&data)), true)
                    }
                    (_, None) => continue,
                };
                if tx.send(out).await.is_err() || ends {
                    break;
                }
            }
        });
        self.subscriptions.insert(key.clone(), Task(task));
        self.send(ServerEvent::Subscribed, &json!({ "subject": key })).await;
        Ok(())
    }

    async fn unsubscribe(&mut self, req: &UnsubscribeRequest) -> Result<(), ApiError> {
        let filter = tailrace_schemas::SubjectFilter::parse(&req.subject)
            .map_err(|e| ApiError::bad_request("subject", &e))?;
        self.subscriptions
            .remove(filter.as_str())
            .ok_or_else(|| ApiError::bad_request("subject", &format!("not subscribed to {filter}")))?;
        self.send(ServerEvent::Unsubscribed, &json!({ "subject": filter.as_str() })).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_and_allowed_origins_pass_and_others_are_refused() {
        let hosts = |origins: &[&str]| {
            crate::host::Hosts::new(&crate::GatewayConfig {
                allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })
        };
        let none = hosts(&[]);
        assert!(check_origin(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"), &none).is_ok());
        assert!(check_origin(&headers(None, "127.0.0.1:8080"), &none).is_ok(), "not a browser");
        assert!(check_origin(&headers(Some("https://evil.example"), "127.0.0.1:8080"), &none).is_err());
        assert!(check_origin(&headers(Some("http://evil.example"), "evil.example"), &none).is_err());
        let allowed = hosts(&["https://ops.example"]);
        assert!(check_origin(&headers(Some("https://ops.example"), "127.0.0.1:8080"), &allowed).is_ok());
    }
}
