//! How bad a line is.
//!
//! A level the line states (a JSON or logfmt `level`, a glog prefix, a syslog priority, a
//! level word in the header of a log4j, Python, Go or syslog line) decides. Otherwise the seed's
//! rule: the first five words, case-insensitively, name an error (error, fatal, panic, crit,
//! oom, killed, exception, traceback) or a warning (warn, warning). Otherwise `info`.

use tailrace_schemas::Severity;

/// The seed's rule on the first five words of `text`.
pub fn from_words(text: &str) -> Option<Severity> {
    let mut warn = false;
    for word in text.split_ascii_whitespace().take(5) {
        match word_severity(word) {
            Some(Severity::Error) => return Some(Severity::Error),
            Some(Severity::Warn) => warn = true,
            _ => {}
        }
    }
    warn.then_some(Severity::Warn)
}

/// A word's severity: it starts with an error or warning word (`errors`, `panicked`,
/// `Exception:`), or is a class name ending in one (`java.io.IOException`, `ValueError`).
fn word_severity(word: &str) -> Option<Severity> {
    let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if w.is_empty() || w.len() > 64 {
        return None;
    }
    let mut buf = [0u8; 64];
    let lower = &mut buf[..w.len()];
    lower.copy_from_slice(w.as_bytes());
    lower.make_ascii_lowercase();
    let lower: &[u8] = lower;
    const ERROR_PREFIXES: [&[u8]; 6] = [b"error", b"fatal", b"panic", b"exception", b"traceback", b"killed"];
    if ERROR_PREFIXES.iter().any(|p| lower.starts_with(p))
        || lower == b"crit"
        || lower.starts_with(b"critical")
        || lower == b"oom"
        || lower.starts_with(b"oom-")
        || lower.starts_with(b"oomkill")
        || lower.ends_with(b"exception")
        || lower.ends_with(b"error")
    {
        return Some(Severity::Error);
    }
    if lower.starts_with(b"warn") {
        return Some(Severity::Warn);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_words_in_the_first_five() {
        for (line, want) in [
            ("ERROR something broke", Some(Severity::Error)),
            ("Fatal: no config", Some(Severity::Error)),
            ("goroutine panic: nil map", Some(Severity::Error)),
            ("service crit state", Some(Severity::Error)),
            ("Out of memory: OOM killer", Some(Severity::Error)),
            ("process 12 Killed by signal", Some(Severity::Error)),
            ("java.lang.NullPointerException at Foo", Some(Severity::Error)),
            ("Traceback (most recent call last):", Some(Severity::Error)),
            ("Warning: disk almost full", Some(Severity::Warn)),
            ("a b c d e error", None),
            ("warn and error both", Some(Severity::Error)),
            ("the room meets all criteria", None),
            ("all good", None),
        ] {
            assert_eq!(from_words(line), want, "{line}");
        }
    }
}
