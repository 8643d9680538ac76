//! The `fingerprint-templates` KV bucket: every template any instance of the fingerprint
//! processor learned, keyed by fingerprint. An instance loads them all at start and absorbs the
//! others' as they are written, so a restart or a second instance gives a known line the
//! fingerprint it had.

use async_nats::jetstream::kv::{Operation, Store, Watch};
use async_nats::jetstream::{self};
use futures::StreamExt;
use tailrace_nats::topology::FINGERPRINT_TEMPLATES;
use tailrace_schemas::IssueTemplate;

use crate::template::TemplateRecord;

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

    /// Every stored template, and a watch that continues with later writes.
    pub async fn load(&self) -> Result<(Vec<TemplateRecord>, Watch), TemplateStoreError> {
        let read = |e: String| TemplateStoreError::Read(e);
        let stored = self.store.status().await.map_err(|e| read(e.to_string()))?.values();
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

    /// Writes the templates, all in flight at once (each put waits for its own ack).
    pub async fn save(&self, records: &[TemplateRecord]) -> Result<(), TemplateStoreError> {
        let puts = records.iter().map(|r| async move {
            let value = IssueTemplate {
                v: 1,
                fingerprint: r.fingerprint,
                template: r.template.clone(),
                settled: r.settled.clone(),
            };
            let key = r.fingerprint.to_string();
            let bytes = tailrace_schemas::encode(&value)
                .map_err(|e| TemplateStoreError::Write { key: key.clone(), reason: e.to_string() })?;
            self.store
                .put(&key, bytes.into())
                .await
                .map(|_| ())
                .map_err(|e| TemplateStoreError::Write { key, reason: e.to_string() })
        });
        futures::future::try_join_all(puts).await.map(|_| ())
    }
}

/// The template of a KV entry; a deleted or undecodable one is skipped (and said so).
pub fn decode(entry: &async_nats::jetstream::kv::Entry) -> Option<TemplateRecord> {
    if entry.operation != Operation::Put {
        return None;
    }
    match tailrace_schemas::decode::<IssueTemplate>(&entry.value) {
        Ok(t) => {
            Some(TemplateRecord { fingerprint: t.fingerprint, template: t.template, settled: t.settled })
        }
        Err(e) => {
            tracing::warn!(key = %entry.key, error = %e, "skipping an undecodable template");
            None
        }
    }
}
