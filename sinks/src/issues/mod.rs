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

    fn apply(&self, rows: &mut Staged, message: &Delivery) -> Result<(), String> {
        let payload = message.payload();
        let occ: IssueOccurrence = decode(payload).map_err(|e| e.to_string())?;
        let key = row::key(occ.scope.as_str(), &occ.fingerprint.to_string());
        if let Some(report) = row::report_key(&occ) {
            if rows.contains(&report).map_err(|e| e.to_string())? {
                return Ok(()); // this customer's report was counted: a redelivery or a replay
            }
            rows.insert(report, Vec::new());
        }
        rows.entry(&key, || IssueRow::new(&occ)).map_err(|e| e.to_string())?.absorb(&occ);
        Ok(())
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
        for item in tree.scan_prefix(row::REPORT_PREFIX) {
            let (key, _) = item.map_err(|e| e.to_string())?;
            if row::report_key_issue(&key).is_some_and(|issue| stale.contains(&issue)) {
                gone.push(key.to_vec());
            }
        }
        let removed = gone.len() as u64;
        for key in gone {
            rows.remove(key);
        }
        Ok(removed)
    }
}
