//! The one publisher every producer and processor uses.
//!
//! A message is published with a `Nats-Msg-Id` that the caller derives from the data's identity
//! (host, source, file, offset; or input stream and sequence), so JetStream stores it once however
//! often it is sent within the duplicate window. [`Publisher::publish`] returns as soon as the
//! message is handed to the client, with an [`AckHandle`] that resolves when JetStream has stored
//! it; at most `max_in_flight` messages are unacknowledged at a time, and `publish` waits for room
//! rather than grow memory. An ack that times out (a broker restart, a lost connection) is
//! answered by publishing again with the same id until `max_attempts`.
//!
//! Payloads of `compress_from` bytes or more go out as a zstd frame (the broker's cost is per
//! stored byte; see `tailrace_schemas::codec`), so every producer and processor compresses the
//! same way and every reader's `decode` undoes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, publish::PublishAck};
use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tailrace_schemas::{EncodeError, Payload, Subject};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::config::PublisherConfig;

/// A message ready to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: Subject,
    pub payload: Bytes,
    /// Deduplication id: the same data must always get the same id.
    pub msg_id: String,
}

impl Outgoing {
    /// Encodes `value` for the wire.
    pub fn encode<T: Payload>(subject: Subject, value: &T, msg_id: String) -> Result<Self, EncodeError> {
        Ok(Self { subject, payload: Bytes::from(tailrace_schemas::encode(value)?), msg_id })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("JetStream refused {subject}: {source}")]
    Rejected { subject: Subject, source: async_nats::jetstream::context::PublishError },
    #[error("no acknowledgement for {subject} after {attempts} attempts: {source}")]
    GaveUp { subject: Subject, attempts: u32, source: async_nats::jetstream::context::PublishError },
    #[error("the publisher's runtime ended before the message was acknowledged")]
    Dropped,
}

/// Resolves when JetStream has stored the message (or the publisher gave up).
#[derive(Debug)]
pub struct AckHandle {
    rx: oneshot::Receiver<Result<PublishAck, PublishError>>,
}

impl Future for AckHandle {
    type Output = Result<PublishAck, PublishError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(result) => result,
            Err(_) => Err(PublishError::Dropped),
        })
    }
}

/// Cheap to clone: every clone shares one connection, one in-flight limit, one set of counters
/// and one acker task.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
    /// Settling futures for the acker task. Only `Publisher`s hold senders, so the task ends
    /// (after settling what it holds) when the last clone is dropped.
    acker: mpsc::UnboundedSender<Settling>,
}

type Settling = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Drives every in-flight acknowledgement of one publisher in one task: one wake-up settles as
/// many acks as have arrived, where a task per message would be woken (and scheduled) for each.
async fn acker(mut rx: mpsc::UnboundedReceiver<Settling>) {
    let mut settling = FuturesUnordered::new();
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Some(f) => settling.push(f),
                None => break,
            },
            Some(()) = settling.next(), if !settling.is_empty() => {}
        }
    }
    while settling.next().await.is_some() {}
}

#[derive(Debug)]
struct Inner {
    js: jetstream::Context,
    in_flight: Arc<Semaphore>,
    cfg: PublisherConfig,
    counters: Counters,
}

/// Resolved once: looking a counter up by name on every message costs more than publishing it.
struct Counters {
    messages: metrics::Counter,
    bytes: metrics::Counter,
    duplicates: metrics::Counter,
    retries: metrics::Counter,
    failures: metrics::Counter,
    compressed_bytes_saved: metrics::Counter,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counters")
    }
}

fn retryable(kind: PublishErrorKind) -> bool {
    // StreamNotFound is "no responders": also what a restarting server answers for a moment.
    matches!(
        kind,
        PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
            | PublishErrorKind::Other
            | PublishErrorKind::StreamNotFound
    )
}

impl Publisher {
    pub fn new(client: async_nats::Client, cfg: PublisherConfig) -> Self {
        let max = cfg.max_in_flight.max(1);
        // The context's own limit sits above ours so it never refuses; ours is the one that waits.
        let js = jetstream::ContextBuilder::new()
            .timeout(cfg.ack_timeout)
            .max_ack_inflight(max * 2)
            .backpressure_on_inflight(true)
            .build(client);
        let counters = Counters {
            messages: metrics::counter!("tailrace_publish_messages_total"),
            bytes: metrics::counter!("tailrace_publish_bytes_total"),
            duplicates: metrics::counter!("tailrace_publish_duplicates_total"),
            retries: metrics::counter!("tailrace_publish_retries_total"),
            failures: metrics::counter!("tailrace_publish_failures_total"),
            compressed_bytes_saved: metrics::counter!("tailrace_publish_compression_saved_bytes_total"),
        };
        let (acker_tx, acker_rx) = mpsc::unbounded_channel();
        tokio::spawn(acker(acker_rx));
        Self {
            inner: Arc::new(Inner { js, in_flight: Arc::new(Semaphore::new(max)), cfg, counters }),
            acker: acker_tx,
        }
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.js
    }

    /// `out` as it will go on the wire (compressed when long enough). [`Publisher::publish`] does
    /// this itself; a caller with cores to spare does it first, off the task that publishes.
    pub fn prepare(&self, mut out: Outgoing) -> Outgoing {
        out.payload = self.inner.compressed(out.payload);
        out
    }

    /// Publishes `out`, waiting only for room among the in-flight messages.
    pub async fn publish(&self, out: Outgoing) -> AckHandle {
        let out = self.prepare(out);
        let permit = self.inner.in_flight.clone().acquire_owned().await.ok();
        let (tx, rx) = oneshot::channel();
        let first = self.inner.send(&out).await;
        let inner = self.inner.clone();
        let settling = Box::pin(async move {
            let result = inner.settle(out, first).await;
            drop(permit);
            let _ = tx.send(result);
        });
        if let Err(mpsc::error::SendError(settling)) = self.acker.send(settling) {
            // The acker ended with its runtime; settle here rather than lose the ack.
            settling.await;
        }
        AckHandle { rx }
    }

    /// Publishes and waits for the acknowledgement.
    pub async fn publish_and_wait(&self, out: Outgoing) -> Result<PublishAck, PublishError> {
        self.publish(out).await.await
    }

    /// Waits until every message published so far is acknowledged or given up.
    pub async fn flush(&self) {
        let all = self.inner.cfg.max_in_flight.max(1) as u32;
        let _ = self.inner.in_flight.acquire_many(all).await;
    }
}

impl Inner {
    /// `payload` as a zstd frame when it is long enough and the frame is shorter.
    fn compressed(&self, payload: Bytes) -> Bytes {
        let from = self.cfg.compress_from;
        if from == 0 || payload.len() < from || tailrace_schemas::is_compressed(&payload) {
            return payload;
        }
        match tailrace_schemas::compress(&payload) {
            // Incompressible payloads (already compressed data, random bytes) go as they are.
            Ok(frame) if frame.len() < payload.len() => {
                self.counters.compressed_bytes_saved.increment((payload.len() - frame.len()) as u64);
                Bytes::from(frame)
            }
            Ok(_) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "cannot compress a payload; sending it plain");
                payload
            }
        }
    }

    async fn send(
        &self,
        out: &Outgoing,
    ) -> Result<PublishAckFuture, async_nats::jetstream::context::PublishError> {
        let msg = PublishMessage::build().payload(out.payload.clone()).message_id(&out.msg_id);
        self.js.send_publish(out.subject.as_str().to_owned(), msg).await
    }

    async fn settle(
        &self,
        out: Outgoing,
        first: Result<PublishAckFuture, async_nats::jetstream::context::PublishError>,
    ) -> Result<PublishAck, PublishError> {
        let (cfg, counters) = (&self.cfg, &self.counters);
        let mut attempt = 1u32;
        let mut pending = first;
        loop {
            let result = match pending {
                Ok(fut) => fut.await,
                Err(e) => Err(e),
            };
            match result {
                Ok(ack) => {
                    counters.messages.increment(1);
                    counters.bytes.increment(out.payload.len() as u64);
                    if ack.duplicate {
                        counters.duplicates.increment(1);
                    }
                    return Ok(ack);
                }
                Err(e) if retryable(e.kind()) && attempt < cfg.max_attempts => {
                    counters.retries.increment(1);
                    tracing::debug!(subject = %out.subject, attempt, error = %e, "publish not acknowledged; sending again with the same id");
                    let delay = crate::connect::backoff(
                        attempt as usize - 1,
                        Duration::from_millis(50),
                        Duration::from_secs(2),
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    pending = self.send(&out).await;
                }
                Err(source) => {
                    counters.failures.increment(1);
                    return Err(if retryable(source.kind()) {
                        PublishError::GaveUp { subject: out.subject, attempts: attempt, source }
                    } else {
                        PublishError::Rejected { subject: out.subject, source }
                    });
                }
            }
        }
    }
}
