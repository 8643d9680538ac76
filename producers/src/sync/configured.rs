//! A configured target (`[[sync.targets]]`): the transport its host names, and one sync of it
//! with the source that transport reads through. The sync role and `tailrace sync` both use it.

use std::path::Path;

use tailrace_nats::Publisher;
use tailrace_schemas::categories::Rules;
use tailrace_schemas::{HostId, TargetId};

use super::config::{TargetConfig, Transfer};
use super::mirror::Mirror;
use super::run::{sync_target, Progress, Retention, SyncOutcome, Target};
use super::sftp::SftpSource;
use super::shell::ShellSource;
use super::source::{Filter, LocalSource};
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

/// One sync of `t` through `transport` (a fresh connection, closed after).
pub async fn sync_configured(
    t: &TargetConfig,
    transport: &Transport,
    data_dir: &Path,
    rules: &Rules,
    publisher: &Publisher,
    on_progress: impl FnMut(&Progress) + Send,
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
    let filter = Filter::new(&t.include, &t.exclude).map_err(|e| e.to_string())?;
    let outcome = match transport {
        Transport::Local => {
            sync_target(&target, &LocalSource::new(&t.remote_path, filter), publisher, on_progress).await
        }
        ssh => {
            let connection =
                ssh.connect_with(t.compress).await.map_err(|e| format!("connecting to {}: {e}", t.host))?;
            let connection = if t.transfer == Transfer::Sftp {
                connection
            } else {
                let source = ShellSource::new(connection, t.remote_path.clone(), filter.clone());
                // In auto, the probe starts the session the sync then uses: the host's shell
                // starts once.
                if t.transfer == Transfer::Shell || source.has_shell().await {
                    return sync_target(&target, &source, publisher, on_progress)
                        .await
                        .map_err(|e| e.to_string());
                }
                source.into_connection()
            };
            let Connection::Ssh(session) = &connection else { unreachable!("an SSH transport") };
            let source = SftpSource::open(session, t.remote_path.clone(), filter)
                .await
                .map_err(|e| format!("{}: {e}", t.host))?;
            sync_target(&target, &source, publisher, on_progress).await
        }
    };
    outcome.map_err(|e| e.to_string())
}
