//! The logs of apps that are cgroups, not containers: their log files (the lines appended since
//! the last scan) and their unit's journal (`journalctl -o json`, its priority as the severity).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tailrace_schemas::{Severity, Timestamp};

/// Where each file's last scan ended, and which file that was (its inode: a log rotated by
/// renaming is a new file at the same path, read from its start).
#[derive(Debug, Default)]
pub struct FileCursors {
    at: HashMap<PathBuf, (u64, u64)>,
    /// How far back a file seen for the first time is read (0: from its end, so a report
    /// counts what was written in its window).
    pub first_read_back: u64,
}

/// Bytes of one file read per scan at most: a log that grew by more is read from the end (a
/// scan's cost stays bounded however much a file grew).
const MAX_READ: u64 = 16 << 20;

fn identity(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

impl FileCursors {
    /// Marks where `path` ends now, if it was never seen: its first scan starts there.
    pub fn start(&mut self, path: &Path) {
        if self.at.contains_key(path) {
            return;
        }
        if let Ok(meta) = std::fs::metadata(path) {
            let from = meta.len().saturating_sub(self.first_read_back);
            self.at.insert(path.to_owned(), (identity(&meta), from));
        }
    }

    /// Calls `line` with each whole line appended to `path` since the last call. A file that
    /// is another file now (rotated), or shrank (truncated), is read from its start.
    pub fn read_new(&mut self, path: &Path, mut line: impl FnMut(&[u8])) -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        let (len, id) = (meta.len(), identity(&meta));
        let start = match self.at.get(path) {
            Some(&(known, at)) if known == id && at <= len => at,
            Some(_) => 0,
            None => len.saturating_sub(self.first_read_back),
        };
        let start = start.max(len.saturating_sub(MAX_READ));
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::with_capacity((len - start) as usize);
        file.take(len - start).read_to_end(&mut bytes)?;
        // A line still being written waits for the next scan.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for raw in bytes[..whole].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            line(raw);
        }
        self.at.insert(path.to_owned(), (id, start + whole as u64));
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("running journalctl: {0}")]
    Run(#[from] std::io::Error),
    #[error("journalctl for {unit} failed: {stderr}")]
    Failed { unit: String, stderr: String },
}

/// Calls `line` with each journal entry of `unit` after `after` and at or before `until`: its
/// message, time, and the severity its priority states (0–3 error, 4 warning; others are left
/// to the text). Gives up after `timeout`; returns whether it finished.
pub async fn journal(
    unit: &str,
    after: Timestamp,
    until: Timestamp,
    timeout: Duration,
    mut line: impl FnMut(&[u8], Timestamp, Option<Severity>),
) -> Result<bool, JournalError> {
    let run = tokio::process::Command::new("journalctl")
        .args(["--no-pager", "-o", "json", "-u", unit])
        .arg(format!("--since=@{}", after.as_unix_seconds()))
        .arg(format!("--until=@{}", until.as_unix_seconds() + 1))
        .kill_on_drop(true)
        .output();
    let Ok(out) = tokio::time::timeout(timeout, run).await else { return Ok(false) };
    let out = out?;
    if !out.status.success() {
        return Err(JournalError::Failed {
            unit: unit.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    for raw in out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(entry) = serde_json::from_slice::<serde_json::Value>(raw) else { continue };
        let Some(at) = entry["__REALTIME_TIMESTAMP"]
            .as_str()
            .and_then(|us| us.parse::<i64>().ok())
            .map(|us| Timestamp::from_nanos(us.saturating_mul(1000)))
        else {
            continue;
        };
        if at <= after || at > until {
            continue;
        }
        // The journal gives a message that is not UTF-8 as an array of bytes.
        let message: Vec<u8> = match &entry["MESSAGE"] {
            serde_json::Value::String(s) => s.as_bytes().to_vec(),
            serde_json::Value::Array(bytes) => {
                bytes.iter().filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())).collect()
            }
            _ => continue,
        };
        let stated = match entry["PRIORITY"].as_str().and_then(|p| p.parse::<u8>().ok()) {
            Some(0..=3) => Some(Severity::Error),
            Some(4) => Some(Severity::Warn),
            _ => None,
        };
        line(&message, at, stated);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_only_whole_lines_appended_since_the_last_scan_and_restarts_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "before the controller\n").unwrap();
        let mut cursors = FileCursors::default();
        let mut seen = Vec::new();
        cursors.read_new(&path, |l| seen.push(String::from_utf8_lossy(l).into_owned())).unwrap();
        assert!(seen.is_empty(), "a file is first read from its end");

        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        write!(f, "one\ntwo\nhal").unwrap();
        cursors.read_new(&path, |l| seen.push(String::from_utf8_lossy(l).into_owned())).unwrap();
        assert_eq!(seen, ["one", "two"]);
        writeln!(f, "f").unwrap();
        cursors.read_new(&path, |l| seen.push(String::from_utf8_lossy(l).into_owned())).unwrap();
        assert_eq!(seen, ["one", "two", "half"]);

        std::fs::write(&path, "new\n").unwrap(); // truncated: smaller than where we were
        cursors.read_new(&path, |l| seen.push(String::from_utf8_lossy(l).into_owned())).unwrap();
        assert_eq!(seen.last().unwrap(), "new");

        // Rotated by renaming: the new file is already longer than the old offset.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, "first of the new file, a long line\nsecond\n").unwrap();
        cursors.read_new(&path, |l| seen.push(String::from_utf8_lossy(l).into_owned())).unwrap();
        assert_eq!(&seen[seen.len() - 2..], ["first of the new file, a long line", "second"]);
    }
}
