//! `tailrace process NAME...`: chosen processors alone, and the processors of `tailrace run`.

use anyhow::Context as _;
use tailrace_nats::Publisher;
use tailrace_processors::registry::{self, Context};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::running::Running;

/// Starts each named processor on `client`.
pub async fn start(
    cfg: &Config,
    client: &async_nats::Client,
    names: &[String],
    cancel: &CancellationToken,
) -> anyhow::Result<Running> {
    let ctx = Context {
        js: async_nats::jetstream::new(client.clone()),
        publisher: Publisher::new(client.clone(), cfg.nats.publisher.clone()),
        consumer: cfg.nats.consumer.clone(),
        cfg: cfg.processors.clone(),
    };
    let mut running = Running::default();
    for name in names {
        let started = tokio::select! {
            started = registry::start(name, &ctx, cancel.clone()) => started,
            // Stopped while starting: opening a processor may wait out a request timeout on a
            // server that is gone; what already runs stops with the rest.
            () = cancel.cancelled() => break,
        };
        let task = started.with_context(|| format!("cannot start processor {name}"))?;
        running.push(format!("processor {name}"), task);
    }
    Ok(running)
}

pub async fn run(cfg: Config, names: Vec<String>, cancel: CancellationToken) -> anyhow::Result<()> {
    let session = crate::session::Session::open(&cfg, "tailrace-process", &cancel).await?;
    let running = start(&cfg, &session.client, &names, &cancel).await?;
    eprintln!("processing with {} (Ctrl-C stops, after the last window is flushed)", names.join(", "));
    let result = running.wait(&cancel).await;
    cancel.cancel();
    session.close().await;
    result
}
