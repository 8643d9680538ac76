//! A configured target (`[[sync.targets]]`): the transport its host names, and one sync of it
//! with the source that transport reads through. The sync role and `tailrace sync` both use it.

use std::path::Path;

use tailrace_nats::Publisher;
use tailrace_schemas::categories::Rules;
use tailrace_schemas::{HostId, TargetId};

use super::config::{TargetConfig, Transfer};
use super::mirror::Mirror;
use super::run::{sync_target, Progress, Retention, SyncError, SyncOutcome, Target};
use super::sftp::SftpSource;
use super::shell::ShellSource;
use super::source::{Filter, LocalSource, SourceError};
use crate::ssh::config::HostConfig;
use crate::tail::transport::{Connection, Transport};

#[derive(Debug, thiserror::Error)]
#[error("sync target {target:?}: host {host:?} is not a [[tail.hosts]] entry (nor \"local\"); the hosts are: {known}")]
pub struct UnknownHost {
    pub target: String,
    pub host: String,
    pub known: String,
}

/// How `t`'s host is reached: `local`, or the `[[tail.hosts]]` entry of its name.
pub fn transport_for(t: &TargetConfig, hosts: &[HostConfig]) -> Result<Transport, UnknownHost> {
    if t.host == "local" {
        return Ok(Transport::Local);
    }
    hosts.iter().find(|h| h.name == t.host).map(|h| Transport::ssh(h.clone())).ok_or_else(|| UnknownHost {
        target: t.name.clone(),
        host: t.host.clone(),
        known: hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

/// Where `t` is mirrored: `data_dir/sync/{name}` (its files under `files/`, its manifest).
pub fn target_dir(data_dir: &Path, t: &TargetConfig) -> std::path::PathBuf {
    data_dir.join("sync").join(&t.name)
}

/// A target's way in: the local directory, or the SSH connection with the shell session (or
/// SFTP channel) a sync reads through. Whoever syncs keeps it for the next sync: the sync role
/// holds one per target between runs, so a scheduled sync costs no new login and no new remote
/// shell (whose startup files can take longer than the sync); `tailrace sync` opens one for
/// its one sync.
pub enum Link {
    Local(LocalSource),
    Shell(Box<ShellSource>),
    /// The connection is held for the channel's sake.
    Sftp(Box<(SftpSource, Connection)>),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Link::Local(_) => "Link::Local",
            Link::Shell(_) => "Link::Shell",
            Link::Sftp(..) => "Link::Sftp",
        })
    }
}

impl Link {
    /// Connects to `t`'s host through `transport`, with the transfer `t` asks for (in `auto`,
    /// the probe for a shell starts the session the syncs then use).
    pub async fn open(t: &TargetConfig, transport: &Transport) -> Result<Self, String> {
        let filter = Filter::new(&t.include, &t.exclude).map_err(|e| e.to_string())?;
        if let Transport::Local = transport {
            return Ok(Link::Local(LocalSource::new(&t.remote_path, filter)));
        }
        let connection =
            transport.connect_with(t.compress).await.map_err(|e| format!("connecting to {}: {e}", t.host))?;
        let connection = if t.transfer == Transfer::Sftp {
            connection
        } else {
            let source = ShellSource::new(connection, t.remote_path.clone(), filter.clone());
            if t.transfer == Transfer::Shell || source.has_shell().await {
                return Ok(Link::Shell(Box::new(source)));
            }
            source.into_connection()
        };
        let Connection::Ssh(session) = &connection else { unreachable!("an SSH transport") };
        let source = SftpSource::open(session, t.remote_path.clone(), filter)
            .await
            .map_err(|e| format!("{}: {e}", t.host))?;
        Ok(Link::Sftp(Box::new((source, connection))))
    }

    /// Commands run on the host through this link so far, each a start of the user's shell
    /// there (0 unless it is a shell link).
    pub fn execs(&self) -> u64 {
        match self {
            Link::Shell(source) => source.execs(),
            _ => 0,
        }
    }
}

/// One sync of `t` through `link` (opened first when there is none). A link that fails is
/// dropped; when it was one kept from an earlier sync (a host restarted, a link cut while
/// idle), the sync is tried once more on a new one at once.
pub async fn sync_configured(
    t: &TargetConfig,
    link: &mut Option<Link>,
    transport: &Transport,
    data_dir: &Path,
    rules: &Rules,
    publisher: &Publisher,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<SyncOutcome, String> {
    let dir = target_dir(data_dir, t);
    let target = Target {
        name: TargetId::new(t.name.clone()),
        host: HostId::new(t.host.clone()),
        mirror: Mirror::new(dir.join("files")),
        manifest: dir.join("manifest.json"),
        rules,
        bandwidth: t.bandwidth.unwrap_or(0),
        retention: Retention { compress_after: t.compress_after, delete_after: t.delete_after },
    };
    let kept = link.is_some();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let opened = match link.take() {
            Some(l) => l,
            None => Link::open(t, transport).await?,
        };
        let outcome = match &opened {
            Link::Local(source) => sync_target(&target, source, publisher, &mut on_progress).await,
            Link::Shell(source) => sync_target(&target, &**source, publisher, &mut on_progress).await,
            Link::Sftp(sftp) => sync_target(&target, &sftp.0, publisher, &mut on_progress).await,
        };
        match outcome {
            Ok(o) => {
                // A link that failed a file may be cut: the next sync connects again.
                if o.errors.is_empty() {
                    *link = Some(opened);
                }
                return Ok(o);
            }
            // A kept link fails at the listing, the sync's first request, when it was cut.
            Err(SyncError::Source(e @ SourceError::List { .. })) if kept && attempt == 1 => {
                tracing::info!(target = t.name.as_str(), error = %e, "the kept link failed; syncing again on a new one");
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
