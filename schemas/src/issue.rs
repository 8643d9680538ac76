//! [`IssueOccurrence`]: an issue seen `count` times in one batch of lines, or one report
//! (`issues.{scope}`).

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::{AppName, CustomerId, Fingerprint, HostId, Scope, Severity, SourceId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueOccurrence {
    #[serde(default = "v1")]
    pub v: u16,
    pub scope: Scope,
    pub fingerprint: Fingerprint,
    pub severity: Severity,
    /// The event template with `<*>` placeholders: the issue's message.
    pub message: String,
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// One real line of the template, as it was seen.
    #[serde(default)]
    pub sample: String,
    #[serde(default)]
    pub host: Option<HostId>,
    #[serde(default)]
    pub source: Option<SourceId>,
    #[serde(default)]
    pub app: Option<AppName>,
    #[serde(default)]
    pub customer: Option<CustomerId>,
    /// For an issue a controller reported: when that report was made. The issue table counts a
    /// customer's report once (a redelivered or replayed report is not counted again).
    #[serde(default)]
    pub reported_at: Option<Timestamp>,
}

impl Payload for IssueOccurrence {
    const KIND: &'static str = "IssueOccurrence";
    const VERSION: u16 = 1;
}
