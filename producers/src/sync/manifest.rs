//! What a target's mirror holds, per file: the source file's identity and time when synced, how
//! far its lines were published, how many times it was fetched whole over a changed file (the
//! `generation` of its `LogBatch`es). Kept as JSON beside the mirror, replaced atomically. The
//! copy's own size, not the manifest's, says how many bytes are held: a manifest older than
//! the mirror (a crash between the two) only means some lines are published again, under the
//! same message ids.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tailrace_schemas::{CopyState, Timestamp};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub size: u64,
    pub inode: u64,
    pub modified: Timestamp,
    #[serde(default)]
    pub removed: bool,
    #[serde(default)]
    pub generation: u32,
    /// The offset after the last line published.
    #[serde(default)]
    pub published: u64,
    /// Complete lines published (so, in the copy).
    #[serde(default)]
    pub lines: u64,
    pub category: String,
    /// Plain, compressed or expired by retention.
    #[serde(default)]
    pub copy: CopyState,
    /// The times the first and the last published lines state.
    #[serde(default)]
    pub first_line_at: Option<Timestamp>,
    #[serde(default)]
    pub last_line_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the sync manifest {path} is unreadable ({reason}); move it away to sync the target afresh")]
    Corrupt { path: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Manifest {
    /// The manifest at `path`; empty if there is none yet.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ManifestError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ManifestError::Io { path: path.display().to_string(), source: e }),
        }
    }

    /// Writes it beside `path`, fsyncs, renames over `path`.
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        use std::io::Write;
        let io = |e| ManifestError::Io { path: path.display().to_string(), source: e };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&serde_json::to_vec(self).expect("a manifest serializes")).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
