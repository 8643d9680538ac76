//! The typed names that go into subjects and payloads.
//!
//! Each holds the user's string as given (`10.55.23.41`, `my file.log`); [`crate::token::escape`]
//! turns it into a subject token only when a subject is built, so payloads and APIs show the
//! real name and subjects stay safe.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::token::{escape, Token};

/// Why a string is not a valid name of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} {value:?} may hold only letters, digits, '-' and '_' (found {found:?})")]
    Invalid { kind: &'static str, value: String, found: char },
    #[error("unknown severity {0:?} (expected trace, debug, info, warn or error)")]
    Severity(String),
    #[error("fingerprint {0:?} is not 16 hex digits")]
    Fingerprint(String),
}

macro_rules! free_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a user string; any string is allowed, it is escaped when it enters a subject.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The escaped subject token for this name.
            pub fn token(&self) -> Token {
                escape(&self.0)
            }
            /// The name a subject token stands for.
            pub fn from_token(token: &str) -> Result<Self, crate::token::TokenError> {
                crate::token::unescape(token).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($kind, "({:?})"), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

free_name!(
    /// A host a producer reads from: a name, an IP, or `local`.
    HostId, "HostId"
);
free_name!(
    /// A log source on a host: a catalog name such as `genesis`, or a file name.
    SourceId, "SourceId"
);
free_name!(
    /// A sync target: one remote cluster and directory that is synced.
    TargetId, "TargetId"
);
free_name!(
    /// A customer whose controller sends reports.
    CustomerId, "CustomerId"
);
free_name!(
    /// An application (a stack of containers) in a controller's report.
    AppName, "AppName"
);
free_name!(
    /// A service category assigned by classification (`server`, `slurm`, `genesis`, ...).
    Category, "Category"
);
free_name!(
    /// What an issue is grouped under: an app (reports) or a log category (log lines).
    Scope, "Scope"
);

/// The durable name of a consumer. Unlike the free names it is chosen by developers, not users,
/// so it is validated rather than escaped: it appears verbatim in `dlq.{consumer}` and in NATS.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConsumerName(String);

impl ConsumerName {
    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::Empty { kind: "consumer name" });
        }
        if let Some(found) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(IdError::Invalid { kind: "consumer name", value, found });
        }
        Ok(Self(value))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConsumerName {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl From<ConsumerName> for String {
    fn from(c: ConsumerName) -> String {
        c.0
    }
}

impl fmt::Display for ConsumerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConsumerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsumerName({:?})", self.0)
    }
}

/// How bad a line is. Ordered: `Error > Warn > Info > Debug > Trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Trace,
    Debug,
    Info,
    #[serde(alias = "warning", alias = "WARN", alias = "WARNING")]
    Warn,
    #[serde(alias = "ERROR", alias = "fatal", alias = "critical", alias = "crit")]
    Error,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Trace, Severity::Debug, Severity::Info, Severity::Warn, Severity::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| IdError::Severity(s.to_owned()))
    }
}

/// The identity of an issue's event template: lines of one template share one fingerprint.
/// Shown and serialized as 16 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 16 {
            return Err(IdError::Fingerprint(s.to_owned()));
        }
        u64::from_str_radix(s, 16).map(Fingerprint).map_err(|_| IdError::Fingerprint(s.to_owned()))
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_refuse_subject_syntax() {
        assert!(ConsumerName::new("classify").is_ok());
        assert!(matches!(ConsumerName::new("a.b"), Err(IdError::Invalid { found: '.', .. })));
        assert!(matches!(ConsumerName::new(""), Err(IdError::Empty { .. })));
    }

    #[test]
    fn severity_parses_case_insensitively_and_orders_by_badness() {
        assert_eq!("ERROR".parse::<Severity>().unwrap(), Severity::Error);
        assert!(Severity::Error > Severity::Warn && Severity::Warn > Severity::Info);
        assert!("loud".parse::<Severity>().is_err());
    }

    #[test]
    fn fingerprint_round_trips_through_hex() {
        let f = Fingerprint(0x00ab_cdef_0123_4567);
        assert_eq!(f.to_string(), "00abcdef01234567");
        assert_eq!(f.to_string().parse::<Fingerprint>().unwrap(), f);
    }
}
