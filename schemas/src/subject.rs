//! Subjects: the one place their shapes are written down.
//!
//! [`Subject`] is a concrete subject a message is published to; it is only ever built from typed
//! names, each escaped into exactly one token, so no user string can add a token, a wildcard or a
//! separator. [`SubjectFilter`] is what a subscriber asks for; it may hold `*` and a final `>`,
//! and is checked before use so a malformed filter is refused with the reason.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{Category, ConsumerName, CustomerId, HostId, Scope, Severity, SourceId, TargetId};
use crate::token::Token;

/// Why a string is not a valid subject or filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("subject is empty")]
    Empty,
    #[error("subject {subject:?} has an empty token at position {position}")]
    EmptyToken { subject: String, position: usize },
    #[error("subject {subject:?} contains whitespace")]
    Whitespace { subject: String },
    #[error("subject {subject:?} contains a control character (NUL, escape, ...)")]
    Control { subject: String },
    #[error("subject is {len} bytes long; at most {MAX_SUBJECT} are allowed")]
    TooLong { len: usize },
    #[error("subject {subject:?}: wildcard '{wildcard}' must be a whole token")]
    PartialWildcard { subject: String, wildcard: char },
    #[error("subject {subject:?}: '>' is allowed only as the last token")]
    TailNotLast { subject: String },
    #[error("subject {subject:?} holds a wildcard where a concrete subject is needed")]
    Wildcard { subject: String },
}

/// The longest subject or filter accepted (NATS itself allows more, but nothing of ours comes
/// near it, and a filter is echoed in errors).
pub const MAX_SUBJECT: usize = 1024;

fn check(raw: &str, allow_wildcards: bool) -> Result<(), SubjectError> {
    if raw.is_empty() {
        return Err(SubjectError::Empty);
    }
    if raw.len() > MAX_SUBJECT {
        return Err(SubjectError::TooLong { len: raw.len() });
    }
    if raw.chars().any(char::is_whitespace) {
        return Err(SubjectError::Whitespace { subject: raw.to_owned() });
    }
    if raw.chars().any(char::is_control) {
        return Err(SubjectError::Control { subject: raw.to_owned() });
    }
    let count = raw.split('.').count();
    for (position, token) in raw.split('.').enumerate() {
        if token.is_empty() {
            return Err(SubjectError::EmptyToken { subject: raw.to_owned(), position });
        }
        for wildcard in ['*', '>'] {
            if token.contains(wildcard) {
                if !allow_wildcards {
                    return Err(SubjectError::Wildcard { subject: raw.to_owned() });
                }
                if token.len() != 1 {
                    return Err(SubjectError::PartialWildcard { subject: raw.to_owned(), wildcard });
                }
                if wildcard == '>' && position + 1 != count {
                    return Err(SubjectError::TailNotLast { subject: raw.to_owned() });
                }
            }
        }
    }
    Ok(())
}

/// A concrete subject: no wildcards, every token non-empty.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subject(String);

impl Subject {
    /// Checks a subject that arrived from outside (a NATS message, a config file).
    pub fn parse(raw: &str) -> Result<Self, SubjectError> {
        check(raw, false)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject's tokens, still escaped.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    fn from_tokens(tokens: &[&str]) -> Self {
        Self(tokens.join("."))
    }
}

impl TryFrom<String> for Subject {
    type Error = SubjectError;
    fn try_from(s: String) -> Result<Self, SubjectError> {
        check(&s, false)?;
        Ok(Self(s))
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> String {
        s.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.0)
    }
}

/// A subscription filter: tokens, `*` for exactly one token, and a final `>` for one or more.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubjectFilter(String);

impl SubjectFilter {
    pub fn parse(raw: &str) -> Result<Self, SubjectError> {
        check(raw, true)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a message on `subject` is delivered to this filter.
    pub fn matches(&self, subject: &Subject) -> bool {
        let mut pattern = self.0.split('.');
        let mut tokens = subject.tokens();
        loop {
            match (pattern.next(), tokens.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(p), Some(t)) if p == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// Whether every subject this filter matches is also matched by `outer`; used to check that
    /// a caller's filter stays inside what its role may read.
    pub fn is_within(&self, outer: &SubjectFilter) -> bool {
        let mut inner = self.0.split('.');
        let mut outer_tokens = outer.0.split('.');
        loop {
            match (inner.next(), outer_tokens.next()) {
                // Outer `>` takes one or more tokens; the inner filter must have at least one left.
                (Some(_), Some(">")) => return true,
                (Some(">"), _) => return false,
                (Some("*"), Some("*")) => {}
                (Some("*"), Some(_)) => return false,
                (Some(i), Some(o)) if o == "*" || i == o => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl From<Subject> for SubjectFilter {
    fn from(s: Subject) -> Self {
        SubjectFilter(s.0)
    }
}

impl TryFrom<String> for SubjectFilter {
    type Error = SubjectError;
    fn try_from(s: String) -> Result<Self, SubjectError> {
        check(&s, true)?;
        Ok(Self(s))
    }
}

impl From<SubjectFilter> for String {
    fn from(s: SubjectFilter) -> String {
        s.0
    }
}

impl fmt::Display for SubjectFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SubjectFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectFilter({})", self.0)
    }
}

/// `logs.raw.{host}.{source}`
pub fn logs_raw(host: &HostId, source: &SourceId) -> Subject {
    Subject::from_tokens(&["logs", "raw", host.token().as_str(), source.token().as_str()])
}

/// `logs.classified.{category}.{severity}.{host}.{source}`
pub fn logs_classified(category: &Category, severity: Severity, host: &HostId, source: &SourceId) -> Subject {
    Subject::from_tokens(&[
        "logs",
        "classified",
        category.token().as_str(),
        severity.as_str(),
        host.token().as_str(),
        source.token().as_str(),
    ])
}

/// `files.synced.{target}.{category}`
pub fn files_synced(target: &TargetId, category: &Category) -> Subject {
    Subject::from_tokens(&["files", "synced", target.token().as_str(), category.token().as_str()])
}

/// `reports.{customer}`
pub fn reports(customer: &CustomerId) -> Subject {
    Subject::from_tokens(&["reports", customer.token().as_str()])
}

/// `sync.trigger.{target}`: a request to sync `target` now (answered when that sync ends).
pub fn sync_trigger(target: &TargetId) -> Subject {
    Subject::from_tokens(&["sync", "trigger", target.token().as_str()])
}

/// `sync.status`: a request answered with every sync target's status.
pub const SYNC_STATUS: &str = "sync.status";

/// `issues.{scope}`
pub fn issues(scope: &Scope) -> Subject {
    Subject::from_tokens(&["issues", scope.token().as_str()])
}

/// `tail.status.{host}.{source}`
pub fn tail_status(host: &HostId, source: &SourceId) -> Subject {
    Subject::from_tokens(&["tail", "status", host.token().as_str(), source.token().as_str()])
}

/// `tail.list.{host}`: a request (not stored) for a directory listing on `host`.
pub fn tail_list(host: &HostId) -> Subject {
    Subject::from_tokens(&["tail", "list", host.token().as_str()])
}

/// `tail.check.{host}`: a request (not stored): may this path be tailed on `host`?
pub fn tail_check(host: &HostId) -> Subject {
    Subject::from_tokens(&["tail", "check", host.token().as_str()])
}

/// `tail.catalog.{host}`: a request (not stored): look again which catalog files `host` has;
/// answered with its [`crate::TailHost`] advert.
pub fn tail_catalog(host: &HostId) -> Subject {
    Subject::from_tokens(&["tail", "catalog", host.token().as_str()])
}

/// `derived.{processor}.{tokens…}`: a processor's own output; each token is escaped.
pub fn derived(processor: &ConsumerName, tokens: &[&str]) -> Subject {
    let escaped: Vec<Token> = tokens.iter().map(|t| crate::token::escape(t)).collect();
    let mut all = vec!["derived", processor.as_str()];
    all.extend(escaped.iter().map(|t| t.as_str()));
    Subject::from_tokens(&all)
}

/// `dlq.{consumer}`
pub fn dlq(consumer: &ConsumerName) -> Subject {
    Subject::from_tokens(&["dlq", consumer.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(s: &str) -> SubjectFilter {
        SubjectFilter::parse(s).unwrap()
    }

    #[test]
    fn builders_escape_every_user_token() {
        let s = logs_raw(&HostId::new("10.55.23.41"), &SourceId::new("my file.log"));
        assert_eq!(s.as_str(), "logs.raw.10~2E55~2E23~2E41.my~20file~2Elog");
        let s = tail_status(&HostId::new("*"), &SourceId::new(">"));
        assert_eq!(s.as_str(), "tail.status.~2A.~3E");
        assert_eq!(s.tokens().count(), 4);
    }

    #[test]
    fn filters_are_checked() {
        assert!(SubjectFilter::parse("logs.classified.*.error.>").is_ok());
        assert!(matches!(SubjectFilter::parse("logs.>.x"), Err(SubjectError::TailNotLast { .. })));
        assert!(matches!(SubjectFilter::parse("logs.a*"), Err(SubjectError::PartialWildcard { .. })));
        assert!(matches!(SubjectFilter::parse("logs..x"), Err(SubjectError::EmptyToken { position: 1, .. })));
        assert!(matches!(SubjectFilter::parse("logs x"), Err(SubjectError::Whitespace { .. })));
        assert!(matches!(Subject::parse("logs.*"), Err(SubjectError::Wildcard { .. })));
        assert!(matches!(SubjectFilter::parse("logs.raw.\0"), Err(SubjectError::Control { .. })));
        assert!(matches!(SubjectFilter::parse("logs.\u{1b}[2J"), Err(SubjectError::Control { .. })));
        let long = format!("logs.{}", "a".repeat(MAX_SUBJECT));
        assert!(matches!(SubjectFilter::parse(&long), Err(SubjectError::TooLong { .. })));
    }

    #[test]
    fn filters_match_like_nats() {
        let s = logs_classified(
            &Category::new("cvm"),
            Severity::Error,
            &HostId::new("h"),
            &SourceId::new("genesis"),
        );
        assert!(f("logs.classified.*.error.>").matches(&s));
        assert!(f(">").matches(&s));
        assert!(!f("logs.classified.*.warn.>").matches(&s));
        assert!(!f("logs.classified.*.error").matches(&s));
        assert!(!f("logs.classified.cvm.error.h.genesis.more").matches(&s));
    }

    #[test]
    fn containment_of_filters() {
        assert!(f("logs.classified.*.error.>").is_within(&f("logs.>")));
        assert!(f("logs.raw.h.s").is_within(&f("logs.raw.*.*")));
        assert!(!f("logs.>").is_within(&f("logs.raw.>")));
        assert!(!f("logs.*.x").is_within(&f("logs.raw.x")));
        assert!(!f("logs").is_within(&f("logs.>")));
        assert!(f("a.b").is_within(&f("a.b")));
    }

    proptest! {
        /// Whatever a user names a host or source, the subject has exactly four tokens and is
        /// matched by no filter that names a different host.
        #[test]
        fn user_strings_never_widen_a_subject(host in any::<String>(), source in any::<String>(), other in any::<String>()) {
            let s = logs_raw(&HostId::new(host.clone()), &SourceId::new(source.clone()));
            prop_assert!(Subject::parse(s.as_str()).is_ok());
            prop_assert_eq!(s.tokens().count(), 4);
            let mine = SubjectFilter::parse(&format!("logs.raw.{}.>", HostId::new(host.clone()).token())).unwrap();
            prop_assert!(mine.matches(&s));
            prop_assume!(other != host);
            let theirs = SubjectFilter::parse(&format!("logs.raw.{}.>", HostId::new(other).token())).unwrap();
            prop_assert!(!theirs.matches(&s));
            let back: Vec<_> = s.tokens().skip(2).map(|t| crate::token::unescape(t).unwrap()).collect();
            prop_assert_eq!(back, vec![host, source]);
        }
    }
}
