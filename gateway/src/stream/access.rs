//! What a caller may subscribe to, which stream a filter reads, and which of its messages the
//! caller may see.
//!
//! Lines of a tail are readable only by roles that may start that tail: a viewer may start
//! only catalog files (under their catalog names), so of LOGS, CLASSIFIED, STATUS and ISSUES a
//! viewer sees only messages of catalog sources. An operator's tail of another file never uses
//! a catalog name (the gateway refuses that), so its lines stay the operators'. DERIVED
//! (processors' outputs, of any lines) is for operators.

use std::collections::HashSet;
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use tailrace_nats::topology;
use tailrace_schemas::subject::roots;
use tailrace_schemas::{Catalog, SubjectFilter};

use crate::auth::{Access, Auth, Caller};
use crate::error::ApiError;
use crate::stream::StreamItem;

/// Subject roots and the streams that hold them.
const STREAMS: &[(&str, &str, Access)] = &[
    (roots::LOGS_RAW, topology::LOGS, Access::Read),
    (roots::LOGS_CLASSIFIED, topology::CLASSIFIED, Access::Read),
    (roots::FILES_SYNCED, topology::FILES, Access::Read),
    (roots::TELEMETRY, topology::TELEMETRY, Access::Read),
    (roots::ISSUES, topology::ISSUES, Access::Read),
    (roots::TAIL_STATUS, topology::STATUS, Access::Read),
    (roots::DERIVED, topology::DERIVED, Access::Control),
    (roots::REPORTS, topology::REPORTS, Access::Control),
    (roots::DLQ, topology::DLQ, Access::Control),
];

/// Parses `raw`, checks the caller may read it, and returns the stream that holds it.
pub fn resolve(raw: &str, auth: &Auth, caller: &Caller) -> Result<(SubjectFilter, &'static str), ApiError> {
    let filter = SubjectFilter::parse(raw).map_err(|e| ApiError::bad_request("subject", &e))?;
    for (root, stream, access) in STREAMS {
        let root = SubjectFilter::parse(root).expect("declared roots are valid");
        if filter.is_within(&root) {
            if let (true, Some(role)) = (auth.enabled(), caller.role) {
                if !role.grants(*access) {
                    return Err(ApiError::Forbidden { role, access: *access });
                }
            }
            return Ok((filter, stream));
        }
    }
    let readable: Vec<&str> = STREAMS.iter().map(|(r, _, _)| *r).collect();
    Err(ApiError::bad_request(
        "subject",
        &format!("{filter} is not inside one stream; subscribe within one of {}", readable.join(", ")),
    ))
}

/// Which messages of a subscription a caller may see.
#[derive(Debug, Clone)]
pub enum Visibility {
    All,
    /// Only messages of these sources (subject tokens, escaped).
    CatalogSources(Arc<HashSet<String>>),
}

impl Visibility {
    /// What `caller` may see of `stream`: everything, unless it is a viewer reading lines.
    pub fn of(auth: &Auth, caller: &Caller, catalog: &Catalog, stream: &str) -> Self {
        let viewer = auth.enabled() && caller.role.is_none_or(|r| !r.grants(Access::Control));
        if !viewer
            || ![topology::LOGS, topology::CLASSIFIED, topology::STATUS, topology::ISSUES].contains(&stream)
        {
            return Self::All;
        }
        Self::CatalogSources(Arc::new(catalog_tokens(catalog)))
    }

    /// Whether a message on `subject` with this JSON `payload` may be shown.
    pub fn shows(&self, subject: &str, payload: &serde_json::Value) -> bool {
        let Self::CatalogSources(sources) = self else { return true };
        if subject.starts_with("issues.") {
            // An issue of lines names its source; one from a controller's report has none.
            return match payload.get("source").and_then(serde_json::Value::as_str) {
                Some(source) => sources.contains(tailrace_schemas::escape(source).as_str()),
                None => true,
            };
        }
        // logs.raw.{host}.{source}, logs.classified.….{host}.{source}, tail.status.{host}.{source}
        subject.rsplit('.').next().is_some_and(|source| sources.contains(source))
    }

    /// `items` without the events this caller may not see.
    pub fn apply(self, items: BoxStream<'static, StreamItem>) -> BoxStream<'static, StreamItem> {
        if matches!(self, Self::All) {
            return items;
        }
        items
            .filter(move |item| {
                let show = match item {
                    StreamItem::Event(e) => self.shows(&e.subject, &e.payload),
                    _ => true,
                };
                futures::future::ready(show)
            })
            .boxed()
    }
}

/// Every catalog name of every host type, as a subject token.
fn catalog_tokens(catalog: &Catalog) -> HashSet<String> {
    catalog.kinds.values().flatten().map(|f| tailrace_schemas::escape(&f.name).as_str().to_owned()).collect()
}
