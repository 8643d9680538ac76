//! [`Scan`]: one member's log lines of a report window, counted and grouped the way the hub
//! groups them: severity by the processors' line parser (stated levels of common formats, then
//! the seed's first-words rule), errors and warnings grouped by the fingerprinter's template,
//! not by the seed's five first words and three regexes.
//!
//! Lines over [`MAX_LINE_BYTES`] are cut (the seed's 500); a line that is not UTF-8 is kept
//! with its bad bytes replaced, and its issue says so ([`LOSSY_MARK`]) rather than being
//! skipped as the seed did: an error in a binary-ish log is still an error.

use std::collections::HashMap;

use tailrace_processors::template::Fingerprinter;
use tailrace_schemas::{Fingerprint, LogIssue, Severity, Timestamp};

/// Bytes of a line kept (the seed's 500).
pub const MAX_LINE_BYTES: usize = 500;
/// Issues a member reports at most (the seed's 10 per container).
pub const ISSUES_PER_MEMBER: usize = 10;
/// Issues a report carries at most (the seed's 50).
pub const ISSUES_IN_ALL: usize = 50;
/// Appended to the message of an issue whose line was not valid UTF-8.
pub const LOSSY_MARK: &str = " [invalid UTF-8 replaced]";

#[derive(Debug, Default)]
pub struct Scan {
    pub errors: u64,
    pub warnings: u64,
    pub lines: u64,
    found: HashMap<Fingerprint, LogIssue>,
}

impl Scan {
    /// Counts one line (without its newline), seen at `at`; `stated` is a severity its source
    /// gave apart from the text (the journal's priority).
    pub fn line(
        &mut self,
        fingerprinter: &mut Fingerprinter,
        raw: &[u8],
        at: Timestamp,
        stated: Option<Severity>,
    ) {
        self.lines += 1;
        let mut cut = &raw[..raw.len().min(MAX_LINE_BYTES)];
        if cut.len() < raw.len() {
            // A character cut at the limit is the cut's doing, not invalid input: drop its bytes.
            if let Err(e) = std::str::from_utf8(cut) {
                if e.error_len().is_none() {
                    cut = &cut[..e.valid_up_to()];
                }
            }
        }
        let text = String::from_utf8_lossy(cut);
        let lossy = matches!(text, std::borrow::Cow::Owned(_));
        let line = text.trim_end_matches('\r');
        if line.trim().is_empty() {
            return;
        }
        let severity = stated.unwrap_or_else(|| tailrace_processors::line::severity(line));
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warn => self.warnings += 1,
            _ => return,
        }
        let fingerprint = fingerprinter.line(line).fingerprint;
        let issue = self.found.entry(fingerprint).or_insert_with(|| LogIssue {
            severity,
            message: String::new(),
            count: 0,
            last_seen: at,
            fingerprint: None,
        });
        issue.count += 1;
        if at >= issue.last_seen || issue.message.is_empty() {
            issue.last_seen = issue.last_seen.max(at);
            issue.severity = severity;
            issue.message = if lossy { format!("{line}{LOSSY_MARK}") } else { line.to_owned() };
        }
    }

    /// The member's issues, most frequent first (then the most recent), at most
    /// [`ISSUES_PER_MEMBER`].
    pub fn issues(&self) -> Vec<LogIssue> {
        self.ranked().into_iter().map(|(_, issue)| issue).collect()
    }

    /// [`Scan::issues`] with their fingerprints (an app merges its members' by them).
    pub fn ranked(&self) -> Vec<(Fingerprint, LogIssue)> {
        let mut issues: Vec<(Fingerprint, LogIssue)> =
            self.found.iter().map(|(f, i)| (*f, i.clone())).collect();
        issues.sort_by(|(_, a), (_, b)| order(a, b));
        issues.truncate(ISSUES_PER_MEMBER);
        issues
    }
}

/// Orders issues as the seed does: count descending, then last seen descending (then the
/// message, so equal issues come in one order every time).
pub fn rank(issues: &mut [LogIssue]) {
    issues.sort_by(order);
}

pub(crate) fn order(a: &LogIssue, b: &LogIssue) -> std::cmp::Ordering {
    b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)).then(a.message.cmp(&b.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix_seconds(1_800_000_000 + s)
    }

    #[test]
    fn counts_errors_and_warnings_and_groups_lines_that_differ_in_values() {
        let mut fp = Fingerprinter::default();
        let mut scan = Scan::default();
        for i in 0..6 {
            let line = format!(
                "2026-12-05T10:00:0{i}Z ERROR payment gateway timeout after {} ms order={i}",
                3000 + i
            );
            scan.line(&mut fp, line.as_bytes(), at(i), None);
        }
        scan.line(&mut fp, b"2026-12-05T10:00:09Z WARN slow query took 250 ms", at(9), None);
        scan.line(&mut fp, b"2026-12-05T10:00:10Z INFO started", at(10), None);
        assert_eq!((scan.errors, scan.warnings, scan.lines), (6, 1, 8));
        let issues = scan.issues();
        assert_eq!(issues.len(), 2, "{issues:#?}");
        assert_eq!(issues[0].count, 6);
        assert_eq!(issues[0].severity, Severity::Error);
        assert_eq!(issues[0].last_seen, at(5));
        assert!(issues[0].message.contains("order=5"), "the latest line stands for the issue");
        assert_eq!(issues[1].severity, Severity::Warn);
    }

    #[test]
    fn cuts_long_lines_and_marks_invalid_utf8() {
        let mut fp = Fingerprinter::default();
        let mut scan = Scan::default();
        let mut long = b"ERROR ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 2000));
        scan.line(&mut fp, &long, at(0), None);
        scan.line(&mut fp, b"ERROR bad byte \xff in frame", at(1), None);
        // A multi-byte character cut at the limit is not called invalid.
        let mut cut = b"ERROR ".to_vec();
        cut.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES - 7));
        cut.extend("é tail".as_bytes());
        scan.line(&mut fp, &cut, at(2), None);
        let issues = scan.issues();
        let long_issue = issues.iter().find(|i| i.message.contains("xxx")).unwrap();
        assert_eq!(long_issue.message.len(), MAX_LINE_BYTES);
        let bad = issues.iter().find(|i| i.message.contains("bad byte")).unwrap();
        assert!(bad.message.ends_with(LOSSY_MARK) && bad.message.contains('\u{fffd}'), "{}", bad.message);
        let cut_issue = issues.iter().find(|i| i.message.contains("yyy")).unwrap();
        assert!(!cut_issue.message.ends_with(LOSSY_MARK), "{}", cut_issue.message);
    }

    #[test]
    fn keeps_the_ten_most_frequent_issues() {
        let mut fp = Fingerprinter::default();
        let mut scan = Scan::default();
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
            "kilo", "lima",
        ];
        for (n, w) in words.iter().enumerate() {
            for k in 0..=n {
                scan.line(&mut fp, format!("ERROR {w} subsystem failed").as_bytes(), at(k as i64), None);
            }
        }
        let issues = scan.issues();
        assert_eq!(issues.len(), ISSUES_PER_MEMBER);
        assert!(issues[0].message.contains("lima") && issues[0].count == 12);
        assert!(issues.iter().all(|i| !i.message.contains("alpha") && !i.message.contains("bravo")));
    }
}
