//! [`Tables`]: the process's sled database, opened once, checked, and split into one tree per
//! sink. Each sink's tree also holds, under a reserved key, the last stream sequence applied to
//! it, written in the same batch as the rows (see [`crate::staged`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tailrace_schemas::StreamName;

/// Keys under this prefix are the runtime's, not a sink's rows.
pub(crate) const META: &[u8] = b"\0meta/";
const REPLICA: &[u8] = b"replica";
/// The key of a sink tree's row layout.
const LAYOUT: &[u8] = b"\0meta/layout";

#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error(
        "{path} is not a tailrace table directory (it holds files but no sled database); \
         point data_dir elsewhere, or empty it: the tables are rebuilt from the streams"
    )]
    Foreign { path: PathBuf },
    #[error(
        "the tables in {path} are corrupted ({reason}); move the directory away and start again: \
         every sink rebuilds its tables from the streams"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot open the tables in {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the tables in {path}: {reason}")]
    Sled { path: PathBuf, reason: String },
}

/// The sled database of this process.
#[derive(Debug, Clone)]
pub struct Tables {
    db: sled::Db,
    path: PathBuf,
    replica: String,
    /// A lock per table (see [`Tables::writing`]).
    writing: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Tables {
    /// Opens (or creates) the tables at `path`. A directory that holds something other than a
    /// sled database, or a corrupted one, is refused with an error saying what to do.
    pub fn open(path: &Path) -> Result<Self, TablesError> {
        if path.is_dir() && !path.join("conf").exists() {
            let has_files = std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(false);
            if has_files {
                return Err(TablesError::Foreign { path: path.to_owned() });
            }
        }
        let db = sled::Config::new().path(path).open().map_err(|e| {
            let damaged = match &e {
                sled::Error::Corruption { .. }
                | sled::Error::Unsupported(_)
                | sled::Error::ReportableBug(_) => true,
                sled::Error::Io(io) => {
                    matches!(io.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof)
                }
                _ => false,
            };
            if damaged {
                TablesError::Corrupt { path: path.to_owned(), reason: e.to_string() }
            } else {
                TablesError::Open { path: path.to_owned(), reason: e.to_string() }
            }
        })?;
        let mut tables = Self { db, path: path.to_owned(), replica: String::new(), writing: Arc::default() };
        tables.replica = tables.replica_id()?;
        Ok(tables)
    }

    /// This database's replica id: stable for its life, different for every copy, so two
    /// gateway replicas never share a durable consumer (each keeps its own tables).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn replica_id(&self) -> Result<String, TablesError> {
        let meta = self.db.open_tree(META).map_err(|e| self.err(e))?;
        if let Some(v) = meta.get(REPLICA).map_err(|e| self.err(e))? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let id = tailrace_nats::random_hex(6)
            .map_err(|e| TablesError::Open { path: self.path.clone(), reason: e.to_string() })?;
        meta.insert(REPLICA, id.as_bytes()).map_err(|e| self.err(e))?;
        meta.flush().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// The tree of sink `name`.
    /// The lock held while a window of table `name` is written and while a sink reads where to
    /// resume from it: a window is written off the async workers and may land after the runner
    /// that made it was dropped, and a sink started again meanwhile must not read the applied
    /// sequence from before it (it would apply that window's messages twice).
    pub fn writing(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(name.to_owned()).or_default().clone()
    }

    pub fn tree(&self, name: &str) -> Result<sled::Tree, TablesError> {
        self.db.open_tree(format!("sink/{name}")).map_err(|e| self.err(e))
    }

    /// The last sequence of `stream` applied to sink `name` (0: none).
    pub fn applied(&self, name: &str, stream: StreamName) -> Result<u64, TablesError> {
        let tree = self.tree(name)?;
        applied_in(&tree, stream).map_err(|e| self.err(e))
    }

    /// Sink `name`'s rows, in key order, without the runtime's own keys (applied sequences,
    /// layout): what a rebuild must reproduce.
    pub fn rows(&self, name: &str) -> Result<Vec<(sled::IVec, sled::IVec)>, TablesError> {
        let tree = self.tree(name)?;
        let mut rows = Vec::new();
        for row in tree.iter() {
            let (k, v) = row.map_err(|e| self.err(e))?;
            if !k.starts_with(META) {
                rows.push((k, v));
            }
        }
        Ok(rows)
    }

    /// Empties sink `name` (rows and applied sequences) and makes it durable.
    pub fn clear(&self, name: &str) -> Result<(), TablesError> {
        let tree = self.tree(name)?;
        tree.clear().map_err(|e| self.err(e))?;
        tree.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Makes sure sink `name`'s rows are of `layout`: a table written in another layout (an
    /// older build's) is emptied, so the sink materializes it again from the stream, rather than
    /// misreading its rows. Returns whether it was emptied. A table that says no layout is of
    /// layout 1 (the first).
    pub fn ensure_layout(&self, name: &str, layout: u32) -> Result<bool, TablesError> {
        self.ensure_layout_with(name, layout, |_, _| Ok(false))
    }

    /// [`Tables::ensure_layout`], first trying `migrate(tree, stored layout)`, which rewrites the
    /// rows in place and says whether it did; only a table it did not migrate is emptied.
    pub fn ensure_layout_with(
        &self,
        name: &str,
        layout: u32,
        migrate: impl FnOnce(&sled::Tree, u32) -> Result<bool, sled::Error>,
    ) -> Result<bool, TablesError> {
        let tree = self.tree(name)?;
        let stored = match tree.get(LAYOUT).map_err(|e| self.err(e))? {
            Some(v) => <[u8; 4]>::try_from(v.as_ref()).map_or(0, u32::from_be_bytes),
            None if tree.is_empty() => layout,
            None => 1,
        };
        let migrated = stored != layout && migrate(&tree, stored).map_err(|e| self.err(e))?;
        if migrated {
            tracing::info!(sink = name, stored, layout, "the table was migrated to the new layout");
        }
        let cleared = stored != layout && !migrated;
        if cleared {
            tracing::warn!(
                sink = name,
                stored,
                layout,
                "the table is of another layout; rebuilding it from the stream"
            );
            tree.clear().map_err(|e| self.err(e))?;
        }
        if cleared || migrated || tree.get(LAYOUT).map_err(|e| self.err(e))?.is_none() {
            tree.insert(LAYOUT, &layout.to_be_bytes()).map_err(|e| self.err(e))?;
            tree.flush().map_err(|e| self.err(e))?;
        }
        Ok(cleared)
    }

    #[allow(clippy::needless_pass_by_value)] // used as `map_err(|e| tables.err(e))`
    pub(crate) fn err(&self, e: sled::Error) -> TablesError {
        TablesError::Sled { path: self.path.clone(), reason: e.to_string() }
    }
}

/// The key of the last applied sequence of `stream`.
pub(crate) fn applied_key(stream: StreamName) -> Vec<u8> {
    [META, b"applied/", stream.as_str().as_bytes()].concat()
}

pub(crate) fn applied_in(tree: &sled::Tree, stream: StreamName) -> Result<u64, sled::Error> {
    Ok(tree
        .get(applied_key(stream))?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_keeps_its_id_and_a_foreign_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sled");
        let id = Tables::open(&path).unwrap().replica().to_owned();
        assert_eq!(id.len(), 12);
        assert_eq!(Tables::open(&path).unwrap().replica(), id, "stable across opens");

        let foreign = dir.path().join("photos");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("cat.jpg"), b"meow").unwrap();
        let err = Tables::open(&foreign).unwrap_err().to_string();
        assert!(err.contains("photos") && err.contains("not a tailrace table directory"), "{err}");
    }

    #[test]
    fn a_table_of_another_layout_is_emptied_and_one_of_the_same_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tables = Tables::open(&dir.path().join("sled")).unwrap();
        assert!(!tables.ensure_layout("t", 2).unwrap(), "an empty table takes the layout");
        tables.tree("t").unwrap().insert(b"row", b"v").unwrap();
        assert!(!tables.ensure_layout("t", 2).unwrap());
        assert!(tables.tree("t").unwrap().contains_key(b"row").unwrap());
        assert!(tables.ensure_layout("t", 3).unwrap(), "a new layout empties it");
        assert!(!tables.tree("t").unwrap().contains_key(b"row").unwrap());

        // Written before layouts were recorded: layout 1.
        tables.tree("old").unwrap().insert(b"row", b"v").unwrap();
        assert!(!tables.ensure_layout("old", 1).unwrap());
        tables.tree("older").unwrap().insert(b"row", b"v").unwrap();
        assert!(tables.ensure_layout("older", 2).unwrap());
    }

    #[test]
    fn a_corrupted_database_is_named_and_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sled");
        drop(Tables::open(&path).unwrap());
        std::fs::write(path.join("conf"), b"\xff\xfe not a sled config").unwrap();
        let err = Tables::open(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("rebuild"), "{err}");
    }
}
