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
    /// The form the mirror keeps the file in (retention compresses and expires copies).
    #[serde(default)]
    pub copy: CopyState,
    /// The times the file's first and last complete lines state, where they state one
    /// ([`crate::line_time`]).
    #[serde(default)]
    pub first_line_at: Option<Timestamp>,
    #[serde(default)]
    pub last_line_at: Option<Timestamp>,
}

/// How a target's mirror keeps a synced file. A compressed copy of `a/b.log` is the zstd frame
/// `a/b.log` + [`COMPRESSED_SUFFIX`] beside where the plain copy was; readers take the plain
/// copy when both exist (a compression that stopped before removing it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyState {
    #[default]
    Plain,
    Compressed,
    /// Deleted by retention: the index forgets it (the event's kind is `removed`), and the sync
    /// does not fetch it again unless the source replaces it.
    Expired,
}

/// The suffix of a compressed copy in a target's mirror (a source path ending in it is not
/// synced: it would collide with one).
pub const COMPRESSED_SUFFIX: &str = ".tailrace.zst";

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
