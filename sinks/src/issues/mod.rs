//! The issue table: every [`IssueOccurrence`] of `issues.>` folded into one row per (scope,
//! fingerprint) with its severity, template, first and last seen, occurrence count, affected
//! hosts, a sample line and counts per hour (the trend). [`IssuesView`] answers the queries.

mod query;
mod row;

pub use query::{IssueQuery, IssueSort, IssuesPage, IssuesView};
pub use row::{IssueRow, MAX_HOSTS, TREND_HOURS};

use tailrace_schemas::{decode, IssueOccurrence, StreamName, SubjectFilter};

use crate::runtime::Sink;
use crate::staged::Staged;

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

    fn apply(&self, rows: &mut Staged, _subject: &str, payload: &[u8]) -> Result<(), String> {
        let occ: IssueOccurrence = decode(payload).map_err(|e| e.to_string())?;
        let key = row::key(occ.scope.as_str(), &occ.fingerprint.to_string());
        let mut issue = match rows.row::<IssueRow>(&key) {
            Ok(Some(existing)) => existing,
            Ok(None) => IssueRow::new(&occ),
            // Unreadable (damaged) rows are started over rather than stopping the table.
            Err(crate::staged::RowError::Decode { .. }) => IssueRow::new(&occ),
            Err(e) => return Err(e.to_string()),
        };
        issue.absorb(&occ);
        rows.put_row(key, &issue);
        Ok(())
    }
}
