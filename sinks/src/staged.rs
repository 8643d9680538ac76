//! [`Staged`]: the writes of one flush. A sink reads its rows through it (its own staged writes
//! first, then the tree) and writes into it; the runtime applies them, with the last applied
//! sequence, as one sled batch, and makes it durable before the inputs are acked.
//!
//! A row a sink changes many times in one window (a rollup every message of an hour adds to)
//! is best kept decoded: [`Staged::entry`] decodes it once, hands out `&mut` to it for the rest
//! of the window, and encodes it once when the batch is made.
//!
//! Rows are stored as MessagePack arrays (field order, no names): a rollup of a thousand
//! customers would otherwise spend most of its bytes on repeating field names. Reading accepts
//! maps too (rows written before). So a row type may gain fields only at its end, each with
//! `#[serde(default)]`, and never loses or reorders one.

use std::any::Any;
use std::collections::BTreeMap;

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tailrace_schemas::StreamName;

use crate::tables::applied_key;

pub struct Staged {
    tree: sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Rows held decoded, encoded into the batch at the end.
    decoded: HashMap<RowKey, Box<dyn DecodedRow>, foldhash::fast::RandomState>,
    /// What a sink gathers over the window to fold in when it closes ([`Staged::gathered`]).
    gathered: Option<Box<dyn Any + Send>>,
}

/// A key as a window holds it, and as sinks build the keys of rows many messages share: up to
/// 48 bytes on the stack or in the table itself. A window holds thousands of rows, and a key
/// behind a pointer was a second cache miss on every lookup.
pub type RowKey = smallvec::SmallVec<[u8; 48]>;

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("writes", &self.writes.len())
            .field("decoded", &self.decoded.len())
            .finish()
    }
}

/// A row as stored (see the module's note on arrays).
pub fn encode<T: Serialize + ?Sized>(row: &T) -> Vec<u8> {
    rmp_serde::to_vec(row).expect("rows serialize")
}

/// A row type [`Staged::entry`] can hold.
pub trait Row: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Row for T {}

trait DecodedRow: Send {
    fn encode(&self) -> Vec<u8>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Row> DecodedRow for T {
    fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The row under `key` among the staged `writes`, else in `tree` (not among the decoded rows).
fn stored<T: DeserializeOwned>(
    tree: &sled::Tree,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    key: &[u8],
) -> Result<Option<T>, RowError> {
    match writes.get(key) {
        Some(staged) => decode_row(key, staged.as_deref()),
        None => decode_row(key, tree.get(key)?.as_deref()),
    }
}

fn decode_row<T: DeserializeOwned>(key: &[u8], bytes: Option<&[u8]>) -> Result<Option<T>, RowError> {
    match bytes {
        None => Ok(None),
        Some(bytes) => rmp_serde::from_slice(bytes).map(Some).map_err(|e| RowError::Decode {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The row under `key` as staged or stored, taken out of the staged `writes` to be held
/// decoded; `new` when there is none or it does not decode (started over rather than stopping
/// the table).
fn read_or_new<T: DeserializeOwned>(
    tree: &sled::Tree,
    writes: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    key: &[u8],
    new: impl FnOnce() -> T,
) -> Result<T, RowError> {
    let row = match stored::<T>(tree, writes, key) {
        Ok(Some(row)) => row,
        Ok(None) => new(),
        Err(RowError::Decode { key, reason }) => {
            tracing::warn!(key, reason, "a stored row does not decode; starting it over");
            new()
        }
        Err(e) => return Err(e),
    };
    writes.remove(key);
    Ok(row)
}

/// The same key held as another type in this window: a sink's bug, said plainly.
fn held_as_another_type<T>(key: &[u8]) -> RowError {
    RowError::Decode {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: format!("held as another type than {}", std::any::type_name::<T>()),
    }
}

/// A stored row that does not decode (written by a newer build, or damaged).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("reading the tables: {0}")]
    Sled(#[from] sled::Error),
    #[error("row {key}: {reason}")]
    Decode { key: String, reason: String },
}

impl Staged {
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self { tree, writes: BTreeMap::new(), decoded: HashMap::default(), gathered: None }
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.decoded.is_empty() && self.gathered.is_none()
    }

    /// What the sink gathers in this window, made by default at the window's first call: work
    /// a sink does better once per window than once per message (folding every message of a
    /// row into it in one run), done in [`crate::runtime::Sink::close`]. It lives and dies with
    /// the window's rows, so a window that fails to be written leaves nothing of it behind.
    pub fn gathered<T: Default + Send + 'static>(&mut self) -> &mut T {
        let held = self.gathered.get_or_insert_with(|| Box::new(T::default()));
        if !held.is::<T>() {
            // One sink, one type: another type means a sink's bug, not data.
            *held = Box::new(T::default());
        }
        held.downcast_mut::<T>().expect("just made of this type")
    }

    /// What [`Staged::gathered`] holds, taken out (default when nothing was gathered).
    pub fn take_gathered<T: Default + Send + 'static>(&mut self) -> T {
        self.gathered.take().and_then(|held| held.downcast::<T>().ok()).map_or_else(T::default, |held| *held)
    }

    /// The current bytes under `key`: staged, else stored.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        if let Some(row) = self.decoded.get(key) {
            return Ok(Some(row.encode()));
        }
        match self.writes.get(key) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    /// Whether a row is under `key` (staged or stored).
    pub fn contains(&self, key: &[u8]) -> Result<bool, sled::Error> {
        if self.decoded.contains_key(key) {
            return Ok(true);
        }
        match self.writes.get(key) {
            Some(staged) => Ok(staged.is_some()),
            None => self.tree.contains_key(key),
        }
    }

    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.decoded.remove(key.as_slice());
        self.writes.insert(key, Some(value));
    }

    pub fn remove(&mut self, key: Vec<u8>) {
        self.decoded.remove(key.as_slice());
        self.writes.insert(key, None);
    }

    /// The row under `key`, decoded once per window and changed in place; `new` makes it when
    /// there is none, or when the stored one does not decode (damaged, or of another type),
    /// which is started over rather than stopping the table.
    pub fn entry<T: Row>(&mut self, key: &[u8], new: impl FnOnce() -> T) -> Result<&mut T, RowError> {
        // One hash and probe when the row is held already, as it is for all but the first of
        // the hundreds of lookups a window makes of each row.
        let row = match self.decoded.entry_ref(key) {
            EntryRef::Occupied(held) => held.into_mut(),
            EntryRef::Vacant(vacant) => {
                let row = read_or_new(&self.tree, &mut self.writes, key, new)?;
                vacant.insert(Box::new(row))
            }
        };
        match row.as_any_mut().downcast_mut::<T>() {
            Some(row) => Ok(row),
            None => Err(held_as_another_type::<T>(key)),
        }
    }

    /// The row under `key`, taken out of the window to be changed without a lookup per change
    /// (as [`Staged::entry`] makes or reads it); [`Staged::hold`] puts it back. A row taken and
    /// not held again is not written.
    pub fn take<T: Row>(&mut self, key: &[u8], new: impl FnOnce() -> T) -> Result<Box<T>, RowError> {
        if let Some(held) = self.decoded.remove(key) {
            return held.into_any().downcast::<T>().map_err(|_| held_as_another_type::<T>(key));
        }
        Ok(Box::new(read_or_new(&self.tree, &mut self.writes, key, new)?))
    }

    /// Puts a row [`Staged::take`] took back into the window, to be written with it.
    pub fn hold<T: Row>(&mut self, key: RowKey, row: Box<T>) {
        self.writes.remove(key.as_slice());
        self.decoded.insert(key, row);
    }

    /// A row (MessagePack) under `key`.
    pub fn row<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, RowError> {
        decode_row(key, self.get(key)?.as_deref())
    }

    pub fn put_row<T: Serialize>(&mut self, key: Vec<u8>, row: &T) {
        self.insert(key, encode(row));
    }

    /// The tree the rows are read from (for scans; staged writes are not in it).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Every write as one batch, the applied sequences untouched (retention).
    pub(crate) fn into_rows_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, row) in self.decoded {
            batch.insert(&key[..], row.encode());
        }
        for (key, value) in self.writes {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        batch
    }

    /// Every write, and `applied` as the last sequence of `stream`, as one batch.
    pub(crate) fn into_batch(self, stream: StreamName, applied: u64) -> (sled::Tree, sled::Batch) {
        let tree = self.tree.clone();
        let mut batch = self.into_rows_batch();
        batch.insert(applied_key(stream), &applied.to_be_bytes());
        (tree, batch)
    }
}
