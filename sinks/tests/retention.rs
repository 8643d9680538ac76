//! Retention against a real nats-server: a prune asked on `sink.retain.{name}` removes exactly
//! the rows past their retention and leaves every figure inside it unchanged.

use std::time::Duration;

use tailrace_nats::config::{ConsumerConfig, PublisherConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{
    subject, AppReport, Fingerprint, IssueOccurrence, Report, Scope, Severity, StreamName, Timestamp,
};
use tailrace_sinks::issues::{IssueQuery, IssuesSink, IssuesView};
use tailrace_sinks::telemetry::{Period, TelemetrySink, TelemetryView};
use tailrace_sinks::{retain_subject, SinkContext, Tables};
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400;

/// A report of one app, `days_ago` days (and a minute) old.
fn report(app: &str, customer: &str, days_ago: i64) -> Report {
    let at = Timestamp::now().saturating_add_nanos(-(days_ago * DAY + 60) * 1_000_000_000);
    Report {
        v: 1,
        customer_id: customer.into(),
        reported_at: Some(at),
        controller_version: None,
        hostname: None,
        app_telemetry: vec![AppReport {
            app_name: app.into(),
            display_name: app.to_uppercase(),
            containers: vec![],
            memory_current_mb: 10.0,
            memory_avg_mb: 10.0,
            memory_peak_mb: 20.0 + days_ago as f64,
            cpu_avg_percent: 1.0,
            catalog_estimate: String::new(),
            catalog_limit: "64M".into(),
            log_errors: 1,
            log_warnings: 0,
            issues: vec![],
            oom_kills: None,
            restarts: None,
            sample_count: None,
        }],
    }
}

fn outgoing(r: &Report, id: String) -> Outgoing {
    Outgoing::encode(subject::reports(&r.customer_id), r, id).unwrap()
}

fn occurrence(fp: u64, days_ago: i64) -> IssueOccurrence {
    let at = Timestamp::now().saturating_add_nanos(-(days_ago * DAY) * 1_000_000_000);
    IssueOccurrence {
        v: 1,
        scope: Scope::new("shop"),
        fingerprint: Fingerprint(fp),
        severity: Severity::Error,
        message: format!("issue {fp}"),
        count: 1,
        first_seen: at,
        last_seen: at,
        sample: String::new(),
        host: None,
        source: None,
        app: Some("shop".into()),
        customer: Some("b".into()),
        reported_at: Some(at),
    }
}

async fn applied(tables: &Tables, name: &str, stream: StreamName, last: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tables.applied(name, stream).unwrap() < last {
        assert!(tokio::time::Instant::now() < deadline, "{name} did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_removes_exactly_what_is_past_retention() {
    let nats = TestServer::start_with_topology().await;
    let client = nats.client().await;
    let publisher = Publisher::new(client.clone(), PublisherConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let tables = Tables::open(&dir.path().join("sled")).unwrap();
    let ctx = SinkContext {
        client: client.clone(),
        publisher: publisher.clone(),
        consumer: ConsumerConfig::default(),
        tables: tables.clone(),
        retention: Default::default(), // 90 days of telemetry, 30 of issues
    };
    let rows =
        [("old", "a", 100), ("shop", "a", 100), ("shop", "b", 100), ("shop", "b", 1), ("shop", "b", 0)];
    for (i, (app, customer, days)) in rows.iter().enumerate() {
        publisher.publish_and_wait(outgoing(&report(app, customer, *days), format!("t{i}"))).await.unwrap();
    }
    for (i, (fp, days)) in [(1u64, 40i64), (2, 1)].iter().enumerate() {
        let o = occurrence(*fp, *days);
        publisher
            .publish_and_wait(Outgoing::encode(subject::issues(&o.scope), &o, format!("o{i}")).unwrap())
            .await
            .unwrap();
    }
    let cancel = CancellationToken::new();
    let t1 = tokio::spawn(tailrace_sinks::run(TelemetrySink, ctx.clone(), cancel.clone()));
    let t2 = tokio::spawn(tailrace_sinks::run(IssuesSink, ctx.clone(), cancel.clone()));
    applied(&tables, "telemetry", StreamName::REPORTS, 5).await;
    applied(&tables, "issues", StreamName::ISSUES, 2).await;

    let view = TelemetryView::new(&tables).unwrap();
    let now = Timestamp::now();
    let month_before = view.fleet(Period::Month, now).unwrap();
    assert_eq!(view.apps().unwrap().len(), 2);
    assert_eq!(view.customers().unwrap().len(), 2);

    for sink in ["telemetry", "issues"] {
        let reply = client.request(retain_subject(sink), "".into()).await.unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert!(answer["removed"].as_u64().unwrap() > 0, "{sink}: {answer}");
    }

    let apps: Vec<String> = view.apps().unwrap().into_iter().map(|a| a.app_name).collect();
    assert_eq!(apps, ["shop"], "an app with no report inside the retention is gone");
    let customers: Vec<String> = view.customers().unwrap().into_iter().map(|c| c.customer_id).collect();
    assert_eq!(customers, ["b"], "a customer with no report inside the retention is gone");
    let raw = view.raw("shop").unwrap();
    assert_eq!(raw.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(raw["b"].len(), 2, "the two recent reports stay, the 100-day-old one goes");
    assert_eq!(
        view.fleet(Period::Month, now).unwrap(),
        month_before,
        "figures inside the retention are unchanged"
    );
    let issues =
        IssuesView::new(&tables).unwrap().list(&IssueQuery { limit: 10, ..Default::default() }, now).unwrap();
    assert_eq!(
        issues.issues.iter().map(|i| i.row.fingerprint.clone()).collect::<Vec<_>>(),
        [Fingerprint(2).to_string()]
    );
    let marks = tables.tree("issues").unwrap().scan_prefix(b"report/").count();
    assert_eq!(marks, 1, "the marks of the removed issue's report go with it");

    // The sinks run on after a prune: a new report is applied.
    publisher.publish_and_wait(outgoing(&report("shop", "c", 0), "t-new".into())).await.unwrap();
    applied(&tables, "telemetry", StreamName::REPORTS, 6).await;
    assert_eq!(view.customers().unwrap().len(), 2);
    cancel.cancel();
    t1.await.unwrap().unwrap();
    t2.await.unwrap().unwrap();
}
