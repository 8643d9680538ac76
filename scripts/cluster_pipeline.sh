#!/usr/bin/env bash
# End to end through NATS (raw -> classify -> fingerprint -> issues) on a 3-node cluster with
# streams at 3 replicas, then on one managed server, one after the other in one script on the
# same machine (BENCHMARKS.md). Three nodes sharing two cores: a functional figure, not a claim
# about a real cluster's speed.
#
#   scripts/cluster_pipeline.sh [LINES]   # default 500,000 lines of 200 bytes
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-500000}"
[ -x target/release/tailrace ] || cargo build --release --locked
dir=$(mktemp -d /tmp/tailrace-cluster-bench.XXXXXX)
CLUSTER_DIR="$dir" NATS_ONLY=1 deploy/cluster/start.sh &
cluster=$!
trap 'kill -TERM $cluster 2>/dev/null; wait $cluster 2>/dev/null; rm -rf "$dir"' EXIT
urls="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
for _ in $(seq 1 60); do
  TAILRACE_NATS__URL="$urls" TAILRACE_NATS__STREAMS__REPLICAS=3 target/release/tailrace streams ls >/dev/null 2>&1 && break
  sleep 1
done
echo "== 3-node cluster, replicas 3"
TAILRACE_NATS__URL="$urls" TAILRACE_NATS__STREAMS__REPLICAS=3 TAILRACE_PROCESSORS__FINGERPRINT__WINDOW=1s \
  RUST_LOG=warn target/release/tailrace bench pipeline --lines "$lines"
echo "== one managed server"
TAILRACE_PROCESSORS__FINGERPRINT__WINDOW=1s RUST_LOG=warn target/release/tailrace bench pipeline --lines "$lines"
