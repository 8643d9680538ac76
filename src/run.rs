//! `tailrace run`: every role in one process.

use std::time::Duration;

use anyhow::Context as _;
use tailrace_gateway::AppState;
use tailrace_nats::topology::{ApplyAction, Topology};
use tailrace_nats::{ManagedServer, Publisher};
use tailrace_producers::tail::{HostService, TailSupervisor};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

pub async fn run(cfg: Config, cancel: CancellationToken) -> anyhow::Result<()> {
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
    let (client, connections) = tailrace_nats::connect::connect_watched(&nats, None, "tailrace").await?;

    let topology = Topology::from_config(&cfg.nats.streams);
    let outcomes = topology
        .apply(&async_nats::jetstream::new(client.clone()))
        .await
        .context("cannot apply the stream topology")?;
    for o in &outcomes {
        if o.action != ApplyAction::Unchanged {
            tracing::info!(stream = %o.name, action = ?o.action, "stream applied");
        }
    }
    let reapply = tokio::spawn(topology.keep_applied(
        async_nats::jetstream::new(client.clone()),
        connections.clone(),
        cancel.clone(),
    ));

    let mut roles = crate::process::start(&cfg, &client, &cfg.processors.run, &cancel).await?;
    tracing::info!(processors = %cfg.processors.run.join(", "), "processors started");
    let tables = crate::sink::open_tables(&cfg)?;
    roles.extend(crate::sink::start(&cfg, &client, &tables, &cfg.sinks.run, &cancel).await?);
    tracing::info!(sinks = %cfg.sinks.run.join(", "), tables = %tables.path().display(), "sinks started");

    let listener = tokio::net::TcpListener::bind(cfg.gateway.bind)
        .await
        .with_context(|| format!("cannot listen on gateway.bind {}", cfg.gateway.bind))?;
    let bound = listener.local_addr()?;
    let mut state = AppState::new(client.clone(), cfg.gateway.clone(), cfg.nats.streams.clone());
    if cfg.sinks.run.iter().any(|s| s == "issues") {
        state = state.with_issues(tailrace_sinks::issues::IssuesView::new(&tables)?);
    }
    let app = tailrace_gateway::app(state);
    tracing::info!(addr = %bound, "gateway listening on http://{bound}/");
    let gateway = tokio::spawn(tailrace_gateway::serve(
        listener,
        app,
        cfg.gateway.write_timeout,
        cancel.clone().cancelled_owned(),
        Duration::from_secs(5),
    ));

    let js = async_nats::jetstream::new(client.clone());
    let store = js
        .get_key_value(tailrace_nats::topology::TAIL_SESSIONS)
        .await
        .context("cannot open the tail-sessions bucket")?;
    let roots = cfg.tail.roots(&cfg.gateway.catalog);
    let hosts = HostService {
        hosts: cfg.tail.transports(),
        roots: roots.clone(),
        local_kind: cfg.tail.local_kind.clone(),
        producer: format!(
            "{}-{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
            std::process::id()
        ),
        client: client.clone(),
        store: js
            .get_key_value(tailrace_nats::topology::TAIL_HOSTS)
            .await
            .context("cannot open the tail-hosts bucket")?,
        connections: Some(connections),
    };
    let hosts = tokio::spawn(hosts.run(cancel.clone()));
    let tails = TailSupervisor {
        hosts: cfg.tail.transports(),
        roots,
        cfg: cfg.tail.follow.clone(),
        grace: cfg.tail.grace,
        publisher: Publisher::new(client.clone(), cfg.nats.publisher.clone()),
        store,
    };
    tails.pin(&cfg.tail.pinned).await?;
    tracing::info!(hosts = tails.hosts.len(), pinned = cfg.tail.pinned.len(), "tail producer ready");
    let tails = tokio::spawn(tails.run(cancel.clone()));

    cancel.cancelled().await;
    tracing::info!("draining");
    match tails.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "tail producer ended with an error"),
        Err(e) => tracing::error!(error = %e, "tail producer task failed"),
    }
    match hosts.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "tail host service ended with an error"),
        Err(e) => tracing::error!(error = %e, "tail host service task failed"),
    }
    if let Err(e) = roles.wait(&cancel).await {
        tracing::error!(error = %format!("{e:#}"), "processors or sinks ended with an error");
    }
    match gateway.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "gateway ended with an error"),
        Err(e) => tracing::error!(error = %e, "gateway task failed"),
    }
    let _ = reapply.await;
    if let Err(e) = client.flush().await {
        tracing::warn!(error = %e, "could not flush the NATS connection");
    }
    drop(client);
    if let Some(server) = managed {
        server.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}
