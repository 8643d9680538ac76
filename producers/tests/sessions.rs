//! Desired tails in the KV bucket: shared by viewers, stopped after a grace period, pinned by
//! configuration, resumed by a restarted producer.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::topology::TAIL_SESSIONS;
use tailrace_nats::Publisher;
use tailrace_producers::tail::{Roots, TailConfig, TailSpec, TailSupervisor, Transport};
use tailrace_producers::testing::{append_numbered, followers, numbered, readable_dir, until, TestSshd};
use tailrace_schemas::{decode, subject, TailSession, TailStatus, TailStatusKind};
use tokio_util::sync::CancellationToken;

struct World {
    _nats: TestServer,
    client: async_nats::Client,
    publisher: Publisher,
    store: async_nats::jetstream::kv::Store,
    files: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let nats = TestServer::start_with_topology().await;
        let client = nats.client().await;
        let publisher = Publisher::new(client.clone(), PublisherConfig::default());
        let store = publisher.jetstream().get_key_value(TAIL_SESSIONS).await.unwrap();
        let files = readable_dir("tailrace-sessions-");
        Self { _nats: nats, client, publisher, store, files }
    }

    fn supervisor(
        &self,
        hosts: HashMap<tailrace_schemas::HostId, Transport>,
        grace: Duration,
    ) -> TailSupervisor {
        let roots = hosts
            .keys()
            .map(|h| (h.clone(), Roots::new([self.files.path().display().to_string()])))
            .collect();
        TailSupervisor {
            hosts,
            roots,
            cfg: TailConfig::default(),
            grace,
            publisher: self.publisher.clone(),
            store: self.store.clone(),
        }
    }

    async fn join(&self, spec: &TailSpec, viewer: &str, lease: Duration) {
        tailrace_nats::sessions::join(&self.store, &spec.host, &spec.source, &spec.path, viewer, lease)
            .await
            .unwrap();
    }

    async fn leave(&self, spec: &TailSpec, viewer: &str) {
        tailrace_nats::sessions::leave(&self.store, &spec.host, &spec.source, viewer).await.unwrap();
    }

    async fn lines(&self, spec: &TailSpec, n: usize) -> Vec<String> {
        tailrace_producers::testing::stored_lines(self.publisher.jetstream(), &spec.host, &spec.source, n)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_share_one_ssh_tail_which_stops_a_grace_period_after_the_last_leaves() {
    let w = World::new().await;
    let sshd = TestSshd::start().await;
    let path = w.files.path().join("shared.log");
    append_numbered(&path, 0, 3);
    let spec = TailSpec { host: "cvm".into(), source: "genesis".into(), path: path.display().to_string() };
    let hosts = HashMap::from([(spec.host.clone(), Transport::ssh(sshd.host_config("cvm")))]);
    let cancel = CancellationToken::new();
    let sup = tokio::spawn(w.supervisor(hosts, Duration::from_millis(500)).run(cancel.clone()));
    let mut status =
        w.client.subscribe(subject::tail_status(&spec.host, &spec.source).to_string()).await.unwrap();

    w.join(&spec, "alice", Duration::from_secs(60)).await;
    w.join(&spec, "bob", Duration::from_secs(60)).await;
    assert_eq!(w.lines(&spec, 3).await, numbered(0, 3));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(followers(&path), 1, "two viewers, one follower on the host");

    w.leave(&spec, "alice").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(followers(&path), 1, "bob still watches");
    w.leave(&spec, "bob").await;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), status.next())
            .await
            .expect("a stopped status")
            .unwrap();
        if decode::<TailStatus>(&m.payload).unwrap().kind == TailStatusKind::Stopped {
            break;
        }
    }
    until("the remote follower ends", || followers(&path) == 0).await;
    let key = TailSession::key(&spec.host, &spec.source);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while w.store.get(&key).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the finished session record was not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    sup.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_tails_run_without_viewers_and_a_restarted_producer_resumes_them() {
    let w = World::new().await;
    let path = w.files.path().join("pinned.log");
    append_numbered(&path, 0, 5);
    let spec = TailSpec { host: "local".into(), source: "app".into(), path: path.display().to_string() };
    let hosts = HashMap::from([(spec.host.clone(), Transport::Local)]);

    let cancel = CancellationToken::new();
    let sup = w.supervisor(hosts.clone(), Duration::from_millis(100));
    sup.pin(std::slice::from_ref(&spec)).await.unwrap();
    let task = tokio::spawn(sup.run(cancel.clone()));
    assert_eq!(w.lines(&spec, 5).await, numbered(0, 5));
    cancel.cancel();
    task.await.unwrap().unwrap();
    until("the follower ends with its producer", || followers(&path) == 0).await;

    append_numbered(&path, 5, 12);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(w.supervisor(hosts, Duration::from_millis(100)).run(cancel.clone()));
    assert_eq!(w.lines(&spec, 12).await, numbered(0, 12), "resumed after the last stored line");
    cancel.cancel();
    task.await.unwrap().unwrap();
}
