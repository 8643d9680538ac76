//! Processors: turn subjects into other subjects.
//!
//! Owns the processor runtime (a `Processor` is input filters, a handler and outputs, driven by
//! `tailrace_nats::ConsumerRunner` on a durable consumer of its own) and the built-in
//! processors: classify (category and severity), fingerprint (issue templates) and the report
//! splitter. Adding one touches no other.
//!
//! Processors never write to sled, never serve HTTP and never call another component directly:
//! their only input and output are NATS messages, acknowledged in that order.
//!
//! The runtime and built-in processors arrive with issue 4.

pub mod fingerprint;
pub mod line;
