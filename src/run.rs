//! `tailrace run`: every role in one process (the managed nats-server unless `nats.url` is
//! set, the processors, the sinks with the gateway that serves their tables, the tail
//! producer), each started by its one start function.

use anyhow::Context as _;
use tailrace_nats::topology::{ApplyAction, Topology};
use tailrace_nats::ManagedServer;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::session::Session;

pub async fn run(cfg: Config, demo: bool, cancel: CancellationToken) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;

    let managed = match &cfg.nats.url {
        Some(url) => {
            tracing::info!(%url, "using the configured NATS server");
            None
        }
        None => {
            tracing::info!("nats.url is not set: starting a managed nats-server");
            Some(ManagedServer::start(&cfg.nats.server, &cfg.data_dir).await?)
        }
    };
    let nats = managed.as_ref().map_or_else(|| cfg.nats.clone(), |m| m.client_config(&cfg.nats));
    let session = Session::open_with(&cfg, &nats, "tailrace", &cancel).await?;

    let outcomes = Topology::from_config(&cfg.nats.streams)
        .apply(&async_nats::jetstream::new(session.client.clone()))
        .await
        .context("cannot apply the stream topology")?;
    for o in &outcomes {
        if o.action != ApplyAction::Unchanged {
            tracing::info!(stream = %o.name, action = ?o.action, "stream applied");
        }
    }

    let mut roles = crate::process::start(&cfg, &session.client, &cfg.processors.run, &cancel).await?;
    tracing::info!(processors = %cfg.processors.run.join(", "), "processors started");
    roles.extend(crate::roles::start_gateway(&cfg, &session, &cancel).await?);
    roles.extend(crate::roles::start_producer(&cfg, &session, &cancel).await?);

    // The demo is not a role: when it fails (its reports refused, say) it says so and the
    // rest runs on.
    let demo = demo.then(|| {
        let publisher = tailrace_nats::Publisher::new(session.client.clone(), cfg.nats.publisher.clone());
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::demo::run(&publisher, crate::demo::DEFAULT_SHAPE, true, &cancel).await {
                tracing::error!(error = %format!("{e:#}"), "the demo stopped");
            }
        })
    });

    // Until Ctrl-C or SIGTERM; a role that fails on its own stops the others (and the process)
    // with its error.
    let result = roles.wait(&cancel).await;
    if let Some(demo) = demo {
        demo.await.ok();
    }
    session.close().await;
    if let Some(server) = managed {
        server.stop().await;
    }
    tracing::info!("stopped");
    result
}
