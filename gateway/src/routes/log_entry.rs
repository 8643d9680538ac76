//! `POST /api/v1/logs?instance=ID`: one structured log entry (the seed's endpoint), checked as
//! the seed checks it and published as a line of `logs.raw.{namespace}.{instance}`, where
//! classify and fingerprint take it like a tailed line and the history API and live views show
//! it.
//!
//! The seed's rules: `instance` is required; the body is a JSON object with a `track`, a
//! `namespace` string (equal to `namespace=` when the query gives one) and a `msg` string.
//! Beyond the seed: a `level` must be one of trace, debug, info, warn, error (the seed logged an
//! unknown one as info without a word); it leads the line so classify reads it, and the other
//! fields follow as `key=value`. An entry with a `time` is stored once however often a client
//! retries it.

use utoipa_axum::routes;

use super::ApiRouter;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tailrace_nats::Outgoing;
use tailrace_schemas::{subject, HostId, LogBatch, LogLine, Severity, SourceId, Timestamp};

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(post_entry)), state, Access::Ingest)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryQuery {
    pub instance: Option<String>,
    pub namespace: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/logs",
    tag = "logs",
    summary = "One structured log entry, published as a line of logs.raw.{namespace}.{instance}.",
    params(EntryQuery),
    request_body(content = serde_json::Value, description = "the entry: track, namespace and msg required; level one of trace, debug, info, warn, error", content_type = "application/json"),
    responses(
        (status = 202, description = "accepted, with its subject and sequence", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
    )
)]
async fn post_entry(
    State(state): State<AppState>,
    Query(q): Query<EntryQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let instance = q
        .instance
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("instance", &"missing instance ID (?instance=)"))?;
    let entry: Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("body", &format!("not a JSON object: {e}")))?;
    let line = line_of(&entry, q.namespace.as_deref())?;
    let namespace = entry["namespace"].as_str().unwrap_or_default();
    let (host, source) = (HostId::new(namespace), SourceId::new(instance.as_str()));
    let subject = subject::logs_raw(&host, &source);
    let id = match entry.get("time") {
        Some(t) => format!(
            "entry/{}/{}/{t}/{:016x}",
            host.token(),
            source.token(),
            tailrace_schemas::fnv1a(line.as_bytes())
        ),
        None => {
            format!("entry/{}", tailrace_nats::random_hex(12).map_err(|e| ApiError::Internal(e.to_string()))?)
        }
    };
    let batch = LogBatch {
        v: 1,
        host,
        source,
        path: instance,
        file: None,
        generation: 0,
        lines: vec![LogLine { offset: 0, text: line, lossy: false, priority: None }],
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    };
    let out = Outgoing::encode(subject.clone(), &batch, id).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ack = state
        .publisher
        .publish_and_wait(out)
        .await
        .map_err(|e| ApiError::Unavailable(format!("storing the entry: {e}")))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "accepted": true, "subject": subject.as_str(), "seq": ack.sequence, "duplicate": ack.duplicate }),
        ),
    ))
}

/// The entry's line (`LEVEL msg key=value…`), or a 400 naming the field the seed's rules refuse.
fn line_of(entry: &Map<String, Value>, namespace: Option<&str>) -> Result<String, ApiError> {
    if !entry.contains_key("track") {
        return Err(ApiError::bad_request("track", &"missing 'track' field"));
    }
    match (entry.get("namespace").and_then(Value::as_str), namespace) {
        (Some(ns), Some(want)) if ns != want => {
            return Err(ApiError::bad_request(
                "namespace",
                &format!("{ns:?} does not match namespace={want:?}"),
            ))
        }
        (Some(ns), _) if !ns.is_empty() => {}
        _ => return Err(ApiError::bad_request("namespace", &"missing or invalid 'namespace' field")),
    }
    let msg = entry
        .get("msg")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("msg", &"missing or invalid 'msg' field"))?;
    let level = match entry.get("level") {
        None | Some(Value::Null) => Severity::Info,
        Some(Value::String(s)) => s.parse::<Severity>().map_err(|_| {
            ApiError::bad_request("level", &format!("{s:?} is not one of trace, debug, info, warn, error"))
        })?,
        Some(other) => return Err(ApiError::bad_request("level", &format!("{other} is not a level name"))),
    };
    let mut line = format!("{} {msg}", level.as_str().to_uppercase());
    for (key, value) in entry {
        if !matches!(key.as_str(), "msg" | "level") {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            line.push_str(&format!(" {key}={value}"));
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn an_entry_becomes_one_line_led_by_its_level() {
        let e = entry(
            json!({"track": "flow.namespace.ns", "namespace": "ns", "msg": "started", "level": "warn", "step": 3}),
        );
        assert_eq!(
            line_of(&e, Some("ns")).unwrap(),
            "WARN started namespace=ns step=3 track=flow.namespace.ns"
        );
        let e = entry(json!({"track": "t", "namespace": "ns", "msg": "plain"}));
        assert!(line_of(&e, None).unwrap().starts_with("INFO plain"));
    }

    #[test]
    fn each_rule_of_the_seed_names_its_field() {
        let field = |v: Value, ns: Option<&str>| match line_of(&entry(v), ns) {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"namespace": "ns", "msg": "m"}), None), "track");
        assert_eq!(field(json!({"track": "t", "msg": "m"}), None), "namespace");
        assert_eq!(field(json!({"track": "t", "namespace": "a", "msg": "m"}), Some("b")), "namespace");
        assert_eq!(field(json!({"track": "t", "namespace": "ns", "msg": 5}), None), "msg");
        assert_eq!(
            field(json!({"track": "t", "namespace": "ns", "msg": "m", "level": "loud"}), None),
            "level"
        );
    }
}
