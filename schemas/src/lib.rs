//! Every message tailrace puts on a NATS subject, how it is encoded, and the subjects themselves.
//!
//! This crate is the contract between components: producers, processors, sinks, the gateway and
//! programs in other languages agree on it and on nothing else. It does no I/O, holds no state
//! (beyond a per-thread zstd context reused between calls) and knows nothing of NATS beyond the
//! syntax of a subject.
//!
//! # Layout
//! - [`token`]: reversible escaping of user strings (host names, IPs, file names) into one
//!   subject token, so `.`, `*`, `>` and spaces can never widen a subscription or break a subject.
//! - [`ids`]: the typed names that go into subjects ([`HostId`], [`SourceId`], [`Category`], ...).
//! - [`subject`]: [`Subject`] (concrete, publishable), [`SubjectFilter`] (may hold wildcards), and
//!   one builder per row of the subject table in DESIGN.md.
//! - [`time`]: [`Timestamp`], RFC 3339 at the edges and integer nanoseconds on the wire.
//! - [`codec`]: MessagePack with named fields on the wire, JSON at the edges, either possibly in
//!   a zstd frame; decoders accept all of them, older schema versions and unknown fields.
//! - one module per payload: [`log_batch`], [`classified`], [`file_event`], [`report`] (and
//!   [`report_check`], reading one from a controller with errors naming the field),
//!   [`issue`], [`issue_template`] (a learned template in the
//!   `fingerprint-templates` KV bucket), [`tail_status`], [`dead_letter`], [`tail_session`] (the
//!   record of a desired live tail in the `tail-sessions` KV bucket), [`tail_host`] (a host a
//!   producer can tail, in `tail-hosts`), [`dir_listing`] (the `tail.list.{host}` request) and
//!   [`path_check`] (the `tail.check.{host}` request).
//! - [`streams`]: the one table of streams (name, subjects, payload kind, readers, default
//!   limits) that the topology, the gateway's access rules and JSON rendering derive from.
//! - [`journal`]: a systemd journal as a tail source (`journal:ssh.service`), and the severity
//!   of a journal priority.
//! - [`catalog`]: the log files offered for live tail per host type (the seed's CVM list).
//! - [`line_time`]: the time a log line states near its start, in the common shapes.
//! - [`categories`]: the category rules (configured, the catalog's names, the seed's file-name
//!   patterns) that classify lines and synced files alike.
//!
//! # Versions
//! Every payload carries `v`, its schema version. A field added in a later version is optional
//! (`#[serde(default)]`), so a decoder reads every older version; unknown fields are ignored, so an
//! older decoder reads newer messages. A change that cannot be expressed that way gets a new type
//! and a new subject, never a reinterpretation of an old one.

pub mod catalog;
pub mod categories;
pub mod classified;
pub mod codec;
pub mod dead_letter;
pub mod dir_listing;
pub mod file_event;
pub mod hash;
pub mod ids;
pub mod issue;
pub mod issue_template;
pub mod journal;
pub mod line_time;
pub mod log_batch;
pub mod path_check;
pub mod report;
pub mod report_check;
pub mod streams;
pub mod subject;
pub mod tail_host;
pub mod tail_session;
pub mod tail_status;
pub mod time;
pub mod token;

pub use catalog::{Catalog, CatalogFile};
pub use classified::{ClassifiedBatch, ClassifiedLine};
pub use codec::{
    compress, decode, decompress, encode, encode_json, is_compressed, DecodeError, EncodeError, Payload,
};
pub use dead_letter::DeadLetter;
pub use dir_listing::{DirEntry, DirListing, ListRequest};
pub use file_event::{CopyState, FileEvent, FileEventKind, COMPRESSED_SUFFIX};
pub use hash::{fnv1a, Fnv1a};
pub use ids::{
    AppName, Category, ConsumerName, CustomerId, Fingerprint, HostId, IdError, Scope, Severity, SourceId,
    TargetId,
};
pub use issue::IssueOccurrence;
pub use issue_template::{IssueTemplate, SourceShape};
pub use journal::{JournalPath, JournalPathError};
pub use log_batch::{FileIdentity, LogBatch, LogLine};
pub use path_check::{PathCheck, PathVerdict, Verdict};
pub use report::{AppReport, LogIssue, Report};
pub use report_check::ReportError;
pub use streams::{stream_of, PayloadKind, Readers, StreamDecl, StreamName, STREAMS};
pub use subject::{Subject, SubjectError, SubjectFilter};
pub use tail_host::TailHost;
pub use tail_session::TailSession;
pub use tail_status::{TailState, TailStatus, TailStatusKind};
pub use time::{TimeError, Timestamp};
pub use token::{escape, unescape, Token, TokenError};
