//! [`Credentials`] of the managed server: a user and a random password generated into the
//! store directory on first start (mode 0600), required by the server for every connection and
//! read by every role of the process and by `tailrace` subcommands on the same machine.
//!
//! Without them any local user could reach the broker and read or rewrite every stream,
//! whatever roles the gateway enforces. The password is given to nats-server in a config file,
//! never on its command line (which every user can read in /proc).

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
        let creds =
            Credentials { user: USER.to_owned(), password: Secret::new(random_hex(32).map_err(write)?) };
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

/// Replaces `path` with `bytes`, readable by its owner only, never visible half-written.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
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
    }

    #[test]
    fn missing_credentials_say_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let err = Credentials::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("tailrace run") && err.contains(FILE), "{err}");
    }
}
