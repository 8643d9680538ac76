//! The `fingerprint-templates` KV bucket: every template any instance of the fingerprint
//! processor learned, keyed by fingerprint, and every source's learned header shape, keyed
//! `shape.{source}`. An instance loads them all at start and absorbs the others' as they are
//! written, so a restart or a second instance gives a known line the fingerprint it had.

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store, Watch};
use async_nats::jetstream::{self};
use futures::StreamExt;
use tailrace_nats::topology::FINGERPRINT_TEMPLATES;
use tailrace_schemas::SourceShape;

use crate::template::{ShapeRecord, SourceKey, TemplateRecord};

#[derive(Debug, thiserror::Error)]
pub enum TemplateStoreError {
    #[error("cannot open the {FINGERPRINT_TEMPLATES} bucket (has `tailrace streams apply` run?): {0}")]
    Open(String),
    #[error("cannot read the {FINGERPRINT_TEMPLATES} bucket: {0}")]
    Read(String),
    #[error("cannot write template {key} to the {FINGERPRINT_TEMPLATES} bucket: {reason}")]
    Write { key: String, reason: String },
}

#[derive(Debug, Clone)]
pub struct TemplateStore {
    store: Store,
}

impl TemplateStore {
    pub async fn open(js: &jetstream::Context) -> Result<Self, TemplateStoreError> {
        let store = js
            .get_key_value(FINGERPRINT_TEMPLATES)
            .await
            .map_err(|e| TemplateStoreError::Open(e.to_string()))?;
        Ok(Self { store })
    }

    /// Everything stored, and a watch that continues with later writes.
    pub async fn load(&self) -> Result<(Vec<Stored>, Watch), TemplateStoreError> {
        let read = |e: String| TemplateStoreError::Read(e);
        // The stream's own count now: `Store::status` answers what it was when the bucket was
        // opened, so a handle opened before templates were stored would wait for none of them.
        let stored = self.store.stream.get_info().await.map_err(|e| read(e.to_string()))?.state.messages;
        let mut watch = self.store.watch_with_history(">").await.map_err(|e| read(e.to_string()))?;
        let mut records = Vec::with_capacity(stored as usize);
        if stored > 0 {
            // Last value per key, then live: `delta` 0 marks the newest one at the start.
            while let Some(entry) = watch.next().await {
                let entry = entry.map_err(|e| read(e.to_string()))?;
                let last = entry.delta == 0;
                if let Some(record) = decode(&entry) {
                    records.push(record);
                }
                if last {
                    break;
                }
            }
        }
        Ok((records, watch))
    }

    /// Writes the templates and shapes, all in flight at once (each put waits for its own ack).
    /// A source's shape is only created, never replaced: when another instance stored one
    /// first, that one is returned, to be taken instead of ours.
    pub async fn save(&self, records: &[Stored]) -> Result<Vec<ShapeRecord>, TemplateStoreError> {
        let write = |key: &str, reason: String| TemplateStoreError::Write { key: key.to_owned(), reason };
        let puts = records.iter().map(|r| async move {
            match r {
                Stored::Template(t) => {
                    let key = t.fingerprint.to_string();
                    let bytes = tailrace_schemas::encode(t).map_err(|e| write(&key, e.to_string()))?;
                    self.store.put(&key, bytes.into()).await.map_err(|e| write(&key, e.to_string()))?;
                    Ok(None)
                }
                Stored::Shape(shape) => {
                    let value = SourceShape { v: 1, source: shape.source.0, cut: shape.cut };
                    let key = format!("{}{}", SourceShape::KEY_PREFIX, shape.source);
                    let bytes = tailrace_schemas::encode(&value).map_err(|e| write(&key, e.to_string()))?;
                    match self.store.create(&key, bytes.into()).await {
                        Ok(_) => Ok(None),
                        Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                            let entry =
                                self.store.entry(&key).await.map_err(|e| write(&key, e.to_string()))?;
                            match entry.as_ref().and_then(decode) {
                                Some(Stored::Shape(first)) => Ok(Some(first)),
                                _ => Err(write(&key, "stored by another instance, and unreadable".into())),
                            }
                        }
                        Err(e) => Err(write(&key, e.to_string())),
                    }
                }
            }
        });
        Ok(futures::future::try_join_all(puts).await?.into_iter().flatten().collect())
    }
}

/// What the bucket holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Template(TemplateRecord),
    Shape(ShapeRecord),
}

/// The template or shape of a KV entry; a deleted or undecodable one is skipped (and said so).
pub fn decode(entry: &async_nats::jetstream::kv::Entry) -> Option<Stored> {
    if entry.operation != Operation::Put {
        return None;
    }
    let stored = if entry.key.starts_with(SourceShape::KEY_PREFIX) {
        tailrace_schemas::decode::<SourceShape>(&entry.value)
            .map(|s| Stored::Shape(ShapeRecord { source: SourceKey(s.source), cut: s.cut }))
    } else {
        tailrace_schemas::decode::<TemplateRecord>(&entry.value).map(Stored::Template)
    };
    match stored {
        Ok(stored) => Some(stored),
        Err(e) => {
            tracing::warn!(key = %entry.key, error = %e, "skipping an undecodable template or shape");
            None
        }
    }
}
