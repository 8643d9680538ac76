//! `fingerprint`: issue occurrences of warn and error lines.
//!
//! Reads `logs.classified.*.warn.>` and `logs.classified.*.error.>` ([`ClassifiedBatch`]),
//! fingerprints each line ([`crate::template`]: header cut, variables masked, templates
//! mined online) and tallies the lines of each fingerprint in each input batch. Once per window
//! it publishes, for every batch it took in, one [`IssueOccurrence`](tailrace_schemas::IssueOccurrence) per tally to
//! `issues.{category}` (count, first and last seen, a sample line, the template as the message),
//! capped as the seed did ([`window::Caps`], per batch), and its inputs are acked only then.
//!
//! Occurrences are per input batch, with ids from the batch's stream sequence, so a batch
//! redelivered after a crash (to this instance or another, in whatever window) publishes the
//! same ids and JetStream stores it once: the issue table's counts are exact, not "at least".
//!
//! The templates it learns go to the `fingerprint-templates` KV bucket ([`templates`]) before the
//! occurrences are published; every instance loads the bucket at start and absorbs what the
//! others write, so fingerprints stay the same across restarts and instances.

pub mod shared;
pub mod templates;
pub mod window;

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tailrace_nats::{Delivery, FlushId, HandleError, Handler, Outgoing};
use tailrace_schemas::subject;
use tailrace_schemas::{
    ClassifiedBatch, ConsumerName, Fingerprint, Scope, Severity, StreamName, SubjectFilter,
};
use tokio_util::sync::CancellationToken;

use crate::runtime::{Inputs, Processor};
use crate::template::{FormatConfig, FormatError, Formats, MinerConfig, SourceKey};

/// The most of a multi-line event (a stack trace) kept as its sample.
const MAX_EVENT_SAMPLE: usize = 8 * 1024;
pub use shared::SharedFingerprinter;
pub use templates::{TemplateStore, TemplateStoreError};
pub use window::Caps;
use window::Window;

/// The consumer name of the fingerprint processor.
pub const NAME: &str = "fingerprint";

/// `[processors.fingerprint]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FingerprintConfig {
    /// How long lines are tallied before their occurrences are published (the report window).
    /// Must stay well under `nats.consumer.ack_wait`: the window's inputs are acked at its end.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    pub caps: Caps,
    /// Share of comparable tokens that must be equal for a line to join a template.
    pub similarity: f64,
    /// Most templates kept; lines beyond are fingerprinted by their masked text alone.
    pub max_templates: usize,
    /// Sources whose format an operator knows (`[[processors.fingerprint.formats]]`): their
    /// lines are split and masked as stated; every other source's header is found by shape.
    pub formats: Vec<FormatConfig>,
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        let miner = MinerConfig::default();
        Self {
            window: Duration::from_secs(5),
            caps: Caps::default(),
            similarity: miner.similarity,
            max_templates: miner.max_clusters,
            formats: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FingerprintConfigError {
    #[error("processors.fingerprint.similarity must be between 0 and 1, not {0}")]
    Similarity(f64),
    #[error("processors.fingerprint.window must be positive and at most half of nats.consumer.ack_wait ({ack_wait:?}), not {window:?}")]
    Window { window: Duration, ack_wait: Duration },
    #[error("processors.fingerprint.{0}")]
    Format(#[from] FormatError),
}

impl FingerprintConfig {
    pub fn validate(&self, ack_wait: Duration) -> Result<(), FingerprintConfigError> {
        if !(0.0..=1.0).contains(&self.similarity) {
            return Err(FingerprintConfigError::Similarity(self.similarity));
        }
        if self.window.is_zero() || self.window > ack_wait / 2 {
            return Err(FingerprintConfigError::Window { window: self.window, ack_wait });
        }
        Formats::new(&self.formats)?;
        Ok(())
    }

    pub fn miner(&self) -> MinerConfig {
        MinerConfig { similarity: self.similarity, max_clusters: self.max_templates }
    }
}

/// Why the fingerprint processor could not open.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintOpenError {
    #[error(transparent)]
    Config(#[from] FingerprintConfigError),
    #[error(transparent)]
    Templates(#[from] TemplateStoreError),
}

#[derive(Debug)]
pub struct FingerprintProcessor {
    name: ConsumerName,
    cfg: FingerprintConfig,
    /// The tallies of each input taken in since the last flush, by its stream sequence.
    inputs: Mutex<Vec<(u64, Window)>>,
    fingerprinter: SharedFingerprinter,
    formats: Formats,
}

impl FingerprintProcessor {
    /// Loads the stored templates and keeps absorbing other instances' until `cancel`.
    pub async fn open(
        store: TemplateStore,
        cfg: FingerprintConfig,
        cancel: CancellationToken,
    ) -> Result<Self, FingerprintOpenError> {
        let formats = Formats::new(&cfg.formats).map_err(FingerprintConfigError::from)?;
        let fingerprinter = SharedFingerprinter::open(store, cfg.miner(), cancel).await?;
        Ok(Self {
            name: ConsumerName::new(NAME).expect("a valid consumer name"),
            cfg,
            inputs: Mutex::new(Vec::new()),
            fingerprinter,
            formats,
        })
    }

    fn take_in(&self, seq: u64, batch: &ClassifiedBatch) {
        let scope = Scope::new(batch.category.as_str());
        let mut window = Window::default();
        let mut tallies = window.origin(&scope, &batch.host, &batch.source);
        let format = self.formats.of(batch.host.as_str(), batch.source.as_str());
        let source = SourceKey::new(batch.host.as_str(), batch.source.as_str());
        self.fingerprinter.with(|fingerprinter| {
            if format.is_none() {
                fingerprinter
                    .look_ahead(source, batch.lines.iter().filter(|l| !l.continues).map(|l| l.text.as_str()));
            }
            // An event is its first line and the lines continuing it (a stack trace): counted
            // once, by its first line, with the whole of it as its sample.
            let mut event: Option<(Fingerprint, &str, String)> = None;
            let mut close = |event: Option<(Fingerprint, &str, String)>| {
                if let Some((fingerprint, head, rest)) = event {
                    let text = if rest.is_empty() { head.to_owned() } else { format!("{head}{rest}") };
                    tallies.add(fingerprint, batch.severity, batch.read_at, &text);
                }
            };
            for line in &batch.lines {
                // The classifier decided on the raw lines, where the line before is known.
                match &mut event {
                    Some((_, head, rest)) if line.continues => {
                        if head.len() + rest.len() < MAX_EVENT_SAMPLE {
                            rest.push('\n');
                            rest.push_str(&line.text);
                        }
                    }
                    _ => {
                        close(event.take());
                        let fingerprint = fingerprinter.line_from(source, &line.text, format).fingerprint;
                        event = Some((fingerprint, &line.text, String::new()));
                    }
                }
            }
            close(event);
        });
        self.inputs.lock().expect("fingerprint inputs").push((seq, window));
    }
}

impl Handler for FingerprintProcessor {
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<Vec<Outgoing>, HandleError>> + Send {
        let result = tailrace_schemas::decode::<ClassifiedBatch>(delivery.payload())
            .map_err(|e| HandleError::Reject(format!("{NAME} on {}: {e}", delivery.subject())))
            .map(|batch| {
                if batch.severity >= Severity::Warn {
                    self.take_in(delivery.stream_seq, &batch);
                }
                Vec::new()
            });
        std::future::ready(result)
    }

    fn window(&self) -> Option<Duration> {
        Some(self.cfg.window)
    }

    async fn flush(&self, _id: FlushId) -> Result<Vec<Outgoing>, HandleError> {
        let inputs = std::mem::take(&mut *self.inputs.lock().expect("fingerprint inputs"));
        let closed: Vec<(u64, window::Closed)> = self.fingerprinter.with(|fingerprinter| {
            let miner = fingerprinter.miner();
            inputs
                .into_iter()
                .map(|(seq, mut w)| {
                    (seq, w.close(self.cfg.caps, |fp| miner.template_of(fp).unwrap_or_default().to_owned()))
                })
                .collect()
        });
        // Templates first: an occurrence never names a fingerprint the bucket lacks.
        self.fingerprinter.save().await.map_err(|e| HandleError::Retry(e.to_string()))?;
        let suppressed: usize = closed.iter().map(|(_, c)| c.suppressed).sum();
        if suppressed > 0 {
            metrics::counter!("tailrace_issues_suppressed_total").increment(suppressed as u64);
            tracing::debug!(suppressed, "issues over a batch's caps were not published");
        }
        // Ids from each input's sequence: the same batch gives the same ids in any window.
        closed
            .iter()
            .flat_map(|(seq, c)| c.occurrences.iter().enumerate().map(move |(i, o)| (*seq, i, o)))
            .map(|(seq, i, o)| {
                Outgoing::encode(subject::issues(&o.scope), o, format!("{NAME}/{seq}/{i}"))
                    .map_err(|e| HandleError::Reject(e.to_string()))
            })
            .collect()
    }
}

impl Processor for FingerprintProcessor {
    fn name(&self) -> &ConsumerName {
        &self.name
    }

    fn inputs(&self) -> Inputs {
        let filter = |s: Severity| {
            SubjectFilter::parse(&format!("logs.classified.*.{}.>", s.as_str())).expect("a valid filter")
        };
        Inputs {
            stream: StreamName::CLASSIFIED,
            filters: vec![filter(Severity::Warn), filter(Severity::Error)],
        }
    }

    fn outputs(&self) -> Vec<SubjectFilter> {
        vec![StreamName::ISSUES.decl().filter()]
    }

    fn description(&self) -> &'static str {
        "issue occurrences of warn and error lines: logs.classified.*.{warn,error}.> -> issues.{category}"
    }
}
