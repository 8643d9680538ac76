//! [`TailStatus`]: what a live tail is doing (`tail.status.{host}.{source}`, last per subject).
//!
//! `status` is the seed's three-word protocol (`started`, `stopped`, `error`) that pages switch
//! on; `kind` says exactly what happened, and `message` says it to a person.

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::{HostId, SourceId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailStatus {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    pub source: SourceId,
    pub path: String,
    pub status: TailState,
    pub kind: TailStatusKind,
    pub message: String,
    /// The byte offset delivered so far, when known.
    #[serde(default)]
    pub offset: Option<u64>,
    pub at: Timestamp,
}

/// The seed's coarse state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TailState {
    Started,
    Stopped,
    Error,
}

/// What exactly happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailStatusKind {
    Started,
    Stopped,
    /// Reconnected and continuing from the delivered offset.
    Resumed,
    /// The file was replaced; reading the new one from its beginning.
    Rotated,
    /// The file shrank; reading again from its beginning.
    Truncated,
    AuthFailed,
    Unreachable,
    HostKeyUnknown,
    HostKeyChanged,
    /// The file does not exist (yet); waiting for it.
    FileMissing,
    PermissionDenied,
    /// The connection dropped; reconnecting.
    ConnectionLost,
    /// The path is not served: outside the host's roots after resolving symlinks, or not a
    /// regular file. The tail ends.
    Refused,
}

impl TailStatusKind {
    pub fn state(self) -> TailState {
        use TailStatusKind::*;
        match self {
            Started | Resumed | Rotated | Truncated => TailState::Started,
            Stopped => TailState::Stopped,
            AuthFailed | Unreachable | HostKeyUnknown | HostKeyChanged | FileMissing | PermissionDenied
            | ConnectionLost | Refused => TailState::Error,
        }
    }
}

impl TailStatus {
    /// A status whose coarse `status` always agrees with its `kind`.
    pub fn new(host: HostId, source: SourceId, path: String, kind: TailStatusKind, message: String) -> Self {
        Self {
            v: <Self as Payload>::VERSION,
            host,
            source,
            path,
            status: kind.state(),
            kind,
            message,
            offset: None,
            at: Timestamp::now(),
        }
    }
}

impl Payload for TailStatus {
    const KIND: &'static str = "TailStatus";
    const VERSION: u16 = 1;
}
