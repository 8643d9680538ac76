//! Every stream, KV bucket and consumer of DESIGN.md, declared here and nowhere else.
//!
//! [`Topology::apply`] makes the server match the declaration: missing streams are created,
//! streams whose managed settings differ (a limit changed in the config) are updated, the rest
//! are left alone, so applying twice changes nothing. Consumers are declared as [`ConsumerSpec`]s
//! and ensured by the consumer runner that owns them, with the same create-or-update rule.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use futures::TryStreamExt;
use serde::Serialize;
use tailrace_schemas::subject::roots;
use tailrace_schemas::{ConsumerName, SubjectFilter};

use crate::config::{ConsumerConfig, StreamLimits, StreamsConfig};

pub const LOGS: &str = "LOGS";
pub const CLASSIFIED: &str = "CLASSIFIED";
pub const FILES: &str = "FILES";
pub const REPORTS: &str = "REPORTS";
pub const TELEMETRY: &str = "TELEMETRY";
pub const ISSUES: &str = "ISSUES";
pub const STATUS: &str = "STATUS";
pub const DLQ: &str = "DLQ";
/// Outputs of processors added by developers (`derived.>`).
pub const DERIVED: &str = "DERIVED";
/// Desired live tails, with leases renewed by viewers.
pub const TAIL_SESSIONS: &str = "tail-sessions";
/// Hosts producers can tail; entries expire unless refreshed.
pub const TAIL_HOSTS: &str = "tail-hosts";
/// Event templates the fingerprint processor learned (key: fingerprint), shared by its
/// instances and kept across restarts.
pub const FINGERPRINT_TEMPLATES: &str = "fingerprint-templates";
/// How long a `tail-hosts` entry lives; producers refresh theirs at a third of it.
pub const TAIL_HOSTS_TTL: Duration = Duration::from_secs(60);

const DAY: Duration = Duration::from_secs(86_400);
const MIB: i64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read stream {name}: {source}")]
    Read { name: String, source: async_nats::Error },
    #[error("cannot create stream {name}: {source}")]
    Create { name: String, source: async_nats::Error },
    #[error("cannot update stream {name} ({changes}): {source}")]
    Update { name: String, changes: String, source: async_nats::Error },
    #[error("cannot list streams and consumers: {0}")]
    List(async_nats::Error),
    #[error("cannot create or update consumer {name} on {stream}: {source}")]
    Consumer { name: String, stream: String, source: async_nats::Error },
}

/// What `apply` did to one stream or bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    pub name: String,
    #[serde(flatten)]
    pub action: ApplyAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "action", content = "changes")]
pub enum ApplyAction {
    Created,
    /// Updated, with one line per changed setting (`max_age: 7d -> 1d`).
    Updated(Vec<String>),
    Unchanged,
}

/// The declared streams and buckets, with the configured limits applied.
#[derive(Debug, Clone)]
pub struct Topology {
    streams: Vec<stream::Config>,
}

struct Declared {
    name: &'static str,
    subject: &'static str,
    description: &'static str,
    max_age: Duration,
    max_bytes: i64,
    max_msgs_per_subject: i64,
}

impl Topology {
    pub fn from_config(cfg: &StreamsConfig) -> Self {
        let declared = [
            (
                Declared {
                    name: LOGS,
                    subject: roots::LOGS_RAW,
                    description: "raw log lines (LogBatch)",
                    max_age: 7 * DAY,
                    max_bytes: 4096 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.logs,
            ),
            (
                Declared {
                    name: CLASSIFIED,
                    subject: roots::LOGS_CLASSIFIED,
                    description: "classified lines (ClassifiedBatch)",
                    max_age: 7 * DAY,
                    max_bytes: 4096 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.classified,
            ),
            (
                Declared {
                    name: FILES,
                    subject: roots::FILES_SYNCED,
                    description: "synced files (FileEvent)",
                    max_age: 30 * DAY,
                    max_bytes: 256 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.files,
            ),
            (
                Declared {
                    name: REPORTS,
                    subject: roots::REPORTS,
                    description: "controller reports (Report)",
                    max_age: 30 * DAY,
                    max_bytes: 1024 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.reports,
            ),
            (
                Declared {
                    name: TELEMETRY,
                    subject: roots::TELEMETRY,
                    description: "per-app telemetry (AppTelemetry)",
                    max_age: 90 * DAY,
                    max_bytes: 1024 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.telemetry,
            ),
            (
                Declared {
                    name: ISSUES,
                    subject: roots::ISSUES,
                    description: "issue occurrences (IssueOccurrence)",
                    max_age: 30 * DAY,
                    max_bytes: 1024 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.issues,
            ),
            (
                Declared {
                    name: STATUS,
                    subject: roots::TAIL_STATUS,
                    description: "last tail status per subject (TailStatus)",
                    max_age: Duration::ZERO,
                    max_bytes: 64 * MIB,
                    max_msgs_per_subject: 1,
                },
                &cfg.status,
            ),
            (
                Declared {
                    name: DLQ,
                    subject: roots::DLQ,
                    description: "dead letters (DeadLetter)",
                    max_age: 30 * DAY,
                    max_bytes: 1024 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.dlq,
            ),
            (
                Declared {
                    name: DERIVED,
                    subject: roots::DERIVED,
                    description: "outputs of processors added by developers",
                    max_age: 7 * DAY,
                    max_bytes: 1024 * MIB,
                    max_msgs_per_subject: -1,
                },
                &cfg.derived,
            ),
        ];
        let streams = declared.into_iter().map(|(d, limits)| stream_config(&d, limits, cfg)).collect();
        Self { streams }
    }

    pub fn streams(&self) -> &[stream::Config] {
        &self.streams
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
            outcomes.push(apply_stream(js, desired).await?);
        }
        for bucket in [self.tail_sessions(), self.tail_hosts(), self.fingerprint_templates()] {
            outcomes.push(apply_bucket(js, bucket).await?);
        }
        Ok(outcomes)
    }
}

impl Topology {
    /// Applies the topology again after every reconnect, until `cancel`. A server that was
    /// restarted (or a fresh node reached after a failover) lacks the memory-backed buckets,
    /// and any stream whose store was lost; applying is idempotent, so doing it on every
    /// reconnect costs a few requests and needs no guess at what the server lost.
    pub async fn keep_applied(
        self,
        js: jetstream::Context,
        mut connections: crate::connect::Connections,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        connections.mark_unchanged();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = connections.changed() => if changed.is_err() { return },
            }
            let mut attempt = 0;
            loop {
                match self.apply(&js).await {
                    Ok(outcomes) => {
                        let changed: Vec<&str> = outcomes
                            .iter()
                            .filter(|o| o.action != ApplyAction::Unchanged)
                            .map(|o| o.name.as_str())
                            .collect();
                        tracing::info!(changed = ?changed, "topology applied again after a reconnect");
                        break;
                    }
                    Err(e) => {
                        // Right after a restart JetStream may not be ready for a moment.
                        let delay = crate::connect::backoff(
                            attempt,
                            Duration::from_millis(100),
                            Duration::from_secs(5),
                        );
                        attempt += 1;
                        tracing::warn!(error = %e, ?delay, "cannot apply the topology after a reconnect; trying again");
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
    }
}

/// Creates a KV bucket, or updates the settings that may change on a live one.
async fn apply_bucket(js: &jetstream::Context, desired: kv::Config) -> Result<ApplyOutcome, TopologyError> {
    let name = format!("KV_{}", desired.bucket);
    let read = |e: async_nats::Error| TopologyError::Read { name: name.clone(), source: e };
    let current = match js.get_stream(&name).await {
        Ok(mut s) => Some(s.info().await.map_err(|e| read(e.into()))?.config.clone()),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(read(e.into())),
    };
    let action = match current {
        None => {
            js.create_key_value(desired)
                .await
                .map_err(|e| TopologyError::Create { name: name.clone(), source: e.into() })?;
            ApplyAction::Created
        }
        Some(current) => {
            let mut changes = Vec::new();
            if current.num_replicas != desired.num_replicas {
                changes.push(format!("num_replicas: {} -> {}", current.num_replicas, desired.num_replicas));
            }
            if current.max_age != desired.max_age {
                changes.push(format!("max_age: {:?} -> {:?}", current.max_age, desired.max_age));
            }
            if changes.is_empty() {
                ApplyAction::Unchanged
            } else {
                js.update_key_value(desired).await.map_err(|e| TopologyError::Update {
                    name: name.clone(),
                    changes: changes.join(", "),
                    source: e.into(),
                })?;
                ApplyAction::Updated(changes)
            }
        }
    };
    Ok(ApplyOutcome { name, action })
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(j)
            if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn stream_config(d: &Declared, limits: &StreamLimits, cfg: &StreamsConfig) -> stream::Config {
    stream::Config {
        name: d.name.to_owned(),
        description: Some(d.description.to_owned()),
        subjects: vec![d.subject.to_owned()],
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

/// The settings `apply` manages, as `name: current -> desired` for each that differs.
fn differences(current: &stream::Config, desired: &stream::Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: {a} -> {b}"));
        }
    };
    let mut cs = current.subjects.clone();
    let mut ds = desired.subjects.clone();
    cs.sort();
    ds.sort();
    check("subjects", cs.join(","), ds.join(","));
    check("max_age", fmt_dur(current.max_age), fmt_dur(desired.max_age));
    check("max_bytes", current.max_bytes.to_string(), desired.max_bytes.to_string());
    check(
        "max_msgs_per_subject",
        current.max_messages_per_subject.to_string(),
        desired.max_messages_per_subject.to_string(),
    );
    check("num_replicas", current.num_replicas.to_string(), desired.num_replicas.to_string());
    check("duplicate_window", fmt_dur(current.duplicate_window), fmt_dur(desired.duplicate_window));
    check("discard", format!("{:?}", current.discard), format!("{:?}", desired.discard));
    check("description", format!("{:?}", current.description), format!("{:?}", desired.description));
    out
}

fn fmt_dur(d: Duration) -> String {
    if d.is_zero() {
        "unlimited".to_owned()
    } else {
        humantime::format_duration(d).to_string()
    }
}

async fn apply_stream(
    js: &jetstream::Context,
    desired: &stream::Config,
) -> Result<ApplyOutcome, TopologyError> {
    let name = desired.name.clone();
    match js.get_stream(&name).await {
        Ok(mut s) => {
            let current = s
                .info()
                .await
                .map_err(|e| TopologyError::Read { name: name.clone(), source: e.into() })?
                .config
                .clone();
            let changes = differences(&current, desired);
            if changes.is_empty() {
                return Ok(ApplyOutcome { name, action: ApplyAction::Unchanged });
            }
            js.update_stream(desired.clone()).await.map_err(|e| TopologyError::Update {
                name: name.clone(),
                changes: changes.join("; "),
                source: e.into(),
            })?;
            Ok(ApplyOutcome { name, action: ApplyAction::Updated(changes) })
        }
        Err(e) if is_not_found(&e) => {
            js.create_stream(desired.clone())
                .await
                .map_err(|e| TopologyError::Create { name: name.clone(), source: e.into() })?;
            Ok(ApplyOutcome { name, action: ApplyAction::Created })
        }
        Err(e) => Err(TopologyError::Read { name, source: e.into() }),
    }
}

/// A durable pull consumer as a processor or sink declares it.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub name: ConsumerName,
    pub stream: String,
    /// Subjects this consumer reads; empty means the whole stream.
    pub filters: Vec<SubjectFilter>,
    pub description: String,
}

impl ConsumerSpec {
    pub fn new(name: ConsumerName, stream: &str, filters: Vec<SubjectFilter>) -> Self {
        Self { name, stream: stream.to_owned(), filters, description: String::new() }
    }

    /// The server-side configuration. `max_deliver` is unlimited: the runner counts deliveries
    /// itself and dead-letters with the reason, rather than let the server drop silently.
    pub fn pull_config(&self, cfg: &ConsumerConfig) -> consumer::pull::Config {
        let mut filters: Vec<String> = self.filters.iter().map(|f| f.as_str().to_owned()).collect();
        let (filter_subject, filter_subjects) = match filters.len() {
            0 => (String::new(), Vec::new()),
            1 => (filters.remove(0), Vec::new()),
            _ => (String::new(), filters),
        };
        consumer::pull::Config {
            durable_name: Some(self.name.as_str().to_owned()),
            description: (!self.description.is_empty()).then(|| self.description.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: cfg.ack_wait,
            max_deliver: -1,
            filter_subject,
            filter_subjects,
            max_ack_pending: (cfg.batch * 8).max(1024) as i64,
            ..Default::default()
        }
    }

    /// Creates the consumer, or updates it to this declaration if it exists.
    pub async fn ensure(
        &self,
        js: &jetstream::Context,
        cfg: &ConsumerConfig,
    ) -> Result<consumer::PullConsumer, TopologyError> {
        let err = |source: async_nats::Error| TopologyError::Consumer {
            name: self.name.to_string(),
            stream: self.stream.clone(),
            source,
        };
        let stream = js.get_stream(&self.stream).await.map_err(|e| err(e.into()))?;
        let config = self.pull_config(cfg);
        match stream.create_consumer(config.clone()).await {
            Ok(c) => Ok(c),
            // An existing durable with other settings: update it in place, keeping its position.
            Err(_) => js.update_consumer_on_stream(config, &self.stream).await.map_err(|e| err(e.into())),
        }
    }
}

/// One stream as `/status` and `streams ls` show it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    pub name: String,
    pub subjects: Vec<String>,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub replicas: usize,
    pub consumers: Vec<ConsumerReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerReport {
    pub name: String,
    /// Messages not yet delivered to the consumer.
    pub pending: u64,
    /// Delivered and not yet acknowledged.
    pub ack_pending: usize,
    /// Delivered more than once and not yet acknowledged.
    pub redelivered: usize,
}

/// Every stream on the server with its consumers.
pub async fn inspect(js: &jetstream::Context) -> Result<Vec<StreamReport>, TopologyError> {
    let infos: Vec<stream::Info> =
        js.streams().try_collect().await.map_err(|e| TopologyError::List(e.into()))?;
    let mut out = Vec::with_capacity(infos.len());
    for info in infos {
        let stream =
            js.get_stream_no_info(&info.config.name).await.map_err(|e| TopologyError::List(e.into()))?;
        let consumers: Vec<consumer::Info> =
            stream.consumers().try_collect().await.map_err(|e| TopologyError::List(e.into()))?;
        out.push(StreamReport {
            name: info.config.name.clone(),
            subjects: info.config.subjects.clone(),
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_seq: info.state.first_sequence,
            last_seq: info.state.last_sequence,
            replicas: info.config.num_replicas,
            consumers: consumers
                .into_iter()
                .map(|c| ConsumerReport {
                    name: c.name,
                    pending: c.num_pending,
                    ack_pending: c.num_ack_pending,
                    redelivered: c.num_redelivered,
                })
                .collect(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
