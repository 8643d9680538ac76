//! One sync of one target: list the source, take each file's [`Step`], move what changed into
//! the mirror, publish a `FileEvent` per changed file and its new complete lines as
//! `LogBatch`es, and keep the manifest; then retention: copies older than the target's ages
//! compressed or expired (each announced), and files already past expiry never fetched.
//!
//! Lines are published from the mirror's copy after it is committed, so what the processors see
//! is what an operator can read; the manifest moves on only after their acks, so a crash means
//! lines published again (the same message ids: the duplicate window drops them), never lost.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;

use tailrace_nats::{AckHandle, Outgoing, Publisher};
use tailrace_schemas::categories::Rules;
use tailrace_schemas::{
    subject, Category, CopyState, FileEvent, FileEventKind, FileIdentity, HostId, LogBatch, LogLine,
    SourceId, TargetId, Timestamp,
};

use super::manifest::{Entry, Manifest, ManifestError};
use super::mirror::{Mirror, MirrorError, Staging};
use super::plan::{self, Held, Step};
use super::source::{Listed, Source, SourceError, Want};

/// Bytes read from the source per request.
const CHUNK: u64 = 1 << 20;
/// Lines per `LogBatch` at most.
const BATCH_LINES: usize = 512;
/// How often the manifest is saved during a long sync.
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// New copies being committed at once: their fsyncs run side by side on blocking threads (the
/// file system commits its journal once for many of them) while the next files are read. One
/// at a time, the fsyncs were half of an append sync of 100 files and of a first sync of many
/// small ones.
const COMMITTING: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("publishing: {0}")]
    Publish(String),
    #[error(
        "target {target} is being synced by another process (it holds {lock}); try again when it is done"
    )]
    Busy { target: String, lock: String },
    #[error("the sync lock {lock}: {source}")]
    Lock { lock: String, source: std::io::Error },
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncOutcome {
    pub files: u64,
    pub created: u64,
    pub modified: u64,
    pub appended: u64,
    pub removed: u64,
    pub unchanged: u64,
    /// Copies retention compressed, and files it expired (deleted, or never fetched: older
    /// than `delete_after` when first listed).
    pub compressed: u64,
    pub expired: u64,
    /// Bytes read from the source (what crossed the wire), verification included.
    pub bytes_read: u64,
    pub lines_published: u64,
    /// Files that failed, with why; the others were synced.
    pub errors: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}

/// Where a sync is, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub files: u64,
    pub files_done: u64,
    pub bytes: u64,
}

/// One target as a sync sees it.
#[derive(Debug)]
pub struct Target<'a> {
    pub name: TargetId,
    /// The host its lines are published as (`logs.raw.{host}.{path}`).
    pub host: HostId,
    pub mirror: Mirror,
    pub manifest: PathBuf,
    pub rules: &'a Rules,
    /// Bytes per second at most; 0: no cap.
    pub bandwidth: u64,
    pub retention: Retention,
}

/// How long copies are kept as they are, by the source file's modification time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Older copies are kept compressed (zstd), still readable through the logs API.
    pub compress_after: Option<Duration>,
    /// Older copies are deleted, and files older than this are not fetched at all.
    pub delete_after: Option<Duration>,
}

impl Retention {
    fn past(limit: Option<Duration>, modified: Timestamp, now: Timestamp) -> bool {
        let age = now.as_nanos().saturating_sub(modified.as_nanos());
        limit.is_some_and(|d| age >= i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    fn expires(&self, modified: Timestamp, now: Timestamp) -> bool {
        Self::past(self.delete_after, modified, now)
    }

    fn compresses(&self, modified: Timestamp, now: Timestamp) -> bool {
        Self::past(self.compress_after, modified, now)
    }
}

/// Syncs `target` from `source` once.
pub async fn sync_target<S: Source>(
    target: &Target<'_>,
    source: &S,
    publisher: &Publisher,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<SyncOutcome, SyncError> {
    let started = Instant::now();
    // Shared with the commits under way: a sync dropped mid-way (its role stopping) holds the
    // lock until the last of them has renamed its copy.
    let locked = std::sync::Arc::new(lock(target)?);
    // What the mirror holds is read while the host lists (on a kept-cold link the listing
    // waits for the remote shell's start most of its time).
    let (manifest_path, mirror) = (target.manifest.clone(), target.mirror.clone());
    let local = tokio::task::spawn_blocking(move || -> Result<_, SyncError> {
        let manifest = Manifest::load(&manifest_path)?;
        // What the mirror holds of every file the manifest lists: one look per copy.
        let mut helds: BTreeMap<String, Option<Held>> = BTreeMap::new();
        for (path, e) in &manifest.files {
            helds.insert(path.clone(), held_of(&mirror, path, e)?);
        }
        Ok((manifest, helds))
    });
    let listed = source.list().await;
    let (mut manifest, mut helds) = match local.await {
        Ok(local) => local?,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    tracing::debug!(target = target.name.as_str(), entries = manifest.files.len(), elapsed = ?started.elapsed(), "manifest loaded");
    let listed: BTreeMap<String, Listed> = listed?.into_iter().map(|l| (l.path.clone(), l)).collect();
    tracing::debug!(target = target.name.as_str(), files = listed.len(), elapsed = ?started.elapsed(), "listed");
    let paths: BTreeSet<String> = listed.keys().chain(manifest.files.keys()).cloned().collect();
    let mut out = SyncOutcome { files: listed.len() as u64, ..Default::default() };
    let mut progress = Progress { files: paths.len() as u64, ..Default::default() };
    let mut saved = Instant::now();
    let mut meter = Meter { cap: target.bandwidth, started: Instant::now(), bytes: 0 };
    let now = Timestamp::now();
    let publisher = &Publishing::new(publisher);
    let burst = if target.bandwidth == 0 { u64::MAX } else { target.bandwidth };
    source.expect(expected_reads(target, &manifest, &helds, &listed, &paths, now), burst);
    tracing::debug!(target = target.name.as_str(), elapsed = ?started.elapsed(), "planned");
    let mut committing = futures::stream::FuturesOrdered::new();
    for path in &paths {
        let entry = manifest.files.get(path).cloned();
        let l = listed.get(path);
        if let (None, Some(l)) = (&entry, l) {
            if target.retention.expires(l.modified, now) {
                out.expired += 1;
                manifest.files.insert(path.clone(), expired_entry(target, path, l));
                progress.files_done += 1;
                continue;
            }
        }
        let held = helds.remove(path).flatten();
        match file(target, source, publisher, path, entry, held, l, &mut out, &mut meter).await {
            Ok(Done::Entry(Some(e))) => {
                manifest.files.insert(path.clone(), e);
            }
            Ok(Done::Entry(None)) => {}
            Ok(Done::Staged(staged)) => {
                committing.push_back(finish(target, publisher, *staged, locked.clone()))
            }
            Err(e) => failed(target, &mut out, path, &e),
        }
        while committing.len() >= COMMITTING {
            landed(target, committing.next().await, &mut manifest, &mut out);
        }
        progress.files_done += 1;
        progress.bytes = out.bytes_read;
        on_progress(&progress);
        if saved.elapsed() >= SAVE_EVERY {
            while let Some(done) = committing.next().await {
                landed(target, Some(done), &mut manifest, &mut out);
            }
            publisher.settle(&target.mirror).await?;
            manifest.save(&target.manifest)?;
            saved = Instant::now();
        }
    }
    while let Some(done) = committing.next().await {
        landed(target, Some(done), &mut manifest, &mut out);
    }
    tracing::debug!(target = target.name.as_str(), elapsed = ?started.elapsed(), "files done");
    retain(target, publisher, &mut manifest, &mut out).await;
    publisher.settle(&target.mirror).await?;
    tracing::debug!(target = target.name.as_str(), elapsed = ?started.elapsed(), "published");
    manifest.save(&target.manifest)?;
    tracing::debug!(target = target.name.as_str(), elapsed = ?started.elapsed(), "manifest saved");
    out.duration = started.elapsed();
    Ok(out)
}

fn failed(target: &Target<'_>, out: &mut SyncOutcome, path: &str, e: &SyncError) {
    tracing::warn!(target = target.name.as_str(), path, error = %e, "file not synced");
    out.errors.push(format!("{path}: {e}"));
}

/// A finished copy into the manifest (or its failure into the outcome).
fn landed(target: &Target<'_>, done: Option<Finished>, manifest: &mut Manifest, out: &mut SyncOutcome) {
    match done {
        Some(Ok((path, e, published))) => {
            out.lines_published += published;
            manifest.files.insert(path, e);
        }
        Some(Err((path, e))) => failed(target, out, &path, &e),
        None => {}
    }
}

/// A committed copy's path, entry and count of lines published; or its path and failure.
type Finished = Result<(String, Entry, u64), (String, SyncError)>;

/// What [`file`] leaves: the entry it settled, or a new copy written and still to commit.
enum Done {
    Entry(Option<Entry>),
    Staged(Box<Staged>),
}

/// A new copy written in full, not yet in place (see [`finish`]).
struct Staged {
    path: String,
    entry: Entry,
    staging: Staging,
    /// Where the new bytes start (0: a whole new copy).
    from: u64,
    kind: FileEventKind,
}

/// Commits a staged copy (its fsync and rename on a blocking thread, started at once), then
/// publishes its new lines and announces it; the entry and the count of lines published.
fn finish<'a>(
    target: &'a Target<'_>,
    publisher: &'a Publishing<'_>,
    staged: Staged,
    lock: std::sync::Arc<nix::fcntl::Flock<std::fs::File>>,
) -> impl std::future::Future<Output = Finished> + 'a {
    let Staged { path, entry: mut e, staging, from, kind } = staged;
    e.size = staging.len();
    let commit = tokio::task::spawn_blocking(move || {
        let _lock = lock;
        staging.commit()
    });
    async move {
        let done: Result<u64, SyncError> = async {
            match commit.await {
                Ok(committed) => committed?,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
            if from == 0 {
                e.published = 0;
                e.lines = 0;
                e.first_line_at = None;
                e.last_line_at = None;
            }
            let mut tally = SyncOutcome::default();
            (e.published, e.lines) = publish_lines(target, publisher, &path, &e, &mut tally).await?;
            line_times(target, &path, &mut e)?;
            announce(target, publisher, &path, &e, kind).await?;
            Ok(tally.lines_published)
        }
        .await;
        match done {
            Ok(published) => Ok((path, e, published)),
            Err(err) => Err((path, err)),
        }
    }
}

/// The reads this sync will make if every held copy verifies, in order (what [`file`] asks
/// for: a grown file's verified block with its first new chunk, then chunks of [`CHUNK`]).
fn expected_reads(
    target: &Target<'_>,
    manifest: &Manifest,
    helds: &BTreeMap<String, Option<Held>>,
    listed: &BTreeMap<String, Listed>,
    paths: &BTreeSet<String>,
    now: Timestamp,
) -> Vec<Want> {
    let mut wants = Vec::new();
    for path in paths {
        let Some(l) = listed.get(path) else { continue };
        let entry = manifest.files.get(path);
        if entry.is_none() && target.retention.expires(l.modified, now) {
            continue;
        }
        let held = helds.get(path).copied().flatten();
        let want = |offset: u64, len: u64| Want { path: path.clone(), offset, len };
        let chunks = |from: u64, wants: &mut Vec<Want>| {
            let mut at = from;
            while at < l.size {
                let len = CHUNK.min(l.size - at);
                wants.push(want(at, len));
                at += len;
            }
        };
        match plan::step(held.as_ref(), Some(l)) {
            Some(Step::New | Step::Replaced | Step::Truncated) => chunks(0, &mut wants),
            Some(Step::Grown { held }) => {
                let (offset, len) = plan::verify_range(held);
                let first = CHUNK.min(l.size - held);
                wants.push(want(offset, len + first));
                chunks(held + first, &mut wants);
            }
            Some(Step::Touched) => {
                let (offset, len) = plan::verify_range(held.map_or(0, |h| h.size));
                wants.push(want(offset, len));
            }
            _ => {}
        }
    }
    wants
}

/// What the mirror holds of a file the manifest lists.
fn held_of(mirror: &Mirror, path: &str, e: &Entry) -> Result<Option<Held>, SyncError> {
    let size = match e.copy {
        // A plain copy beside the compressed one is a compression that stopped half way.
        CopyState::Compressed => match mirror.size(path)? {
            Some(size) => Some(size),
            None => mirror.has_compressed(path)?.then_some(e.size),
        },
        CopyState::Plain => mirror.size(path)?,
        CopyState::Expired => Some(e.size),
    };
    Ok(size.map(|size| Held { size, inode: e.inode, modified: e.modified, removed: e.removed, copy: e.copy }))
}

/// The manifest's note of a file listed already past expiry: never fetched, and not again
/// while the source keeps it.
fn expired_entry(target: &Target<'_>, path: &str, l: &Listed) -> Entry {
    let category = target.rules.for_file(&target.host, &SourceId::new(path), path).category("").clone();
    Entry {
        size: l.size,
        inode: l.inode,
        modified: l.modified,
        removed: false,
        generation: 0,
        published: l.size,
        lines: 0,
        category: category.as_str().to_owned(),
        copy: CopyState::Expired,
        first_line_at: None,
        last_line_at: None,
    }
}

/// Compresses and expires the copies whose source files are old enough. Only copies whose
/// lines are all published are touched: the lines are read from the plain copy.
async fn retain(
    target: &Target<'_>,
    publisher: &Publishing<'_>,
    manifest: &mut Manifest,
    out: &mut SyncOutcome,
) {
    let r = target.retention;
    if r == Retention::default() {
        return;
    }
    let now = Timestamp::now();
    for (path, e) in manifest.files.iter_mut() {
        let done: Result<(), SyncError> = async {
            if e.copy != CopyState::Expired && r.expires(e.modified, now) {
                target.mirror.remove(path)?;
                e.copy = CopyState::Expired;
                out.expired += 1;
                announce(target, publisher, path, e, FileEventKind::Removed).await?;
            } else if e.copy == CopyState::Plain
                && !e.removed
                && r.compresses(e.modified, now)
                && e.published >= e.size
                && target.mirror.size(path)? == Some(e.size)
            {
                target.mirror.compress(path)?;
                e.copy = CopyState::Compressed;
                out.compressed += 1;
                announce(target, publisher, path, e, FileEventKind::Modified).await?;
            }
            Ok(())
        }
        .await;
        if let Err(err) = done {
            tracing::warn!(target = target.name.as_str(), path, error = %err, "retention skipped the file");
            out.errors.push(format!("{path}: retention: {err}"));
        }
    }
}

/// One sync of a target at a time, across processes (`tailrace sync` beside the sync role): a
/// lock on a file beside the manifest, released when the sync ends or its process dies.
fn lock(target: &Target<'_>) -> Result<nix::fcntl::Flock<std::fs::File>, SyncError> {
    let path = target.manifest.with_file_name("sync.lock");
    let err = |source| SyncError::Lock { lock: path.display().to_string(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(err)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(locked),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            Err(SyncError::Busy { target: target.name.as_str().to_owned(), lock: path.display().to_string() })
        }
        Err((_, e)) => Err(err(std::io::Error::from(e))),
    }
}

/// The sync's publishing: what it published is waited for before the manifest is saved (so
/// the manifest never says published what the stream did not take, and a crash before means
/// lines published again under the same ids), not file by file; likewise the directories a
/// commit renamed in are fsynced once before the save.
struct Publishing<'a> {
    publisher: &'a Publisher,
    acks: std::sync::Mutex<Vec<AckHandle>>,
}

impl<'a> Publishing<'a> {
    fn new(publisher: &'a Publisher) -> Self {
        Self { publisher, acks: Default::default() }
    }

    fn wait_for(&self, acks: Vec<AckHandle>) {
        self.acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(acks);
    }

    /// Everything published so far acknowledged, and the mirror's renames durable.
    async fn settle(&self, mirror: &Mirror) -> Result<(), SyncError> {
        let acks = std::mem::take(&mut *self.acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for a in acks {
            a.await.map_err(|e| SyncError::Publish(e.to_string()))?;
        }
        mirror.sync_dirs()?;
        Ok(())
    }
}

/// Keeps reads under the bandwidth cap.
struct Meter {
    cap: u64,
    started: Instant,
    bytes: u64,
}

impl Meter {
    async fn took(&mut self, bytes: u64) {
        self.bytes += bytes;
        if self.cap == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.bytes as f64 / self.cap as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn file<S: Source>(
    target: &Target<'_>,
    source: &S,
    publisher: &Publishing<'_>,
    path: &str,
    entry: Option<Entry>,
    held: Option<Held>,
    listed: Option<&Listed>,
    out: &mut SyncOutcome,
    meter: &mut Meter,
) -> Result<Done, SyncError> {
    let Some(step) = plan::step(held.as_ref(), listed) else { return Ok(Done::Entry(None)) };
    if step == Step::Same && entry.as_ref().is_some_and(|e| e.published >= held.map_or(0, |h| h.size)) {
        // Most files of most syncs: nothing to read, publish or classify.
        out.unchanged += 1;
        return Ok(Done::Entry(None));
    }
    let category = target.rules.for_file(&target.host, &SourceId::new(path), path).category("").clone();
    let generation = entry.as_ref().map_or(0, |e| e.generation);
    let held_size = held.map_or(0, |h| h.size);
    let Some(l) = listed else {
        // Removed: marked, the copy kept readable.
        out.removed += 1;
        let mut e = entry.expect("held");
        e.removed = true;
        announce(target, publisher, path, &e, FileEventKind::Removed).await?;
        return Ok(Done::Entry(Some(e)));
    };
    let whole = |generation: u32| Entry {
        size: 0,
        inode: l.inode,
        modified: l.modified,
        removed: false,
        generation,
        published: 0,
        lines: 0,
        category: category.as_str().to_owned(),
        copy: CopyState::Plain,
        first_line_at: None,
        last_line_at: None,
    };
    let mut entry = entry;
    if let (Step::Grown { .. } | Step::Touched, Some(e)) = (step, entry.as_mut()) {
        if e.copy == CopyState::Compressed {
            // Verified and appended to as a plain copy again.
            if target.mirror.size(path)?.is_none() {
                target.mirror.decompress(path)?;
            }
            e.copy = CopyState::Plain;
        }
    }
    // A grown file's verified block and its first new bytes come in one read.
    let verified = match step {
        Step::Grown { .. } => {
            verified(target, source, path, held_size, CHUNK.min(l.size - held_size), meter, out).await?
        }
        Step::Touched => verified(target, source, path, held_size, 0, meter, out).await?,
        _ => None,
    };
    let mut head = Vec::new();
    let (e, from, kind) = match step {
        Step::Same => {
            out.unchanged += 1;
            let e = entry.expect("held");
            // Lines a sync committed but did not get published before it stopped.
            return Ok(Done::Entry(if e.published < held_size {
                Some(catch_up(target, publisher, path, e, held_size, out).await?)
            } else {
                None
            }));
        }
        Step::New => {
            out.created += 1;
            let g = if entry.is_some() { generation + 1 } else { 0 };
            (whole(g), 0, FileEventKind::Created)
        }
        Step::Replaced | Step::Truncated => {
            out.modified += 1;
            (whole(generation + 1), 0, FileEventKind::Modified)
        }
        Step::Grown { .. } | Step::Touched if verified.is_some() => {
            head = verified.unwrap_or_default();
            let mut e = entry.expect("held");
            e.inode = l.inode;
            e.modified = l.modified;
            if step == Step::Touched {
                out.unchanged += 1;
                return Ok(Done::Entry(Some(catch_up(target, publisher, path, e, held_size, out).await?)));
            }
            out.appended += 1;
            (e, held_size, FileEventKind::Modified)
        }
        Step::Grown { .. } | Step::Touched | Step::Removed => {
            out.modified += 1;
            (whole(generation + 1), 0, FileEventKind::Modified)
        }
    };
    let mut staging = target.mirror.stage(path, from)?;
    let mut offset = from;
    if !head.is_empty() {
        offset += head.len() as u64;
        staging.write(&head)?;
    }
    while offset < l.size {
        let bytes = source.read(path, offset, CHUNK.min(l.size - offset)).await?;
        if bytes.is_empty() {
            break; // shrank while we read: the next sync sees it
        }
        meter.took(bytes.len() as u64).await;
        out.bytes_read += bytes.len() as u64;
        offset += bytes.len() as u64;
        staging.write(&bytes)?;
    }
    Ok(Done::Staged(Box::new(Staged { path: path.to_owned(), entry: e, staging, from, kind })))
}

/// Bytes at either end of a copy looked at for its first and last line times.
const TIME_WINDOW: u64 = 8192;

/// Sets the times the copy's first and last published lines state (the first only once: it
/// does not change while the file grows), looking at [`TIME_WINDOW`] bytes at each end.
fn line_times(target: &Target<'_>, path: &str, e: &mut Entry) -> Result<(), SyncError> {
    let stated =
        |line: &[u8]| tailrace_schemas::line_time::line_time(&String::from_utf8_lossy(line), e.modified);
    if e.first_line_at.is_none() && e.published > 0 {
        let head = target.mirror.read(path, 0, TIME_WINDOW.min(e.published))?;
        e.first_line_at = head.split(|b| *b == b'\n').find_map(stated);
    }
    if e.published > 0 {
        let from = e.published.saturating_sub(TIME_WINDOW);
        let tail = target.mirror.read(path, from, e.published - from)?;
        // The lines in full: after the first newline unless the window starts the file.
        let whole = if from == 0 { &tail[..] } else { tail.splitn(2, |b| *b == b'\n').nth(1).unwrap_or(&[]) };
        if let Some(t) = whole.split(|b| *b == b'\n').rev().find_map(stated) {
            e.last_line_at = Some(t);
        }
    }
    Ok(())
}

/// Publishes what of a held copy was not published yet.
async fn catch_up(
    target: &Target<'_>,
    publisher: &Publishing<'_>,
    path: &str,
    mut e: Entry,
    size: u64,
    out: &mut SyncOutcome,
) -> Result<Entry, SyncError> {
    e.size = size;
    if e.published < size {
        (e.published, e.lines) = publish_lines(target, publisher, path, &e, out).await?;
        line_times(target, path, &mut e)?;
    }
    Ok(e)
}

/// Reads the source's bytes just before the held end and `extra` bytes after it: the ones after
/// it if the ones before are the copy's, `None` if they differ (the file was rewritten).
async fn verified<S: Source>(
    target: &Target<'_>,
    source: &S,
    path: &str,
    held: u64,
    extra: u64,
    meter: &mut Meter,
    out: &mut SyncOutcome,
) -> Result<Option<Vec<u8>>, SyncError> {
    let (offset, len) = plan::verify_range(held);
    let mut theirs = source.read(path, offset, len + extra).await?;
    meter.took(theirs.len() as u64).await;
    out.bytes_read += theirs.len() as u64;
    if theirs.len() < len as usize || theirs[..len as usize] != target.mirror.read(path, offset, len)?[..] {
        return Ok(None);
    }
    Ok(Some(theirs.split_off(len as usize)))
}

/// Publishes the copy's complete lines after `e.published`; returns the new published offset
/// and line count.
async fn publish_lines(
    target: &Target<'_>,
    publisher: &Publishing<'_>,
    path: &str,
    e: &Entry,
    out: &mut SyncOutcome,
) -> Result<(u64, u64), SyncError> {
    let source_id = SourceId::new(path);
    let subject = subject::logs_raw(&target.host, &source_id);
    let mut at = e.published;
    let mut acks: Vec<AckHandle> = Vec::new();
    let mut lines: Vec<LogLine> = Vec::new();
    let mut carry: Vec<u8> = Vec::new();
    let mut count = 0u64;
    let mut offset = e.published;
    while offset < e.size {
        let chunk = target.mirror.read(path, offset, CHUNK.min(e.size - offset))?;
        if chunk.is_empty() {
            break;
        }
        offset += chunk.len() as u64;
        carry.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = carry[start..].iter().position(|b| *b == b'\n') {
            let raw = &carry[start..start + nl];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let (text, lossy) = match std::str::from_utf8(raw) {
                Ok(t) => (t.to_owned(), false),
                Err(_) => (String::from_utf8_lossy(raw).into_owned(), true),
            };
            lines.push(LogLine { offset: at, text, lossy, priority: None });
            count += 1;
            at += (nl + 1) as u64;
            start += nl + 1;
            if lines.len() >= BATCH_LINES {
                acks.push(
                    publish_batch(
                        target,
                        publisher,
                        &source_id,
                        &subject,
                        path,
                        e,
                        std::mem::take(&mut lines),
                        at,
                    )
                    .await?,
                );
            }
        }
        carry.drain(..start);
    }
    if !lines.is_empty() {
        acks.push(publish_batch(target, publisher, &source_id, &subject, path, e, lines, at).await?);
    }
    publisher.wait_for(acks);
    out.lines_published += count;
    Ok((at, e.lines + count))
}

#[allow(clippy::too_many_arguments)]
async fn publish_batch(
    target: &Target<'_>,
    publisher: &Publishing<'_>,
    source: &SourceId,
    subject: &tailrace_schemas::Subject,
    path: &str,
    e: &Entry,
    lines: Vec<LogLine>,
    next: u64,
) -> Result<AckHandle, SyncError> {
    let batch = LogBatch {
        v: 1,
        host: target.host.clone(),
        source: source.clone(),
        path: path.to_owned(),
        file: Some(FileIdentity { dev: 0, inode: e.inode }),
        generation: e.generation,
        lines,
        next_offset: Some(next),
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    };
    // The content is in the id too: a sync that lost its manifest starts generations again at
    // 0, and other lines at an offset published before must not be taken for a duplicate.
    let mut h = tailrace_schemas::Fnv1a::default();
    for l in &batch.lines {
        h.update(l.text.as_bytes()).update(b"\n");
    }
    let id = format!("{}/{:016x}", batch.dedup_id(), h.finish());
    let out = Outgoing::encode(subject.clone(), &batch, id).map_err(|e| SyncError::Publish(e.to_string()))?;
    Ok(publisher.publisher.publish(out).await)
}

async fn announce(
    target: &Target<'_>,
    publisher: &Publishing<'_>,
    path: &str,
    e: &Entry,
    kind: FileEventKind,
) -> Result<(), SyncError> {
    let category = Category::new(e.category.clone());
    let event = FileEvent {
        v: 1,
        target: target.name.clone(),
        category: category.clone(),
        kind,
        path: path.to_owned(),
        size: e.size,
        modified: e.modified,
        sha256: None,
        lines: Some(e.lines),
        copy: e.copy,
        first_line_at: e.first_line_at,
        last_line_at: e.last_line_at,
    };
    let id = format!(
        "sync/{}/{}/{:?}/{}/{}/{}/{:?}",
        target.name.token(),
        SourceId::new(path).token(),
        kind,
        e.inode,
        e.generation,
        e.size,
        e.copy
    );
    let out = Outgoing::encode(subject::files_synced(&target.name, &category), &event, id)
        .map_err(|e| SyncError::Publish(e.to_string()))?;
    let ack = publisher.publisher.publish(out).await;
    publisher.wait_for(vec![ack]);
    Ok(())
}
