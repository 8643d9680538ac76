//! [`FileEvent`]: a synced file appeared, changed or went away (`files.synced.{target}.{category}`).

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::{Category, TargetId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEvent {
    #[serde(default = "v1")]
    pub v: u16,
    pub target: TargetId,
    pub category: Category,
    pub kind: FileEventKind,
    /// Path relative to the target's sync root, `/`-separated.
    pub path: String,
    pub size: u64,
    pub modified: Timestamp,
    /// Hex SHA-256 of the content, when the producer computed it.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Complete lines in the file, when the producer counted them.
    #[serde(default)]
    pub lines: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileEventKind {
    Created,
    Modified,
    Removed,
}

impl Payload for FileEvent {
    const KIND: &'static str = "FileEvent";
    const VERSION: u16 = 1;
}
