//! The gateway: tailrace's HTTP face, built on axum.
//!
//! Owns the REST API, live streams to browsers (SSE and WebSocket), authentication, and the web
//! pages with their assets, which are embedded in the binary so `cargo build` alone makes a
//! working server.
//!
//! # Layout
//! - [`config`]: the `[gateway]` section: bind address, tokens, limits.
//! - [`auth`]: bearer tokens with roles; what each role may do; the loopback-bind rule.
//! - [`state`]: [`AppState`], what every handler shares.
//! - [`error`]: [`ApiError`]: client errors keep their status and say why, internal errors are
//!   logged once and answered with a generic 500.
//! - [`routes`]: one module per group of endpoints (`health`, `status`, `metrics`, `streams`).
//! - [`sse`]: Server-Sent Events frames rendered once, and the live response that writes them.
//! - [`stream`]: live subjects for browsers: shared subscriptions and exact resumption.
//! - [`tail`]: live tail for browsers: advertised hosts, viewer leases, one tail's events.
//! - [`pages`]: the page shell, navigation, and embedded assets.
//! - `browser` (feature `browser-testing`): headless Chromium for page tests.
//! - `testing` (feature `testing`): SSE and WebSocket clients of a real gateway socket.
//!
//! [`app`] builds the whole router from a state, so tests drive it with `oneshot` and `main`
//! serves it with [`serve`]. The gateway never writes to sled and never processes messages: it
//! reads subjects and sink tables and shows them.

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod host;
pub mod pages;
pub mod protocol;
pub mod routes;
pub mod sse;
pub mod state;
pub mod stream;
pub mod tail;

#[cfg(feature = "browser-testing")]
pub mod browser;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use auth::{Access, Role};
pub use config::GatewayConfig;
pub use error::ApiError;
pub use state::AppState;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let limits = &state.config;
    let body_limit = limits.max_body_bytes;
    let timeout = limits.request_timeout;
    let (router, openapi) = routes::ApiRouter::with_openapi(routes::openapi::document())
        .merge(routes::health::router())
        .merge(routes::openapi::router())
        .merge(routes::apps::router(&state))
        .merge(routes::report::router(&state))
        .merge(routes::issues::router(&state))
        .merge(routes::status::router(&state))
        .merge(routes::sync::router(&state))
        .merge(routes::logs::router(&state))
        .merge(routes::history::router(&state))
        .merge(routes::log_entry::router(&state))
        .merge(routes::metrics::router(&state))
        .merge(routes::streams::router(&state))
        .merge(routes::sse::router(&state))
        .merge(routes::tail::router(&state))
        .merge(routes::ws::router(&state))
        .merge(routes::socketio::router(&state))
        .merge(pages::router())
        .split_for_parts();
    router
        .layer(axum::Extension(std::sync::Arc::new(openapi)))
        // The layer refuses any body over the limit, read or not; the extractor limit makes
        // `Json`/`Bytes` agree with it rather than use axum's own default.
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(axum::middleware::from_fn_with_state(state.hosts.clone(), host::check))
        .layer(axum::middleware::from_fn_with_state(body_limit, error::json_errors))
        .layer(axum::middleware::from_fn(routes::metrics::track))
        .with_state(state)
}

/// The gateway's sockets: `TCP_NODELAY` on every accepted one (live streams write small frames,
/// and Nagle's algorithm with delayed ACKs would hold each for up to 40 ms), and a write
/// timeout (a client that accepts no bytes for `write_timeout` is dropped instead of holding
/// its send queue; a healthy idle stream still gets its keep-alives through).
pub fn sockets(listener: TcpListener, write_timeout: Duration) -> Sockets {
    Sockets { listener, write_timeout }
}

/// See [`sockets`].
#[derive(Debug)]
pub struct Sockets {
    listener: TcpListener,
    write_timeout: Duration,
}

impl axum::serve::Listener for Sockets {
    type Io = std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, addr)) => {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    let mut io = tokio_io_timeout::TimeoutStream::new(tcp);
                    io.set_write_timeout(Some(self.write_timeout));
                    return (Box::pin(io), addr);
                }
                // Out of descriptors and the like: wait instead of spinning; a connection
                // reset before accept is simply skipped.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The gateway as a role, the one way to run it (`tailrace gateway`, `tailrace run`, tests):
/// binds `gateway.bind` and serves `state` until `cancel`, then lets in-flight requests finish
/// for up to 5 s. Returns the bound address and the serving task.
pub async fn start(
    state: AppState,
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let bind = state.config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on gateway.bind {bind}: {e}")))?;
    start_on(listener, state, cancel)
}

/// [`start`] on a listener already bound (tests bind port 0).
pub fn start_on(
    listener: TcpListener,
    state: AppState,
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let bound = listener.local_addr()?;
    let write_timeout = state.config.write_timeout;
    let mut state = state;
    state.stopping = cancel.child_token();
    tracing::info!(addr = %bound, "gateway listening on http://{bound}/");
    let task = tokio::spawn(serve(
        listener,
        app(state),
        write_timeout,
        cancel.cancelled_owned(),
        Duration::from_secs(5),
    ));
    Ok((bound, task))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// for up to `drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    write_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // `into_make_service` hands each connection an `Arc` of the router; serving the `Router`
    // itself rebuilds its route table per connection (measured: ~20 KiB per SSE client).
    let server = axum::serve(sockets(listener, write_timeout), app.into_make_service())
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(());
        });
    tokio::select! {
        r = server => r,
        // Draining is bounded: a client that never finishes cannot hold the process.
        _ = async { let _ = rx.await; tokio::time::sleep(drain).await } => Ok(()),
    }
}
