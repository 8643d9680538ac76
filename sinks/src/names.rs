//! Rows of values by customer or app name: the one map type sinks keep names in.

/// The value under `key`, made by default if there is none: the key is copied only then (a
/// window looks up the same few hundred keys thousands of times).
pub fn slot<'m, V: Default>(map: &'m mut Names<V>, key: &str) -> &'m mut V {
    map.entry_ref(key).or_default()
}

/// Values by customer or app name, as the rows hold them (a MessagePack map, in no order).
/// Hashed, not sorted: every report looks up ~250 names in these rows (a sorted map's string
/// compares were 8 % of ingest, BENCHMARKS.md), and nothing reads them in order. The seed is
/// fixed so that how a row is written does not hang on a per-process random seed (queries never
/// depend on the order). Names up to 24 bytes are held in the table itself: the rows a window
/// holds outgrow the CPU's caches, and comparing a name behind a pointer was a second miss.
pub type Names<V> = hashbrown::HashMap<Name, V, foldhash::fast::FixedState>;

/// A customer or app name in [`Names`] (encoded as a string).
pub type Name = compact_str::CompactString;
