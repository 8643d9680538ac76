//! The tail loop: connect, follow, batch, publish, report; on a lost connection reconnect with
//! backoff and resume at the offset already handed to the publisher (the publisher retries
//! what is in flight, so nothing handed to it is lost); at start, resume after the last batch
//! stored on the subject, so a restarted producer neither skips nor repeats lines.
//!
//! A file is followed by byte offsets ([`follow_file`]); a journal source by the journal's
//! cursor ([`super::journal`]). Connecting, checking, backing off and reporting are shared.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::FutureExt;
use tailrace_nats::{AckHandle, Batcher, Outgoing, Publisher};
use tailrace_schemas::{
    decode, subject, FileIdentity, JournalPath, LogBatch, LogLine, TailStatus, TailStatusKind, Timestamp,
};
use tokio_util::sync::CancellationToken;

use super::check::check;
use super::frames::{Frame, FrameReader};
use super::lines::Lines;
use super::roots::Roots;
use super::transport::{Connection, FollowArgs, Transport};
use super::{TailConfig, TailSpec};

/// A safety bound on how long a line may sit in a batch; chunks are flushed whole when they
/// end, so in practice nothing waits this long.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);

/// Where to continue reading a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    pub ident: FileIdentity,
    pub generation: u32,
    pub offset: u64,
}

/// The last batch stored on the tail's subject, if it was read from the tail's path.
async fn last_batch(js: &async_nats::jetstream::Context, spec: &TailSpec) -> Option<LogBatch> {
    let subject = subject::logs_raw(&spec.host, &spec.source);
    let stream = js.get_stream_no_info(tailrace_schemas::StreamName::LOGS.as_str()).await.ok()?;
    let msg = stream.get_last_raw_message_by_subject(subject.as_str()).await.ok()?;
    let batch: LogBatch = decode(&msg.payload).ok()?;
    (batch.path == spec.path).then_some(batch)
}

/// After the last batch stored on the tail's subject, if there is one.
pub async fn resume_point(js: &async_nats::jetstream::Context, spec: &TailSpec) -> Option<ResumePoint> {
    let batch = last_batch(js, spec).await?;
    Some(ResumePoint { ident: batch.file?, generation: batch.generation, offset: batch.next_offset? })
}

/// Where a journal tail continues after the last batch stored on its subject.
pub async fn resume_cursor(js: &async_nats::jetstream::Context, spec: &TailSpec) -> Option<JournalPoint> {
    let batch = last_batch(js, spec).await?;
    Some(JournalPoint { cursor: Arc::from(batch.cursor?), lines: batch.cursor_lines })
}

/// A place in a journal: after the entry `cursor` names, or, with `lines`, after that many of
/// its lines (an entry of several lines may end in the next batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPoint {
    pub cursor: Arc<str>,
    pub lines: Option<u32>,
}

/// Where reading continues after a line: a file's byte offset, or a place in a journal.
#[derive(Debug, Clone)]
pub(super) enum After {
    Offset(u64),
    Journal(JournalPoint),
}

/// One tail's publishing and reporting, whatever it follows.
pub(super) struct Tail<'a> {
    pub(super) spec: &'a TailSpec,
    pub(super) cfg: &'a TailConfig,
    publisher: &'a Publisher,
    raw: tailrace_schemas::Subject,
    status: tailrace_schemas::Subject,
    batch: Batcher<(LogLine, After)>,
    ident: Option<FileIdentity>,
    generation: u32,
    in_flight: VecDeque<AckHandle>,
    last_status: Option<TailStatusKind>,
}

impl<'a> Tail<'a> {
    fn new(spec: &'a TailSpec, cfg: &'a TailConfig, publisher: &'a Publisher) -> Self {
        Tail {
            raw: subject::logs_raw(&spec.host, &spec.source),
            status: subject::tail_status(&spec.host, &spec.source),
            batch: Batcher::new(cfg.batch_lines, cfg.batch_bytes, LINGER),
            spec,
            cfg,
            publisher,
            ident: None,
            generation: 0,
            in_flight: VecDeque::new(),
            last_status: None,
        }
    }

    pub(super) async fn report(&mut self, kind: TailStatusKind, message: String, offset: Option<u64>) {
        // Repeats of a waiting state (missing file, retrying auth) are reported once.
        if self.last_status == Some(kind)
            && matches!(
                kind,
                TailStatusKind::FileMissing
                    | TailStatusKind::PermissionDenied
                    | TailStatusKind::AuthFailed
                    | TailStatusKind::Unreachable
                    | TailStatusKind::HostKeyChanged
                    | TailStatusKind::HostKeyUnknown
            )
        {
            return;
        }
        self.last_status = Some(kind);
        tracing::info!(host = %self.spec.host, source = %self.spec.source, ?kind, %message, "tail status");
        let mut status = TailStatus::new(
            self.spec.host.clone(),
            self.spec.source.clone(),
            self.spec.path.clone(),
            kind,
            message,
        );
        status.offset = offset;
        let id = format!(
            "status/{}/{}/{}",
            self.spec.host.token(),
            self.spec.source.token(),
            status.at.as_nanos()
        );
        match Outgoing::encode(self.status.clone(), &status, id) {
            Ok(out) => {
                let h = self.publisher.publish(out).await;
                self.in_flight.push_back(h);
            }
            Err(e) => tracing::error!(error = %e, "cannot encode tail status"),
        }
    }

    pub(super) async fn push(&mut self, line: (LogLine, After)) {
        let size = line.0.text.len() + 16;
        if let Some(full) = self.batch.push(line, size) {
            self.publish(full).await;
        }
    }

    /// The file we were reading is gone (rotated) or rewritten (truncated): its unfinished last
    /// line becomes a line, and everything read from it is published.
    async fn end_of_file(&mut self, lines: &mut Lines) {
        let mut out = Vec::new();
        lines.finish(&mut out);
        for (l, end) in out {
            self.push((l, After::Offset(end))).await;
        }
        self.flush().await;
    }

    pub(super) async fn flush(&mut self) {
        if let Some(lines) = self.batch.take() {
            self.publish(lines).await;
        }
    }

    async fn publish(&mut self, lines: Vec<(LogLine, After)>) {
        let (next_offset, cursor, cursor_lines) = match lines.last().map(|(_, end)| end) {
            Some(After::Offset(end)) => (Some(*end), None, None),
            Some(After::Journal(p)) => (None, Some(p.cursor.to_string()), p.lines),
            None => (None, None, None),
        };
        let batch = LogBatch {
            v: 1,
            host: self.spec.host.clone(),
            source: self.spec.source.clone(),
            path: self.spec.path.clone(),
            file: self.ident,
            generation: self.generation,
            lines: lines.into_iter().map(|(l, _)| l).collect(),
            next_offset,
            cursor,
            cursor_lines,
            read_at: Timestamp::now(),
        };
        let id = batch.dedup_id();
        match Outgoing::encode(self.raw.clone(), &batch, id) {
            Ok(out) => {
                let h = self.publisher.publish(out).await;
                self.in_flight.push_back(h);
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a log batch"),
        }
        self.reap();
    }

    /// Logs the outcome of acknowledgements that have arrived, without waiting for any.
    fn reap(&mut self) {
        while let Some(front) = self.in_flight.front_mut() {
            match front.now_or_never() {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::error!(host = %self.spec.host, source = %self.spec.source, error = %e, "a tail batch was not stored")
                }
                None => break,
            }
            self.in_flight.pop_front();
        }
    }

    /// Publishes what was read and says the follower is gone (why, for a person); the tail
    /// connects again.
    pub(super) async fn lost(&mut self, why: String, offset: Option<u64>) -> Followed {
        self.flush().await;
        self.report(TailStatusKind::ConnectionLost, why, offset).await;
        Followed::Lost
    }

    /// Reports that the path is not served, and ends the tail.
    pub(super) async fn refuse(&mut self, reason: String) -> TailEnd {
        tracing::warn!(host = %self.spec.host, path = %self.spec.path, %reason, "tail refused");
        self.report(TailStatusKind::Refused, reason, None).await;
        self.drain().await;
        TailEnd::Refused
    }

    async fn drain(&mut self) {
        while let Some(h) = self.in_flight.pop_front() {
            if let Err(e) = h.await {
                tracing::error!(error = %e, "a tail batch was not stored");
            }
        }
    }
}

/// How a tail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailEnd {
    /// Cancelled (no viewer wants it any more, or shutdown).
    Stopped,
    /// Its path may not be served on the host (see [`super::roots`]); starting it again
    /// changes nothing until the request changes.
    Refused,
}

/// How following on one connection ended.
pub(super) enum Followed {
    Cancelled,
    /// The connection or the follower went away; connect again after a backoff.
    Lost,
    /// The host refused the path (why, for a person).
    Refused(String),
}

/// What a tail continues from, across connections.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// The file's resume point.
    pub(super) file: Option<ResumePoint>,
    /// The place in the journal after the last line handed to the publisher.
    pub(super) journal: Option<JournalPoint>,
    /// Consecutive failures (reset when following works again).
    pub(super) failures: usize,
    /// The last connection was lost (so the next start is a resumption).
    pub(super) lost: bool,
}

/// Runs one tail until `cancel`, or until its path turns out not to be servable under
/// `roots`; reports `stopped` (or `refused`) and waits for its last batches to be stored.
pub async fn run_tail(
    spec: TailSpec,
    transport: Transport,
    roots: Roots,
    cfg: TailConfig,
    publisher: Publisher,
    cancel: CancellationToken,
) -> TailEnd {
    let journal = match JournalPath::parse(&spec.path) {
        Ok(j) => j,
        Err(e) => {
            let mut t = Tail::new(&spec, &cfg, &publisher);
            return t.refuse(e.to_string()).await;
        }
    };
    let mut progress = Progress::default();
    if journal.is_some() {
        progress.journal = resume_cursor(publisher.jetstream(), &spec).await;
    } else {
        progress.file = resume_point(publisher.jetstream(), &spec).await;
    }
    let mut t = Tail::new(&spec, &cfg, &publisher);
    'connect: while !cancel.is_cancelled() {
        if progress.failures > 0 {
            let delay = tailrace_nats::connect::backoff(
                progress.failures - 1,
                cfg.reconnect_delay,
                cfg.max_reconnect_delay,
            );
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let conn = tokio::select! {
            _ = cancel.cancelled() => break,
            c = transport.connect() => c,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                progress.failures += 1;
                t.report(e.status_kind(), e.to_string(), None).await;
                continue;
            }
        };
        // Checked on the host at every connect: what the path names may have changed.
        let checked = match check(&conn, &spec.path, &roots).await {
            Ok(c) => c,
            Err(e) => {
                progress.failures += 1;
                t.report(TailStatusKind::ConnectionLost, format!("cannot check {}: {e}", spec.path), None)
                    .await;
                continue;
            }
        };
        if matches!(checked.verdict, tailrace_schemas::Verdict::Outside | tailrace_schemas::Verdict::NotAFile)
        {
            return t.refuse(checked.reason).await;
        }
        let followed = match &journal {
            Some(journal) => super::journal::follow(&mut t, &conn, journal, &mut progress, &cancel).await,
            None => follow_file(&mut t, &conn, &checked.roots, &mut progress, &cancel).await,
        };
        match followed {
            Followed::Cancelled => break 'connect,
            Followed::Lost => {
                progress.failures += 1;
                progress.lost = true;
            }
            Followed::Refused(reason) => {
                t.flush().await;
                return t.refuse(reason).await;
            }
        }
    }
    t.flush().await;
    let offset = progress.file.map(|r| r.offset);
    t.report(TailStatusKind::Stopped, format!("stopped following {}", spec.path), offset).await;
    // Bounded: the publisher gives up after its attempts.
    t.drain().await;
    TailEnd::Stopped
}

/// Follows a file on `conn` from `progress.file` until the connection is lost or `cancel`.
async fn follow_file(
    t: &mut Tail<'_>,
    conn: &Connection,
    roots: &Roots,
    progress: &mut Progress,
    cancel: &CancellationToken,
) -> Followed {
    let spec = t.spec;
    let cfg = t.cfg;
    let resume = &mut progress.file;
    let args = FollowArgs {
        path: spec.path.clone(),
        offset: resume.map_or(0, |r| r.offset),
        ident: resume.map(|r| r.ident),
        last_lines: cfg.last_lines,
        interval: cfg.poll_interval,
        kind: cfg.follower,
        roots: roots.as_slice().to_vec(),
    };
    let follower = match conn.follow(&args).await {
        Ok(f) => f,
        Err(e) => return t.lost(format!("cannot start following {}: {e}", spec.path), None).await,
    };
    let mut frames = FrameReader::new(follower);
    let mut lines = Lines::new(args.offset, cfg.max_line_bytes);
    let mut out = Vec::new();
    loop {
        let deadline = t.batch.deadline();
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Followed::Cancelled,
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if deadline.is_some() => {
                t.flush().await;
                continue;
            }
            f = frames.next() => f,
        };
        match frame {
            Ok(Some(Frame::Open { ident, offset })) => {
                progress.failures = 0;
                let same = resume.is_some_and(|r| r.ident == ident && r.offset == offset);
                if t.ident != Some(ident) {
                    t.generation = resume.filter(|r| r.ident == ident).map_or(0, |r| r.generation);
                }
                t.ident = Some(ident);
                lines.reset(offset);
                let (kind, message) = if same && (progress.lost || resume.is_some()) && offset > 0 {
                    (TailStatusKind::Resumed, format!("following {} again from byte {offset}", spec.path))
                } else {
                    (TailStatusKind::Started, format!("following {}", spec.path))
                };
                progress.lost = false;
                t.report(kind, message, Some(offset)).await;
            }
            Ok(Some(Frame::Data { offset, bytes })) => {
                lines.push(offset, &bytes, &mut out);
                for (l, end) in out.drain(..) {
                    t.push((l, After::Offset(end))).await;
                }
                // A chunk is everything the follower found new: waiting for more
                // would only add latency, so it is published now (in batches of at most
                // `batch_lines`); a busy file makes big chunks, so batches stay big.
                t.flush().await;
            }
            Ok(Some(Frame::Rotated { ident })) => {
                t.end_of_file(&mut lines).await;
                t.ident = Some(ident);
                t.generation = 0;
                lines.reset(0);
                t.report(
                    TailStatusKind::Rotated,
                    format!("{} was replaced; reading the new file from its beginning", spec.path),
                    Some(0),
                )
                .await;
            }
            Ok(Some(Frame::Truncated)) => {
                t.end_of_file(&mut lines).await;
                t.generation += 1;
                lines.reset(0);
                t.report(
                    TailStatusKind::Truncated,
                    format!("{} was truncated; reading it again from its beginning", spec.path),
                    Some(0),
                )
                .await;
            }
            Ok(Some(Frame::Missing)) => {
                t.flush().await;
                t.report(
                    TailStatusKind::FileMissing,
                    format!("{} does not exist; waiting for it", spec.path),
                    None,
                )
                .await;
            }
            Ok(Some(Frame::Denied)) => {
                t.flush().await;
                t.report(
                    TailStatusKind::PermissionDenied,
                    format!("permission denied reading {}", spec.path),
                    None,
                )
                .await;
            }
            Ok(Some(Frame::KeepAlive)) => {}
            Ok(Some(Frame::Refused(reason))) => return Followed::Refused(reason),
            Ok(None) | Err(_) => {
                let reason = match frame {
                    Err(e) => e.to_string(),
                    _ => "the connection closed".to_owned(),
                };
                let offset = Some(lines.complete_offset());
                return t.lost(format!("lost {}: {reason}; reconnecting", spec.path), offset).await;
            }
        }
        if let Some(ident) = t.ident {
            *resume = Some(ResumePoint { ident, generation: t.generation, offset: lines.complete_offset() });
        }
    }
}
