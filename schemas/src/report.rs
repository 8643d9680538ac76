//! [`Report`]: what a controller sends each cycle (`reports.{customer}`), in the shape of the
//! seed "App Telemetry & Analytics" task, so existing controllers need no change.
//!
//! Older controllers send no `app_telemetry`; it decodes as empty. Fields this crate does not
//! know (stacks, versions, anything a controller adds) are ignored by the decoder.

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::{AppName, CustomerId, Severity};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    #[serde(default = "v1")]
    pub v: u16,
    pub customer_id: CustomerId,
    /// When the controller built the report; absent from old controllers, then the ingest time.
    #[serde(default)]
    pub reported_at: Option<Timestamp>,
    #[serde(default)]
    pub controller_version: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub app_telemetry: Vec<AppReport>,
}

/// Per-app (per-stack) resource and log telemetry, as the controller aggregates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppReport {
    pub app_name: AppName,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub memory_current_mb: f64,
    #[serde(default)]
    pub memory_avg_mb: f64,
    #[serde(default)]
    pub memory_peak_mb: f64,
    #[serde(default)]
    pub cpu_avg_percent: f64,
    /// The catalog's memory request, as written there (`"256M"`).
    #[serde(default)]
    pub catalog_estimate: String,
    /// The catalog's memory limit, as written there (`"512M"`).
    #[serde(default)]
    pub catalog_limit: String,
    #[serde(default)]
    pub log_errors: u64,
    #[serde(default)]
    pub log_warnings: u64,
    #[serde(default)]
    pub issues: Vec<LogIssue>,
    /// Containers of the app the kernel killed for memory in the window (newer controllers).
    #[serde(default)]
    pub oom_kills: Option<u64>,
    /// Container restarts in the window (newer controllers).
    #[serde(default)]
    pub restarts: Option<u64>,
    /// Samples the figures rest on (most of any of the app's containers; `tailrace
    /// controller` sends it, the seed's controller did not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
}

/// A recurring log line the controller saw, already grouped by its own fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogIssue {
    pub severity: Severity,
    pub message: String,
    pub count: u64,
    pub last_seen: Timestamp,
    /// The issue's fingerprint, when the controller computed it with tailrace's code (issue
    /// 17's controller does); otherwise the report splitter fingerprints the message.
    #[serde(default)]
    pub fingerprint: Option<crate::ids::Fingerprint>,
}

impl Payload for Report {
    const KIND: &'static str = "Report";
    const VERSION: u16 = 1;
}
