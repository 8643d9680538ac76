//! `tailrace replay`: a stream's stored messages from a start to an end, printed as JSON lines
//! (sequence, subject, time stored, the payload decoded by its stream's type) or republished to
//! another subject, with a progress bar on stderr. Reads through `tailrace_nats::replay`, the
//! one reader the history API and the live views use; the end is the stream's last message when
//! the replay began, so a replay always ends.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tailrace_nats::replay::{self, Checked, Start};
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::streams::StreamDecl;
use tailrace_schemas::{Subject, SubjectFilter, Timestamp};

use crate::config::Config;

/// What to replay and where to, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Range {
    pub stream: String,
    pub subject: Option<String>,
    pub since: Option<String>,
    pub from_seq: Option<u64>,
    pub until: Option<String>,
    pub to_seq: Option<u64>,
    pub to_subject: Option<String>,
}

/// A [`Range`] checked: every way it can be wrong is said before anything is read.
#[derive(Debug)]
struct Plan {
    decl: &'static StreamDecl,
    filter: SubjectFilter,
    start: Start,
    until: Option<Timestamp>,
    to_seq: Option<u64>,
    to_subject: Option<Subject>,
}

fn plan(r: &Range, now: Timestamp) -> anyhow::Result<Plan> {
    let decl = crate::streams::declared(&r.stream).map_err(|e| anyhow::anyhow!("--stream {e}"))?;
    let filter = match &r.subject {
        None => decl.filter(),
        Some(f) => {
            let filter = SubjectFilter::parse(f).map_err(|e| anyhow::anyhow!("--subject {f:?}: {e}"))?;
            if tailrace_schemas::streams::stream_of(&filter).map(|d| d.name) != Some(decl.name) {
                bail!(
                    "--subject {f:?} is not a subject of stream {} (its subjects: {})",
                    decl.name.as_str(),
                    decl.filter().as_str()
                );
            }
            filter
        }
    };
    let since = r.since.as_deref().map(|s| time_arg("--since", s, now)).transpose()?;
    let until = r.until.as_deref().map(|s| time_arg("--until", s, now)).transpose()?;
    if let (Some(from), Some(to)) = (r.from_seq, r.to_seq) {
        if from > to {
            bail!("--from-seq {from} is after --to-seq {to}: nothing lies between them");
        }
    }
    if let (Some(since), Some(until)) = (since, until) {
        if since > until {
            bail!(
                "--since {} is after --until {}: nothing lies between them",
                since.to_rfc3339(),
                until.to_rfc3339()
            );
        }
    }
    if r.from_seq == Some(0) || r.to_seq == Some(0) {
        bail!("--from-seq and --to-seq count from 1 (a stream's first sequence)");
    }
    let to_subject = r
        .to_subject
        .as_deref()
        .map(|s| Subject::parse(s).map_err(|e| anyhow::anyhow!("--to-subject {s:?}: {e}")))
        .transpose()?;
    if let Some(to) = &to_subject {
        if tailrace_schemas::streams::stream_of_subject(to.as_str()).is_none() {
            bail!(
                "--to-subject {:?} is in no stream: nothing would store what is republished there",
                to.as_str()
            );
        }
    }
    let start = match (r.from_seq, since) {
        (Some(seq), _) => Start::Sequence(seq),
        (None, Some(t)) => Start::Time(t),
        (None, None) => Start::Sequence(1),
    };
    Ok(Plan { decl, filter, start, until, to_seq: r.to_seq, to_subject })
}

/// A progress bar on stderr of `len` messages, with rate and time left.
fn messages_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} messages {per_sec} eta {eta} [{elapsed}]")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// An RFC 3339 time, or a duration back from now (`90m`, `2h`, `7d`).
fn time_arg(name: &str, raw: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(t) = Timestamp::parse_rfc3339(raw) {
        return Ok(t);
    }
    match humantime::parse_duration(raw) {
        Ok(back) => Ok(now.saturating_add_nanos(-i64::try_from(back.as_nanos()).unwrap_or(i64::MAX))),
        Err(_) => bail!("{name} {raw:?} is neither an RFC 3339 time (2026-12-05T06:00:00Z) nor a duration back from now (90m, 2h, 7d)"),
    }
}

pub async fn run(cfg: &Config, range: Range) -> anyhow::Result<()> {
    let plan = plan(&range, Timestamp::now())?;
    let (client, _) = crate::cli::connect_client(cfg, "tailrace-replay").await?;
    let js = async_nats::jetstream::new(client.clone());
    let stream = plan.decl.name;
    if let Checked::PastEnd { seq, last } = replay::check(&js, stream, plan.start).await? {
        bail!("--from-seq {seq} is past the end of {} (its last sequence is {last})", stream.as_str());
    }
    // The end is fixed now: what arrives meanwhile (a republish into the same stream, say) is
    // not read, so a replay always ends.
    let last = replay::last_sequence(&js, stream).await?;
    let end = plan.to_seq.map_or(last, |to| to.min(last));
    let mut messages = replay::history(&js, stream, plan.filter.as_str(), plan.start)
        .await
        .with_context(|| format!("reading {}", stream.as_str()))?;
    let publisher =
        plan.to_subject.as_ref().map(|_| Publisher::new(client.clone(), cfg.nats.publisher.clone()));
    let bar = messages_bar(0);
    let started = Instant::now();
    let mut out = JsonLines::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout()));
    let (mut count, mut first, mut last) = (0u64, None, None);
    let mut acks = Vec::new();
    while let Some(m) = messages.next().await {
        let m = m?;
        if m.seq > end || plan.until.is_some_and(|u| m.stored_at.is_some_and(|t| t > u)) {
            break;
        }
        if count == 0 {
            bar.set_length((m.pending + 1).min(end.saturating_sub(m.seq) + 1));
        }
        first.get_or_insert(m.seq);
        last = Some(m.seq);
        count += 1;
        match (&plan.to_subject, &publisher) {
            (Some(to), Some(publisher)) => {
                // The same replay run again stores nothing twice (within the duplicate window).
                let id = format!("replay/{}/{}/{}", stream.as_str(), m.seq, to.as_str());
                acks.push(
                    publisher.publish(Outgoing { subject: to.clone(), payload: m.payload, msg_id: id }).await,
                );
            }
            _ => out.push(m).await?,
        }
        bar.inc(1);
    }
    out.finish().await?;
    for ack in acks {
        ack.await.context("republishing")?;
    }
    bar.finish_and_clear();
    let took = started.elapsed();
    let span = match (first, last) {
        (Some(a), Some(b)) => format!(" (sequences {a}..={b})"),
        _ => String::new(),
    };
    let to = plan.to_subject.as_ref().map_or(String::new(), |s| format!(" to {s}"));
    eprintln!(
        "replayed {count} messages of {}{span}{to} in {took:.2?} ({:.0}/s)",
        plan.filter.as_str(),
        count as f64 / took.as_secs_f64().max(1e-9)
    );
    tailrace_nats::connect::flush_within(&client, tailrace_nats::connect::FLUSH_WAIT).await;
    Ok(())
}

/// Writes stored messages as JSON lines, in order, encoding chunks of them on the blocking pool
/// side by side (decoding and encoding is most of a replay's work; reading is one task). At
/// most `ahead` chunks are in flight, so memory stays bounded however long the replay.
pub struct JsonLines<W: Write> {
    out: W,
    /// What a message becomes: [`write_line`], or a benchmark's stand-in.
    encode: Encode,
    chunk: Vec<replay::Replayed>,
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<anyhow::Result<Vec<u8>>>>,
    ahead: usize,
    /// Written buffers, reused: a fresh megabyte per chunk cost the replay a page fault per
    /// page (a tenth of its time in the profile).
    spare: Vec<Vec<u8>>,
}

/// Messages one encoding task takes.
const CHUNK: usize = 64;

/// Writes one message into a chunk's buffer.
pub type Encode = fn(&replay::Replayed, &mut Vec<u8>) -> anyhow::Result<()>;

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        Self::with_encoder(out, |m, buf| write_line(m, buf))
    }

    /// The same chunking and ordering with another encoding (`tailrace bench replay` times
    /// decoding alone through it).
    pub fn with_encoder(out: W, encode: Encode) -> Self {
        let ahead = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        Self {
            out,
            encode,
            chunk: Vec::with_capacity(CHUNK),
            in_flight: Default::default(),
            ahead,
            spare: Vec::new(),
        }
    }

    pub async fn push(&mut self, m: replay::Replayed) -> anyhow::Result<()> {
        self.chunk.push(m);
        if self.chunk.len() == CHUNK {
            self.send().await?;
        }
        Ok(())
    }

    async fn send(&mut self) -> anyhow::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let mut buf = self.spare.pop().unwrap_or_default();
        let encode = self.encode;
        self.in_flight.push_back(tokio::task::spawn_blocking(move || {
            buf.clear();
            for m in &chunk {
                encode(m, &mut buf)?;
            }
            Ok(buf)
        }));
        while self.in_flight.len() >= self.ahead {
            self.write_oldest().await?;
        }
        Ok(())
    }

    async fn write_oldest(&mut self) -> anyhow::Result<()> {
        if let Some(task) = self.in_flight.pop_front() {
            let buf = task.await.context("an encoding task")??;
            self.out.write_all(&buf)?;
            self.spare.push(buf);
        }
        Ok(())
    }

    /// Writes what is left, in order, and flushes.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        if !self.chunk.is_empty() {
            self.send().await?;
        }
        while !self.in_flight.is_empty() {
            self.write_oldest().await?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Writes a stored message as `tailrace replay` prints it, one line: `{"seq", "subject",
/// "stored_at", "payload"}`, the payload decoded by its stream's type.
pub fn write_line(m: &replay::Replayed, mut w: impl Write) -> anyhow::Result<()> {
    let stored_at = m.stored_at.map(Timestamp::to_rfc3339);
    write!(w, "{{\"seq\":{},\"subject\":", m.seq)?;
    serde_json::to_writer(&mut w, &m.subject)?;
    w.write_all(b",\"stored_at\":")?;
    serde_json::to_writer(&mut w, &stored_at)?;
    w.write_all(b",\"payload\":")?;
    tailrace_schemas::streams::write_json(&m.subject, &m.payload, &mut w)?;
    w.write_all(b"}\n")?;
    Ok(())
}

/// `--rebuild SINK`: every running replica of the sink clears its tables and materializes them
/// again from its stream while the rest keeps running; the progress shown is the first
/// replica's reader (the ordered consumer its runtime names after it) through the stream as it
/// was when the rebuild began.
pub async fn rebuild(cfg: &Config, sink: &str) -> anyhow::Result<()> {
    let Some(stream) = tailrace_sinks::input_of(sink) else {
        let known: Vec<&str> = tailrace_sinks::BUILT_IN.iter().map(|(n, _)| *n).collect();
        bail!("--rebuild {sink:?} is not a sink; the sinks are: {}", known.join(", "));
    };
    let (client, _) = crate::cli::connect_client(cfg, "tailrace-replay").await?;
    let js = async_nats::jetstream::new(client.clone());
    let last = replay::last_sequence(&js, stream).await?;
    // The readers before the rebuild (an ephemeral consumer outlives its reader a while) are
    // not the one that shows its progress.
    let before: std::collections::HashSet<String> =
        sink_readers(&js, stream, sink).await?.into_keys().collect();
    let asked = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(tailrace_sinks::rebuild_subject(sink), "".into()),
    )
    .await;
    let reply = match asked {
        Ok(Ok(reply)) => reply,
        _ => bail!(
            "no running sink {sink} answered (it runs in `tailrace run`, `tailrace gateway` and `tailrace sink {sink}`)"
        ),
    };
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).context("the sink's answer")?;
    let replica = answer["replica"].as_str().unwrap_or_default().to_owned();
    eprintln!("sink {sink} of replica {replica}: tables cleared; materializing them again from {} (sequences 1..={last})", stream.as_str());
    let bar = messages_bar(last);
    let started = Instant::now();
    let mut seen = Instant::now();
    loop {
        let readers = sink_readers(&js, stream, sink).await?;
        let at = readers
            .into_iter()
            .filter(|(name, (of, _))| !before.contains(name) && *of == replica)
            .map(|(_, (_, seq))| seq)
            .max();
        match at {
            Some(seq) => {
                seen = Instant::now();
                bar.set_position(seq.min(last));
                if seq >= last {
                    break;
                }
            }
            None if seen.elapsed() > Duration::from_secs(30) => {
                bail!(
                    "sink {sink} of replica {replica} has not been reading {} for 30 s: see its log",
                    stream.as_str()
                )
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bar.finish_and_clear();
    let took = started.elapsed();
    eprintln!(
        "sink {sink} of replica {replica}: read {last} messages of {} again in {took:.2?} ({:.0}/s); its tables hold them after its next window",
        stream.as_str(),
        last as f64 / took.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// The readers (ordered consumers) of sink `sink` on `stream`: name → (replica, last sequence
/// delivered), found by the description the sink runtime gives them.
async fn sink_readers(
    js: &async_nats::jetstream::Context,
    stream: tailrace_schemas::StreamName,
    sink: &str,
) -> anyhow::Result<std::collections::HashMap<String, (String, u64)>> {
    let mut readers = std::collections::HashMap::new();
    let mut consumers = js.get_stream(stream.as_str()).await?.consumers();
    while let Some(info) = consumers.next().await {
        let Ok(info) = info else { continue };
        if let Some((_, replica)) =
            info.config.description.as_deref().and_then(tailrace_sinks::reader_of).filter(|(s, _)| *s == sink)
        {
            readers.insert(info.name.clone(), (replica.to_owned(), info.delivered.stream_sequence));
        }
    }
    Ok(readers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(stream: &str) -> Range {
        Range { stream: stream.into(), ..Default::default() }
    }

    #[test]
    fn every_wrong_range_is_refused_naming_its_option() {
        let now = Timestamp::parse_rfc3339("2026-12-05T12:00:00Z").unwrap();
        let err = |r: Range| plan(&r, now).unwrap_err().to_string();
        assert!(err(range("NOPE")).contains("--stream \"NOPE\" is not a stream"));
        assert!(err(Range { subject: Some("issues.x".into()), ..range("LOGS") }).contains("--subject"));
        assert!(err(Range { subject: Some("logs..raw".into()), ..range("LOGS") }).contains("--subject"));
        assert!(err(Range { from_seq: Some(9), to_seq: Some(3), ..range("LOGS") })
            .contains("--from-seq 9 is after --to-seq 3"));
        assert!(err(Range { since: Some("1h".into()), until: Some("2h".into()), ..range("LOGS") })
            .contains("--since"));
        assert!(err(Range { since: Some("yesterday".into()), ..range("LOGS") })
            .contains("--since \"yesterday\" is neither"));
        assert!(err(Range { from_seq: Some(0), ..range("LOGS") }).contains("count from 1"));
        assert!(err(Range { to_seq: Some(0), ..range("LOGS") }).contains("count from 1"));
        assert!(
            err(Range { to_subject: Some("nowhere.x".into()), ..range("LOGS") }).contains("is in no stream")
        );
        assert!(err(Range { to_subject: Some("logs.>".into()), ..range("LOGS") }).contains("--to-subject"));
    }

    #[test]
    fn a_range_reads_from_its_start_with_times_absolute_or_back_from_now() {
        let now = Timestamp::parse_rfc3339("2026-12-05T12:00:00Z").unwrap();
        let p = plan(&Range { since: Some("2h".into()), ..range("logs") }, now).unwrap();
        assert_eq!(p.start, Start::Time(Timestamp::parse_rfc3339("2026-12-05T10:00:00Z").unwrap()));
        assert_eq!(p.filter.as_str(), "logs.raw.>");
        let p = plan(
            &Range { from_seq: Some(5), until: Some("2026-12-05T11:00:00Z".into()), ..range("LOGS") },
            now,
        )
        .unwrap();
        assert_eq!(
            (p.start, p.until.map(Timestamp::to_rfc3339)),
            (Start::Sequence(5), Some("2026-12-05T11:00:00Z".into()))
        );
    }
}
