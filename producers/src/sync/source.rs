//! [`Source`]: what a sync reads from. A source lists the regular files under its root that the
//! target's globs take and reads byte ranges of them; [`LocalSource`] is a directory of this
//! machine. Symbolic links are not followed: a link could lead out of the root.

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use tailrace_schemas::Timestamp;

/// A file as the source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub size: u64,
    pub modified: Timestamp,
    /// Which file it is (a replacement has another).
    pub inode: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("listing {root}: {reason}")]
    List { root: String, reason: String },
    #[error("reading {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0}")]
    Filter(String),
}

/// A byte range a sync expects to read, in the order it will ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub path: String,
    pub offset: u64,
    pub len: u64,
}

/// Where a target's files come from.
pub trait Source: Send + Sync {
    /// The reads the sync expects to make, in order, before it makes them: a source whose
    /// requests cost a round trip each may fetch many at once, at most `burst` bytes at a time
    /// (a target's bandwidth cap is a second's worth). Default: nothing.
    fn expect(&self, _wants: Vec<Want>, _burst: u64) {}

    /// Every regular file under the root that the filters take, by path.
    fn list(&self) -> impl Future<Output = Result<Vec<Listed>, SourceError>> + Send;

    /// Bytes `offset..offset + len` of `path` (fewer where the file ends).
    fn read(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
}

/// The target's `include` and `exclude` globs over relative paths.
#[derive(Debug, Clone)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, SourceError> {
        let set = |globs: &[String]| -> Result<GlobSet, SourceError> {
            let mut b = GlobSetBuilder::new();
            for g in globs {
                b.add(Glob::new(g).map_err(|e| SourceError::Filter(format!("{g:?}: {}", e.kind())))?);
            }
            b.build().map_err(|e| SourceError::Filter(e.to_string()))
        };
        Ok(Self {
            include: if include.is_empty() { None } else { Some(set(include)?) },
            exclude: set(exclude)?,
        })
    }

    pub fn takes(&self, relative: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(relative)) && !self.exclude.is_match(relative)
    }
}

/// A directory of this machine.
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
    filter: Filter,
}

impl LocalSource {
    pub fn new(root: impl Into<PathBuf>, filter: Filter) -> Self {
        Self { root: root.into(), filter }
    }
}

fn walk(root: &Path, dir: &Path, filter: &Filter, out: &mut Vec<Listed>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        if meta.is_dir() {
            walk(root, &entry.path(), filter, out)?;
            continue;
        }
        if !meta.is_file() {
            continue; // links, sockets, devices
        }
        let Ok(rel) = entry.path().strip_prefix(root).map(|p| p.to_string_lossy().replace('\\', "/")) else {
            continue;
        };
        if filter.takes(&rel) {
            out.push(Listed {
                path: rel,
                size: meta.len(),
                modified: Timestamp::from_nanos(meta.mtime() * 1_000_000_000 + meta.mtime_nsec()),
                inode: meta.ino(),
            });
        }
    }
    Ok(())
}

impl Source for LocalSource {
    async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        let (root, filter) = (self.root.clone(), self.filter.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &root, &filter, &mut out)
                .map_err(|e| SourceError::List { root: root.display().to_string(), reason: e.to_string() })?;
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
        .await
        .map_err(|e| SourceError::List { root: self.root.display().to_string(), reason: e.to_string() })?
    }

    async fn read(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        use std::io::{Read, Seek, SeekFrom};
        let full = self.root.join(path);
        let shown = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let err = |e: std::io::Error| SourceError::Read { path: shown.clone(), reason: e.to_string() };
            let mut f = std::fs::File::open(&full).map_err(err)?;
            f.seek(SeekFrom::Start(offset)).map_err(err)?;
            let mut buf = Vec::with_capacity(len.min(1 << 24) as usize);
            f.take(len).read_to_end(&mut buf).map_err(err)?;
            Ok(buf)
        })
        .await
        .map_err(|e| SourceError::Read { path: path.to_owned(), reason: e.to_string() })?
    }
}
