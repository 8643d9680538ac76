//! The issue table over HTTP, fed by the real issues sink from a real nats-server.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tailrace_gateway::config::TokenConfig;
use tailrace_gateway::{app, AppState, GatewayConfig, Role};
use tailrace_nats::config::{ConsumerConfig, PublisherConfig, StreamsConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{subject, Fingerprint, IssueOccurrence, Severity, StreamName, Timestamp};
use tailrace_sinks::issues::{IssuesSink, IssuesView};
use tailrace_sinks::{SinkContext, Tables};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

fn occurrence(
    scope: &str,
    fp: u64,
    source: &str,
    count: u64,
    ago_hours: i64,
    severity: Severity,
) -> IssueOccurrence {
    let at = Timestamp::now().saturating_add_nanos(-ago_hours * 3_600_000_000_000);
    IssueOccurrence {
        v: 1,
        scope: scope.into(),
        fingerprint: Fingerprint(fp),
        severity,
        message: format!("template {fp} <*>"),
        count,
        first_seen: at,
        last_seen: at,
        sample: format!("a line of {fp}"),
        host: Some("cvm-1".into()),
        source: Some(source.into()),
        app: None,
        customer: None,
        reported_at: None,
    }
}

async fn get(app: &axum::Router, uri: &str, token: &str) -> (StatusCode, Value) {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_table_is_listed_filtered_sorted_and_shown_to_each_role_as_its_lines_are() {
    let nats = TestServer::start_with_topology().await;
    let client = nats.client().await;
    let publisher = Publisher::new(client.clone(), PublisherConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let tables = Tables::open(&dir.path().join("sled")).unwrap();
    let cancel = CancellationToken::new();
    let ctx = SinkContext {
        client: client.clone(),
        publisher: publisher.clone(),
        consumer: ConsumerConfig::default(),
        tables: tables.clone(),
        retention: Default::default(),
    };
    let sink = tokio::spawn(tailrace_sinks::run(IssuesSink, ctx, cancel.clone()));

    // syslog is a catalog name; "private" is an operator's tail.
    let occurrences = [
        occurrence("cvm", 1, "syslog", 5, 0, Severity::Error),
        occurrence("cvm", 1, "syslog", 2, 30, Severity::Error),
        occurrence("cvm", 2, "syslog", 3, 0, Severity::Warn),
        occurrence("db", 3, "syslog", 1, 24 * 10, Severity::Error),
        occurrence("cvm", 4, "private", 9, 0, Severity::Error),
    ];
    for (i, o) in occurrences.iter().enumerate() {
        let out = Outgoing::encode(subject::issues(&o.scope), o, format!("t/{i}")).unwrap();
        publisher.publish_and_wait(out).await.unwrap();
    }
    let last = tailrace_nats::replay::last_sequence(publisher.jetstream(), StreamName::ISSUES).await.unwrap();
    while tables.applied("issues", StreamName::ISSUES).unwrap() < last {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cfg = GatewayConfig {
        tokens: [("v", VIEWER, Role::Viewer), ("o", OPERATOR, Role::Operator)]
            .into_iter()
            .map(|(name, token, role)| TokenConfig {
                name: name.into(),
                token: token.into(),
                role,
                customer: None,
            })
            .collect(),
        ..Default::default()
    };
    let state =
        AppState::new(client, cfg, StreamsConfig::default()).with_issues(IssuesView::new(&tables).unwrap());
    let app = app(state);

    let (status, all) = get(&app, "/api/v1/issues", OPERATOR).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let counts: Vec<(String, u64)> = all["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["fingerprint"].as_str().unwrap().to_owned(), i["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [
            ("0000000000000004".into(), 9),
            ("0000000000000001".into(), 7),
            ("0000000000000002".into(), 3),
            ("0000000000000003".into(), 1)
        ]
    );

    let (_, day) = get(&app, "/api/v1/issues?window=24h", OPERATOR).await;
    let in_day: Vec<u64> =
        day["issues"].as_array().unwrap().iter().map(|i| i["window_count"].as_u64().unwrap()).collect();
    assert_eq!(in_day, [9, 5, 3], "the 30 h old and 10 day old occurrences are outside 24 h: {day}");
    let (_, errors) = get(&app, "/api/v1/issues?severity=error&scope=cvm", OPERATOR).await;
    assert_eq!(errors["total"], 2);
    let (_, recent) = get(&app, "/api/v1/issues?sort=last_seen&limit=1", OPERATOR).await;
    assert_eq!((recent["total"].as_u64(), recent["issues"].as_array().unwrap().len()), (Some(4), 1));

    // A viewer does not see the operator's tail's issue, listed or by its key.
    let (_, seen) = get(&app, "/api/v1/issues", VIEWER).await;
    assert_eq!(seen["total"], 3, "{seen}");
    let (status, _) = get(&app, "/api/v1/issues/cvm/0000000000000004", VIEWER).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, one) = get(&app, "/api/v1/issues/cvm/0000000000000001", VIEWER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((one["count"].as_u64(), one["last_24h"].as_u64()), (Some(7), Some(5)));
    assert_eq!(one["trend"].as_array().unwrap().len(), 2, "two hours with occurrences: {one}");
    assert_eq!(one["sample"], "a line of 1");

    for (uri, field) in [
        ("/api/v1/issues?window=lately", "window"),
        ("/api/v1/issues?severity=loud", "severity"),
        ("/api/v1/issues?sort=mood", "sort"),
        ("/api/v1/issues?limit=0", "limit"),
    ] {
        let (status, body) = get(&app, uri, OPERATOR).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{uri}: {body}");
    }
    cancel.cancel();
    sink.await.unwrap().unwrap();
}
