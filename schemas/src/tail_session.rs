//! [`TailSession`]: a desired live tail, kept in the `tail-sessions` KV bucket under
//! [`TailSession::key`]. Gateways add and renew viewers' leases; producers watch the bucket and
//! run exactly the tails that are [`TailSession::wanted`].
//!
//! The rules are pure functions of the record and the clock, so every gateway and producer
//! agrees on them without talking to each other.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::{HostId, SourceId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailSession {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    pub source: SourceId,
    pub path: String,
    /// Listed in a producer's configuration: runs with or without viewers.
    #[serde(default)]
    pub pinned: bool,
    /// Viewer id → when its lease ends unless renewed.
    #[serde(default)]
    pub viewers: BTreeMap<String, Timestamp>,
    /// When the last viewer left (or its lease ended); the tail stops a grace period later.
    #[serde(default)]
    pub idle_since: Option<Timestamp>,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl TailSession {
    pub fn new(host: HostId, source: SourceId, path: String) -> Self {
        Self { v: 1, host, source, path, pinned: false, viewers: BTreeMap::new(), idle_since: None }
    }

    /// The bucket key: `{host}.{source}`, each escaped as in subjects with `~` written `=`
    /// (KV keys may not hold `~`; `=` never appears in an escaped token, so it stays reversible).
    pub fn key(host: &HostId, source: &SourceId) -> String {
        format!("{}.{}", host.token().as_str().replace('~', "="), source.token().as_str().replace('~', "="))
    }

    /// Adds `viewer`, or renews its lease, until `until`.
    pub fn join(&mut self, viewer: &str, until: Timestamp) {
        self.viewers.insert(viewer.to_owned(), until);
        self.idle_since = None;
    }

    /// Removes `viewer`; if it was the last one, the grace period starts `now`.
    pub fn leave(&mut self, viewer: &str, now: Timestamp) {
        if self.viewers.remove(viewer).is_some() && self.live_viewers(now) == 0 {
            self.idle_since = Some(now);
        }
    }

    /// Drops expired leases; when that leaves no viewer, the grace period starts when the last
    /// lease ended. Returns whether anything changed.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        let last_end = self.viewers.values().copied().max();
        let before = self.viewers.len();
        self.viewers.retain(|_, until| *until > now);
        let changed = self.viewers.len() != before;
        if changed && self.viewers.is_empty() && self.idle_since.is_none() {
            self.idle_since = last_end;
        }
        changed
    }

    pub fn live_viewers(&self, now: Timestamp) -> usize {
        self.viewers.values().filter(|until| **until > now).count()
    }

    /// Whether the tail should be running at `now`.
    pub fn wanted(&self, now: Timestamp, grace: Duration) -> bool {
        self.pinned
            || self.live_viewers(now) > 0
            || self.idle_since.is_some_and(|t| now < t.saturating_add_nanos(nanos(grace)))
    }

    /// Nobody wants it and its grace period is over: the record can be deleted.
    pub fn is_finished(&self, now: Timestamp, grace: Duration) -> bool {
        !self.wanted(now, grace)
    }
}

impl Payload for TailSession {
    const KIND: &'static str = "TailSession";
    const VERSION: u16 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(secs)
    }

    fn session() -> TailSession {
        TailSession::new("10.0.0.1".into(), "genesis".into(), "/home/nutanix/data/logs/genesis.out".into())
    }

    #[test]
    fn keys_are_valid_kv_keys_and_distinct() {
        let k = TailSession::key(&"10.0.0.1".into(), &"my file.log".into());
        assert_eq!(k, "10=2E0=2E0=2E1.my=20file=2Elog");
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || "-_=.".contains(c)));
        assert_ne!(
            TailSession::key(&"a.b".into(), &"c".into()),
            TailSession::key(&"a".into(), &"b.c".into())
        );
    }

    #[test]
    fn two_viewers_share_it_and_it_stops_a_grace_period_after_the_last_leaves() {
        let mut s = session();
        s.join("alice", t(130));
        s.join("bob", t(130));
        assert!(s.wanted(t(100), GRACE));
        s.leave("alice", t(110));
        assert!(s.wanted(t(111), GRACE) && s.idle_since.is_none(), "bob still watches");
        s.leave("bob", t(120));
        assert_eq!(s.idle_since, Some(t(120)));
        assert!(s.wanted(t(129), GRACE));
        assert!(!s.wanted(t(130), GRACE));
        assert!(s.is_finished(t(131), GRACE));
    }

    #[test]
    fn an_unrenewed_lease_ends_like_a_leave() {
        let mut s = session();
        s.join("alice", t(100));
        assert!(s.expire(t(101)));
        assert_eq!(s.idle_since, Some(t(100)));
        assert!(s.wanted(t(105), GRACE) && !s.wanted(t(110), GRACE));
        s.join("alice", t(200));
        assert!(s.idle_since.is_none() && s.wanted(t(150), GRACE));
    }

    #[test]
    fn a_pinned_tail_always_runs() {
        let mut s = session();
        s.pinned = true;
        s.idle_since = Some(t(0));
        assert!(s.wanted(t(1_000_000), GRACE));
    }
}
