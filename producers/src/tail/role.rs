//! [`start`]: the tail producer as a role, the one way to run it (`tailrace produce`,
//! `tailrace run`, the tests' stack): advertise this producer's hosts, answer listings and
//! path checks, and run the tails the `tail-sessions` bucket wants.

use std::collections::HashMap;
use std::time::Duration;

use tailrace_nats::connect::Connections;
use tailrace_nats::topology::{TAIL_HOSTS, TAIL_SESSIONS};
use tailrace_nats::Publisher;
use tailrace_schemas::{Catalog, HostId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::hosts::{HostService, HostServiceError};
use super::roots::Roots;
use super::supervisor::{SupervisorError, TailSupervisor};
use super::transport::Transport;
use super::{TailConfig, TailSection, TailSpec};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the {bucket} bucket (is the topology applied?): {reason}")]
    Bucket { bucket: &'static str, reason: String },
    #[error(transparent)]
    Pin(#[from] SupervisorError),
}

/// What the producer serves: its hosts, what each may serve, and how tails run.
#[derive(Debug, Clone)]
pub struct Serves {
    pub hosts: HashMap<HostId, Transport>,
    pub roots: HashMap<HostId, Roots>,
    /// The host type of `local`.
    pub local_kind: String,
    pub follow: TailConfig,
    pub grace: Duration,
    pub pinned: Vec<TailSpec>,
    /// The catalog's paths for each host's type: each advert says which of them the host has.
    pub catalog: HashMap<HostId, Vec<String>>,
}

impl Serves {
    /// From the `[tail]` section, with roots defaulting to the catalog's files.
    pub fn from_config(cfg: &TailSection, catalog: &Catalog) -> Self {
        let hosts = cfg.transports();
        let paths = hosts
            .iter()
            .map(|(host, transport)| {
                let kind = match transport {
                    Transport::Local => cfg.local_kind.as_str(),
                    Transport::Ssh(h) => h.kind.as_str(),
                };
                (host.clone(), catalog.files(kind).iter().map(|f| f.path.clone()).collect())
            })
            .collect();
        Self {
            catalog: paths,
            hosts,
            roots: cfg.roots(catalog),
            local_kind: cfg.local_kind.clone(),
            follow: cfg.follow.clone(),
            grace: cfg.grace,
            pinned: cfg.pinned.clone(),
        }
    }
}

/// The running producer.
#[derive(Debug)]
pub struct Producer {
    pub hosts: JoinHandle<Result<(), HostServiceError>>,
    pub tails: JoinHandle<Result<(), SupervisorError>>,
}

/// A name for this producer in adverts: host name and pid.
pub fn producer_name() -> String {
    format!(
        "{}-{}",
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        std::process::id()
    )
}

/// Starts the producer on `publisher`'s connection until `cancel`. `connections` (the
/// client's reconnects) makes the adverts come back at once after a server restart.
pub async fn start(
    serves: Serves,
    publisher: Publisher,
    connections: Option<Connections>,
    cancel: CancellationToken,
) -> Result<Producer, StartError> {
    let js = publisher.jetstream().clone();
    let bucket = |bucket: &'static str| {
        let js = js.clone();
        async move {
            js.get_key_value(bucket).await.map_err(|e| StartError::Bucket { bucket, reason: e.to_string() })
        }
    };
    let service = HostService {
        hosts: serves.hosts.clone(),
        roots: serves.roots.clone(),
        local_kind: serves.local_kind,
        producer: producer_name(),
        client: js.client().clone(),
        store: bucket(TAIL_HOSTS).await?,
        connections,
        catalog: serves.catalog,
    };
    let supervisor = TailSupervisor {
        hosts: serves.hosts,
        roots: serves.roots,
        cfg: serves.follow,
        grace: serves.grace,
        publisher,
        store: bucket(TAIL_SESSIONS).await?,
    };
    supervisor.pin(&serves.pinned).await?;
    tracing::info!(hosts = supervisor.hosts.len(), pinned = serves.pinned.len(), "tail producer ready");
    Ok(Producer {
        hosts: tokio::spawn(service.run(cancel.clone())),
        tails: tokio::spawn(supervisor.run(cancel)),
    })
}
