//! The issue table: every [`IssueOccurrence`] of `issues.>` folded into one row per (scope,
//! fingerprint) with its severity, template, first and last seen, occurrence count, affected
//! hosts, affected customers (for issues controllers report), a sample line and counts per hour
//! (the trend). A customer's report of an issue is counted once: a key per (customer, report
//! time, issue) marks it, and an occurrence whose mark exists (a redelivery past the duplicate
//! window, a replay) changes nothing. [`IssuesView`] answers the queries.

mod query;
mod row;

pub use query::{IssueQuery, IssueSort, IssuesPage, IssuesView};
pub use row::{IssueRow, MAX_CUSTOMERS, MAX_HOSTS, TREND_HOURS};

use tailrace_schemas::{decode, IssueOccurrence, StreamName, SubjectFilter, Timestamp};

use crate::retention::RetentionConfig;

use crate::runtime::Sink;
use crate::staged::Staged;
use tailrace_nats::Delivery;

/// The `issues` sink.
#[derive(Debug, Default)]
pub struct IssuesSink;

impl Sink for IssuesSink {
    fn name(&self) -> &'static str {
        "issues"
    }

    fn input(&self) -> (StreamName, Vec<SubjectFilter>) {
        (StreamName::ISSUES, Vec::new())
    }

    /// A second: a fleet's reports bring one issue from hundreds of customers, and every window
    /// decodes and encodes each row it touches (its customers, its hourly trend) once.
    fn window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    fn apply(&self, rows: &mut Staged, message: &Delivery) -> Result<(), String> {
        let payload = message.payload();
        let occ: IssueOccurrence = decode(payload).map_err(|e| e.to_string())?;
        let (scope, fingerprint) = (occ.scope.as_str(), occ.fingerprint.to_string());
        if let Some(report) = row::report_key(&occ) {
            let marks = rows.entry(&report, row::ReportMarks::new).map_err(|e| e.to_string())?;
            if !row::mark(marks, scope, &fingerprint) {
                return Ok(()); // this customer's report was counted: a redelivery or a replay
            }
        }
        let key = row::key(scope, &fingerprint);
        rows.entry(&key, || IssueRow::new(&occ, &fingerprint)).map_err(|e| e.to_string())?.absorb(&occ);
        Ok(())
    }

    /// 2: one row of marks per report (1 was a key per issue of a report; migrated).
    fn layout(&self) -> u32 {
        2
    }

    fn migrate(&self, tree: &sled::Tree, from: u32) -> Result<bool, sled::Error> {
        if from != 1 {
            return Ok(false);
        }
        let mut reports: std::collections::BTreeMap<Vec<u8>, row::ReportMarks> = Default::default();
        let mut batch = sled::Batch::default();
        for item in tree.scan_prefix(row::REPORT_PREFIX) {
            let (key, _) = item?;
            if let Some((report, issue)) = row::split_layout1_mark(&key) {
                reports.entry(report).or_default().push(issue);
                batch.remove(key);
            }
        }
        for (report, marks) in reports {
            batch.insert(report, crate::staged::encode(&marks));
        }
        tree.apply_batch(batch)?;
        Ok(true)
    }

    /// Issues not seen since the cutoff go, with the marks of the reports counted in them.
    fn retain(&self, rows: &mut Staged, now: Timestamp, keep: &RetentionConfig) -> Result<u64, String> {
        let cutoff = crate::retention::cutoff(now, keep.issues);
        let tree = rows.tree().clone();
        let mut gone = Vec::new();
        let mut stale = std::collections::HashSet::new();
        for item in tree.scan_prefix(row::PREFIX) {
            let (key, value) = item.map_err(|e| e.to_string())?;
            if rmp_serde::from_slice::<IssueRow>(&value).map_or(true, |r| r.last_seen < cutoff) {
                if let Ok(r) = rmp_serde::from_slice::<IssueRow>(&value) {
                    stale.insert((r.scope, r.fingerprint));
                }
                gone.push(key.to_vec());
            }
        }
        let mut kept = Vec::new();
        for item in tree.scan_prefix(row::REPORT_PREFIX) {
            let (key, value) = item.map_err(|e| e.to_string())?;
            let Ok(mut marks) = rmp_serde::from_slice::<row::ReportMarks>(&value) else {
                gone.push(key.to_vec()); // damaged: it can only guard what it no longer names
                continue;
            };
            let before = marks.len();
            marks.retain(|issue| !stale.contains(issue));
            if marks.is_empty() {
                gone.push(key.to_vec());
            } else if marks.len() < before {
                kept.push((key.to_vec(), marks));
            }
        }
        let removed = gone.len() as u64;
        for key in gone {
            rows.remove(key);
        }
        for (key, marks) in kept {
            rows.put_row(key, &marks);
        }
        Ok(removed)
    }
}
