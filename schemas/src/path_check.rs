//! May a path be tailed on a host? Asked with a NATS request on `tail.check.{host}` before a
//! tail is started, answered by the producer that serves the host after resolving the path's
//! symlinks *on the host*, so the gateway can refuse with a clear error instead of starting a
//! tail that its producer will refuse.

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::HostId;

/// The request: which path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathCheck {
    #[serde(default = "v1")]
    pub v: u16,
    pub path: String,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathVerdict {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    pub path: String,
    /// The path with every symlink resolved, when it could be resolved.
    #[serde(default)]
    pub resolved: Option<String>,
    pub verdict: Verdict,
    /// Why, for a person (empty when allowed).
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A readable regular file inside the host's roots.
    Allowed,
    /// Inside the roots but absent (or unreadable) now: the tail waits for it and says so.
    Waiting,
    /// Outside the host's roots, or under /proc, /sys or /dev.
    Outside,
    /// A directory, device or socket: nothing a tail can follow.
    NotAFile,
    /// The host could not be asked (unreachable, authentication failed): the tail itself
    /// checks again once it connects.
    Unchecked,
}

impl Payload for PathCheck {
    const KIND: &'static str = "PathCheck";
    const VERSION: u16 = 1;
}

impl Payload for PathVerdict {
    const KIND: &'static str = "PathVerdict";
    const VERSION: u16 = 1;
}
