//! Host keys are checked against an OpenSSH known_hosts file (through russh's reader and
//! writer of that format). Strict by default: an unknown key is refused. With trust on first
//! use, a host with no recorded key has its key recorded. A host whose recorded keys do not
//! include the offered one is refused in every mode: that is what a changed key looks like.

use std::path::Path;

use russh::keys::{known_hosts, PublicKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    Strict,
    TrustOnFirstUse,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HostKeyError {
    #[error("host key of {host} ({fingerprint}) is not in {known_hosts}; add it (ssh-keyscan) or enable trust on first use")]
    Unknown { host: String, fingerprint: String, known_hosts: String },
    #[error("host key of {host} has CHANGED ({fingerprint} is not the key recorded at {known_hosts}:{line}); refusing to connect")]
    Changed { host: String, fingerprint: String, known_hosts: String, line: usize },
    #[error("cannot read or write {known_hosts}: {reason}")]
    File { known_hosts: String, reason: String },
}

/// Decides whether `key`, offered by `host:port`, may be trusted.
pub fn check(
    host: &str,
    port: u16,
    key: &PublicKey,
    path: &Path,
    policy: HostKeyPolicy,
) -> Result<(), HostKeyError> {
    let shown = path.display().to_string();
    let fingerprint = key.fingerprint(Default::default()).to_string();
    let recorded = if path.exists() {
        known_hosts::known_host_keys_path(host, port, path)
            .map_err(|e| HostKeyError::File { known_hosts: shown.clone(), reason: e.to_string() })?
    } else {
        Vec::new()
    };
    if recorded.iter().any(|(_, k)| k.key_data() == key.key_data()) {
        return Ok(());
    }
    if let Some((line, _)) = recorded.first() {
        return Err(HostKeyError::Changed {
            host: host.to_owned(),
            fingerprint,
            known_hosts: shown,
            line: *line,
        });
    }
    match policy {
        HostKeyPolicy::Strict => {
            Err(HostKeyError::Unknown { host: host.to_owned(), fingerprint, known_hosts: shown })
        }
        HostKeyPolicy::TrustOnFirstUse => {
            known_hosts::learn_known_hosts_path(host, port, key, path)
                .map_err(|e| HostKeyError::File { known_hosts: shown, reason: e.to_string() })?;
            tracing::warn!(host, port, %fingerprint, "trusting a host key on first use");
            Ok(())
        }
    }
}
