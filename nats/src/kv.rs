//! Read-modify-write of one KV key with compare-and-swap, for records that several processes
//! change at once (a tail session's viewers). The caller's function sees the current value and
//! returns the new one (or `None` to delete; the same bytes to leave it); on a concurrent change
//! it runs again.

use async_nats::jetstream::kv::{CreateErrorKind, DeleteErrorKind, Operation, Store, UpdateErrorKind};
use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("KV key {key}: {reason}")]
    Io { key: String, reason: String },
    #[error("KV key {key} kept changing under {attempts} attempts to update it")]
    Contended { key: String, attempts: u32 },
}

const ATTEMPTS: u32 = 32;

/// Applies `change` to `key` atomically. Returns the value written (or `None` if deleted or
/// left absent).
pub async fn update<F>(store: &Store, key: &str, mut change: F) -> Result<Option<Bytes>, KvError>
where
    F: FnMut(Option<&[u8]>) -> Option<Vec<u8>>,
{
    let io = |reason: String| KvError::Io { key: key.to_owned(), reason };
    for _ in 0..ATTEMPTS {
        let current = store.entry(key).await.map_err(|e| io(e.to_string()))?;
        let live = current.as_ref().filter(|e| e.operation == Operation::Put);
        let next = change(live.map(|e| e.value.as_ref()));
        let revision = current.as_ref().map(|e| e.revision);
        // An unchanged value is not written again (watchers would see a change that is none).
        if let (Some(cur), Some(new)) = (live, next.as_deref()) {
            if cur.value.as_ref() == new {
                return Ok(Some(cur.value.clone()));
            }
        }
        // `Err(None)`: somebody else wrote first; read again and re-apply.
        let written: Result<Option<Bytes>, Option<String>> =
            match (live, next) {
                (None, None) => return Ok(None),
                (Some(_), None) => store
                    .delete_expect_revision(key, revision)
                    .await
                    .map(|()| None)
                    .map_err(|e| (e.kind() != DeleteErrorKind::WrongLastRevision).then(|| e.to_string())),
                (_, Some(v)) => {
                    let v = Bytes::from(v);
                    match revision {
                        Some(rev) => store.update(key, v.clone(), rev).await.map(|_| Some(v)).map_err(|e| {
                            (e.kind() != UpdateErrorKind::WrongLastRevision).then(|| e.to_string())
                        }),
                        None => {
                            store.create(key, v.clone()).await.map(|_| Some(v)).map_err(|e| {
                                (e.kind() != CreateErrorKind::AlreadyExists).then(|| e.to_string())
                            })
                        }
                    }
                }
            };
        match written {
            Ok(v) => return Ok(v),
            Err(None) => continue,
            Err(Some(reason)) => return Err(io(reason)),
        }
    }
    Err(KvError::Contended { key: key.to_owned(), attempts: ATTEMPTS })
}
