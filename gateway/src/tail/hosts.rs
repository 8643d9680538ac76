//! The hosts that some producer can tail, as advertised in the `tail-hosts` bucket.

use futures::TryStreamExt;
use tailrace_schemas::{decode, TailHost};

use crate::error::ApiError;
use crate::state::AppState;

/// Every advertised host, sorted by name.
pub async fn list(state: &AppState) -> Result<Vec<TailHost>, ApiError> {
    let store = state.tail_hosts().await?;
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| ApiError::Unavailable(format!("tail-hosts: {e}")))?
        .try_collect()
        .await
        .map_err(|e| ApiError::Unavailable(format!("tail-hosts: {e}")))?;
    let mut hosts = Vec::with_capacity(keys.len());
    for key in keys {
        match store.get(&key).await {
            Ok(Some(bytes)) => match decode::<TailHost>(&bytes) {
                Ok(h) => hosts.push(h),
                Err(e) => tracing::warn!(%key, error = %e, "ignoring an unreadable tail-hosts entry"),
            },
            Ok(None) => {}
            Err(e) => return Err(ApiError::Unavailable(format!("tail-hosts {key}: {e}"))),
        }
    }
    hosts.sort_by(|a, b| a.host.as_str().cmp(b.host.as_str()));
    Ok(hosts)
}

/// The advertised host named `name`, or whose address is `name` (the seed sends a CVM's IP).
pub async fn resolve(state: &AppState, name: &str) -> Result<TailHost, ApiError> {
    let hosts = list(state).await?;
    if let Some(h) = hosts
        .iter()
        .find(|h| h.host.as_str() == name)
        .or_else(|| hosts.iter().find(|h| h.address.as_deref() == Some(name)))
    {
        return Ok(h.clone());
    }
    let known: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    if known.is_empty() {
        // Nobody advertises anything: a producer is down or restarting, not a bad request.
        return Err(ApiError::Unavailable(format!(
            "no producer is advertising any host right now, so none serves {name:?}; try again shortly"
        )));
    }
    Err(ApiError::bad_request("host", &format!("no producer serves {name:?}; hosts: {}", known.join(", "))))
}
