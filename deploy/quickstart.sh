#!/usr/bin/env bash
# One command from a fresh Debian machine to a running tailrace: installs a nats-server if
# there is none, builds tailrace, and runs `tailrace run` (every role in one process, the
# managed nats-server, the gateway on http://127.0.0.1:8080/). Extra arguments go to `run`'s
# environment as usual: e.g. TAILRACE_GATEWAY__BIND=127.0.0.1:9000 ./deploy/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/prereqs.sh

ensure_nats_server
ensure_rust
say "building tailrace (release)"
cargo build --release --locked
say "starting tailrace run (Ctrl-C stops it)"
exec ./target/release/tailrace run "$@"
