//! Test clients of a real gateway socket (feature `testing`): an SSE reader, a WebSocket client
//! speaking the `{event, data}` protocol, and [`serve`] to put an app on a loopback port.
//! Every crate's gateway tests use these; none writes its own.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::AppState;

/// Serves the app of `state` on a free loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve(state: AppState) -> String {
    // Served until the test process ends.
    serve_until(state, tokio_util::sync::CancellationToken::new()).await
}

/// [`serve`] until `stop` is cancelled (the gateway's own shutdown).
pub async fn serve_until(state: AppState, stop: tokio_util::sync::CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    crate::start_on(listener, state, stop).expect("serve");
    base
}

/// One Server-Sent Event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {}", self.data))
    }
}

/// Reads SSE events from a streaming response.
pub struct SseReader {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl std::fmt::Debug for SseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseReader").field("status", &self.status).finish_non_exhaustive()
    }
}

impl SseReader {
    /// Opens `url`, sending `Last-Event-ID` when given.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> Self {
        let mut req = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = tokio::time::timeout(Duration::from_secs(30), req.send())
            .await
            .expect("SSE response headers within 30 s")
            .expect("SSE request sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        Self { status, headers, body: resp.bytes_stream().boxed(), buf: String::new() }
    }

    /// The next event (keep-alive comments skipped); panics after 15 s without one.
    pub async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                match parse_frame(&frame) {
                    Some(e) => return e,
                    None => continue,
                }
            }
            self.read_more().await;
        }
    }

    /// The first `n` bytes of the body from here on, unparsed (they are consumed).
    pub async fn raw(&mut self, n: usize) -> String {
        while self.buf.len() < n {
            self.read_more().await;
        }
        self.buf.drain(..n).collect()
    }

    /// The body from here on up to the end of its `n`th event, unparsed (it is consumed).
    pub async fn raw_events(&mut self, n: usize) -> String {
        loop {
            let (mut end, mut count) = (0, 0);
            while count < n {
                let Some(i) = self.buf[end..].find("\n\n") else { break };
                count += usize::from(parse_frame(&self.buf[end..end + i + 2]).is_some());
                end += i + 2;
            }
            if count == n {
                return self.buf.drain(..end).collect();
            }
            self.read_more().await;
        }
    }

    /// Whether the response ends with no event left in it; panics after 15 s if it goes on.
    pub async fn ended(&mut self) -> bool {
        loop {
            if !complete_events(&self.buf).is_empty() {
                return false;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(15), self.body.next())
                .await
                .expect("the SSE response to end within 15 s");
            match chunk {
                None => return true,
                Some(Ok(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(_)) => return false,
            }
        }
    }

    async fn read_more(&mut self) {
        let chunk = tokio::time::timeout(Duration::from_secs(15), self.body.next())
            .await
            .expect("an SSE event within 15 s");
        let chunk = chunk
            .unwrap_or_else(|| panic!("the stream ended (status {}); unread: {:?}", self.status, self.buf));
        self.buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream read")));
    }

    /// The next event named `event`, skipping others.
    pub async fn next_named(&mut self, event: &str) -> SseEvent {
        loop {
            let e = self.next().await;
            if e.event.as_deref() == Some(event) {
                return e;
            }
        }
    }
}

/// One SSE frame (up to its blank line) as an event; `None` for a comment (keep-alive).
fn parse_frame(frame: &str) -> Option<SseEvent> {
    let mut e = SseEvent::default();
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            e.id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("event:") {
            e.event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            e.data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (e.id.is_some() || e.event.is_some() || !e.data.is_empty()).then_some(e)
}

/// The events `body` (a prefix of an SSE body) holds whole: those whose blank line it has, as
/// an `EventSource` would have dispatched them before the connection was cut.
pub fn complete_events(body: &str) -> Vec<SseEvent> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(end) = rest.find("\n\n") {
        out.extend(parse_frame(&rest[..end + 2]));
        rest = &rest[end + 2..];
    }
    out
}

/// A WebSocket client of `/api/v1/ws`.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsClient")
    }
}

impl WsClient {
    /// Connects to `{base}/api/v1/ws` (an `http://` base).
    pub async fn connect(base: &str) -> Self {
        Self::connect_as(base, None).await
    }

    /// Connects with `?access_token=` when a token is given.
    pub async fn connect_as(base: &str, token: Option<&str>) -> Self {
        let mut url = format!("{}/api/v1/ws", base.replacen("http://", "ws://", 1));
        if let Some(t) = token {
            url.push_str(&format!("?access_token={t}"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket handshake");
        Self { socket }
    }

    /// Sends `{"event": event, "data": data}`.
    pub async fn send(&mut self, event: &str, data: Value) {
        let text = serde_json::json!({ "event": event, "data": data }).to_string();
        self.socket.send(Message::text(text)).await.expect("WebSocket send");
    }

    /// The next `(event, data)`; `None` when the server closed; panics after 15 s without one.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        // One deadline for the whole call: the server's pings must not keep extending it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a WebSocket event within 15 s");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON frame");
                    return Some((v["event"].as_str().unwrap_or_default().to_owned(), v["data"].clone()));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until the server closes; the close frame's code, if it sent one.
    pub async fn close_code(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await.expect("closed within 15 s") {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next event named `event`, skipping others.
    pub async fn next_named(&mut self, event: &str) -> Value {
        loop {
            let (name, data) = self.next().await.unwrap_or_else(|| panic!("closed before a {event} event"));
            if name == event {
                return data;
            }
        }
    }

    /// The `line`s of the next `n` `log` events, as `(name, line)`.
    pub async fn lines(&mut self, n: usize) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let d = self.next_named("log").await;
            out.push((
                d["name"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        out
    }
}
