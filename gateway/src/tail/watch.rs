//! One viewer's live tail: the request checked, the tail claimed with a [`ViewerLease`], and its
//! lines and statuses as [`TailEvent`]s in the seed's shapes: `log {name, host, line, offset}`
//! (with `subject` and `cursor`: where the line is stored) and
//! `tail_f_status {status, kind, message, name, host}`.
//!
//! The subscriptions are made before the lease is written, so the first lines of a tail that
//! this viewer starts are never missed. The stream starts with the file's newest
//! `gateway.tail_context_lines` stored lines (context for whoever starts, joins or reopens a
//! tail; found as a history page is, so scrolling back from them meets them exactly), then goes
//! live; each `log` event's id is `{stream sequence}.{line index}`, so a reconnecting client
//! resumes after exactly that line.

use futures::stream::{self, BoxStream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tailrace_nats::sessions::JoinError;
use tailrace_schemas::{
    subject, HostId, JournalPath, PathCheck, PathVerdict, SourceId, StreamName, Timestamp, Verdict,
};

use super::{hosts, ViewerLease};
use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::protocol::ServerEvent;
use crate::state::AppState;
use crate::stream::{subscribe, Start, StreamItem};

/// The seed's `start_tail_f` fields (`host`, `path`, `name` are accepted too).
#[derive(Debug, Clone, Deserialize)]
pub struct TailRequest {
    /// The host's name or address.
    #[serde(alias = "host")]
    pub cvm_ip: String,
    #[serde(alias = "path")]
    pub log_path: String,
    /// Display name, and the source in subjects; the file's stem when absent.
    #[serde(default, alias = "name")]
    pub log_name: Option<String>,
    /// The cursor (`seq.index`) of the last line a reconnecting client saw: it continues right
    /// after it instead of starting with context (WebSocket; SSE clients send `Last-Event-ID`).
    #[serde(default)]
    pub after: Option<String>,
}

/// A `log` event's id or cursor, `{seq}.{index}`; `field` names where it came from.
pub fn line_id(raw: &str, field: &str) -> Result<(u64, usize), ApiError> {
    let bad = || ApiError::bad_request(field, &format!("{raw:?} is not a log line cursor (seq.index)"));
    let (seq, index) = raw.trim().split_once('.').ok_or_else(bad)?;
    let (seq, index): (u64, usize) = (seq.parse().map_err(|_| bad())?, index.parse().map_err(|_| bad())?);
    // The line after it must be a number too.
    if index == usize::MAX || seq == u64::MAX {
        return Err(bad());
    }
    Ok((seq, index))
}

/// One event for a client: its name, optional id, JSON data, and whether it ends the stream.
#[derive(Debug, Clone)]
pub struct TailEvent {
    pub event: ServerEvent,
    pub id: Option<String>,
    pub data: Value,
    pub ends: bool,
}

/// A claimed tail and its events. Dropping it releases the claim.
pub struct TailWatch {
    pub host: HostId,
    pub source: SourceId,
    pub name: String,
    pub path: String,
    pub events: BoxStream<'static, TailEvent>,
}

impl std::fmt::Debug for TailWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailWatch")
            .field("host", &self.host)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

const MAX_PATH: usize = 4096;
const MAX_NAME: usize = 128;

impl TailRequest {
    /// The display name: given, or the file name without its extension.
    pub fn name(&self) -> Result<String, ApiError> {
        name_of(self)
    }
}

fn name_of(req: &TailRequest) -> Result<String, ApiError> {
    let name = match req.log_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_owned(),
        None => match JournalPath::parse(&req.log_path) {
            Ok(Some(journal)) => journal.default_name(),
            _ => {
                let file = req.log_path.rsplit('/').next().unwrap_or_default();
                file.split_once('.').map_or(file, |(stem, _)| stem).to_owned()
            }
        },
    };
    if name.is_empty() {
        return Err(ApiError::bad_request("log_name", &"empty, and the path names no file to take it from"));
    }
    if name.len() > MAX_NAME {
        return Err(ApiError::bad_request("log_name", &format!("longer than {MAX_NAME} bytes")));
    }
    Ok(name)
}

fn check_path(path: &str) -> Result<(), ApiError> {
    match JournalPath::parse(path) {
        Ok(Some(_)) => {}
        Ok(None) if path.starts_with('/') => {}
        Ok(None) => {
            return Err(ApiError::bad_request(
                "log_path",
                &format!("must be an absolute path or a journal source (journal:UNIT), got {path:?}"),
            ))
        }
        Err(e) => return Err(ApiError::bad_request("log_path", &e)),
    }
    if path.len() > MAX_PATH {
        return Err(ApiError::bad_request("log_path", &format!("longer than {MAX_PATH} bytes")));
    }
    if path.chars().any(|c| c == '\0' || c == '\n') {
        return Err(ApiError::bad_request("log_path", &"holds a NUL or newline"));
    }
    Ok(())
}

/// Checks `req`, claims the tail for a new viewer, and returns its events. `resume` is the
/// last `log` id the client saw (`seq.index`), to continue right after it.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    req: &TailRequest,
    resume: Option<(u64, usize)>,
) -> Result<TailWatch, ApiError> {
    check_path(&req.log_path)?;
    let advert = hosts::resolve(state, req.cvm_ip.trim()).await?;
    let catalog = &state.config.catalog;
    let entry = catalog.files(&advert.kind).iter().find(|f| f.path == req.log_path);
    let given = req.log_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let name = match (given, entry) {
        (None, Some(e)) => e.name.clone(),
        _ => name_of(req)?,
    };
    // A catalog file under its catalog name is for anyone who may read; anything else needs
    // control, and may not take a catalog name: viewers read the lines of catalog names.
    let catalog_tail = entry.is_some_and(|e| e.name == name);
    if !catalog_tail && catalog.kinds.values().flatten().any(|f| f.name == name) {
        return Err(ApiError::bad_request(
            "log_name",
            &format!(
                "{name:?} is a catalog name, kept for its catalog file; name a tail of {} otherwise",
                req.log_path
            ),
        ));
    }
    let access = if catalog_tail { Access::Read } else { Access::Control };
    if let (true, Some(role)) = (state.auth.enabled(), caller.role) {
        if !role.grants(access) {
            return Err(ApiError::Forbidden { role, access });
        }
    }
    check_on_host(state, &advert.host, &req.log_path).await?;
    let host = advert.host.clone();
    let source = SourceId::from(name.as_str());
    let since = Timestamp::now();

    // A resume point past the end of the stream (another incarnation of it) would skip every
    // line from now on: such a client starts over with fresh context instead. `first` is the
    // first line to show: after the resume point, or the oldest of the context lines.
    let resume = match resume {
        Some((seq, index)) => {
            let start =
                crate::stream::check_start(&state.hub, StreamName::LOGS, Start::Sequence(seq), None).await?;
            (start != Start::Live).then_some((seq, index + 1))
        }
        None => None,
    };
    let subject = subject::logs_raw(&host, &source).to_string();
    let first = match resume {
        Some(first) => first,
        None => {
            let n = state.config.tail_context_lines;
            crate::routes::history::context_start(state, StreamName::LOGS, &subject, n).await?
        }
    };
    let logs_start = Start::Sequence(first.0);
    // Subscribed before the lease is written: the tail this viewer starts publishes its first
    // lines and its `started` right after, and a subscription made later would miss them.
    let logs = subscribe(state.hub.clone(), StreamName::LOGS, subject, logs_start).await;
    let statuses = subscribe(
        state.hub.clone(),
        StreamName::STATUS,
        subject::tail_status(&host, &source).to_string(),
        Start::LastPerSubject,
    )
    .await;

    let lease = ViewerLease::join(
        state.tail_sessions().await?.clone(),
        host.clone(),
        source.clone(),
        req.log_path.clone(),
        state.new_viewer_id(),
        state.config.tail_lease,
    )
    .await
    .map_err(|e| match e {
        JoinError::PathConflict { .. } => ApiError::Conflict(e.to_string()),
        JoinError::Kv(e) => ApiError::Unavailable(e.to_string()),
    })?;

    let (n, h) = (name.clone(), host.as_str().to_owned());
    let logs = logs.flat_map(move |item| stream::iter(log_events(item, &n, &h, first)));
    let (n, h) = (name.clone(), host.as_str().to_owned());
    let statuses = statuses.filter_map(move |item| futures::future::ready(status_event(item, &n, &h, since)));
    let events = stream::select(logs, statuses)
        .scan(Some(lease), |lease, event| {
            // The lease lives exactly as long as the stream; after an ending event, both end.
            let out = lease.is_some().then_some(event.clone());
            if event.ends {
                lease.take();
            }
            futures::future::ready(out)
        })
        .boxed();
    Ok(TailWatch { host, source, name, path: req.log_path.clone(), events })
}

/// How long the host's producer may take to judge a path (an SSH connect and one command).
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Asks the producer serving `host` whether `path` may be tailed, judged on the host after
/// resolving its symlinks. A host that cannot be asked now does not stop the tail: its
/// producer checks again when it connects, and reports what it finds.
async fn check_on_host(state: &AppState, host: &HostId, path: &str) -> Result<(), ApiError> {
    let request = tailrace_schemas::encode(&PathCheck { v: 1, path: path.to_owned() })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let reply = tokio::time::timeout(
        CHECK_TIMEOUT,
        state.client.request(subject::tail_check(host).to_string(), request.into()),
    )
    .await;
    let verdict = match reply {
        Ok(Ok(m)) => match tailrace_schemas::decode::<PathVerdict>(&m.payload) {
            Ok(v) => v,
            Err(e) => return Err(ApiError::Internal(format!("an unreadable path verdict from {host}: {e}"))),
        },
        Ok(Err(e)) => {
            tracing::warn!(%host, error = %e, "cannot ask the producer about a path; the tail will check it");
            return Ok(());
        }
        Err(_) => {
            tracing::warn!(%host, "the producer did not judge a path within {CHECK_TIMEOUT:?}; the tail will check it");
            return Ok(());
        }
    };
    match verdict.verdict {
        Verdict::Allowed | Verdict::Waiting | Verdict::Unchecked => Ok(()),
        Verdict::Outside => Err(ApiError::Refused { field: "log_path".into(), reason: verdict.reason }),
        Verdict::NotAFile => Err(ApiError::bad_request("log_path", &verdict.reason)),
    }
}

fn ending(item: &StreamItem) -> Option<TailEvent> {
    let (event, data) = item.ending(None)?;
    Some(TailEvent { event: ServerEvent::from_ending(event), id: None, data, ends: true })
}

/// The `log` events of a stored batch, from the line `first` (`(sequence, index)`) on.
fn log_events(item: StreamItem, name: &str, host: &str, first: (u64, usize)) -> Vec<TailEvent> {
    let e = match item {
        StreamItem::Event(e) => e,
        other => return ending(&other).into_iter().collect(),
    };
    let skip = match first {
        (seq, index) if seq == e.seq => index,
        (seq, _) if e.seq < seq => usize::MAX,
        _ => 0,
    };
    let Some(lines) = e.payload.get("lines").and_then(Value::as_array) else { return Vec::new() };
    lines
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, l)| TailEvent {
            event: ServerEvent::Log,
            id: Some(format!("{}.{i}", e.seq)),
            data: json!({
                "name": name,
                "host": host,
                "line": l.get("text").cloned().unwrap_or(Value::Null),
                "offset": l.get("offset").cloned().unwrap_or(Value::Null),
                // The source's own severity (a journal entry's priority), when it has one.
                "priority": l.get("priority").cloned().unwrap_or(Value::Null),
                // Where the line is stored: history before it is what a viewer scrolls back to.
                "subject": e.subject,
                "cursor": format!("{}.{i}", e.seq),
            }),
            ends: false,
        })
        .collect()
}

fn status_event(item: StreamItem, name: &str, host: &str, since: Timestamp) -> Option<TailEvent> {
    let e = match item {
        StreamItem::Event(e) => e,
        other => return ending(&other),
    };
    let p = &e.payload;
    let kind = p.get("kind").and_then(Value::as_str).unwrap_or_default();
    // A `stopped` or `refused` from before this viewer came is an earlier session's end, not
    // news.
    let at = p.get("at").and_then(Value::as_str).and_then(|t| Timestamp::parse_rfc3339(t).ok());
    if matches!(kind, "stopped" | "refused") && at.is_none_or(|at| at < since) {
        return None;
    }
    Some(TailEvent {
        event: ServerEvent::TailFStatus,
        id: None,
        data: json!({
            "status": p.get("status").cloned().unwrap_or(Value::Null),
            "kind": kind,
            "message": p.get("message").cloned().unwrap_or(Value::Null),
            "name": name,
            "host": host,
            "path": p.get("path").cloned().unwrap_or(Value::Null),
            "at": p.get("at").cloned().unwrap_or(Value::Null),
        }),
        // A refused tail never produces a line: its viewers are told, and let go.
        ends: kind == "refused",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, name: Option<&str>) -> TailRequest {
        TailRequest {
            cvm_ip: "cvm".into(),
            log_path: path.into(),
            log_name: name.map(Into::into),
            after: None,
        }
    }

    #[test]
    fn the_name_defaults_to_the_file_stem() {
        assert_eq!(name_of(&req("/home/nutanix/data/logs/genesis.out", None)).unwrap(), "genesis");
        assert_eq!(name_of(&req("/var/log/messages", Some(" syslog "))).unwrap(), "syslog");
        assert!(name_of(&req("/var/log/", None)).is_err());
    }

    #[test]
    fn relative_and_odd_paths_are_refused_naming_the_field() {
        for bad in ["var/log/x", "/tmp/a\nb", ""] {
            match check_path(bad) {
                Err(ApiError::BadRequest { field, .. }) => assert_eq!(field, "log_path"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(check_path("/var/log/syslog").is_ok());
    }
}
