//! Encoding and decoding of payloads.
//!
//! The wire format is MessagePack with named fields (a map per struct), so a message is
//! self-describing and a reader in any language decodes it without our types. JSON is accepted
//! wherever MessagePack is, so controllers and `curl` can publish JSON: the two are told apart by
//! the first byte (`{` is 0x7B, which no MessagePack map starts with).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A message type with a subject of its own and a schema version.
pub trait Payload: Serialize + DeserializeOwned {
    /// The type's name in errors and documentation (`LogBatch`).
    const KIND: &'static str;
    /// The schema version this build writes.
    const VERSION: u16;
}

/// The payload could not be decoded; the message names the type and the field when known.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload where a {kind} was expected")]
    Empty { kind: &'static str },
    #[error("invalid {kind} (JSON): {source}")]
    Json { kind: &'static str, source: serde_json::Error },
    #[error("invalid {kind} (MessagePack): {source}")]
    MessagePack { kind: &'static str, source: rmp_serde::decode::Error },
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode {kind}: {source}")]
    MessagePack { kind: &'static str, source: rmp_serde::encode::Error },
    #[error("cannot encode {kind} as JSON: {source}")]
    Json { kind: &'static str, source: serde_json::Error },
}

/// Whether the bytes look like a JSON document rather than MessagePack.
pub fn is_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{')
}

/// Encodes for the wire: MessagePack with named fields.
pub fn encode<T: Payload>(value: &T) -> Result<Vec<u8>, EncodeError> {
    rmp_serde::to_vec_named(value).map_err(|source| EncodeError::MessagePack { kind: T::KIND, source })
}

/// Encodes for the edges: JSON.
pub fn encode_json<T: Payload>(value: &T) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(value).map_err(|source| EncodeError::Json { kind: T::KIND, source })
}

/// Decodes MessagePack or JSON, any schema version up to this build's, ignoring unknown fields.
pub fn decode<T: Payload>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty { kind: T::KIND });
    }
    if is_json(bytes) {
        serde_json::from_slice(bytes).map_err(|source| DecodeError::Json { kind: T::KIND, source })
    } else {
        rmp_serde::from_slice(bytes).map_err(|source| DecodeError::MessagePack { kind: T::KIND, source })
    }
}

/// `v` for payloads written before versions were recorded.
pub(crate) const fn v1() -> u16 {
    1
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
