//! Live tail for browsers: which hosts can be tailed, a viewer's lease on a tail, and the
//! stream of one tail's lines and statuses in the seed's event shapes (`log`, `tail_f_status`).
//!
//! - [`hosts`]: the hosts producers advertise in `tail-hosts`, found by name or address.
//! - [`lease`]: [`ViewerLease`], a viewer's claim on a tail, renewed while held.
//! - [`watch`]: [`watch::start`]: checks a request, claims the tail, and streams it.
//!
//! The gateway never runs a tail itself: it records that a viewer wants one, and producers do
//! the rest (DESIGN.md, "Subjects and streams").

pub mod hosts;
pub mod lease;
pub mod watch;

pub use lease::ViewerLease;
pub use watch::{TailEvent, TailRequest, TailWatch};
