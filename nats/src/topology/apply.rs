//! Making the server match the declaration: create what is missing, update what differs,
//! leave the rest; and do it again after every reconnect.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use serde::Serialize;

use super::{Topology, TopologyError};

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
pub(super) async fn bucket(
    js: &jetstream::Context,
    desired: kv::Config,
) -> Result<ApplyOutcome, TopologyError> {
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

pub(super) async fn stream(
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
            js.create_stream(desired.clone()).await.map_err(|e| {
                if e.to_string().contains("insufficient storage") {
                    TopologyError::NoRoom { name: name.clone(), max_bytes: desired.max_bytes }
                } else {
                    TopologyError::Create { name: name.clone(), source: e.into() }
                }
            })?;
            Ok(ApplyOutcome { name, action: ApplyAction::Created })
        }
        Err(e) => Err(TopologyError::Read { name, source: e.into() }),
    }
}
