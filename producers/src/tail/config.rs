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

/// A `[tail]` setting that cannot be used, naming it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TailConfigError {
    #[error("{field}: {value:?} is neither an absolute path nor a journal root (`journal:`, `journal/NAMESPACE:` or a journal source such as `journal:ssh.service`)")]
    Allow { field: String, value: String },
}

impl TailSection {
    /// Every `allow` and `local_allow` entry is an absolute path or a journal root: anything
    /// else would be dropped without a word and serve nothing.
    pub fn validate(&self) -> Result<(), TailConfigError> {
        let lists = std::iter::once(("tail.local_allow".to_owned(), &self.local_allow))
            .chain(self.hosts.iter().enumerate().map(|(i, h)| (format!("tail.hosts[{i}].allow"), &h.allow)));
        for (field, list) in lists {
            for (j, value) in list.iter().enumerate() {
                if !(value.starts_with('/') || tailrace_schemas::journal::is_root(value)) {
                    return Err(TailConfigError::Allow {
                        field: format!("{field}[{j}]"),
                        value: value.clone(),
                    });
                }
            }
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_entry_that_serves_nothing_is_named() {
        let mut t = TailSection {
            local_allow: vec![
                "/var/log".into(),
                "journal:".into(),
                "journal/app:".into(),
                "journal:ssh.service".into(),
            ],
            ..Default::default()
        };
        assert_eq!(t.validate(), Ok(()));
        for bad in ["var/log", "journal/app", "journal", "journal/a b:"] {
            t.local_allow = vec!["/var/log".into(), bad.into()];
            let e = t.validate().unwrap_err().to_string();
            assert!(e.starts_with("tail.local_allow[1]: "), "{bad}: {e}");
        }
    }
}
