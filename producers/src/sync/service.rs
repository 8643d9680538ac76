//! The sync role: each target synced on its `schedule` (cron with seconds) or `interval`, and on
//! request. A request on `sync.trigger.{target}` while that target syncs joins the running sync
//! (it is answered with that sync's outcome) instead of starting a second; `sync.status` is
//! answered with every target's status (last run, duration, files and bytes moved, errors, next
//! run). One task per target; it keeps the target's connection and remote shell between runs
//! (see `Link`), and connects again after a run that failed on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tailrace_nats::Publisher;
use tailrace_schemas::categories::Rules;
use tailrace_schemas::{subject, TargetId, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::{SyncConfig, TargetConfig};
use super::configured::{sync_configured, transport_for, UnknownHost};
use super::run::SyncOutcome;
use super::source::Filter;
use crate::ssh::config::HostConfig;
use crate::tail::transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    UnknownHost(#[from] UnknownHost),
    #[error("sync target {target:?}: {reason}")]
    Target { target: String, reason: String },
    #[error("subscribing to {subject}: {reason}")]
    Subscribe { subject: String, reason: String },
}

/// One target's status, as `sync.status` and `/status` show it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub host: String,
    pub running: bool,
    pub last_run: Option<Timestamp>,
    pub last_outcome: Option<SyncOutcome>,
    pub last_error: Option<String>,
    pub next_run: Option<Timestamp>,
    pub schedule: Option<String>,
    pub runs: u64,
}

type Statuses = Arc<Mutex<BTreeMap<String, TargetStatus>>>;

struct Job {
    cfg: TargetConfig,
    transport: Transport,
    data_dir: PathBuf,
}

/// Starts the sync role for `cfg`'s targets (their hosts from `hosts`), mirroring under
/// `data_dir/sync/`.
pub async fn start(
    cfg: &SyncConfig,
    hosts: &[HostConfig],
    data_dir: &Path,
    rules: Rules,
    client: async_nats::Client,
    publisher: Publisher,
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<Result<(), ServiceError>>, ServiceError> {
    let mut jobs = Vec::new();
    for t in &cfg.targets {
        let transport = transport_for(t, hosts)?;
        Filter::new(&t.include, &t.exclude)
            .map_err(|e| ServiceError::Target { target: t.name.clone(), reason: e.to_string() })?;
        jobs.push(Job { cfg: t.clone(), transport, data_dir: data_dir.to_owned() });
    }
    let statuses: Statuses = Arc::new(Mutex::new(
        jobs.iter()
            .map(|j| {
                let s = TargetStatus {
                    target: j.cfg.name.clone(),
                    host: j.cfg.host.clone(),
                    schedule: j.cfg.schedule.clone(),
                    ..Default::default()
                };
                (j.cfg.name.clone(), s)
            })
            .collect(),
    ));
    let sub = |subject: String| {
        let client = client.clone();
        async move {
            client
                .subscribe(subject.clone())
                .await
                .map_err(|e| ServiceError::Subscribe { subject, reason: e.to_string() })
        }
    };
    let mut status_requests = sub(subject::SYNC_STATUS.to_owned()).await?;
    let rules = Arc::new(rules);
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let triggers =
            sub(subject::sync_trigger(&TargetId::new(job.cfg.name.clone())).as_str().to_owned()).await?;
        let ticks = ticks(&job.cfg, cancel.clone()).await?;
        let (client, publisher, statuses, rules, cancel) =
            (client.clone(), publisher.clone(), statuses.clone(), rules.clone(), cancel.clone());
        tasks.spawn(async move {
            target_loop(job, triggers, ticks, client, publisher, statuses, rules, cancel).await
        });
    }
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(m) = status_requests.next() => {
                    if let Some(reply) = m.reply {
                        let body = serde_json::to_vec(&statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().collect::<Vec<_>>()).unwrap_or_default();
                        let _ = client.publish(reply, body.into()).await;
                    }
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }))
}

/// A message each time `cfg`'s schedule or interval is due (none: only on request).
async fn ticks(cfg: &TargetConfig, cancel: CancellationToken) -> Result<mpsc::Receiver<()>, ServiceError> {
    let (tx, rx) = mpsc::channel(1);
    if let Some(every) = cfg.interval {
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = timer.tick() => { let _ = tx.try_send(()); }
                }
            }
        });
    } else if let Some(cron) = &cfg.schedule {
        let err = |reason: String| ServiceError::Target { target: cfg.name.clone(), reason };
        let scheduler = tokio_cron_scheduler::JobScheduler::new().await.map_err(|e| err(e.to_string()))?;
        let job = tokio_cron_scheduler::Job::new_async(cron.as_str(), move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.try_send(());
            })
        })
        .map_err(|e| err(format!("schedule {cron:?} is not a cron expression with seconds: {e}")))?;
        scheduler.add(job).await.map_err(|e| err(e.to_string()))?;
        scheduler.start().await.map_err(|e| err(e.to_string()))?;
        tokio::spawn(async move {
            cancel.cancelled().await;
            let mut scheduler = scheduler;
            let _ = scheduler.shutdown().await;
        });
    }
    Ok(rx)
}

#[allow(clippy::too_many_arguments)]
async fn target_loop(
    job: Job,
    mut triggers: async_nats::Subscriber,
    mut ticks: mpsc::Receiver<()>,
    client: async_nats::Client,
    publisher: Publisher,
    statuses: Statuses,
    rules: Arc<Rules>,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    let name = job.cfg.name.clone();
    let set = |f: &dyn Fn(&mut TargetStatus)| {
        if let Some(s) = statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(&name) {
            f(s);
        }
    };
    let next = |from: Timestamp| {
        job.cfg.interval.map(|d| from.saturating_add_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
    };
    set(&|s| s.next_run = next(Timestamp::now()));
    // Kept between runs (see `Link`).
    let mut link = None;
    loop {
        let mut waiters = Vec::new();
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            Some(()) = ticks.recv() => {}
            Some(m) = triggers.next() => waiters.extend(m.reply),
        }
        set(&|s| s.running = true);
        let started = Timestamp::now();
        let sync =
            sync_configured(&job.cfg, &mut link, &job.transport, &job.data_dir, &rules, &publisher, |_| {});
        tokio::pin!(sync);
        // Triggers while it runs join it.
        let result = loop {
            tokio::select! {
                r = &mut sync => break r,
                Some(m) = triggers.next() => waiters.extend(m.reply),
                _ = cancel.cancelled() => return Ok(()),
            }
        };
        let answer = match &result {
            Ok(o) => serde_json::json!({ "target": name, "status": "done", "outcome": o }),
            Err(e) => serde_json::json!({ "target": name, "status": "failed", "error": e }),
        };
        set(&|s| {
            s.running = false;
            s.runs += 1;
            s.last_run = Some(started);
            s.next_run = next(Timestamp::now());
            match &result {
                Ok(o) => {
                    s.last_outcome = Some(o.clone());
                    s.last_error = None;
                }
                Err(e) => s.last_error = Some(e.clone()),
            }
        });
        if let Err(e) = &result {
            tracing::warn!(target = name.as_str(), error = %e, "sync failed");
        }
        for reply in waiters {
            let _ = client.publish(reply, answer.to_string().into()).await;
        }
        // Nothing runs twice at once: a tick that came meanwhile is one more run, not two.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
