//! The `[gateway]` configuration.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Where to listen. Loopback by default; any other address requires `tokens`.
    pub bind: SocketAddr,
    /// Bearer tokens and their roles. With none, the gateway is open, and loopback-only.
    pub tokens: Vec<TokenConfig>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest WebSocket frame accepted, in bytes.
    pub max_ws_frame_bytes: usize,
    /// Largest WebSocket message (frames reassembled) accepted, in bytes.
    pub max_ws_message_bytes: usize,
    /// Time limit of a REST request (not of streams).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Origins allowed to open a WebSocket (`https://dash.example`, scheme included); empty
    /// means same-origin only (`http(s)://` plus an allowed Host).
    pub allowed_origins: Vec<String>,
    /// Host names the gateway answers to besides `localhost`, `127.0.0.1`, `[::1]` and its bind
    /// address (`ops.example`, `10.0.0.5`); `"*"` for any (behind a proxy that checks Host).
    /// Other names get 400: a DNS-rebinding page must not reach the API.
    pub allowed_hosts: Vec<String>,
    /// A client whose socket accepts no bytes for this long is disconnected (a stalled SSE or
    /// WebSocket reader must not hold its send queue for good).
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Longest line sent to a browser or API client; longer lines are cut (at a character
    /// boundary) and marked `truncated`, wherever they came from.
    pub max_line_bytes: usize,
    /// Events a streaming client may fall behind before it is sent `lagged` and cut off.
    pub stream_buffer_events: usize,
    /// A subject watched by at least `fanout_linger_above` clients of this process has its
    /// events gathered for up to `fanout_linger` and sent together: each client is then woken
    /// and written to once per gathering instead of once per event. Below that many clients
    /// every event goes out at once.
    #[serde(with = "humantime_serde")]
    pub fanout_linger: Duration,
    pub fanout_linger_above: usize,
    /// Interval of SSE keep-alive comments: a stream silent for a whole interval gets one (so
    /// at most two intervals pass without a byte).
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// Tails plus subscriptions one WebSocket connection may hold at once.
    pub max_ws_subscriptions: usize,
    /// How long a viewer's claim on a live tail lasts unless renewed; the gateway renews at a
    /// third of it, so a gateway that dies releases its viewers' tails within this.
    #[serde(with = "humantime_serde")]
    pub tail_lease: Duration,
    /// Stored lines a viewer who starts or joins a live tail is shown first (then it goes
    /// live, with no gap or repeat between them).
    pub tail_context_lines: usize,
    /// Log files offered for live tail, per host type (`[gateway.catalog.cvm]`, ...). The default
    /// is the seed's Nutanix CVM list and the usual Linux system logs.
    pub catalog: tailrace_schemas::Catalog,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tokens: Vec::new(),
            max_body_bytes: 1 << 20,
            max_ws_frame_bytes: 64 << 10,
            max_ws_message_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            write_timeout: Duration::from_secs(30),
            max_line_bytes: 64 << 10,
            stream_buffer_events: 1024,
            fanout_linger: Duration::from_millis(50),
            fanout_linger_above: 2000,
            keep_alive: Duration::from_secs(15),
            max_ws_subscriptions: 64,
            tail_lease: Duration::from_secs(30),
            tail_context_lines: 100,
            catalog: tailrace_schemas::Catalog::default(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it, for logs (`ci-controller`, `alice`).
    pub name: String,
    /// The secret, at least 16 characters.
    pub token: String,
    pub role: Role,
    /// For a `controller` token: the one customer it may report as (required for that role).
    #[serde(default)]
    pub customer: Option<String>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("customer", &self.customer)
            .finish_non_exhaustive()
    }
}

/// A gateway configuration that must not be served.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "refusing to bind the gateway to {bind} without authentication: anyone who can reach it \
         could read every log. Set gateway.tokens (see README, \"Authentication\") or bind to \
         127.0.0.1"
    )]
    OpenNonLoopback { bind: SocketAddr },
    #[error("gateway.tokens[{index}].token ({name}) is {len} characters; use at least 16")]
    WeakToken { index: usize, name: String, len: usize },
    #[error("gateway.tokens[{index}] ({name}) repeats the token of gateway.tokens[{first}]")]
    DuplicateToken { index: usize, name: String, first: usize },
    #[error(
        "gateway.tokens[{index}].customer ({name}): a controller token names the one customer it \
         reports as (customer = \"...\"), so a token for one customer cannot report as another"
    )]
    ControllerWithoutCustomer { index: usize, name: String },
}

impl GatewayConfig {
    /// Checks the rules that serde cannot: token strength and the loopback-bind rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (index, t) in self.tokens.iter().enumerate() {
            if t.token.chars().count() < 16 {
                return Err(ConfigError::WeakToken {
                    index,
                    name: t.name.clone(),
                    len: t.token.chars().count(),
                });
            }
            if let Some(first) = self.tokens[..index].iter().position(|o| o.token == t.token) {
                return Err(ConfigError::DuplicateToken { index, name: t.name.clone(), first });
            }
            if t.role == Role::Controller && t.customer.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return Err(ConfigError::ControllerWithoutCustomer { index, name: t.name.clone() });
            }
        }
        if self.tokens.is_empty() && !self.bind.ip().is_loopback() {
            return Err(ConfigError::OpenNonLoopback { bind: self.bind });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: &str) -> TokenConfig {
        TokenConfig { name: "a".into(), token: t.into(), role: Role::Viewer, customer: None }
    }

    #[test]
    fn a_non_loopback_bind_needs_tokens() {
        let cfg = GatewayConfig { bind: "0.0.0.0:8080".parse().unwrap(), ..Default::default() };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("0.0.0.0:8080") && err.contains("gateway.tokens"), "{err}");
        let cfg = GatewayConfig { tokens: vec![token("0123456789abcdef")], ..cfg };
        assert!(cfg.validate().is_ok());
        assert!(GatewayConfig::default().validate().is_ok());
    }

    #[test]
    fn weak_and_repeated_tokens_are_refused() {
        let cfg = GatewayConfig { tokens: vec![token("short")], ..Default::default() };
        assert!(cfg.validate().unwrap_err().to_string().contains("gateway.tokens[0].token"));
        let cfg = GatewayConfig {
            tokens: vec![token("0123456789abcdef"), token("0123456789abcdef")],
            ..Default::default()
        };
        assert!(matches!(cfg.validate(), Err(ConfigError::DuplicateToken { index: 1, first: 0, .. })));
    }
}
