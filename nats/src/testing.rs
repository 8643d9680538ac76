//! Throwaway nats-servers for tests: the one server-spawning helper of the project.
//!
//! [`TestServer::start`] runs a real `nats-server` with JetStream on a free loopback port and a
//! temporary store; it can be stopped, killed and started again on the same port and store, to
//! simulate faults. [`TestCluster::start`] runs three such servers as one JetStream cluster.
//! Everything is killed and deleted on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use crate::server::{find_binary, ServerProcess, Spawn};

/// What a test's JetStream may store, whatever the machine's disk has free: the declared
/// limits add up to gigabytes that JetStream reserves against its store, and a test's few
/// messages must not depend on how full a shared disk happens to be.
pub const STORE_LIMIT: u64 = 1 << 40;

/// A free TCP port on loopback (bound, read, released), never one handed out before in this
/// process.
///
/// Chosen below Linux's ephemeral range (32768–60999): a port the kernel picked for us could be
/// picked again at once as the source port of some client's connection, and a server started a
/// moment later then finds it taken (seen in CI: nats-server "bind: address already in use").
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    const LOW: u16 = 20_000;
    const SPAN: u64 = 12_000;
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let random = RandomState::new();
    for attempt in 0u64..10_000 {
        let port = LOW + (random.hash_one((std::process::id(), attempt)) % SPAN) as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", u64::from(LOW) + SPAN)
}

/// A nats-server that nothing of ours manages: an orphan of a crashed tailrace (give it the
/// managed server's `name` and store) or somebody else's server on our port. Killed on drop;
/// returns once it answers.
pub async fn foreign_server(port: u16, store: &std::path::Path, name: Option<&str>) -> ForeignServer {
    let mut cmd = std::process::Command::new(find_binary(None).unwrap_or_else(|e| panic!("{e}")));
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "--jetstream", "--store_dir"]).arg(store);
    if let Some(name) = name {
        cmd.args(["--server_name", name]);
    }
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start a foreign nats-server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while !crate::server::answers_info(addr).await {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ForeignServer(child)
}

/// See [`foreign_server`].
#[derive(Debug)]
pub struct ForeignServer(pub std::process::Child);

impl ForeignServer {
    /// Whether it has exited (someone stopped it).
    pub fn exited(&mut self) -> bool {
        self.0.try_wait().ok().flatten().is_some()
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ForeignServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JetStream nats-server owned by a test.
#[derive(Debug)]
pub struct TestServer {
    dir: TempDir,
    addr: SocketAddr,
    args: Vec<String>,
    binary: PathBuf,
    process: Option<ServerProcess>,
}

impl TestServer {
    /// Starts a single server. Panics with the reason if nats-server is missing or fails.
    pub async fn start() -> Self {
        Self::start_with_args(Vec::new(), None).await
    }

    /// Starts a single server with every declared stream and bucket applied (default limits).
    pub async fn start_with_topology() -> Self {
        let server = Self::start().await;
        let js = server.jetstream().await;
        crate::Topology::from_config(&crate::config::StreamsConfig::default())
            .apply(&js)
            .await
            .expect("apply the topology");
        server
    }

    /// Starts a single server with extra command-line arguments (TLS, auth, ...).
    pub async fn start_with(args: Vec<String>) -> Self {
        Self::start_with_args(args, None).await
    }

    async fn start_with_args(extra: Vec<String>, port: Option<u16>) -> Self {
        let binary = find_binary(None).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new().prefix("tailrace-nats-").tempdir().expect("temp dir");
        let addr = SocketAddr::from(([127, 0, 0, 1], port.unwrap_or_else(free_port)));
        let conf = dir.path().join("js.conf");
        std::fs::write(
            &conf,
            format!(
                "jetstream {{\n  store_dir: {:?}\n  max_file_store: {STORE_LIMIT}\n}}\n",
                dir.path().join("js")
            ),
        )
        .expect("write the test server's config");
        let mut args = vec!["-c".to_owned(), conf.display().to_string()];
        args.extend(extra);
        let mut server = Self { dir, addr, args, binary, process: None };
        server.start_again().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A scratch directory that lives as long as the server (for sled, configs, ...).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ServerProcess::pid)
    }

    /// A client that reconnects quickly, for tests that stop and start the server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .reconnect_delay_callback(|n| {
                crate::connect::backoff(n, Duration::from_millis(20), Duration::from_millis(250))
            })
            .connect(self.url())
            .await
            .expect("connect to test server")
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.client().await)
    }

    /// Starts the server again on the same port and store (after `stop` or `kill`).
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "server already running");
        let log = self.dir.path().join("nats-server.log");
        let p = ServerProcess::spawn(&Spawn {
            binary: &self.binary,
            addr: self.addr,
            log: &log,
            args: &self.args,
            ready_timeout: Duration::from_secs(20),
            name: None,
            inherit: None,
        })
        .await
        .unwrap_or_else(|e| panic!("test nats-server failed to start: {e}"));
        self.process = Some(p);
    }

    /// Graceful stop (SIGTERM).
    pub async fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop(Duration::from_secs(10)).await;
        }
    }

    /// SIGKILL, as a crash.
    pub async fn kill(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill().await;
        }
    }
}

/// Three servers forming one JetStream cluster.
#[derive(Debug)]
pub struct TestCluster {
    pub servers: Vec<TestServer>,
}

impl TestCluster {
    pub async fn start() -> Self {
        let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes =
            cluster_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        // Start all three concurrently: a JetStream cluster is not ready until it has quorum.
        let starts = (0..3).map(|i| {
            let args = vec![
                "--server_name".to_owned(),
                format!("n{i}"),
                "--cluster_name".to_owned(),
                "tailrace-test".to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{}", cluster_ports[i]),
                "--routes".to_owned(),
                routes.clone(),
            ];
            TestServer::start_with_args(args, Some(client_ports[i]))
        });
        let servers = futures::future::join_all(starts).await;
        let cluster = Self { servers };
        cluster.wait_for_jetstream().await;
        cluster
    }

    /// Comma-separated URLs of every node, as `nats.url` takes them.
    pub fn urls(&self) -> String {
        self.servers.iter().map(TestServer::url).collect::<Vec<_>>().join(",")
    }

    async fn wait_for_jetstream(&self) {
        let js = self.servers[0].jetstream().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if js.query_account().await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "JetStream cluster did not elect a leader in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every message `stream` holds, oldest first (read with an ordered consumer).
pub async fn stored(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> Vec<async_nats::jetstream::Message> {
    use futures::StreamExt;
    let mut s = js.get_stream(stream).await.expect("the stream exists");
    let n = s.info().await.expect("stream info").state.messages;
    let consumer = s
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the stream's messages within 10 s")
            .expect("a message")
            .expect("a readable message");
        out.push(m);
    }
    out
}
