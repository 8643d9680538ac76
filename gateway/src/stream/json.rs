//! A stored message as JSON, by the payload type its subject carries.

use serde_json::{json, Value};
use tailrace_schemas::{
    decode, AppTelemetry, ClassifiedBatch, DeadLetter, FileEvent, IssueOccurrence, LogBatch, Payload, Report,
    TailStatus,
};

fn as_json<T: Payload>(bytes: &[u8]) -> Value {
    match decode::<T>(bytes) {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => json!({ "undecodable": e.to_string() }),
    }
}

/// The payload's JSON form, decoded by the type its subject carries.
pub fn payload(subject: &str, bytes: &[u8]) -> Value {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next()) {
        (Some("logs"), Some("raw")) => as_json::<LogBatch>(bytes),
        (Some("logs"), Some("classified")) => as_json::<ClassifiedBatch>(bytes),
        (Some("files"), _) => as_json::<FileEvent>(bytes),
        (Some("reports"), _) => as_json::<Report>(bytes),
        (Some("telemetry"), _) => as_json::<AppTelemetry>(bytes),
        (Some("issues"), _) => as_json::<IssueOccurrence>(bytes),
        (Some("tail"), Some("status")) => as_json::<TailStatus>(bytes),
        (Some("dlq"), _) => as_json::<DeadLetter>(bytes),
        _ => json!({ "undecodable": "no payload type is declared for this subject" }),
    }
}
