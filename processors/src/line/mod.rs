//! What a raw line says: its message without the header, and how bad it is.
//!
//! - [`continuation`]: whether a line continues the event before it (stack traces).
//! - [`header`]: where a plain line's header (timestamp, host, pid, level, logger) ends.
//! - [`structured`]: the message and level of JSON and logfmt lines.
//! - [`severity`](mod@severity): the seed's first-five-words rule.

pub mod continuation;
pub mod header;
pub mod severity;
pub mod structured;

use std::borrow::Cow;

use tailrace_schemas::Severity;

/// A line's message and the level it states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The message: a structured line's `msg`, else the line after its header.
    pub content: Cow<'a, str>,
    /// The level the line states itself, if any.
    pub level: Option<Severity>,
    /// Whether unknown header fields may lead the content ([`header::Split::open`]).
    pub open: bool,
}

impl Parsed<'_> {
    /// The stated level, else the seed's rule on the message and on the line's first words,
    /// else `info`.
    pub fn severity(&self, line: &str) -> Severity {
        self.level
            .or_else(|| severity::from_words(&self.content))
            .or_else(|| severity::from_words(line))
            .unwrap_or(Severity::Info)
    }
}

/// Parses one raw line.
pub fn parse(line: &str) -> Parsed<'_> {
    if let Some((content, level)) = structured::parse(line) {
        return Parsed { content, level, open: false };
    }
    let split = header::split(line);
    Parsed { content: Cow::Borrowed(split.content), level: split.level, open: split.open }
}

/// The severity of one raw line.
pub fn severity(line: &str) -> Severity {
    parse(line).severity(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stated_level_wins_over_words() {
        assert_eq!(severity("2024-01-01 00:00:00 INFO parity error corrected"), Severity::Info);
        assert_eq!(
            severity("Dec 10 06:55:46 LabSZ sshd[24200]: error: Received disconnect"),
            Severity::Error
        );
        assert_eq!(severity(r#"{"level":"error","msg":"all fine"}"#), Severity::Error);
        assert_eq!(severity("just words"), Severity::Info);
        assert_eq!(severity("W0102 10:00:00.000 1 a.go:1] slow"), Severity::Warn);
    }
}
