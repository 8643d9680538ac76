//! One client's view of a filter: optionally history from a start point, then live events,
//! each exactly once, in stream order.
//!
//! The live part is read straight from the hub's broadcast channel by whoever polls the stream
//! (the client's connection task): no task or queue per client, so a client costs a broadcast
//! receiver and a few hundred bytes of state, and events that are already waiting go out
//! together in one write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream::consumer::{push, DeliverPolicy};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use tailrace_schemas::StreamName;

use super::hub::{Batch, Event, Hub, Shared};

/// Where a client starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only what arrives from now on.
    Live,
    /// From this stream sequence on (a reconnecting `EventSource` asks for its last id + 1).
    Sequence(u64),
    /// From this time on.
    Time(tailrace_schemas::Timestamp),
    /// The last message of each subject first (tail status).
    LastPerSubject,
}

#[derive(Debug)]
pub enum StreamItem {
    Event(Arc<Event>),
    /// The client fell this many events behind and is cut off.
    Lagged(u64),
    /// The subscription could not be made or broke.
    Failed(String),
}

fn policy(start: Start) -> Option<DeliverPolicy> {
    match start {
        Start::Live => None,
        Start::Sequence(seq) => Some(DeliverPolicy::ByStartSequence { start_sequence: seq.max(1) }),
        Start::Time(t) => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_nanos()))
            .ok()
            .map(|start_time| DeliverPolicy::ByStartTime { start_time }),
        Start::LastPerSubject => Some(DeliverPolicy::LastPerSubject),
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
    let Start::Sequence(seq) = start else { return Ok(start) };
    let last = hub
        .jetstream()
        .get_stream(stream.as_str())
        .await
        .map_err(|e| crate::error::ApiError::Unavailable(format!("stream {stream}: {e}")))?
        .cached_info()
        .state
        .last_sequence;
    if seq <= last.saturating_add(1) {
        return Ok(start);
    }
    match field {
        Some(field) => Err(crate::error::ApiError::bad_request(
            field,
            &format!(
                "{seq} is past the end of {stream} (its last sequence is {last}); ask for at most {}, or leave it out for new messages only",
                last + 1
            ),
        )),
        None => Ok(Start::Live),
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
    let (shared, rx) = match hub.subscribe(stream.as_str(), &filter).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let last_sent = Arc::new(AtomicU64::new(0));
    let history = match policy(start) {
        None => stream::empty().boxed(),
        Some(p) => match replay(&hub, stream.as_str(), &filter, p).await {
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

/// Stored events from `policy` until caught up (the consumer's pending count reaches 0).
async fn replay(
    hub: &Hub,
    stream: &str,
    filter: &str,
    deliver_policy: DeliverPolicy,
) -> Result<BoxStream<'static, StreamItem>, String> {
    let js = hub.jetstream();
    let mut consumer = js
        .get_stream_no_info(stream)
        .await
        .map_err(|e| e.to_string())?
        .create_consumer(push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: filter.to_owned(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if consumer.info().await.map_err(|e| e.to_string())?.num_pending == 0 {
        return Ok(stream::empty().boxed());
    }
    let messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let max = hub.max_string();
    Ok(stream::unfold(Some(messages), move |state| async move {
        let mut messages = state?;
        let item = match messages.next().await? {
            Err(e) => return Some((StreamItem::Failed(e.to_string()), None)),
            Ok(m) => match m.info() {
                Err(e) => return Some((StreamItem::Failed(e.to_string()), None)),
                Ok(info) => {
                    let done = info.pending == 0;
                    let event = Event::new(info.stream_sequence, m.subject.to_string(), &m.payload, max);
                    (StreamItem::Event(Arc::new(event)), done)
                }
            },
        };
        let (item, done) = item;
        Some((item, (!done).then_some(messages)))
    })
    .boxed())
}
