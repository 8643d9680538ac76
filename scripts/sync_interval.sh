#!/usr/bin/env bash
# End to end through NATS (raw -> classify -> fingerprint -> issues) with the managed server's
# fsync at nats-server's default interval (2 min) and on every write (`always`), one after the
# other in one script on the same machine, so the two can be compared (BENCHMARKS.md).
#
#   scripts/sync_interval.sh [LINES]   # default 1,000,000 lines of 200 bytes
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
[ -x target/release/tailrace ] || cargo build --release --locked
for sync in default always; do
  echo "== nats.server.sync_interval = $sync"
  TAILRACE_NATS__SERVER__SYNC_INTERVAL="$sync" TAILRACE_PROCESSORS__FINGERPRINT__WINDOW=1s \
    RUST_LOG=warn target/release/tailrace bench pipeline --lines "$lines"
done
