//! SSH sessions to tailed hosts: configuration, host-key verification, authentication.

pub mod config;
pub mod known_hosts;
pub mod session;

pub use config::{HostConfig, SshAuth};
pub use known_hosts::{HostKeyError, HostKeyPolicy};
pub use session::{connect, connect_with, SshError, SshSession};
