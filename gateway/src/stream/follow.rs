//! One client's view of a filter: optionally history from a start point, then live events,
//! each exactly once, in stream order.

use std::sync::Arc;

use async_nats::jetstream::consumer::{push, DeliverPolicy};
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::hub::{Event, Hub};

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

/// The events of `filter` on `stream` from `start`, then live.
pub fn follow(
    hub: Hub,
    stream: &'static str,
    filter: String,
    start: Start,
) -> BoxStream<'static, StreamItem> {
    async_stream(move |tx| async move {
        // Subscribe to live first, so nothing that arrives during the replay is missed.
        let (shared, mut live) = match hub.subscribe(stream, &filter).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(StreamItem::Failed(e)).await;
                return;
            }
        };
        let mut last_sent = 0u64;
        let policy = match start {
            Start::Live => None,
            Start::Sequence(seq) => Some(DeliverPolicy::ByStartSequence { start_sequence: seq.max(1) }),
            Start::Time(t) => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_nanos()))
                .ok()
                .map(|start_time| DeliverPolicy::ByStartTime { start_time }),
            Start::LastPerSubject => Some(DeliverPolicy::LastPerSubject),
        };
        if let Some(deliver_policy) = policy {
            match replay(&hub, stream, &filter, deliver_policy, &tx).await {
                Ok(seq) => last_sent = seq,
                Err(e) => {
                    let _ = tx.send(StreamItem::Failed(e)).await;
                    return;
                }
            }
        }
        loop {
            match live.recv().await {
                Ok(event) if event.seq <= last_sent => {}
                Ok(event) => {
                    last_sent = event.seq;
                    if tx.send(StreamItem::Event(event)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let _ = tx.send(StreamItem::Lagged(n)).await;
                    break;
                }
                Err(RecvError::Closed) => {
                    let _ = tx.send(StreamItem::Failed("the subscription ended".into())).await;
                    break;
                }
            }
        }
        drop(shared);
    })
}

/// Sends stored events from `policy` until caught up; returns the last sequence sent.
async fn replay(
    hub: &Hub,
    stream: &str,
    filter: &str,
    deliver_policy: DeliverPolicy,
    tx: &tokio::sync::mpsc::Sender<StreamItem>,
) -> Result<u64, String> {
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
        return Ok(0);
    }
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let mut last = 0;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| e.to_string())?;
        let info = m.info().map_err(|e| e.to_string())?;
        last = info.stream_sequence;
        let pending = info.pending;
        let event = Arc::new(Event::new(last, m.subject.to_string(), &m.payload));
        if tx.send(StreamItem::Event(event)).await.is_err() || pending == 0 {
            break;
        }
    }
    Ok(last)
}

/// A stream fed by a task through a small channel (the task ends when the stream is dropped).
fn async_stream<F, Fut>(body: F) -> BoxStream<'static, StreamItem>
where
    F: FnOnce(tokio::sync::mpsc::Sender<StreamItem>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(body(tx));
    let guard = AbortOnDrop(task);
    tokio_stream_from(rx, guard).boxed()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<StreamItem>,
    guard: AbortOnDrop,
) -> impl futures::Stream<Item = StreamItem> + Send + 'static {
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|item| (item, (rx, guard)))
    })
}
