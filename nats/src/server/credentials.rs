//! The managed server's secrets, generated into the store directory on first start (mode
//! 0600) and read by every role of the process and by `tailrace` subcommands on the machine:
//!
//! - [`Credentials`]: a user and a random password the server requires of every client.
//!   Without them any local user could reach the broker and read or rewrite every stream,
//!   whatever roles the gateway enforces. The password is given to nats-server in a config
//!   file, never on its command line (which every user can read in /proc).
//! - [`TlsIdentity`]: a self-signed certificate the server presents and its clients pin. It
//!   proves the server is ours: a process that takes the port while the managed server is down
//!   (or before `tailrace streams apply` runs) fails the handshake, so no client sends it the
//!   password or creates a stream in it.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Secret;

const FILE: &str = "client-credentials.json";
const SERVER_CONF: &str = "server.conf";
const USER: &str = "tailrace";

/// The user and password of the managed server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no credentials of a managed nats-server at {path}: is `tailrace run` running (or has it \
         ever run) with this data_dir? ({source})"
    )]
    Missing { path: PathBuf, source: std::io::Error },
    #[error("the managed server's credentials {path} are unreadable: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl Credentials {
    /// Where the credentials of the server with store `store` are kept.
    pub fn path(store: &Path) -> PathBuf {
        store.join(FILE)
    }

    /// Reads the credentials a managed server on `store` was started with.
    pub fn load(store: &Path) -> Result<Self, CredentialsError> {
        let path = Self::path(store);
        let bytes = std::fs::read(&path)
            .map_err(|source| CredentialsError::Missing { path: path.clone(), source })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CredentialsError::Unreadable { path, reason: e.to_string() })
    }

    /// The credentials of `store`, generated and written (0600) if there are none yet.
    pub fn load_or_create(store: &Path) -> Result<Self, CredentialsError> {
        match Self::load(store) {
            Ok(c) => return Ok(c),
            Err(CredentialsError::Missing { .. }) => {}
            Err(e) => return Err(e),
        }
        let path = Self::path(store);
        let write = |source| CredentialsError::Write { path: path.clone(), source };
        let creds = Credentials {
            user: USER.to_owned(),
            password: Secret::new(crate::random_hex(32).map_err(write)?),
        };
        let json = serde_json::to_vec_pretty(&creds).expect("credentials serialize");
        write_private(&path, &json).map_err(write)?;
        Ok(creds)
    }

    /// Writes the server's config file (0600): its `authorization` block and `extra` (more
    /// settings); returns its path, for `-c`.
    pub fn write_server_conf(&self, store: &Path, extra: &str) -> Result<PathBuf, CredentialsError> {
        let path = store.join(SERVER_CONF);
        let conf = format!(
            "# Written by tailrace at every start of the managed server; edits are lost.\n\
             authorization {{\n  user: {}\n  password: {}\n}}\n{extra}",
            serde_json::to_string(&self.user).expect("a string serializes"),
            serde_json::to_string(self.password.expose()).expect("a string serializes"),
        );
        write_private(&path, conf.as_bytes())
            .map_err(|source| CredentialsError::Write { path: path.clone(), source })?;
        Ok(path)
    }
}

/// The managed server's certificate and key, and the names it is valid for.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

const CERT: &str = "server-cert.pem";
const KEY: &str = "server-key.pem";

impl TlsIdentity {
    /// The identity of the server with store `store`, as files (they may not exist yet).
    pub fn of(store: &Path) -> Self {
        Self { cert: store.join(CERT), key: store.join(KEY) }
    }

    /// The identity of `store`, generated (a self-signed certificate for localhost, 127.0.0.1,
    /// ::1 and `extra_ip`) if there is none yet.
    pub fn load_or_create(
        store: &Path,
        extra_ip: Option<std::net::IpAddr>,
    ) -> Result<Self, CredentialsError> {
        let id = Self::of(store);
        if id.cert.is_file() && id.key.is_file() {
            return Ok(id);
        }
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
        names.extend(extra_ip.filter(|ip| !ip.is_unspecified()).map(|ip| ip.to_string()));
        let generate = || -> Result<(String, String), rcgen::Error> {
            let mut params = rcgen::CertificateParams::new(names.clone())?;
            params.distinguished_name.push(rcgen::DnType::CommonName, "tailrace managed nats-server");
            // Long-lived: it is pinned, not trusted through a chain, and rotates by deleting it.
            params.not_after = rcgen::date_time_ymd(2099, 12, 31);
            let key = rcgen::KeyPair::generate()?;
            let cert = params.self_signed(&key)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (cert, key) = generate().map_err(|e| CredentialsError::Write {
            path: id.cert.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        write_private(&id.key, key.as_bytes())
            .map_err(|source| CredentialsError::Write { path: id.key.clone(), source })?;
        write_private(&id.cert, cert.as_bytes())
            .map_err(|source| CredentialsError::Write { path: id.cert.clone(), source })?;
        Ok(id)
    }

    /// The identity a running managed server of `store` presents.
    pub fn load(store: &Path) -> Result<Self, CredentialsError> {
        let id = Self::of(store);
        if !id.cert.is_file() {
            return Err(CredentialsError::Missing {
                path: id.cert,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        Ok(id)
    }
}

/// Replaces `path` with `bytes`, readable by its owner only, never visible half-written.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn are_generated_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = Credentials::load_or_create(dir.path()).unwrap();
        let b = Credentials::load_or_create(dir.path()).unwrap();
        assert_eq!(a.password.expose(), b.password.expose());
        assert_eq!(a.password.expose().len(), 64);
        let mode = std::fs::metadata(Credentials::path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let conf = a.write_server_conf(dir.path(), "").unwrap();
        assert!(std::fs::read_to_string(conf).unwrap().contains(a.password.expose()));
        assert!(!format!("{a:?}").contains(a.password.expose()), "Debug hides the password");
        let id = TlsIdentity::load_or_create(dir.path(), None).unwrap();
        let pem = std::fs::read_to_string(&id.cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let again = TlsIdentity::load_or_create(dir.path(), None).unwrap();
        assert_eq!(std::fs::read_to_string(again.cert).unwrap(), pem, "generated once");
        let mode = std::fs::metadata(&id.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn missing_credentials_say_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let err = Credentials::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("tailrace run") && err.contains(FILE), "{err}");
    }
}
