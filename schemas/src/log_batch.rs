//! [`LogBatch`]: raw lines read from one file on one host (`logs.raw.{host}.{source}`).

use serde::{Deserialize, Serialize};

use crate::codec::{is_false, v1, Payload};
use crate::ids::{HostId, SourceId};
use crate::time::Timestamp;

/// Consecutive lines of one file, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    pub source: SourceId,
    /// The file's path on the host.
    pub path: String,
    /// Which file this was (device and inode), so a reader can tell a rotation from a reconnect.
    #[serde(default)]
    pub file: Option<FileIdentity>,
    /// How many times this file was truncated before these lines were read: offsets restart at 0
    /// after a truncation, so the same offset of the same file can hold other lines.
    #[serde(default)]
    pub generation: u32,
    pub lines: Vec<LogLine>,
    /// The byte offset just after the last line: where reading continues.
    #[serde(default)]
    pub next_offset: Option<u64>,
    /// For a journal source (`path` is a [`crate::JournalPath`]), the journal cursor of the
    /// entry of the last line: where reading continues. Lines of a journal have no byte
    /// offsets; a line's `offset` is its entry's sequence number × 2^20 plus its index within
    /// the entry (a message of several lines, or a line cut at the line limit, is several lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// When the batch ends inside the entry `cursor` names: how many of that entry's lines this
    /// batch and those before it hold (the next batch holds the rest). Absent when the entry
    /// ended with this batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_lines: Option<u32>,
    /// When the producer read the lines.
    pub read_at: Timestamp,
}

/// The identity of a file that survives renames: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub inode: u64,
}

/// One line without its terminator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    pub text: String,
    /// The line was not valid UTF-8 and was converted lossily (invalid bytes became U+FFFD).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lossy: bool,
    /// The severity its source gave it as a syslog priority (0 emerg … 7 debug): a journal
    /// entry's `PRIORITY`. Lines of files have none; their severity is read from the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

impl LogLine {
    /// Builds a line from raw bytes, keeping invalid UTF-8 (lossily) and marking it.
    pub fn from_bytes(offset: u64, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self { offset, text: text.to_owned(), lossy: false, priority: None },
            Err(_) => Self {
                offset,
                text: String::from_utf8_lossy(bytes).into_owned(),
                lossy: true,
                priority: None,
            },
        }
    }
}

impl LogBatch {
    /// The publish deduplication id: the batch's data identity (host, source, file, truncation
    /// generation, first byte offset), so a retry or a restart that re-reads the same bytes is
    /// stored once.
    pub fn dedup_id(&self) -> String {
        // A journal's lines are its entries: the cursor of the last names the batch, and a
        // batch read again after a restart ends at the same entry only if it holds the same.
        if let Some(cursor) = &self.cursor {
            let first = self.lines.first().map_or(0, |l| l.offset);
            let cursor = crate::fnv1a(cursor.as_bytes());
            return format!(
                "raw/{}/{}/journal/{first}/{cursor:016x}",
                self.host.token(),
                self.source.token()
            );
        }
        let first = self.lines.first().map_or(0, |l| l.offset);
        let file = self.file.map_or_else(|| "-".to_owned(), |f| format!("{}:{}", f.dev, f.inode));
        format!("raw/{}/{}/{}/{}/{}", self.host.token(), self.source.token(), file, self.generation, first)
    }
}

impl Payload for LogBatch {
    const KIND: &'static str = "LogBatch";
    const VERSION: u16 = 1;
}
