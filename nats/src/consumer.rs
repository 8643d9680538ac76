//! The one consumer runner every processor and sink uses.
//!
//! It drives a durable pull consumer: fetch a batch, hand each message to the [`Handler`],
//! publish the handler's outputs through the [`Publisher`], and ack the input only after every
//! output is acknowledged by JetStream. A [`Handler::concurrent`] handler gets up to
//! `concurrency` messages at once, each on a task of its own (so a CPU-bound handler uses every
//! core); outputs are published in the order the inputs were delivered either way. Outputs carry
//! ids derived from the input's stream and sequence, so a redelivery republishes the same ids and
//! JetStream drops the copies. A handler that panics on a message dead-letters that message.
//!
//! A handler that fails with [`HandleError::Retry`] gets the message again after a backoff; after
//! `max_deliveries` deliveries (or at once for [`HandleError::Reject`]) the message goes to
//! `dlq.{consumer}` as a [`DeadLetter`] with the reason, and is terminated. Outputs that cannot be
//! stored (the broker is away, a leader is being elected) are not the message's fault: such a
//! message is redelivered with backoff for as long as it takes, never dead-lettered for it. On cancellation the
//! runner stops fetching, finishes what it holds, and returns.
//!
//! An aggregating handler (one with a [`Handler::window`]) folds many inputs into one output:
//! the runner holds the inputs it handled, asks for [`Handler::flush`] once per window (and on
//! shutdown, and when it holds too many), publishes the flush's outputs and acks the held
//! inputs only once those are stored. A crash before the acks redelivers the held inputs, so
//! nothing is lost; the flush's ids name the held sequence range, so re-forming the same window
//! is stored once. Redelivered inputs that form a different range are aggregated again: after
//! such a crash a count can be higher than the truth, never lower.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use tailrace_schemas::{subject, DeadLetter, Subject, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::config::ConsumerConfig;
use crate::publisher::{AckHandle, Outgoing, Publisher};
use crate::topology::{ConsumerSpec, TopologyError};

/// One delivered message.
#[derive(Debug)]
pub struct Delivery {
    message: jetstream::Message,
    pub stream_seq: u64,
    /// 1 on the first delivery.
    pub delivered: u64,
}

impl Delivery {
    pub fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    pub fn payload(&self) -> &Bytes {
        &self.message.payload
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.headers.as_ref()?.get(name).map(|v| v.as_str())
    }

    /// When the stream stored this message.
    pub fn stored_at(&self) -> Option<tailrace_schemas::Timestamp> {
        let info = self.message.info().ok()?;
        i64::try_from(info.published.unix_timestamp_nanos()).ok().map(tailrace_schemas::Timestamp::from_nanos)
    }

    /// A deduplication id for the `index`th output of this input, stable across redeliveries.
    pub fn output_id(&self, consumer: &str, index: usize) -> String {
        format!("{consumer}/{}/{index}", self.stream_seq)
    }
}

/// The inputs one flush of an aggregating handler covers: the lowest and highest stream sequence
/// among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushId {
    pub first_seq: u64,
    pub last_seq: u64,
}

impl FlushId {
    /// A deduplication id for the `index`th output of this flush: the same inputs flushed again
    /// (after a crash before their acks) give the same ids.
    pub fn output_id(&self, consumer: &str, index: usize) -> String {
        format!("{consumer}/w{}-{}/{index}", self.first_seq, self.last_seq)
    }
}

/// Why a handler could not handle a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandleError {
    /// Worth trying again later (a dependency is down): redelivered with backoff.
    #[error("{0}")]
    Retry(String),
    /// Will never succeed (malformed payload): dead-lettered at once.
    #[error("{0}")]
    Reject(String),
}

/// What a processor or sink does with one message: returns the messages to publish, which the
/// runner publishes and waits for before it acks the input. A sink returns none and does its
/// own (idempotent) write before returning.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<Vec<Outgoing>, HandleError>> + Send;

    /// Whether up to `concurrency` messages may be handled at once, each on a task of its own
    /// (outputs are published in input order either way). Worth it for a CPU-bound, stateless
    /// handler; a handler that applies inputs to state in order (a sink recording the last
    /// sequence it applied) keeps the default, one at a time.
    fn concurrent(&self) -> bool {
        false
    }

    /// For a handler that aggregates: how long it may hold handled inputs before
    /// [`Handler::flush`]. `None` (the default): each input is settled on its own.
    fn window(&self) -> Option<Duration> {
        None
    }

    /// The outputs aggregated from every input handled since the last flush; the handler starts
    /// a new window. Those inputs are acked once these outputs are stored; if this fails they
    /// are redelivered (and must have been forgotten by the handler).
    fn flush(&self, id: FlushId) -> impl Future<Output = Result<Vec<Outgoing>, HandleError>> + Send {
        let _ = id;
        async { Ok(Vec::new()) }
    }

    /// For an aggregating handler that must see every message of its input once, in stream
    /// order (a sink that skips what is at or below the last sequence it applied). Such a
    /// handler is not fed from the durable consumer (whose redeliveries come after later
    /// messages, so a message whose delivery was lost in a failover would be skipped) but from
    /// an ordered consumer starting at [`ConsumerSpec::start`], which JetStream keeps gap-free
    /// across reconnects; nothing is acked. A failed flush, or a `Retry`, stops the runner:
    /// its owner starts again from what it applied.
    fn in_order(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Consumer(#[from] TopologyError),
    #[error("consumer {name}: cannot fetch: {source}")]
    Fetch { name: String, source: async_nats::Error },
    /// An in-order handler could not apply what it was given: the runner stopped without
    /// settling, and its owner resumes from the last applied sequence.
    #[error("consumer {name} stopped: {reason}")]
    Stopped { name: String, reason: String },
}

#[derive(Debug)]
pub struct ConsumerRunner {
    spec: ConsumerSpec,
    cfg: ConsumerConfig,
    publisher: Publisher,
}

/// What an in-order runner holds at most before it flushes early: payload bytes, and inputs.
const IN_ORDER_HELD_BYTES: usize = 64 << 20;
const IN_ORDER_HELD: usize = 1 << 20;

/// An input an aggregating handler took in, with the acks of the outputs it gave at once.
struct Held {
    delivery: Delivery,
    acks: Vec<AckHandle>,
}

/// What an in-order runner keeps of a window's inputs: their sequence range and the acks of the
/// outputs they gave at once. Not the inputs themselves: nothing acks them, and a window of a
/// fleet's issue occurrences held ~100,000 messages, whose memory, fresh each window, cost more
/// page faults than the sink's work (BENCHMARKS.md, "Fleet telemetry").
#[derive(Default)]
struct Window {
    inputs: usize,
    first_seq: u64,
    last_seq: u64,
    acks: Vec<AckHandle>,
}

impl Window {
    fn take_in(&mut self, seq: u64, acks: Vec<AckHandle>) {
        if self.inputs == 0 {
            self.first_seq = seq;
        }
        self.first_seq = self.first_seq.min(seq);
        self.last_seq = self.last_seq.max(seq);
        self.inputs += 1;
        self.acks.extend(acks);
    }
}

type Settling = std::pin::Pin<Box<dyn Future<Output = Settled> + Send>>;

/// A message handled on a task of its own, with its outputs already prepared for the wire.
type Handled = (Delivery, Result<Vec<Outgoing>, HandleError>);

enum Settled {
    Acked,
    Retried,
    DeadLettered,
}

impl ConsumerRunner {
    pub fn new(spec: ConsumerSpec, cfg: ConsumerConfig, publisher: Publisher) -> Self {
        Self { spec, cfg, publisher }
    }

    /// Runs until `cancel` fires; returns after the messages already fetched are settled.
    pub async fn run<H: Handler>(self, handler: H, cancel: CancellationToken) -> Result<(), RunnerError> {
        if handler.in_order() {
            return self.run_in_order(handler, cancel).await;
        }
        let js = self.publisher.jetstream().clone();
        let consumer = tokio::select! {
            c = self.spec.ensure(&js, &self.cfg) => c?,
            // Stopped before its consumer could be made (the server away): nothing was taken in,
            // so there is nothing to settle, and stopping is not a failure.
            _ = cancel.cancelled() => return Ok(()),
        };
        let name = self.spec.name.to_string();
        tracing::info!(consumer = %name, stream = %self.spec.stream, "consumer runner started");
        let this = Arc::new(self);
        let handler = Arc::new(handler);
        let mut in_flight = FuturesUnordered::new();
        let mut handling = FuturesOrdered::new();
        let limit = this.cfg.batch.max(1) * 2;
        let mut fetch_failures = 0usize;
        let window = handler.window();
        let concurrency =
            if window.is_none() && handler.concurrent() { this.cfg.concurrency.max(1) } else { 1 };
        let mut held: Vec<Held> = Vec::new();
        // Below the consumer's max_ack_pending, so the server keeps delivering while we hold.
        let held_limit = (this.cfg.batch * 4).max(512);
        let mut deadline = window.map(|w| Instant::now() + w);
        while !cancel.is_cancelled() {
            let mut expires = Duration::from_millis(500);
            if let (Some(w), Some(d)) = (window, deadline) {
                let now = Instant::now();
                if now >= d || held.len() >= held_limit {
                    this.flush(handler.as_ref(), &mut held).await.map_err(|reason| stopped(&name, reason))?;
                    deadline = Some(now + w);
                }
                // Wake for the next flush even if nothing arrives.
                expires = deadline
                    .map_or(expires, |d| d.saturating_duration_since(Instant::now()))
                    .clamp(Duration::from_millis(20), expires);
            }
            let fetch = consumer.fetch().max_messages(this.cfg.batch.max(1)).expires(expires).messages();
            let batch = tokio::select! {
                _ = cancel.cancelled() => break,
                b = fetch => b,
            };
            let mut batch = match batch {
                Ok(b) => {
                    fetch_failures = 0;
                    b
                }
                Err(e) => {
                    fetch_failures += 1;
                    tracing::warn!(consumer = %name, error = %e, "fetch failed; retrying");
                    tokio::time::sleep(crate::connect::backoff(
                        fetch_failures,
                        Duration::from_millis(50),
                        Duration::from_secs(5),
                    ))
                    .await;
                    continue;
                }
            };
            loop {
                // Publishing and settling go on while the batch is awaited: a fetch that is not
                // full waits for its expiry, and the outputs must not wait with it.
                let message = tokio::select! {
                    m = batch.next() => m,
                    Some(handled) = handling.next(), if !handling.is_empty() => {
                        this.publish_in_order(handled, &name, &mut in_flight).await;
                        continue;
                    }
                    Some(_) = in_flight.next(), if !in_flight.is_empty() => continue,
                };
                let Some(message) = message else { break };
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(consumer = %name, error = %e, "fetch ended early");
                        break;
                    }
                };
                let Ok(info) = message.info() else {
                    tracing::warn!(consumer = %name, subject = %message.subject, "message without JetStream metadata; skipped");
                    continue;
                };
                let delivery = Delivery {
                    stream_seq: info.stream_sequence,
                    delivered: info.delivered.max(1) as u64,
                    message,
                };
                metrics::counter!("tailrace_consumer_received_total", "consumer" => name.clone())
                    .increment(1);
                if window.is_some() {
                    // Handled in order and held until the window's flush is stored.
                    match guarded(handler.handle(&delivery), handle_panicked).await {
                        Ok(outputs) => {
                            let mut acks = Vec::with_capacity(outputs.len());
                            for out in outputs {
                                acks.push(this.publisher.publish(out).await);
                            }
                            held.push(Held { delivery, acks });
                        }
                        Err(e) => {
                            let this = this.clone();
                            in_flight.push(this.settle_owned(delivery, Err(e)));
                        }
                    }
                    continue;
                }
                let (handler, publisher) = (handler.clone(), this.publisher.clone());
                handling.push_back(tokio::spawn(async move {
                    let outcome = guarded(handler.handle(&delivery), handle_panicked).await;
                    let outcome =
                        outcome.map(|outs| outs.into_iter().map(|o| publisher.prepare(o)).collect());
                    (delivery, outcome)
                }));
                while handling.len() >= concurrency {
                    if let Some(handled) = handling.next().await {
                        this.publish_in_order(handled, &name, &mut in_flight).await;
                    }
                }
                while in_flight.len() >= limit {
                    in_flight.next().await;
                }
            }
            while let Some(handled) = handling.next().await {
                this.publish_in_order(handled, &name, &mut in_flight).await;
            }
            // Drain settled futures without blocking the next fetch.
            while let Some(Some(_)) = futures::FutureExt::now_or_never(in_flight.next()) {}
        }
        while in_flight.next().await.is_some() {}
        if window.is_some() {
            this.flush(handler.as_ref(), &mut held).await.map_err(|reason| stopped(&name, reason))?;
        }
        tracing::info!(consumer = %name, "consumer runner stopped");
        Ok(())
    }

    /// Publishes a handled message's outputs (in the order of their inputs: the caller awaits
    /// handled messages in delivery order) and leaves the wait for their acks to `in_flight`.
    async fn publish_in_order(
        self: &Arc<Self>,
        handled: Result<Handled, tokio::task::JoinError>,
        name: &str,
        in_flight: &mut FuturesUnordered<Settling>,
    ) {
        let (delivery, outcome) = match handled {
            Ok(handled) => handled,
            Err(e) => {
                // Only a runtime shutting down cancels the task (panics are caught in it); the
                // message stays unacked and is redelivered after ack_wait.
                tracing::warn!(consumer = name, error = %e, "handling was cancelled");
                return;
            }
        };
        let outcome = match outcome {
            Ok(outputs) => {
                let mut acks = Vec::with_capacity(outputs.len());
                for out in outputs {
                    acks.push(self.publisher.publish(out).await);
                }
                Ok(acks)
            }
            Err(e) => Err(e),
        };
        in_flight.push(self.clone().settle_owned(delivery, outcome));
    }

    fn settle_owned(
        self: Arc<Self>,
        delivery: Delivery,
        outcome: Result<Vec<AckHandle>, HandleError>,
    ) -> Settling {
        Box::pin(async move { self.settle(delivery, outcome).await })
    }

    /// An in-order handler fed from an ordered consumer (see [`Handler::in_order`]): handled
    /// one by one, flushed once per window; nothing to ack.
    async fn run_in_order<H: Handler>(
        self,
        handler: H,
        cancel: CancellationToken,
    ) -> Result<(), RunnerError> {
        let name = self.spec.name.to_string();
        let js = self.publisher.jetstream().clone();
        let consumer_err = |e: String| stopped(&name, format!("cannot read {}: {e}", self.spec.stream));
        let stream = js
            .get_stream_no_info(self.spec.stream.as_str())
            .await
            .map_err(|e| consumer_err(e.to_string()))?;
        let filters: Vec<String> = self.spec.filters.iter().map(|f| f.as_str().to_owned()).collect();
        let deliver_policy = match self.spec.start {
            Some(seq) if seq > 1 => {
                jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: seq }
            }
            _ => jetstream::consumer::DeliverPolicy::All,
        };
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subjects: filters,
                deliver_policy,
                // How `tailrace replay --rebuild` finds a sink's reader to show its progress.
                description: Some(self.spec.description.clone()).filter(|d| !d.is_empty()),
                ..Default::default()
            })
            .await
            .map_err(|e| consumer_err(e.to_string()))?;
        let mut messages = consumer.messages().await.map_err(|e| consumer_err(e.to_string()))?;
        tracing::info!(consumer = %name, stream = %self.spec.stream, from = ?self.spec.start, "in-order runner started");
        let window = handler.window().unwrap_or(Duration::from_millis(200));
        let mut deadline = Instant::now() + window;
        let mut held = Window::default();
        // Nothing is acked here, so no server limit bounds a window: its time does, and a cap
        // on the payloads' bytes bounds what the handler gathers. A cap by count (as above) made
        // a sink of small messages write its tables dozens of times a second, each rewriting the
        // same rows.
        let mut held_bytes = 0usize;
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(deadline) => None,
                m = messages.next() => Some(m),
            };
            let message = match next {
                None => {
                    self.flush_in_order(&handler, &mut held)
                        .await
                        .map_err(|reason| stopped(&name, reason))?;
                    held_bytes = 0;
                    deadline = Instant::now() + window;
                    continue;
                }
                Some(None) => return Err(stopped(&name, "the ordered consumer ended".to_owned())),
                Some(Some(Err(e))) => return Err(stopped(&name, format!("reading: {e}"))),
                Some(Some(Ok(m))) => m,
            };
            let Ok(info) = message.info() else { continue };
            let delivery = Delivery {
                stream_seq: info.stream_sequence,
                delivered: info.delivered.max(1) as u64,
                message,
            };
            metrics::counter!("tailrace_consumer_received_total", "consumer" => name.clone()).increment(1);
            match guarded(handler.handle(&delivery), handle_panicked).await {
                Ok(outputs) => {
                    let mut acks = Vec::with_capacity(outputs.len());
                    for out in outputs {
                        acks.push(self.publisher.publish(out).await);
                    }
                    held_bytes += delivery.message.payload.len();
                    held.take_in(delivery.stream_seq, acks);
                }
                Err(HandleError::Reject(reason)) => {
                    if !matches!(
                        self.dead_letter(&delivery, format!("rejected: {reason}")).await,
                        Settled::DeadLettered
                    ) {
                        return Err(stopped(&name, "cannot write a dead letter".to_owned()));
                    }
                }
                Err(HandleError::Retry(reason)) => return Err(stopped(&name, reason)),
            }
            if held_bytes >= IN_ORDER_HELD_BYTES || held.inputs >= IN_ORDER_HELD {
                self.flush_in_order(&handler, &mut held).await.map_err(|reason| stopped(&name, reason))?;
                held_bytes = 0;
                deadline = Instant::now() + window;
            }
        }
        self.flush_in_order(&handler, &mut held).await.map_err(|reason| stopped(&name, reason))?;
        tracing::info!(consumer = %name, "in-order runner stopped");
        Ok(())
    }

    /// Flushes an in-order handler's window; a failure is returned, nothing is settled (an
    /// ordered consumer's messages are not acked).
    async fn flush_in_order<H: Handler>(&self, handler: &H, held: &mut Window) -> Result<(), String> {
        if held.inputs == 0 {
            return Ok(());
        }
        let held = std::mem::take(held);
        let id = FlushId { first_seq: held.first_seq, last_seq: held.last_seq };
        let mut stored = match guarded(handler.flush(id), flush_panicked).await {
            Ok(outputs) => self.publish_all(outputs).await.map_err(HandleError::Retry),
            Err(e) => Err(e),
        };
        for ack in held.acks {
            if let Err(e) = ack.await {
                stored = stored.and(Err(HandleError::Retry(e.to_string())));
            }
        }
        stored.map_err(|e| format!("flush failed: {e}"))
    }

    /// Flushes an aggregating handler and settles the inputs it held (in-order handlers:
    /// [`ConsumerRunner::flush_in_order`]).
    async fn flush<H: Handler>(&self, handler: &H, held: &mut Vec<Held>) -> Result<(), String> {
        if held.is_empty() {
            return Ok(());
        }
        let name = self.spec.name.as_str();
        let held = std::mem::take(held);
        let id = FlushId {
            first_seq: held.iter().map(|h| h.delivery.stream_seq).min().unwrap_or(0),
            last_seq: held.iter().map(|h| h.delivery.stream_seq).max().unwrap_or(0),
        };
        let stored = match guarded(handler.flush(id), flush_panicked).await {
            Ok(outputs) => self.publish_all(outputs).await.map_err(HandleError::Retry),
            Err(e) => Err(e),
        };
        let mut inputs = Vec::with_capacity(held.len());
        let mut stored = stored;
        for Held { delivery, acks } in held {
            for ack in acks {
                if let Err(e) = ack.await {
                    stored = stored.and(Err(HandleError::Retry(e.to_string())));
                }
            }
            inputs.push(delivery);
        }
        match stored {
            Ok(()) => {
                for delivery in &inputs {
                    if let Err(e) = delivery.message.ack().await {
                        tracing::warn!(consumer = name, error = %e, "ack failed; the message will be redelivered");
                    }
                }
                metrics::counter!("tailrace_consumer_acked_total", "consumer" => name.to_owned())
                    .increment(inputs.len() as u64);
            }
            Err(HandleError::Retry(reason)) => {
                tracing::warn!(consumer = name, error = %reason, inputs = inputs.len(), "flush failed; its inputs will be redelivered");
                for delivery in &inputs {
                    self.redeliver(delivery, &reason).await;
                }
            }
            Err(e) => {
                for delivery in inputs {
                    self.settle(delivery, Err(e.clone())).await;
                }
            }
        }
        Ok(())
    }

    /// NAKs with backoff, whatever the delivery count: for failures that are the broker's
    /// (outputs not stored, a flush that could not write), not the message's, so a long outage
    /// delays messages instead of dead-lettering them.
    async fn redeliver(&self, delivery: &Delivery, reason: &str) -> Settled {
        let name = self.spec.name.as_str();
        metrics::counter!("tailrace_consumer_retried_total", "consumer" => name.to_owned()).increment(1);
        let delay = crate::connect::backoff(
            delivery.delivered.saturating_sub(1) as usize,
            self.cfg.retry_delay,
            self.cfg.max_retry_delay,
        );
        tracing::debug!(consumer = name, seq = delivery.stream_seq, delivered = delivery.delivered, %reason, ?delay, "outputs not stored; will redeliver");
        let _ = delivery.message.ack_with(AckKind::Nak(Some(delay))).await;
        Settled::Retried
    }

    /// Waits for the outputs' acks, then acks the input; or retries or dead-letters it.
    async fn settle(&self, delivery: Delivery, outcome: Result<Vec<AckHandle>, HandleError>) -> Settled {
        let name = self.spec.name.as_str();
        let error = match outcome {
            Ok(acks) => match wait_all(acks).await {
                Ok(()) => {
                    if let Err(e) = delivery.message.ack().await {
                        // Not acked means redelivered; the outputs' ids make that harmless.
                        tracing::warn!(consumer = name, error = %e, "ack failed; the message will be redelivered");
                    }
                    metrics::counter!("tailrace_consumer_acked_total", "consumer" => name.to_owned())
                        .increment(1);
                    return Settled::Acked;
                }
                // Not stored: the broker's trouble, not the message's.
                Err(reason) => return self.redeliver(&delivery, &reason).await,
            },
            Err(e) => e,
        };
        let give_up = matches!(error, HandleError::Reject(_))
            || delivery.delivered >= u64::from(self.cfg.max_deliveries);
        if give_up {
            let reason = match &error {
                HandleError::Reject(r) => format!("rejected: {r}"),
                HandleError::Retry(r) => format!("failed {} times; last: {r}", delivery.delivered),
            };
            return self.dead_letter(&delivery, reason).await;
        }
        metrics::counter!("tailrace_consumer_retried_total", "consumer" => name.to_owned()).increment(1);
        let delay = crate::connect::backoff(
            delivery.delivered as usize - 1,
            self.cfg.retry_delay,
            self.cfg.max_retry_delay,
        );
        tracing::debug!(consumer = name, seq = delivery.stream_seq, delivered = delivery.delivered, error = %error, ?delay, "handler failed; will redeliver");
        let _ = delivery.message.ack_with(AckKind::Nak(Some(delay))).await;
        Settled::Retried
    }

    async fn publish_all(&self, outputs: Vec<Outgoing>) -> Result<(), String> {
        let mut handles = Vec::with_capacity(outputs.len());
        for out in outputs {
            handles.push(self.publisher.publish(out).await);
        }
        wait_all(handles).await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: String) -> Settled {
        let name = &self.spec.name;
        let info = delivery.message.info().ok();
        let letter = DeadLetter {
            v: 1,
            consumer: name.clone(),
            stream: info.as_ref().map_or_else(|| self.spec.stream.to_string(), |i| i.stream.to_owned()),
            stream_seq: delivery.stream_seq,
            subject: delivery.subject().to_owned(),
            deliveries: delivery.delivered,
            reason: reason.clone(),
            failed_at: Timestamp::now(),
            headers: delivery
                .message
                .headers
                .iter()
                .flat_map(|h| h.iter())
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.as_str().to_owned())))
                .collect(),
            payload: delivery.payload().to_vec(),
        };
        let dlq: Subject = subject::dlq(name);
        let out = match Outgoing::encode(dlq, &letter, format!("dlq/{name}/{}", delivery.stream_seq)) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(consumer = %name, error = %e, "cannot encode dead letter");
                return Settled::Retried;
            }
        };
        match self.publisher.publish_and_wait(out).await {
            Ok(_) => {
                let _ = delivery.message.ack_with(AckKind::Term).await;
                metrics::counter!("tailrace_consumer_dead_lettered_total", "consumer" => name.to_string())
                    .increment(1);
                tracing::warn!(consumer = %name, seq = delivery.stream_seq, %reason, "message dead-lettered");
                Settled::DeadLettered
            }
            Err(e) => {
                // Leave it un-acked: it comes back and we try the dead letter again.
                tracing::error!(consumer = %name, error = %e, "cannot publish dead letter; will retry");
                Settled::Retried
            }
        }
    }
}

/// Waits for every ack; the first failure is the answer.
async fn wait_all(acks: Vec<AckHandle>) -> Result<(), String> {
    for ack in acks {
        ack.await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a panic said, when it said it with a string.
fn stopped(name: &str, reason: String) -> RunnerError {
    RunnerError::Stopped { name: name.to_owned(), reason }
}

/// `work`, with a panic in it caught and turned into an error by `panicked`, so a handler's bug
/// costs one message (or one window), never the runner.
async fn guarded<T>(
    work: impl Future<Output = Result<T, HandleError>>,
    panicked: fn(&str) -> HandleError,
) -> Result<T, HandleError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(panicked(panic_text(&*panic))),
    }
}

/// Redelivering a message the handler panicked on would panic again: the DLQ keeps it and says why.
fn handle_panicked(text: &str) -> HandleError {
    HandleError::Reject(format!("the handler panicked: {text}"))
}

/// A flush covers many inputs, none of them known to be the cause: they are redelivered (and
/// dead-lettered after `max_deliveries` if it keeps happening).
fn flush_panicked(text: &str) -> HandleError {
    HandleError::Retry(format!("the handler's flush panicked: {text}"))
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
