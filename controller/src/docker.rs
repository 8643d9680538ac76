//! [`Engine`]: the Docker Engine API over its unix socket (bollard): running containers and the
//! app each belongs to, their usage when the cgroup files are out of reach, and their logs of a
//! window.
//!
//! A container's app is its `tailrace.app` label, else its compose project
//! (`com.docker.compose.project`, the seed's stack), else its own name.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptionsBuilder, LogsOptionsBuilder, StatsOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use tailrace_schemas::Timestamp;

use crate::cgroup::Reading;

pub const APP_LABEL: &str = "tailrace.app";
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const DISPLAY_NAME_LABEL: &str = "tailrace.display_name";
pub const ESTIMATE_LABEL: &str = "tailrace.catalog_estimate";
pub const LIMIT_LABEL: &str = "tailrace.catalog_limit";

#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
}

/// A running container.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub app: String,
    pub labels: HashMap<String, String>,
    /// When it last started, and how often the engine restarted it (to count restarts).
    pub started_at: Option<String>,
    pub restart_count: Option<i64>,
    /// Whether its last end was an OOM kill (the engine keeps saying so after a restart).
    pub oom_killed: bool,
    pub cgroup_parent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the Docker Engine at {socket}: {reason}")]
    Connect { socket: String, reason: String },
    #[error("the Docker Engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("the Docker Engine gave no stats for container {0}")]
    NoStats(String),
}

impl Engine {
    /// A client of the engine at `socket`, speaking the API version the engine does (an
    /// older engine refuses a newer client's requests); an error when it does not answer.
    pub async fn connect(socket: &Path) -> Result<Self, EngineError> {
        let path = socket.display().to_string();
        let connect_err =
            |e: bollard::errors::Error| EngineError::Connect { socket: path.clone(), reason: e.to_string() };
        let docker =
            Docker::connect_with_unix(&path, 30, bollard::API_DEFAULT_VERSION).map_err(connect_err)?;
        let docker = docker.negotiate_version().await.map_err(connect_err)?;
        Ok(Self { docker })
    }

    /// The running containers, each with its app.
    pub async fn containers(&self) -> Result<Vec<Container>, EngineError> {
        let listed =
            self.docker.list_containers(Some(ListContainersOptionsBuilder::new().all(false).build())).await?;
        let mut out = Vec::with_capacity(listed.len());
        for summary in listed {
            let Some(id) = summary.id else { continue };
            // Gone between the list and the inspect, ended since the list, or waiting to be
            // restarted: not running, so nothing to sample. (Sampled, a dead container gave the
            // engine's empty stats, whose CPU counter of 0 read as a restart; a restarting one
            // had its restart counted twice, by the count rising and by the new start.)
            let Ok(inspect) = self.docker.inspect_container(&id, None).await else { continue };
            if inspect.state.as_ref().and_then(|s| s.running) != Some(true) {
                continue;
            }
            let labels = summary.labels.unwrap_or_default();
            let name = inspect.name.unwrap_or_default().trim_start_matches('/').to_owned();
            let app = labels
                .get(APP_LABEL)
                .or_else(|| labels.get(COMPOSE_PROJECT))
                .cloned()
                .unwrap_or_else(|| name.clone());
            out.push(Container {
                id,
                name,
                app,
                labels,
                oom_killed: inspect.state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false),
                started_at: inspect.state.and_then(|s| s.started_at),
                restart_count: inspect.restart_count,
                cgroup_parent: inspect.host_config.and_then(|h| h.cgroup_parent),
            });
        }
        out.sort_by(|a, b| a.app.cmp(&b.app).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Whether a container that is no longer running ended by an OOM kill (false when the
    /// engine cannot say: it was removed; and while the engine is restarting it, whose new
    /// start shows the kill when it runs again).
    pub async fn ended_by_oom(&self, id: &str) -> bool {
        self.docker.inspect_container(id, None).await.ok().and_then(|i| i.state).is_some_and(|s| {
            s.oom_killed == Some(true) && s.running != Some(true) && s.restarting != Some(true)
        })
    }

    /// A container's usage from the engine's stats (one shot), for a controller that cannot
    /// read the cgroup files (itself in a container without them). OOM kills are not in it.
    pub async fn stats(&self, id: &str) -> Result<Reading, EngineError> {
        let options = StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        let stats = self
            .docker
            .stats(id, Some(options))
            .next()
            .await
            .ok_or_else(|| EngineError::NoStats(id.to_owned()))??;
        let memory = stats.memory_stats.unwrap_or_default();
        let inactive = memory
            .stats
            .as_ref()
            .and_then(|s| s.get("total_inactive_file").or_else(|| s.get("inactive_file")).copied())
            .unwrap_or(0);
        let cpu = stats.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).unwrap_or(0);
        Ok(Reading {
            memory: memory.usage.unwrap_or(0).saturating_sub(inactive),
            cpu_nanos: cpu,
            oom_kills: None,
        })
    }

    /// Calls `line` with each log line (stdout and stderr) the container wrote after `after`
    /// and at or before `until`, with its time; gives up after `timeout` (the lines seen so far
    /// count). Returns whether it finished in time.
    pub async fn logs(
        &self,
        id: &str,
        after: Timestamp,
        until: Timestamp,
        timeout: Duration,
        mut line: impl FnMut(&[u8], Timestamp),
    ) -> Result<bool, EngineError> {
        // The API takes whole seconds; the lines' own times decide at the edges.
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(clamp_secs(after.as_unix_seconds()))
            .until(clamp_secs(until.as_unix_seconds() + 1))
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let read = async {
            while let Some(frame) = stream.next().await {
                let bytes = frame?.into_bytes();
                for raw in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let (at, text) = split_time(raw);
                    let Some(at) = at else { continue };
                    if at > after && at <= until {
                        line(text, at);
                    }
                }
            }
            Ok::<(), EngineError>(())
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(done) => done.map(|()| true),
            Err(_) => Ok(false),
        }
    }
}

fn clamp_secs(s: i64) -> i32 {
    s.clamp(0, i64::from(i32::MAX)) as i32
}

/// The engine's RFC 3339 time at the start of a line, and the rest.
fn split_time(raw: &[u8]) -> (Option<Timestamp>, &[u8]) {
    let Some(space) = raw.iter().position(|b| *b == b' ') else { return (None, raw) };
    let at = std::str::from_utf8(&raw[..space]).ok().and_then(|t| Timestamp::parse_rfc3339(t).ok());
    (at, &raw[space + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_engines_time_from_a_line() {
        let (at, text) = split_time(b"2026-12-05T14:26:03.568318870Z ERROR it broke");
        assert_eq!(at, Some(Timestamp::parse_rfc3339("2026-12-05T14:26:03.568318870Z").unwrap()));
        assert_eq!(text, b"ERROR it broke");
        assert_eq!(split_time(b"no time here").0, None);
    }
}
