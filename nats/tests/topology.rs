//! Streams and buckets are declared once and applied idempotently, against a real nats-server.

use std::time::Duration;

use tailrace_nats::config::StreamsConfig;
use tailrace_nats::testing::{TestCluster, TestServer};
use tailrace_nats::topology::{self, ApplyAction, Topology};

#[tokio::test]
async fn applying_streams_twice_changes_nothing() {
    let server = TestServer::start().await;
    let js = server.jetstream().await;
    let topo = Topology::from_config(&StreamsConfig::default());

    let first = topo.apply(&js).await.unwrap();
    assert_eq!(
        first.len(),
        11,
        "eight streams, the tail-sessions, tail-hosts and fingerprint-templates buckets"
    );
    assert!(first.iter().all(|o| o.action == ApplyAction::Created), "{first:?}");

    let second = topo.apply(&js).await.unwrap();
    assert!(second.iter().all(|o| o.action == ApplyAction::Unchanged), "{second:?}");

    let streams = topology::inspect(&js).await.unwrap();
    let names: Vec<_> = streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "CLASSIFIED",
            "DERIVED",
            "DLQ",
            "FILES",
            "ISSUES",
            "KV_fingerprint-templates",
            "KV_tail-hosts",
            "KV_tail-sessions",
            "LOGS",
            "REPORTS",
            "STATUS"
        ]
    );
}

#[tokio::test]
async fn a_changed_limit_updates_the_stream() {
    let server = TestServer::start().await;
    let js = server.jetstream().await;
    Topology::from_config(&StreamsConfig::default()).apply(&js).await.unwrap();

    let mut cfg = StreamsConfig::default();
    cfg.limits.insert(
        "logs".into(),
        tailrace_nats::config::StreamLimits {
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: Some(1 << 20),
            ..Default::default()
        },
    );
    let outcomes = Topology::from_config(&cfg).apply(&js).await.unwrap();

    let logs = outcomes.iter().find(|o| o.name == "LOGS").unwrap();
    let ApplyAction::Updated(changes) = &logs.action else { panic!("LOGS not updated: {outcomes:?}") };
    assert!(changes.iter().any(|c| c == "max_age: 7days -> 1h"), "{changes:?}");
    assert!(changes.iter().any(|c| c.starts_with("max_bytes:")), "{changes:?}");
    assert!(outcomes.iter().filter(|o| o.name != "LOGS").all(|o| o.action == ApplyAction::Unchanged));

    let mut stream = js.get_stream("LOGS").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert_eq!(info.config.max_bytes, 1 << 20);
}

#[tokio::test]
async fn status_keeps_only_the_last_message_per_subject() {
    let server = TestServer::start().await;
    let js = server.jetstream().await;
    Topology::from_config(&StreamsConfig::default()).apply(&js).await.unwrap();
    for i in 0..3 {
        js.publish("tail.status.h.s", format!("{i}").into()).await.unwrap().await.unwrap();
    }
    let mut stream = js.get_stream("STATUS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

#[tokio::test]
async fn three_replicas_apply_on_a_three_node_cluster() {
    let cluster = TestCluster::start().await;
    let js = cluster.servers[1].jetstream().await;
    let cfg = StreamsConfig { replicas: 3, ..Default::default() };
    let outcomes = Topology::from_config(&cfg).apply(&js).await.unwrap();
    assert!(outcomes.iter().all(|o| o.action == ApplyAction::Created), "{outcomes:?}");
    let streams = topology::inspect(&js).await.unwrap();
    assert!(streams.iter().all(|s| s.replicas == 3), "{streams:?}");
}

#[test]
fn stream_limits_are_keyed_by_the_tables_keys_and_others_are_refused() {
    let cfg: StreamsConfig = serde_json::from_str(r#"{"replicas": 3, "logs": {"max_bytes": 1024}}"#).unwrap();
    assert_eq!((cfg.replicas, cfg.limits_of("logs").max_bytes), (3, Some(1024)));
    assert_eq!(cfg.limits_of("dlq"), Default::default());
    let err = serde_json::from_str::<StreamsConfig>(r#"{"lgos": {}}"#).unwrap_err().to_string();
    assert!(err.contains("lgos") && err.contains("classified"), "{err}");
}

#[tokio::test]
async fn limits_that_do_not_fit_the_store_are_refused_naming_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tailrace_nats::config::ServerConfig {
        port: tailrace_nats::testing::free_port(),
        max_store: Some(64 << 30),
        ..Default::default()
    };
    let server = tailrace_nats::ManagedServer::start(&cfg, dir.path()).await.unwrap();
    let client = tailrace_nats::connect(&server.client_config(&Default::default()), None, "t").await.unwrap();
    let js = async_nats::jetstream::new(client);
    // The declared defaults fit a 64 GiB store whatever the machine's disk has free...
    Topology::from_config(&StreamsConfig::default()).apply(&js).await.unwrap();
    // ...and 100 GiB for LOGS alone does not.
    let mut streams = StreamsConfig::default();
    streams.limits.insert(
        "logs".into(),
        tailrace_nats::config::StreamLimits { max_bytes: Some(100 << 30), ..Default::default() },
    );
    let err = Topology::from_config(&streams).apply(&js).await.unwrap_err().to_string();
    assert!(err.contains("stream LOGS") && err.contains("max_bytes"), "{err}");
    server.stop().await;
}
