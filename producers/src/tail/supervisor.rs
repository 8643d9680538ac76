//! Runs the tails that the `tail-sessions` bucket wants, and only those.
//!
//! It watches the bucket (so a viewer's start shows up at once), re-evaluates every second (so
//! expired leases and grace periods end on time), starts a tail for each wanted session whose
//! host this producer serves, stops the ones no longer wanted, and deletes finished records.
//! Configured tails are written as pinned sessions at start. A host is served by the producer
//! whose configuration lists it (`local` by every producer for its own machine), so two
//! producers never follow the same file.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store};
use futures::StreamExt;
use tailrace_nats::Publisher;
use tailrace_schemas::{decode, encode_json, HostId, TailSession, Timestamp};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::roots::Roots;
use super::run::{run_tail, TailEnd};
use super::transport::Transport;
use super::{TailConfig, TailSpec};

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("cannot watch the tail-sessions bucket: {0}")]
    Watch(String),
    #[error("cannot record the configured tail {key}: {source}")]
    Pin { key: String, source: tailrace_nats::kv::KvError },
}

struct Running {
    spec: TailSpec,
    cancel: CancellationToken,
    task: JoinHandle<TailEnd>,
}

#[derive(Debug)]
pub struct TailSupervisor {
    pub hosts: HashMap<HostId, Transport>,
    /// What each host may serve; a host without an entry serves nothing.
    pub roots: HashMap<HostId, Roots>,
    pub cfg: TailConfig,
    /// How long a tail keeps running after its last viewer left.
    pub grace: Duration,
    pub publisher: Publisher,
    pub store: Store,
}

impl TailSupervisor {
    /// Records `specs` as pinned sessions (tails that run without viewers).
    pub async fn pin(&self, specs: &[TailSpec]) -> Result<(), SupervisorError> {
        for spec in specs {
            let key = TailSession::key(&spec.host, &spec.source);
            tailrace_nats::kv::update(&self.store, &key, |current| {
                let mut s = current.and_then(|b| decode::<TailSession>(b).ok()).unwrap_or_else(|| {
                    TailSession::new(spec.host.clone(), spec.source.clone(), spec.path.clone())
                });
                s.pinned = true;
                s.path = spec.path.clone();
                encode_json(&s).ok()
            })
            .await
            .map_err(|source| SupervisorError::Pin { key: key.clone(), source })?;
        }
        Ok(())
    }

    /// Runs until `cancel`, then stops every tail (each reports `stopped` and flushes).
    pub async fn run(self, cancel: CancellationToken) -> Result<(), SupervisorError> {
        let mut watch =
            self.store.watch_with_history(">").await.map_err(|e| SupervisorError::Watch(e.to_string()))?;
        let mut sessions: HashMap<String, TailSession> = HashMap::new();
        let mut running: HashMap<String, Running> = HashMap::new();
        // Sessions whose path was refused (key → path): not started again while they last.
        let mut refused: HashMap<String, String> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                entry = watch.next() => match entry {
                    Some(Ok(e)) => {
                        if e.operation == Operation::Put {
                            match decode::<TailSession>(&e.value) {
                                Ok(s) => { sessions.insert(e.key, s); }
                                Err(err) => tracing::warn!(key = %e.key, error = %err, "ignoring an unreadable tail session"),
                            }
                        } else {
                            sessions.remove(&e.key);
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "tail-sessions watch error"),
                    None => {
                        tracing::warn!("tail-sessions watch ended; watching again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        watch = self.store.watch_with_history(">").await.map_err(|e| SupervisorError::Watch(e.to_string()))?;
                    }
                },
                _ = tick.tick() => self.expire(&sessions).await,
            }
            self.reconcile(&sessions, &mut running, &mut refused, &cancel);
        }
        for (_, r) in running.drain() {
            r.cancel.cancel();
            let _ = r.task.await;
        }
        Ok(())
    }

    /// Writes back sessions whose leases ended, and deletes finished ones.
    async fn expire(&self, sessions: &HashMap<String, TailSession>) {
        let now = Timestamp::now();
        for (key, s) in sessions {
            if !self.hosts.contains_key(&s.host) {
                continue;
            }
            let mut probe = s.clone();
            if !probe.expire(now) && !probe.is_finished(now, self.grace) {
                continue;
            }
            let grace = self.grace;
            let result = tailrace_nats::kv::update(&self.store, key, |current| {
                let mut s: TailSession = decode(current?).ok()?;
                s.expire(now);
                if s.is_finished(now, grace) {
                    None
                } else {
                    encode_json(&s).ok()
                }
            })
            .await;
            if let Err(e) = result {
                tracing::warn!(%key, error = %e, "cannot expire a tail session");
            }
        }
    }

    fn reconcile(
        &self,
        sessions: &HashMap<String, TailSession>,
        running: &mut HashMap<String, Running>,
        refused: &mut HashMap<String, String>,
        cancel: &CancellationToken,
    ) {
        let now = Timestamp::now();
        let wanted: HashMap<&String, &TailSession> = sessions
            .iter()
            .filter(|(_, s)| self.hosts.contains_key(&s.host) && s.wanted(now, self.grace))
            .collect();
        refused.retain(|key, path| wanted.get(key).is_some_and(|s| s.path == *path));
        running.retain(|key, r| {
            if r.task.is_finished() {
                if let Some(Ok(TailEnd::Refused)) = futures::FutureExt::now_or_never(&mut r.task) {
                    refused.insert(key.clone(), r.spec.path.clone());
                }
                return false;
            }
            let keep = wanted.get(key).is_some_and(|s| s.path == r.spec.path);
            if !keep {
                tracing::info!(host = %r.spec.host, source = %r.spec.source, "stopping a tail nobody wants");
                r.cancel.cancel();
            }
            keep
        });
        for (key, s) in wanted {
            if running.contains_key(key) || refused.get(key) == Some(&s.path) {
                continue;
            }
            let Some(transport) = self.hosts.get(&s.host) else { continue };
            let spec = TailSpec { host: s.host.clone(), source: s.source.clone(), path: s.path.clone() };
            tracing::info!(host = %spec.host, source = %spec.source, path = %spec.path, "starting a tail");
            let token = cancel.child_token();
            let task = tokio::spawn(run_tail(
                spec.clone(),
                transport.clone(),
                self.roots.get(&spec.host).cloned().unwrap_or_default(),
                self.cfg.clone(),
                self.publisher.clone(),
                token.clone(),
            ));
            running.insert(key.clone(), Running { spec, cancel: token, task });
        }
    }
}
