//! The one table of streams: each stream's name, the subjects it captures, what its messages
//! hold, who may read it and its default limits. The topology (nats), the gateway's access
//! rules and the JSON rendering of any stored message are derived from [`STREAMS`]; adding a
//! stream is one row here.
//!
//! This module declares; it does not create anything (that is `tailrace_nats::topology`).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::codec::{decode, Payload};
use crate::subject::SubjectFilter;
use crate::{ClassifiedBatch, DeadLetter, FileEvent, IssueOccurrence, LogBatch, Report, TailStatus};

/// A JetStream stream's name, as declared in [`STREAMS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StreamName(&'static str);

impl StreamName {
    pub const LOGS: Self = Self("LOGS");
    pub const CLASSIFIED: Self = Self("CLASSIFIED");
    pub const FILES: Self = Self("FILES");
    pub const REPORTS: Self = Self("REPORTS");
    pub const ISSUES: Self = Self("ISSUES");
    pub const STATUS: Self = Self("STATUS");
    pub const DLQ: Self = Self("DLQ");
    /// Outputs of processors added by developers (`derived.>`).
    pub const DERIVED: Self = Self("DERIVED");

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// This stream's row of [`STREAMS`].
    pub fn decl(self) -> &'static StreamDecl {
        STREAMS.iter().find(|d| d.name == self).expect("every StreamName is declared in STREAMS")
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// What the messages of a stream hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PayloadKind {
    LogBatch,
    ClassifiedBatch,
    FileEvent,
    Report,
    IssueOccurrence,
    TailStatus,
    DeadLetter,
    /// A processor's own payload (MessagePack or JSON of its choosing).
    Derived,
}

impl PayloadKind {
    /// The stored bytes as JSON: the decoded payload, or `{"undecodable": why}`.
    pub fn to_json(self, bytes: &[u8]) -> Value {
        match self {
            PayloadKind::LogBatch => as_json::<LogBatch>(bytes),
            PayloadKind::ClassifiedBatch => as_json::<ClassifiedBatch>(bytes),
            PayloadKind::FileEvent => as_json::<FileEvent>(bytes),
            PayloadKind::Report => as_json::<Report>(bytes),
            PayloadKind::IssueOccurrence => as_json::<IssueOccurrence>(bytes),
            PayloadKind::TailStatus => as_json::<TailStatus>(bytes),
            PayloadKind::DeadLetter => as_json::<DeadLetter>(bytes),
            PayloadKind::Derived => derived_json(bytes),
        }
    }
}

impl PayloadKind {
    /// [`PayloadKind::to_json`] written straight to `w`, without building the JSON value (a
    /// replay of millions of messages spent most of its time building and dropping them).
    pub fn write_json<W: std::io::Write>(self, bytes: &[u8], w: W) -> serde_json::Result<()> {
        match self {
            PayloadKind::LogBatch => write_as::<LogBatch, W>(bytes, w),
            PayloadKind::ClassifiedBatch => write_as::<ClassifiedBatch, W>(bytes, w),
            PayloadKind::FileEvent => write_as::<FileEvent, W>(bytes, w),
            PayloadKind::Report => write_as::<Report, W>(bytes, w),
            PayloadKind::IssueOccurrence => write_as::<IssueOccurrence, W>(bytes, w),
            PayloadKind::TailStatus => write_as::<TailStatus, W>(bytes, w),
            PayloadKind::DeadLetter => write_as::<DeadLetter, W>(bytes, w),
            PayloadKind::Derived => serde_json::to_writer(w, &derived_json(bytes)),
        }
    }
}

fn write_as<T: Payload, W: std::io::Write>(bytes: &[u8], w: W) -> serde_json::Result<()> {
    match decode::<T>(bytes) {
        Ok(v) => serde_json::to_writer(w, &v),
        Err(e) => serde_json::to_writer(w, &json!({ "undecodable": e.to_string() })),
    }
}

fn as_json<T: Payload>(bytes: &[u8]) -> Value {
    match decode::<T>(bytes) {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => json!({ "undecodable": e.to_string() }),
    }
}

/// A derived payload has no declared type: JSON is shown as it is, MessagePack as the value it
/// encodes (both possibly in a zstd frame).
fn derived_json(bytes: &[u8]) -> Value {
    let plain = if crate::codec::is_compressed(bytes) {
        match crate::codec::decompress(bytes) {
            Ok(p) => p,
            Err(e) => return json!({ "undecodable": e }),
        }
    } else {
        bytes.to_vec()
    };
    let parsed = if crate::codec::is_json(&plain) {
        serde_json::from_slice::<Value>(&plain).map_err(|e| e.to_string())
    } else {
        rmp_serde::from_slice::<Value>(&plain).map_err(|e| e.to_string())
    };
    parsed.unwrap_or_else(|e| json!({ "undecodable": e }))
}

/// Who may read a stream through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readers {
    /// Every role that reads (viewers, operators).
    Everyone,
    /// Operators only: raw reports, dead letters, processors' own outputs.
    Operators,
}

/// One row of the table.
#[derive(Debug, Serialize)]
pub struct StreamDecl {
    pub name: StreamName,
    /// The key of its limits in the config (`[nats.streams.logs]`).
    pub key: &'static str,
    /// The subjects it captures (one filter, ending in `>`).
    pub root: &'static str,
    pub payload: PayloadKind,
    pub readers: Readers,
    pub description: &'static str,
    /// Defaults, overridable per stream in the config. `max_age` zero: no age limit.
    #[serde(with = "humantime_secs")]
    pub max_age: Duration,
    pub max_bytes: i64,
    /// `-1`: no limit; `1`: only the last message of each subject is kept.
    pub max_msgs_per_subject: i64,
}

mod humantime_secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

impl StreamDecl {
    /// The root as a filter.
    pub fn filter(&self) -> SubjectFilter {
        SubjectFilter::parse(self.root).expect("declared roots are valid filters")
    }
}

const DAY: u64 = 86_400;
const MIB: i64 = 1024 * 1024;

/// Every stream, in the order they are applied and listed.
pub const STREAMS: &[StreamDecl] = &[
    StreamDecl {
        name: StreamName::LOGS,
        key: "logs",
        root: "logs.raw.>",
        payload: PayloadKind::LogBatch,
        readers: Readers::Everyone,
        description: "raw log lines (LogBatch)",
        max_age: Duration::from_secs(7 * DAY),
        max_bytes: 4096 * MIB,
        max_msgs_per_subject: -1,
    },
    StreamDecl {
        name: StreamName::CLASSIFIED,
        key: "classified",
        root: "logs.classified.>",
        payload: PayloadKind::ClassifiedBatch,
        readers: Readers::Everyone,
        description: "classified lines (ClassifiedBatch)",
        max_age: Duration::from_secs(7 * DAY),
        max_bytes: 4096 * MIB,
        max_msgs_per_subject: -1,
    },
    StreamDecl {
        name: StreamName::FILES,
        key: "files",
        root: "files.synced.>",
        payload: PayloadKind::FileEvent,
        readers: Readers::Everyone,
        description: "synced files (FileEvent)",
        max_age: Duration::from_secs(30 * DAY),
        max_bytes: 256 * MIB,
        max_msgs_per_subject: -1,
    },
    StreamDecl {
        name: StreamName::REPORTS,
        key: "reports",
        root: "reports.>",
        payload: PayloadKind::Report,
        readers: Readers::Operators,
        description: "controller reports (Report)",
        max_age: Duration::from_secs(30 * DAY),
        max_bytes: 1024 * MIB,
        max_msgs_per_subject: -1,
    },
    StreamDecl {
        name: StreamName::ISSUES,
        key: "issues",
        root: "issues.>",
        payload: PayloadKind::IssueOccurrence,
        readers: Readers::Everyone,
        description: "issue occurrences (IssueOccurrence)",
        max_age: Duration::from_secs(30 * DAY),
        max_bytes: 1024 * MIB,
        max_msgs_per_subject: -1,
    },
    StreamDecl {
        name: StreamName::STATUS,
        key: "status",
        root: "tail.status.>",
        payload: PayloadKind::TailStatus,
        readers: Readers::Everyone,
        description: "last tail status per subject (TailStatus)",
        max_age: Duration::ZERO,
        max_bytes: 64 * MIB,
        max_msgs_per_subject: 1,
    },
    StreamDecl {
        name: StreamName::DLQ,
        key: "dlq",
        root: "dlq.>",
        payload: PayloadKind::DeadLetter,
        readers: Readers::Operators,
        description: "dead letters (DeadLetter)",
        max_age: Duration::from_secs(30 * DAY),
        max_bytes: 1024 * MIB,
        max_msgs_per_subject: -1,
    },
    StreamDecl {
        name: StreamName::DERIVED,
        key: "derived",
        root: "derived.>",
        payload: PayloadKind::Derived,
        readers: Readers::Operators,
        description: "outputs of processors added by developers",
        max_age: Duration::from_secs(7 * DAY),
        max_bytes: 1024 * MIB,
        max_msgs_per_subject: -1,
    },
];

/// The stream whose subjects contain every subject `filter` matches, if one does.
pub fn stream_of(filter: &SubjectFilter) -> Option<&'static StreamDecl> {
    STREAMS.iter().find(|d| filter.is_within(&d.filter()))
}

/// The stream a concrete stored subject belongs to.
pub fn stream_of_subject(subject: &str) -> Option<&'static StreamDecl> {
    SubjectFilter::parse(subject).ok().as_ref().and_then(stream_of)
}

/// The stream whose limits sit under `key` in the config (`logs`).
pub fn stream_by_key(key: &str) -> Option<&'static StreamDecl> {
    STREAMS.iter().find(|d| d.key == key)
}

/// [`to_json`] written straight to `w`.
pub fn write_json<W: std::io::Write>(subject: &str, bytes: &[u8], w: W) -> serde_json::Result<()> {
    match stream_of_subject(subject) {
        Some(d) => d.payload.write_json(bytes, w),
        None => serde_json::to_writer(
            w,
            &json!({ "undecodable": format!("{subject} belongs to no declared stream") }),
        ),
    }
}

/// A stored message as JSON, decoded by the payload kind of the stream its subject belongs to.
pub fn to_json(subject: &str, bytes: &[u8]) -> Value {
    match stream_of_subject(subject) {
        Some(d) => d.payload.to_json(bytes),
        None => json!({ "undecodable": format!("{subject} belongs to no declared stream") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_written_straight_is_the_json_value_of_the_same_message() {
        let batch = LogBatch {
            v: 1,
            host: "web-1".into(),
            source: "app".into(),
            path: "/var/log/app.log".into(),
            file: None,
            generation: 2,
            lines: vec![crate::LogLine {
                offset: 7,
                text: "ERROR \"quoted\" \u{e9}".into(),
                lossy: false,
                priority: None,
            }],
            next_offset: Some(40),
            cursor: None,
            cursor_lines: None,
            read_at: crate::Timestamp::from_nanos(1_733_378_400_000_000_000),
        };
        let bytes = crate::encode(&batch).unwrap();
        for (subject, bytes) in [
            ("logs.raw.web-1.app", bytes.clone()),
            ("logs.raw.web-1.app", b"not a payload".to_vec()),
            ("derived.x", br#"{"a":1}"#.to_vec()),
            ("nowhere.at.all", bytes),
        ] {
            let mut written = Vec::new();
            write_json(subject, &bytes, &mut written).unwrap();
            let parsed: Value = serde_json::from_slice(&written).unwrap();
            assert_eq!(parsed, to_json(subject, &bytes), "{subject}");
        }
    }

    #[test]
    fn every_name_has_one_row_and_roots_do_not_overlap() {
        for d in STREAMS {
            assert_eq!(d.name.decl().key, d.key);
            assert_eq!(STREAMS.iter().filter(|o| o.name == d.name || o.key == d.key).count(), 1);
            for o in STREAMS.iter().filter(|o| o.name != d.name) {
                assert!(!d.filter().is_within(&o.filter()), "{} inside {}", d.root, o.root);
            }
        }
    }

    #[test]
    fn filters_and_subjects_find_their_stream() {
        let f = |s: &str| SubjectFilter::parse(s).unwrap();
        assert_eq!(stream_of(&f("logs.classified.*.error.>")).map(|d| d.name), Some(StreamName::CLASSIFIED));
        assert!(stream_of(&f("logs.>")).is_none(), "spans two streams");
        assert_eq!(stream_of_subject("tail.status.h.s").map(|d| d.name), Some(StreamName::STATUS));
        assert_eq!(stream_by_key("dlq").map(|d| d.name), Some(StreamName::DLQ));
    }

    #[test]
    fn payloads_render_by_their_streams_kind() {
        let v = to_json("derived.counter.x", br#"{"n": 3}"#);
        assert_eq!(v["n"], 3);
        let v = to_json("nowhere.x", b"");
        assert!(v["undecodable"].as_str().unwrap().contains("no declared stream"));
        let v = to_json("logs.raw.h.s", b"\x01\x02");
        assert!(v["undecodable"].as_str().unwrap().contains("LogBatch"), "{v}");
    }
}
