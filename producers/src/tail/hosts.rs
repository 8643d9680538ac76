//! What this producer offers to gateways: its hosts, advertised in the `tail-hosts` bucket
//! (refreshed at a third of the bucket's TTL, removed on a clean stop), directory listings of
//! those hosts, answered on `tail.list.{host}`, and verdicts on paths to tail, answered on
//! `tail.check.{host}` (both within the host's [`Roots`]).

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::kv::Store;
use futures::StreamExt;
use tailrace_nats::topology::TAIL_HOSTS_TTL;
use tailrace_schemas::{
    decode, encode, subject, DirListing, HostId, ListRequest, PathCheck, PathVerdict, TailHost, Timestamp,
    Verdict,
};
use tokio_util::sync::CancellationToken;

use super::check::check;
use super::listing;
use super::roots::Roots;
use super::transport::Transport;

/// How soon a failed advert is written again.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum HostServiceError {
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe { subject: String, reason: String },
}

#[derive(Debug)]
pub struct HostService {
    pub hosts: HashMap<HostId, Transport>,
    /// What each host may serve; a host without an entry serves nothing.
    pub roots: HashMap<HostId, Roots>,
    /// The host type of `local`.
    pub local_kind: String,
    /// This producer's name in adverts.
    pub producer: String,
    pub client: async_nats::Client,
    pub store: Store,
    /// The client's (re)connections: after a reconnect the server may be a restarted one whose
    /// memory-backed bucket lost every advert, so they are written again at once.
    pub connections: Option<tailrace_nats::connect::Connections>,
}

impl HostService {
    fn adverts(&self) -> Vec<TailHost> {
        self.hosts
            .iter()
            .map(|(host, transport)| {
                let (kind, address) = match transport {
                    Transport::Local => (self.local_kind.clone(), None),
                    Transport::Ssh(h) => (h.kind.clone(), Some(h.address.clone())),
                };
                TailHost {
                    v: 1,
                    host: host.clone(),
                    address,
                    kind,
                    producer: self.producer.clone(),
                    advertised_at: Timestamp::now(),
                }
            })
            .collect()
    }

    /// Writes every advert; false if one could not be written.
    async fn advertise(&self) -> bool {
        let mut all = true;
        for advert in self.adverts() {
            let key = TailHost::key(&advert.host);
            match tailrace_schemas::encode_json(&advert) {
                Ok(bytes) => {
                    if let Err(e) = self.store.put(&key, bytes.into()).await {
                        tracing::warn!(%key, error = %e, "cannot advertise a tail host; trying again in 1 s");
                        all = false;
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode a tail host advert"),
            }
        }
        all
    }

    /// Advertises and answers listings until `cancel`, then withdraws the adverts.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<(), HostServiceError> {
        let mut requests = futures::stream::SelectAll::new();
        for host in self.hosts.keys() {
            for subject in [subject::tail_list(host), subject::tail_check(host)] {
                let subject = subject.to_string();
                let sub = self
                    .client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| HostServiceError::Subscribe { subject, reason: e.to_string() })?;
                requests.push(sub);
            }
        }
        let mut listings = futures::stream::FuturesUnordered::new();
        let mut next = tokio::time::Instant::now();
        let mut connections = self.connections.take();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Ok(()) = async { connections.as_mut().expect("guarded").changed().await }, if connections.is_some() => {
                    next = tokio::time::Instant::now();
                }
                _ = tokio::time::sleep_until(next) => {
                    // A failed write is retried soon: after the server restarted, the bucket
                    // is back as soon as the topology is applied again, and a host missing
                    // from it for a whole refresh period would make live tail look dead.
                    let ok = self.advertise().await;
                    next = tokio::time::Instant::now() + if ok { TAIL_HOSTS_TTL / 3 } else { RETRY };
                }
                Some(request) = requests.next() => {
                    if let Some(job) = self.answer(request) {
                        listings.push(job);
                    }
                }
                Some(()) = listings.next(), if !listings.is_empty() => {}
            }
        }
        for advert in self.adverts() {
            let _ = self.store.delete(TailHost::key(&advert.host)).await;
        }
        Ok(())
    }

    /// A future that answers a listing or check request, and replies.
    fn answer(
        &self,
        request: async_nats::Message,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let reply = request.reply.clone()?;
        let mut tokens = request.subject.as_str().split('.');
        let what = tokens.nth(1)?.to_owned();
        let host: HostId = tokens
            .next()
            .and_then(|t| tailrace_schemas::unescape(t).ok().map(|s| HostId::from(s.as_str())))?;
        let transport = self.hosts.get(&host)?.clone();
        let roots = self.roots.get(&host).cloned().unwrap_or_default();
        let client = self.client.clone();
        Some(async move {
            let answer = if what == "check" {
                encode(&verdict(&host, &transport, &roots, &request.payload).await)
            } else {
                encode(&listing(&host, &transport, &roots, &request.payload).await)
            };
            match answer {
                Ok(bytes) => {
                    if let Err(e) = client.publish(reply, bytes.into()).await {
                        tracing::warn!(error = %e, "cannot reply to a {what} request");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode a {what} answer"),
            }
        })
    }
}

/// How long answering one request may take (an SSH connect and a command or two).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

async fn listing(host: &HostId, transport: &Transport, roots: &Roots, payload: &[u8]) -> DirListing {
    let failed = |dir: String, error: String| DirListing {
        v: 1,
        host: host.clone(),
        dir,
        entries: Vec::new(),
        truncated: false,
        error: Some(error),
    };
    match decode::<ListRequest>(payload) {
        Ok(req) => tokio::time::timeout(ANSWER_TIMEOUT, listing::list(host, transport, roots, &req.dir))
            .await
            .unwrap_or_else(|_| {
                failed(req.dir.clone(), format!("listing took longer than {ANSWER_TIMEOUT:?}"))
            }),
        Err(e) => failed(String::new(), format!("unreadable ListRequest: {e}")),
    }
}

async fn verdict(host: &HostId, transport: &Transport, roots: &Roots, payload: &[u8]) -> PathVerdict {
    let answer = |path: String, verdict: Verdict, reason: String, resolved: Option<String>| PathVerdict {
        v: 1,
        host: host.clone(),
        path,
        resolved,
        verdict,
        reason,
    };
    let req = match decode::<PathCheck>(payload) {
        Ok(req) => req,
        Err(e) => {
            return answer(String::new(), Verdict::Unchecked, format!("unreadable PathCheck: {e}"), None)
        }
    };
    let checked = tokio::time::timeout(ANSWER_TIMEOUT, async {
        let conn = transport.connect().await.map_err(|e| e.to_string())?;
        check(&conn, &req.path, roots).await
    })
    .await
    .unwrap_or_else(|_| Err(format!("checking took longer than {ANSWER_TIMEOUT:?}")));
    match checked {
        Ok(c) => answer(req.path, c.verdict, c.reason, c.resolved),
        Err(e) => answer(req.path, Verdict::Unchecked, e, None),
    }
}
