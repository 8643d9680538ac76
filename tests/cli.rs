//! The `tailrace` binary as an operator uses it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tailrace_nats::testing::{free_port, TestServer};

fn tailrace() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tailrace"));
    // Nothing from the developer's environment leaks into a test.
    for (k, _) in std::env::vars() {
        if k.starts_with("TAILRACE_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c
}

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("tailrace.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[tokio::test]
async fn run_answers_health_and_exits_0_within_10_s_of_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (http, nats) = (free_port(), free_port());
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[nats.server]\nport = {nats}\n[gateway]\nbind = \"127.0.0.1:{http}\"\n",
            dir.path().join("data").display()
        ),
    );
    let mut child = tailrace().arg("run").arg("-c").arg(&config).stderr(Stdio::piped()).spawn().unwrap();

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        match client.get(format!("http://127.0.0.1:{http}/health")).send().await {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("no /health within 30 s: {e}"),
        }
    };
    assert_eq!(health.status(), 200);
    let status: serde_json::Value =
        client.get(format!("http://127.0.0.1:{http}/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["broker"]["connected"], true);
    assert!(dir.path().join("data/nats").is_dir(), "the managed server's store is under data_dir");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let sent = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(sent.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    // The managed nats-server went with it.
    assert!(std::net::TcpStream::connect(("127.0.0.1", nats)).is_err(), "nats-server still listening");
}

#[test]
fn a_bad_config_key_gives_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[nats.publisher]\nmax_in_flihgt = 10\n");
    let out = tailrace().args(["streams", "ls", "-c"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nats.publisher.max_in_flihgt"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn a_bad_value_from_the_environment_names_its_key() {
    let out = tailrace().args(["version"]).env("TAILRACE_GATEWAY__MAX_BODY_BYTES", "lots").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway.max_body_bytes"), "{err}");
    assert!(err.contains("TAILRACE_"), "names where the value came from: {err}");
}

#[test]
fn a_non_loopback_bind_without_tokens_is_refused() {
    let out = tailrace().args(["version"]).env("TAILRACE_GATEWAY__BIND", "0.0.0.0:8080").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to bind the gateway to 0.0.0.0:8080 without authentication"), "{err}");
}

#[tokio::test]
async fn streams_apply_creates_then_leaves_unchanged() {
    let server = TestServer::start().await;
    let apply =
        || tailrace().args(["streams", "apply"]).env("TAILRACE_NATS__URL", server.url()).output().unwrap();
    let first = apply();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = String::from_utf8_lossy(&first.stdout);
    assert_eq!(out.lines().filter(|l| l.ends_with("created")).count(), 12, "{out}");
    let second = apply();
    let out = String::from_utf8_lossy(&second.stdout);
    assert_eq!(out.lines().filter(|l| l.ends_with("unchanged")).count(), 12, "{out}");

    let changed = tailrace()
        .args(["streams", "apply"])
        .env("TAILRACE_NATS__URL", server.url())
        .env("TAILRACE_NATS__STREAMS__LOGS__MAX_AGE", "1h")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&changed.stdout);
    assert!(
        out.lines().any(|l| l.starts_with("LOGS") && l.contains("updated: max_age: 7days -> 1h")),
        "{out}"
    );

    let ls = tailrace().args(["streams", "ls"]).env("TAILRACE_NATS__URL", server.url()).output().unwrap();
    assert!(String::from_utf8_lossy(&ls.stdout)
        .lines()
        .any(|l| l.starts_with("LOGS") && l.contains("logs.raw.>")));
}

#[test]
fn version_prints_the_version() {
    let out = tailrace().arg("version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tailrace {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_config_example_in_the_readme_is_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut count = 0;
    for (i, block) in readme.split("```toml\n").skip(1).enumerate() {
        let toml = block.split("```").next().unwrap();
        let path = dir.path().join(format!("example-{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let out = tailrace().arg("version").arg("-c").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "README example {i} is invalid:\n{toml}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        count += 1;
    }
    assert!(count >= 3, "found {count} examples");
}
