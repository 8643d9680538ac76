//! Processors: turn subjects into other subjects.
//!
//! Owns the processor runtime ([`runtime`]: a [`Processor`] is input filters, a handler and
//! outputs, driven by `tailrace_nats::ConsumerRunner` on a durable consumer of its own) and the
//! built-in processors, one module each, named after them: [`classify`] (category and severity
//! of every line), [`fingerprint`] (issue occurrences of warn and error lines), [`reports`]
//! (the report splitter: controller reports into telemetry and issues) and the example a
//! developer copies ([`example`]). [`registry`] starts them by name. The algorithms are
//! separate and free of I/O: [`line`](mod@line) (header, structured fields, severity) and
//! [`template`] (masking and template mining: what a line's fingerprint is).
//!
//! Processors never write to sled, never serve HTTP and never call another component directly:
//! their only input and output are NATS messages, acknowledged in that order.

pub mod classify;
pub mod example;
pub mod fingerprint;
pub mod line;
pub mod registry;
pub mod reports;
pub mod runtime;
pub mod synthetic;
pub mod template;

pub use runtime::{run, Inputs, Processor};
