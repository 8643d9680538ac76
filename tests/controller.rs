//! `tailrace controller` as an operator runs it, against a hub (`tailrace run`) over HTTP: its
//! reports reach the fleet tables, each once and none lost, through kill -9 of the controller
//! at random moments with an immediate restart, and the hub away for several cycles.
//! `--once` prints the report and sends nothing.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use futures::StreamExt;
use support::binary::{signal, tailrace, write_config};
use support::hub::{Hub, ACME};
use tailrace_controller::testing::TestGroup;
use tailrace_nats::testing::TestServer;
use tailrace_schemas::{Report, Timestamp};

/// A controller config: customer acme, one app (`batch`, the test group), no Docker, reports
/// every `interval` to the hub gateway at `base`.
fn controller_config(
    dir: &std::path::Path,
    group: &TestGroup,
    base: &str,
    interval: Duration,
) -> std::path::PathBuf {
    let hub = format!("[controller.hub]\ntransport = \"http\"\nurl = \"{base}\"\ntoken = \"{ACME}\"\n");
    config_with_hub(dir, group, &hub, interval)
}

/// The same with `hub` (TOML sections) saying where reports go.
fn config_with_hub(
    dir: &std::path::Path,
    group: &TestGroup,
    hub: &str,
    interval: Duration,
) -> std::path::PathBuf {
    let body = format!(
        "data_dir = \"{data}\"\n[controller]\ncustomer_id = \"acme\"\nsample_interval = \"200ms\"\n\
         report_interval = \"{ms}ms\"\ndocker_socket = \"/nonexistent/docker.sock\"\n\
         [[controller.groups]]\napp = \"batch\"\npath = \"{path}\"\n{hub}",
        data = dir.join("data").display(),
        ms = interval.as_millis(),
        path = group.path,
    );
    write_config(dir, &body)
}

/// Reports waiting in an outbox.
fn waiting(outbox: &std::path::Path) -> usize {
    std::fs::read_dir(outbox)
        .map(|d| d.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json")).count())
        .unwrap_or(0)
}

fn spawn_controller(config: &std::path::Path, log: &std::path::Path) -> Child {
    let err = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    tailrace().arg("controller").arg("-c").arg(config).stdout(Stdio::null()).stderr(err).spawn().unwrap()
}

/// The report times the controller's log says it made (`report made … report=…/{nanos}.json`).
fn made(log: &str) -> Vec<i64> {
    log.lines()
        .filter(|l| l.contains("report made"))
        .filter_map(|l| l.rsplit('/').next()?.split('.').next()?.parse().ok())
        .collect()
}

/// Each report of acme in REPORTS, by report time: how many times it is stored.
async fn stored(server: &TestServer) -> BTreeMap<i64, u32> {
    let js = server.jetstream().await;
    let stream = js.get_stream("REPORTS").await.unwrap();
    let last = stream.cached_info().state.last_sequence;
    let mut counts = BTreeMap::new();
    if last == 0 {
        return counts;
    }
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "reports.acme".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
        let report: Report = tailrace_schemas::decode(&m.payload).unwrap();
        *counts.entry(report.reported_at.unwrap().as_nanos()).or_insert(0) += 1;
        if m.info().unwrap().stream_sequence >= last {
            break;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_survive_kill_9_of_the_controller_and_the_hub_away_each_counted_once() {
    let server = TestServer::start_with_topology().await;
    let mut hub = Hub::start(&server);
    hub.until("/health", "the hub starts", |_| true).await;
    let mut group = TestGroup::new(std::path::Path::new("/sys/fs/cgroup"));
    group.spawn("sleep", &["600"]);
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_millis(700);
    let config = controller_config(dir.path(), &group, &hub.base, interval);
    let log = dir.path().join("controller.log");
    let outbox = dir.path().join("data/controller-outbox");

    let mut controller = spawn_controller(&config, &log);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..4 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(interval * 2 + Duration::from_millis(rng % 900)).await;
        if round == 2 {
            // The hub away for several cycles: reports wait in the outbox.
            hub.stop();
            tokio::time::sleep(interval * 4).await;
            assert!(waiting(&outbox) >= 3, "reports made while the hub is away wait in the outbox");
            hub.start_again();
        }
        controller.kill().unwrap(); // SIGKILL, at a moment the test did not choose
        controller.wait().unwrap();
        controller = spawn_controller(&config, &log);
    }
    tokio::time::sleep(interval * 3).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if waiting(&outbox) == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox empties; controller log:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&controller, nix::sys::signal::Signal::SIGTERM);
    let status = controller.wait().unwrap();
    assert!(status.success(), "SIGTERM ends the controller cleanly: {status}");

    let log_text = std::fs::read_to_string(&log).unwrap();
    let made = made(&log_text);
    let counts = stored(&server).await;
    let lost: Vec<_> = made.iter().filter(|t| !counts.contains_key(t)).collect();
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(made.len() >= 8, "{} reports made; log:\n{log_text}", made.len());
    assert!(lost.is_empty(), "lost {lost:?} of {} made", made.len());
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");
    // A kill between the outbox's rename and the log line makes a report the log does not name.
    assert!(counts.len() <= made.len() + 4, "{} stored, {} made", counts.len(), made.len());

    // The hub's tables count each report once.
    let unique = counts.len() as u64;
    hub.until("/api/v1/apps?period=24h", "the telemetry table holds every report once", |b| {
        b["apps"].as_array().is_some_and(|a| {
            a.iter().any(|x| x["app_name"] == "batch" && x["reports"].as_u64() == Some(unique))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_once_prints_the_report_it_would_send_and_sends_nothing() {
    let mut group = TestGroup::new(std::path::Path::new("/sys/fs/cgroup"));
    group.spawn("sleep", &["600"]);
    let dir = tempfile::tempdir().unwrap();
    // A hub nobody listens on: --once must not need it.
    let config = controller_config(dir.path(), &group, "http://127.0.0.1:9", Duration::from_secs(300));
    let out = tailrace().arg("controller").arg("--once").arg("-c").arg(&config).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Report = serde_json::from_slice(&out.stdout).expect("the report as JSON on stdout");
    assert_eq!(report.customer_id.as_str(), "acme");
    assert!(report.reported_at.unwrap() <= Timestamp::now());
    assert_eq!(report.app_telemetry.len(), 1);
    assert_eq!(report.app_telemetry[0].app_name.as_str(), "batch");
    assert!(!dir.path().join("data/controller-outbox").exists(), "--once keeps no outbox");

    // A config without a customer is refused, naming the key.
    let bad = write_config(dir.path(), "[controller]\nsample_interval = \"1s\"\n");
    let out = tailrace().arg("controller").arg("--once").arg("-c").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("controller.customer_id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_nats_the_controller_starts_while_the_hub_is_away_and_delivers_when_it_returns() {
    let mut server = TestServer::start_with_topology().await;
    server.stop().await;
    let mut group = TestGroup::new(std::path::Path::new("/sys/fs/cgroup"));
    group.spawn("sleep", &["600"]);
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_millis(500);
    let hub = format!("[nats]\nurl = \"{}\"\n", server.url());
    let config = config_with_hub(dir.path(), &group, &hub, interval);
    let log = dir.path().join("controller.log");
    let outbox = dir.path().join("data/controller-outbox");
    let mut controller = spawn_controller(&config, &log);

    tokio::time::sleep(interval * 5).await;
    let log_now = || std::fs::read_to_string(&log).unwrap();
    assert!(controller.try_wait().unwrap().is_none(), "it runs with the hub away:\n{}", log_now());
    assert!(waiting(&outbox) >= 3, "reports wait in the outbox: {}", waiting(&outbox));

    server.start_again().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while waiting(&outbox) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox empties; log:\n{}", log_now());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&controller, nix::sys::signal::Signal::SIGTERM);
    assert!(controller.wait().unwrap().success());
    let made = made(&log_now());
    let counts = stored(&server).await;
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), made, "every report made is stored, in order");
    assert!(counts.values().all(|n| *n == 1), "none twice: {counts:?}");
}
