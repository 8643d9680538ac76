//! [`ClassifiedBatch`]: lines with a category and a severity
//! (`logs.classified.{category}.{severity}.{host}.{source}`).

use serde::{Deserialize, Serialize};

use crate::codec::{is_false, v1, Payload};
use crate::ids::{Category, HostId, Severity, SourceId};
use crate::time::Timestamp;

/// Lines of one file that share a category and severity, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifiedBatch {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    pub source: SourceId,
    pub path: String,
    pub category: Category,
    pub severity: Severity,
    pub lines: Vec<ClassifiedLine>,
    pub read_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifiedLine {
    pub offset: u64,
    pub text: String,
    /// The line was longer than the configured limit and was cut.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// The line was not valid UTF-8 and was converted lossily.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lossy: bool,
    /// The line continues the event of the line before it in the file (a stack trace's frame):
    /// decided by the classifier on the raw lines, where that line is known.
    #[serde(default, skip_serializing_if = "is_false")]
    pub continues: bool,
}

impl Payload for ClassifiedBatch {
    const KIND: &'static str = "ClassifiedBatch";
    const VERSION: u16 = 1;
}
