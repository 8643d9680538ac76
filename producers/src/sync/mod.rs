//! Directory sync: log directories of a target (a tail host over SSH, or `local`) mirrored under
//! the data directory, incrementally and atomically, each changed file announced as a
//! [`tailrace_schemas::FileEvent`] on `files.synced.{target}.{category}` and its new lines
//! published as [`tailrace_schemas::LogBatch`]es on `logs.raw.{host}.{source}`, so the
//! processors classify and fingerprint synced logs as they do tailed ones.
//!
//! - [`config`]: `[[sync.targets]]`, checked with errors naming the field.
//! - [`source`]: what a sync reads from ([`Source`]): listing with include/exclude globs, byte
//!   ranges; [`LocalSource`] for a directory of this machine.
//! - [`shell`]: [`ShellSource`], a directory read through the tail's connection (SSH exec).
//! - [`sftp`]: [`SftpSource`], the same over the SFTP subsystem, for hosts without a shell
//!   (chosen per target: `transfer = "auto"` probes for a shell).
//! - [`plan`]: what to do with one file given what the mirror holds (pure: fetch it whole,
//!   append the new bytes after verifying the held ones, skip, mark removed).
//! - [`mirror`]: the local tree; every write is a temporary file, fsync, rename, so a reader
//!   never sees a partial file.
//! - [`manifest`]: what was synced (per file: the remote's identity, lines published).
//! - [`run`]: one sync of one target, with progress.
//! - [`configured`]: a `[[sync.targets]]` entry's transport, and one sync of it (the role's and
//!   `tailrace sync`'s).
//!
//! It must not consume streams, write sled or talk to browsers; the file index is a sink's.

pub mod config;
pub mod configured;
pub mod manifest;
pub mod mirror;
pub mod plan;
pub mod run;
pub mod service;
pub mod sftp;
pub mod shell;
pub mod source;

pub use config::{SyncConfig, TargetConfig};
pub use run::{sync_target, Progress, Retention, SyncError, SyncOutcome, Target};
pub use sftp::SftpSource;
pub use shell::ShellSource;
pub use source::{Listed, LocalSource, Source};
