//! Retention: how long each table keeps rows, and when it prunes them.
//!
//! On its schedule (cron with seconds, tokio-cron-scheduler; default 03:30 UTC daily), or when
//! asked on `sink.retain.{name}`, a sink's runner is stopped after its current window, the
//! sink's [`crate::Sink::retain`] removes what is past its retention in one sled batch, and the
//! runner resumes from the applied sequence: pruning never races a window's writes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[sinks.retention]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// When to prune: a cron expression with seconds (`sec min hour day month weekday`), UTC.
    pub schedule: String,
    /// Telemetry rows (raw and rollups) older than this go, by whole days.
    #[serde(with = "humantime_serde")]
    pub telemetry: Duration,
    /// Issues not seen for this long go.
    #[serde(with = "humantime_serde")]
    pub issues: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            schedule: "0 30 3 * * *".to_owned(),
            telemetry: Duration::from_secs(90 * 86_400),
            issues: Duration::from_secs(30 * 86_400),
        }
    }
}

/// The subject a prune of sink `name` is asked on (every replica prunes its own tables).
pub fn retain_subject(name: &str) -> String {
    format!("sink.retain.{name}")
}

/// `now` minus `keep`, saturating.
pub(crate) fn cutoff(now: tailrace_schemas::Timestamp, keep: Duration) -> tailrace_schemas::Timestamp {
    now.saturating_add_nanos(-(keep.as_nanos().min(i64::MAX as u128) as i64))
}
