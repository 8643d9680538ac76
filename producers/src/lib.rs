//! Producers: everything that brings data into tailrace from outside.
//!
//! Owns SSH sessions and host-key checking, the live tail (remote over SSH and `local`),
//! directory sync, and report ingestion from HTTP. Every producer publishes through
//! `tailrace_nats::Publisher` with a `Nats-Msg-Id` taken from the data's identity
//! (`LogBatch::dedup_id`), so a retry or a restart stores each batch once.
//!
//! Producers never read a stream, never write to sled and never talk to a browser: what they
//! make is a NATS message, and whoever needs it subscribes.
//!
//! The tail producer arrives with issue 3 (live tail) and directory sync with its own issue; this
//! crate holds their code and nothing else.
