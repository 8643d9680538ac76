//! How to reach one host over SSH.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One entry of `[[tail.hosts]]`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// The name shown and used in subjects (`cvm-1`, or the address itself).
    pub name: String,
    /// Address to connect to: a DNS name or an IP.
    pub address: String,
    /// The host type, which selects the files offered for it (`gateway.catalog`): `cvm`, `linux`.
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub auth: SshAuth,
    /// The known_hosts file that host keys are checked against.
    pub known_hosts: PathBuf,
    /// Record the key of a host seen for the first time instead of refusing it. A changed key
    /// is refused in every mode.
    #[serde(default)]
    pub trust_on_first_use: bool,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// What this host may serve for live tail and listings (absolute paths, files or
    /// directories, judged after resolving symlinks on the host); empty: the catalog's files
    /// for its `kind` and `/var/log`. `/proc`, `/sys` and `/dev` are never served.
    #[serde(default)]
    pub allow: Vec<String>,
}

fn default_kind() -> String {
    "linux".to_owned()
}

fn default_port() -> u16 {
    22
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Key and/or password; the key is tried first.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshAuth {
    /// Private key file (OpenSSH format).
    pub key_file: Option<PathBuf>,
    /// Passphrase of `key_file`, if it is encrypted.
    pub passphrase: Option<String>,
    /// Password, when password authentication is to be used.
    pub password: Option<String>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("kind", &self.kind)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("key_file", &self.auth.key_file)
            .field("trust_on_first_use", &self.trust_on_first_use)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshAuth").field("key_file", &self.key_file).finish_non_exhaustive()
    }
}
