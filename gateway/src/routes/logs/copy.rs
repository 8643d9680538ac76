//! A synced file's copy in its target's mirror, as the logs API reads it: found by the path a
//! client gives (confined to the mirror), plain or compressed by retention, read by range, from
//! the end, or line by line. A compressed copy reads like the plain one it replaced.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use tailrace_schemas::COMPRESSED_SUFFIX;

use crate::error::ApiError;

/// The mirror directory of a target: the one named, or the only one there is.
pub fn target_root(sync_root: &Path, target: Option<&str>) -> Result<(String, PathBuf), ApiError> {
    let known: Vec<String> = std::fs::read_dir(sync_root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("files").is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let name = match target {
        Some(t) if known.iter().any(|k| k == t) => t.to_owned(),
        Some(t) => {
            return Err(ApiError::bad_request(
                "target",
                &format!("no synced target is called {t:?}; the targets are: {}", known.join(", ")),
            ))
        }
        None if known.len() == 1 => known[0].clone(),
        None => {
            return Err(ApiError::bad_request(
                "target",
                &format!("is required: the targets are {}", known.join(", ")),
            ))
        }
    };
    Ok((name.clone(), sync_root.join(name).join("files")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Plain,
    /// One zstd frame holding the whole file.
    Compressed,
}

/// One file's copy, as it was when found (a sync replaces copies by rename: this one stays
/// readable while it is held open or found again).
#[derive(Debug, Clone)]
pub struct Copy {
    pub path: PathBuf,
    pub form: Form,
    /// Bytes of the file (uncompressed).
    pub size: u64,
}

/// Why a path was refused, naming `path`.
fn refuse(path: &str, why: &str) -> ApiError {
    ApiError::bad_request("path", &format!("{path:?}: {why}"))
}

impl Copy {
    /// The copy of `relative` inside `root`, after resolving symlinks: NUL bytes, absolute
    /// paths, `..` and links leading out of the root are refused naming `path`.
    pub fn find(root: &Path, relative: &str) -> Result<Self, ApiError> {
        if relative.is_empty() {
            return Err(refuse(relative, "is empty"));
        }
        if relative.contains('\0') {
            return Err(refuse(relative, "holds a NUL byte"));
        }
        let p = Path::new(relative);
        if p.is_absolute() {
            return Err(refuse(relative, "must be relative to the target's sync root"));
        }
        if p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(refuse(relative, "may not go up with .."));
        }
        if let Some(plain) = relative.strip_suffix(COMPRESSED_SUFFIX) {
            return Err(refuse(relative, &format!("names a compressed copy; ask for {plain:?}")));
        }
        let real_root = root.canonicalize().map_err(internal)?;
        let mut packed = root.join(p).into_os_string();
        packed.push(COMPRESSED_SUFFIX);
        for (candidate, form) in [(root.join(p), Form::Plain), (PathBuf::from(packed), Form::Compressed)] {
            let real = match candidate.canonicalize() {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(internal(e)),
            };
            if !real.starts_with(&real_root) {
                return Err(refuse(relative, "leads out of the sync root"));
            }
            if !real.is_file() {
                return Err(refuse(relative, "is not a file"));
            }
            let size = match form {
                Form::Plain => real.metadata().map_err(internal)?.len(),
                Form::Compressed => content_size(&real).map_err(internal)?,
            };
            return Ok(Self { path: real, form, size });
        }
        Err(ApiError::NotFound(format!("log file {relative:?}")))
    }

    /// The file from its start.
    pub fn reader(&self) -> std::io::Result<Box<dyn BufRead + Send>> {
        let f = std::fs::File::open(&self.path)?;
        Ok(match self.form {
            Form::Plain => Box::new(BufReader::with_capacity(1 << 16, f)),
            Form::Compressed => Box::new(BufReader::with_capacity(1 << 16, zstd::Decoder::new(f)?)),
        })
    }

    /// Bytes `offset..offset + len` (fewer where the file ends).
    pub fn range(&self, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        match self.form {
            Form::Plain => {
                let mut f = std::fs::File::open(&self.path)?;
                f.seek(SeekFrom::Start(offset))?;
                f.take(len).read_to_end(&mut buf)?;
            }
            Form::Compressed => {
                let mut r = self.reader()?;
                std::io::copy(&mut (&mut r).take(offset), &mut std::io::sink())?;
                r.take(len).read_to_end(&mut buf)?;
            }
        }
        Ok(buf)
    }

    /// The offset where the last `n` lines start (a last line without its newline counts).
    pub fn tail_start(&self, n: usize) -> std::io::Result<u64> {
        match self.form {
            Form::Plain => tail_start(&mut std::fs::File::open(&self.path)?, self.size, n),
            Form::Compressed => {
                // No reading back in a compressed stream: one pass, keeping the starts of the
                // last n lines.
                let mut starts = std::collections::VecDeque::with_capacity(n + 1);
                let mut r = self.reader()?;
                let mut at = 0u64;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    let read = r.read_until(b'\n', &mut line)? as u64;
                    if read == 0 {
                        break;
                    }
                    starts.push_back(at);
                    if starts.len() > n {
                        starts.pop_front();
                    }
                    at += read;
                }
                Ok(starts.front().copied().unwrap_or(at))
            }
        }
    }
}

/// The uncompressed length a zstd frame declares (retention writes it), or counted.
fn content_size(path: &Path) -> std::io::Result<u64> {
    let mut head = [0u8; 18];
    let mut f = std::fs::File::open(path)?;
    let got = f.read(&mut head)?;
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(&head[..got]) {
        return Ok(size);
    }
    std::io::copy(&mut zstd::Decoder::new(std::fs::File::open(path)?)?, &mut std::io::sink())
}

/// The start offset of the last `n` lines of `f` (of `size` bytes), reading back from the end.
fn tail_start(f: &mut std::fs::File, size: u64, n: usize) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut end = size;
    // A last line without its newline counts as a line.
    let mut newlines = 0usize;
    let mut skip_last = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut buf = vec![0; (end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        for (i, b) in buf.iter().enumerate().rev() {
            if *b == b'\n' {
                if skip_last && start + i as u64 == size - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        skip_last = false;
        end = start;
    }
    Ok(0)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copies(dir: &Path, name: &str, body: &str) -> [Copy; 2] {
        std::fs::write(dir.join(name), body).unwrap();
        let plain = Copy::find(dir, name).unwrap();
        let packed = format!("{name}.old{COMPRESSED_SUFFIX}");
        let mut enc = zstd::Encoder::new(std::fs::File::create(dir.join(&packed)).unwrap(), 3).unwrap();
        enc.set_pledged_src_size(Some(body.len() as u64)).unwrap();
        std::io::Write::write_all(&mut enc, body.as_bytes()).unwrap();
        enc.finish().unwrap();
        let compressed = Copy::find(dir, &format!("{name}.old")).unwrap();
        assert_eq!((plain.form, compressed.form), (Form::Plain, Form::Compressed));
        [plain, compressed]
    }

    #[test]
    fn the_tail_starts_at_the_nth_line_from_the_end_in_either_form() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (body, n, want)) in [
            ("a\nb\nc\n", 1, "c\n"),
            ("a\nb\nc\n", 2, "b\nc\n"),
            ("a\nb\nc", 1, "c"),
            ("a\nb\nc", 2, "b\nc"),
            ("a\nb\nc\n", 9, "a\nb\nc\n"),
            ("", 3, ""),
        ]
        .into_iter()
        .enumerate()
        {
            for copy in copies(dir.path(), &format!("f{i}"), body) {
                let start = copy.tail_start(n).unwrap() as usize;
                assert_eq!(&body[start..], want, "{body:?} tail {n} ({:?})", copy.form);
                assert_eq!(copy.size, body.len() as u64);
            }
        }
        let long: String = (0..100_000).map(|i| format!("{i}\n")).collect();
        for copy in copies(dir.path(), "long", &long) {
            let start = copy.tail_start(20_000).unwrap() as usize;
            assert_eq!(long[start..].lines().next(), Some("80000"), "{:?}", copy.form);
            let range = copy.range(start as u64, 6).unwrap();
            assert_eq!(range, b"80000\n", "{:?}", copy.form);
        }
    }

    #[test]
    fn paths_leaving_the_root_or_naming_a_compressed_copy_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        std::fs::write(root.join(format!("a.log{COMPRESSED_SUFFIX}")), "x").unwrap();
        for bad in ["", "a\0b", "/etc/passwd", "../secret", "x/../../secret", "link", "a.log.tailrace.zst"] {
            match Copy::find(&root, bad) {
                Err(ApiError::BadRequest { field, .. }) => assert_eq!(field, "path", "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
