//! `classify`: every raw line gets a category and a severity.
//!
//! Reads `logs.raw.>` ([`LogBatch`]) and writes each batch's lines regrouped by category and
//! severity, in file order within each group, as [`ClassifiedBatch`]es to
//! `logs.classified.{category}.{severity}.{host}.{source}`. The category comes from the rules of
//! [`tailrace_schemas::categories`],
//! the severity from the line itself ([`crate::line`]); a line that continues the event before
//! it (a stack trace's frames, [`crate::line::continuation`]) takes that event's category and
//! severity, so the event stays whole and in order in one group. A line longer than `max_line_bytes` is
//! cut at a character boundary and marked `truncated`; a line that was not valid UTF-8 stays
//! (converted lossily by its producer) and keeps its `lossy` mark.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tailrace_nats::{Delivery, HandleError, Handler, Outgoing};
use tailrace_schemas::subject;
use tailrace_schemas::{ClassifiedBatch, ClassifiedLine, ConsumerName, LogBatch, StreamName, SubjectFilter};

use crate::line::continuation::{self, Prev};
use crate::runtime::{Inputs, Processor};
pub use tailrace_schemas::categories::{RuleConfig, RuleError, Rules};

/// `[processors.classify]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// Lines longer than this many bytes are cut and marked `truncated`.
    pub max_line_bytes: usize,
    /// Rules tried before the defaults, in order.
    pub rules: Vec<RuleConfig>,
    /// Whether the default rules (catalog names, the seed's file-name patterns) follow.
    pub default_rules: bool,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self { max_line_bytes: 16 * 1024, rules: Vec::new(), default_rules: true }
    }
}

#[derive(Debug)]
pub struct Classify {
    name: ConsumerName,
    rules: Rules,
    max_line_bytes: usize,
}

/// The consumer name of the built-in classifier.
pub const NAME: &str = "classify";

impl Classify {
    pub fn new(cfg: &ClassifyConfig) -> Result<Self, RuleError> {
        Ok(Self {
            name: ConsumerName::new(NAME).expect("a valid consumer name"),
            rules: Rules::new(&cfg.rules, cfg.default_rules)?,
            max_line_bytes: cfg.max_line_bytes.max(1),
        })
    }

    /// The classified batches of one raw batch, in order of their first line.
    pub fn classify(&self, batch: LogBatch) -> Vec<ClassifiedBatch> {
        let file = self.rules.for_file(&batch.host, &batch.source, &batch.path);
        let mut out: Vec<ClassifiedBatch> = Vec::new();
        // A continuation (a stack trace's frames) goes with the line that began its event.
        let mut prev = Prev::default();
        let mut head = None;
        for line in batch.lines {
            let continues = continuation::continues(&line.text, prev);
            prev = Prev::after(&line.text, continues);
            let (category, severity) = match head {
                Some(h) if continues => h,
                // The source's own severity (a journal entry's priority) over the text's words.
                _ => (
                    file.category(&line.text),
                    line.priority.map_or_else(
                        || crate::line::severity(&line.text),
                        tailrace_schemas::journal::priority_severity,
                    ),
                ),
            };
            head = Some((category, severity));
            let (text, truncated) = cut(line.text, self.max_line_bytes);
            let classified =
                ClassifiedLine { offset: line.offset, text, truncated, lossy: line.lossy, continues };
            // Batches hold few groups: a linear search beats hashing.
            match out.iter_mut().find(|b| b.severity == severity && &b.category == category) {
                Some(group) => group.lines.push(classified),
                None => out.push(ClassifiedBatch {
                    v: 1,
                    host: batch.host.clone(),
                    source: batch.source.clone(),
                    path: batch.path.clone(),
                    category: category.clone(),
                    severity,
                    lines: vec![classified],
                    read_at: batch.read_at,
                }),
            }
        }
        out
    }
}

/// `text` cut to at most `max` bytes at a character boundary, and whether it was cut.
fn cut(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

impl Handler for Classify {
    /// Stateless: batches are classified on every core, published in order.
    fn concurrent(&self) -> bool {
        true
    }

    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<Vec<Outgoing>, HandleError>> + Send {
        let result = (|| {
            let batch: LogBatch = tailrace_schemas::decode(delivery.payload())
                .map_err(|e| HandleError::Reject(format!("{} on {}: {e}", NAME, delivery.subject())))?;
            self.classify(batch)
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    let subject = subject::logs_classified(&b.category, b.severity, &b.host, &b.source);
                    Outgoing::encode(subject, &b, delivery.output_id(NAME, i))
                        .map_err(|e| HandleError::Reject(e.to_string()))
                })
                .collect()
        })();
        std::future::ready(result)
    }
}

impl Processor for Classify {
    fn name(&self) -> &ConsumerName {
        &self.name
    }

    fn inputs(&self) -> Inputs {
        Inputs { stream: StreamName::LOGS, filters: vec![StreamName::LOGS.decl().filter()] }
    }

    fn outputs(&self) -> Vec<SubjectFilter> {
        vec![StreamName::CLASSIFIED.decl().filter()]
    }

    fn description(&self) -> &'static str {
        "category and severity of every raw line: logs.raw.> -> logs.classified.{category}.{severity}.{host}.{source}"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailrace_schemas::{HostId, LogLine, Severity, SourceId, Timestamp};

    fn batch(path: &str, lines: &[&str]) -> LogBatch {
        LogBatch {
            v: 1,
            host: HostId::new("h1"),
            source: SourceId::new("app"),
            path: path.to_owned(),
            file: None,
            generation: 0,
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, t)| LogLine {
                    offset: i as u64 * 100,
                    text: (*t).to_owned(),
                    lossy: i == 2,
                    priority: None,
                })
                .collect(),
            next_offset: None,
            cursor: None,
            cursor_lines: None,
            read_at: Timestamp::now(),
        }
    }

    #[test]
    fn lines_are_grouped_by_category_and_severity_in_file_order() {
        let c = Classify::new(&ClassifyConfig { max_line_bytes: 20, ..Default::default() }).unwrap();
        let out = c.classify(batch(
            "/var/log/server-a.log",
            &["INFO started", "ERROR disk full", "INFO serving", "ERROR a very long error line indeed"],
        ));
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].category.as_str(), out[0].severity), ("server", Severity::Info));
        assert_eq!(out[0].lines.iter().map(|l| l.offset).collect::<Vec<_>>(), vec![0, 200]);
        assert!(out[0].lines[1].lossy, "the lossy mark is kept");
        assert_eq!(out[1].severity, Severity::Error);
        assert_eq!(out[1].lines[1].text, "ERROR a very long er");
        assert!(out[1].lines[1].truncated && !out[1].lines[0].truncated);
    }

    #[test]
    fn a_journal_priority_is_the_severity_whatever_the_text_says() {
        let c = Classify::new(&ClassifyConfig::default()).unwrap();
        let mut b = batch(
            "journal:ssh.service",
            &["sshd[9]: Connection reset", "sshd[9]: ERROR word, notice priority"],
        );
        b.lines[0].priority = Some(3);
        b.lines[1].priority = Some(5);
        let out = c.classify(b);
        let severities: Vec<Severity> = out.iter().map(|g| g.severity).collect();
        assert_eq!(severities, [Severity::Error, Severity::Info]);
    }

    #[test]
    fn a_trace_goes_with_its_first_line_and_says_so_line_by_line() {
        let c = Classify::new(&ClassifyConfig::default()).unwrap();
        let out = c.classify(batch(
            "/var/log/app.log",
            &["ERROR job failed", "  File \"a.py\", line 3", "INFO next", "ValueError: not in a trace"],
        ));
        let error = out.iter().find(|b| b.severity == Severity::Error).unwrap();
        let flags: Vec<(&str, bool)> = error.lines.iter().map(|l| (l.text.as_str(), l.continues)).collect();
        // The frame continues its error; the exception after an info line starts an event.
        assert_eq!(
            flags,
            [
                ("ERROR job failed", false),
                ("  File \"a.py\", line 3", true),
                ("ValueError: not in a trace", false)
            ]
        );
    }

    #[test]
    fn cutting_respects_characters() {
        assert_eq!(cut("aé".to_owned(), 2), ("a".to_owned(), true));
        assert_eq!(cut("ab".to_owned(), 2), ("ab".to_owned(), false));
    }
}
