//! The one publisher every producer and processor uses.
//!
//! A message is published with a `Nats-Msg-Id` that the caller derives from the data's identity
//! (host, source, file, offset; or input stream and sequence), so JetStream stores it once however
//! often it is sent within the duplicate window. [`Publisher::publish`] returns as soon as the
//! message is handed to the client, with an [`AckHandle`] that resolves when JetStream has stored
//! it; at most `max_in_flight` messages are unacknowledged at a time, and `publish` waits for room
//! rather than grow memory. An ack that times out (a broker restart, a lost connection) is
//! answered by publishing again with the same id until `max_attempts`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, publish::PublishAck};
use bytes::Bytes;
use tailrace_schemas::{EncodeError, Payload, Subject};
use tokio::sync::{oneshot, Semaphore};

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
    #[error("the publisher was dropped before {subject} was acknowledged")]
    Dropped { subject: Subject },
}

/// Resolves when JetStream has stored the message (or the publisher gave up).
#[derive(Debug)]
pub struct AckHandle {
    subject: Subject,
    rx: oneshot::Receiver<Result<PublishAck, PublishError>>,
}

impl Future for AckHandle {
    type Output = Result<PublishAck, PublishError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(result) => result,
            Err(_) => Err(PublishError::Dropped { subject: self.subject.clone() }),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Publisher {
    js: jetstream::Context,
    in_flight: Arc<Semaphore>,
    cfg: PublisherConfig,
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
        Self { js, in_flight: Arc::new(Semaphore::new(max)), cfg }
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    async fn send(
        &self,
        out: &Outgoing,
    ) -> Result<PublishAckFuture, async_nats::jetstream::context::PublishError> {
        let msg = PublishMessage::build().payload(out.payload.clone()).message_id(&out.msg_id);
        self.js.send_publish(out.subject.as_str().to_owned(), msg).await
    }

    /// Publishes `out`, waiting only for room among the in-flight messages.
    pub async fn publish(&self, out: Outgoing) -> AckHandle {
        let permit = self.in_flight.clone().acquire_owned().await.ok();
        let (tx, rx) = oneshot::channel();
        let subject = out.subject.clone();
        let first = self.send(&out).await;
        let this = self.clone();
        tokio::spawn(async move {
            let result = this.settle(out, first).await;
            drop(permit);
            let _ = tx.send(result);
        });
        AckHandle { subject, rx }
    }

    /// Publishes and waits for the acknowledgement.
    pub async fn publish_and_wait(&self, out: Outgoing) -> Result<PublishAck, PublishError> {
        self.publish(out).await.await
    }

    /// Waits until every message published so far is acknowledged or given up.
    pub async fn flush(&self) {
        let all = self.cfg.max_in_flight.max(1) as u32;
        let _ = self.in_flight.acquire_many(all).await;
    }

    async fn settle(
        &self,
        out: Outgoing,
        first: Result<PublishAckFuture, async_nats::jetstream::context::PublishError>,
    ) -> Result<PublishAck, PublishError> {
        let mut attempt = 1u32;
        let mut pending = first;
        loop {
            let result = match pending {
                Ok(fut) => fut.await,
                Err(e) => Err(e),
            };
            match result {
                Ok(ack) => {
                    metrics::counter!("tailrace_publish_messages_total").increment(1);
                    metrics::counter!("tailrace_publish_bytes_total").increment(out.payload.len() as u64);
                    if ack.duplicate {
                        metrics::counter!("tailrace_publish_duplicates_total").increment(1);
                    }
                    return Ok(ack);
                }
                Err(e) if retryable(e.kind()) && attempt < self.cfg.max_attempts => {
                    metrics::counter!("tailrace_publish_retries_total").increment(1);
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
                    metrics::counter!("tailrace_publish_failures_total").increment(1);
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
