//! [`DeadLetter`]: a message a consumer gave up on, with the reason (`dlq.{consumer}`).

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::ConsumerName;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    #[serde(default = "v1")]
    pub v: u16,
    pub consumer: ConsumerName,
    pub stream: String,
    pub stream_seq: u64,
    /// The subject the message was published to.
    pub subject: String,
    /// How many times it was delivered before it was given up.
    pub deliveries: u64,
    /// Why the last attempt failed, as the handler said it.
    pub reason: String,
    pub failed_at: Timestamp,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

impl Payload for DeadLetter {
    const KIND: &'static str = "DeadLetter";
    const VERSION: u16 = 1;
}
