//! Processors by name: what `tailrace process NAME...` and `tailrace run` start.
//!
//! A new built-in processor adds one row to [`BUILT_IN`] and one arm to [`start`]; nothing else
//! changes (its consumer is its own).

use std::time::Duration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use tailrace_nats::config::ConsumerConfig;
use tailrace_nats::{Publisher, RunnerError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::classify::{self, Classify, ClassifyConfig, RuleError};
use crate::example::{self, AuthFailuresProcessor};
use crate::fingerprint::{
    self, FingerprintConfig, FingerprintConfigError, FingerprintProcessor, SharedFingerprinter,
    TemplateStore, TemplateStoreError,
};
use crate::reports::{self, ReportSplitter};
use crate::runtime::{self, Processor};

/// Name and description of every built-in processor.
pub const BUILT_IN: &[(&str, &str)] = &[
    (classify::NAME, "category and severity of every raw line (logs.raw.> -> logs.classified.>)"),
    (
        fingerprint::NAME,
        "issue occurrences of warn and error lines (logs.classified.*.{warn,error}.> -> issues.>)",
    ),
    (
        reports::NAME,
        "the report splitter (reports.> -> issues.{app}; the telemetry sink reads reports whole)",
    ),
    (
        example::NAME,
        "the example processor: failed SSH logins (logs.classified.> -> derived.auth-failures.>)",
    ),
];

/// `[processors]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorsConfig {
    /// The processors `tailrace run` starts.
    pub run: Vec<String>,
    pub classify: ClassifyConfig,
    pub fingerprint: FingerprintConfig,
}

impl Default for ProcessorsConfig {
    fn default() -> Self {
        Self {
            run: vec![classify::NAME.to_owned(), fingerprint::NAME.to_owned(), reports::NAME.to_owned()],
            classify: ClassifyConfig::default(),
            fingerprint: FingerprintConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no processor is named {name:?}; there are: {known}")]
    Unknown { name: String, known: String },
    #[error("processors.classify.{0}")]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Config(#[from] FingerprintConfigError),
    #[error(transparent)]
    Templates(#[from] TemplateStoreError),
}

impl From<crate::fingerprint::FingerprintOpenError> for StartError {
    fn from(e: crate::fingerprint::FingerprintOpenError) -> Self {
        match e {
            crate::fingerprint::FingerprintOpenError::Config(e) => Self::Config(e),
            crate::fingerprint::FingerprintOpenError::Templates(e) => Self::Templates(e),
        }
    }
}

/// What every processor runs with.
#[derive(Debug, Clone)]
pub struct Context {
    pub js: jetstream::Context,
    pub publisher: Publisher,
    pub consumer: ConsumerConfig,
    pub cfg: ProcessorsConfig,
}

impl ProcessorsConfig {
    /// Checks every name in `run` and each processor's settings, without a broker. The
    /// window's bound on `ack_wait` is checked where fingerprint runs (here if `run` names it,
    /// else when it is started).
    pub fn validate(&self, consumer: &ConsumerConfig) -> Result<(), StartError> {
        for name in &self.run {
            known(name)?;
        }
        classify::Rules::new(&self.classify.rules, self.classify.default_rules)?;
        let ack_wait =
            if self.run.iter().any(|n| n == fingerprint::NAME) { consumer.ack_wait } else { Duration::MAX };
        self.fingerprint.validate(ack_wait)?;
        Ok(())
    }
}

fn known(name: &str) -> Result<(), StartError> {
    if BUILT_IN.iter().any(|(n, _)| *n == name) {
        return Ok(());
    }
    let known: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    Err(StartError::Unknown { name: name.to_owned(), known: known.join(", ") })
}

/// Starts the processor `name` on its durable consumer; the task ends after `cancel`.
pub async fn start(
    name: &str,
    ctx: &Context,
    cancel: CancellationToken,
) -> Result<JoinHandle<Result<(), RunnerError>>, StartError> {
    known(name)?;
    Ok(match name {
        classify::NAME => spawn(Classify::new(&ctx.cfg.classify)?, ctx, cancel),
        fingerprint::NAME => {
            ctx.cfg.fingerprint.validate(ctx.consumer.ack_wait)?;
            let store = TemplateStore::open(&ctx.js).await?;
            let p = FingerprintProcessor::open(store, ctx.cfg.fingerprint.clone(), cancel.clone()).await?;
            spawn(p, ctx, cancel)
        }
        reports::NAME => {
            let store = TemplateStore::open(&ctx.js).await?;
            let fingerprinter =
                SharedFingerprinter::open(store, ctx.cfg.fingerprint.miner(), cancel.clone()).await?;
            spawn(ReportSplitter::new(fingerprinter), ctx, cancel)
        }
        example::NAME => spawn(AuthFailuresProcessor::default(), ctx, cancel),
        _ => unreachable!("checked by known()"),
    })
}

fn spawn<P: Processor>(
    p: P,
    ctx: &Context,
    cancel: CancellationToken,
) -> JoinHandle<Result<(), RunnerError>> {
    tracing::info!(processor = p.name().as_str(), "processor starting");
    tokio::spawn(runtime::run(p, ctx.publisher.clone(), ctx.consumer.clone(), cancel))
}
