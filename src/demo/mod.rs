//! `tailrace demo` and `tailrace run --demo`: a made-up fleet ([`fleet::Fleet`]) published as
//! its controllers would, so the fleet pages, the issue list and the API show full data at once.
//!
//! Reports take the real ingest path (`report_check::ingest`, as POST /api/v1/report and
//! `tailrace publish-report` do) onto `reports.{customer}`; from there the processors and sinks
//! treat them as any other. A demo run twice stores nothing twice: a report's message id and
//! the telemetry rows are keyed by customer and report time, and the fleet is the same for the
//! same seed.

pub mod fleet;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{report_check, Report, Timestamp};
use tokio_util::sync::CancellationToken;

use self::fleet::{Fleet, Shape};

/// The demo's fleet: big enough to fill every page, small enough to load in seconds.
pub const DEFAULT_SHAPE: Shape = Shape { customers: 12, apps: 12, apps_per_customer: 8, days: 30, seed: 1 };

/// Publishes the fleet's history, then (with `follow`) each new report as its time comes, until
/// `cancel`.
pub async fn run(
    publisher: &Publisher,
    shape: Shape,
    follow: bool,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let fleet = Fleet::new(shape, Timestamp::now());
    eprintln!(
        "demo: {} customers, {} apps ({} each), {} days of hourly reports (at most {} reports)…",
        shape.customers,
        shape.apps,
        shape.apps_per_customer.min(shape.apps),
        shape.days,
        fleet.most_reports()
    );
    let started = Instant::now();
    let mut last = Timestamp::now();
    let published =
        publish(publisher, fleet.between(Timestamp::EPOCH, last), Some(fleet.most_reports())).await?;
    eprintln!("demo: {published} reports stored in {:.1} s", started.elapsed().as_secs_f64());
    if !follow {
        return Ok(());
    }
    eprintln!("demo: going on reporting as the controllers' times come (Ctrl-C stops)");
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        let now = Timestamp::now();
        let n = publish(publisher, fleet.between(last, now), None).await?;
        if n > 0 {
            tracing::info!(reports = n, "demo reports published");
        }
        last = now;
    }
}

/// Publishes `reports` through the ingest check, waiting for every acknowledgement; prints
/// progress about once a second when `of` (the most there can be) is given.
pub async fn publish(
    publisher: &Publisher,
    reports: impl Iterator<Item = Report>,
    of: Option<u64>,
) -> anyhow::Result<u64> {
    let mut acks = Vec::new();
    let mut shown = Instant::now();
    for report in reports {
        let bytes = serde_json::to_vec(&report)?;
        let ingested = report_check::ingest(&bytes, Timestamp::now())
            .with_context(|| format!("a demo report of {} is refused", report.customer_id))?;
        let out = Outgoing::encode(ingested.subject, &ingested.report, ingested.msg_id)?;
        acks.push(publisher.publish(out).await);
        if let Some(of) = of.filter(|_| shown.elapsed() >= Duration::from_secs(1)) {
            eprintln!("demo: {} of at most {of} reports published", acks.len());
            shown = Instant::now();
        }
    }
    let n = acks.len() as u64;
    for ack in acks {
        ack.await.context("publishing a demo report")?;
    }
    Ok(n)
}
