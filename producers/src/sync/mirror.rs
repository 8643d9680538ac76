//! The local tree of one target, under `data_dir/sync/{target}/files`, mirroring the source's
//! relative paths. A copy changes only by replacement: a new copy is written beside it as
//! `.{name}.tailrace-partial` (the kept bytes of the old copy, then the new ones), fsynced and
//! renamed over it, so a reader sees the old copy or the new one, never a partial file; a crash
//! leaves at most a partial file nobody lists, replaced by the next sync.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

/// The suffix of copies being written.
pub const PARTIAL: &str = ".tailrace-partial";

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{path:?} is not a relative path inside the sync root")]
    Outside { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Debug, Clone)]
pub struct Mirror {
    root: PathBuf,
}

/// A new copy being written; [`Staging::commit`] puts it in place, dropping it discards it.
#[derive(Debug)]
pub struct Staging {
    file: Option<File>,
    partial: PathBuf,
    target: PathBuf,
    written: u64,
}

impl Mirror {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `relative` lives; refused unless it is a plain relative path (no `..`, no root, no
    /// NUL), so a source's listing can never write outside the mirror.
    pub fn path_of(&self, relative: &str) -> Result<PathBuf, MirrorError> {
        let outside = || MirrorError::Outside { path: relative.to_owned() };
        if relative.is_empty() || relative.contains('\0') || relative.ends_with(PARTIAL) {
            return Err(outside());
        }
        let p = Path::new(relative);
        if !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(outside());
        }
        Ok(self.root.join(p))
    }

    /// Bytes of the copy of `relative`, if there is one.
    pub fn size(&self, relative: &str) -> Result<Option<u64>, MirrorError> {
        let path = self.path_of(relative)?;
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(MirrorError::Io { path: path.display().to_string(), source: e }),
        }
    }

    /// Bytes `offset..offset + len` of the copy.
    pub fn read(&self, relative: &str, offset: u64, len: u64) -> Result<Vec<u8>, MirrorError> {
        let path = self.path_of(relative)?;
        let io = |e| MirrorError::Io { path: path.display().to_string(), source: e };
        let mut f = File::open(&path).map_err(io)?;
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = Vec::new();
        f.take(len).read_to_end(&mut buf).map_err(io)?;
        Ok(buf)
    }

    /// Starts a new copy of `relative` holding the first `keep` bytes of the current one.
    pub fn stage(&self, relative: &str, keep: u64) -> Result<Staging, MirrorError> {
        let target = self.path_of(relative)?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = target.with_file_name(format!(".{name}{PARTIAL}"));
        let io = |e| MirrorError::Io { path: partial.display().to_string(), source: e };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut written = 0;
        if keep > 0 {
            std::fs::copy(&target, &partial).map_err(io)?;
        }
        let mut file =
            OpenOptions::new().create(true).write(true).truncate(keep == 0).open(&partial).map_err(io)?;
        if keep > 0 {
            file.set_len(keep).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
            written = keep;
        }
        Ok(Staging { file: Some(file), partial, target, written })
    }
}

impl Staging {
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), MirrorError> {
        let file = self.file.as_mut().expect("not committed");
        file.write_all(bytes)
            .map_err(|e| MirrorError::Io { path: self.partial.display().to_string(), source: e })?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes of the new copy so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// fsync, rename over the old copy, fsync the directory.
    pub fn commit(mut self) -> Result<(), MirrorError> {
        let io = |p: &Path, e| MirrorError::Io { path: p.display().to_string(), source: e };
        let file = self.file.take().expect("not committed");
        file.sync_all().map_err(|e| io(&self.partial, e))?;
        drop(file);
        std::fs::rename(&self.partial, &self.target).map_err(|e| io(&self.target, e))?;
        if let Some(dir) = self.target.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_replaced_whole_and_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mirror::new(dir.path());
        let mut s = m.stage("a/b.log", 0).unwrap();
        s.write(b"one\n").unwrap();
        assert_eq!(m.size("a/b.log").unwrap(), None, "not visible before the commit");
        s.commit().unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b.log")).unwrap(), b"one\n");

        let mut s = m.stage("a/b.log", 4).unwrap();
        s.write(b"two\n").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b.log")).unwrap(), b"one\n", "the old copy meanwhile");
        s.commit().unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b.log")).unwrap(), b"one\ntwo\n");

        // Keeping fewer bytes than the copy has (a crash after the copy, before the manifest).
        let mut s = m.stage("a/b.log", 4).unwrap();
        s.write(b"2\n").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b.log")).unwrap(), b"one\n2\n");

        drop(m.stage("a/c.log", 0).unwrap());
        assert!(std::fs::read_dir(dir.path().join("a")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(PARTIAL)));

        for bad in ["../x", "/etc/passwd", "a/../../x", "", "a\0b", "./a", "a/.b.log.tailrace-partial"] {
            assert!(matches!(m.path_of(bad), Err(MirrorError::Outside { .. })), "{bad:?}");
        }
    }
}
