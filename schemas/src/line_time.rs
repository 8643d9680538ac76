//! [`line_time`]: the time a log line states near its start, in the shapes common logging
//! libraries write: ISO 8601 / RFC 3339 (`2026-12-05T06:00:00.123Z`, `2026-12-05 06:00:00,123`,
//! `2026/12/05 06:00:00`), Apache and nginx (`[05/Dec/2026:06:00:00 +0100]`), syslog
//! (`Dec  5 06:00:00`), glog (`I1205 06:00:00.123`) and Unix seconds (`1733378400.123`).
//! Years a line leaves out are taken from a hint (the file's modification time), a year back
//! when that would put the line after the hint. Times without a zone are taken as UTC.
//!
//! For the file index's first and last line times; it reads only the first 64 bytes of a line.

use std::sync::LazyLock;

use regex::Regex;
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

use crate::time::Timestamp;

/// How far into a line a time may start (a level, a tag or a bracket may come first).
const LOOK: usize = 64;

// `(?-u)`: ASCII digits and word boundaries. Unicode's made the patterns' first use (their
// compilation) cost a one-off `tailrace sync` about 40 ms; log times are ASCII.
static ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?-u)(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?: ?(Z|[+-]\d{2}:?\d{2}))?",
    )
    .expect("a valid pattern")
});
static CLF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?")
        .expect("a valid pattern")
});
static SYSLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)\b([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\b")
        .expect("a valid pattern")
});
static GLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
        .expect("a valid pattern")
});
static EPOCH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u)^\[?(1[5-9]\d{8})(?:\.(\d{1,9}))?\b").expect("a valid pattern"));

/// The time `line` states near its start, if it states one; `hint` supplies a missing year.
pub fn line_time(line: &str, hint: Timestamp) -> Option<Timestamp> {
    let mut end = line.len().min(LOOK);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let head = &line[..end];
    let num = |s: Option<regex::Match<'_>>| s.and_then(|m| m.as_str().parse::<i64>().ok());
    let nanos = |s: Option<regex::Match<'_>>| {
        s.map_or(0, |m| {
            let digits = m.as_str();
            digits.parse::<i64>().unwrap_or(0) * 10i64.pow(9 - digits.len() as u32)
        })
    };
    if let Some(c) = ISO.captures(head) {
        let offset = c.get(8).map_or(Some(0), |z| zone(z.as_str()))?;
        return at(
            num(c.get(1))?,
            num(c.get(2))?,
            num(c.get(3))?,
            (num(c.get(4))?, num(c.get(5))?, num(c.get(6))?),
            nanos(c.get(7)),
            offset,
        );
    }
    if let Some(c) = CLF.captures(head) {
        let offset = c.get(7).map_or(Some(0), |z| zone(z.as_str()))?;
        return at(
            num(c.get(3))?,
            month(c.get(2)?.as_str())?,
            num(c.get(1))?,
            (num(c.get(4))?, num(c.get(5))?, num(c.get(6))?),
            0,
            offset,
        );
    }
    if let Some(c) = GLOG.captures(head) {
        return yearless(
            hint,
            num(c.get(1))?,
            num(c.get(2))?,
            (num(c.get(3))?, num(c.get(4))?, num(c.get(5))?),
            nanos(c.get(6)),
        );
    }
    if let Some(c) = SYSLOG.captures(head) {
        return yearless(
            hint,
            month(c.get(1)?.as_str())?,
            num(c.get(2))?,
            (num(c.get(3))?, num(c.get(4))?, num(c.get(5))?),
            nanos(c.get(6)),
        );
    }
    if let Some(c) = EPOCH.captures(head) {
        return Some(Timestamp::from_unix_seconds(num(c.get(1))?).saturating_add_nanos(nanos(c.get(2))));
    }
    None
}

/// Seconds east of UTC of `Z`, `+01:00` or `-0500`.
fn zone(z: &str) -> Option<i64> {
    if z == "Z" {
        return Some(0);
    }
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
    let (h, m) = (digits.get(..2)?.parse::<i64>().ok()?, digits.get(2..4)?.parse::<i64>().ok()?);
    Some(sign * (h * 3600 + m * 60))
}

fn month(name: &str) -> Option<i64> {
    const NAMES: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    NAMES.iter().position(|n| *n == name).map(|i| i as i64 + 1)
}

/// The instant of a date and time at `offset` seconds east of UTC; `None` if no such date.
fn at(
    year: i64,
    month: i64,
    day: i64,
    (h, m, s): (i64, i64, i64),
    nanos: i64,
    offset: i64,
) -> Option<Timestamp> {
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let time = Time::from_hms_nano(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        // A leap second reads as the last second of its minute.
        u8::try_from(s.min(59)).ok()?,
        u32::try_from(nanos).ok()?,
    )
    .ok()?;
    let local = PrimitiveDateTime::new(date, time)
        .assume_offset(UtcOffset::from_whole_seconds(i32::try_from(offset).ok()?).ok()?);
    i64::try_from(local.unix_timestamp_nanos()).ok().map(Timestamp::from_nanos)
}

/// A date without its year: the hint's year, or the one before when that is after the hint
/// (a December line in a file written in January).
fn yearless(hint: Timestamp, month: i64, day: i64, hms: (i64, i64, i64), nanos: i64) -> Option<Timestamp> {
    let year = time::OffsetDateTime::from_unix_timestamp(hint.as_unix_seconds()).ok()?.year() as i64;
    let this = at(year, month, day, hms, nanos, 0)?;
    // A day of slack: the hint is a modification time, the line's zone is unknown.
    if this.as_nanos() > hint.as_nanos().saturating_add(86_400 * 1_000_000_000) {
        return at(year - 1, month, day, hms, nanos, 0);
    }
    Some(this)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn the_common_shapes_are_read() {
        let hint = t("2026-12-05T12:00:00Z");
        for (line, want) in [
            ("2026-12-05T06:00:00Z INFO up", "2026-12-05T06:00:00Z"),
            ("2026-12-05T06:00:00.123456+01:00 WARN x", "2026-12-05T05:00:00.123456Z"),
            ("2026-12-05 06:00:00,250 ERROR [main] boom", "2026-12-05T06:00:00.25Z"),
            ("[2026/12/05 06:00:01] level=info", "2026-12-05T06:00:01Z"),
            ("INFO 2026-12-05 06:00:02 started", "2026-12-05T06:00:02Z"),
            (r#"10.0.0.1 - - [05/Dec/2026:06:00:00 +0100] "GET / HTTP/1.1" 200"#, "2026-12-05T05:00:00Z"),
            ("Dec  5 06:00:03 host sshd[12]: Accepted", "2026-12-05T06:00:03Z"),
            ("<13>Nov 30 23:59:59 host app: x", "2026-11-30T23:59:59Z"),
            ("I1205 06:00:04.500000  1234 main.cc:1] ok", "2026-12-05T06:00:04.5Z"),
            ("1733378400.5 event", "2024-12-05T06:00:00.5Z"),
        ] {
            assert_eq!(line_time(line, hint), Some(t(want)), "{line}");
        }
    }

    #[test]
    fn a_missing_year_is_the_hints_or_the_one_before() {
        let january = t("2027-01-02T00:00:00Z");
        assert_eq!(line_time("Dec 31 23:00:00 host x", january), Some(t("2026-12-31T23:00:00Z")));
        assert_eq!(line_time("Jan  1 01:00:00 host x", january), Some(t("2027-01-01T01:00:00Z")));
    }

    #[test]
    fn lines_without_a_time_or_with_an_impossible_one_have_none() {
        let hint = t("2026-12-05T12:00:00Z");
        for line in [
            "plain text",
            "",
            "2026-13-45T99:00:00Z",
            "version 1.2.3 build 2026",
            "Traceback (most recent call last):",
        ] {
            assert_eq!(line_time(line, hint), None, "{line}");
        }
        // Only the start of a line is looked at.
        let late = format!("{} 2026-12-05T06:00:00Z", "x".repeat(80));
        assert_eq!(line_time(&late, hint), None);
    }
}
