//! [`SharedFingerprinter`]: a [`Fingerprinter`] whose templates are those of the
//! `fingerprint-templates` bucket. It loads them at start, absorbs what other instances (and
//! other processors) write while it runs, and stores what it learns, so a known line gets the
//! fingerprint it had whichever instance, processor or restart sees it. The fingerprint
//! processor and the report splitter both fingerprint through one.

use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::templates::{self, Stored, TemplateStore, TemplateStoreError};
use crate::template::{Fingerprinter, MinerConfig};

#[derive(Debug, Clone)]
pub struct SharedFingerprinter {
    inner: Arc<Mutex<Inner>>,
    store: TemplateStore,
    /// One save at a time: a save that finds nothing to store must not return while another
    /// is still storing (or has failed to store, and put back) what this caller learned.
    saving: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct Inner {
    fingerprinter: Fingerprinter,
    /// Templates and shapes a failed save could not store; stored with the next.
    unsaved: Vec<Stored>,
}

impl SharedFingerprinter {
    /// Loads the stored templates and keeps absorbing others' until `cancel`.
    pub async fn open(
        store: TemplateStore,
        miner: MinerConfig,
        cancel: CancellationToken,
    ) -> Result<Self, TemplateStoreError> {
        let (records, mut watch) = store.load().await?;
        let mut fingerprinter = Fingerprinter::new(miner);
        for r in &records {
            absorb(&mut fingerprinter, r);
        }
        // Templates an earlier build stored with words masked now: stored again at the next save.
        let migrated = fingerprinter.miner().pending_changes();
        tracing::info!(templates_and_shapes = records.len(), migrated, "fingerprint templates loaded");
        let inner = Arc::new(Mutex::new(Inner { fingerprinter, unsaved: Vec::new() }));
        let shared = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                let entry = tokio::select! {
                    _ = cancel.cancelled() => break,
                    e = watch.next() => e,
                };
                let Some(entry) = entry else { break };
                let Ok(entry) = entry else { continue };
                let (Some(record), Some(inner)) = (templates::decode(&entry), shared.upgrade()) else {
                    continue;
                };
                absorb(&mut inner.lock().unwrap_or_else(PoisonError::into_inner).fingerprinter, &record);
            }
        });
        Ok(Self { inner, store, saving: Arc::default() })
    }

    /// Runs `f` with the fingerprinter (briefly: every user of this instance waits for it).
    pub fn with<R>(&self, f: impl FnOnce(&mut Fingerprinter) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner).fingerprinter)
    }

    /// Stores the templates learned since the last save. Call it before publishing anything
    /// that names their fingerprints: an occurrence never names a fingerprint the bucket lacks.
    pub async fn save(&self) -> Result<(), TemplateStoreError> {
        let _one = self.saving.lock().await;
        let changes = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let mut changes = std::mem::take(&mut inner.unsaved);
            changes.extend(inner.fingerprinter.miner().take_changes().into_iter().map(Stored::Template));
            changes.extend(inner.fingerprinter.shapes().take_changes().into_iter().map(Stored::Shape));
            changes
        };
        if changes.is_empty() {
            return Ok(());
        }
        match self.store.save(&changes).await {
            Ok(first) => {
                // Another instance decided these sources first: every instance cuts alike.
                let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                for shape in first {
                    inner.fingerprinter.shapes().absorb(shape);
                }
                Ok(())
            }
            Err(e) => {
                self.inner.lock().unwrap_or_else(PoisonError::into_inner).unsaved.extend(changes);
                Err(e)
            }
        }
    }
}

fn absorb(fingerprinter: &mut Fingerprinter, stored: &Stored) {
    match stored {
        Stored::Template(t) => fingerprinter.miner().absorb(t),
        Stored::Shape(shape) => fingerprinter.shapes().absorb(*shape),
    }
}
