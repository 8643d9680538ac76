//! [`ViewerLease`]: one viewer's claim on a live tail. Joining writes the lease into the tail's
//! session record; a task renews it at a third of its length; dropping the lease (a stop, a
//! closed socket, a dropped SSE response) leaves the session, which starts the tail's grace
//! period when it was the last viewer. If the gateway dies, the lease simply runs out.

use std::time::Duration;

use async_nats::jetstream::kv::Store;
use tailrace_nats::sessions::{self, JoinError};
use tailrace_schemas::{HostId, SourceId};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct ViewerLease {
    cancel: CancellationToken,
}

impl ViewerLease {
    /// Joins the session of `host`/`source` following `path` as `viewer`.
    pub async fn join(
        store: Store,
        host: HostId,
        source: SourceId,
        path: String,
        viewer: String,
        lease: Duration,
    ) -> Result<Self, JoinError> {
        sessions::join(&store, &host, &source, &path, &viewer, lease).await?;
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(lease / 3) => {
                        if let Err(e) = sessions::join(&store, &host, &source, &path, &viewer, lease).await {
                            tracing::warn!(%host, %source, error = %e, "cannot renew a viewer lease");
                        }
                    }
                }
            }
            if let Err(e) = sessions::leave(&store, &host, &source, &viewer).await {
                tracing::warn!(%host, %source, error = %e, "cannot leave a tail session; its lease will expire");
            }
        });
        Ok(Self { cancel })
    }
}

impl Drop for ViewerLease {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
