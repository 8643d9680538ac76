//! `reports`: the report splitter.
//!
//! Reads controller reports (`reports.{customer}`, JSON or MessagePack) and splits each into
//! what the sinks store: one [`AppTelemetry`] per app to `telemetry.app.{app}.{customer}`, and
//! one [`IssueOccurrence`] per reported issue to `issues.{app}`, with the customer as the
//! affected entity. An issue the controller sent without a fingerprint is fingerprinted here
//! with the fingerprint processor's code and templates ([`SharedFingerprinter`]), so the same
//! error from two customers (whose lines differ in ids, times, addresses) is one issue.
//!
//! A report that does not read or check ([`tailrace_schemas::report_check`]), or whose
//! `customer_id` is not the customer of its subject, is dead-lettered with the field and reason.
//! Output ids come from the report's identity (customer, report time, app), not from its
//! sequence, so a redelivered report, or the same report sent twice within the duplicate window,
//! is stored once; the sinks count a report once beyond that window too.

use tailrace_nats::{Delivery, HandleError, Handler, Outgoing};
use tailrace_schemas::report_check;
use tailrace_schemas::subject;
use tailrace_schemas::{
    AppTelemetry, ConsumerName, CustomerId, IssueOccurrence, Report, Scope, StreamName, SubjectFilter,
    Timestamp,
};

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

    /// The report's outputs: telemetry per app, then an occurrence per issue.
    fn split(&self, report: &Report, reported_at: Timestamp) -> Result<Vec<Outgoing>, HandleError> {
        let customer = &report.customer_id;
        let id = |what: &str| format!("{NAME}/{}/{}/{what}", customer.token(), reported_at.as_nanos());
        let encode_err = |e: tailrace_schemas::EncodeError| HandleError::Reject(e.to_string());
        let mut out = Vec::new();
        for app in &report.app_telemetry {
            let telemetry =
                AppTelemetry { v: 1, customer_id: customer.clone(), reported_at, app: app.clone() };
            let subject = subject::telemetry_app(&app.app_name, customer);
            out.push(
                Outgoing::encode(subject, &telemetry, id(app.app_name.token().as_str()))
                    .map_err(encode_err)?,
            );
        }
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

/// The customer a `reports.{customer}` subject names.
fn subject_customer(subject: &str) -> Result<CustomerId, String> {
    let token = subject
        .strip_prefix("reports.")
        .filter(|t| !t.contains('.'))
        .ok_or_else(|| format!("{subject} is not a reports.{{customer}} subject"))?;
    CustomerId::from_token(token).map_err(|e| format!("the customer token of {subject}: {e}"))
}

impl Handler for ReportSplitter {
    async fn handle(&self, delivery: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        let reject =
            |reason: String| HandleError::Reject(format!("{NAME} on {}: {reason}", delivery.subject()));
        let report = report_check::parse(delivery.payload()).map_err(|e| reject(e.to_string()))?;
        let customer = subject_customer(delivery.subject()).map_err(reject)?;
        if customer != report.customer_id {
            return Err(reject(format!(
                "customer_id: {:?} is not the customer of the subject ({:?})",
                report.customer_id.as_str(),
                customer.as_str()
            )));
        }
        // Old controllers send no time: the stream's is the report's (the same on redelivery).
        let reported_at = report.reported_at.or_else(|| delivery.stored_at()).unwrap_or_else(Timestamp::now);
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
        vec![StreamName::TELEMETRY.decl().filter(), StreamName::ISSUES.decl().filter()]
    }

    fn description(&self) -> &'static str {
        "the report splitter: reports.{customer} -> telemetry.app.{app}.{customer} and issues.{app}"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_names_the_customer() {
        assert_eq!(subject_customer("reports.acme").unwrap().as_str(), "acme");
        let escaped = format!("reports.{}", CustomerId::new("a.b c").token());
        assert_eq!(subject_customer(&escaped).unwrap().as_str(), "a.b c");
        assert!(subject_customer("reports.a.b").is_err());
        assert!(subject_customer("telemetry.x").is_err());
    }
}
