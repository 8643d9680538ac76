//! Ctrl-C and SIGTERM become one cancellation token that flows down to every task.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops tailrace");
                let _ = tokio::signal::ctrl_c().await;
                tailrace_nats::connect::stopping();
                trigger.cancel();
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        }
        tailrace_nats::connect::stopping();
        trigger.cancel();
    });
    token
}
