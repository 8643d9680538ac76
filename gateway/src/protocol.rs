//! The live-tail protocol's events (the seed's Socket.IO names, kept): what a client sends over
//! the WebSocket ([`ClientEvent`], parsed here and nowhere else) and what the gateway sends
//! over WebSocket and SSE ([`ServerEvent`]), each frame `{"event": NAME, "data": {...}}`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::tail::TailRequest;

/// What the gateway sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// `{name, host, line, offset, subject, cursor}`: one line of a tail, and where it is stored.
    Log,
    /// `{status, kind, message, name, host, path, at}`: what a tail is doing.
    TailFStatus,
    /// `{subject, seq, payload}`: a message of a subscription.
    Message,
    Subscribed,
    Unsubscribed,
    /// `{error, detail, field, request}`: a refused request, or a subscription that broke.
    Error,
    /// The client fell too far behind; its stream ends (the WebSocket closes with 1013).
    Lagged,
    /// `{detail}`: the gateway is stopping; the stream ends and the client should reconnect
    /// (an `EventSource` does so on its own, resuming by `Last-Event-ID`).
    Shutdown,
}

impl ServerEvent {
    pub const fn name(self) -> &'static str {
        match self {
            ServerEvent::Log => "log",
            ServerEvent::TailFStatus => "tail_f_status",
            ServerEvent::Message => "message",
            ServerEvent::Subscribed => "subscribed",
            ServerEvent::Unsubscribed => "unsubscribed",
            ServerEvent::Error => "error",
            ServerEvent::Lagged => "lagged",
            ServerEvent::Shutdown => "shutdown",
        }
    }

    /// The event a stream's end is told with (`lagged` or `error`).
    pub fn from_ending(name: &str) -> Self {
        if name == ServerEvent::Lagged.name() {
            ServerEvent::Lagged
        } else {
            ServerEvent::Error
        }
    }

    /// The WebSocket text frame of this event with `data`.
    pub fn frame(self, data: &Value) -> String {
        json!({ "event": self.name(), "data": data }).to_string()
    }
}

/// `stop_tail_f`: every tail of the connection, or the one named.
#[derive(Debug, Default, Deserialize)]
pub struct StopRequest {
    #[serde(default, alias = "host")]
    pub cvm_ip: Option<String>,
    #[serde(default, alias = "name")]
    pub log_name: Option<String>,
}

/// `subscribe`: a subject filter from a sequence or a time.
#[derive(Debug, Deserialize)]
pub struct SubscribeRequest {
    pub subject: String,
    #[serde(default)]
    pub from: Option<u64>,
    #[serde(default)]
    pub since: Option<String>,
}

/// `unsubscribe`.
#[derive(Debug, Deserialize)]
pub struct UnsubscribeRequest {
    pub subject: String,
}

/// What a client sends.
#[derive(Debug)]
pub enum ClientEvent {
    StartTailF(TailRequest),
    StopTailF(StopRequest),
    Subscribe(SubscribeRequest),
    Unsubscribe(UnsubscribeRequest),
}

#[derive(Debug, Deserialize)]
struct Frame {
    event: String,
    #[serde(default)]
    data: Value,
}

impl ClientEvent {
    /// Parses one text frame. A refusal comes with the event's name (empty when the frame is
    /// not even `{"event": ...}`), for the `request` of the `error` answer.
    pub fn parse(text: &str) -> Result<Self, (String, ApiError)> {
        let frame: Frame = serde_json::from_str(text).map_err(|e| {
            let e =
                ApiError::bad_request("frame", &format!("not {{\"event\": ..., \"data\": {{...}}}}: {e}"));
            (String::new(), e)
        })?;
        let data = frame.data;
        let parsed = match frame.event.as_str() {
            "start_tail_f" => crate::extract::from_json(data).map(ClientEvent::StartTailF),
            // `{}`, or no data at all, stops every tail.
            "stop_tail_f" if data.is_null() => Ok(ClientEvent::StopTailF(StopRequest::default())),
            "stop_tail_f" => crate::extract::from_json(data).map(ClientEvent::StopTailF),
            "subscribe" => crate::extract::from_json(data).map(ClientEvent::Subscribe),
            "unsubscribe" => crate::extract::from_json(data).map(ClientEvent::Unsubscribe),
            other => Err(ApiError::bad_request(
                "event",
                &format!(
                    "unknown event {other:?}; expected start_tail_f, stop_tail_f, subscribe or unsubscribe"
                ),
            )),
        };
        parsed.map_err(|e| (frame.event, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_into_events_and_refusals_name_the_field() {
        let e =
            ClientEvent::parse(r#"{"event":"subscribe","data":{"subject":"logs.raw.>","from":3}}"#).unwrap();
        assert!(matches!(e, ClientEvent::Subscribe(SubscribeRequest { from: Some(3), .. })));
        assert!(matches!(ClientEvent::parse(r#"{"event":"stop_tail_f"}"#), Ok(ClientEvent::StopTailF(_))));
        let field = |text: &str| match ClientEvent::parse(text) {
            Err((_, ApiError::BadRequest { field, .. })) => field,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(field("not json"), "frame");
        assert_eq!(field(r#"{"event":"dance"}"#), "event");
        assert_eq!(field(r#"{"event":"subscribe","data":{"subject":"x","from":"abc"}}"#), "from");
        assert_eq!(field(r#"{"event":"start_tail_f","data":{"log_path":"/x"}}"#), "cvm_ip");
        assert_eq!(ServerEvent::TailFStatus.frame(&json!({})), r#"{"data":{},"event":"tail_f_status"}"#);
    }
}
