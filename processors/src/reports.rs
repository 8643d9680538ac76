//! `reports`: the report splitter.
//!
//! Reads controller reports (`reports.{customer}`, JSON or MessagePack) and splits out what the
//! issue table stores: one [`IssueOccurrence`] per reported issue to `issues.{app}`, with the
//! customer as the affected entity. An issue the controller sent without a fingerprint is
//! fingerprinted here with the fingerprint processor's code and templates
//! ([`SharedFingerprinter`]), so the same error from two customers (whose lines differ in ids,
//! times, addresses) is one issue. The telemetry itself is not split: the telemetry sink reads
//! the reports whole (a report is 50 apps in a fleet; one message per app made the broker, not
//! the tables, the limit: see ARCHITECTURE.md).
//!
//! A report that does not read or check ([`report_check::delivered`]), or whose `customer_id` is
//! not the customer of its subject, is dead-lettered with the field and reason. Output ids come
//! from the report's identity (customer, report time, app), not from its sequence, so a
//! redelivered report, or the same report sent twice within the duplicate window, is stored
//! once; the issue sink counts an occurrence once beyond that window too.

use tailrace_nats::{Delivery, HandleError, Handler, Outgoing};
use tailrace_schemas::report_check;
use tailrace_schemas::subject;
use tailrace_schemas::{ConsumerName, IssueOccurrence, Report, Scope, StreamName, SubjectFilter, Timestamp};

use crate::fingerprint::SharedFingerprinter;
use crate::runtime::{Inputs, Processor};

/// The consumer name of the report splitter.
pub const NAME: &str = "reports";

#[derive(Debug)]
pub struct ReportSplitter {
    name: ConsumerName,
    fingerprinter: SharedFingerprinter,
}

impl ReportSplitter {
    pub fn new(fingerprinter: SharedFingerprinter) -> Self {
        Self { name: ConsumerName::new(NAME).expect("a valid consumer name"), fingerprinter }
    }

    /// The report's outputs: an occurrence per issue.
    fn split(&self, report: &Report, reported_at: Timestamp) -> Result<Vec<Outgoing>, HandleError> {
        let customer = &report.customer_id;
        let id = |what: &str| format!("{NAME}/{}/{}/{what}", customer.token(), reported_at.as_nanos());
        let encode_err = |e: tailrace_schemas::EncodeError| HandleError::Reject(e.to_string());
        let mut out = Vec::new();
        let occurrences = self.fingerprinter.with(|fingerprinter| {
            let mut occurrences = Vec::new();
            for app in &report.app_telemetry {
                let scope = Scope::new(app.app_name.as_str());
                for (i, issue) in app.issues.iter().enumerate() {
                    let (fingerprint, message) = match issue.fingerprint {
                        Some(fp) => (fp, issue.message.clone()),
                        None => {
                            let m = fingerprinter.line(&issue.message);
                            (m.fingerprint, m.template.to_owned())
                        }
                    };
                    let occurrence = IssueOccurrence {
                        v: 1,
                        scope: scope.clone(),
                        fingerprint,
                        severity: issue.severity,
                        message,
                        count: issue.count,
                        first_seen: issue.last_seen,
                        last_seen: issue.last_seen,
                        sample: issue.message.clone(),
                        host: None,
                        source: None,
                        app: Some(app.app_name.clone()),
                        customer: Some(customer.clone()),
                        reported_at: Some(reported_at),
                    };
                    occurrences.push((format!("{}/{i}", app.app_name.token()), occurrence));
                }
            }
            occurrences
        });
        for (what, o) in &occurrences {
            out.push(
                Outgoing::encode(subject::issues(&o.scope), o, id(&format!("issue/{what}")))
                    .map_err(encode_err)?,
            );
        }
        Ok(out)
    }
}

impl Handler for ReportSplitter {
    /// Reports are split on every core (decoding and fingerprinting are the work), their
    /// occurrences published in report order; templates are saved one save at a time.
    fn concurrent(&self) -> bool {
        true
    }

    async fn handle(&self, delivery: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let reject =
            |reason: String| HandleError::Reject(format!("{NAME} on {}: {reason}", delivery.subject()));
        let report = report_check::delivered(delivery.subject(), delivery.payload(), delivery.stored_at())
            .map_err(|e| reject(e.to_string()))?;
        let reported_at = report.reported_at.expect("delivered gives every report a time");
        let out = self.split(&report, reported_at)?;
        // Templates first: an occurrence never names a fingerprint the bucket lacks.
        self.fingerprinter.save().await.map_err(|e| HandleError::Retry(e.to_string()))?;
        Ok(out)
    }
}

impl Processor for ReportSplitter {
    fn name(&self) -> &ConsumerName {
        &self.name
    }

    fn inputs(&self) -> Inputs {
        Inputs { stream: StreamName::REPORTS, filters: Vec::new() }
    }

    fn outputs(&self) -> Vec<SubjectFilter> {
        vec![StreamName::ISSUES.decl().filter()]
    }

    fn description(&self) -> &'static str {
        "the report splitter: reports.{customer} -> issues.{app}"
    }
}
