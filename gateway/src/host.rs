//! Which `Host` names the gateway answers to, and which browser `Origin`s may open its
//! WebSocket.
//!
//! Without a Host check a DNS-rebinding page (`evil.example` resolving to 127.0.0.1) is
//! same-origin with the gateway as far as the browser knows, and in open mode (no tokens) it
//! would get full control. So requests must name one of [`Hosts`]: loopback names, the bind
//! address and `gateway.allowed_hosts`. A WebSocket `Origin` must be listed in
//! `gateway.allowed_origins`, or be `http(s)://` plus the request's (allowed) Host, scheme
//! included: `evil.example` never matches, and neither does `file://` or `null`.

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::Response;

use crate::config::GatewayConfig;
use crate::error::ApiError;

/// The host names (lower case, without port; IPv6 in brackets) the gateway answers to.
#[derive(Debug, Clone)]
pub struct Hosts {
    names: Vec<String>,
    any: bool,
    origins: Vec<String>,
}

impl Hosts {
    pub fn new(cfg: &GatewayConfig) -> Self {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
        let ip = cfg.bind.ip();
        if !ip.is_unspecified() {
            names.push(match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            });
        }
        names.extend(cfg.allowed_hosts.iter().map(|h| normalize(h)));
        let any = cfg.allowed_hosts.iter().any(|h| h == "*");
        Self { names, any, origins: cfg.allowed_origins.clone() }
    }

    /// Whether a `Host` header value (`name[:port]`) names this gateway.
    pub fn allows_host(&self, host: &str) -> bool {
        self.any || self.names.iter().any(|n| *n == normalize(host))
    }

    /// Whether a browser page from `origin` may open a WebSocket to a request for `host`.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        if self.origins.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let (Some(host), Some((scheme, authority))) = (host, origin.split_once("://")) else {
            return false;
        };
        matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
            && authority.eq_ignore_ascii_case(host)
            && self.allows_host(host)
    }
}

/// `Name:8080.` → `name`; `[::1]:8080` → `[::1]`.
fn normalize(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        host.split_once(']').map_or(host.as_str(), |(h, _)| h).to_owned() + "]"
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
                name.to_owned()
            }
            _ => host.clone(),
        }
    };
    name.trim_end_matches('.').to_owned()
}

/// Middleware: a request whose `Host` is not one of ours gets 400 naming `Host`. `/health`
/// is exempt (load balancers probe it by address), and so is a request without `Host` (not a
/// browser: browsers always send it).
pub async fn check(State(hosts): State<Hosts>, req: Request, next: Next) -> Result<Response, ApiError> {
    if req.uri().path() != "/health" {
        // Every Host header, and the authority of an absolute-form request line.
        let named = req
            .headers()
            .get_all(HOST)
            .iter()
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned())
            .chain(req.uri().authority().map(|a| a.as_str().to_owned()));
        for host in named {
            if !hosts.allows_host(&host) {
                return Err(ApiError::bad_request(
                    "Host",
                    &format!(
                        "{host:?} is not a name this gateway answers to; add it to gateway.allowed_hosts"
                    ),
                ));
            }
        }
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(allowed: &[&str], origins: &[&str]) -> Hosts {
        Hosts::new(&GatewayConfig {
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn loopback_names_the_bind_address_and_listed_hosts_are_ours() {
        let h = hosts(&["ops.example"], &[]);
        for ok in
            ["127.0.0.1:8080", "localhost", "LOCALHOST:80", "[::1]:8080", "ops.example:443", "ops.example."]
        {
            assert!(h.allows_host(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8080", "127.0.0.2", "localhost.evil.example", ""] {
            assert!(!h.allows_host(bad), "{bad}");
        }
        assert!(hosts(&["*"], &[]).allows_host("anything.example"));
    }

    #[test]
    fn an_origin_must_be_http_or_https_on_an_allowed_host_or_listed() {
        let h = hosts(&[], &["https://dash.example"]);
        assert!(h.allows_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(h.allows_origin("https://dash.example", Some("127.0.0.1:8080")));
        // DNS rebinding: Host and Origin agree, but the name is not ours.
        assert!(!h.allows_origin("http://evil.example", Some("evil.example")));
        assert!(!h.allows_origin("file://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!h.allows_origin("null", Some("127.0.0.1:8080")));
        assert!(!h.allows_origin("http://127.0.0.1:9999", Some("127.0.0.1:8080")));
    }
}
