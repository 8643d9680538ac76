//! The issue occurrences of one input batch: lines tallied by (scope, fingerprint, host,
//! source), then capped as the seed's log scanner did: at most `per_source` issues per host and
//! source (most frequent first, then most recent), at most `total` in all. Capping one batch
//! at a time keeps the outcome a function of the batch alone, so a redelivered batch publishes
//! exactly what it did before.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tailrace_schemas::{Fingerprint, HostId, IssueOccurrence, Scope, Severity, SourceId, Timestamp};

/// Samples are cut to this many bytes.
const SAMPLE_BYTES: usize = 1024;

/// The seed's limits on issues, applied to each input batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Caps {
    /// Issues kept per host and source in one batch.
    pub per_source: usize,
    /// Issues kept in one batch in all.
    pub total: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self { per_source: 10, total: 50 }
    }
}

/// Where lines come from: looked up once per batch, not per line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    scope: Scope,
    host: HostId,
    source: SourceId,
}

#[derive(Debug, Clone)]
struct Tally {
    severity: Severity,
    count: u64,
    first_seen: Timestamp,
    last_seen: Timestamp,
    sample: String,
}

/// Occurrences tallied since the window opened.
#[derive(Debug, Default)]
pub struct Window {
    tallies: HashMap<Origin, HashMap<Fingerprint, Tally>>,
}

/// The tallies of one origin in the window.
#[derive(Debug)]
pub struct Tallies<'w> {
    tallies: &'w mut HashMap<Fingerprint, Tally>,
}

impl Tallies<'_> {
    /// Counts one line of `fingerprint` seen at `at`.
    pub fn add(&mut self, fingerprint: Fingerprint, severity: Severity, at: Timestamp, line: &str) {
        let tally = self.tallies.entry(fingerprint).or_insert_with(|| Tally {
            severity,
            count: 0,
            first_seen: at,
            last_seen: at,
            sample: sample(line),
        });
        tally.count += 1;
        tally.severity = tally.severity.max(severity);
        tally.first_seen = tally.first_seen.min(at);
        tally.last_seen = tally.last_seen.max(at);
    }
}

/// A closed window: what to publish, and how many issues the caps held back.
#[derive(Debug)]
pub struct Closed {
    pub occurrences: Vec<IssueOccurrence>,
    pub suppressed: usize,
}

/// One line of an issue.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub scope: &'a Scope,
    pub fingerprint: Fingerprint,
    pub host: &'a HostId,
    pub source: &'a SourceId,
    pub severity: Severity,
    pub at: Timestamp,
    pub line: &'a str,
}

impl Window {
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// The tallies of lines from one scope, host and source (a batch's lines share them).
    pub fn origin(&mut self, scope: &Scope, host: &HostId, source: &SourceId) -> Tallies<'_> {
        let origin = Origin { scope: scope.clone(), host: host.clone(), source: source.clone() };
        Tallies { tallies: self.tallies.entry(origin).or_default() }
    }

    /// Counts one line.
    pub fn add(&mut self, seen: Seen<'_>) {
        self.origin(seen.scope, seen.host, seen.source).add(
            seen.fingerprint,
            seen.severity,
            seen.at,
            seen.line,
        );
    }

    /// Closes the window: the capped occurrences, each with its template as `message`.
    pub fn close(&mut self, caps: Caps, template: impl Fn(Fingerprint) -> String) -> Closed {
        let mut all: Vec<(Origin, Fingerprint, Tally)> = self
            .tallies
            .drain()
            .flat_map(|(origin, tallies)| tallies.into_iter().map(move |(fp, t)| (origin.clone(), fp, t)))
            .collect();
        let before = all.len();
        // Most frequent, then most recent; the fingerprint settles ties, so the choice is the
        // same on every run.
        all.sort_by(|(_, fa, a), (_, fb, b)| {
            b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)).then(fa.cmp(fb))
        });
        let mut per_source: HashMap<(HostId, SourceId), usize> = HashMap::new();
        all.retain(|(k, _, _)| {
            let n = per_source.entry((k.host.clone(), k.source.clone())).or_default();
            *n += 1;
            *n <= caps.per_source
        });
        all.truncate(caps.total);
        let occurrences: Vec<IssueOccurrence> = all
            .into_iter()
            .map(|(k, fingerprint, t)| IssueOccurrence {
                v: 1,
                message: template(fingerprint),
                scope: k.scope,
                fingerprint,
                severity: t.severity,
                count: t.count,
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                sample: t.sample,
                host: Some(k.host),
                source: Some(k.source),
                app: None,
                customer: None,
                reported_at: None,
            })
            .collect();
        Closed { suppressed: before - occurrences.len(), occurrences }
    }
}

fn sample(line: &str) -> String {
    if line.len() <= SAMPLE_BYTES {
        return line.to_owned();
    }
    let mut end = SAMPLE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(scope: &'a Scope, host: &'a HostId, source: &'a SourceId, fp: u64, at: i64) -> Seen<'a> {
        Seen {
            scope,
            fingerprint: Fingerprint(fp),
            host,
            source,
            severity: Severity::Error,
            at: Timestamp::from_nanos(at),
            line: "ERROR x",
        }
    }

    #[test]
    fn lines_of_one_issue_are_counted_once_with_first_and_last_seen() {
        let (scope, host, source) = (Scope::new("app"), HostId::new("h"), SourceId::new("s"));
        let mut w = Window::default();
        for at in [5, 3, 9] {
            w.add(seen(&scope, &host, &source, 1, at));
        }
        let closed = w.close(Caps::default(), |fp| format!("template {fp}"));
        assert_eq!(closed.occurrences.len(), 1);
        let o = &closed.occurrences[0];
        assert_eq!(
            (o.count, o.first_seen, o.last_seen),
            (3, Timestamp::from_nanos(3), Timestamp::from_nanos(9))
        );
        assert_eq!(o.message, "template 0000000000000001");
        assert!(w.is_empty(), "closing starts a new window");
    }

    #[test]
    fn caps_keep_the_most_frequent_per_source_and_in_all() {
        let scope = Scope::new("app");
        let hosts: Vec<HostId> = (0..8).map(|i| HostId::new(format!("h{i}"))).collect();
        let source = SourceId::new("s");
        let mut w = Window::default();
        for host in &hosts {
            for fp in 0..12u64 {
                for _ in 0..=fp {
                    w.add(seen(&scope, host, &source, fp, 1));
                }
            }
        }
        let closed = w.close(Caps { per_source: 10, total: 50 }, |_| String::new());
        assert_eq!(closed.occurrences.len(), 50);
        assert_eq!(closed.suppressed, 8 * 12 - 50);
        assert!(
            closed.occurrences.iter().all(|o| o.count >= 3),
            "the two rarest of each source are dropped first"
        );
    }
}
