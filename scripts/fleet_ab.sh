#!/usr/bin/env bash
# Alternates binaries on the same fleet load, our side of `tailrace bench fleet` only (each run
# is stopped once its queries are timed, before the seed's store is loaded), and prints each
# run's reports/s into the tables: ratios side by side, on a machine whose speed drifts.
#
#   scripts/fleet_ab.sh CUSTOMERS DAYS ROUNDS BINARY...
#   e.g. scripts/fleet_ab.sh 1000 8 2 /tmp/tailrace.before target/release/tailrace
#
# CONFIG (optional) is passed with -c, for streams big enough to hold long loads (BENCHMARKS.md).
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,10p "$0"; exit 2; }
customers=$1 days=$2 rounds=$3
shift 3
one() {
    local bin dir log pid reports secs store
    bin=$(readlink -f "$1")
    dir=$(mktemp -d /tmp/fleet-ab.XXXX)
    { ls -d /tmp/tailrace-bench-seed-* 2>/dev/null || true; } | sort >"$dir/seeds.before"
    log=$dir/log
    (cd "$dir" && exec "$bin" ${CONFIG:+-c "$CONFIG"} bench fleet --customers "$customers" --apps 50 \
        --days "$days" --runs 3 --seed-seconds 1 >"$log" 2>&1) &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if grep -q "bench: ours, p50" "$log"; then
            # A small load may finish on its own meanwhile.
            kill -INT "$pid" 2>/dev/null || true
            sleep 2
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
    done
    wait "$pid" 2>/dev/null || true
    reports=$(grep -oE "applied all [0-9]+ after" "$log" | head -1 | grep -oE "[0-9]+" || true)
    secs=$(grep -E "applied all" "$log" | grep -oE "after [0-9.]+s" | grep -oE "[0-9.]+" | sort -n | tail -1 || true)
    if [ -z "$reports" ] || [ -z "$secs" ]; then
        echo "$bin: no figure; its log:" >&2
        tail -5 "$log" >&2
    else
        echo "$bin: $(python3 -c "print(round($reports / $secs))") reports/s ($reports reports, last sink done at ${secs}s)"
    fi
    # The bench's stores (the stream and the tables, gigabytes at scale), left by the stop.
    store=$(grep -oE "\(store /tmp/tailrace-bench-[A-Za-z0-9]+\)" "$log" | head -1 | tr -d '()' | cut -d' ' -f2 || true)
    [ -n "$store" ] && rm -rf "$store"
    { ls -d /tmp/tailrace-bench-seed-* 2>/dev/null || true; } | sort | comm -13 "$dir/seeds.before" - | xargs -r rm -rf
    rm -rf "$dir"
}
for _ in $(seq "$rounds"); do
    for bin in "$@"; do one "$bin"; done
done
