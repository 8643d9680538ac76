//! What one sync does with one file, from what the mirror holds and what the source lists.
//! Pure: the runner does the I/O, including the verification a [`Step::Grown`] and a
//! [`Step::Touched`] ask for.

use tailrace_schemas::{CopyState, Timestamp};

use super::source::Listed;

/// How many bytes before the held end are compared with the source before appending (or before
/// taking a file whose time changed as unchanged). rsync's `--append` compares nothing,
/// `--append-verify` the whole file after the transfer; a rewrite inside the held bytes that
/// keeps the file's identity, its size and these last bytes is not noticed.
pub const VERIFY_BYTES: u64 = 4096;

/// What the mirror holds of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Bytes of the local copy.
    pub size: u64,
    /// The source file's identity and time when it was last synced.
    pub inode: u64,
    pub modified: Timestamp,
    pub removed: bool,
    /// Compressed copies are expanded before an append; expired ones are not fetched again
    /// while the source keeps the same file.
    pub copy: CopyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not held: fetched whole.
    New,
    /// Another file under the same path (new inode): fetched whole.
    Replaced,
    /// Shorter than what is held: fetched whole.
    Truncated,
    /// Longer: if the held bytes are unchanged (the last [`VERIFY_BYTES`] compared), only the
    /// bytes after `held` move; otherwise fetched whole.
    Grown { held: u64 },
    /// The same size with another time: if the last bytes are unchanged, only the time is
    /// taken; otherwise fetched whole.
    Touched,
    /// Nothing changed.
    Same,
    /// Gone from the source: marked removed; the copy stays readable.
    Removed,
}

/// The step for a file the source lists (`Some`) or no longer lists (`None`).
pub fn step(held: Option<&Held>, listed: Option<&Listed>) -> Option<Step> {
    Some(match (held, listed) {
        (None, None) => return None,
        (Some(h), None) => {
            if h.removed || h.copy == CopyState::Expired {
                return None;
            }
            Step::Removed
        }
        (None, Some(_)) => Step::New,
        (Some(h), Some(l)) if h.copy == CopyState::Expired => {
            if l.inode == h.inode {
                return None;
            }
            Step::New
        }
        (Some(h), Some(l)) => {
            if h.removed {
                Step::New
            } else if l.inode != h.inode {
                Step::Replaced
            } else if l.size < h.size {
                Step::Truncated
            } else if l.size > h.size {
                Step::Grown { held: h.size }
            } else if l.modified != h.modified {
                Step::Touched
            } else {
                Step::Same
            }
        }
    })
}

/// The range compared before appending to (or keeping) a copy of `held` bytes.
pub fn verify_range(held: u64) -> (u64, u64) {
    let len = held.min(VERIFY_BYTES);
    (held - len, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(size: u64, inode: u64, t: i64) -> Listed {
        Listed { path: "a.log".into(), size, modified: Timestamp::from_unix_seconds(t), inode }
    }

    fn held(size: u64, inode: u64, t: i64) -> Held {
        Held {
            size,
            inode,
            modified: Timestamp::from_unix_seconds(t),
            removed: false,
            copy: CopyState::Plain,
        }
    }

    #[test]
    fn each_change_of_a_file_has_its_step() {
        assert_eq!(step(None, None), None);
        assert_eq!(step(None, Some(&listed(10, 1, 5))), Some(Step::New));
        assert_eq!(step(Some(&held(10, 1, 5)), Some(&listed(10, 1, 5))), Some(Step::Same));
        assert_eq!(step(Some(&held(10, 1, 5)), Some(&listed(30, 1, 6))), Some(Step::Grown { held: 10 }));
        assert_eq!(step(Some(&held(10, 1, 5)), Some(&listed(4, 1, 6))), Some(Step::Truncated));
        assert_eq!(step(Some(&held(10, 1, 5)), Some(&listed(30, 2, 6))), Some(Step::Replaced));
        assert_eq!(step(Some(&held(10, 1, 5)), Some(&listed(10, 1, 6))), Some(Step::Touched));
        assert_eq!(step(Some(&held(10, 1, 5)), None), Some(Step::Removed));
        let gone = Held { removed: true, ..held(10, 1, 5) };
        assert_eq!(step(Some(&gone), None), None, "marked once");
        assert_eq!(step(Some(&gone), Some(&listed(10, 1, 5))), Some(Step::New), "back again");
        let expired = Held { copy: CopyState::Expired, ..held(10, 1, 5) };
        assert_eq!(step(Some(&expired), Some(&listed(10, 1, 5))), None, "not fetched again");
        assert_eq!(step(Some(&expired), Some(&listed(30, 1, 6))), None, "nor when it grows");
        assert_eq!(step(Some(&expired), Some(&listed(10, 2, 6))), Some(Step::New), "a new file is");
        assert_eq!(step(Some(&expired), None), None, "gone: nothing to mark");
        let packed = Held { copy: CopyState::Compressed, ..held(10, 1, 5) };
        assert_eq!(step(Some(&packed), Some(&listed(30, 1, 6))), Some(Step::Grown { held: 10 }));
    }

    #[test]
    fn the_verified_range_ends_at_the_held_bytes() {
        assert_eq!(verify_range(0), (0, 0));
        assert_eq!(verify_range(100), (0, 100));
        assert_eq!(verify_range(10_000), (10_000 - VERIFY_BYTES, VERIFY_BYTES));
    }
}
