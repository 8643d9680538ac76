//! The controller: runs on a customer machine, measures each app (a compose project of Docker
//! containers, or a cgroup named in the config), scans the apps' logs, and reports to the hub
//! every `report_interval` in the seed's report shape (`reports.{customer}` over NATS, or
//! `POST /api/v1/report`).
//!
//! It owns collection ([`collector`]: samples from the cgroup files or the engine, log scans
//! through the processors' classify and fingerprint code), the report's assembly ([`report`])
//! and delivery that survives the hub being away ([`outbox`], [`deliver`]). It must not
//! interpret reports (the hub's splitter and sinks do), keep tables, or serve HTTP; and it
//! must not load the machine it watches: members are scanned one after another, a container's
//! or journal's scan within `scan_timeout`, a log file's at most its last 16 MiB.

pub mod cgroup;
pub mod collector;
pub mod config;
pub mod deliver;
pub mod docker;
pub mod group_logs;
pub mod member;
pub mod outbox;
pub mod report;
pub mod scan;
#[cfg(feature = "testing")]
pub mod testing;
pub mod window;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use collector::Collector;
pub use config::{ConfigError, ControllerConfig, HubConfig};
pub use deliver::Hub;
pub use outbox::Outbox;

use tailrace_schemas::{Report, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
}

/// Starts the controller: a report every `report_interval` into the outbox at `outbox_dir`,
/// and its delivery to `hub`. Ends when `cancel` does (reports not yet delivered wait in the
/// outbox for the next start).
pub async fn start(
    cfg: ControllerConfig,
    outbox_dir: &Path,
    hub: Hub,
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<Result<(), ControllerError>>, ControllerError> {
    let customer = cfg.validate()?;
    let outbox = Outbox::open(outbox_dir)?;
    let waiting = outbox.waiting()?.len();
    let made = Arc::new(Notify::new());
    let delivery = tokio::spawn(deliver::run(outbox.clone(), hub, made.clone(), cancel.clone()));
    let mut collector = Collector::new(cfg.clone(), customer.clone()).await;
    collector.start_at(collector::resume_from(outbox.window_end(), Timestamp::now(), cfg.report_interval));
    tracing::info!(
        customer = %customer,
        docker = collector.has_docker(),
        groups = cfg.groups.len(),
        sample = ?cfg.sample_interval,
        report = ?cfg.report_interval,
        waiting,
        "controller started"
    );
    Ok(tokio::spawn(async move {
        let mut samples = tokio::time::interval(cfg.sample_interval);
        samples.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_report = tokio::time::Instant::now() + cfg.report_interval;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = samples.tick() => {}
            }
            collector.sample().await;
            if tokio::time::Instant::now() >= next_report {
                let report = collector.report(Timestamp::now()).await;
                let path = outbox.put(&report)?;
                outbox.set_window_end(collector.window_start())?;
                tracing::info!(apps = report.app_telemetry.len(), report = %path.display(), "report made");
                made.notify_one();
                next_report += cfg.report_interval;
                // A scan that outlasted the interval: the next window is a whole one again,
                // not a string of short ones catching up.
                let now = tokio::time::Instant::now();
                if next_report <= now {
                    next_report = now + cfg.report_interval;
                }
            }
        }
        let _ = delivery.await;
        tracing::info!("controller stopped");
        Ok(())
    }))
}

/// The report the controller would send now: two samples `gap` apart, and the logs of the
/// last `report_interval`. Sends nothing.
pub async fn once(cfg: ControllerConfig, gap: Duration) -> Result<Report, ControllerError> {
    let customer = cfg.validate()?;
    let back = cfg.report_interval;
    let mut collector = Collector::new(cfg, customer).await;
    collector.look_back(back);
    collector.sample().await;
    tokio::time::sleep(gap).await;
    collector.sample().await;
    Ok(collector.report(Timestamp::now()).await)
}
