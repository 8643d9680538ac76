//! tracing output: text or JSON on stderr, filtered by RUST_LOG or `log.level`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(cfg: &LogConfig) {
    // async-nats narrates every client event at info (a slow-consumer notice per resubscribe
    // during a big replay); ours says what matters (connected, disconnected) in its own words.
    let level = if cfg.level.contains("async_nats") {
        cfg.level.clone()
    } else {
        format!("{},async_nats=warn", cfg.level)
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cfg.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
