//! [`IssuesView`]: the read side of the issue table, for the gateway. It only reads.

use std::time::Duration;

use serde::Serialize;
use tailrace_schemas::{Severity, Timestamp};

use super::row::{self, IssueRow};
use crate::tables::{Tables, TablesError};

/// How issues are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    /// Most occurrences first (within the window, when one is given).
    #[default]
    Count,
    LastSeen,
    FirstSeen,
}

/// A query of the issue table.
#[derive(Debug, Clone, Default)]
pub struct IssueQuery {
    pub scope: Option<String>,
    /// At least this severity.
    pub severity: Option<Severity>,
    /// Counted over the last this long (by hour); issues with none in it are left out.
    pub window: Option<Duration>,
    pub sort: IssueSort,
    pub limit: usize,
    pub offset: usize,
}

/// One page of a query, with the number of issues that matched.
#[derive(Debug, Clone, Serialize)]
pub struct IssuesPage {
    pub total: usize,
    pub issues: Vec<ListedIssue>,
}

/// An issue as a list shows it: the row, and its count in the query's window.
#[derive(Debug, Clone, Serialize)]
pub struct ListedIssue {
    #[serde(flatten)]
    pub row: IssueRow,
    /// Occurrences in the window (the whole count without one).
    pub window_count: u64,
}

/// Read-only access to the issue table.
#[derive(Debug, Clone)]
pub struct IssuesView {
    tree: sled::Tree,
    tables: Tables,
}

impl IssuesView {
    pub fn new(tables: &Tables) -> Result<Self, TablesError> {
        Ok(Self { tree: tables.tree("issues")?, tables: tables.clone() })
    }

    /// One issue.
    pub fn get(&self, scope: &str, fingerprint: &str) -> Result<Option<IssueRow>, TablesError> {
        match self.tree.get(row::key(scope, fingerprint)).map_err(|e| self.tables.err(e))? {
            Some(bytes) => Ok(rmp_serde::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    }

    /// The issues matching `q`, sorted, one page of them. (A scan of the table: fine for tens
    /// of thousands of issues; the count per window comes from each row's hours.)
    pub fn list(&self, q: &IssueQuery, now: Timestamp) -> Result<IssuesPage, TablesError> {
        let prefix = match &q.scope {
            Some(scope) => [row::PREFIX, scope.as_bytes(), b"\0"].concat(),
            None => row::PREFIX.to_vec(),
        };
        let since = q.window.map(|w| now.saturating_add_nanos(-(w.as_nanos().min(i64::MAX as u128) as i64)));
        let mut matched = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (_, bytes) = item.map_err(|e| self.tables.err(e))?;
            let Ok(row) = rmp_serde::from_slice::<IssueRow>(&bytes) else { continue };
            if q.severity.is_some_and(|min| row.severity < min) {
                continue;
            }
            let window_count = since.map_or(row.count, |s| row.count_since(s));
            if since.is_some() && window_count == 0 {
                continue;
            }
            matched.push(ListedIssue { row, window_count });
        }
        match q.sort {
            IssueSort::Count => matched.sort_by(|a, b| {
                b.window_count.cmp(&a.window_count).then(b.row.last_seen.cmp(&a.row.last_seen))
            }),
            IssueSort::LastSeen => matched.sort_by_key(|i| std::cmp::Reverse(i.row.last_seen)),
            IssueSort::FirstSeen => matched.sort_by_key(|i| std::cmp::Reverse(i.row.first_seen)),
        }
        let total = matched.len();
        let issues = matched.into_iter().skip(q.offset).take(q.limit.max(1)).collect();
        Ok(IssuesPage { total, issues })
    }
}
