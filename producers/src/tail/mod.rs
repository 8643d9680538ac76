//! The live tail: one file on one host, followed by byte offsets (or one journal source,
//! followed by its cursor) and published as `LogBatch`es, with its state published as
//! `TailStatus`.
//!
//! - `follow.pl` and `follow.sh`: the follower program, run on the host (over SSH, or locally)
//!   with perl where it has it (one process, no forks), else with bash.
//! - [`frames`]: parses the follower's output.
//! - [`journal`]: a systemd journal as the source instead of a file (`journal:ssh.service`):
//!   `journalctl --follow --output=json` on the host, resumed by the journal's cursor.
//! - [`lines`]: bytes to lines with offsets.
//! - [`transport`]: where the follower runs (an SSH exec channel, or a local child).
//! - [`roots`]: what a host may serve; [`check`]: a path checked against them on the host,
//!   after resolving its symlinks there.
//! - [`run`]: the loop: connect, check, follow, batch, publish, report, reconnect and resume.
//! - [`supervisor`]: runs the tails the `tail-sessions` bucket wants.
//! - [`role`]: [`start`], the producer as a role: hosts advertised, tails supervised.
//! - [`hosts`]: advertises this producer's hosts in `tail-hosts` and answers `tail.list.{host}`
//!   with [`listing`]s of their directories.

pub mod check;
pub mod config;
pub mod frames;
pub mod hosts;
pub mod journal;
pub mod lines;
pub mod listing;
pub mod role;
pub mod roots;
pub mod run;
pub mod supervisor;
pub mod transport;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tailrace_schemas::{HostId, SourceId};

pub use config::TailSection;
pub use hosts::HostService;
pub use role::{start, Producer, Serves, StartError};
pub use roots::Roots;
pub use run::{resume_point, run_tail, ResumePoint, TailEnd};
pub use supervisor::TailSupervisor;
pub use transport::{FollowerKind, Transport};

/// What to tail: a file on a host, published under a source name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TailSpec {
    pub host: HostId,
    pub source: SourceId,
    pub path: String,
}

/// The `[tail]` settings shared by every tail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Lines sent from the end of the file when a tail starts fresh.
    pub last_lines: u32,
    /// A batch is published when it holds this many lines, or this many bytes, or when the
    /// follower's chunk ends (new bytes are never held back waiting for more).
    pub batch_lines: usize,
    pub batch_bytes: usize,
    /// Which follower runs on the host: `auto` (Perl where the host has perl, else bash),
    /// `perl` or `bash`.
    pub follower: transport::FollowerKind,
    /// How often the follower looks for new bytes when it cannot use inotify (with it, a
    /// change wakes the follower at once).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longest line kept whole; longer lines are cut into pieces of this size.
    pub max_line_bytes: usize,
    /// First delay before reconnecting; doubled per failure.
    #[serde(with = "humantime_serde")]
    pub reconnect_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub max_reconnect_delay: Duration,
}

impl Default for TailConfig {
    fn default() -> Self {
        Self {
            last_lines: 100,
            follower: transport::FollowerKind::Auto,
            batch_lines: 512,
            batch_bytes: 256 * 1024,
            poll_interval: Duration::from_millis(20),
            max_line_bytes: 64 * 1024,
            reconnect_delay: Duration::from_millis(200),
            max_reconnect_delay: Duration::from_secs(10),
        }
    }
}
