//! The whole live-tail stack for end-to-end tests, in one process: a real nats-server, a real
//! sshd on loopback, the tail producer (supervisor and host service) and the gateway on a real
//! socket. Built from the crates' own helpers; every end-to-end test starts it from here.

#![allow(dead_code)]

pub mod binary;
pub mod hub;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use tailrace_gateway::config::TokenConfig;
use tailrace_gateway::{AppState, GatewayConfig, Role};
use tailrace_nats::config::{PublisherConfig, StreamsConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::Publisher;
use tailrace_producers::tail::{Roots, Serves, TailConfig, Transport};
use tailrace_producers::testing::{readable_dir, TestJournald, TestSshd};
use tailrace_schemas::{Catalog, CatalogFile, HostId};
use tokio_util::sync::CancellationToken;

/// The SSH host of the stack, of host type [`KIND`].
pub const HOST: &str = "cvm-1";
pub const KIND: &str = "testcvm";

pub struct Stack {
    pub nats: TestServer,
    pub sshd: TestSshd,
    pub client: async_nats::Client,
    pub state: AppState,
    /// `http://127.0.0.1:PORT` of the gateway.
    pub base: String,
    /// Files the SSH user can read; the catalog of [`KIND`] offers `app.log` and `db.log` here.
    pub files: tempfile::TempDir,
    /// A journald of the host's (see [`Stack::start_with_journal`]).
    pub journald: Option<TestJournald>,
    /// Cancelled: the gateway shuts down, as on SIGTERM.
    pub gateway: CancellationToken,
    cancel: CancellationToken,
    producer: Option<tailrace_producers::tail::Producer>,
}

/// The journal source the catalog of [`KIND`] offers as `journal` in a stack with a journald:
/// the entries of program `app`.
pub const JOURNAL_SELECTOR: &str = "SYSLOG_IDENTIFIER=app";

impl Stack {
    /// Starts everything; a tail stops `grace` after its last viewer leaves.
    pub async fn start(grace: Duration) -> Self {
        Self::start_with(grace, &[]).await
    }

    /// [`Stack::start`] with these gateway tokens (`token`, role).
    pub async fn start_with(grace: Duration, tokens: &[(&str, Role)]) -> Self {
        Self::build(grace, tokens, None).await
    }

    /// [`Stack::start`] with a journald whose namespace the host serves, and the catalog
    /// offering its [`JOURNAL_SELECTOR`] entries as `journal`.
    pub async fn start_with_journal(grace: Duration) -> Self {
        Self::build(grace, &[], Some(TestJournald::start().await)).await
    }

    async fn build(grace: Duration, tokens: &[(&str, Role)], journald: Option<TestJournald>) -> Self {
        let nats = TestServer::start_with_topology().await;
        let client = nats.client().await;
        let sshd = TestSshd::start().await;
        let files = readable_dir("tailrace-stack-");
        let mut host = sshd.host_config(HOST);
        host.kind = KIND.to_owned();
        let hosts: HashMap<HostId, Transport> = HashMap::from([(HOST.into(), Transport::ssh(host))]);
        let journal = journald.as_ref().map(|j| j.path(JOURNAL_SELECTOR));
        let journal_root = journald.as_ref().map(|j| j.path(""));
        let roots: HashMap<HostId, Roots> = HashMap::from([(
            HOST.into(),
            Roots::new([files.path().display().to_string()].into_iter().chain(journal_root)),
        )]);
        let cancel = CancellationToken::new();
        let serves = Serves {
            hosts,
            roots,
            local_kind: "linux".into(),
            follow: TailConfig::default(),
            grace,
            pinned: Vec::new(),
            catalog: HashMap::from([(
                HOST.into(),
                ["app.log", "db.log"]
                    .map(|f| files.path().join(f).display().to_string())
                    .into_iter()
                    .chain(journal.clone())
                    .collect(),
            )]),
        };
        let publisher = Publisher::new(client.clone(), PublisherConfig::default());
        let producer =
            tailrace_producers::tail::start(serves, publisher, None, cancel.clone()).await.unwrap();

        let file = |name: &str| CatalogFile {
            name: name.trim_end_matches(".log").to_owned(),
            path: files.path().join(name).display().to_string(),
        };
        let gateway = GatewayConfig {
            tokens: tokens
                .iter()
                .map(|(token, role)| TokenConfig {
                    name: format!("{role:?}"),
                    token: (*token).to_owned(),
                    role: *role,
                    customer: None,
                })
                .collect(),
            tail_lease: Duration::from_secs(3),
            catalog: Catalog {
                kinds: BTreeMap::from([(
                    KIND.to_owned(),
                    [file("app.log"), file("db.log")]
                        .into_iter()
                        .chain(journal.map(|path| CatalogFile { name: "journal".to_owned(), path }))
                        .collect(),
                )]),
            },
            ..Default::default()
        };
        let state = AppState::new(client.clone(), gateway, StreamsConfig::default());
        let gateway = CancellationToken::new();
        let base = tailrace_gateway::testing::serve_until(state.clone(), gateway.clone()).await;
        let stack = Self {
            nats,
            sshd,
            client,
            state,
            base,
            files,
            journald,
            gateway,
            cancel,
            producer: Some(producer),
        };
        stack.wait_advertised().await;
        stack
    }

    async fn wait_advertised(&self) {
        let token = self.state.config.tokens.first().map(|t| t.token.clone()).unwrap_or_default();
        let url = format!("{}/api/v1/tail/catalog?access_token={token}", self.base);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let body: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            // Advertised, and the producer's first look for the catalog's files is done.
            if body["hosts"].as_array().is_some_and(|h| h.iter().any(|h| h["checked_at"].is_string())) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no host advertised (and looked at) within 15 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    /// Has the producer look again which catalog files the host has (as the page's "look
    /// again" does): a test that made catalog files after the stack started calls it before a
    /// page offers them.
    pub async fn look_again(&self) {
        let token = self.state.config.tokens.first().map(|t| t.token.clone()).unwrap_or_default();
        let url = format!("{}/api/v1/tail/catalog/refresh?host={HOST}&access_token={token}", self.base);
        let resp = reqwest::Client::new().post(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    /// Stops the producer (every tail reports `stopped`).
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(p) = self.producer.take() {
            p.hosts.await.unwrap().unwrap();
            p.tails.await.unwrap().unwrap();
        }
    }
}

/// A TCP relay in front of a server, to fail the link between a client and it as a network
/// or a restarting server would: [`Relay::cut`] drops every open connection, and while
/// [`Relay::refuse`] is on, new connections are closed at once.
pub struct Relay {
    /// `http://127.0.0.1:PORT` of the relay.
    pub base: String,
    generation: std::sync::Arc<std::sync::Mutex<CancellationToken>>,
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// A relay to `base` (`http://HOST:PORT`).
    pub async fn start(base: &str) -> Self {
        let target = base.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let generation = std::sync::Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, r) = (generation.clone(), refusing.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if r.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let cut = g.lock().unwrap().clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.cancelled() => {}
                    }
                });
            }
        });
        Self { base: format!("http://{addr}"), generation, refusing, _task: task }
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        let mut g = self.generation.lock().unwrap();
        g.cancel();
        *g = CancellationToken::new();
    }

    /// While `on`, connections are closed as soon as they are accepted.
    pub fn refuse(&self, on: bool) {
        self.refusing.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}
