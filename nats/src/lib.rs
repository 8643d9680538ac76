//! tailrace's NATS layer: everything that touches the broker goes through here.
//!
//! # Layout
//! - [`config`]: the `[nats]` section of the config file, with defaults and documentation.
//! - [`connect`](mod@connect): a client from config (URL, credentials file, TLS, reconnect with backoff).
//! - [`server`]: the managed local `nats-server` that `tailrace run` starts when no URL is set:
//!   found on PATH or at a configured path, health-checked, restarted if it dies, stopped cleanly.
//! - [`topology`]: every stream, consumer and KV bucket of DESIGN.md, declared once and applied
//!   idempotently (`tailrace streams apply`).
//! - [`publisher`]: the one publisher every producer uses: `Nats-Msg-Id` from the caller's data
//!   identity, bounded in-flight acks, retry on timeout with the same id. [`batcher`] groups
//!   items into messages by count, size and age.
//! - [`consumer`]: the one consumer runner every processor and sink uses: durable pull consumer,
//!   ack only after the handler's outputs are acknowledged, redelivery with backoff, dead letters.
//! - [`replay`]: reading a stream from a start (sequence, time, last N, new only), for every
//!   reader of history: the gateway's live views, history, replay and sink rebuilds.
//! - [`kv`]: compare-and-swap updates of one KV key, for records several processes change.
//! - [`sessions`]: viewers joining and leaving a desired tail in the `tail-sessions` bucket.
//! - `testing` (feature `testing`): throwaway servers and clusters for every crate's tests.
//!
//! This crate never decides what a message means: it moves bytes between subjects and knows the
//! payload types only to write dead letters. It never touches sled or HTTP.

pub mod batcher;
pub mod config;
pub mod connect;
pub mod consumer;
pub mod kv;
pub mod publisher;
pub mod replay;
pub mod server;
pub mod sessions;
pub mod topology;

#[cfg(feature = "testing")]
pub mod testing;

pub use batcher::Batcher;
pub use config::NatsConfig;
pub use connect::{connect, ConnectError};
pub use consumer::{ConsumerRunner, Delivery, FlushId, HandleError, Handler, RunnerError};
pub use publisher::{AckHandle, Outgoing, PublishError, Publisher};
pub use server::{ManagedServer, ServerError};
pub use topology::{ApplyAction, ApplyOutcome, ConsumerSpec, Topology, TopologyError};

/// `bytes` random bytes from the kernel, as hex: passwords, replica ids.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
