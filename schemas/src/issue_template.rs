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
}

impl Payload for IssueTemplate {
    const KIND: &'static str = "IssueTemplate";
    const VERSION: u16 = 1;
}
