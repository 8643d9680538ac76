#!/usr/bin/env bash
# One command from a fresh Debian machine to every test passing: installs the test
# prerequisites (nats-server, openssh-server, chromium, chromium-driver, nats-py), checks
# formatting and lints, and runs every test of the workspace against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/prereqs.sh

ensure_nats_server
ensure_test_prereqs
ensure_rust

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
say "cargo test (every crate, every feature)"
cargo test --workspace --all-features --locked
