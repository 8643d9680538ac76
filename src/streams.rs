//! `tailrace streams`: the operator's view of the JetStream streams. `apply` declares them, `ls`
//! lists them, `info` shows one in full, `lag` says how far behind each processor and sink is,
//! `purge --subject` removes one subject's messages (counted first; removed only with `--yes`).

use std::time::Duration;

use anyhow::{bail, Context};
use futures::TryStreamExt;
use tailrace_nats::topology::{self, ApplyAction, Topology};
use tailrace_schemas::streams::{stream_of, StreamDecl, STREAMS};
use tailrace_schemas::SubjectFilter;

use crate::cli::{say, StreamsAction};
use crate::config::Config;

pub async fn run(action: StreamsAction, cfg: &Config) -> anyhow::Result<()> {
    let js = crate::cli::connect_for_command(cfg).await?;
    match action {
        StreamsAction::Apply => apply(&js, cfg).await,
        StreamsAction::Ls => ls(&js).await,
        StreamsAction::Info { stream } => info(&js, declared(&stream)?).await,
        StreamsAction::Lag => lag(&js).await,
        StreamsAction::Purge { subject, yes } => purge(&js, &subject, yes).await,
    }
}

/// The declared stream called `name` (any case), or an error listing them.
pub fn declared(name: &str) -> anyhow::Result<&'static StreamDecl> {
    STREAMS.iter().find(|d| d.name.as_str().eq_ignore_ascii_case(name)).ok_or_else(|| {
        let known: Vec<&str> = STREAMS.iter().map(|d| d.name.as_str()).collect();
        anyhow::anyhow!("{name:?} is not a stream; the streams are: {}", known.join(", "))
    })
}

async fn apply(js: &async_nats::jetstream::Context, cfg: &Config) -> anyhow::Result<()> {
    let topology = Topology::from_config(&cfg.nats.streams);
    eprintln!("applying {} streams and the tail-sessions bucket…", topology.streams().len());
    for o in topology.apply(js).await? {
        match o.action {
            ApplyAction::Created => say(&format!("{:<18} created", o.name)),
            ApplyAction::Unchanged => say(&format!("{:<18} unchanged", o.name)),
            ApplyAction::Updated(changes) => say(&format!("{:<18} updated: {}", o.name, changes.join("; "))),
        }
    }
    Ok(())
}

async fn ls(js: &async_nats::jetstream::Context) -> anyhow::Result<()> {
    say(&format!(
        "{:<18} {:<22} {:>12} {:>14}  consumers (pending/redelivered)",
        "STREAM", "SUBJECTS", "MESSAGES", "BYTES"
    ));
    for s in topology::inspect(js).await? {
        let consumers: Vec<String> =
            s.consumers.iter().map(|c| format!("{} ({}/{})", c.name, c.pending, c.redelivered)).collect();
        say(&format!(
            "{:<18} {:<22} {:>12} {:>14}  {}",
            s.name,
            s.subjects.join(","),
            s.messages,
            s.bytes,
            if consumers.is_empty() { "-".to_owned() } else { consumers.join(", ") }
        ));
    }
    Ok(())
}

async fn info(js: &async_nats::jetstream::Context, decl: &StreamDecl) -> anyhow::Result<()> {
    let name = decl.name.as_str();
    let mut stream = js.get_stream(name).await.with_context(|| format!("stream {name} (is it applied?)"))?;
    let info = stream.info().await?.clone();
    let (c, s) = (&info.config, &info.state);
    let age = |d: Duration| {
        if d.is_zero() {
            "unlimited".to_owned()
        } else {
            humantime::format_duration(d).to_string()
        }
    };
    let limit = |n: i64| if n < 0 { "unlimited".to_owned() } else { n.to_string() };
    say(&format!("stream       {name}"));
    say(&format!("subjects     {}", c.subjects.join(", ")));
    say(&format!("payload      {:?}", decl.payload));
    say(&format!("storage      {:?}, {} replica(s)", c.storage, c.num_replicas));
    say(&format!("max age      {}", age(c.max_age)));
    say(&format!("max bytes    {}", limit(c.max_bytes)));
    say(&format!("max messages {}", limit(c.max_messages)));
    say(&format!("per subject  {}", limit(c.max_messages_per_subject)));
    say(&format!("duplicates   {} window", age(c.duplicate_window)));
    say(&format!("messages     {} ({} bytes, {} subjects)", s.messages, s.bytes, s.subjects_count));
    say(&format!("first        {} at {}", s.first_sequence, s.first_timestamp));
    say(&format!("last         {} at {}", s.last_sequence, s.last_timestamp));
    say(&format!("consumers    {}", s.consumer_count));
    Ok(())
}

async fn lag(js: &async_nats::jetstream::Context) -> anyhow::Result<()> {
    say(&format!(
        "{:<12} {:<44} {:>10} {:>12} {:>12}",
        "STREAM", "READER", "TO READ", "UNACKED", "REDELIVERED"
    ));
    let infos: Vec<async_nats::jetstream::stream::Info> = js.streams().try_collect().await?;
    for info in infos {
        let stream = js.get_stream_no_info(&info.config.name).await?;
        let mut consumers: Vec<async_nats::jetstream::consumer::Info> =
            stream.consumers().try_collect().await?;
        consumers.sort_by(|a, b| a.name.cmp(&b.name));
        for c in consumers {
            // A sink's reader is an ordered consumer with a random name; its description says
            // whose it is. Processors' are durable, named after the processor.
            let who = match c.config.description.as_deref() {
                Some(d) if tailrace_sinks::reader_of(d).is_some() => d.to_owned(),
                _ if c.config.durable_name.is_some() => format!("processor {}", c.name),
                _ => format!("reader {} (a live view, a replay, a watch)", c.name),
            };
            say(&format!(
                "{:<12} {:<44} {:>10} {:>12} {:>12}",
                info.config.name, who, c.num_pending, c.num_ack_pending, c.num_redelivered
            ));
        }
    }
    Ok(())
}

async fn purge(js: &async_nats::jetstream::Context, subject: &str, yes: bool) -> anyhow::Result<()> {
    let filter = SubjectFilter::parse(subject).map_err(|e| anyhow::anyhow!("--subject {subject:?}: {e}"))?;
    let Some(decl) = stream_of(&filter) else {
        let roots: Vec<String> = STREAMS.iter().map(|d| d.filter().as_str().to_owned()).collect();
        bail!("--subject {subject:?} is in no stream (their subjects: {})", roots.join(", "));
    };
    let name = decl.name.as_str();
    let stream = js.get_stream(name).await.with_context(|| format!("stream {name} (is it applied?)"))?;
    let counted: u64 = stream
        .info_with_subjects(filter.as_str())
        .await?
        .try_fold(0u64, |n, (_, count)| async move { Ok(n + count as u64) })
        .await?;
    if !yes {
        say(&format!(
            "{counted} messages of {subject} in {name} would be removed; run again with --yes to remove them"
        ));
        return Ok(());
    }
    let purged = stream.purge().filter(filter.as_str()).await?;
    say(&format!("removed {} messages of {subject} from {name}", purged.purged));
    Ok(())
}
