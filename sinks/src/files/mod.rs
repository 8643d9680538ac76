//! The file index: every synced file (`files.synced.>`, one [`FileEvent`] per change) as one row
//! per (target, path) — category, size, modification time, line count, the times of its first
//! and last lines, whether it was removed,
//! whether its copy is plain, compressed or expired by retention — not a copy of its content
//! (that is the sync's mirror). [`FilesView`] answers the seed's logs
//! service queries: the services (categories) with their files, counts and sizes.

use serde::{Deserialize, Serialize};
use tailrace_nats::Delivery;
use tailrace_schemas::{decode, CopyState, FileEvent, FileEventKind, StreamName, SubjectFilter, Timestamp};

use crate::runtime::Sink;
use crate::staged::Staged;
use crate::tables::{Tables, TablesError};

/// The `files` sink.
#[derive(Debug, Default)]
pub struct FilesSink;

const PREFIX: &[u8] = b"f/";

fn key(target: &str, path: &str) -> Vec<u8> {
    [PREFIX, target.as_bytes(), b"\0", path.as_bytes()].concat()
}

/// One synced file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRow {
    pub target: String,
    pub path: String,
    pub category: String,
    pub size: u64,
    pub modified: Timestamp,
    pub lines: Option<u64>,
    pub removed: bool,
    /// When the sync last announced a change of it.
    pub synced_at: Option<Timestamp>,
    /// How the mirror keeps it (an expired file is also `removed`).
    pub copy: CopyState,
    /// The times its first and last lines state.
    pub first_line_at: Option<Timestamp>,
    pub last_line_at: Option<Timestamp>,
}

impl Sink for FilesSink {
    fn name(&self) -> &'static str {
        "files"
    }

    fn input(&self) -> (StreamName, Vec<SubjectFilter>) {
        (StreamName::FILES, Vec::new())
    }

    /// 3: rows say how the copy is kept and the times of the first and last lines.
    fn layout(&self) -> u32 {
        3
    }

    fn apply(&self, rows: &mut Staged, message: &Delivery) -> Result<(), String> {
        let e: FileEvent = decode(message.payload()).map_err(|e| e.to_string())?;
        let row = FileRow {
            target: e.target.as_str().to_owned(),
            path: e.path.clone(),
            category: e.category.as_str().to_owned(),
            size: e.size,
            modified: e.modified,
            lines: e.lines,
            removed: e.kind == FileEventKind::Removed,
            synced_at: message.stored_at(),
            copy: e.copy,
            first_line_at: e.first_line_at,
            last_line_at: e.last_line_at,
        };
        rows.put_row(key(&row.target, &row.path), &row);
        Ok(())
    }
}

/// A file query (the seed's `GET /logs?service=&limit=`, and more).
#[derive(Debug, Clone, Default)]
pub struct FileQuery {
    pub service: Option<String>,
    pub target: Option<String>,
    /// A part of the path.
    pub name: Option<String>,
    /// Modified at or after / before.
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub include_removed: bool,
    pub limit: usize,
}

/// A service (category) and its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStats {
    pub service: String,
    pub file_count: usize,
    pub total_size: u64,
    pub total_lines: u64,
    pub latest_modified: Option<Timestamp>,
}

/// Read-only access to the file index.
#[derive(Debug, Clone)]
pub struct FilesView {
    tree: sled::Tree,
    tables: Tables,
}

impl FilesView {
    pub fn new(tables: &Tables) -> Result<Self, TablesError> {
        Ok(Self { tree: tables.tree("files")?, tables: tables.clone() })
    }

    fn all(&self) -> Result<Vec<FileRow>, TablesError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(PREFIX) {
            let (_, v) = item.map_err(|e| self.tables.err(e))?;
            if let Ok(row) = rmp_serde::from_slice::<FileRow>(&v) {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Files matching `q`, most recently modified first; and how many matched.
    pub fn files(&self, q: &FileQuery) -> Result<(usize, Vec<FileRow>), TablesError> {
        let mut rows: Vec<FileRow> = self
            .all()?
            .into_iter()
            .filter(|r| q.include_removed || !r.removed)
            .filter(|r| q.service.as_ref().is_none_or(|s| &r.category == s))
            .filter(|r| q.target.as_ref().is_none_or(|t| &r.target == t))
            .filter(|r| q.name.as_ref().is_none_or(|n| r.path.contains(n.as_str())))
            .filter(|r| q.since.is_none_or(|t| r.modified >= t))
            .filter(|r| q.until.is_none_or(|t| r.modified < t))
            .collect();
        rows.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.path.cmp(&b.path)));
        let total = rows.len();
        rows.truncate(q.limit);
        Ok((total, rows))
    }

    /// One file's row.
    pub fn file(&self, target: &str, path: &str) -> Result<Option<FileRow>, TablesError> {
        Ok(self
            .tree
            .get(key(target, path))
            .map_err(|e| self.tables.err(e))?
            .and_then(|v| rmp_serde::from_slice(&v).ok()))
    }

    /// Every service with files (removed ones left out), by name.
    pub fn services(&self) -> Result<Vec<ServiceStats>, TablesError> {
        let mut by: std::collections::BTreeMap<String, ServiceStats> = Default::default();
        for r in self.all()?.into_iter().filter(|r| !r.removed) {
            let s = by.entry(r.category.clone()).or_insert_with(|| ServiceStats {
                service: r.category.clone(),
                file_count: 0,
                total_size: 0,
                total_lines: 0,
                latest_modified: None,
            });
            s.file_count += 1;
            s.total_size += r.size;
            s.total_lines += r.lines.unwrap_or(0);
            s.latest_modified = s.latest_modified.max(Some(r.modified));
        }
        Ok(by.into_values().collect())
    }
}
