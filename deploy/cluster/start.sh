#!/usr/bin/env bash
# The whole scale-out on one machine, for trying it: three nats-servers forming one JetStream
# cluster (the configs of nats/conf/cluster, on loopback ports), the streams at 3 replicas, and
# every role as its own process: tailrace produce, two tailrace process classify fingerprint,
# tailrace sink issues, tailrace gateway (on http://127.0.0.1:${HTTP_PORT:-8080}/). Ctrl-C stops
# them all. Everything lives under ${CLUSTER_DIR:-./cluster-data}; logs are there too.
#
#   deploy/cluster/start.sh              # builds target/release/tailrace if missing
#   NATS_ONLY=1 deploy/cluster/start.sh  # the three nats-servers alone (for benchmarks)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(realpath -m "${CLUSTER_DIR:-cluster-data}")
http=${HTTP_PORT:-8080}
bin=target/release/tailrace
[ -x "$bin" ] || cargo build --release --locked
command -v nats-server >/dev/null || { echo "no nats-server on PATH: deploy/quickstart.sh installs one" >&2; exit 1; }
mkdir -p "$dir"
pids=()
stop() {
  trap - EXIT INT TERM
  echo "stopping" >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

# The shipped node configs, moved onto loopback ports and a local store.
for i in 1 2 3; do
  mkdir -p "$dir/nats-$i"
  sed -e "s|^listen: .*|listen: 127.0.0.1:$((4221 + i))|" \
      -e "s|^http: .*|http: 127.0.0.1:$((8221 + i))|" \
      -e "s|store_dir: .*|store_dir: \"$dir/nats-$i\"|" \
      -e "s|  listen: 0.0.0.0:6222|  listen: 127.0.0.1:$((6221 + i))|" \
      -e "s|nats-route://nats-1:6222|nats-route://127.0.0.1:6222|" \
      -e "s|nats-route://nats-2:6222|nats-route://127.0.0.1:6223|" \
      -e "s|nats-route://nats-3:6222|nats-route://127.0.0.1:6224|" \
      "nats/conf/cluster/nats-$i.conf" > "$dir/nats-$i.conf"
  nats-server -c "$dir/nats-$i.conf" -l "$dir/nats-$i.log" &
  pids+=($!)
done
urls="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
if [ -n "${NATS_ONLY:-}" ]; then
  echo "nats-servers at $urls (Ctrl-C stops them)" >&2
  wait
  exit 0
fi
export TAILRACE_NATS__URL="$urls" TAILRACE_NATS__STREAMS__REPLICAS=3 TAILRACE_LOG__LEVEL=info
echo "waiting for the cluster to elect a JetStream leader…" >&2
for _ in $(seq 1 60); do
  if TAILRACE_DATA_DIR="$dir/apply" "$bin" streams apply >/dev/null 2>&1; then break; fi
  sleep 1
done
TAILRACE_DATA_DIR="$dir/apply" "$bin" streams apply
role() {
  local name=$1; shift
  TAILRACE_DATA_DIR="$dir/$name" "$bin" "$@" 2>"$dir/$name.log" &
  pids+=($!)
  echo "started $name (pid $!): tailrace $*" >&2
}
role process-1 process classify fingerprint
role process-2 process classify fingerprint
role sink sink issues
TAILRACE_GATEWAY__BIND="127.0.0.1:$http" role gateway gateway
role produce produce
echo "gateway on http://127.0.0.1:$http/  (logs in $dir; Ctrl-C stops everything)" >&2
wait
