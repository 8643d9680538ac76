//! Producers: everything that brings data into tailrace from outside.
//!
//! # Layout
//! - [`ssh`]: SSH sessions: host configuration, host keys checked against known_hosts (strict,
//!   or trust on first use), key (with passphrase) and password authentication.
//! - [`tail`]: the live tail of one file on one host (over SSH, or `local`), published as
//!   `LogBatch`es on `logs.raw.{host}.{source}` with `TailStatus` on `tail.status.{host}.{source}`.
//! - `testing` (feature `testing`): a real OpenSSH sshd on loopback for tests.
//!
//! Every producer publishes through `tailrace_nats::Publisher` with a `Nats-Msg-Id` taken from
//! the data's identity (`LogBatch::dedup_id`), so a retry or a restart stores each batch once.
//!
//! Producers never consume a stream for processing (a tail only reads its own last stored batch
//! to know where to resume), never write to sled and never talk to a browser.

pub mod ssh;
pub mod sync;
pub mod tail;

#[cfg(feature = "testing")]
pub mod testing;
