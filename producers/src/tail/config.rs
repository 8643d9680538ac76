//! The `[tail]` configuration section: which hosts this producer serves, which tails always
//! run, how long the grace period after the last viewer lasts, and how files are followed.
//! (Viewers' leases are the gateway's: `gateway.tail_lease`.)

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::roots::Roots;
use super::{TailConfig, TailSpec};
use crate::ssh::HostConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSection {
    /// Serve the `local` host (files on this machine, no SSH).
    pub serve_local: bool,
    /// The host type of `local`, which selects the files offered for it.
    pub local_kind: String,
    /// What `local` may serve (absolute paths, files or directories, judged after resolving
    /// symlinks); empty: the catalog's files for `local_kind` and `/var/log`. `/proc`, `/sys`
    /// and `/dev` are never served.
    pub local_allow: Vec<String>,
    /// Hosts reached over SSH.
    pub hosts: Vec<HostConfig>,
    /// Tails that always run, viewers or not.
    pub pinned: Vec<TailSpec>,
    /// How long a tail keeps running after its last viewer left.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    pub follow: TailConfig,
}

impl Default for TailSection {
    fn default() -> Self {
        Self {
            serve_local: true,
            local_kind: "linux".to_owned(),
            local_allow: Vec::new(),
            hosts: Vec::new(),
            pinned: Vec::new(),
            grace: Duration::from_secs(10),
            follow: TailConfig::default(),
        }
    }
}

impl TailSection {
    /// What each served host may serve: its `allow` (or `local_allow`), else the catalog's
    /// files for its type and `/var/log`.
    pub fn roots(
        &self,
        catalog: &tailrace_schemas::Catalog,
    ) -> std::collections::HashMap<tailrace_schemas::HostId, Roots> {
        let mut map: std::collections::HashMap<_, _> = self
            .hosts
            .iter()
            .map(|h| (h.name.as_str().into(), Roots::for_host(&h.allow, catalog, &h.kind)))
            .collect();
        if self.serve_local {
            map.insert("local".into(), Roots::for_host(&self.local_allow, catalog, &self.local_kind));
        }
        map
    }

    /// Every host this producer serves, with its transport.
    pub fn transports(&self) -> std::collections::HashMap<tailrace_schemas::HostId, super::Transport> {
        let mut map: std::collections::HashMap<_, _> =
            self.hosts.iter().map(|h| (h.name.as_str().into(), super::Transport::ssh(h.clone()))).collect();
        if self.serve_local {
            map.insert("local".into(), super::Transport::Local);
        }
        map
    }
}
