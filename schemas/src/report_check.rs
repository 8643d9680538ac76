//! Reading a [`Report`] from a controller: decoding with the path of the field that failed, and
//! the checks serde cannot make, each error naming its field (`app_telemetry[2].memory_peak_mb`).
//!
//! Both ingest paths use it: the gateway's `POST /api/v1/report` answers 400 with the error, and
//! the report splitter dead-letters a message from NATS with it as the reason.

use crate::codec::{decompress, is_compressed, is_json};
use crate::report::Report;

/// Longest issue message kept; longer ones are cut at a character boundary (a line limit, as
/// for every line that enters the pipeline).
pub const MAX_MESSAGE_BYTES: usize = 2048;
/// Most apps one report may carry.
pub const MAX_APPS: usize = 1000;
/// Most issues one app of a report may carry (the seed's controller sends at most 10).
pub const MAX_ISSUES_PER_APP: usize = 100;
/// Most containers one app may list.
pub const MAX_CONTAINERS: usize = 1000;
/// Longest name (customer, app, container, display name, catalog value).
pub const MAX_NAME_BYTES: usize = 256;

/// A report that cannot be accepted: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ReportError {
    /// The field's path in the report (`customer_id`, `app_telemetry[0].issues[3].count`), or
    /// `body` when the report as a whole is unreadable.
    pub field: String,
    pub reason: String,
}

impl ReportError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// Decodes a report (JSON or MessagePack, possibly in a zstd frame), checks it and cuts over-long
/// issue messages.
pub fn parse(bytes: &[u8]) -> Result<Report, ReportError> {
    let plain;
    let bytes = if is_compressed(bytes) {
        plain = decompress(bytes).map_err(|e| ReportError::new("body", format!("bad zstd frame: {e}")))?;
        &plain[..]
    } else {
        bytes
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReportError::new("body", "empty; a report is a JSON or MessagePack object"));
    }
    // Tracking the path costs a third of a report's decoding: only a report that fails to
    // decode is read again with it, to name the field.
    let plain: Option<Report> =
        if is_json(bytes) { serde_json::from_slice(bytes).ok() } else { rmp_serde::from_slice(bytes).ok() };
    let mut report = match plain {
        Some(r) => r,
        None => decode_naming_the_field(bytes)?,
    };
    check(&mut report)?;
    Ok(report)
}

fn decode_naming_the_field(bytes: &[u8]) -> Result<Report, ReportError> {
    if is_json(bytes) {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let r = serde_path_to_error::deserialize(&mut de).map_err(|e| path_error(e.path(), e.inner()))?;
        de.end().map_err(|e| ReportError::new("body", format!("trailing data after the report: {e}")))?;
        Ok(r)
    } else {
        let mut de = rmp_serde::Deserializer::new(bytes);
        serde_path_to_error::deserialize(&mut de).map_err(|e| path_error(e.path(), e.inner()))
    }
}

fn path_error(path: &serde_path_to_error::Path, inner: &impl std::fmt::Display) -> ReportError {
    let at = path.to_string();
    let at = if at == "." { String::new() } else { at };
    // serde_json appends "at line 1 column 40"; the field's path says it better.
    let reason = inner.to_string();
    let reason = reason.split(" at line ").next().unwrap_or(&reason).to_owned();
    // A missing field is reported at its parent: name the field itself.
    if let Some(missing) = reason.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
        let field = if at.is_empty() { missing.to_owned() } else { format!("{at}.{missing}") };
        return ReportError::new(field, "is required");
    }
    ReportError::new(if at.is_empty() { "body".to_owned() } else { at }, reason)
}

/// A report ready to publish: checked, with its time filled in, its subject and its message id.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub report: Report,
    pub subject: crate::Subject,
    /// The report's identity (customer, report time): a controller's retry is stored once.
    pub msg_id: String,
}

/// What every ingest path (HTTP, `tailrace publish-report`) does with a report's bytes: reads
/// and checks it, gives it `now` as its time if it has none, and names its subject and id.
pub fn ingest(bytes: &[u8], now: crate::Timestamp) -> Result<Ingested, ReportError> {
    let mut report = parse(bytes)?;
    let at = *report.reported_at.get_or_insert(now);
    let subject = crate::subject::reports(&report.customer_id);
    let msg_id = format!("report/{}/{}", report.customer_id.token(), at.as_nanos());
    Ok(Ingested { report, subject, msg_id })
}

/// What every reader of `reports.{customer}` does with a stored report: reads and checks it,
/// refuses one whose `customer_id` is not its subject's customer (a controller may report only
/// as itself), and gives a report without a time the time the stream stored it, which every
/// reader (the splitter, the telemetry sink, a replay) sees the same.
pub fn delivered(
    subject: &str,
    bytes: &[u8],
    stored_at: Option<crate::Timestamp>,
) -> Result<Report, ReportError> {
    let mut report = parse(bytes)?;
    let token = subject.strip_prefix("reports.").filter(|t| !t.contains('.')).ok_or_else(|| {
        ReportError::new("subject", format!("{subject} is not a reports.{{customer}} subject"))
    })?;
    let customer = crate::CustomerId::from_token(token)
        .map_err(|e| ReportError::new("subject", format!("the customer token of {subject}: {e}")))?;
    if customer != report.customer_id {
        return Err(ReportError::new(
            "customer_id",
            format!(
                "{:?} is not the customer of the subject ({:?})",
                report.customer_id.as_str(),
                customer.as_str()
            ),
        ));
    }
    if report.reported_at.is_none() {
        report.reported_at = Some(stored_at.unwrap_or_else(crate::Timestamp::now));
    }
    Ok(report)
}

/// The checks serde cannot make; cuts issue messages over [`MAX_MESSAGE_BYTES`].
///
/// A field's path is written only when its check fails: every reader of the stream checks every
/// report, and formatting ~70 paths per report that passes was most of the checking.
pub fn check(report: &mut Report) -> Result<(), ReportError> {
    name(|| "customer_id".to_owned(), report.customer_id.as_str())?;
    if report.app_telemetry.len() > MAX_APPS {
        return Err(ReportError::new(
            "app_telemetry",
            format!("{} apps; a report carries at most {MAX_APPS}", report.app_telemetry.len()),
        ));
    }
    let at = |i: usize, f: &str| format!("app_telemetry[{i}].{f}");
    let mut seen = std::collections::HashSet::with_capacity(report.app_telemetry.len());
    for (i, app) in report.app_telemetry.iter().enumerate() {
        name(|| at(i, "app_name"), app.app_name.as_str())?;
        if !seen.insert(app.app_name.as_str()) {
            return Err(ReportError::new(
                at(i, "app_name"),
                format!("{:?} is reported twice", app.app_name.as_str()),
            ));
        }
        for (field, value) in [
            ("display_name", &app.display_name),
            ("catalog_estimate", &app.catalog_estimate),
            ("catalog_limit", &app.catalog_limit),
        ] {
            if value.len() > MAX_NAME_BYTES || value.chars().any(char::is_control) {
                return Err(ReportError::new(
                    at(i, field),
                    format!("at most {MAX_NAME_BYTES} bytes, no control characters"),
                ));
            }
        }
        if app.containers.len() > MAX_CONTAINERS {
            return Err(ReportError::new(
                at(i, "containers"),
                format!("at most {MAX_CONTAINERS} containers"),
            ));
        }
        for (j, c) in app.containers.iter().enumerate() {
            name(|| at(i, &format!("containers[{j}]")), c)?;
        }
        for (field, value) in [
            ("memory_current_mb", app.memory_current_mb),
            ("memory_avg_mb", app.memory_avg_mb),
            ("memory_peak_mb", app.memory_peak_mb),
            ("cpu_avg_percent", app.cpu_avg_percent),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(ReportError::new(
                    at(i, field),
                    format!("must be a finite number, at least 0, not {value}"),
                ));
            }
        }
        if app.issues.len() > MAX_ISSUES_PER_APP {
            return Err(ReportError::new(
                at(i, "issues"),
                format!("{} issues; an app reports at most {MAX_ISSUES_PER_APP}", app.issues.len()),
            ));
        }
        if let Some(j) = app.issues.iter().position(|issue| issue.message.trim().is_empty()) {
            return Err(ReportError::new(at(i, &format!("issues[{j}].message")), "is empty"));
        }
    }
    for app in &mut report.app_telemetry {
        for issue in &mut app.issues {
            cut(&mut issue.message, MAX_MESSAGE_BYTES);
        }
    }
    Ok(())
}

fn name(field: impl FnOnce() -> String, value: &str) -> Result<(), ReportError> {
    if value.trim().is_empty() {
        return Err(ReportError::new(field(), "is empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(ReportError::new(field(), format!("is {} bytes; at most {MAX_NAME_BYTES}", value.len())));
    }
    if value.chars().any(char::is_control) {
        return Err(ReportError::new(field(), "holds control characters"));
    }
    Ok(())
}

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_report_is_of_its_subjects_customer_and_has_a_time() {
        let body = br#"{"customer_id":"a.b c","app_telemetry":[]}"#;
        let subject = format!("reports.{}", crate::CustomerId::new("a.b c").token());
        let stored = crate::Timestamp::from_unix_seconds(1_700_000_000);
        let r = delivered(&subject, body, Some(stored)).unwrap();
        assert_eq!(r.customer_id.as_str(), "a.b c");
        assert_eq!(r.reported_at, Some(stored), "no time of its own: the stream's");
        let e = delivered("reports.acme", body, Some(stored)).unwrap_err();
        assert_eq!(e.field, "customer_id", "{e}");
        assert_eq!(delivered("reports.a.b", body, None).unwrap_err().field, "subject");
        assert_eq!(delivered("telemetry.x", body, None).unwrap_err().field, "subject");
    }

    fn err(json: &str) -> ReportError {
        parse(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn errors_name_the_field_that_failed() {
        assert_eq!(err(r#"{"app_telemetry":[]}"#).field, "customer_id");
        assert_eq!(
            err(r#"{"customer_id":"c","app_telemetry":[{"display_name":"x"}]}"#).field,
            "app_telemetry[0].app_name"
        );
        assert_eq!(err(r#"{"customer_id":""}"#).field, "customer_id");
        let e = err(
            r#"{"customer_id":"c","app_telemetry":[{"app_name":"a"},{"app_name":"b","memory_peak_mb":"lots"}]}"#,
        );
        assert_eq!(e.field, "app_telemetry[1].memory_peak_mb", "{e}");
        let e = err(r#"{"customer_id":"c","app_telemetry":[{"app_name":"a","memory_avg_mb":-1}]}"#);
        assert_eq!(e.field, "app_telemetry[0].memory_avg_mb");
        let e = err(
            r#"{"customer_id":"c","app_telemetry":[{"app_name":"a","issues":[{"severity":"loud","message":"x","count":1,"last_seen":"2026-01-01T00:00:00Z"}]}]}"#,
        );
        assert_eq!(e.field, "app_telemetry[0].issues[0].severity", "{e}");
        let e = err(r#"{"customer_id":"c","app_telemetry":[{"app_name":"a"},{"app_name":"a"}]}"#);
        assert_eq!(e.field, "app_telemetry[1].app_name");
        assert_eq!(err("not json").field, "body");
        assert_eq!(err("").field, "body");
    }

    #[test]
    fn older_reports_and_long_messages_are_accepted() {
        let r = parse(br#"{"customer_id":"acme","stacks":[{"name":"x"}]}"#).unwrap();
        assert!(r.app_telemetry.is_empty());
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let json = format!(
            r#"{{"customer_id":"c","app_telemetry":[{{"app_name":"a","issues":[{{"severity":"error","message":"{long}","count":2,"last_seen":"2026-01-01T00:00:00Z"}}]}}]}}"#
        );
        let r = parse(json.as_bytes()).unwrap();
        let m = &r.app_telemetry[0].issues[0].message;
        assert!(m.len() <= MAX_MESSAGE_BYTES && m.len() > MAX_MESSAGE_BYTES - 4);
        let packed = rmp_serde::to_vec_named(&r).unwrap();
        assert_eq!(parse(&packed).unwrap(), r, "MessagePack too");
    }
}
