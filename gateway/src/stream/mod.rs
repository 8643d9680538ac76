//! Live subjects for browsers: one shared JetStream subscription per distinct subject filter,
//! fanned out to every client, with exact resumption by stream sequence.
//!
//! - [`access`]: which subjects a role may read, and which stream holds a filter.
//! - [`json`]: a stored message as JSON for the edges (decoded once, shared by all clients).
//! - [`hub`]: the shared subscriptions.
//! - [`follow`](mod@follow): one client's stream: history from a point, then live, without gap or repeat.

pub mod access;
pub mod follow;
pub mod hub;
pub mod json;

pub use follow::{check_start, follow, subscribe, Start, StreamItem};
pub use hub::{Batch, Event, Hub, Linger};
