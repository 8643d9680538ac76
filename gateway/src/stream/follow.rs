//! One client's view of a filter: optionally history from a start point, then live events,
//! each exactly once, in stream order.
//!
//! The live part is read straight from the hub's broadcast channel by whoever polls the stream
//! (the client's connection task): no task or queue per client, so a client costs a broadcast
//! receiver and a few hundred bytes of state, and events that are already waiting go out
//! together in one write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use tailrace_nats::replay::Checked;
use tokio::sync::broadcast::{self, error::RecvError};

use tailrace_schemas::StreamName;

use super::hub::{Batch, Event, Hub, Shared};

pub use tailrace_nats::replay::Start;

#[derive(Debug)]
pub enum StreamItem {
    Event(Arc<Event>),
    /// The client fell this many events behind and is cut off.
    Lagged(u64),
    /// The subscription could not be made or broke.
    Failed(String),
}

impl StreamItem {
    /// The event that tells a client its stream ended, the same over SSE and WebSocket, for
    /// subject subscriptions and tails alike: `lagged {missed, detail}` or
    /// `error {error, detail}`, with `subject` when given. `None` for an event.
    pub fn ending(&self, subject: Option<&str>) -> Option<(&'static str, serde_json::Value)> {
        let (name, mut data) = match self {
            StreamItem::Event(_) => return None,
            StreamItem::Lagged(missed) => (
                "lagged",
                serde_json::json!({
                    "missed": missed,
                    "detail": "this client fell behind and was cut off; reconnect to resume from the last event id (SSE) or with from= (WebSocket)",
                }),
            ),
            StreamItem::Failed(reason) => {
                ("error", serde_json::json!({ "error": "unavailable", "detail": reason }))
            }
        };
        if let Some(subject) = subject {
            data["subject"] = serde_json::json!(subject);
        }
        Some((name, data))
    }
}

/// Checks a sequence start against the end of `stream`. A start past the next sequence
/// (`from=1000000000000`, a `Last-Event-ID` from another incarnation of the stream) would make
/// JetStream replay from the first message; asked for explicitly (`field` names the
/// parameter), it is refused, and from a reconnect it becomes live only.
pub async fn check_start(
    hub: &Hub,
    stream: StreamName,
    start: Start,
    field: Option<&str>,
) -> Result<Start, crate::error::ApiError> {
    let checked = tailrace_nats::replay::check(hub.jetstream(), stream, start)
        .await
        .map_err(|e| crate::error::ApiError::Unavailable(e.to_string()))?;
    match (checked, field) {
        (Checked::Valid(start), _) => Ok(start),
        (Checked::PastEnd { seq, last }, Some(field)) => Err(crate::error::ApiError::bad_request(
            field,
            &format!(
                "{seq} is past the end of {stream} (its last sequence is {last}); ask for at most {}, or leave it out for new messages only",
                last + 1
            ),
        )),
        (Checked::PastEnd { .. }, None) => Ok(Start::Live),
    }
}

fn failed(reason: String) -> BoxStream<'static, StreamItem> {
    stream::iter([StreamItem::Failed(reason)]).boxed()
}

/// The events of `filter` on `stream` from `start`, then live. The stream ends after a
/// `Lagged` or `Failed` item. Nothing happens until it is first polled; use [`subscribe`] when
/// the subscription must exist before something else is done (before a tail is started).
pub fn follow(hub: Hub, stream: StreamName, filter: String, start: Start) -> BoxStream<'static, StreamItem> {
    // The setup future (subscribing, creating a replay consumer) is large; boxed on its own, it
    // is freed once it has run instead of sizing every client's stream for good.
    stream::once(Box::pin(subscribe(hub, stream, filter, start))).flatten().boxed()
}

/// Subscribes now (live first, so nothing arriving during the replay is missed), and returns
/// the events of `filter` from `start`, then live.
pub async fn subscribe(
    hub: Hub,
    stream: StreamName,
    filter: String,
    start: Start,
) -> BoxStream<'static, StreamItem> {
    let (shared, rx) = match hub.subscribe(stream, &filter).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let last_sent = Arc::new(AtomicU64::new(0));
    let history = match start {
        Start::Live => stream::empty().boxed(),
        start => match replay(&hub, stream, &filter, start).await {
            Ok(h) => {
                let last_sent = last_sent.clone();
                h.map(move |item| {
                    if let StreamItem::Event(e) = &item {
                        last_sent.store(e.seq, Ordering::Relaxed);
                    }
                    item
                })
                .boxed()
            }
            Err(e) => return failed(e),
        },
    };
    let live =
        stream::unfold(Some(Live { _shared: shared, rx, last_sent, batch: None }), |state| async move {
            let mut live = state?;
            loop {
                if let Some((batch, next)) = &mut live.batch {
                    if let Some(event) = batch.get(*next).cloned() {
                        *next += 1;
                        if event.seq > live.last_sent.load(Ordering::Relaxed) {
                            live.last_sent.store(event.seq, Ordering::Relaxed);
                            return Some((StreamItem::Event(event), Some(live)));
                        }
                        continue;
                    }
                    live.batch = None;
                }
                match live.rx.recv().await {
                    Ok(batch) => live.batch = Some((batch, 0)),
                    Err(RecvError::Lagged(n)) => return Some((StreamItem::Lagged(n), None)),
                    Err(RecvError::Closed) => {
                        return Some((StreamItem::Failed("the subscription ended".into()), None))
                    }
                }
            }
        });
    history
        .chain(live)
        .scan(false, |ended, item| {
            // Nothing follows an item that ends the stream.
            let out = (!*ended).then(|| {
                *ended = !matches!(item, StreamItem::Event(_));
                item
            });
            futures::future::ready(out)
        })
        .boxed()
}

/// The live part of a client's stream: the shared subscription it holds, its receiver, the
/// last sequence it was sent, and the broadcast batch it is part-way through.
struct Live {
    /// Held, not read: the shared subscription lives while a client does.
    _shared: Arc<Shared>,
    rx: broadcast::Receiver<Batch>,
    last_sent: Arc<AtomicU64>,
    batch: Option<(Batch, usize)>,
}

/// Stored events from `start` until caught up, rendered once each.
async fn replay(
    hub: &Hub,
    stream: StreamName,
    filter: &str,
    start: Start,
) -> Result<BoxStream<'static, StreamItem>, String> {
    let history = tailrace_nats::replay::history(hub.jetstream(), stream, filter, start)
        .await
        .map_err(|e| e.to_string())?;
    let max = hub.max_string();
    Ok(history
        .map(move |m| match m {
            Ok(m) => StreamItem::Event(Arc::new(Event::new(m.seq, m.subject, &m.payload, max))),
            Err(e) => StreamItem::Failed(e.to_string()),
        })
        .boxed())
}
