//! One JetStream ordered consumer per distinct filter, shared by every client of the process.
//! It starts with the first client and ends when the last one leaves.
//!
//! Events are broadcast in [`Batch`]es: one event each, except when a filter has so many
//! clients that waking each of them per event would cost more than the events are worth; then
//! the events arriving within [`Linger::window`] go out together (measured in BENCHMARKS.md:
//! 10,000 SSE clients of one subject at 100 events/s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use tailrace_schemas::StreamName;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

/// One stored message, with its JSON and its SSE frame rendered once for every client.
#[derive(Debug)]
pub struct Event {
    pub seq: u64,
    pub subject: String,
    /// `{"subject":..,"seq":..,"payload":..}`
    pub json: String,
    /// `id: {seq}` and `data: {json}`, ready to write to any SSE client.
    pub sse: Bytes,
    pub payload: serde_json::Value,
}

impl Event {
    /// `max_string`: the longest string sent to clients (`gateway.max_line_bytes`).
    pub fn new(seq: u64, subject: String, bytes: &[u8], max_string: usize) -> Self {
        let payload = super::json::payload(&subject, bytes, max_string);
        let json = serde_json::json!({ "subject": subject, "seq": seq, "payload": payload }).to_string();
        let sse = crate::sse::frame(None, Some(&seq.to_string()), &json);
        Self { seq, subject, json, sse, payload }
    }
}

/// Events broadcast together, in stream order.
pub type Batch = Arc<[Arc<Event>]>;

/// When to gather events before broadcasting them.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    /// Gather only while a filter has at least this many clients.
    pub above: usize,
    /// How long the first event of a gathering may wait for others.
    pub window: Duration,
}

impl Linger {
    /// Every event at once, however many clients.
    pub const NEVER: Linger = Linger { above: usize::MAX, window: Duration::ZERO };
}

/// The most events in one gathering.
const MAX_BATCH: usize = 256;

/// A live shared subscription. Dropping the last handle stops it.
#[derive(Debug)]
pub struct Shared {
    pub tx: broadcast::Sender<Batch>,
    task: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone)]
pub struct Hub {
    js: jetstream::Context,
    capacity: usize,
    linger: Linger,
    max_string: usize,
    live: Arc<Mutex<Subscriptions>>,
}

/// (stream, filter) → the live shared subscription, if any client still holds it.
type Subscriptions = HashMap<(String, String), Weak<Shared>>;

impl Hub {
    /// `capacity`: broadcasts (events, or gatherings under heavy fan-out) a client may fall
    /// behind before it is cut off as lagged.
    /// `max_string`: strings of payloads are cut to this many bytes for clients.
    pub fn new(js: jetstream::Context, capacity: usize, linger: Linger, max_string: usize) -> Self {
        Self {
            js,
            capacity: capacity.max(16),
            linger,
            max_string,
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The longest string of a payload sent to clients.
    pub fn max_string(&self) -> usize {
        self.max_string
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Number of distinct live subscriptions (for tests and /metrics).
    pub fn subscriptions(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Joins (or starts) the shared subscription of `filter` on `stream`.
    pub async fn subscribe(
        &self,
        stream: StreamName,
        filter: &str,
    ) -> Result<(Arc<Shared>, broadcast::Receiver<Batch>), String> {
        let key = (stream.as_str().to_owned(), filter.to_owned());
        if let Some(shared) = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .and_then(Weak::upgrade)
        {
            let rx = shared.tx.subscribe();
            return Ok((shared, rx));
        }
        let messages =
            tailrace_nats::replay::ordered(&self.js, stream, filter, tailrace_nats::replay::Start::Live)
                .await
                .map_err(|e| e.to_string())?;
        let (tx, rx) = broadcast::channel(self.capacity);
        let task = tokio::spawn(fan_out(messages, tx.clone(), self.linger, self.max_string));
        let shared = Arc::new(Shared { tx, task });
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|_, w| w.strong_count() > 0);
        // Two clients may have raced to start it; keep the first, drop ours.
        if let Some(existing) = live.get(&key).and_then(Weak::upgrade) {
            let rx = existing.tx.subscribe();
            return Ok((existing, rx));
        }
        live.insert(key, Arc::downgrade(&shared));
        Ok((shared, rx))
    }
}

/// Reads the subscription and broadcasts its events, gathering them under heavy fan-out.
async fn fan_out(
    mut messages: tailrace_nats::replay::Ordered,
    sender: broadcast::Sender<Batch>,
    linger: Linger,
    max: usize,
) {
    while let Some(first) = next_event(&mut messages, max).await {
        let mut batch = vec![first];
        if sender.receiver_count() >= linger.above && !linger.window.is_zero() {
            let deadline = Instant::now() + linger.window;
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout_at(deadline, next_event(&mut messages, max)).await {
                    Ok(Some(event)) => batch.push(event),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // No receivers for a moment is fine: the last one leaving aborts this task.
        let _ = sender.send(batch.into());
    }
}

/// The subscription's next event; `None` when it has ended.
async fn next_event(messages: &mut tailrace_nats::replay::Ordered, max: usize) -> Option<Arc<Event>> {
    loop {
        let Ok(m) = messages.next().await? else { continue };
        let Ok(info) = m.info() else { continue };
        return Some(Arc::new(Event::new(info.stream_sequence, m.subject.to_string(), &m.payload, max)));
    }
}
