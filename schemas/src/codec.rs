//! Encoding and decoding of payloads.
//!
//! The wire format is MessagePack with named fields (a map per struct), so a message is
//! self-describing and a reader in any language decodes it without our types. JSON is accepted
//! wherever MessagePack is, so controllers and `curl` can publish JSON: the two are told apart by
//! the first byte (`{` is 0x7B, which no MessagePack map starts with).
//!
//! A payload may also be one zstd frame around the MessagePack or JSON ([`compress`]): the
//! publisher compresses long payloads, as Kafka producers compress their batches, because on the
//! hot path (a `LogBatch` of hundreds of lines stored in LOGS, read, and stored again in
//! CLASSIFIED) the broker's cost is per stored byte and log lines compress 5x to 15x at several
//! hundred MB/s. A reader tells a frame by its first four bytes ([`ZSTD_MAGIC`], `28 b5 2f fd`,
//! which start no MessagePack map and no JSON document); [`decode`] takes either, and refuses
//! frames that claim more than [`MAX_DECOMPRESSED`] bytes.

use std::cell::RefCell;
use std::io::Read;

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
    #[error("invalid {kind} (zstd frame): {reason}")]
    Compressed { kind: &'static str, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode {kind}: {source}")]
    MessagePack { kind: &'static str, source: rmp_serde::encode::Error },
    #[error("cannot encode {kind} as JSON: {source}")]
    Json { kind: &'static str, source: serde_json::Error },
}

/// The most bytes a compressed payload may claim to hold; larger frames are refused.
pub const MAX_DECOMPRESSED: usize = 64 << 20;
/// The zstd frame magic number, as it starts a frame on the wire.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const LEVEL: i32 = 1;

thread_local! {
    // Contexts are reused: creating one costs about as much as compressing a small batch.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Whether the bytes are a zstd frame (a compressed payload).
pub fn is_compressed(bytes: &[u8]) -> bool {
    bytes.starts_with(&ZSTD_MAGIC)
}

/// Whether the bytes look like a JSON document rather than MessagePack.
pub fn is_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{')
}

/// Encodes for the wire: MessagePack with named fields. (The publisher compresses it when it is
/// long enough; see the module's documentation.)
pub fn encode<T: Payload>(value: &T) -> Result<Vec<u8>, EncodeError> {
    rmp_serde::to_vec_named(value).map_err(|source| EncodeError::MessagePack { kind: T::KIND, source })
}

/// One zstd frame (level 1) holding `plain`, with its size in the frame header.
pub fn compress(plain: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let compressor = match &mut *c {
            Some(compressor) => compressor,
            None => c.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        compressor.compress(plain)
    })
}

/// The bytes a compressed payload holds: at most [`MAX_DECOMPRESSED`].
pub fn decompress(frame: &[u8]) -> Result<Vec<u8>, String> {
    let too_large = || format!("holds more than {MAX_DECOMPRESSED} bytes");
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size > MAX_DECOMPRESSED as u64 => Err(too_large()),
        Ok(Some(size)) => DECOMPRESSOR.with(|d| {
            let mut d = d.borrow_mut();
            let decompressor = match &mut *d {
                Some(decompressor) => decompressor,
                None => d.insert(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?),
            };
            let plain = decompressor.decompress(frame, size as usize).map_err(|e| e.to_string())?;
            if plain.len() as u64 != size {
                return Err(format!("holds {} bytes where its header says {size}", plain.len()));
            }
            Ok(plain)
        }),
        // Frames written by other tools may leave the size out: read up to the limit.
        Ok(None) => {
            let mut plain = Vec::new();
            zstd::stream::read::Decoder::with_buffer(frame)
                .map_err(|e| e.to_string())?
                .take(MAX_DECOMPRESSED as u64 + 1)
                .read_to_end(&mut plain)
                .map_err(|e| e.to_string())?;
            if plain.len() > MAX_DECOMPRESSED {
                return Err(too_large());
            }
            Ok(plain)
        }
        Err(_) => Err("the frame header is truncated or corrupt".to_owned()),
    }
}

/// Encodes for the edges: JSON.
pub fn encode_json<T: Payload>(value: &T) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(value).map_err(|source| EncodeError::Json { kind: T::KIND, source })
}

/// Decodes MessagePack or JSON, either of them possibly in a zstd frame, any schema version up
/// to this build's, ignoring unknown fields.
pub fn decode<T: Payload>(bytes: &[u8]) -> Result<T, DecodeError> {
    if is_compressed(bytes) {
        let plain = decompress(bytes).map_err(|reason| DecodeError::Compressed { kind: T::KIND, reason })?;
        return decode_plain(&plain);
    }
    decode_plain(bytes)
}

fn decode_plain<T: Payload>(bytes: &[u8]) -> Result<T, DecodeError> {
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
