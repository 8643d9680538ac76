//! Sinks: sled tables materialized from streams, and the queries over them.
//!
//! - [`tables`]: the process's sled database, opened once and checked (a foreign or corrupted
//!   directory is refused naming it), one tree per sink, a replica id per copy.
//! - [`staged`]: the writes of one window, read through, applied with the last applied
//!   sequence in one sled batch.
//! - [`retention`]: how long tables keep rows and when they are pruned (cron, or on request).
//! - [`runtime`]: the [`Sink`] trait and the one runtime that drives every sink with the
//!   consumer runner, exactly once by applied sequence, resuming from the tables, rebuilding
//!   on request.
//! - [`names`]: the map sinks keep values by customer or app name in.
//! - [`files`]: the file index of synced files (`files.synced.>`) and its queries.
//! - [`issues`]: the issue table and its queries.
//! - [`telemetry`]: the telemetry table (reports as raw rows, hourly and daily rollups with
//!   sketches of peaks and per-customer shards) and the fleet queries and memory advice over it.
//!
//! Sinks only read subjects and write sled: they never publish derived data and never talk to
//! a browser; the gateway reads their tables through the read-only views here.

pub mod files;
pub mod issues;
pub mod names;
pub mod retention;
pub mod runtime;
pub mod staged;
pub mod tables;
pub mod telemetry;

pub use retention::{retain_subject, RetentionConfig};
pub use runtime::{reader_description, reader_of, rebuild_subject, run, Sink, SinkContext, SinkError};
pub use tables::{Tables, TablesError};

/// Every sink there is, by name, with what it materializes.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("files", "the file index: synced files of files.synced.> by target and path"),
    ("issues", "the issue table: occurrences of issues.> by scope and fingerprint"),
    ("telemetry", "the telemetry table: reports.> as raw rows and hourly/daily rollups per app and customer"),
];

/// The stream sink `name` materializes (`None`: no built-in sink has that name).
pub fn input_of(name: &str) -> Option<tailrace_schemas::StreamName> {
    match name {
        "files" => Some(files::FilesSink.input().0),
        "issues" => Some(issues::IssuesSink.input().0),
        "telemetry" => Some(telemetry::TelemetrySink.input().0),
        _ => None,
    }
}

/// Runs the sink called `name` until `cancel`.
pub async fn start(
    name: &str,
    ctx: SinkContext,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<tokio::task::JoinHandle<Result<(), SinkError>>, SinkError> {
    match name {
        "files" => Ok(tokio::spawn(run(files::FilesSink, ctx, cancel))),
        "issues" => Ok(tokio::spawn(run(issues::IssuesSink, ctx, cancel))),
        "telemetry" => Ok(tokio::spawn(run(telemetry::TelemetrySink, ctx, cancel))),
        other => Err(SinkError::Unknown {
            name: other.to_owned(),
            known: BUILT_IN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The `[sinks]` section: which sinks `tailrace run` (and a gateway) keeps tables for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinksConfig {
    pub run: Vec<String>,
    pub retention: RetentionConfig,
}

impl Default for SinksConfig {
    fn default() -> Self {
        Self {
            run: vec!["files".to_owned(), "issues".to_owned(), "telemetry".to_owned()],
            retention: RetentionConfig::default(),
        }
    }
}

impl SinksConfig {
    /// Every named sink exists.
    pub fn validate(&self) -> Result<(), SinkError> {
        for name in &self.run {
            if !BUILT_IN.iter().any(|(n, _)| n == name) {
                return Err(SinkError::Unknown {
                    name: name.clone(),
                    known: BUILT_IN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(())
    }
}
