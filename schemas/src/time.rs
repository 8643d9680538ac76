//! [`Timestamp`]: a UTC instant with nanosecond precision.
//!
//! On the wire (MessagePack) it is an integer of nanoseconds since the Unix epoch: compact and
//! cheap. At the edges (JSON) it is RFC 3339 text, as controllers already send it
//! (`"last_seen": "2026-11-22T10:00:00Z"`). Decoding accepts either form in either format.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(i64);

/// RFC 3339 text that is not a timestamp.
#[derive(Debug, thiserror::Error)]
pub enum TimeError {
    #[error("not an RFC 3339 time ({0})")]
    Parse(#[from] time::error::Parse),
    #[error("{0} is outside the years 1678 to 2262 that a timestamp holds")]
    OutOfRange(String),
}

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);

    pub fn now() -> Self {
        Self::from_nanos(OffsetDateTime::now_utc().unix_timestamp_nanos() as i64)
    }

    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn from_unix_seconds(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000_000))
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub const fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Parses RFC 3339 text; an instant a timestamp cannot hold (before 1677 or after 2262) is
    /// an error rather than a wrapped-around value.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimeError> {
        let t = OffsetDateTime::parse(s, &Rfc3339)?;
        i64::try_from(t.unix_timestamp_nanos()).map(Self).map_err(|_| TimeError::OutOfRange(s.to_owned()))
    }

    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }

    pub fn saturating_add_nanos(self, nanos: i64) -> Self {
        Self(self.0.saturating_add(nanos))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_rfc3339())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 time or integer nanoseconds since the Unix epoch")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Ok(Timestamp(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        i64::try_from(v).map(Timestamp).map_err(|_| E::custom(format!("timestamp {v} is out of range")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        Timestamp::parse_rfc3339(v).map_err(|e| E::custom(format!("invalid RFC 3339 time {v:?}: {e}")))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimestampVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = Timestamp::parse_rfc3339("2026-11-22T10:00:00.5Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:00:00.5Z");
        assert_eq!(t.as_unix_seconds(), 1_795_341_600);
    }

    #[test]
    fn times_a_timestamp_cannot_hold_are_refused_not_wrapped() {
        assert!(Timestamp::parse_rfc3339("2262-04-11T23:47:16Z").is_ok());
        for far in ["2262-04-11T23:47:17Z", "9999-12-31T00:00:00Z", "1600-01-01T00:00:00Z"] {
            let err = Timestamp::parse_rfc3339(far).unwrap_err().to_string();
            assert!(err.contains("outside"), "{far}: {err}");
        }
    }

    #[test]
    fn json_uses_text_and_accepts_integers() {
        let t = Timestamp::from_unix_seconds(1_795_341_600);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-11-22T10:00:00Z\"");
        let back: Timestamp = serde_json::from_str("1795341600000000000").unwrap();
        assert_eq!(back, t);
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(err.to_string().contains("yesterday"));
    }
}
