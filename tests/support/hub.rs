//! `tailrace run` as a fleet hub: over a test nats-server, with a viewer token and a controller
//! token of customer `acme`; its API asked with those tokens.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tailrace_nats::testing::{free_port, TestServer};

use super::binary::{tailrace, write_config};

pub const VIEWER: &str = "viewer-token-0123456789";
pub const ACME: &str = "controller-token-acme-0123";

pub struct Hub {
    _dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

impl Hub {
    pub fn start(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let http = free_port();
        let body = format!(
            "data_dir = \"{data}\"\n[nats]\nurl = \"{url}\"\n[processors.fingerprint]\nwindow = \"300ms\"\n\
             [gateway]\nbind = \"127.0.0.1:{http}\"\n\
             tokens = [{{ name = \"viewer\", token = \"{VIEWER}\", role = \"viewer\" }},\
                       {{ name = \"acme\", token = \"{ACME}\", role = \"controller\", customer = \"acme\" }}]\n",
            data = dir.path().join("data").display(),
            url = server.url(),
        );
        let config = write_config(dir.path(), &body);
        let log = dir.path().join("run.log");
        let child = Self::spawn(&config, &log);
        Self { _dir: dir, config, child, base: format!("http://127.0.0.1:{http}"), log }
    }

    fn spawn(config: &std::path::Path, log: &std::path::Path) -> Child {
        let err = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        tailrace().arg("run").arg("-c").arg(config).stdout(Stdio::null()).stderr(err).spawn().unwrap()
    }

    /// kill -9, then `tailrace run` again at once over the same tables.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = Self::spawn(&self.config, &self.log);
    }

    /// SIGTERM, and waits for the exit: the hub is away until [`Hub::start_again`].
    pub fn stop(&mut self) {
        super::binary::signal(&self.child, nix::sys::signal::Signal::SIGTERM);
        self.child.wait().unwrap();
    }

    pub fn start_again(&mut self) {
        self.child = Self::spawn(&self.config, &self.log);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let sent =
            reqwest::Client::new().get(format!("{}{path}", self.base)).bearer_auth(VIEWER).send().await;
        match sent {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null), // not listening yet
        }
    }

    pub async fn post(&self, token: &str, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/report", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until `done` holds for its body.
    pub async fn until(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "{what}: last answer {status} {body}\nlog:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
