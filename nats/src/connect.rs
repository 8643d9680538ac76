//! A client from configuration.

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use tokio::sync::watch;

use crate::config::NatsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("nats.url is not set and no managed server was started")]
    NoUrl,
    #[error("cannot read nats.credentials {path}: {source}")]
    Credentials { path: String, source: std::io::Error },
    #[error("nats.tls.cert and nats.tls.key must be set together")]
    HalfClientCert,
    #[error("nats.user and nats.password must be set together")]
    HalfUserPassword,
    #[error("nats.url: {url:?} is not a server address ({reason})")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("no connection to NATS at {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}

/// Set when the process has begun to stop: a connection lost from then on is the process (or
/// the server it manages) going away, not news for the operator.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the process as stopping (on its signal): later disconnects are logged at debug.
pub fn stopping() {
    STOPPING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Exponential backoff for reconnect attempts: `initial * 2^attempt`, capped at `max`.
pub fn backoff(attempt: usize, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20) as u32).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// Counts the times the client has (re)connected: 1 after the first connection, one more after
/// each reconnect. A role that must put something back after the server restarted (the
/// topology's memory-backed bucket) waits for it to change.
pub type Connections = watch::Receiver<u64>;

/// Connects to `url` (or `cfg.url`) with the configured credentials, TLS and reconnect backoff.
/// Reconnects forever once connected; the first connection waits `connect_timeout` (0: not at
/// all, for a client that must start while its server is away and publishes when it returns).
pub async fn connect(cfg: &NatsConfig, url: Option<&str>, name: &str) -> Result<Client, ConnectError> {
    connect_watched(cfg, url, name).await.map(|(client, _)| client)
}

/// [`connect`], and a [`Connections`] counter of its (re)connections.
pub async fn connect_watched(
    cfg: &NatsConfig,
    url: Option<&str>,
    name: &str,
) -> Result<(Client, Connections), ConnectError> {
    let url = url.or(cfg.url.as_deref()).ok_or(ConnectError::NoUrl)?.to_owned();
    let mut opts = match &cfg.credentials {
        Some(path) => ConnectOptions::with_credentials_file(path.clone())
            .await
            .map_err(|source| ConnectError::Credentials { path: path.display().to_string(), source })?,
        None => ConnectOptions::new(),
    };
    match (&cfg.user, &cfg.password) {
        (Some(user), Some(password)) => {
            opts = opts.user_and_password(user.clone(), password.expose().to_owned());
        }
        (None, None) => {}
        _ => return Err(ConnectError::HalfUserPassword),
    }
    if cfg.tls.required {
        opts = opts.require_tls(true);
    }
    if let Some(ca) = &cfg.tls.ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(cert), Some(key)) => opts = opts.add_client_certificate(cert.clone(), key.clone()),
        (None, None) => {}
        _ => return Err(ConnectError::HalfClientCert),
    }
    let (initial, max) = (cfg.reconnect.initial_delay, cfg.reconnect.max_delay);
    let (count, connections) = watch::channel(0u64);
    opts = opts
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        // async-nats counts from 1 and asks before the very first attempt too: that one, and
        // the first after a lost connection, go at once (a CLI command paid 100 ms per start).
        .reconnect_delay_callback(move |attempt| match attempt {
            0 | 1 => Duration::ZERO,
            n => backoff(n - 2, initial, max),
        })
        .event_callback(move |event| {
            if matches!(event, async_nats::Event::Connected) {
                count.send_modify(|n| *n += 1);
            }
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected
                        if STOPPING.load(std::sync::atomic::Ordering::Relaxed) =>
                    {
                        tracing::debug!("disconnected from NATS while stopping")
                    }
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
                    other => tracing::debug!(event = %other, "NATS client event"),
                }
            }
        });
    let timeout = cfg.reconnect.connect_timeout;
    // `nats.url` may list several servers (a cluster), comma-separated.
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<async_nats::ServerAddr>()
                .map_err(|e| ConnectError::BadUrl { url: s.to_owned(), reason: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client =
        opts.connect(servers).await.map_err(|source| ConnectError::Connect { url: url.clone(), source })?;
    if timeout.is_zero() {
        return Ok((client, connections));
    }
    // `retry_on_initial_connect` returns at once; wait here so callers start with a live client.
    let deadline = tokio::time::Instant::now() + timeout;
    while client.connection_state() != async_nats::connection::State::Connected {
        if tokio::time::Instant::now() >= deadline {
            return Err(ConnectError::Timeout { url, timeout });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((client, connections))
}

/// How long a process that is stopping waits for its client to flush.
pub const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Flushes what `client` still buffers, waiting at most `wait`: while the server is gone a
/// flush waits for it to come back, which would hold a stopping process forever. What is not
/// flushed is what JetStream never acknowledged, so nothing is recorded as delivered that was
/// not. Whether it flushed.
pub async fn flush_within(client: &Client, wait: Duration) -> bool {
    match tokio::time::timeout(wait, client.flush()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not flush the NATS connection");
            false
        }
        Err(_) => {
            tracing::warn!(?wait, "the NATS server did not answer a flush; stopping without it");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (i, m) = (Duration::from_millis(50), Duration::from_secs(5));
        assert_eq!(backoff(0, i, m), Duration::from_millis(50));
        assert_eq!(backoff(3, i, m), Duration::from_millis(400));
        assert_eq!(backoff(50, i, m), m);
    }
}
