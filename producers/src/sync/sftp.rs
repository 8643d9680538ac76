//! [`SftpSource`]: a target's directory read over the SFTP subsystem of an SSH session, for
//! hosts that allow SFTP only (`ForceCommand internal-sftp`: no shell, so no `find` and no
//! `tail`). The listing walks directories (symbolic links not followed); a range is read as
//! requests of [`CHUNK`] bytes, [`IN_FLIGHT`] at a time (russh-sftp's own `File` reads ahead a
//! quarter MiB past what is asked, which would cost a verification of 4 KiB that much).
//!
//! SFTP's attributes carry no inode and whole-second times: every file's identity is 0, so a
//! file replaced by another is noticed by its size or by the verified bytes before the held end
//! (see `plan`), not by its identity.

use futures::{StreamExt, TryStreamExt};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tailrace_schemas::Timestamp;

use super::source::{Filter, Listed, Source, SourceError};
use crate::ssh::SshSession;

/// Directories deeper than this are not walked (a loop of bind mounts must end).
const MAX_DEPTH: usize = 64;
/// Bytes one read request asks for (OpenSSH answers up to 256 KiB).
const CHUNK: u64 = 64 * 1024;
/// Read requests in flight at once.
const IN_FLIGHT: usize = 16;

pub struct SftpSource {
    sftp: RawSftpSession,
    root: String,
    filter: Filter,
}

impl std::fmt::Debug for SftpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpSource").field("root", &self.root).finish_non_exhaustive()
    }
}

impl SftpSource {
    /// Opens the SFTP subsystem on `session`.
    pub async fn open(session: &SshSession, root: impl Into<String>, filter: Filter) -> Result<Self, String> {
        let channel =
            session.channel_open_session().await.map_err(|e| format!("cannot open a channel: {e}"))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| format!("the host refused the sftp subsystem: {e}"))?;
        let config = russh_sftp::client::Config { request_timeout_secs: 30, ..Default::default() };
        let sftp = RawSftpSession::new_with_config(channel.into_stream(), config);
        sftp.init().await.map_err(|e| format!("sftp: {e}"))?;
        Ok(Self { sftp, root: root.into(), filter })
    }

    /// The entries of one directory: (name, attributes).
    async fn read_dir(&self, dir: String) -> Result<Vec<(String, FileAttributes)>, SftpError> {
        let handle = self.sftp.opendir(dir).await?.handle;
        let mut out = Vec::new();
        let result = loop {
            match self.sftp.readdir(handle.as_str()).await {
                Ok(name) => out.extend(name.files.into_iter().map(|f| (f.filename, f.attrs))),
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(out),
                Err(e) => break Err(e),
            }
        };
        let _ = self.sftp.close(handle).await;
        result
    }

    /// Bytes `offset..offset + len` of an open file, fewer where it ends; a short answer in the
    /// middle is asked again for the rest.
    async fn chunk(&self, handle: &str, offset: u64, len: u64) -> Result<Vec<u8>, SftpError> {
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u64) < len {
            let at = offset + out.len() as u64;
            match self.sftp.read(handle, at, (len - out.len() as u64) as u32).await {
                Ok(data) if data.data.is_empty() => break,
                Ok(data) => out.extend_from_slice(&data.data),
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn full(&self, relative: &str) -> String {
        if relative.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{relative}", self.root.trim_end_matches('/'))
        }
    }
}

impl Source for SftpSource {
    async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        let err = |reason: String| SourceError::List { root: self.root.clone(), reason };
        let mut files = Vec::new();
        // (relative directory, depth)
        let mut pending = vec![(String::new(), 0usize)];
        while let Some((dir, depth)) = pending.pop() {
            let entries = match self.read_dir(self.full(&dir)).await {
                Ok(entries) => entries,
                // The root must be readable; a subdirectory that is not is left out.
                Err(e) if dir.is_empty() => {
                    return Err(err(format!("no such directory, or not readable: {e}")))
                }
                Err(e) => {
                    tracing::warn!(root = self.root, dir, error = %e, "sftp: a directory is not readable");
                    continue;
                }
            };
            for (name, meta) in entries {
                if name == "." || name == ".." {
                    continue;
                }
                let relative = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                let kind = meta.file_type();
                if kind.is_dir() && depth < MAX_DEPTH {
                    pending.push((relative, depth + 1));
                } else if kind.is_file() && self.filter.takes(&relative) {
                    let modified = Timestamp::from_unix_seconds(i64::from(meta.mtime.unwrap_or(0)));
                    files.push(Listed { path: relative, size: meta.len(), modified, inode: 0 });
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn read(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let err = |e: SftpError| SourceError::Read { path: path.to_owned(), reason: e.to_string() };
        let handle = self
            .sftp
            .open(self.full(path), OpenFlags::READ, FileAttributes::empty())
            .await
            .map_err(err)?
            .handle;
        let starts = (0..len.div_ceil(CHUNK)).map(|i| offset + i * CHUNK);
        let end = offset + len;
        let chunks: Result<Vec<Vec<u8>>, SftpError> = futures::stream::iter(starts)
            .map(|at| self.chunk(&handle, at, CHUNK.min(end - at)))
            .buffered(IN_FLIGHT)
            .try_collect()
            .await;
        let _ = self.sftp.close(handle.as_str()).await;
        let mut out = Vec::with_capacity(len as usize);
        for c in chunks.map_err(err)? {
            let short = (c.len() as u64) < CHUNK;
            out.extend_from_slice(&c);
            if short {
                break; // the file ends here
            }
        }
        Ok(out)
    }
}
