//! What this producer offers to gateways: its hosts, advertised in the `tail-hosts` bucket
//! (refreshed at a third of the bucket's TTL, removed on a clean stop), directory listings of
//! those hosts, answered on `tail.list.{host}`, and verdicts on paths to tail, answered on
//! `tail.check.{host}` (both within the host's [`Roots`]).
//!
//! Each advert says which files of the host's catalog the host has: a Debian machine with
//! only journald has no /var/log/syslog, and offering it makes a first click fail. The files
//! are looked for (one round trip) when the service starts, again at each refresh until the
//! host could be asked, and on a `tail.catalog.{host}` request, which is answered with the
//! advert as it then is.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::jetstream::kv::Store;
use futures::StreamExt;
use tailrace_nats::topology::TAIL_HOSTS_TTL;
use tailrace_schemas::{
    decode, encode, subject, DirListing, HostId, ListRequest, PathCheck, PathVerdict, TailHost, Timestamp,
    Verdict,
};
use tokio_util::sync::CancellationToken;

use super::check::{check, resolve, PathKind};
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
    /// The catalog's paths for each host's type, looked for on the host.
    pub catalog: HashMap<HostId, Vec<String>>,
}

/// Which catalog files each host has, and when that was found.
type Present = HashMap<HostId, (Vec<String>, Timestamp)>;

/// A look for a host's catalog files: the host, when the look began, what it found, and whom
/// to answer.
type Look = std::pin::Pin<Box<dyn std::future::Future<Output = Looked> + Send>>;
type Looked = (HostId, Timestamp, Result<Vec<String>, String>, Option<async_nats::Subject>);

impl HostService {
    fn advert(&self, host: &HostId, transport: &Transport, present: &Present) -> TailHost {
        let (kind, address) = match transport {
            Transport::Local => (self.local_kind.clone(), None),
            Transport::Ssh(h) => (h.kind.clone(), Some(h.address.clone())),
        };
        let found = present.get(host);
        TailHost {
            v: 1,
            host: host.clone(),
            address,
            kind,
            producer: self.producer.clone(),
            advertised_at: Timestamp::now(),
            present: found.map(|(paths, _)| paths.clone()),
            checked_at: found.map(|(_, at)| *at),
        }
    }

    fn adverts(&self, present: &Present) -> Vec<TailHost> {
        self.hosts.iter().map(|(host, transport)| self.advert(host, transport, present)).collect()
    }

    /// Looks for `host`'s catalog files on the host.
    fn look(&self, host: HostId, reply: Option<async_nats::Subject>) -> Look {
        let transport = self.hosts.get(&host).cloned();
        let paths = self.catalog.get(&host).cloned().unwrap_or_default();
        Box::pin(async move {
            let began = Timestamp::now();
            let found = match transport {
                None => Err(format!("{host} is not served here")),
                Some(t) => tokio::time::timeout(ANSWER_TIMEOUT, present_on(&t, &paths))
                    .await
                    .unwrap_or_else(|_| Err(format!("looking took longer than {ANSWER_TIMEOUT:?}"))),
            };
            (host, began, found, reply)
        })
    }

    /// Writes every advert; false if one could not be written.
    async fn advertise(&self, present: &Present) -> bool {
        let mut all = true;
        for advert in self.adverts(present) {
            all &= self.put(&advert).await;
        }
        all
    }

    /// Writes one advert; false if it could not be written.
    async fn put(&self, advert: &TailHost) -> bool {
        let key = TailHost::key(&advert.host);
        match tailrace_schemas::encode_json(advert) {
            Ok(bytes) => {
                if let Err(e) = self.store.put(&key, bytes.into()).await {
                    tracing::warn!(%key, error = %e, "cannot advertise a tail host; trying again in 1 s");
                    return false;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a tail host advert"),
        }
        true
    }

    /// Advertises and answers listings until `cancel`, then withdraws the adverts.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<(), HostServiceError> {
        let mut requests = futures::stream::SelectAll::new();
        for host in self.hosts.keys() {
            for subject in [subject::tail_list(host), subject::tail_check(host), subject::tail_catalog(host)]
            {
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
        let mut present = Present::new();
        let mut looks = futures::stream::FuturesUnordered::new();
        let mut looking: HashSet<HostId> = self.hosts.keys().cloned().collect();
        for host in &looking {
            looks.push(self.look(host.clone(), None));
        }
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
                    let ok = self.advertise(&present).await;
                    next = tokio::time::Instant::now() + if ok { TAIL_HOSTS_TTL / 3 } else { RETRY };
                    // A host that could not be asked yet is asked again.
                    for host in self.hosts.keys() {
                        if !present.contains_key(host) && looking.insert(host.clone()) {
                            looks.push(self.look(host.clone(), None));
                        }
                    }
                }
                Some(request) = requests.next() => {
                    match catalog_request(&request) {
                        Some((host, reply)) => looks.push(self.look(host, Some(reply))),
                        None => {
                            if let Some(job) = self.answer(request) {
                                listings.push(job);
                            }
                        }
                    }
                }
                Some((host, began, found, reply)) = looks.next(), if !looks.is_empty() => {
                    looking.remove(&host);
                    let Some(transport) = self.hosts.get(&host) else { continue };
                    match found {
                        // A look that began before the one stored (a slow host, answering late)
                        // says nothing newer.
                        Ok(paths) if present.get(&host).is_none_or(|(_, at)| *at <= began) => {
                            present.insert(host.clone(), (paths, began));
                            self.put(&self.advert(&host, transport, &present)).await;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(%host, error = %e, "cannot look for the catalog's files on a host"),
                    }
                    if let Some(reply) = reply {
                        match encode(&self.advert(&host, transport, &present)) {
                            Ok(bytes) => {
                                if let Err(e) = self.client.publish(reply, bytes.into()).await {
                                    tracing::warn!(error = %e, "cannot reply to a catalog request");
                                }
                            }
                            Err(e) => tracing::error!(error = %e, "cannot encode a tail host advert"),
                        }
                    }
                }
                Some(()) = listings.next(), if !listings.is_empty() => {}
            }
        }
        for advert in self.adverts(&present) {
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

/// A `tail.catalog.{host}` request: the host and the reply subject.
fn catalog_request(request: &async_nats::Message) -> Option<(HostId, async_nats::Subject)> {
    let mut tokens = request.subject.as_str().split('.');
    if tokens.nth(1)? != "catalog" {
        return None;
    }
    let host = tokens.next().and_then(|t| tailrace_schemas::unescape(t).ok())?;
    Some((HostId::from(host.as_str()), request.reply.clone()?))
}

/// Which of `paths` the host has: readable regular files (in one round trip), and journal
/// sources with entries (one more per source).
async fn present_on(transport: &Transport, paths: &[String]) -> Result<Vec<String>, String> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let connection = transport.connect().await.map_err(|e| e.to_string())?;
    let (journals, files): (Vec<&String>, Vec<&String>) =
        paths.iter().partition(|p| tailrace_schemas::journal::is_journal(p));
    let asked: Vec<&str> = files.iter().map(|p| p.as_str()).collect();
    let found = resolve(&connection, &asked).await?;
    let mut present: Vec<String> = files
        .into_iter()
        .zip(found)
        .filter(|(_, r)| r.kind == PathKind::File)
        .map(|(p, _)| p.clone())
        .collect();
    for path in journals {
        let Ok(Some(journal)) = tailrace_schemas::JournalPath::parse(path) else { continue };
        if super::journal::probe(&connection, &journal).await? == super::journal::Probe::Entries {
            present.push(path.clone());
        }
    }
    Ok(present)
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
