//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tailrace_nats::ManagedServer;

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "tailrace",
    version,
    about = "Event-streaming pipeline for logs and fleet telemetry on NATS JetStream"
)]
pub struct Cli {
    /// Config file (TOML). Default: ./tailrace.toml if it exists. Every key can be overridden by
    /// an environment variable: TAILRACE_<SECTION>__<KEY>, e.g. TAILRACE_NATS__URL.
    #[arg(short, long, global = true, env = "TAILRACE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every role in one process: the managed nats-server (unless nats.url is set), the
    /// streams, and the gateway.
    Run {
        /// Also publish a made-up fleet's reports (as `tailrace demo --follow`), so the fleet
        /// pages show data at once.
        #[arg(long)]
        demo: bool,
    },
    /// Publish a made-up fleet of controllers' reports (30 days of hourly reports by default)
    /// to the running tailrace, so the fleet pages and the issue list have data to show.
    Demo {
        #[arg(long, default_value_t = crate::demo::DEFAULT_SHAPE.customers)]
        customers: usize,
        #[arg(long, default_value_t = crate::demo::DEFAULT_SHAPE.apps)]
        apps: usize,
        /// Apps each customer runs.
        #[arg(long, default_value_t = crate::demo::DEFAULT_SHAPE.apps_per_customer)]
        apps_per_customer: usize,
        /// Days of history before now.
        #[arg(long, default_value_t = crate::demo::DEFAULT_SHAPE.days)]
        days: u32,
        /// The same seed makes the same fleet (and a rerun stores nothing twice).
        #[arg(long, default_value_t = crate::demo::DEFAULT_SHAPE.seed)]
        seed: u64,
        /// Then go on reporting as time passes, until Ctrl-C.
        #[arg(long)]
        follow: bool,
    },
    /// Run the tail producer alone: the hosts of [tail] are advertised and their tails run when
    /// viewers (or [[tail.pinned]]) want them.
    Produce,
    /// Run the gateway alone, with the sinks of [sinks] keeping its own tables (a read replica).
    Gateway,
    /// Run the controller of a customer machine: measure its apps (Docker containers by compose
    /// project, or the cgroups of [[controller.groups]]), scan their logs, and report to the hub
    /// every [controller] report_interval.
    Controller {
        /// Print the report it would send now (JSON) and exit, sending nothing.
        #[arg(long)]
        once: bool,
    },
    /// Replay a stream's stored messages, from a start to an end (by default the whole stream
    /// as it is now), to stdout as JSON lines, or republished with --to-subject. A progress bar
    /// on stderr.
    Replay {
        /// The stream: LOGS, CLASSIFIED, FILES, REPORTS, ISSUES, STATUS, DLQ or DERIVED.
        #[arg(long, required_unless_present = "rebuild")]
        stream: Option<String>,
        /// Instead: reset sink SINK (files, issues, telemetry) in every running replica and
        /// materialize its tables again from its stream while everything keeps running.
        #[arg(long, conflicts_with_all = ["stream", "subject", "since", "from_seq", "until", "to_seq", "to_subject"])]
        rebuild: Option<String>,
        /// Only the subjects this filter matches (wildcards allowed), within the stream.
        #[arg(long)]
        subject: Option<String>,
        /// From this time: RFC 3339, or a duration back from now (90m, 2h, 7d).
        #[arg(long, conflicts_with = "from_seq")]
        since: Option<String>,
        /// From this stream sequence (1 is the first).
        #[arg(long)]
        from_seq: Option<u64>,
        /// Up to this time (stored at or before it): RFC 3339, or a duration back from now.
        #[arg(long, conflicts_with = "to_seq")]
        until: Option<String>,
        /// Up to this stream sequence, inclusive.
        #[arg(long)]
        to_seq: Option<u64>,
        /// Republish each message (its payload as stored) to this subject instead of printing.
        #[arg(long)]
        to_subject: Option<String>,
    },
    /// Declare and inspect JetStream streams.
    Streams {
        #[command(subcommand)]
        action: StreamsAction,
    },
    /// Measure tailrace beside the plain way of doing the same thing (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Run the named processors (all sharing the work with other instances of the same names)
    /// until Ctrl-C or SIGTERM. `--list` names them.
    Process {
        /// Processor names (`classify`, `fingerprint`, `auth-failures`).
        #[arg(required_unless_present = "list")]
        names: Vec<String>,
        /// List the processors and exit.
        #[arg(long)]
        list: bool,
    },
    /// Keep the tables of the named sinks (in data_dir/sled) until Ctrl-C or SIGTERM. `--list`
    /// names them; `--dump NAME` prints a sink's rows as JSON lines and exits.
    Sink {
        /// Sink names (`issues`).
        #[arg(required_unless_present_any = ["list", "dump"])]
        names: Vec<String>,
        /// List the sinks and exit.
        #[arg(long)]
        list: bool,
        /// Print this sink's table and exit (while no other tailrace uses the data_dir).
        #[arg(long, value_name = "NAME")]
        dump: Option<String>,
    },
    /// Fingerprint lines read on stdin: one line out per line in, `fingerprint<TAB>severity<TAB>template`.
    Fingerprint {
        /// The lines are messages without headers (skip header detection).
        #[arg(long)]
        content: bool,
        /// Print lines, templates and the time spent fingerprinting on stderr at the end.
        #[arg(long)]
        stats: bool,
        /// Share of comparable tokens that must be equal for a line to join a template
        /// (default: the configured `processors.fingerprint.similarity`).
        #[arg(long)]
        similarity: Option<f64>,
        /// The lines' format, as `[[processors.fingerprint.formats]]` states one
        /// (`<Date> <Time> <Level> <Component>: <Content>`); lines it does not match are read
        /// as without it.
        #[arg(long, conflicts_with = "content")]
        format: Option<String>,
        /// A regex of a variable, replaced by `<*>` in each message (repeatable; with --format).
        #[arg(long = "mask", requires = "format")]
        masks: Vec<String>,
    },
    /// Publish a controller report (JSON or MessagePack, from FILE or `-` for stdin) to
    /// reports.{customer}, checked as POST /api/v1/report checks it.
    PublishReport {
        /// The report file, or `-` for standard input.
        file: String,
    },
    /// Sync the `[[sync.targets]]` once (all of them, or TARGET), with a progress bar: new
    /// files whole, grown files by their new bytes, each change announced on
    /// files.synced.{target}.{category} and its lines on logs.raw.
    Sync {
        /// One target's name.
        target: Option<String>,
        /// Sync in this process at once, even where a sync role runs (without it, a running
        /// sync role is asked to sync, joining a sync it has under way).
        #[arg(long)]
        now: bool,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Raw lines through classify and fingerprint to issues, beside the consumer runner
    /// copying the same messages untouched, against a throwaway local nats-server.
    Pipeline {
        /// Lines of 200 bytes.
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
    },
    /// `tailrace controller` on a host of containers that log steadily (a local busybox image;
    /// a Docker Engine must answer), beside the seed's scan (`docker logs --since=15m
    /// --tail=1000` per container, one after another) over as many cycles: CPU of each and of
    /// dockerd, memory, errors counted.
    Controller {
        #[arg(long, default_value_t = 50)]
        containers: usize,
        /// Lines each container writes per second.
        #[arg(long, default_value_t = 100)]
        lines_per_s: u32,
        /// Report cycles measured for each method.
        #[arg(long, default_value_t = 3)]
        cycles: u32,
        /// The report interval (the seed's is 5m).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
    },
    /// A fleet's controller reports through the real path into the telemetry and issue tables,
    /// and the fleet queries on them, beside the seed's SQLite store loaded with the same
    /// reports and asked the seed's queries.
    Fleet {
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        /// Apps per customer (every customer runs all of them).
        #[arg(long, default_value_t = 50)]
        apps: usize,
        /// Days of hourly reports.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Runs of each query.
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Seconds the seed's queries of one kind may take in all (at least 3 runs).
        #[arg(long, default_value_t = 120)]
        seed_seconds: u64,
    },
    /// Reading a stream's history through tailrace's reader (`tailrace replay`, history views,
    /// sink rebuilds) beside a plain async-nats ordered consumer, against a throwaway server.
    Replay {
        /// Lines of 200 bytes stored in LOGS.
        #[arg(long, default_value_t = 10_000_000)]
        lines: usize,
        /// Lines per LogBatch message.
        #[arg(long, default_value_t = 64)]
        lines_per_message: usize,
        /// Rounds of each reader, alternating; the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Publisher throughput beside plain async-nats JetStream publishing, LogBatch messages of
    /// 1, 64 and 512 lines of 200 bytes, against a throwaway local nats-server.
    Publish {
        /// Rounds per variant and size; the median is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Lines per run (messages = lines / lines-per-message, at least 2,000).
        #[arg(long, default_value_t = 400_000)]
        lines: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum StreamsAction {
    /// Create or update every declared stream and bucket; unchanged ones are left alone.
    Apply,
    /// List streams with their message counts and consumers.
    Ls,
    /// One stream in full: its subjects, limits, first and last messages, consumers.
    Info {
        /// LOGS, CLASSIFIED, FILES, REPORTS, ISSUES, STATUS, DLQ or DERIVED.
        stream: String,
    },
    /// How far behind each processor and sink is: messages still to read, delivered and not
    /// yet acknowledged, redelivered.
    Lag,
    /// Remove the stored messages of the subjects a filter matches (one host's lines, one
    /// customer's reports). Says how many first; removes them only with --yes.
    Purge {
        /// A subject filter (wildcards allowed) inside one stream.
        #[arg(long)]
        subject: String,
        /// Remove them (without it the command only counts).
        #[arg(long)]
        yes: bool,
    },
}

pub async fn dispatch(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Run { demo } => Box::pin(crate::run::run(cfg, demo, crate::shutdown::on_signal())).await,
        Command::Demo { customers, apps, apps_per_customer, days, seed, follow } => {
            let shape = crate::demo::fleet::Shape { customers, apps, apps_per_customer, days, seed };
            anyhow::ensure!(customers > 0 && apps > 0, "--customers and --apps must be at least 1");
            anyhow::ensure!(days <= 3650, "--days must be at most 3650, not {days}");
            let (client, _) = connect_client(&cfg, "tailrace-demo").await?;
            let publisher = tailrace_nats::Publisher::new(client.clone(), cfg.nats.publisher.clone());
            let result = crate::demo::run(&publisher, shape, follow, &crate::shutdown::on_signal()).await;
            tailrace_nats::connect::flush_within(&client, tailrace_nats::connect::FLUSH_WAIT).await;
            result
        }
        Command::Sync { target, now } => crate::sync::once(&cfg, target.as_deref(), now).await,
        Command::Produce => Box::pin(crate::roles::produce(cfg, crate::shutdown::on_signal())).await,
        Command::Gateway => Box::pin(crate::roles::gateway(cfg, crate::shutdown::on_signal())).await,
        Command::Controller { once: true } => crate::roles::controller_once(&cfg).await,
        Command::Controller { once: false } => {
            Box::pin(crate::roles::controller(cfg, crate::shutdown::on_signal())).await
        }
        Command::Streams { action } => crate::streams::run(action, &cfg).await,
        Command::Replay { rebuild: Some(sink), .. } => crate::replay::rebuild(&cfg, &sink).await,
        Command::Replay { stream, rebuild: None, subject, since, from_seq, until, to_seq, to_subject } => {
            let stream = stream.unwrap_or_default();
            let range = crate::replay::Range { stream, subject, since, from_seq, until, to_seq, to_subject };
            crate::replay::run(&cfg, range).await
        }
        Command::Bench { what: BenchWhat::Replay { lines, lines_per_message, rounds } } => {
            anyhow::ensure!(
                lines_per_message > 0 && rounds > 0,
                "--lines-per-message and --rounds must be at least 1"
            );
            crate::bench::replay(&cfg, lines.max(1), lines_per_message, rounds).await
        }
        Command::Bench { what: BenchWhat::Controller { containers, lines_per_s, cycles, interval } } => {
            anyhow::ensure!(
                containers > 0 && lines_per_s > 0 && cycles > 0 && !interval.is_zero(),
                "--containers, --lines-per-s, --cycles and --interval must be more than 0"
            );
            crate::bench::controller(crate::bench::ControllerShape {
                containers,
                lines_per_s,
                cycles,
                interval,
            })
            .await
        }
        Command::Bench { what: BenchWhat::Pipeline { lines } } => {
            crate::bench::pipeline(&cfg, lines.max(1)).await
        }
        Command::Bench { what: BenchWhat::Fleet { customers, apps, days, runs, seed_seconds } } => {
            anyhow::ensure!(
                customers > 0 && apps > 0 && days > 0,
                "--customers, --apps and --days must be at least 1"
            );
            let shape = crate::demo::fleet::Shape { customers, apps, apps_per_customer: apps, days, seed: 1 };
            crate::bench::fleet(&cfg, shape, crate::bench::Budget { runs: runs.max(1), seed_seconds }).await
        }
        Command::Bench { what: BenchWhat::Publish { rounds, lines } } => {
            crate::bench::publish(&cfg, rounds.max(1), lines).await
        }
        Command::Process { list: true, .. } => {
            for (name, what) in tailrace_processors::registry::BUILT_IN {
                say(&format!("{name:<16} {what}"));
            }
            Ok(())
        }
        Command::Process { names, .. } => crate::process::run(cfg, names, crate::shutdown::on_signal()).await,
        Command::Sink { list: true, .. } => {
            for (name, what) in tailrace_sinks::BUILT_IN {
                say(&format!("{name:<16} {what}"));
            }
            Ok(())
        }
        Command::Sink { dump: Some(name), .. } => crate::sink::dump(&cfg, &name),
        Command::Sink { names, .. } => crate::sink::run(cfg, names, crate::shutdown::on_signal()).await,
        Command::Fingerprint { content, stats, similarity, format, masks } => {
            let mut miner = cfg.processors.fingerprint.miner();
            if let Some(s) = similarity {
                anyhow::ensure!((0.0..=1.0).contains(&s), "--similarity must be between 0 and 1, not {s}");
                miner.similarity = s;
            }
            let format = format
                .map(|f| tailrace_processors::template::LineFormat::new(0, &f, &masks))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--format or --mask: {e}"))?;
            crate::fingerprint::run(miner, content, format.as_ref(), stats)
        }
        Command::PublishReport { file } => publish_report(&cfg, &file).await,
        Command::Version => {
            say(&format!("tailrace {}", env!("CARGO_PKG_VERSION")));
            Ok(())
        }
    }
}

#[allow(clippy::print_stdout)] // the CLI's output is its job
pub fn say(line: &str) {
    println!("{line}");
}

/// Connects for a one-shot command: to nats.url, or to the managed server of a running
/// `tailrace run` on this machine.
pub async fn connect_for_command(cfg: &Config) -> anyhow::Result<async_nats::jetstream::Context> {
    Ok(async_nats::jetstream::new(connect_client(cfg, "tailrace-cli").await?.0))
}

/// A client of nats.url, or of the managed server of a running `tailrace run` on this machine
/// (with the credentials it generated into the data directory).
pub async fn connect_client(
    cfg: &Config,
    name: &str,
) -> anyhow::Result<(async_nats::Client, tailrace_nats::connect::Connections)> {
    let mut nats = match &cfg.nats.url {
        Some(_) => cfg.nats.clone(),
        None => {
            let nats = ManagedServer::local_client_config(&cfg.nats, &cfg.nats.server, &cfg.data_dir)?;
            eprintln!(
                "nats.url is not set: using the managed server of `tailrace run` at {}",
                nats.url.as_deref().unwrap_or_default()
            );
            nats
        }
    };
    nats.reconnect.connect_timeout = Duration::from_secs(5);
    let url = nats.url.clone().unwrap_or_default();
    let hint = if cfg.nats.url.is_none() {
        format!(
            "is `tailrace run` running with this data_dir? The managed server at {url} was not reached over \
             its pinned certificate: either nothing listens there, or what does is not the managed server"
        )
    } else {
        format!("is a NATS server running at {url}?")
    };
    tailrace_nats::connect::connect_watched(&nats, None, name).await.with_context(|| hint)
}

/// `tailrace publish-report FILE|-`.
async fn publish_report(cfg: &Config, file: &str) -> anyhow::Result<()> {
    use std::io::Read as _;
    let bytes = if file == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).context("reading the report from stdin")?;
        b
    } else {
        std::fs::read(file).with_context(|| format!("reading the report {file}"))?
    };
    let ingested = tailrace_schemas::report_check::ingest(&bytes, tailrace_schemas::Timestamp::now())
        .with_context(|| format!("the report in {file} is refused"))?;
    let (client, _) = connect_client(cfg, "tailrace-publish-report").await?;
    let publisher = tailrace_nats::Publisher::new(client.clone(), cfg.nats.publisher.clone());
    let (subject, apps) = (ingested.subject.clone(), ingested.report.app_telemetry.len());
    let out = tailrace_nats::Outgoing::encode(ingested.subject, &ingested.report, ingested.msg_id)?;
    let ack = publisher.publish_and_wait(out).await.context("publishing the report")?;
    tailrace_nats::connect::flush_within(&client, tailrace_nats::connect::FLUSH_WAIT).await;
    say(&format!(
        "stored report of customer {} ({apps} apps) on {subject} at sequence {}{}",
        ingested.report.customer_id,
        ack.sequence,
        if ack.duplicate { " (a duplicate: stored before)" } else { "" }
    ));
    Ok(())
}
