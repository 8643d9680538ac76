//! Every stream, KV bucket and consumer of DESIGN.md, declared once and applied idempotently.
//!
//! The streams come from the one table in `tailrace_schemas::streams` with the configured
//! limits; the buckets are declared here. By job:
//! - this module: the declaration ([`Topology::from_config`]) and the bucket names;
//! - [`apply`](mod@apply): make the server match it (missing streams created, streams whose
//!   managed settings differ updated, the rest left alone; again after every reconnect);
//! - [`consumers`]: durable consumers as processors and sinks declare them ([`ConsumerSpec`]),
//!   ensured by the consumer runner that owns them, with the same create-or-update rule;
//! - [`inspect`](mod@inspect): what the server holds, for `/status` and `streams ls`.

pub mod apply;
pub mod consumers;
pub mod inspect;

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use tailrace_schemas::{StreamDecl, StreamName, STREAMS};

use crate::config::StreamsConfig;

pub use apply::{ApplyAction, ApplyOutcome};
pub use consumers::ConsumerSpec;
pub use inspect::{inspect, ConsumerReport, StreamReport};

/// Desired live tails, with leases renewed by viewers.
pub const TAIL_SESSIONS: &str = "tail-sessions";
/// Hosts producers can tail; entries expire unless refreshed.
pub const TAIL_HOSTS: &str = "tail-hosts";
/// Event templates the fingerprint processor learned (key: fingerprint), shared by its
/// instances and kept across restarts.
pub const FINGERPRINT_TEMPLATES: &str = "fingerprint-templates";
/// How long a `tail-hosts` entry lives; producers refresh theirs at a third of it.
pub const TAIL_HOSTS_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read stream {name}: {source}")]
    Read { name: String, source: async_nats::Error },
    #[error("cannot create stream {name}: {source}")]
    Create { name: String, source: async_nats::Error },
    #[error(
        "cannot create stream {name}: JetStream cannot reserve its max_bytes ({max_bytes} bytes): the \
         streams' limits add up to more than the server may store (by default 75% of its disk's free \
         space). Lower [nats.streams.*] max_bytes, or free disk space"
    )]
    NoRoom { name: String, max_bytes: i64 },
    #[error("cannot update stream {name} ({changes}): {source}")]
    Update { name: String, changes: String, source: async_nats::Error },
    #[error("cannot list streams and consumers: {0}")]
    List(async_nats::Error),
    #[error("cannot create or update consumer {name} on {stream}: {source}")]
    Consumer { name: String, stream: String, source: async_nats::Error },
}

/// The declared streams and buckets, with the configured limits applied.
#[derive(Debug, Clone)]
pub struct Topology {
    streams: Vec<stream::Config>,
}

impl Topology {
    /// Every stream of `tailrace_schemas::STREAMS`, with the limits `cfg` sets for it.
    pub fn from_config(cfg: &StreamsConfig) -> Self {
        Self { streams: STREAMS.iter().map(|d| stream_config(d, cfg)).collect() }
    }

    pub fn streams(&self) -> &[stream::Config] {
        &self.streams
    }

    /// The declaration of one stream.
    pub fn stream(&self, name: StreamName) -> Option<&stream::Config> {
        self.streams.iter().find(|s| s.name == name.as_str())
    }

    /// The tail-sessions bucket: one key per desired tail, latest value only.
    pub fn tail_sessions(&self) -> kv::Config {
        kv::Config {
            bucket: TAIL_SESSIONS.to_owned(),
            description: "desired live tails and their viewer leases".to_owned(),
            history: 1,
            num_replicas: self.replicas(),
            storage: stream::StorageType::File,
            ..Default::default()
        }
    }

    /// The tail-hosts bucket: one key per host a producer serves, gone unless refreshed.
    pub fn tail_hosts(&self) -> kv::Config {
        kv::Config {
            bucket: TAIL_HOSTS.to_owned(),
            description: "hosts producers can tail, refreshed while they run".to_owned(),
            history: 1,
            max_age: TAIL_HOSTS_TTL,
            num_replicas: self.replicas(),
            storage: stream::StorageType::Memory,
            ..Default::default()
        }
    }

    /// The fingerprint-templates bucket: one key per template, latest value only.
    pub fn fingerprint_templates(&self) -> kv::Config {
        kv::Config {
            bucket: FINGERPRINT_TEMPLATES.to_owned(),
            description: "event templates learned by the fingerprint processor".to_owned(),
            history: 1,
            num_replicas: self.replicas(),
            storage: stream::StorageType::File,
            ..Default::default()
        }
    }

    fn replicas(&self) -> usize {
        self.streams.first().map_or(1, |s| s.num_replicas)
    }

    /// Makes the server match the declaration. Idempotent.
    pub async fn apply(&self, js: &jetstream::Context) -> Result<Vec<ApplyOutcome>, TopologyError> {
        let mut outcomes = Vec::with_capacity(self.streams.len() + 3);
        for desired in &self.streams {
            outcomes.push(apply::stream(js, desired).await?);
        }
        for bucket in [self.tail_sessions(), self.tail_hosts(), self.fingerprint_templates()] {
            outcomes.push(apply::bucket(js, bucket).await?);
        }
        Ok(outcomes)
    }
}

fn stream_config(d: &StreamDecl, cfg: &StreamsConfig) -> stream::Config {
    let limits = cfg.limits_of(d.key);
    stream::Config {
        name: d.name.as_str().to_owned(),
        description: Some(d.description.to_owned()),
        subjects: vec![d.root.to_owned()],
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        duplicate_window: cfg.duplicate_window,
        max_age: limits.max_age.unwrap_or(d.max_age),
        max_bytes: limits.max_bytes.unwrap_or(d.max_bytes),
        max_messages_per_subject: limits.max_msgs_per_subject.unwrap_or(d.max_msgs_per_subject),
        allow_direct: true,
        ..Default::default()
    }
}
