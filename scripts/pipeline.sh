#!/usr/bin/env bash
# End to end through NATS (raw -> classify -> fingerprint -> issues) with payload compression off
# and on, one after the other in one script on the same machine, so the two can be compared.
#
#   scripts/pipeline.sh [LINES]        # default 2,000,000 lines of 200 bytes
#
# Uses target/release/tailrace (built if missing). The report window is 1 s so the final
# window's wait is a small part of the run; the bench prints it as a separate row.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-2000000}"
[ -x target/release/tailrace ] || cargo build --release --locked
for from in 0 4096; do
  echo "== nats.publisher.compress_from = $from"
  TAILRACE_NATS__PUBLISHER__COMPRESS_FROM="$from" TAILRACE_PROCESSORS__FINGERPRINT__WINDOW=1s \
    RUST_LOG=warn target/release/tailrace bench pipeline --lines "$lines"
done
