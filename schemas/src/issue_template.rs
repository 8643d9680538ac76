//! [`IssueTemplate`]: one learned event template, the value of key `{fingerprint}` in the
//! `fingerprint-templates` KV bucket. Every instance of the fingerprint processor writes the
//! templates it learns there and absorbs the others', so fingerprints survive restarts and agree
//! between instances.

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::Fingerprint;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueTemplate {
    #[serde(default = "v1")]
    pub v: u16,
    pub fingerprint: Fingerprint,
    /// Space-separated tokens, `<*>` where the template's lines differ.
    pub template: String,
    /// Positions whose word enough distinct lines agreed on that it is the event's own (a line
    /// with another word there is another event). Absent in templates of older builds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settled: Vec<u32>,
}

impl Payload for IssueTemplate {
    const KIND: &'static str = "IssueTemplate";
    const VERSION: u16 = 1;
}
