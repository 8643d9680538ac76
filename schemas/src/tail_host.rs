//! [`TailHost`]: a host some producer can tail, advertised in the `tail-hosts` KV bucket under
//! [`TailHost::key`]. Entries expire unless the producer refreshes them, so a host whose producer
//! died disappears from the pickers on its own.

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::HostId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailHost {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    /// The network address (an IP for a CVM), so a client may name the host by either.
    #[serde(default)]
    pub address: Option<String>,
    /// The host type, which selects its file catalog (`cvm`, `linux`, ...).
    pub kind: String,
    /// Which producer serves it (for operators reading the bucket).
    pub producer: String,
    pub advertised_at: Timestamp,
    /// Which files of its catalog the host has (readable regular files, by catalog path), as
    /// the producer found them on the host: when it first served it, and again on a
    /// `tail.catalog.{host}` request. `None` until it could look (an unreachable host).
    #[serde(default)]
    pub present: Option<Vec<String>>,
    /// When `present` was found.
    #[serde(default)]
    pub checked_at: Option<Timestamp>,
}

impl TailHost {
    /// The bucket key: the host's subject token with `~` written `=` (as [`crate::TailSession::key`]).
    pub fn key(host: &HostId) -> String {
        host.token().as_str().replace('~', "=")
    }
}

impl Payload for TailHost {
    const KIND: &'static str = "TailHost";
    const VERSION: u16 = 1;
}
