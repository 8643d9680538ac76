//! The `tailrace` binary: the command line, configuration, and the wiring of roles.
//!
//! It owns no logic of its own: it reads the config, starts what the command asks for from the
//! library crates, and shuts it all down on Ctrl-C or SIGTERM. Errors are `anyhow` here and
//! typed everywhere below.

mod bench;
mod cli;
mod config;
mod demo;
mod fingerprint;
mod logging;
mod process;
mod replay;
mod roles;
mod run;
mod running;
mod session;
mod shutdown;
mod sink;
mod streams;
mod sync;

use std::process::ExitCode;

use clap::Parser;

// The hot paths decode and re-encode batches of hundreds of short strings: mimalloc's per-thread
// free lists make that measurably cheaper than glibc's malloc (BENCHMARKS.md, processors).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let cfg = match config::Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tailrace: {e:#}");
            return ExitCode::from(2);
        }
    };
    logging::init(&cfg.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tailrace: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(args.command, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("tailrace: {e:#}");
            ExitCode::FAILURE
        }
    }
}
