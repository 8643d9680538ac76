//! One JetStream ordered consumer per distinct filter, shared by every client of the process.
//! It starts with the first client and ends when the last one leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_nats::jetstream::{self, consumer::push, consumer::DeliverPolicy};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// One stored message, with its JSON rendered once for every client.
#[derive(Debug)]
pub struct Event {
    pub seq: u64,
    pub subject: String,
    /// `{"subject":..,"seq":..,"payload":..}`
    pub json: String,
    pub payload: serde_json::Value,
}

impl Event {
    pub fn new(seq: u64, subject: String, bytes: &[u8]) -> Self {
        let payload = super::json::payload(&subject, bytes);
        let json = serde_json::json!({ "subject": subject, "seq": seq, "payload": payload }).to_string();
        Self { seq, subject, json, payload }
    }
}

/// A live shared subscription. Dropping the last handle stops it.
#[derive(Debug)]
pub struct Shared {
    pub tx: broadcast::Sender<Arc<Event>>,
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
    live: Arc<Mutex<Subscriptions>>,
}

/// (stream, filter) → the live shared subscription, if any client still holds it.
type Subscriptions = HashMap<(String, String), Weak<Shared>>;

impl Hub {
    /// `capacity`: events a client may fall behind before it is cut off as lagged.
    pub fn new(js: jetstream::Context, capacity: usize) -> Self {
        Self { js, capacity: capacity.max(16), live: Arc::new(Mutex::new(HashMap::new())) }
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
        stream: &str,
        filter: &str,
    ) -> Result<(Arc<Shared>, broadcast::Receiver<Arc<Event>>), String> {
        let key = (stream.to_owned(), filter.to_owned());
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
        let consumer = self
            .js
            .get_stream_no_info(stream)
            .await
            .map_err(|e| e.to_string())?
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.js.client().new_inbox(),
                filter_subject: filter.to_owned(),
                deliver_policy: DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        let (tx, rx) = broadcast::channel(self.capacity);
        let sender = tx.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = messages.next().await {
                let Ok(m) = m else { continue };
                let Ok(info) = m.info() else { continue };
                let event = Event::new(info.stream_sequence, m.subject.to_string(), &m.payload);
                // No receivers for a moment is fine: the last one leaving aborts this task.
                let _ = sender.send(Arc::new(event));
            }
        });
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
