//! Viewers joining and leaving a desired tail in the `tail-sessions` bucket. Gateways call these
//! (and tests standing in for a gateway); the producers' supervisor only reads the records and
//! expires leases.

use std::time::Duration;

use async_nats::jetstream::kv::Store;
use tailrace_schemas::{decode, encode_json, HostId, SourceId, TailSession, Timestamp};

use crate::kv::{self, KvError};

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(
        "{source_id} on {host} is already tailing {running}; a second file under the same name would \
         mix two files' lines (pick another name for {wanted})"
    )]
    PathConflict { host: HostId, source_id: SourceId, running: String, wanted: String },
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Adds `viewer` to the session of `host`/`source` (creating it), or renews its lease, for
/// `lease` from now. A session of that name following another path is refused.
pub async fn join(
    store: &Store,
    host: &HostId,
    source: &SourceId,
    path: &str,
    viewer: &str,
    lease: Duration,
) -> Result<(), JoinError> {
    let until = Timestamp::now().saturating_add_nanos(i64::try_from(lease.as_nanos()).unwrap_or(i64::MAX));
    let mut conflict = None;
    kv::update(store, &TailSession::key(host, source), |current| {
        conflict = None;
        let mut s = current
            .and_then(|b| decode::<TailSession>(b).ok())
            .unwrap_or_else(|| TailSession::new(host.clone(), source.clone(), path.to_owned()));
        if s.path != path {
            // A finished record (nobody watching, grace over) may be taken over by a new path.
            if s.pinned || s.live_viewers(Timestamp::now()) > 0 {
                conflict = Some(s.path.clone());
                return current.map(<[u8]>::to_vec);
            }
            s = TailSession::new(host.clone(), source.clone(), path.to_owned());
        }
        s.join(viewer, until);
        encode_json(&s).ok()
    })
    .await?;
    match conflict {
        Some(running) => Err(JoinError::PathConflict {
            host: host.clone(),
            source_id: source.clone(),
            running,
            wanted: path.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Removes `viewer` from the session; the last one leaving starts the grace period.
pub async fn leave(store: &Store, host: &HostId, source: &SourceId, viewer: &str) -> Result<(), KvError> {
    kv::update(store, &TailSession::key(host, source), |current| {
        let mut s: TailSession = decode(current?).ok()?;
        s.leave(viewer, Timestamp::now());
        encode_json(&s).ok()
    })
    .await
    .map(drop)
}
