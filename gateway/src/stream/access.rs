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
use tailrace_schemas::{stream_of, Catalog, Readers, StreamDecl, StreamName, SubjectFilter, STREAMS};

use crate::auth::{Access, Auth, Caller};
use crate::error::ApiError;
use crate::stream::StreamItem;

/// The access a stream's readers need.
fn access_of(decl: &StreamDecl) -> Access {
    match decl.readers {
        Readers::Everyone => Access::Read,
        Readers::Operators => Access::Control,
    }
}

/// Parses `raw`, checks the caller may read it, and returns the stream that holds it.
pub fn resolve(raw: &str, auth: &Auth, caller: &Caller) -> Result<(SubjectFilter, StreamName), ApiError> {
    let filter = SubjectFilter::parse(raw).map_err(|e| ApiError::bad_request("subject", &e))?;
    let Some(decl) = stream_of(&filter) else {
        let roots: Vec<&str> = STREAMS.iter().map(|d| d.root).collect();
        return Err(ApiError::bad_request(
            "subject",
            &format!("{filter} is not inside one stream; subscribe within one of {}", roots.join(", ")),
        ));
    };
    if let (true, Some(role)) = (auth.enabled(), caller.role) {
        let access = access_of(decl);
        if !role.grants(access) {
            return Err(ApiError::Forbidden { role, access });
        }
    }
    Ok((filter, decl.name))
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
    pub fn of(auth: &Auth, caller: &Caller, catalog: &Catalog, stream: StreamName) -> Self {
        let viewer = auth.enabled() && caller.role.is_none_or(|r| !r.grants(Access::Control));
        let lines = [StreamName::LOGS, StreamName::CLASSIFIED, StreamName::STATUS, StreamName::ISSUES];
        if !viewer || !lines.contains(&stream) {
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
