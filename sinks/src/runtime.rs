//! The sink runtime: one way to materialize a table from a stream, exactly once.
//!
//! A [`Sink`] says what it reads and how one message changes its rows. The runtime drives it
//! with the one consumer runner as an aggregating, in-order handler (`sink-{name}-{replica}`:
//! each copy of the tables reads for itself): every message of its input once, in stream
//! order, from an ordered consumer that starts after the last sequence the tables applied.
//! Every window, the rows a batch changed and that sequence go into sled in one batch, made
//! durable before the next; a message at or below it is skipped. So a crash at any moment, a
//! failover of the stream's leader, and replay count nothing twice and lose nothing.
//!
//! The tables, not the broker, say where to resume: at every start and after any failure the
//! runtime reads from the applied sequence + 1. A table that was lost or reset (a rebuild,
//! asked on `sink.rebuild.{name}`) is therefore materialized again from the stream's first
//! message while the rest of the system keeps running.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tailrace_nats::config::ConsumerConfig;
use tailrace_nats::topology::ConsumerSpec;
use tailrace_nats::{ConsumerRunner, Delivery, FlushId, HandleError, Handler, Outgoing, Publisher};
use tailrace_schemas::{ConsumerName, StreamName, SubjectFilter, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::retention::{retain_subject, RetentionConfig};
use crate::staged::Staged;
use crate::tables::{applied_in, Tables, TablesError};

/// How long a sink gathers messages before writing them in one batch.
pub const WINDOW: Duration = Duration::from_millis(200);

/// A table materialized from one stream.
pub trait Sink: Send + Sync + 'static {
    /// The sink's name: its tree, its consumer, its command (`tailrace sink NAME`).
    fn name(&self) -> &'static str;

    /// The stream it reads, narrowed by filters (empty: all of it).
    fn input(&self) -> (StreamName, Vec<SubjectFilter>);

    /// Applies one stored message to the rows. It must decode and check everything before it
    /// writes: `Err` refuses the message (it is dead-lettered with the reason) and whatever it
    /// staged before failing is kept.
    fn apply(&self, rows: &mut Staged, message: &Delivery) -> Result<(), String>;

    /// Called once when a window closes, before its rows are written: folds in what
    /// [`Staged::gathered`] holds. `Err` fails the window's write (nothing of it is written, and
    /// the runtime resumes from what the table holds). Default: nothing to fold.
    fn close(&self, _rows: &mut Staged) -> Result<(), String> {
        Ok(())
    }

    /// How long the sink gathers messages before writing them in one batch: rows many messages
    /// change (rollups) are written once per window, at the cost of that much delay.
    fn window(&self) -> Duration {
        WINDOW
    }

    /// The version of the sink's row layout. Raise it when rows change in a way older rows
    /// cannot be read as: the runtime then empties the table at start and materializes it
    /// again from the stream.
    fn layout(&self) -> u32 {
        1
    }

    /// Rewrites a table of layout `from` into [`Sink::layout`] in place; false (the default)
    /// when it cannot, and the table is emptied and materialized again instead. Worth it when
    /// the stream no longer holds everything the table was made from.
    fn migrate(&self, _tree: &sled::Tree, _from: u32) -> Result<bool, sled::Error> {
        Ok(false)
    }

    /// Stages the removal of what is past its retention as of `now` (and keeps what remains
    /// consistent); returns how many rows go. The runtime calls it with the runner stopped.
    /// Default: keeps everything.
    fn retain(&self, _rows: &mut Staged, _now: Timestamp, _keep: &RetentionConfig) -> Result<u64, String> {
        Ok(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Tables(#[from] TablesError),
    #[error("sink {name}: {reason}")]
    Consumer { name: String, reason: String },
    #[error("no sink is called {name:?}; the sinks are: {known}")]
    Unknown { name: String, known: String },
}

/// What every sink needs from its process.
#[derive(Debug, Clone)]
pub struct SinkContext {
    pub client: async_nats::Client,
    pub publisher: Publisher,
    pub consumer: ConsumerConfig,
    pub tables: Tables,
    pub retention: RetentionConfig,
}

/// The subject a rebuild of sink `name` is asked on (every replica rebuilds its own tables).
/// The description of sink `name`'s reader (its ordered consumer) in `replica`: how operators'
/// tools (`tailrace streams lag`, `tailrace replay --rebuild`) tell it among a stream's consumers.
pub fn reader_description(name: &str, replica: &str) -> String {
    format!("sink {name} of replica {replica}")
}

/// The sink and replica a consumer's description names, if it is a sink's reader.
pub fn reader_of(description: &str) -> Option<(&str, &str)> {
    description.strip_prefix("sink ")?.split_once(" of replica ")
}

pub fn rebuild_subject(name: &str) -> String {
    format!("sink.rebuild.{name}")
}

/// Runs `sink` until `cancel`: materializes its table, resumes after failures from what the
/// table holds, and rebuilds it when asked.
pub async fn run<S: Sink>(sink: S, ctx: SinkContext, cancel: CancellationToken) -> Result<(), SinkError> {
    let sink = Arc::new(sink);
    let name = sink.name();
    let (stream, filters) = sink.input();
    let consumer = ConsumerName::new(format!("sink-{name}-{}", ctx.tables.replica()))
        .map_err(|e| SinkError::Consumer { name: name.to_owned(), reason: e.to_string() })?;
    let subscribe_err =
        |e: async_nats::SubscribeError| SinkError::Consumer { name: name.to_owned(), reason: e.to_string() };
    let mut rebuilds = ctx.client.subscribe(rebuild_subject(name)).await.map_err(subscribe_err)?;
    let mut retains = ctx.client.subscribe(retain_subject(name)).await.map_err(subscribe_err)?;
    let (scheduled, mut due) = tokio::sync::mpsc::channel::<()>(1);
    let _scheduler = schedule(name, &ctx.retention.schedule, scheduled).await?;
    let mut failures = 0usize;
    let writing = ctx.tables.writing(name);
    loop {
        // After any window still being written (by a runner dropped meanwhile) has landed.
        let resuming = writing.clone().lock_owned().await;
        ctx.tables.ensure_layout_with(name, sink.layout(), |tree, from| sink.migrate(tree, from))?;
        let tree = ctx.tables.tree(name)?;
        let applied = applied_in(&tree, stream).map_err(|e| ctx.tables.err(e))?;
        drop(resuming);
        let mut spec = ConsumerSpec::new(consumer.clone(), stream, filters.clone());
        spec.description = reader_description(name, ctx.tables.replica());
        spec.start = Some(applied + 1);
        tracing::info!(sink = name, applied, "sink resuming after the last applied sequence");
        let handler = SinkHandler {
            sink: sink.clone(),
            stream,
            window: Mutex::new(Window::new(tree, applied)),
            writing: writing.clone(),
        };
        let token = cancel.child_token();
        let runner = ConsumerRunner::new(spec, ctx.consumer.clone(), ctx.publisher.clone())
            .run(handler, token.clone());
        tokio::pin!(runner);
        let outcome = tokio::select! {
            r = &mut runner => Some(r),
            Some(request) = rebuilds.next() => {
                token.cancel();
                let _ = runner.await;
                let _written = writing.clone().lock_owned().await;
                ctx.tables.clear(name)?;
                tracing::info!(sink = name, "sink cleared; rebuilding it from the stream");
                if let Some(reply) = request.reply {
                    let answer = serde_json::json!({ "sink": name, "replica": ctx.tables.replica(), "status": "rebuilding" });
                    let _ = ctx.client.publish(reply, answer.to_string().into()).await;
                }
                None
            }
            reply = next_prune(&mut retains, &mut due) => {
                token.cancel();
                let _ = runner.await;
                let written = writing.clone().lock_owned().await;
                let removed = prune(&*sink, &ctx, Timestamp::now())?;
                drop(written);
                tracing::info!(sink = name, removed, "rows past their retention removed");
                if let Some(reply) = reply {
                    let answer = serde_json::json!({ "sink": name, "replica": ctx.tables.replica(), "removed": removed });
                    let _ = ctx.client.publish(reply, answer.to_string().into()).await;
                }
                None
            }
        };
        match outcome {
            None => failures = 0,
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) => {
                failures += 1;
                tracing::warn!(sink = name, error = %e, "sink stopped; resuming from its tables");
                if pause(failures, &cancel).await {
                    return Ok(());
                }
            }
        }
    }
}

/// The next prune asked for (with whom to answer), on request or by the schedule.
async fn next_prune(
    requests: &mut async_nats::Subscriber,
    due: &mut tokio::sync::mpsc::Receiver<()>,
) -> Option<async_nats::Subject> {
    tokio::select! {
        Some(m) = requests.next() => m.reply,
        Some(()) = due.recv() => None,
        else => std::future::pending().await,
    }
}

/// Removes what is past its retention from `sink`'s table, in one batch, made durable.
fn prune<S: Sink>(sink: &S, ctx: &SinkContext, now: Timestamp) -> Result<u64, SinkError> {
    let tree = ctx.tables.tree(sink.name())?;
    let mut rows = Staged::new(tree.clone());
    let removed = sink
        .retain(&mut rows, now, &ctx.retention)
        .map_err(|reason| SinkError::Consumer { name: sink.name().to_owned(), reason })?;
    tree.apply_batch(rows.into_rows_batch()).map_err(|e| ctx.tables.err(e))?;
    tree.flush().map_err(|e| ctx.tables.err(e))?;
    Ok(removed)
}

/// Starts the retention schedule of sink `name`: each time it fires, `due` gets a message.
async fn schedule(
    name: &str,
    cron: &str,
    due: tokio::sync::mpsc::Sender<()>,
) -> Result<tokio_cron_scheduler::JobScheduler, SinkError> {
    let err = |reason: String| SinkError::Consumer { name: name.to_owned(), reason };
    let scheduler = tokio_cron_scheduler::JobScheduler::new().await.map_err(|e| err(e.to_string()))?;
    let job = tokio_cron_scheduler::Job::new_async(cron, move |_, _| {
        let due = due.clone();
        Box::pin(async move {
            // Full: a prune is already due.
            let _ = due.try_send(());
        })
    })
    .map_err(|e| {
        err(format!("sinks.retention.schedule {cron:?} is not a cron expression with seconds: {e}"))
    })?;
    scheduler.add(job).await.map_err(|e| err(e.to_string()))?;
    scheduler.start().await.map_err(|e| err(e.to_string()))?;
    Ok(scheduler)
}

/// Waits before the next attempt; true if cancelled meanwhile.
async fn pause(failures: usize, cancel: &CancellationToken) -> bool {
    let delay = tailrace_nats::connect::backoff(failures, Duration::from_millis(100), Duration::from_secs(5));
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

/// The rows staged in the current window and the last sequence applied to them.
struct Window {
    tree: sled::Tree,
    staged: Option<Staged>,
    applied: u64,
    /// The applied sequence as stored (to know whether a flush has anything to write).
    stored: u64,
}

impl Window {
    fn new(tree: sled::Tree, applied: u64) -> Self {
        Self { tree, staged: None, applied, stored: applied }
    }
}

struct SinkHandler<S> {
    sink: Arc<S>,
    stream: StreamName,
    window: Mutex<Window>,
    /// [`crate::Tables::writing`] of the sink's table.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl<S: Sink> Handler for SinkHandler<S> {
    async fn handle(&self, d: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if d.stream_seq <= w.applied {
            // Applied already (a redelivery, or a replay of what the table holds).
            return Ok(Vec::new());
        }
        let tree = w.tree.clone();
        let staged = w.staged.get_or_insert_with(|| Staged::new(tree));
        let outcome = self.sink.apply(staged, d);
        // A refused message is dead-lettered, never delivered again: it counts as applied.
        w.applied = d.stream_seq;
        outcome.map(|()| Vec::new()).map_err(HandleError::Reject)
    }

    fn window(&self) -> Option<Duration> {
        Some(self.sink.window())
    }

    fn in_order(&self) -> bool {
        true
    }

    async fn flush(&self, _id: FlushId) -> Result<Vec<Outgoing>, HandleError> {
        let (staged, applied) = {
            let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if w.applied == w.stored && w.staged.as_ref().is_none_or(Staged::is_empty) {
                return Ok(Vec::new());
            }
            let staged = w.staged.take().unwrap_or_else(|| Staged::new(w.tree.clone()));
            (staged, w.applied)
        };
        // Closing a window and writing it are long stretches of CPU and sled (a fleet window
        // writes thousands of rows): off the async workers, so the process's other consumers
        // and the gateway keep running meanwhile.
        let (sink, stream) = (self.sink.clone(), self.stream);
        // Held until the window has landed, even if this future is dropped meanwhile.
        let written = self.writing.clone().lock_owned().await;
        let tree = tokio::task::spawn_blocking(move || {
            let _written = written;
            let mut staged = staged;
            sink.close(&mut staged)
                .map_err(|reason| HandleError::Retry(format!("closing the window: {reason}")))?;
            let (tree, batch) = staged.into_batch(stream, applied);
            tree.apply_batch(batch).map_err(|e| HandleError::Retry(format!("writing the tables: {e}")))?;
            Ok::<_, HandleError>(tree)
        })
        .await
        .map_err(|e| HandleError::Retry(format!("closing or writing the window: {e}")))??;
        tree.flush_async().await.map_err(|e| HandleError::Retry(format!("flushing the tables: {e}")))?;
        self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner).stored = applied;
        Ok(Vec::new())
    }
}
