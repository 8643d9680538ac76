//! Opening an authenticated SSH session, with failures sorted into what an operator can act on.

use std::sync::{Arc, Mutex};

use russh::client::{self, AuthResult, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::{load_secret_key, PrivateKeyWithHashAlg, PublicKey};
use tailrace_schemas::TailStatusKind;

use super::config::HostConfig;
use super::known_hosts::{self, HostKeyError, HostKeyPolicy};

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    #[error("authentication of {user}@{host} failed ({tried})")]
    AuthFailed { user: String, host: String, tried: String },
    #[error("cannot load key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("SSH connection to {host} failed: {reason}")]
    Protocol { host: String, reason: String },
}

impl SshError {
    /// The tail status an operator sees for this failure.
    pub fn status_kind(&self) -> TailStatusKind {
        match self {
            SshError::Unreachable { .. } => TailStatusKind::Unreachable,
            SshError::HostKey(HostKeyError::Changed { .. }) => TailStatusKind::HostKeyChanged,
            SshError::HostKey(_) => TailStatusKind::HostKeyUnknown,
            SshError::AuthFailed { .. } | SshError::Key { .. } => TailStatusKind::AuthFailed,
            SshError::Protocol { .. } => TailStatusKind::ConnectionLost,
        }
    }

    /// Whether trying again could help without someone changing a configuration.
    pub fn is_transient(&self) -> bool {
        matches!(self, SshError::Unreachable { .. } | SshError::Protocol { .. })
    }
}

/// Verifies the server's key; remembers why it refused, since russh reports only "rejected".
#[derive(Debug)]
pub struct Client {
    host: String,
    port: u16,
    known_hosts: std::path::PathBuf,
    policy: HostKeyPolicy,
    refusal: Arc<Mutex<Option<HostKeyError>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        // A host certificate is checked by its key like a plain key (no @cert-authority support).
        let key: PublicKey = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        match known_hosts::check(&self.host, self.port, &key, &self.known_hosts, self.policy) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.refusal.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                Ok(false)
            }
        }
    }
}

pub type SshSession = Handle<Client>;

/// Connects, verifies the host key and authenticates (key first, then password).
pub async fn connect(host: &HostConfig) -> Result<SshSession, SshError> {
    connect_with(host, false).await
}

/// [`connect`], asking the server to compress the session (zlib, after authentication, as
/// OpenSSH offers it) when `compress` is set: for bulk transfers of text over slow links.
pub async fn connect_with(host: &HostConfig, compress: bool) -> Result<SshSession, SshError> {
    let addr = format!("{}:{}", host.address, host.port);
    let mut preferred = russh::Preferred::default();
    if compress {
        use russh::compression::{NONE, ZLIB, ZLIB_LEGACY};
        preferred.compression = std::borrow::Cow::Borrowed(&[ZLIB_LEGACY, ZLIB, NONE]);
    }
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(std::time::Duration::from_secs(5)),
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..Default::default()
    });
    let refusal = Arc::new(Mutex::new(None));
    let handler = Client {
        host: host.address.clone(),
        port: host.port,
        known_hosts: host.known_hosts.clone(),
        policy: if host.trust_on_first_use { HostKeyPolicy::TrustOnFirstUse } else { HostKeyPolicy::Strict },
        refusal: refusal.clone(),
    };
    let socket = tokio::time::timeout(host.connect_timeout, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| SshError::Unreachable {
            addr: addr.clone(),
            reason: format!("no answer within {:?}", host.connect_timeout),
        })?
        .map_err(|e| SshError::Unreachable { addr: addr.clone(), reason: e.to_string() })?;
    let _ = socket.set_nodelay(true);
    let mut session = match client::connect_stream(config, socket, handler).await {
        Ok(s) => s,
        Err(e) => {
            if let Some(refused) = refusal.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                return Err(refused.into());
            }
            return Err(SshError::Protocol { host: addr, reason: e.to_string() });
        }
    };
    let proto = |e: russh::Error| SshError::Protocol { host: addr.clone(), reason: e.to_string() };
    let mut tried = Vec::new();
    if let Some(path) = &host.auth.key_file {
        let key = load_secret_key(path, host.auth.passphrase.as_deref())
            .map_err(|e| SshError::Key { path: path.display().to_string(), reason: e.to_string() })?;
        let hash = session.best_supported_rsa_hash().await.map_err(proto)?.flatten();
        let result = session
            .authenticate_publickey(&host.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(proto)?;
        if matches!(result, AuthResult::Success) {
            return Ok(session);
        }
        tried.push(format!("key {}", path.display()));
    }
    if let Some(password) = &host.auth.password {
        let result = session.authenticate_password(&host.user, password).await.map_err(proto)?;
        if matches!(result, AuthResult::Success) {
            return Ok(session);
        }
        tried.push("password".to_owned());
    }
    if tried.is_empty() {
        tried.push("no key_file or password configured".to_owned());
    }
    Err(SshError::AuthFailed { user: host.user.clone(), host: host.address.clone(), tried: tried.join(", ") })
}
