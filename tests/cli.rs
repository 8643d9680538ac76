//! The `tailrace` binary as an operator uses it.

mod support;

use std::time::Duration;

use support::binary::{exited, signal, stop, tailrace, write_config, Setup};
use tailrace_nats::testing::TestServer;

#[tokio::test]
async fn run_answers_health_and_exits_0_within_10_s_of_sigterm() {
    let setup = Setup::new("");
    let mut child = setup.spawn();
    setup.wait_ready(&mut child, Duration::from_secs(30)).await;
    let health = reqwest::get(format!("{}/health", setup.base())).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(setup.data().join("nats").is_dir(), "the managed server's store is under data_dir");

    signal(&child, nix::sys::signal::Signal::SIGTERM);
    let exit = exited(&mut child, Duration::from_secs(10)).await;
    assert!(exit.success(), "exit status {exit}");
    // The managed nats-server went with it.
    assert!(std::net::TcpStream::connect(("127.0.0.1", setup.nats)).is_err(), "nats-server still listening");
}

#[tokio::test]
async fn subcommands_reach_the_managed_server_with_its_generated_credentials() {
    let setup = Setup::new("");
    let mut child = setup.spawn();
    setup.wait_ready(&mut child, Duration::from_secs(30)).await;
    let ls = tailrace().args(["streams", "ls", "-c"]).arg(&setup.config).output().unwrap();
    assert!(ls.status.success(), "{}", String::from_utf8_lossy(&ls.stderr));
    assert!(String::from_utf8_lossy(&ls.stdout).lines().any(|l| l.starts_with("LOGS")));
    // Without them the broker refuses: the roles of the gateway cannot be walked around.
    let anonymous = tailrace()
        .args(["streams", "ls"])
        .env("TAILRACE_NATS__URL", format!("nats://127.0.0.1:{}", setup.nats))
        .output()
        .unwrap();
    assert!(!anonymous.status.success(), "an anonymous client listed the streams");
    stop(&mut child).await;
}

#[test]
fn a_subcommand_without_a_running_managed_server_says_what_to_check() {
    let setup = Setup::new("");
    let out = tailrace().args(["streams", "ls", "-c"]).arg(&setup.config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tailrace run") && err.contains("data_dir"), "{err}");
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
    assert_eq!(out.lines().filter(|l| l.ends_with("created")).count(), 11, "{out}");
    let second = apply();
    let out = String::from_utf8_lossy(&second.stdout);
    assert_eq!(out.lines().filter(|l| l.ends_with("unchanged")).count(), 11, "{out}");

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

#[tokio::test]
async fn subcommands_never_write_into_a_server_that_is_not_the_managed_one() {
    let setup = Setup::new("");
    let mut child = setup.spawn();
    setup.wait_ready(&mut child, Duration::from_secs(30)).await;
    stop(&mut child).await;
    // Something else now listens on the managed server's port.
    let store = tempfile::tempdir().unwrap();
    let _foreign = tailrace_nats::testing::foreign_server(setup.nats, store.path(), None).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], setup.nats));
    let out = tailrace().args(["streams", "apply", "-c"]).arg(&setup.config).output().unwrap();
    assert!(!out.status.success(), "streams apply succeeded against a foreign server");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not the managed server"), "{err}");
    let js = async_nats::jetstream::new(async_nats::connect(format!("nats://{addr}")).await.unwrap());
    assert_eq!(js.query_account().await.unwrap().streams, 0);
}

#[tokio::test]
async fn run_keeps_the_issue_table_and_sinks_are_listed_and_checked() {
    let out = tailrace().args(["sink", "--list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = listed.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["files", "issues", "telemetry"], "{listed}");
    let bad = tailrace().args(["version"]).env("TAILRACE_SINKS__RUN", "[\"nope\"]").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("\"nope\"") && err.contains("issues"), "{err}");

    let setup = Setup::new("");
    let mut child = setup.spawn();
    setup.wait_ready(&mut child, Duration::from_secs(30)).await;
    let r = reqwest::get(format!("{}/api/v1/issues", setup.base())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["total"], 0);
    assert!(setup.data().join("sled").is_dir(), "the tables are under data_dir");
    stop(&mut child).await;
    // Stopped, its table can be printed.
    let dump = tailrace().args(["sink", "--dump", "issues", "-c"]).arg(&setup.config).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
}

#[tokio::test]
async fn sync_mirrors_a_local_target_and_says_what_it_moved() {
    let server = TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote");
    std::fs::create_dir_all(remote.join("jobs")).unwrap();
    std::fs::write(remote.join("server-api.log"), "ERROR a\nINFO b\n").unwrap();
    std::fs::write(remote.join("jobs/slurm-12.err"), "oom\n").unwrap();
    let body = format!(
        "data_dir = \"{}\"\n[nats]\nurl = \"{}\"\n\
         [[sync.targets]]\nname = \"lab\"\nhost = \"local\"\nremote_path = \"{}\"\n\
         [[sync.targets]]\nname = \"far\"\nhost = \"cvm-1\"\nremote_path = \"/var/log\"\n",
        dir.path().join("data").display(),
        server.url(),
        remote.display()
    );
    let config = write_config(dir.path(), &body);
    let sync = |args: &[&str]| tailrace().arg("sync").args(args).arg("-c").arg(&config).output().unwrap();
    let first = sync(&["lab"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.contains("sync lab: 2 files: 2 new") && said.contains("3 lines published"), "{said}");
    let mirrored = dir.path().join("data/sync/lab/files/jobs/slurm-12.err");
    assert_eq!(std::fs::read_to_string(mirrored).unwrap(), "oom\n");

    std::fs::write(remote.join("jobs/slurm-12.err"), "oom\nkilled\n").unwrap();
    let second = sync(&["lab"]);
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(
        said.contains("1 appended") && said.contains("1 unchanged") && said.contains("1 lines published"),
        "{said}"
    );

    let far = sync(&["far"]);
    assert!(!far.status.success());
    let err = String::from_utf8_lossy(&far.stderr);
    assert!(err.contains("\"far\"") && err.contains("\"cvm-1\" is not a [[tail.hosts]] entry"), "{err}");
    let unknown = sync(&["nowhere"]);
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("no sync target is called \"nowhere\"") && err.contains("lab, far"), "{err}");
}
