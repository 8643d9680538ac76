//! One row of the issue table, and how an occurrence changes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tailrace_schemas::{IssueOccurrence, Severity, Timestamp};

use crate::names::Names;

/// Hosts listed per issue at most (the count of distinct hosts beyond it is still kept).
pub const MAX_HOSTS: usize = 100;
/// Customers listed per issue at most (beyond it they are counted).
pub const MAX_CUSTOMERS: usize = 10_000;
/// Hours of per-hour counts kept for the trend (30 days).
pub const TREND_HOURS: i64 = 30 * 24;

const HOUR_NANOS: i64 = 3_600_000_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueRow {
    pub scope: String,
    pub fingerprint: String,
    pub severity: Severity,
    /// The event template (`<*>` for variables), as last reported.
    pub message: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub count: u64,
    /// Hosts it was seen on (at most [`MAX_HOSTS`]).
    pub hosts: BTreeSet<String>,
    /// Hosts seen beyond those listed.
    #[serde(default)]
    pub more_hosts: u64,
    /// Sources (files) it was seen in, as named in subjects.
    #[serde(default)]
    pub sources: BTreeSet<String>,
    /// Customers it was reported by (controllers' reports), each with its latest report of it.
    /// Hashed: a fleet's issue has a thousand customers, looked up on every report of it and
    /// decoded and encoded once per window (stored as the same MessagePack map as a sorted one).
    #[serde(default)]
    pub customers: Names<Timestamp>,
    /// Customers beyond those listed.
    #[serde(default)]
    pub more_customers: u64,
    /// The app it was reported for, if a controller reported it.
    #[serde(default)]
    pub app: Option<String>,
    /// One real line, as last reported.
    pub sample: String,
    /// Occurrences per hour (hour number since the epoch → count), the last [`TREND_HOURS`].
    pub hourly: BTreeMap<i64, u64>,
}

/// The key of an issue: scope, NUL, fingerprint (a scope's issues are one prefix).
pub fn key(scope: &str, fingerprint: &str) -> Vec<u8> {
    [PREFIX, scope.as_bytes(), b"\0", fingerprint.as_bytes()].concat()
}

/// The key of the marks of one customer's report: which of its issues were counted (a replay
/// of the report counts none again). One row per report, not per issue: a report names a dozen
/// issues, and a row each made the marks most of the table's writes and lookups.
pub fn report_key(occ: &IssueOccurrence) -> Option<Vec<u8>> {
    let (customer, at) = (occ.customer.as_ref()?, occ.reported_at?);
    Some([REPORT_PREFIX, customer.as_str().as_bytes(), b"\0", &at.as_nanos().to_be_bytes()].concat())
}

pub(crate) const REPORT_PREFIX: &[u8] = b"report/";

/// The issues of one report that were counted, as (scope, fingerprint).
pub type ReportMarks = Vec<(String, String)>;

/// Marks the issue (`scope`, `fingerprint`) counted in its report's `marks`; false if it was
/// already.
pub(crate) fn mark(marks: &mut ReportMarks, scope: &str, fingerprint: &str) -> bool {
    if marks.iter().any(|(s, f)| s == scope && f == fingerprint) {
        return false;
    }
    marks.push((scope.to_owned(), fingerprint.to_owned()));
    true
}

/// Layout 1 marked each issue of a report under its own key: the report's key, then scope, NUL,
/// fingerprint. Returns the report's key and the (scope, fingerprint) such a key marks.
pub(crate) fn split_layout1_mark(key: &[u8]) -> Option<(Vec<u8>, (String, String))> {
    let rest = key.strip_prefix(REPORT_PREFIX)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let report_end = REPORT_PREFIX.len() + nul + 1 + 8; // customer, NUL, report time
    let rest = key.get(report_end..).filter(|r| !r.is_empty())?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let scope = String::from_utf8_lossy(&rest[..nul]).into_owned();
    let fingerprint = String::from_utf8_lossy(&rest[nul + 1..]).into_owned();
    Some((key[..report_end].to_vec(), (scope, fingerprint)))
}

/// The prefix of every issue key (and of a scope's, with the scope and NUL after it).
pub(crate) const PREFIX: &[u8] = b"issue/";

pub(crate) fn hour_of(t: Timestamp) -> i64 {
    t.as_nanos().div_euclid(HOUR_NANOS)
}

impl IssueRow {
    /// A row for `occ`'s issue, whose fingerprint as text is `fingerprint`.
    pub fn new(occ: &IssueOccurrence, fingerprint: &str) -> Self {
        Self {
            scope: occ.scope.as_str().to_owned(),
            fingerprint: fingerprint.to_owned(),
            severity: occ.severity,
            message: occ.message.clone(),
            first_seen: occ.first_seen,
            last_seen: occ.last_seen,
            count: 0,
            hosts: BTreeSet::new(),
            more_hosts: 0,
            sources: BTreeSet::new(),
            customers: Names::default(),
            more_customers: 0,
            app: occ.app.as_ref().map(|a| a.as_str().to_owned()),
            sample: String::new(),
            hourly: BTreeMap::new(),
        }
    }

    /// Adds one occurrence (a window's count of the issue on one host, or one report's count of
    /// it at one customer).
    pub fn absorb(&mut self, occ: &IssueOccurrence) {
        if let Some(c) = &occ.customer {
            let at = occ.reported_at.unwrap_or(occ.last_seen);
            let listed = self.customers.len();
            match self.customers.get_mut(c.as_str()) {
                Some(seen) => *seen = (*seen).max(at),
                None if listed < MAX_CUSTOMERS => {
                    self.customers.insert(c.as_str().into(), at);
                }
                None => self.more_customers += 1,
            }
        }
        if self.app.is_none() {
            self.app = occ.app.as_ref().map(|a| a.as_str().to_owned());
        }
        self.count += occ.count;
        self.first_seen = self.first_seen.min(occ.first_seen);
        if occ.last_seen >= self.last_seen {
            // The latest report speaks for the template, the severity and the sample.
            self.last_seen = occ.last_seen;
            self.message.clone_from(&occ.message);
            self.severity = occ.severity;
            if !occ.sample.is_empty() {
                self.sample.clone_from(&occ.sample);
            }
        }
        if let Some(host) = &occ.host {
            if !self.hosts.contains(host.as_str()) {
                if self.hosts.len() < MAX_HOSTS {
                    self.hosts.insert(host.as_str().to_owned());
                } else {
                    self.more_hosts += 1;
                }
            }
        }
        if let Some(source) = &occ.source {
            if self.sources.len() < MAX_HOSTS {
                self.sources.insert(source.as_str().to_owned());
            }
        }
        let hour = hour_of(occ.last_seen);
        *self.hourly.entry(hour).or_insert(0) += occ.count;
        let newest = *self.hourly.keys().next_back().unwrap_or(&hour);
        // The oldest hours go from the front: scanning the whole trend on every occurrence
        // grew with the trend (720 hours) and was most of this sink's work on a month of reports.
        while self.hourly.first_key_value().is_some_and(|(h, _)| *h <= newest - TREND_HOURS) {
            self.hourly.pop_first();
        }
    }

    /// Occurrences in the hours since `since` (by the hour they were reported in).
    pub fn count_since(&self, since: Timestamp) -> u64 {
        self.hourly.range(hour_of(since)..).map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occ(host: &str, count: u64, at: i64) -> IssueOccurrence {
        IssueOccurrence {
            v: 1,
            scope: "db".into(),
            fingerprint: tailrace_schemas::Fingerprint(0x0011_2233_aabb_ccdd),
            severity: Severity::Error,
            message: "connection to <*> refused".into(),
            count,
            first_seen: Timestamp::from_unix_seconds(at),
            last_seen: Timestamp::from_unix_seconds(at + 5),
            sample: format!("connection to 10.0.0.{count} refused"),
            host: Some(host.into()),
            source: Some("postgres".into()),
            app: None,
            customer: None,
            reported_at: None,
        }
    }

    #[test]
    fn occurrences_add_up_and_the_trend_is_per_hour() {
        let mut row = IssueRow::new(&occ("a", 3, 1_000_000), "aa");
        row.absorb(&occ("a", 3, 1_000_000));
        row.absorb(&occ("b", 4, 1_000_000 + 7200));
        assert_eq!(row.count, 7);
        assert_eq!(row.hosts.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(row.first_seen, Timestamp::from_unix_seconds(1_000_000));
        assert_eq!(row.hourly.values().copied().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(row.count_since(Timestamp::from_unix_seconds(1_000_000 + 3600)), 4);
        assert_eq!(row.sample, "connection to 10.0.0.4 refused");
    }

    #[test]
    fn the_trend_keeps_thirty_days_and_hosts_are_capped() {
        let mut row = IssueRow::new(&occ("h0", 1, 0), "aa");
        for i in 0..(MAX_HOSTS as i64 + 10) {
            row.absorb(&occ(&format!("h{i}"), 1, i * 3600 * 24));
        }
        assert_eq!(row.hosts.len(), MAX_HOSTS);
        assert_eq!(row.more_hosts, 10);
        assert!(row.hourly.len() <= 30, "one entry a day for 30 days at most: {}", row.hourly.len());
    }

    #[test]
    fn the_trend_drops_exactly_the_hours_a_month_before_the_newest() {
        let hour = 3600;
        let mut row = IssueRow::new(&occ("a", 1, 0), "aa");
        for h in 0..10 {
            row.absorb(&occ("a", 1, h * hour));
        }
        row.absorb(&occ("a", 1, (TREND_HOURS + 2) * hour));
        let hours = |row: &IssueRow| row.hourly.keys().copied().collect::<Vec<_>>();
        assert_eq!(hours(&row), [3, 4, 5, 6, 7, 8, 9, TREND_HOURS + 2]);
        // Late occurrences: one of an hour still in the trend adds to it, an older one is not kept.
        row.absorb(&occ("a", 5, 4 * hour));
        row.absorb(&occ("a", 1, hour));
        assert_eq!(row.hourly[&4], 6);
        assert_eq!(hours(&row), [3, 4, 5, 6, 7, 8, 9, TREND_HOURS + 2]);
        assert_eq!(row.count, 17, "every occurrence counts, whether or not its hour is kept");
    }
}
