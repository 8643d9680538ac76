//! [`Session`]: a role process's connection to NATS, with the topology kept applied on it (any
//! role may be the first to reach a restarted server, and puts back what it lost).

use tailrace_nats::connect::Connections;
use tailrace_nats::{NatsConfig, Topology};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

pub struct Session {
    pub client: async_nats::Client,
    /// The client's (re)connections.
    pub connections: Connections,
    reapply: JoinHandle<()>,
}

impl Session {
    /// Connects as `name` to nats.url, or to the managed server of a `tailrace run` on this
    /// machine with the credentials it generated.
    pub async fn open(cfg: &Config, name: &str, cancel: &CancellationToken) -> anyhow::Result<Self> {
        let (client, connections) = crate::cli::connect_client(cfg, name).await?;
        Ok(Self::with(cfg, client, connections, cancel))
    }

    /// Connects with `nats` as it is (the managed server of this process).
    pub async fn open_with(
        cfg: &Config,
        nats: &NatsConfig,
        name: &str,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let (client, connections) = tailrace_nats::connect::connect_watched(nats, None, name).await?;
        Ok(Self::with(cfg, client, connections, cancel))
    }

    fn with(
        cfg: &Config,
        client: async_nats::Client,
        connections: Connections,
        cancel: &CancellationToken,
    ) -> Self {
        let reapply = tokio::spawn(Topology::from_config(&cfg.nats.streams).keep_applied(
            async_nats::jetstream::new(client.clone()),
            connections.clone(),
            cancel.clone(),
        ));
        Self { client, connections, reapply }
    }

    /// After `cancel`: waits for the topology task and flushes what is still buffered.
    pub async fn close(self) {
        let _ = self.reapply.await;
        tailrace_nats::connect::flush_within(&self.client, tailrace_nats::connect::FLUSH_WAIT).await;
    }
}
