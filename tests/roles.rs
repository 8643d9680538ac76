//! Roles as processes: `tailrace produce`, `tailrace process`, `tailrace gateway` on one
//! nats-server, each its own OS process, working together and each exiting 0 on SIGTERM.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::binary::{stop, tailrace, write_config, Reaped};
use tailrace_gateway::testing::SseReader;
use tailrace_nats::testing::{free_port, TestServer};
use tailrace_producers::testing::{append_numbered, numbered};

fn role(config: &std::path::Path, args: &[&str], log: &std::path::Path) -> Reaped {
    let log = std::fs::File::create(log).unwrap();
    Reaped(tailrace().arg("-c").arg(config).args(args).stdout(Stdio::null()).stderr(log).spawn().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_process_and_gateway_as_separate_processes_tail_a_file_and_fill_the_issue_table() {
    let nats = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[nats]\nurl = \"{}\"\n[gateway]\nbind = \"127.0.0.1:{http}\"\n\
             [tail]\nlocal_allow = [\"{}\"]\n[processors.fingerprint]\nwindow = \"500ms\"\n",
            dir.path().join("data").display(),
            nats.url(),
            dir.path().display()
        ),
    );
    let file = dir.path().join("app.log");
    append_numbered(&file, 0, 3);
    let mut roles = vec![
        role(&config, &["produce"], &dir.path().join("produce.log")),
        role(&config, &["process", "classify", "fingerprint"], &dir.path().join("process.log")),
        role(&config, &["gateway"], &dir.path().join("gateway.log")),
    ];
    let base = format!("http://127.0.0.1:{http}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ok = reqwest::get(format!("{base}/api/v1/tail/catalog")).await.ok();
        let hosts = match ok {
            Some(r) => r.json::<serde_json::Value>().await.unwrap_or_default()["hosts"]
                .as_array()
                .map_or(0, Vec::len),
            None => 0,
        };
        if hosts > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "gateway or producer not up within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A tail through the gateway process, run by the producer process.
    let mut sse =
        SseReader::open(&format!("{base}/api/v1/tail/stream?host=local&path={}", file.display()), None).await;
    assert_eq!(sse.status, 200);
    let mut lines = Vec::new();
    while lines.len() < 3 {
        lines.push(sse.next_named("log").await.json()["line"].as_str().unwrap().to_owned());
    }
    assert_eq!(lines, numbered(0, 3));

    // Error lines go through classify and fingerprint (the process role) into the gateway's
    // issue table (its sink).
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!("2026-12-02 10:00:{i:02} ERROR payment {i} failed for order {}\n", 1000 + i));
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .map(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .unwrap()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let issues: serde_json::Value =
            reqwest::get(format!("{base}/api/v1/issues")).await.unwrap().json().await.unwrap();
        let counted: u64 =
            issues["issues"].as_array().unwrap().iter().map(|i| i["count"].as_u64().unwrap()).sum();
        if counted >= 20 {
            assert_eq!(counted, 20, "{issues}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "issues: {issues}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(sse);
    for r in &mut roles {
        stop(r).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_process_stops_on_sigterm_while_the_nats_server_is_gone() {
    let mut nats = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let remote = dir.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    append_numbered(&remote.join("app.log"), 0, 3);
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[nats]\nurl = \"{}\"\n[gateway]\nbind = \"127.0.0.1:{http}\"\n\
             [tail]\nlocal_allow = [\"{}\"]\n\
             [[sync.targets]]\nname = \"here\"\nhost = \"local\"\nremote_path = \"{}\"\ninterval = \"1s\"\n",
            dir.path().join("data").display(),
            nats.url(),
            dir.path().display(),
            remote.display()
        ),
    );
    let mut roles = [
        role(&config, &["produce"], &dir.path().join("produce.log")),
        role(&config, &["process", "classify", "fingerprint"], &dir.path().join("process.log")),
        role(&config, &["gateway"], &dir.path().join("gateway.log")),
    ];
    let base = format!("http://127.0.0.1:{http}");
    tailrace_producers::testing::until("the gateway answers", || {
        std::net::TcpStream::connect(("127.0.0.1", http)).is_ok()
    })
    .await;
    // The sync role has run: its copy is there.
    tailrace_producers::testing::until("the first sync", || {
        dir.path().join("data/sync/here/files/app.log").exists()
    })
    .await;
    let _ = reqwest::get(format!("{base}/api/v1/services")).await;

    // The server goes away; an operator stops every role. None may wait for it forever (a
    // flush, an acknowledgement, a bucket update all wait for a server that is back).
    nats.kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log =
        |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
    for (r, name) in roles.iter_mut().zip(["produce", "process", "gateway"]) {
        assert!(r.try_wait().unwrap().is_none(), "{name} stopped when the server went: {}", log(name));
        support::binary::signal(r, nix::sys::signal::Signal::SIGTERM);
    }
    for (r, name) in roles.iter_mut().zip(["produce", "process", "gateway"]) {
        let status = support::binary::exited(r, Duration::from_secs(60)).await;
        assert!(status.success(), "{name} exited with {status}: {}", log(name));
    }
}
