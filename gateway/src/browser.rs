//! Headless Chromium for page tests, driven over WebDriver: the one browser-test helper.
//!
//! [`Browser::start`] runs Debian's `chromedriver` on a free loopback port and opens a headless
//! `chromium` session with a fresh profile and the flags this sandboxed machine needs (no
//! background networking, no sandbox as root). Both are ended on drop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

fn which(name: &str, fallback: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_else(|| PathBuf::from(fallback))
}

#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Panics, saying what to install,
    /// when either is missing.
    pub async fn start() -> Self {
        let driver_bin = which("chromedriver", "/usr/bin/chromedriver");
        let chromium = which("chromium", "/usr/bin/chromium");
        for (bin, pkg) in [(&driver_bin, "chromium-driver"), (&chromium, "chromium")] {
            assert!(
                Path::new(bin).is_file(),
                "{} not found: `apt-get install {pkg}` (deploy/test.sh does)",
                bin.display()
            );
        }
        let port = tailrace_nats::testing::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::Builder::new().prefix("tailrace-chromium-").tempdir().expect("profile dir");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("capabilities are an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "waiting for chromedriver");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot open a Chromium session through chromedriver: {e}"),
            }
        };
        Self { client, driver, _profile: profile }
    }

    /// Waits until `script` (a JavaScript expression) is truthy in the page, or panics after
    /// `timeout` with the last value it returned.
    pub async fn wait_for(&self, script: &str, timeout: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = serde_json::Value::Null;
        while tokio::time::Instant::now() < deadline {
            if let Ok(v) = self.client.execute(&format!("return ({script});"), vec![]).await {
                let truthy = !matches!(&v, serde_json::Value::Null | serde_json::Value::Bool(false))
                    && v != json!("")
                    && v != json!(0);
                if truthy {
                    return v;
                }
                last = v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("page condition `{script}` not met within {timeout:?}; last value {last}");
    }

    /// Runs `script` (a function body: `return …` gives its value) in the page; panics if the
    /// page throws.
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("`{script}` failed: {e}"))
    }

    /// Saves a PNG of the current page (for a person to look at).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
