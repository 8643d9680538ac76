//! Delivery against a real nats-server: reports made while the hub is away wait in the outbox
//! and arrive once each, in order, when it returns; a Python subscriber (nats-py) decodes them
//! as sent. And an app that is a cgroup, not a container, measured from its group's files.

use std::process::Command;
use std::time::Duration;

use tailrace_controller::config::GroupApp;
use tailrace_controller::testing::TestGroup;
use tailrace_controller::{Collector, ControllerConfig, Hub, Outbox};
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::Publisher;
use tailrace_schemas::Timestamp;
use tokio_util::sync::CancellationToken;

fn config(group: &TestGroup, report: Duration) -> ControllerConfig {
    ControllerConfig {
        customer_id: Some("acme-1".into()),
        sample_interval: Duration::from_millis(200),
        report_interval: report,
        // No engine here: the group is the one app.
        docker_socket: "/nonexistent/docker.sock".into(),
        groups: vec![GroupApp { app: "batch".into(), path: Some(group.path.clone()), ..GroupApp::default() }],
        ..ControllerConfig::default()
    }
}

async fn stored(server: &TestServer) -> u64 {
    let js = server.jetstream().await;
    js.get_stream("REPORTS").await.unwrap().info().await.unwrap().state.messages
}

/// The reports in REPORTS, in stream order, as the Python subscriber decodes them.
fn python_hub(url: &str) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python/hub_subscriber.py");
    let out = Command::new("python3")
        .args([script, url, "REPORTS"])
        .output()
        .expect("python3 with nats-py, msgpack and zstandard (deploy/prereqs.sh installs them)");
    assert!(out.status.success(), "hub_subscriber.py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A report's time as decoded: nanoseconds in MessagePack, RFC 3339 in JSON.
fn time_of(v: &serde_json::Value) -> Timestamp {
    match v {
        serde_json::Value::Number(n) => Timestamp::from_nanos(n.as_i64().unwrap()),
        other => Timestamp::parse_rfc3339(other.as_str().unwrap()).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_made_while_the_hub_is_away_arrive_once_each_and_in_order() {
    let mut server = TestServer::start_with_topology().await;
    let publisher = Publisher::new(
        server.client().await,
        PublisherConfig {
            ack_timeout: Duration::from_millis(500),
            max_attempts: 2,
            ..PublisherConfig::default()
        },
    );
    let root = ControllerConfig::default().cgroup_root;
    let group = TestGroup::new(&root);
    let outbox_dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(1);
    let cancel = CancellationToken::new();
    let task = tailrace_controller::start(
        config(&group, interval),
        outbox_dir.path(),
        Hub::Nats(publisher),
        cancel.clone(),
    )
    .await
    .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stored(&server).await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "two reports reach the hub");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    server.stop().await;
    tokio::time::sleep(interval * 4).await;
    let outbox = Outbox::open(outbox_dir.path()).unwrap();
    let waiting = outbox.waiting().unwrap().len();
    assert!(waiting >= 3, "reports made while the hub is away wait: {waiting}");

    server.start_again().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !outbox.waiting().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the outbox empties once the hub is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    task.await.unwrap().unwrap();
    // Whatever the last cycle made before the stop is in the outbox or the stream.
    while !outbox.waiting().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let reports = python_hub(&server.url());
    let times: Vec<Timestamp> = reports.iter().map(|r| time_of(&r["reported_at"])).collect();
    assert!(times.len() >= 2 + waiting, "{} reports stored", times.len());
    for pair in times.windows(2) {
        assert!(pair[0] < pair[1], "in order, none twice: {times:?}");
        let gap = pair[1].as_nanos() - pair[0].as_nanos();
        assert!(gap < 2 * interval.as_nanos() as i64, "none lost: a gap of {gap} ns in {times:?}");
    }
    for r in &reports {
        assert_eq!(r["customer_id"], "acme-1");
        assert_eq!(r["apps"], serde_json::json!(["batch"]), "{r}");
        assert_eq!(r["msg_id"], format!("report/acme-1/{}", time_of(&r["reported_at"]).as_nanos()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_is_a_cgroup_is_measured_from_its_group_files() {
    let root = ControllerConfig::default().cgroup_root;
    let mut group = TestGroup::new(&root);
    // 48 MiB held, and a busy loop for CPU.
    group.spawn("python3", &["-c", "import time\nb = bytearray(48 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nt = time.time()\nwhile True:\n    if time.time() - t > 0.5: time.sleep(0.5); t = time.time()"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut collector = Collector::new(config(&group, Duration::from_secs(60)), "acme-1".into()).await;
    for _ in 0..5 {
        collector.sample().await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let report = collector.report(Timestamp::now()).await;
    let a = &report.app_telemetry[0];
    assert_eq!(a.app_name.as_str(), "batch");
    assert_eq!(a.containers, [group.path.clone()]);
    assert!((48.0..64.0).contains(&a.memory_peak_mb), "48 MiB held and the interpreter: {a:#?}");
    assert!((10.0..100.0).contains(&a.cpu_avg_percent), "busy half the time: {a:#?}");
}
