//! The roles that are not processors or sinks, each started by its crate's one start function:
//! `tailrace produce` (the tail producer, and the sync of `[[sync.targets]]` when there are
//! any), `tailrace gateway` (the gateway and the sinks whose tables it serves) and
//! `tailrace controller` (a customer machine's reports to the hub).

use tailrace_gateway::AppState;
use tailrace_nats::Publisher;
use tailrace_producers::tail::Serves;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::running::Running;
use crate::session::Session;

/// Starts the tail producer on `session`.
pub async fn start_producer(
    cfg: &Config,
    session: &Session,
    cancel: &CancellationToken,
) -> anyhow::Result<Running> {
    let producer = tailrace_producers::tail::start(
        Serves::from_config(&cfg.tail, &cfg.gateway.catalog),
        Publisher::new(session.client.clone(), cfg.nats.publisher.clone()),
        Some(session.connections.clone()),
        cancel.clone(),
    )
    .await?;
    let mut running = Running::default();
    running.push("tail host service".to_owned(), producer.hosts);
    running.push("tail supervisor".to_owned(), producer.tails);
    if !cfg.sync.targets.is_empty() {
        let classify = &cfg.processors.classify;
        let rules = tailrace_schemas::categories::Rules::new(&classify.rules, classify.default_rules)?;
        let sync = tailrace_producers::sync::service::start(
            &cfg.sync,
            &cfg.tail.hosts,
            &cfg.data_dir,
            rules,
            session.client.clone(),
            Publisher::new(session.client.clone(), cfg.nats.publisher.clone()),
            cancel.clone(),
        )
        .await?;
        running.push("sync".to_owned(), sync);
    }
    Ok(running)
}

/// Starts the gateway and the sinks of `sinks.run` (its tables) on `session`.
pub async fn start_gateway(
    cfg: &Config,
    session: &Session,
    cancel: &CancellationToken,
) -> anyhow::Result<Running> {
    let tables = crate::sink::open_tables(cfg)?;
    let mut running = crate::sink::start(cfg, &session.client, &tables, &cfg.sinks.run, cancel).await?;
    tracing::info!(sinks = %cfg.sinks.run.join(", "), tables = %tables.path().display(), "sinks started");
    let mut state = AppState::new(session.client.clone(), cfg.gateway.clone(), cfg.nats.streams.clone());
    if cfg.sinks.run.iter().any(|s| s == "issues") {
        state = state.with_issues(tailrace_sinks::issues::IssuesView::new(&tables)?);
    }
    if cfg.sinks.run.iter().any(|s| s == "telemetry") {
        state = state.with_telemetry(tailrace_sinks::telemetry::TelemetryView::new(&tables)?);
    }
    if cfg.sinks.run.iter().any(|s| s == "files") {
        state = state.with_files(tailrace_sinks::files::FilesView::new(&tables)?, cfg.data_dir.join("sync"));
    }
    let state = state
        .with_publisher(tailrace_nats::Publisher::new(session.client.clone(), cfg.nats.publisher.clone()));
    let (_, gateway) = tailrace_gateway::start(state, cancel.clone()).await?;
    running.push("gateway".to_owned(), gateway);
    Ok(running)
}

/// `tailrace produce`.
pub async fn produce(cfg: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    let session = Session::open(&cfg, "tailrace-produce", &cancel).await?;
    let running = start_producer(&cfg, &session, &cancel).await?;
    eprintln!(
        "producing for {} host(s) (Ctrl-C stops every tail, after its last batch is stored)",
        cfg.tail.transports().len()
    );
    let result = running.wait(&cancel).await;
    cancel.cancel();
    session.close().await;
    result
}

/// `tailrace gateway`.
pub async fn gateway(cfg: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    let session = Session::open(&cfg, "tailrace-gateway", &cancel).await?;
    let running = start_gateway(&cfg, &session, &cancel).await?;
    eprintln!("serving on http://{}/ (Ctrl-C stops after in-flight requests)", cfg.gateway.bind);
    let result = running.wait(&cancel).await;
    cancel.cancel();
    session.close().await;
    result
}

/// `tailrace controller`: reports of this machine's apps to the hub of `[controller.hub]`
/// (over the NATS connection of `[nats]`, or HTTP), until Ctrl-C or SIGTERM.
pub async fn controller(cfg: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    let c = &cfg.controller;
    c.validate()?;
    let outbox = c.outbox.clone().unwrap_or_else(|| cfg.data_dir.join("controller-outbox"));
    let (hub, client) = match &c.hub {
        tailrace_controller::HubConfig::Nats => {
            // A customer machine's controller must start while the hub is away (its reports
            // wait in the outbox), and must not apply its own idea of the hub's streams: a
            // plain client that connects in the background, not a role session.
            anyhow::ensure!(
                cfg.nats.url.is_some(),
                "controller.hub transport \"nats\" needs nats.url: the hub's NATS server (or use transport \"http\")"
            );
            let mut nats = cfg.nats.clone();
            nats.reconnect.connect_timeout = std::time::Duration::ZERO;
            let client = tailrace_nats::connect(&nats, None, "tailrace-controller").await?;
            let publisher = Publisher::new(client.clone(), cfg.nats.publisher.clone());
            (tailrace_controller::Hub::Nats(publisher), Some(client))
        }
        tailrace_controller::HubConfig::Http { url, token } => {
            (tailrace_controller::Hub::http(url, token), None)
        }
    };
    let task = tailrace_controller::start(c.clone(), &outbox, hub, cancel.clone()).await?;
    eprintln!(
        "controller for customer {} reporting every {} (outbox {}; Ctrl-C stops, undelivered reports wait there)",
        c.customer_id.as_ref().map_or("?", |id| id.as_str()),
        humantime::format_duration(c.report_interval),
        outbox.display()
    );
    let mut running = Running::default();
    running.push("controller".to_owned(), task);
    let result = running.wait(&cancel).await;
    cancel.cancel();
    if let Some(client) = client {
        tailrace_nats::connect::stopping();
        let _ = tokio::time::timeout(tailrace_nats::connect::FLUSH_WAIT, client.flush()).await;
    }
    result
}

/// `tailrace controller --once`: the report the controller would send now, as JSON on stdout
/// (two samples a second apart, the logs of the last report interval); sends nothing.
pub async fn controller_once(cfg: &Config) -> anyhow::Result<()> {
    let report = tailrace_controller::once(cfg.controller.clone(), std::time::Duration::from_secs(1)).await?;
    crate::cli::say(&serde_json::to_string_pretty(&report)?);
    Ok(())
}
