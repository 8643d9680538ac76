//! Reading a stream from a start position, in one place: the gateway's live views, the history
//! API, `tailrace replay` and sink rebuilds all start here.
//!
//! - [`Start`]: new messages only, a sequence, a time, the last message of each subject, or
//!   the last N messages of a filter;
//! - [`check`]: a sequence start past the end of the stream (JetStream would replay from the
//!   first message) is told apart from a valid one;
//! - [`ordered`]: an ordered push consumer from a start (the hub's live subscriptions);
//! - [`history`]: the stored messages from a start until the stream's end as it was when the
//!   replay began, then the stream ends.
//!
//! JetStream cannot read backwards, so "the last N of a filter" is found by sequence windows:
//! a window ending at the last sequence is widened (4x each time) until it holds N matching
//! messages, then its start is moved up by bisection to the first of exactly those N (each
//! step counts with a short-lived consumer: a few dozen requests for any stream size).

use async_nats::jetstream::{self, consumer::push, consumer::DeliverPolicy};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use tailrace_schemas::{StreamName, Timestamp};

/// Where a reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only what arrives from now on.
    Live,
    /// From this stream sequence on.
    Sequence(u64),
    /// From this time on.
    Time(Timestamp),
    /// The last message of each subject first (tail status).
    LastPerSubject,
    /// The last this many messages of the filter.
    Last(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("stream {stream}: {reason}")]
    Stream { stream: StreamName, reason: String },
    #[error("cannot read {filter} on {stream}: {reason}")]
    Consumer { stream: StreamName, filter: String, reason: String },
    #[error("reading {stream}: {reason}")]
    Read { stream: StreamName, reason: String },
}

/// A start checked against the end of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Valid(Start),
    /// A sequence past the next one to be stored; `last` is the stream's last sequence.
    PastEnd {
        seq: u64,
        last: u64,
    },
}

/// One stored message as a reader gets it.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub seq: u64,
    pub subject: String,
    pub payload: Bytes,
    /// Messages of the filter still to come after this one (0: caught up).
    pub pending: u64,
    /// When the stream stored it.
    pub stored_at: Option<Timestamp>,
}

/// The stream's last sequence now (0 when empty).
pub async fn last_sequence(js: &jetstream::Context, stream: StreamName) -> Result<u64, ReplayError> {
    let s = js
        .get_stream(stream.as_str())
        .await
        .map_err(|e| ReplayError::Stream { stream, reason: e.to_string() })?;
    Ok(s.cached_info().state.last_sequence)
}

/// Tells a sequence start past the end of `stream` (more than one after its last message)
/// from a valid one; other starts are valid.
pub async fn check(
    js: &jetstream::Context,
    stream: StreamName,
    start: Start,
) -> Result<Checked, ReplayError> {
    let Start::Sequence(seq) = start else { return Ok(Checked::Valid(start)) };
    let last = last_sequence(js, stream).await?;
    Ok(if seq <= last.saturating_add(1) { Checked::Valid(start) } else { Checked::PastEnd { seq, last } })
}

fn policy(start: Start) -> DeliverPolicy {
    match start {
        Start::Live => DeliverPolicy::New,
        Start::Sequence(seq) => DeliverPolicy::ByStartSequence { start_sequence: seq.max(1) },
        Start::Time(t) => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_nanos()))
            // A time past what a date can hold is in the future: nothing stored yet.
            .map_or(DeliverPolicy::New, |start_time| DeliverPolicy::ByStartTime { start_time }),
        Start::LastPerSubject => DeliverPolicy::LastPerSubject,
        // Resolved to a sequence before a consumer is made.
        Start::Last(_) => DeliverPolicy::All,
    }
}

/// An ordered push consumer of `filter` on `stream` from `start`.
pub async fn ordered(
    js: &jetstream::Context,
    stream: StreamName,
    filter: &str,
    start: Start,
) -> Result<Ordered, ReplayError> {
    let (consumer, reaper) = push_consumer(js, stream, filter, start).await?;
    let messages = consumer.messages().await.map_err(|e| consumer_error(stream, filter, &e))?;
    Ok(Ordered { messages: Box::pin(messages), _reaper: reaper })
}

/// An ordered consumer's messages. Dropping them deletes the consumer at once: the server would
/// keep it until its inactivity threshold, and a crowd of clients that come and go (browsers
/// reconnecting) would pile consumers up to the server's limit, after which none can start.
pub struct Ordered {
    messages: std::pin::Pin<Box<push::Ordered>>,
    _reaper: Reaper,
}

impl std::fmt::Debug for Ordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered").field("consumer", &self._reaper.name).finish_non_exhaustive()
    }
}

impl futures::Stream for Ordered {
    type Item = <push::Ordered as futures::Stream>::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.messages.as_mut().poll_next(cx)
    }
}

/// Deletes a consumer when dropped (from a task: a drop cannot wait).
struct Reaper {
    stream: jetstream::stream::Stream<()>,
    name: String,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let (stream, name) = (self.stream.clone(), std::mem::take(&mut self.name));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = stream.delete_consumer(&name).await {
                    // Gone already (the server reaped it, or it was recreated under a new name).
                    tracing::debug!(consumer = %name, error = %e, "cannot delete a finished reader's consumer");
                }
            });
        }
    }
}

fn consumer_error(stream: StreamName, filter: &str, e: &dyn std::fmt::Display) -> ReplayError {
    ReplayError::Consumer { stream, filter: filter.to_owned(), reason: e.to_string() }
}

/// An ordered push consumer of `filter` from `start` (resolved first), and what deletes it.
async fn push_consumer(
    js: &jetstream::Context,
    stream: StreamName,
    filter: &str,
    start: Start,
) -> Result<(jetstream::consumer::Consumer<push::OrderedConfig>, Reaper), ReplayError> {
    let start = resolve(js, stream, filter, start).await?;
    let handle = js
        .get_stream_no_info(stream.as_str())
        .await
        .map_err(|e| ReplayError::Stream { stream, reason: e.to_string() })?;
    let consumer = handle
        .create_consumer(push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: filter.to_owned(),
            deliver_policy: policy(start),
            ..Default::default()
        })
        .await
        .map_err(|e| consumer_error(stream, filter, &e))?;
    let name = consumer.cached_info().name.clone();
    Ok((consumer, Reaper { stream: handle, name }))
}

/// The stored messages of `filter` from `start` until caught up; empty when there are none
/// (and for `Live`).
pub async fn history(
    js: &jetstream::Context,
    stream: StreamName,
    filter: &str,
    start: Start,
) -> Result<BoxStream<'static, Result<Replayed, ReplayError>>, ReplayError> {
    if start == Start::Live {
        return Ok(stream::empty().boxed());
    }
    let (mut consumer, reaper) = push_consumer(js, stream, filter, start).await?;
    if consumer.info().await.map_err(|e| consumer_error(stream, filter, &e))?.num_pending == 0 {
        return Ok(stream::empty().boxed());
    }
    let messages = consumer.messages().await.map_err(|e| consumer_error(stream, filter, &e))?;
    let messages = Ordered { messages: Box::pin(messages), _reaper: reaper };
    let read = move |reason: String| ReplayError::Read { stream, reason };
    Ok(stream::unfold(Some(messages), move |state| async move {
        let mut messages = state?;
        let m = match messages.next().await? {
            Ok(m) => m,
            Err(e) => return Some((Err(read(e.to_string())), None)),
        };
        let (seq, pending) = match m.info() {
            Ok(info) => (info.stream_sequence, info.pending),
            Err(e) => return Some((Err(read(e.to_string())), None)),
        };
        let stored_at = m
            .info()
            .ok()
            .and_then(|i| i64::try_from(i.published.unix_timestamp_nanos()).ok())
            .map(Timestamp::from_nanos);
        let item =
            Replayed { seq, subject: m.subject.to_string(), payload: m.payload.clone(), pending, stored_at };
        Some((Ok(item), (pending > 0).then_some(messages)))
    })
    .boxed())
}

/// The stored messages of `filter` with sequences `from..=to`, in order (the history API's
/// windows: JetStream reads forwards only, so a page back in time is read as such a range).
pub async fn range(
    js: &jetstream::Context,
    stream: StreamName,
    filter: &str,
    from: u64,
    to: u64,
) -> Result<Vec<Replayed>, ReplayError> {
    let mut out = Vec::new();
    if from > to {
        return Ok(out);
    }
    let mut messages = history(js, stream, filter, Start::Sequence(from.max(1))).await?;
    while let Some(m) = messages.next().await {
        let m = m?;
        if m.seq > to {
            break;
        }
        out.push(m);
    }
    Ok(out)
}

/// `Last(n)` as the sequence of the first of those n messages; any other start as it is.
async fn resolve(
    js: &jetstream::Context,
    stream: StreamName,
    filter: &str,
    start: Start,
) -> Result<Start, ReplayError> {
    let Start::Last(n) = start else { return Ok(start) };
    let s = js
        .get_stream(stream.as_str())
        .await
        .map_err(|e| ReplayError::Stream { stream, reason: e.to_string() })?;
    let state = &s.cached_info().state;
    let (first, last) = (state.first_sequence.max(1), state.last_sequence);
    if n == 0 || last == 0 {
        return Ok(Start::Live);
    }
    // Widen a window ending at `last` until it holds n matching messages (or is everything).
    let mut window = n.saturating_mul(4).max(64);
    let mut lo = loop {
        let from = last.saturating_sub(window - 1).max(first);
        if from <= first || count_from(&s, stream, filter, from).await? >= n {
            break from;
        }
        window = window.saturating_mul(4);
    };
    if count_from(&s, stream, filter, lo).await? <= n {
        return Ok(Start::Sequence(lo));
    }
    // The largest start that still holds n: count(lo) > n, so bisect on (lo, last].
    let mut hi = last;
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if count_from(&s, stream, filter, mid).await? >= n {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Start::Sequence(lo))
}

/// How many messages of `filter` are stored from `from` on (a short-lived consumer's count).
async fn count_from(
    s: &jetstream::stream::Stream,
    stream: StreamName,
    filter: &str,
    from: u64,
) -> Result<u64, ReplayError> {
    let err = |e: String| ReplayError::Consumer { stream, filter: filter.to_owned(), reason: e };
    let mut consumer = s
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from },
            inactive_threshold: std::time::Duration::from_secs(10),
            ..Default::default()
        })
        .await
        .map_err(|e| err(e.to_string()))?;
    let info = consumer.info().await.map_err(|e| err(e.to_string()))?;
    let (pending, name) = (info.num_pending, info.name.clone());
    let _ = s.delete_consumer(&name).await;
    Ok(pending)
}
