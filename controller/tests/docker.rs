//! The controller against a real Docker Engine: containers of a local busybox image, grouped
//! into apps by their compose project, holding known memory and printing known errors.

use std::time::Duration;

use tailrace_controller::testing::{engine_answers, script, unique, TestContainer};
use tailrace_controller::{Collector, ControllerConfig};
use tailrace_schemas::{AppReport, Report, Severity, Timestamp};

fn app<'r>(r: &'r Report, name: &str) -> Option<&'r AppReport> {
    r.app_telemetry.iter().find(|a| a.app_name.as_str() == name)
}

fn config(protected: &str) -> ControllerConfig {
    ControllerConfig {
        customer_id: Some("acme".into()),
        sample_interval: Duration::from_millis(500),
        report_interval: Duration::from_secs(60),
        protected: vec![protected.to_owned()],
        ..ControllerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_compose_project_are_one_app_with_their_memory_errors_and_issues() {
    assert!(engine_answers(), "a Docker Engine must answer (deploy/prereqs.sh starts dockerd)");
    let (shop, vault) = (unique("shop"), unique("vault"));
    let errors: Vec<String> = (0..5)
        .map(|i| format!("2>ERROR payment gateway timeout after {} ms order={i}", 3000 + i * 17))
        .collect();
    let mut web_lines = errors.clone();
    web_lines.push("WARN slow query took 250 ms".into());
    web_lines.push("INFO listening on :8080".into());
    let project = "com.docker.compose.project";
    let web = TestContainer::run(
        &format!("{shop}-web"),
        &[
            (project, shop.as_str()),
            ("tailrace.display_name", "Web shop"),
            ("tailrace.catalog_limit", "256M"),
        ],
        &script(64, &web_lines),
    );
    let db = TestContainer::run(
        &format!("{shop}-db"),
        &[(project, shop.as_str())],
        &script(32, &["WARN checkpoint took 2 s".to_owned()]),
    );
    // A job whose child outgrows the container's 24 MiB limit a few seconds in: OOM kills (the
    // kernel may take the pipeline's reader and the subshell holding its output, one after the
    // other), the container lives on.
    let job = unique("job");
    let _job = TestContainer::run_with(
        &format!("{job}-1"),
        &[(project, job.as_str())],
        &["-m", "24m", "--memory-swap", "24m"],
        "sleep 4; (x=$(head -c 60000000 /dev/zero | busybox tr '\\0' a)); sleep 3600",
    );
    // A service whose main process outgrows its limit: killed with its group, restarted by the
    // engine, again and again. Only the engine's events and restart count can tell.
    let crash = unique("crash");
    let _crash = TestContainer::run_with(
        &format!("{crash}-1"),
        &[(project, crash.as_str())],
        &["-m", "24m", "--memory-swap", "24m", "--restart", "always"],
        "sleep 2; x=$(head -c 60000000 /dev/zero | busybox tr '\\0' a); sleep 3600",
    );
    let _vault = TestContainer::run(
        &format!("{vault}-1"),
        &[(project, vault.as_str())],
        &script(16, &["ERROR sealed".to_owned()]),
    );
    tokio::time::sleep(Duration::from_secs(2)).await; // memory written, lines printed

    let mut collector = Collector::new(config(&vault), "acme".into()).await;
    assert!(collector.has_docker());
    collector.look_back(Duration::from_secs(120));
    // Long enough (8 s and more) to span a restart of the crashing service, whose every life
    // lasts its 2 s sleep, the time its child takes to fill 24 MiB and the engine's backoff.
    for _ in 0..20 {
        collector.sample().await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let report = collector.report(Timestamp::now()).await;
    let j = app(&report, &job).unwrap_or_else(|| panic!("{job} reported: {report:#?}"));
    let kills = j.oom_kills.unwrap_or(0);
    assert!((1..=2).contains(&kills), "the child's OOM kills are counted: {j:#?}");
    assert_eq!(j.restarts, Some(0), "an OOM kill of a child is not a restart");
    let c = app(&report, &crash).unwrap_or_else(|| panic!("{crash} reported: {report:#?}"));
    assert!(c.oom_kills.is_some_and(|n| n >= 1) && c.restarts.is_some_and(|n| n >= 1), "{c:#?}");
    assert!(app(&report, &vault).is_none(), "a protected app is not reported");
    let a = app(&report, &shop).unwrap_or_else(|| panic!("{shop} reported: {report:#?}"));
    let mut containers = a.containers.clone();
    containers.sort();
    assert_eq!(containers, [format!("{shop}-db"), format!("{shop}-web")]);
    // 96 MiB held in shared memory, plus what sh and sleep use (well under 4 MiB).
    for (what, mb) in [("current", a.memory_current_mb), ("avg", a.memory_avg_mb), ("peak", a.memory_peak_mb)]
    {
        assert!((96.0..100.0).contains(&mb), "memory {what} {mb} MB: {a:#?}");
    }
    assert!(a.cpu_avg_percent < 50.0, "sleeping containers: {}", a.cpu_avg_percent);
    assert_eq!((a.log_errors, a.log_warnings), (5, 2), "{a:#?}");
    assert_eq!(a.display_name, "Web shop");
    assert_eq!(a.catalog_limit, "256M");
    assert_eq!(a.issues.len(), 3, "one issue per template: {:#?}", a.issues);
    let top = &a.issues[0];
    assert_eq!((top.severity, top.count), (Severity::Error, 5), "{top:#?}");
    assert!(top.message.contains("payment gateway timeout"), "{}", top.message);
    assert_eq!(top.fingerprint, None, "the hub fingerprints messages with its shared templates");

    // The next window counts only what is new: a restart, and no old line again.
    web.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..3 {
        collector.sample().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let next = collector.report(Timestamp::now()).await;
    let a = app(&next, &shop).expect("still reported");
    assert_eq!(a.restarts, Some(1), "{a:#?}");
    assert_eq!(
        (a.log_errors, a.log_warnings),
        (5, 1),
        "the restarted web container printed its lines again; the db's line is not counted twice"
    );
    drop(db);
}
