//! [`Staged`]: the writes of one flush. A sink reads its rows through it (its own staged writes
//! first, then the tree) and writes into it; the runtime applies them, with the last applied
//! sequence, as one sled batch, and makes it durable before the inputs are acked.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tailrace_schemas::StreamName;

use crate::tables::applied_key;

#[derive(Debug)]
pub struct Staged {
    tree: sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// A stored row that does not decode (written by a newer build, or damaged).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("reading the tables: {0}")]
    Sled(#[from] sled::Error),
    #[error("row {key}: {reason}")]
    Decode { key: String, reason: String },
}

impl Staged {
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self { tree, writes: BTreeMap::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The current bytes under `key`: staged, else stored.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        match self.writes.get(key) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// A row (MessagePack) under `key`.
    pub fn row<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, RowError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => rmp_serde::from_slice(&bytes).map(Some).map_err(|e| RowError::Decode {
                key: String::from_utf8_lossy(key).into_owned(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn put_row<T: Serialize>(&mut self, key: Vec<u8>, row: &T) {
        let bytes = rmp_serde::to_vec_named(row).expect("rows serialize");
        self.insert(key, bytes);
    }

    /// Every write, and `applied` as the last sequence of `stream`, as one batch.
    pub(crate) fn into_batch(self, stream: StreamName, applied: u64) -> (sled::Tree, sled::Batch) {
        let mut batch = sled::Batch::default();
        for (key, value) in self.writes {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        batch.insert(applied_key(stream), &applied.to_be_bytes());
        (self.tree, batch)
    }
}
