//! [`IssueTemplate`]: one learned event template, the value of key `{fingerprint}` in the
//! `fingerprint-templates` KV bucket; [`SourceShape`]: what was learned of one source's header,
//! the value of key `shape.{source}` in the same bucket. Every instance of the fingerprint processor writes the
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
    /// Wildcard positions where only masked values (numbers, addresses, ids) have stood, so a
    /// plain word there is a difference. Absent in templates of older builds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<u32>,
    /// The version of the masking rules the template's text was made under: absent (0) in
    /// templates of builds before quoted values were one token, whose text a newer build masks
    /// again as it loads them.
    #[serde(default)]
    pub masking: u16,
    /// The version of the grouping rules the template was made under: absent (0) in templates
    /// of builds that grouped lines by a first token that was a variable. A newer build keeps
    /// giving such a template the lines it took, so its fingerprint goes on.
    #[serde(default)]
    pub grouping: u16,
}

impl Payload for IssueTemplate {
    const KIND: &'static str = "IssueTemplate";
    const VERSION: u16 = 1;
}

/// How many leading columns of a source's messages are header fields the rules did not
/// recognize, learned from the source's own lines: the value of key `shape.{source}` (the
/// source's hash, 16 hex digits) in the `fingerprint-templates` bucket, so every instance and
/// restart cuts the source's lines alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceShape {
    #[serde(default = "v1")]
    pub v: u16,
    /// The source's hash (FNV-1a of `host`, a zero byte, `source`).
    pub source: u64,
    /// Leading message columns cut as header.
    pub cut: u8,
}

impl SourceShape {
    /// The bucket key prefix of source shapes (template keys are bare fingerprints).
    pub const KEY_PREFIX: &'static str = "shape.";
}

impl Payload for SourceShape {
    const KIND: &'static str = "SourceShape";
    const VERSION: u16 = 1;
}
