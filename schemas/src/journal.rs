//! [`JournalPath`]: a systemd journal as a tail source, written where a file path goes.
//!
//! A tail names a file by its absolute path; a journal source is named by a path of its own
//! shape, so sessions, links, catalogs and roots carry it unchanged:
//!
//! - `journal:*`: every entry of the host's journal;
//! - `journal:ssh.service`: one unit (`journalctl --unit`);
//! - `journal:SYSLOG_IDENTIFIER=cron`: entries with that field (a journal match; several,
//!   separated by spaces, must all hold);
//! - `journal/NAMESPACE:…`: the same, in a journal namespace (`journalctl --namespace`).
//!
//! Only the shape is checked here; whether the host has a journal is the producer's to find out.

use std::fmt;

use crate::ids::Severity;

/// Where every journal source path starts.
pub const PREFIX: &str = "journal";

/// What to read from the journal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// Every entry.
    All,
    /// One unit, as `journalctl --unit` takes it.
    Unit(String),
    /// Entries having every `FIELD=value`.
    Matches(Vec<(String, String)>),
}

/// A journal source: namespace and selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JournalPath {
    pub namespace: Option<String>,
    pub selector: Selector,
}

/// A path that starts like a journal source but is not one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalPathError {
    #[error("a journal source is `journal:SELECTOR` or `journal/NAMESPACE:SELECTOR`, got {0:?}")]
    Shape(String),
    #[error("journal namespace {0:?} may hold only letters, digits, `_`, `-` and `.`")]
    Namespace(String),
    #[error("nothing selected after `journal:`; `journal:*` is the whole journal")]
    Empty,
    #[error("journal field {0:?} must be upper-case letters, digits and `_`, not starting with a digit")]
    Field(String),
    #[error("unit {0:?} may not hold spaces or control characters")]
    Unit(String),
}

/// Whether `path` is meant as a journal source (it may still be malformed).
pub fn is_journal(path: &str) -> bool {
    path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with(':') || rest.starts_with('/'))
}

/// Whether `root` names journal sources a host may serve: a whole journal (`journal:`,
/// `journal/NAMESPACE:`) or one source (`journal:ssh.service`).
pub fn is_root(root: &str) -> bool {
    matches!(JournalPath::parse(root), Ok(Some(_)) | Err(JournalPathError::Empty))
}

fn valid_field(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl JournalPath {
    /// Parses a journal source path; `Ok(None)` when `path` is not one (a file path).
    pub fn parse(path: &str) -> Result<Option<Self>, JournalPathError> {
        if !is_journal(path) {
            return Ok(None);
        }
        let rest = &path[PREFIX.len()..];
        let (namespace, selector) = match rest.strip_prefix('/') {
            Some(named) => {
                let (ns, selector) =
                    named.split_once(':').ok_or_else(|| JournalPathError::Shape(path.to_owned()))?;
                if ns.is_empty()
                    || !ns.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                {
                    return Err(JournalPathError::Namespace(ns.to_owned()));
                }
                (Some(ns.to_owned()), selector)
            }
            None => (None, &rest[1..]),
        };
        let selector = selector.trim();
        let selector = if selector.is_empty() {
            return Err(JournalPathError::Empty);
        } else if selector == "*" {
            Selector::All
        } else if selector.contains('=') {
            let mut matches = Vec::new();
            for part in selector.split(' ').filter(|p| !p.is_empty()) {
                let (field, value) =
                    part.split_once('=').ok_or_else(|| JournalPathError::Field(part.to_owned()))?;
                if !valid_field(field) {
                    return Err(JournalPathError::Field(field.to_owned()));
                }
                matches.push((field.to_owned(), value.to_owned()));
            }
            Selector::Matches(matches)
        } else if selector.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(JournalPathError::Unit(selector.to_owned()));
        } else {
            Selector::Unit(selector.to_owned())
        };
        Ok(Some(Self { namespace, selector }))
    }

    /// `journalctl`'s selecting arguments: namespace, unit or matches.
    pub fn journalctl_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ns) = &self.namespace {
            args.push(format!("--namespace={ns}"));
        }
        match &self.selector {
            Selector::All => {}
            Selector::Unit(unit) => args.push(format!("--unit={unit}")),
            Selector::Matches(m) => args.extend(m.iter().map(|(f, v)| format!("{f}={v}"))),
        }
        args
    }

    /// A display name when none is given: the unit without its type, the matched value, or
    /// `journal`.
    pub fn default_name(&self) -> String {
        match &self.selector {
            Selector::All => PREFIX.to_owned(),
            Selector::Unit(u) => u.rsplit_once('.').map_or(u.as_str(), |(stem, _)| stem).to_owned(),
            Selector::Matches(m) => m.last().map_or_else(|| PREFIX.to_owned(), |(_, v)| v.clone()),
        }
    }

    /// The journal root (`journal:` or `journal/NAMESPACE:`) this source lies in.
    pub fn root(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{PREFIX}/{ns}:"),
            None => format!("{PREFIX}:"),
        }
    }
}

impl fmt::Display for JournalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root())?;
        match &self.selector {
            Selector::All => f.write_str("*"),
            Selector::Unit(u) => f.write_str(u),
            Selector::Matches(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&parts.join(" "))
            }
        }
    }
}

/// The severity a syslog priority (the journal's `PRIORITY`: 0 emerg … 7 debug) names.
pub fn priority_severity(priority: u8) -> Severity {
    match priority {
        0..=3 => Severity::Error,
        4 => Severity::Warn,
        5 | 6 => Severity::Info,
        _ => Severity::Debug,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_paths_parse_into_namespace_and_selector() {
        assert_eq!(JournalPath::parse("/var/log/syslog").unwrap(), None);
        assert_eq!(JournalPath::parse("journals/x").unwrap(), None);
        let all = JournalPath::parse("journal:*").unwrap().unwrap();
        assert_eq!((all.namespace.as_deref(), &all.selector), (None, &Selector::All));
        assert_eq!(all.default_name(), "journal");
        let unit = JournalPath::parse("journal:ssh.service").unwrap().unwrap();
        assert_eq!(unit.journalctl_args(), ["--unit=ssh.service"]);
        assert_eq!(unit.default_name(), "ssh");
        let m = JournalPath::parse("journal/tenant-1:SYSLOG_IDENTIFIER=cron _PID=7").unwrap().unwrap();
        assert_eq!(m.journalctl_args(), ["--namespace=tenant-1", "SYSLOG_IDENTIFIER=cron", "_PID=7"]);
        assert_eq!(m.to_string(), "journal/tenant-1:SYSLOG_IDENTIFIER=cron _PID=7");
        assert_eq!(m.root(), "journal/tenant-1:");
    }

    #[test]
    fn malformed_journal_paths_say_what_is_wrong() {
        assert_eq!(JournalPath::parse("journal:"), Err(JournalPathError::Empty));
        assert!(matches!(JournalPath::parse("journal/a b:x"), Err(JournalPathError::Namespace(_))));
        assert!(matches!(JournalPath::parse("journal/ns"), Err(JournalPathError::Shape(_))));
        assert!(matches!(JournalPath::parse("journal:lower=x"), Err(JournalPathError::Field(_))));
        assert!(matches!(JournalPath::parse("journal:a\tb"), Err(JournalPathError::Unit(_))));
    }

    #[test]
    fn priorities_map_to_severities() {
        assert_eq!(priority_severity(0), Severity::Error);
        assert_eq!(priority_severity(3), Severity::Error);
        assert_eq!(priority_severity(4), Severity::Warn);
        assert_eq!(priority_severity(6), Severity::Info);
        assert_eq!(priority_severity(7), Severity::Debug);
    }
}
