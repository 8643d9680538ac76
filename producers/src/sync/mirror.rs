//! The local tree of one target, under `data_dir/sync/{target}/files`, mirroring the source's
//! relative paths. A copy changes only by replacement: a new copy is written beside it as
//! `.{name}.tailrace-partial` (the kept bytes of the old copy, then the new ones), fsynced and
//! renamed over it, so a reader sees the old copy or the new one, never a partial file; a crash
//! leaves at most a partial file nobody lists, replaced by the next sync. The directories a
//! rename changed are fsynced together ([`Mirror::sync_dirs`]) before the sync saves its
//! manifest, not after each file: a power loss before that point undoes renames the manifest
//! does not know of either.
//!
//! Retention keeps old copies compressed: `a/b.log` becomes the zstd frame `a/b.log` +
//! [`COMPRESSED_SUFFIX`] (written the same way, then the plain copy removed) and is expanded
//! again before the sync appends to it; a new plain copy removes the compressed one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use tailrace_schemas::COMPRESSED_SUFFIX;

/// The suffix of copies being written.
pub const PARTIAL: &str = ".tailrace-partial";

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{path:?} is not a relative path inside the sync root")]
    Outside { path: String },
    #[error(
        "{path:?} ends in {COMPRESSED_SUFFIX}, which the mirror keeps for its compressed copies: not synced"
    )]
    Reserved { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Debug, Clone)]
pub struct Mirror {
    root: PathBuf,
    /// Directories renamed in since the last [`Mirror::sync_dirs`].
    dirty: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<PathBuf>>>,
}

/// A new copy being written; [`Staging::commit`] puts it in place, dropping it discards it.
#[derive(Debug)]
pub struct Staging {
    file: Option<File>,
    partial: PathBuf,
    target: PathBuf,
    /// The compressed copy a new plain one supersedes.
    packed: PathBuf,
    written: u64,
    dirty: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<PathBuf>>>,
}

impl Mirror {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), dirty: Default::default() }
    }

    /// fsyncs every directory a commit renamed in since the last call.
    pub fn sync_dirs(&self) -> Result<(), MirrorError> {
        let dirs = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for dir in dirs {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| MirrorError::Io { path: dir.display().to_string(), source: e })?;
        }
        Ok(())
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
        if relative.ends_with(COMPRESSED_SUFFIX) {
            return Err(MirrorError::Reserved { path: relative.to_owned() });
        }
        Ok(self.root.join(p))
    }

    /// Where the compressed copy of `relative` lives.
    pub fn compressed_path_of(&self, relative: &str) -> Result<PathBuf, MirrorError> {
        let plain = self.path_of(relative)?;
        let mut name = plain.into_os_string();
        name.push(COMPRESSED_SUFFIX);
        Ok(name.into())
    }

    /// Whether a compressed copy of `relative` exists.
    pub fn has_compressed(&self, relative: &str) -> Result<bool, MirrorError> {
        Ok(self.compressed_path_of(relative)?.is_file())
    }

    /// Replaces the plain copy of `relative` by a compressed one; returns its bytes. A crash
    /// leaves the plain copy (perhaps beside a whole compressed one, which readers ignore).
    pub fn compress(&self, relative: &str) -> Result<u64, MirrorError> {
        let plain = self.path_of(relative)?;
        let packed = self.compressed_path_of(relative)?;
        let partial = partial_of(&packed);
        let io = |p: &Path, e| MirrorError::Io { path: p.display().to_string(), source: e };
        let mut from = File::open(&plain).map_err(|e| io(&plain, e))?;
        let size = from.metadata().map_err(|e| io(&plain, e))?.len();
        let to = File::create(&partial).map_err(|e| io(&partial, e))?;
        let mut discard = Discard(Some(partial.clone()));
        let mut enc = zstd::Encoder::new(to, 9).map_err(|e| io(&partial, e))?;
        // The frame says how long the content is, so readers know without expanding it.
        enc.set_pledged_src_size(Some(size)).map_err(|e| io(&partial, e))?;
        std::io::copy(&mut from, &mut enc).map_err(|e| io(&partial, e))?;
        let to = enc.finish().map_err(|e| io(&partial, e))?;
        to.sync_all().map_err(|e| io(&partial, e))?;
        let bytes = to.metadata().map_err(|e| io(&partial, e))?.len();
        drop(to);
        std::fs::rename(&partial, &packed).map_err(|e| io(&packed, e))?;
        discard.0 = None;
        sync_dir(&packed)?;
        std::fs::remove_file(&plain).map_err(|e| io(&plain, e))?;
        sync_dir(&plain)?;
        Ok(bytes)
    }

    /// Puts a plain copy of `relative` back from its compressed one (before an append).
    pub fn decompress(&self, relative: &str) -> Result<(), MirrorError> {
        let packed = self.compressed_path_of(relative)?;
        let io = |e| MirrorError::Io { path: packed.display().to_string(), source: e };
        let mut dec = zstd::Decoder::new(File::open(&packed).map_err(io)?).map_err(io)?;
        let mut staging = self.stage(relative, 0)?;
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = dec.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            staging.write(&buf[..n])?;
        }
        staging.commit()
    }

    /// Removes every copy of `relative` (retention's expiry).
    pub fn remove(&self, relative: &str) -> Result<(), MirrorError> {
        for path in [self.path_of(relative)?, self.compressed_path_of(relative)?] {
            match std::fs::remove_file(&path) {
                Ok(()) => sync_dir(&path)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(MirrorError::Io { path: path.display().to_string(), source: e }),
            }
        }
        Ok(())
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
        let packed = self.compressed_path_of(relative)?;
        let partial = partial_of(&target);
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
        Ok(Staging { file: Some(file), partial, target, packed, written, dirty: self.dirty.clone() })
    }
}

/// The name a copy of `path` is written under before it is renamed into place.
fn partial_of(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}{PARTIAL}"))
}

/// fsync of the directory holding `path`, so a rename or removal in it is durable.
fn sync_dir(path: &Path) -> Result<(), MirrorError> {
    let Some(dir) = path.parent() else { return Ok(()) };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| MirrorError::Io { path: dir.display().to_string(), source: e })
}

/// Removes a partial file unless disarmed.
struct Discard(Option<PathBuf>);

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
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

    /// fsync, rename over the old copy (its directory fsynced by [`Mirror::sync_dirs`]).
    pub fn commit(mut self) -> Result<(), MirrorError> {
        let io = |p: &Path, e| MirrorError::Io { path: p.display().to_string(), source: e };
        let file = self.file.take().expect("not committed");
        file.sync_all().map_err(|e| io(&self.partial, e))?;
        drop(file);
        std::fs::rename(&self.partial, &self.target).map_err(|e| io(&self.target, e))?;
        if let Some(dir) = self.target.parent() {
            self.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(dir.to_owned());
        }
        match std::fs::remove_file(&self.packed) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&self.packed, e)),
        }
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
        assert!(matches!(m.path_of("a/b.log.tailrace.zst"), Err(MirrorError::Reserved { .. })));
    }

    #[test]
    fn a_compressed_copy_replaces_the_plain_one_and_expands_back() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mirror::new(dir.path());
        let body: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let mut s = m.stage("a/b.log", 0).unwrap();
        s.write(body.as_bytes()).unwrap();
        s.commit().unwrap();
        let bytes = m.compress("a/b.log").unwrap();
        assert!(bytes < body.len() as u64 / 4, "{bytes} bytes for {}", body.len());
        assert_eq!(m.size("a/b.log").unwrap(), None, "the plain copy is gone");
        assert!(m.has_compressed("a/b.log").unwrap());
        let packed = std::fs::read(dir.path().join("a/b.log.tailrace.zst")).unwrap();
        assert_eq!(zstd::decode_all(&packed[..]).unwrap(), body.as_bytes());
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&packed).unwrap(),
            Some(body.len() as u64),
            "the frame says its length"
        );

        m.decompress("a/b.log").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b.log")).unwrap(), body.as_bytes());
        assert!(!m.has_compressed("a/b.log").unwrap(), "a plain copy supersedes the compressed one");

        m.compress("a/b.log").unwrap();
        m.remove("a/b.log").unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("a")).unwrap().count(), 0, "nothing left");
    }
}
