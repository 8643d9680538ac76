//! A remote directory listing, asked for with a NATS request on `tail.list.{host}` and answered
//! by the producer that serves the host (the seed's dynamic `taillist`).

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::HostId;
use crate::time::Timestamp;

/// How the error of a listing refused by the host's allowed roots starts (the rest says why).
pub const NOT_SERVED: &str = "not served: ";

/// The request: which directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    #[serde(default = "v1")]
    pub v: u16,
    pub dir: String,
}

/// The answer: the directory's entries, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirListing {
    #[serde(default = "v1")]
    pub v: u16,
    pub host: HostId,
    pub dir: String,
    #[serde(default)]
    pub entries: Vec<DirEntry>,
    /// More entries existed than a listing returns.
    #[serde(default)]
    pub truncated: bool,
    /// Set when the directory could not be listed (missing, permission denied, host down).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    pub path: String,
    pub dir: bool,
    pub size: u64,
    #[serde(default)]
    pub modified: Option<Timestamp>,
}

impl Payload for ListRequest {
    const KIND: &'static str = "ListRequest";
    const VERSION: u16 = 1;
}

impl Payload for DirListing {
    const KIND: &'static str = "DirListing";
    const VERSION: u16 = 1;
}
