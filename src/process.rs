//! `tailrace process NAME...`: chosen processors alone, and the processors of `tailrace run`.

use anyhow::Context as _;
use futures::future::select_all;
use tailrace_nats::{Publisher, RunnerError};
use tailrace_processors::registry::{self, Context};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Running processors, by name.
pub struct Running {
    tasks: Vec<(String, JoinHandle<Result<(), RunnerError>>)>,
}

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
    let mut tasks = Vec::with_capacity(names.len());
    for name in names {
        let task = registry::start(name, &ctx, cancel.clone())
            .await
            .with_context(|| format!("cannot start processor {name}"))?;
        tasks.push((name.clone(), task));
    }
    Ok(Running { tasks })
}

impl Running {
    /// Waits until every processor has ended (after `cancel`, or on its own when it fails: then
    /// the others are cancelled too and the failure is returned).
    pub async fn wait(self, cancel: &CancellationToken) -> anyhow::Result<()> {
        let (mut names, mut tasks): (Vec<String>, Vec<_>) = self.tasks.into_iter().unzip();
        let mut failure = None;
        while !tasks.is_empty() {
            let (result, index, rest) = select_all(tasks).await;
            tasks = rest;
            let name = names.remove(index);
            let outcome = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!("processor {name}"))),
                Err(e) => Err(anyhow::anyhow!("processor {name}: its task failed: {e}")),
            };
            if let Err(e) = outcome {
                if !cancel.is_cancelled() {
                    tracing::error!(error = %e, "a processor stopped; stopping the others");
                    cancel.cancel();
                }
                failure.get_or_insert(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

pub async fn run(cfg: Config, names: Vec<String>, cancel: CancellationToken) -> anyhow::Result<()> {
    let (client, connections) = crate::cli::connect_client(&cfg, "tailrace-process").await?;
    let running = start(&cfg, &client, &names, &cancel).await?;
    // Any role may be the first to reach a restarted server: each puts the topology back.
    let reapply = tokio::spawn(tailrace_nats::Topology::from_config(&cfg.nats.streams).keep_applied(
        async_nats::jetstream::new(client.clone()),
        connections,
        cancel.clone(),
    ));
    eprintln!("processing with {} (Ctrl-C stops, after the last window is flushed)", names.join(", "));
    let result = running.wait(&cancel).await;
    cancel.cancel();
    let _ = reapply.await;
    if let Err(e) = client.flush().await {
        tracing::warn!(error = %e, "could not flush the NATS connection");
    }
    result
}
