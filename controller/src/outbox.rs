//! [`Outbox`]: reports waiting for the hub, one file each in a directory, named by report time
//! so they leave in the order they were made. A report is written whole (temporary file,
//! fsync, rename, fsync of the directory) before it counts as made, and removed only once the
//! hub has stored it: a controller killed at any moment loses no report, and one it sent but
//! had not yet removed is sent again with the same message id: the stream drops it within its
//! duplicate window (2 min), and the hub's tables count a report once by (customer, report
//! time) beyond it.
//!
//! A report the hub refuses for what it says (a 4xx) would block every later one: it moves to
//! `refused/` with the reason beside it, for an operator to read.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tailrace_schemas::Report;

/// The file holding where the last report's window ended (nanoseconds).
const WINDOW_END: &str = ".window-end";

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("the outbox {path}: {source}")]
pub struct OutboxError {
    path: PathBuf,
    source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError { path: path.to_owned(), source }
}

/// A report waiting, as stored.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Outbox {
    pub fn open(dir: &Path) -> Result<Self, OutboxError> {
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        // A report half written when the controller died never counted as made.
        for entry in std::fs::read_dir(dir).map_err(err(dir))?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// Where the last report's window ended (kept beside the reports, so a restarted
    /// controller's first window starts there and no line falls between runs).
    pub fn window_end(&self) -> Option<tailrace_schemas::Timestamp> {
        let text = std::fs::read_to_string(self.dir.join(WINDOW_END)).ok()?;
        text.trim().parse().ok().map(tailrace_schemas::Timestamp::from_nanos)
    }

    pub fn set_window_end(&self, t: tailrace_schemas::Timestamp) -> Result<(), OutboxError> {
        let path = self.dir.join(WINDOW_END);
        let tmp = self.dir.join(format!("{WINDOW_END}.tmp"));
        std::fs::write(&tmp, t.as_nanos().to_string()).map_err(err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(err(&path))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `report` (it has its time) durably.
    pub fn put(&self, report: &Report) -> Result<PathBuf, OutboxError> {
        let at = report.reported_at.map_or(0, |t| t.as_nanos());
        let path = self.dir.join(format!("{at:020}.json"));
        let tmp = self.dir.join(format!(".{at:020}.json.tmp"));
        let bytes = serde_json::to_vec(report).expect("reports serialize");
        let mut f = File::create(&tmp).map_err(err(&tmp))?;
        f.write_all(&bytes).map_err(err(&tmp))?;
        f.sync_all().map_err(err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(err(&path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(err(&self.dir))?;
        Ok(path)
    }

    /// The reports waiting, oldest first.
    pub fn waiting(&self) -> Result<Vec<PathBuf>, OutboxError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(err(&self.dir))? {
            let path = entry.map_err(err(&self.dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json") && !name.starts_with('.') {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn oldest(&self) -> Result<Option<Waiting>, OutboxError> {
        let Some(path) = self.waiting()?.into_iter().next() else { return Ok(None) };
        let bytes = std::fs::read(&path).map_err(err(&path))?;
        Ok(Some(Waiting { path, bytes }))
    }

    /// The hub has it. Made durable, so a power loss does not bring it back to be sent again.
    pub fn sent(&self, w: &Waiting) -> Result<(), OutboxError> {
        std::fs::remove_file(&w.path).map_err(err(&w.path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(err(&self.dir))
    }

    /// The hub refused it for what it says: kept aside with `reason`.
    pub fn refused(&self, w: &Waiting, reason: &str) -> Result<PathBuf, OutboxError> {
        let dir = self.dir.join("refused");
        std::fs::create_dir_all(&dir).map_err(err(&dir))?;
        let to = dir.join(w.path.file_name().expect("a report file has a name"));
        std::fs::write(to.with_extension("reason"), reason).map_err(err(&to))?;
        std::fs::rename(&w.path, &to).map_err(err(&to))?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailrace_schemas::Timestamp;

    fn report(s: i64) -> Report {
        Report {
            v: 1,
            customer_id: "acme".into(),
            reported_at: Some(Timestamp::from_unix_seconds(s)),
            controller_version: None,
            hostname: None,
            app_telemetry: vec![],
        }
    }

    #[test]
    fn reports_leave_oldest_first_and_refused_ones_are_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for s in [1_800_000_300, 1_800_000_000, 1_800_000_600] {
            outbox.put(&report(s)).unwrap();
        }
        let first = outbox.oldest().unwrap().unwrap();
        let r: Report = serde_json::from_slice(&first.bytes).unwrap();
        assert_eq!(r, report(1_800_000_000));
        outbox.sent(&first).unwrap();
        let second = outbox.oldest().unwrap().unwrap();
        let kept = outbox.refused(&second, "400 customer_id: …").unwrap();
        assert!(kept.exists() && kept.with_extension("reason").exists());
        let third: Report = serde_json::from_slice(&outbox.oldest().unwrap().unwrap().bytes).unwrap();
        assert_eq!(third, report(1_800_000_600));
        assert_eq!(outbox.waiting().unwrap().len(), 1);
    }
}
