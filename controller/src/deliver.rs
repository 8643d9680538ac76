//! Delivery: the outbox's reports to the hub, oldest first, one at a time, each removed only
//! once the hub has stored it; while the hub is away, waiting with growing backoff.
//!
//! Over NATS a report goes to `reports.{customer}` with the message id the hub's HTTP ingest
//! gives it too (customer and report time), so a report sent again after a crash is stored
//! once within the stream's duplicate window, and counted once by the tables beyond it.

use std::sync::Arc;
use std::time::Duration;

use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{report_check, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::outbox::{Outbox, Waiting};

/// Where reports go.
#[derive(Debug, Clone)]
pub enum Hub {
    Nats(Publisher),
    Http { client: reqwest::Client, url: String, token: String },
}

/// Why a report did not reach the hub.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The hub is away or failed: try again later.
    #[error("{0}")]
    Later(String),
    /// The hub (or our own check) refuses what the report says: sending it again cannot help.
    #[error("{0}")]
    Refused(String),
}

impl Hub {
    pub fn http(url: &str, token: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with a timeout builds");
        Hub::Http { client, url: url.trim_end_matches('/').to_owned(), token: token.to_owned() }
    }

    pub async fn send(&self, bytes: &[u8]) -> Result<(), SendError> {
        match self {
            Hub::Nats(publisher) => {
                let ingested = report_check::ingest(bytes, Timestamp::now())
                    .map_err(|e| SendError::Refused(format!("the report does not check: {e}")))?;
                let out = Outgoing::encode(ingested.subject, &ingested.report, ingested.msg_id)
                    .map_err(|e| SendError::Refused(e.to_string()))?;
                publisher.publish_and_wait(out).await.map(|_| ()).map_err(|e| SendError::Later(e.to_string()))
            }
            Hub::Http { client, url, token } => {
                let answer = client
                    .post(format!("{url}/api/v1/report"))
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes.to_vec())
                    .send()
                    .await
                    .map_err(|e| SendError::Later(format!("POST {url}/api/v1/report: {e}")))?;
                let status = answer.status();
                if status.is_success() {
                    return Ok(());
                }
                let body = answer.text().await.unwrap_or_default();
                let reason = format!("POST {url}/api/v1/report: {status} {body}");
                // Only what the report says is refused for good; anything else (a token an
                // operator fixes, a wrong path, a proxy's 404 while the hub is away) is tried
                // again, and reports wait in order.
                if matches!(status.as_u16(), 400 | 413 | 422) {
                    Err(SendError::Refused(reason))
                } else {
                    Err(SendError::Later(reason))
                }
            }
        }
    }
}

/// Sends what the outbox holds until `cancel`; woken by `made` when a report is put.
pub async fn run(outbox: Outbox, hub: Hub, made: Arc<Notify>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        match next(&outbox, &hub).await {
            Ok(Some(())) => {
                failures = 0;
                continue;
            }
            Ok(None) => {
                failures = 0;
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = made.notified() => continue,
                    // A report put by another process (a restart's leftovers) is found anyway.
                    _ = tokio::time::sleep(Duration::from_secs(30)) => continue,
                }
            }
            Err(reason) => {
                failures += 1;
                let delay = tailrace_nats::connect::backoff(
                    failures.saturating_sub(1) as usize,
                    Duration::from_secs(1),
                    Duration::from_secs(30),
                );
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(%reason, waiting = outbox.waiting().map_or(0, |w| w.len()), retry_in = ?delay, "the hub did not take a report; it waits in the outbox");
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Sends the oldest report: `Some` when one left, `None` when none waits.
async fn next(outbox: &Outbox, hub: &Hub) -> Result<Option<()>, String> {
    let Some(w) = outbox.oldest().map_err(|e| e.to_string())? else { return Ok(None) };
    match hub.send(&w.bytes).await {
        Ok(()) => {
            outbox.sent(&w).map_err(|e| e.to_string())?;
            tracing::debug!(report = %w.path.display(), "report delivered");
            Ok(Some(()))
        }
        Err(SendError::Refused(reason)) => set_aside(outbox, &w, &reason).map(Some),
        Err(SendError::Later(reason)) => Err(reason),
    }
}

fn set_aside(outbox: &Outbox, w: &Waiting, reason: &str) -> Result<(), String> {
    let to = outbox.refused(w, reason).map_err(|e| e.to_string())?;
    tracing::error!(report = %to.display(), %reason, "the hub refused a report; it is kept aside, the next ones go on");
    Ok(())
}
