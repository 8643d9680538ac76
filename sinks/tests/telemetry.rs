//! The telemetry table's week rows against a real nats-server: 7- and 30-day figures read from
//! days and weeks are those of the reports the table holds, after a prune that cuts into a week
//! and after a table without weeks (layout 2) is migrated.

use std::time::Duration;

use tailrace_nats::config::{ConsumerConfig, PublisherConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{subject, AppReport, Report, StreamName, Timestamp};
use tailrace_sinks::retention::RetentionConfig;
use tailrace_sinks::telemetry::{
    AppCustomerStats, AppDetail, FleetAppSummary, Period, TelemetrySink, TelemetryView,
};
use tailrace_sinks::{retain_subject, SinkContext, Tables};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400;
const CUSTOMERS: [&str; 4] = ["acme", "bolt", "cask", "dune"];

/// Customer `c`'s report of `days_ago` days (and an hour) before `now`; figures are whole
/// numbers so sums are exact whatever order rows are merged in.
fn report(now: Timestamp, c: usize, days_ago: i64) -> Report {
    let at = now.saturating_add_nanos(-(days_ago * DAY + 3600) * 1_000_000_000);
    Report {
        v: 1,
        customer_id: CUSTOMERS[c].into(),
        reported_at: Some(at),
        controller_version: None,
        hostname: None,
        app_telemetry: vec![AppReport {
            app_name: "shop".into(),
            display_name: "Shop".into(),
            containers: vec![],
            memory_current_mb: 100.0 + c as f64,
            memory_avg_mb: 90.0 + (days_ago % 5) as f64,
            memory_peak_mb: 120.0 + (days_ago * 7 % 31) as f64 + 40.0 * c as f64,
            cpu_avg_percent: 2.0 + c as f64,
            catalog_estimate: "128M".into(),
            catalog_limit: "256M".into(),
            log_errors: days_ago as u64 % 3,
            log_warnings: 1,
            issues: vec![],
            oom_kills: Some(u64::from(days_ago == 2 && c == 1)),
            restarts: None,
            sample_count: None,
        }],
    }
}

/// A nats-server, a table and the telemetry sink applying what the server's REPORTS holds.
struct Hub {
    _nats: TestServer,
    client: async_nats::Client,
    publisher: Publisher,
    tables: Tables,
    _dir: tempfile::TempDir,
    retention: RetentionConfig,
}

impl Hub {
    async fn new(retention: RetentionConfig) -> Self {
        let nats = TestServer::start_with_topology().await;
        let client = nats.client().await;
        let publisher = Publisher::new(client.clone(), PublisherConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let tables = Tables::open(&dir.path().join("sled")).unwrap();
        Self { _nats: nats, client, publisher, tables, _dir: dir, retention }
    }

    async fn publish(&self, reports: &[Report]) {
        for r in reports {
            let id = format!("{}/{}", r.customer_id, r.reported_at.unwrap().as_nanos());
            let out = Outgoing::encode(subject::reports(&r.customer_id), r, id).unwrap();
            self.publisher.publish_and_wait(out).await.unwrap();
        }
    }

    fn start(&self) -> (CancellationToken, JoinHandle<Result<(), tailrace_sinks::SinkError>>) {
        let ctx = SinkContext {
            client: self.client.clone(),
            publisher: self.publisher.clone(),
            consumer: ConsumerConfig::default(),
            tables: self.tables.clone(),
            retention: self.retention.clone(),
        };
        let cancel = CancellationToken::new();
        (cancel.clone(), tokio::spawn(tailrace_sinks::run(TelemetrySink, ctx, cancel)))
    }

    async fn caught_up(&self, last: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.tables.applied("telemetry", StreamName::REPORTS).unwrap() < last {
            assert!(tokio::time::Instant::now() < deadline, "the telemetry sink did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the pages ask, over 7 and 30 days.
    fn figures(&self, now: Timestamp) -> Vec<(Vec<FleetAppSummary>, AppDetail, Vec<AppCustomerStats>)> {
        let view = TelemetryView::new(&self.tables).unwrap();
        [Period::Week, Period::Month]
            .into_iter()
            .map(|p| {
                (
                    view.fleet(p, now).unwrap(),
                    view.app("shop", p, now).unwrap().unwrap(),
                    view.customers_of("shop", p, now).unwrap(),
                )
            })
            .collect()
    }
}

/// 21 days of daily reports from every customer, oldest first.
fn three_weeks(now: Timestamp) -> Vec<Report> {
    (0..21).rev().flat_map(|d| (0..CUSTOMERS.len()).map(move |c| report(now, c, d))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_that_cuts_into_a_week_leaves_the_figures_of_a_table_made_of_what_remains() {
    let now = Timestamp::now();
    // Retention of 10 or 11 days, whichever puts the cutoff inside a week (weeks start on days
    // that are multiples of 7 since the epoch).
    let today = now.as_unix_seconds().div_euclid(DAY);
    let keep_days = if (today - 10).rem_euclid(7) != 0 { 10 } else { 11 };
    let retention = RetentionConfig {
        telemetry: Duration::from_secs(keep_days as u64 * DAY as u64),
        ..Default::default()
    };
    let reports = three_weeks(now);
    let pruned = Hub::new(retention.clone()).await;
    pruned.publish(&reports).await;
    let (cancel, task) = pruned.start();
    pruned.caught_up(reports.len() as u64).await;
    let reply = pruned.client.request(retain_subject("telemetry"), "".into()).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert!(answer["removed"].as_u64().unwrap() > 0, "{answer}");

    // The reports that remain, as the table says, made into a table of their own.
    let raw = TelemetryView::new(&pruned.tables).unwrap().raw("shop").unwrap();
    let remaining: Vec<Report> = reports
        .iter()
        .filter(|r| {
            raw.get(r.customer_id.as_str())
                .is_some_and(|rows| rows.iter().any(|row| Some(row.reported_at) == r.reported_at))
        })
        .cloned()
        .collect();
    assert!(
        remaining.len() < reports.len() && remaining.len() >= (keep_days as usize - 1) * CUSTOMERS.len(),
        "{} of {} reports remain",
        remaining.len(),
        reports.len()
    );
    let fresh = Hub::new(retention).await;
    fresh.publish(&remaining).await;
    let (cancel_fresh, task_fresh) = fresh.start();
    fresh.caught_up(remaining.len() as u64).await;

    assert_eq!(
        pruned.figures(now),
        fresh.figures(now),
        "7- and 30-day figures after the prune are those of what remains"
    );
    for (c, t) in [(cancel, task), (cancel_fresh, task_fresh)] {
        c.cancel();
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_week_rows_is_migrated_and_answers_as_before() {
    let now = Timestamp::now();
    let hub = Hub::new(RetentionConfig::default()).await;
    let reports = three_weeks(now);
    hub.publish(&reports).await;
    let (cancel, task) = hub.start();
    hub.caught_up(reports.len() as u64).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
    let before = hub.figures(now);

    // What layout 2 left: the same rows without weeks.
    let tree = hub.tables.tree("telemetry").unwrap();
    let weeks: Vec<_> = tree
        .iter()
        .keys()
        .map(Result::unwrap)
        .filter(|k| k.starts_with(b"w/") || k.starts_with(b"wc/"))
        .collect();
    assert!(!weeks.is_empty(), "the sink writes week rows");
    for k in weeks {
        tree.remove(k).unwrap();
    }
    tree.insert(b"\0meta/layout", &2u32.to_be_bytes()).unwrap();
    let view = TelemetryView::new(&hub.tables).unwrap();
    assert_ne!(
        view.app("shop", Period::Month, now).unwrap().unwrap().summary.reports,
        before[1].1.summary.reports,
        "without week rows the 30 days miss reports (so the check below can fail)"
    );

    let (cancel, task) = hub.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tree.get(b"\0meta/layout").unwrap().as_deref() != Some(&3u32.to_be_bytes()[..]) {
        assert!(tokio::time::Instant::now() < deadline, "the table was not migrated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.figures(now), before, "the migrated table answers as the one written with weeks");
    cancel.cancel();
    task.await.unwrap().unwrap();
}
