//! Fleet telemetry end to end: a controller written in Python (nats-py) publishes JSON reports,
//! `tailrace run` (report splitter, telemetry and issue sinks, gateway) turns them into tables,
//! and the fleet API answers with the figures computed here by hand from the same reports.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use support::binary::tailrace;
use support::hub::{Hub, ACME, VIEWER};
use tailrace_nats::testing::TestServer;
use tailrace_schemas::Timestamp;

/// The fleet of the test: app `shop` at five customers, six reports each, 10 hours apart
/// (so 24h holds the last three, 7d all six); `api` at two customers.
fn reports(now: Timestamp) -> Vec<Value> {
    let bases = [100.0, 110.0, 120.0, 130.0, 400.0];
    let mut out = Vec::new();
    for (c, base) in bases.iter().enumerate() {
        for j in 0..6i64 {
            let at = now.saturating_add_nanos(-(j * 10 * 3600 + 60) * 1_000_000_000);
            let peak = base + j as f64;
            let mut apps = vec![json!({
                "app_name": "shop",
                "display_name": "Web shop",
                "containers": ["shop-web-1", "shop-db-1"],
                "memory_current_mb": peak * 0.8,
                "memory_avg_mb": peak / 2.0,
                "memory_peak_mb": peak,
                "cpu_avg_percent": 10.0 + c as f64,
                "catalog_estimate": "256M",
                "catalog_limit": "512M",
                "log_errors": 3,
                "log_warnings": 1,
                "issues": [{
                    "severity": "error",
                    "message": format!("connection to db-{c} refused after {} ms", 3000 + j * 7),
                    "count": 2,
                    "last_seen": at.to_rfc3339(),
                }],
            })];
            if c < 2 {
                apps.push(json!({
                    "app_name": "api", "display_name": "API", "memory_avg_mb": 50.0, "memory_peak_mb": 60.0,
                    "catalog_limit": "64M", "log_errors": 0, "log_warnings": 0,
                }));
            }
            out.push(json!({
                "customer_id": format!("cust-{c}"),
                "reported_at": at.to_rfc3339(),
                "controller_version": "v0.28.0",
                "app_telemetry": apps,
            }));
        }
    }
    out
}

fn python_controller(url: &str, reports: &[Value], dir: &std::path::Path) {
    let file = dir.join("reports.json");
    std::fs::write(&file, serde_json::to_vec(reports).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/producers/examples/python/controller.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(url)
        .arg(&file)
        .output()
        .expect("python3 with nats-py (deploy/prereqs.sh installs it)");
    assert!(out.status.success(), "controller.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(lines, reports.len(), "one line per report published");
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs() + 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_tables_from_a_python_controller_match_hand_computed_figures_and_count_each_report_once() {
    let server = TestServer::start_with_topology().await;
    let hub = Hub::start(&server);
    hub.until("/health", "the hub starts", |_| true).await;
    let scratch = tempfile::tempdir().unwrap();
    let now = Timestamp::now();
    let all = reports(now);
    python_controller(&server.url(), &all, scratch.path());

    // --- The fleet summary over 7 days: every report. ---
    let fleet = hub
        .until("/api/v1/apps?period=7d", "the fleet summary holds every report", |b| {
            b["apps"].as_array().is_some_and(|a| {
                a.len() == 2 && a.iter().map(|x| x["reports"].as_u64().unwrap()).sum::<u64>() == 42
            })
        })
        .await;
    let shop = fleet["apps"].as_array().unwrap().iter().find(|a| a["app_name"] == "shop").unwrap().clone();
    let peaks: Vec<f64> =
        [100.0, 110.0, 120.0, 130.0, 400.0].iter().flat_map(|b| (0..6).map(move |j| b + j as f64)).collect();
    let mut sorted = peaks.clone();
    sorted.sort_by(f64::total_cmp);
    let seed_p95 = sorted[(sorted.len() as f64 * 0.95) as usize];
    assert_eq!(seed_p95, 404.0);
    assert_eq!(shop["deployment_count"], 5);
    assert_eq!(shop["display_name"], "Web shop");
    assert!(
        close(shop["avg_memory_mb"].as_f64().unwrap(), peaks.iter().sum::<f64>() / 30.0 / 2.0, 1e-9),
        "{shop}"
    );
    assert_eq!(shop["peak_memory_mb"], 405.0);
    let p95 = shop["p95_memory_mb"].as_f64().unwrap();
    assert!(close(p95, seed_p95, 0.01), "P95 {p95} is the seed's {seed_p95} within the sketch's 1 %");
    assert!(close(shop["avg_cpu"].as_f64().unwrap(), 12.0, 1e-9));
    assert_eq!(shop["total_errors"], 90);
    assert_eq!(shop["total_warnings"], 30);
    assert_eq!(shop["estimate_accuracy"], "yellow", "P95 404 is over half of the 512 MB limit");
    assert_eq!(fleet["total_deployments"], 7);
    assert_eq!(fleet["apps_with_errors"], 1);
    assert_eq!(fleet["apps"][0]["app_name"], "shop", "most deployments first");
    let api = &fleet["apps"][1];
    assert_eq!(api["deployment_count"], 2);
    assert_eq!(api["estimate_accuracy"], "yellow");

    // --- 24 hours: the last three reports of each customer. ---
    let (_, day) = hub.get("/api/v1/apps?period=24h&sort=memory&order=asc").await;
    assert_eq!(day["apps"][0]["app_name"], "api", "sorted by memory ascending");
    let shop_day = &day["apps"][1];
    assert_eq!(shop_day["reports"], 15, "{day}");
    assert_eq!(shop_day["peak_memory_mb"], 402.0);

    // --- One app, with the seed's advice. ---
    let (status, detail) = hub.get("/api/v1/apps/shop?period=7d").await;
    assert_eq!(status, 200, "{detail}");
    let advice = &detail["advice"];
    let rule = |p: f64| ((p * 1.2).ceil() as u64).div_ceil(32) * 32;
    assert_eq!(
        detail["suggested_limit_mb"],
        json!(rule(detail["p95_memory_mb"].as_f64().unwrap())),
        "{detail}"
    );
    assert!([480, 512].contains(&detail["suggested_limit_mb"].as_u64().unwrap()));
    assert_eq!(advice["deployments"], 5);
    assert_eq!(advice["outliers"], json!(["cust-4"]), "405 is far above the others' 105..135");
    assert_eq!(advice["customer_peak_max_mb"], 405.0);
    assert!(advice["days"].as_f64().unwrap() >= 2.0);
    let (_, thin) = hub.get("/api/v1/apps/api?period=7d").await;
    assert_eq!(thin["suggested_limit_mb"], Value::Null, "two deployments are too few: {thin}");
    assert!(thin["advice"]["reason"].as_str().unwrap().contains("2 deployment"));

    // --- The customer breakdown and the customers. ---
    let (_, breakdown) = hub.get("/api/v1/apps/shop/customers?period=7d").await;
    let rows = breakdown["customers"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["customer_id"], "cust-4", "by average memory, descending");
    assert_eq!(rows[0]["peak_memory_mb"], 405.0);
    assert_eq!(rows[0]["reports"], 6);
    assert!(close(rows[0]["avg_memory_mb"].as_f64().unwrap(), (400.0 + 2.5) / 2.0, 1e-9));
    let (_, breakdown_day) = hub.get("/api/v1/apps/shop/customers?period=24h").await;
    assert_eq!(breakdown_day["customers"][0]["reports"], 3);
    let (_, customers) = hub.get("/api/v1/customers").await;
    assert_eq!(customers["total"], 5);
    let (_, c0) = hub.get("/api/v1/customers/cust-0/apps?period=7d").await;
    let c0_apps: BTreeMap<String, Value> = c0["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["app_name"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    assert_eq!(c0_apps["shop"]["memory_peak_mb"], 105.0);
    assert_eq!(c0_apps["shop"]["memory_current_mb"], 80.0, "the latest report's current memory");
    assert_eq!(c0_apps["api"]["memory_state"], "ok");
    let (_, history) = hub.get("/api/v1/apps/shop/history?period=7d").await;
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.iter().map(|p| p["reports"].as_u64().unwrap()).sum::<u64>(), 30);
    assert_eq!(history["catalog_limit_mb"], 512.0);

    // --- The issue: one across five customers, fingerprinted from messages alone. ---
    let issues =
        hub.until("/api/v1/apps/shop/issues", "the issue of shop", |b| b["issues"][0]["count"] == 60).await;
    assert_eq!(issues["total"], 1, "the same error at five customers is one issue: {issues}");
    let issue = &issues["issues"][0];
    assert_eq!(issue["affected_customers"].as_array().unwrap().len(), 5);
    assert_eq!(issue["severity"], "error");
    assert!(issue["message"].as_str().unwrap().contains("refused"), "{issue}");

    // --- Each report counts once: the same reports again, and a replay past the dedup window. ---
    python_controller(&server.url(), &all[..3], scratch.path());
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut republished = 0;
    for (i, r) in all.iter().take(2).enumerate() {
        let subject = format!("reports.{}", r["customer_id"].as_str().unwrap());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("replayed-{i}").as_str());
        js.publish_with_headers(subject, headers, serde_json::to_vec(r).unwrap().into())
            .await
            .unwrap()
            .await
            .unwrap();
        republished += 1;
    }
    assert_eq!(republished, 2);
    // Reports (above) and an occurrence republished under fresh ids, as a replay would: the
    // tables skip them.
    let issues_stream = js.get_stream("ISSUES").await.unwrap();
    let info = issues_stream.get_info().await.unwrap();
    let last = issues_stream.get_raw_message(info.state.last_sequence).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "replay-of-an-occurrence");
    js.publish_with_headers(last.subject.to_string(), headers, last.payload.clone())
        .await
        .unwrap()
        .await
        .unwrap();
    // Then one new report with an issue of its own, so both sinks' "caught up" is observable
    // (each applies its stream in order: what came before the new report is in).
    let fresh = json!({"customer_id": "acme", "app_telemetry": [{
        "app_name": "shop", "memory_avg_mb": 10.0, "memory_peak_mb": 20.0,
        "issues": [{"severity": "warning", "message": "disk nearly full", "count": 1, "last_seen": Timestamp::now().to_rfc3339()}],
    }]});
    let (status, accepted) = hub.post(ACME, &fresh).await;
    assert_eq!(status, 202, "{accepted}");
    let fleet = hub
        .until("/api/v1/apps?period=7d", "the new report", |b| b["apps"][0]["deployment_count"] == 6)
        .await;
    let shop = fleet["apps"].as_array().unwrap().iter().find(|a| a["app_name"] == "shop").unwrap();
    assert_eq!(shop["reports"], 31, "30 reports once each, and acme's: {shop}");
    assert_eq!(shop["total_errors"], 90);
    let issues = hub.until("/api/v1/apps/shop/issues", "the new report's issue", |b| b["total"] == 2).await;
    let refused = issues["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["message"].as_str().unwrap().contains("refused"))
        .unwrap();
    assert_eq!(refused["count"], 60, "replayed occurrences are not counted again: {issues}");

    // --- Rebuilding both sinks from the streams gives the same answers. ---
    let paths = [
        "/api/v1/apps?period=7d",
        "/api/v1/apps?period=24h",
        "/api/v1/apps/shop?period=7d",
        "/api/v1/apps/shop/customers?period=7d",
        "/api/v1/apps/shop/history?period=30d",
        "/api/v1/customers",
        "/api/v1/customers/cust-3/apps?period=30d",
        "/api/v1/apps/shop/issues",
    ];
    let strip = |mut v: Value| {
        v.as_object_mut().map(|o| o.remove("since"));
        v
    };
    let mut before = Vec::new();
    for p in paths {
        before.push(strip(hub.get(p).await.1));
    }
    let mut replies = client.subscribe("_rebuilt").await.unwrap();
    for sink in ["telemetry", "issues"] {
        client
            .publish_with_reply(tailrace_sinks::rebuild_subject(sink), "_rebuilt", "".into())
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let r = tokio::time::timeout(Duration::from_secs(10), replies.next()).await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&r.payload).contains("rebuilding"));
    }
    for (p, expected) in paths.iter().zip(&before) {
        hub.until(p, &format!("{p} after the rebuild"), |b| &strip(b.clone()) == expected).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_are_refused_naming_the_field_and_a_token_reports_only_as_its_customer() {
    let server = TestServer::start_with_topology().await;
    let hub = Hub::start(&server);
    hub.until("/health", "the hub starts", |_| true).await;

    let cases = [
        (json!({"app_telemetry": []}), "customer_id"),
        (
            json!({"customer_id": "acme", "app_telemetry": [{"app_name": "a", "memory_peak_mb": "lots"}]}),
            "app_telemetry[0].memory_peak_mb",
        ),
        (
            json!({"customer_id": "acme", "app_telemetry": [{"app_name": "a", "cpu_avg_percent": -3}]}),
            "app_telemetry[0].cpu_avg_percent",
        ),
        (json!({"customer_id": "acme", "app_telemetry": [{"app_name": ""}]}), "app_telemetry[0].app_name"),
        (
            json!({"customer_id": "acme", "app_telemetry": [{"app_name": "a", "issues": [{"severity": "error", "message": "x", "count": 1, "last_seen": "yesterday"}]}]}),
            "app_telemetry[0].issues[0].last_seen",
        ),
    ];
    for (body, field) in &cases {
        let (status, answer) = hub.post(ACME, body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["field"], *field, "{body} -> {answer}");
    }
    let (status, answer) = hub.post(ACME, &json!({"customer_id": "globex"})).await;
    assert_eq!((status, answer["field"].as_str()), (403, Some("customer_id")), "{answer}");
    let (status, answer) = hub.post(VIEWER, &json!({"customer_id": "acme"})).await;
    assert_eq!((status, answer["field"].as_str()), (403, Some("Authorization")), "{answer}");
    let (status, answer) =
        hub.post(ACME, &json!({"customer_id": "acme", "hostname": "old-controller"})).await;
    assert_eq!(status, 202, "a report without app_telemetry (an older controller) is accepted: {answer}");

    // Over NATS, a bad report goes to the DLQ with the field named; the good one after it is split.
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    js.publish(
        "reports.acme",
        r#"{"customer_id":"acme","app_telemetry":[{"app_name":"a","memory_avg_mb":"x"}]}"#.into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    js.publish("reports.acme", r#"{"customer_id":"globex"}"#.into()).await.unwrap().await.unwrap();
    js.publish(
        "reports.acme",
        r#"{"customer_id":"acme","app_telemetry":[{"app_name":"ok","memory_peak_mb":5}]}"#.into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    hub.until("/api/v1/apps", "the good report is split", |b| {
        b["apps"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let dlq = js.get_stream("DLQ").await.unwrap();
    // Both readers of REPORTS refuse each bad report, each into its own dead letters: the
    // splitter and the telemetry sink.
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while letters.len() < 4 {
        let n = dlq.get_info().await.unwrap().state.messages;
        if n >= 4 {
            for seq in 1..=n {
                let m = dlq.get_raw_message(seq).await.unwrap();
                let letter: tailrace_schemas::DeadLetter = tailrace_schemas::decode(&m.payload).unwrap();
                letters.push((letter.consumer.as_str().to_owned(), letter.reason));
            }
        }
        assert!(Instant::now() < deadline, "four dead letters expected, have {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for reader in ["reports", "sink-telemetry-"] {
        let reasons: Vec<&String> =
            letters.iter().filter(|(c, _)| c.starts_with(reader)).map(|(_, r)| r).collect();
        assert_eq!(reasons.len(), 2, "{reader}: {letters:?}");
        assert!(reasons.iter().any(|r| r.contains("app_telemetry[0].memory_avg_mb")), "{letters:?}");
        assert!(reasons.iter().any(|r| r.contains("customer_id") && r.contains("subject")), "{letters:?}");
    }
}

/// `tailrace run` (splitter and sinks) killed with -9 while it applies numbered reports, and
/// started again at once, three times: every report is in the tables once, none lost, none
/// doubled, per customer and in the fleet figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_hub_while_it_applies_reports_loses_and_doubles_nothing() {
    const CUSTOMERS: i64 = 12;
    const REPORTS: i64 = 1_200;
    let server = TestServer::start_with_topology().await;
    let mut hub = Hub::start(&server);
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let start = Timestamp::now().saturating_add_nanos(-20 * 3_600 * 1_000_000_000);
    // Report n: customer n % 12, a minute after report n - 1, with n as its error count, so a
    // lost or doubled report shows in the sums.
    let report = |n: i64| {
        let at = start.saturating_add_nanos(n * 60 * 1_000_000_000);
        json!({
            "customer_id": format!("c-{:02}", n % CUSTOMERS),
            "reported_at": at.to_rfc3339(),
            "app_telemetry": [{
                "app_name": "numbered", "memory_avg_mb": 10.0, "memory_peak_mb": 20.0,
                "log_errors": n, "log_warnings": 1,
            }],
        })
    };
    let mut acks = Vec::new();
    for n in 0..REPORTS {
        let r = report(n);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("numbered-{n}").as_str());
        let subject = format!("reports.{}", r["customer_id"].as_str().unwrap());
        acks.push(
            js.publish_with_headers(subject, headers, serde_json::to_vec(&r).unwrap().into()).await.unwrap(),
        );
        if n % 300 == 299 {
            for a in acks.drain(..) {
                a.await.unwrap();
            }
            // While the hub works on what came before (its first start included).
            tokio::time::sleep(Duration::from_millis(150 + (n as u64 % 7) * 40)).await;
            if n < REPORTS - 1 {
                hub.kill_and_restart();
            }
        }
    }
    let expected_errors: i64 = (0..REPORTS).sum();
    let fleet = hub
        .until("/api/v1/apps?period=30d", "every numbered report applied", |b| {
            b["apps"][0]["total_errors"].as_i64().is_some_and(|e| e >= expected_errors)
        })
        .await;
    // Settled: a little later it says the same (nothing arrives twice after the count is reached).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, again) = hub.get("/api/v1/apps?period=30d").await;
    assert_eq!(again["apps"][0]["total_errors"], fleet["apps"][0]["total_errors"]);
    let app = &again["apps"][0];
    assert_eq!(app["total_errors"].as_i64().unwrap(), expected_errors, "lost or doubled: {app}");
    assert_eq!(app["total_warnings"].as_i64().unwrap(), REPORTS, "{app}");
    assert_eq!(app["deployment_count"].as_i64().unwrap(), CUSTOMERS, "{app}");
    let (_, customers) = hub.get("/api/v1/apps/numbered/customers?period=30d").await;
    let per: BTreeMap<String, i64> = customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["customer_id"].as_str().unwrap().to_owned(), c["reports"].as_i64().unwrap()))
        .collect();
    let (lost, doubled): (Vec<_>, Vec<_>) =
        per.iter().filter(|(_, n)| **n != REPORTS / CUSTOMERS).partition(|(_, n)| **n < REPORTS / CUSTOMERS);
    assert!(lost.is_empty() && doubled.is_empty(), "customers short {lost:?}, over {doubled:?}");
    assert_eq!(per.len() as i64, CUSTOMERS);
}

/// `tailrace demo` fills the fleet pages' tables through the real path, and run again with the
/// same seed it stores nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_publishes_a_fleet_and_a_rerun_stores_nothing_twice() {
    let server = TestServer::start_with_topology().await;
    let hub = Hub::start(&server);
    let demo = || {
        let out = tailrace()
            .args(["demo", "--customers", "4", "--apps", "5", "--apps-per-customer", "3", "--days", "2"])
            .arg("-c")
            .arg(&hub.config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let total = |b: &Value| -> i64 {
        b["apps"].as_array().unwrap().iter().map(|a| a["reports"].as_i64().unwrap()).sum()
    };
    // Before the first run: every report it made is older than this.
    let started = Timestamp::now();
    demo();
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let published = js.get_stream("REPORTS").await.unwrap().get_info().await.unwrap().state.messages as i64;
    assert!(published > 4 * 40, "two days of hourly reports from four customers, some skipped: {published}");
    let first = hub
        .until("/api/v1/apps?period=7d", "the demo's reports applied", |b| {
            b["apps"].as_array().is_some_and(|a| !a.is_empty()) && total(b) >= published * 3 - 4 * 48
        })
        .await;
    let (_, customers) = hub.get("/api/v1/customers").await;
    assert_eq!(customers["customers"].as_array().unwrap().len(), 4, "{customers}");
    assert!(first["apps"].as_array().unwrap().len() <= 5);

    demo();
    // The second run may add reports whose time came between the runs (a customer's report of
    // this hour, minutes later): only those are new, and only their apps are counted.
    let reports = js.get_stream("REPORTS").await.unwrap();
    let republished = reports.get_info().await.unwrap().state.messages as i64;
    assert!(republished - published <= 4, "{published} then {republished}");
    // Each stored report's apps, counted once.
    let mut want = 0;
    for seq in 1..=republished as u64 {
        let m = reports.get_raw_message(seq).await.unwrap();
        let report = tailrace_schemas::report_check::parse(&m.payload).unwrap();
        let at = report.reported_at.unwrap();
        assert!(seq <= published as u64 || at > started, "a report of the first run stored again: {at:?}");
        want += report.app_telemetry.len() as i64;
    }
    hub.until("/api/v1/apps?period=7d", "the second run applied", |b| total(b) >= want).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, second) = hub.get("/api/v1/apps?period=7d").await;
    assert_eq!(total(&second), want, "nor counted again");
}
