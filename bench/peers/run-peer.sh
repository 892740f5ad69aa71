#!/usr/bin/env bash
# Starts one of the three benchmark servers the same way:
#
#   BENCH_JWT_SECRET=... PORT=0 bench/peers/run-peer.sh <switchyard|node|socketioxide>
#
# Builds it first if needed (build output goes to stderr), then replaces this shell with
# the server (`exec`), so the process id the caller started is the server's own: signals
# and RSS measurements reach it directly. Once the server listens, exactly one line is
# printed on stdout:
#
#   listening on http://127.0.0.1:<port>
#
# Everything else the server says goes to stderr. See bench/peers/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peer="${1:-}"

if [ -z "${BENCH_JWT_SECRET:-}" ]; then
  echo "run-peer.sh: BENCH_JWT_SECRET must be set" >&2
  exit 2
fi
port="${PORT:-0}"

case "$peer" in
  node)
    cd "$here/node"
    # npm ci when node_modules is missing or older than the lock file.
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund >&2
    fi
    export PORT="$port"
    exec node server.js
    ;;

  socketioxide)
    target="${PEER_SOCKETIOXIDE_TARGET_DIR:-$HOME/.cache/switchyard-target-peers}"
    CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet \
      --manifest-path "$here/socketioxide/Cargo.toml" >&2
    export PORT="$port"
    exec "$target/release/socketioxide-peer"
    ;;

  switchyard)
    if [ -n "${SWITCHYARD_BIN:-}" ]; then
      bin="$SWITCHYARD_BIN" # a prebuilt binary; nothing is built
    else
      target="${SWITCHYARD_RELEASE_TARGET_DIR:-$HOME/.cache/switchyard-target-release}"
      (cd "$root" && CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet --bin switchyard) >&2
      bin="$target/release/switchyard"
    fi
    # A fresh SQLite database per run unless one is given; removed when the server exits.
    cleanup=""
    if [ -z "${SWITCHYARD_DATABASE_URL:-}" ]; then
      cleanup="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-bench.XXXXXX")"
      export SWITCHYARD_DATABASE_URL="sqlite://$cleanup/switchyard.db"
    fi
    export SWITCHYARD_BIND="127.0.0.1:$port"
    export SWITCHYARD_JWT_SECRET="$BENCH_JWT_SECRET"
    # Benchmark settings: no per-event rate limits, no per-IP caps (every load-generator
    # connection comes from loopback). Each can be overridden from the environment.
    export SWITCHYARD_RATE_LIMITS="${SWITCHYARD_RATE_LIMITS:-off}"
    export SWITCHYARD_MAX_CONNECTIONS_PER_IP="${SWITCHYARD_MAX_CONNECTIONS_PER_IP:-100000}"
    export SWITCHYARD_HANDSHAKES_PER_IP_PER_MINUTE="${SWITCHYARD_HANDSHAKES_PER_IP_PER_MINUTE:-0}"
    export NO_COLOR=1

    # Switchyard logs to stdout; its line `switchyard listening on http://ADDR` becomes the
    # one line on our stdout, and the whole log goes on to stderr.
    announce() {
      local line
      while IFS= read -r line; do
        printf '%s\n' "$line" >&2
        if [[ $line =~ listening\ on\ http://127\.0\.0\.1:([0-9]+) ]]; then
          printf 'listening on http://127.0.0.1:%s\n' "${BASH_REMATCH[1]}"
          break
        fi
      done
      cat >&2 # the rest of the log, without a per-byte read loop
      if [ -n "$cleanup" ]; then rm -rf "$cleanup"; fi
    }
    exec "$bin" serve > >(announce)
    ;;

  *)
    echo "usage: $0 <switchyard|node|socketioxide>" >&2
    exit 2
    ;;
esac
