#!/usr/bin/env bash
# Heap profile of idle connections (issue 8): runs the release server under heaptrack,
# opens CONNECTIONS idle sockets, holds them, kills the server while they are still open,
# and prints the allocation sites of the heap that was live then (heaptrack's "leaked").
#
#   bench/profile-idle-heap.sh                 # 3,000 connections on /realtime
#   CONNECTIONS=2000 NAMESPACE=/ws bench/profile-idle-heap.sh
#
# Needs heaptrack (Debian package `heaptrack`). The release profile keeps line tables, so
# the sites name our code and the crates'. The full report is kept in bench/results/.
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
source bench/lib.sh

CONNECTIONS="${CONNECTIONS:-3000}"
NAMESPACE="${NAMESPACE:-/realtime}"
command -v heaptrack >/dev/null || { echo "profile-idle-heap: install heaptrack" >&2; exit 2; }
target="${SWITCHYARD_RELEASE_TARGET_DIR:-$HOME/.cache/switchyard-target-release}"
(CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet --bin switchyard) >&2
build_loadgen

dir="$(mktemp -d)"
trap 'pkill -P "$server" 2>/dev/null; kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
SWITCHYARD_BIND=127.0.0.1:0 \
SWITCHYARD_DATABASE_URL="sqlite://$dir/profile.db" \
SWITCHYARD_JWT_SECRET="$BENCH_JWT_SECRET" \
SWITCHYARD_RATE_LIMITS=off \
SWITCHYARD_MAX_CONNECTIONS_PER_IP=0 \
SWITCHYARD_HANDSHAKES_PER_IP_PER_MINUTE=0 \
RUST_LOG=warn,switchyard::cli=info NO_COLOR=1 \
  heaptrack -o "$dir/heap" "$target/release/switchyard" serve >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  SERVER_ADDR="$(grep -o 'listening on http://[0-9.:]*' "$dir/server.log" | head -1 | sed 's#listening on http://##')" || true
  [ -n "$SERVER_ADDR" ] && break
  sleep 0.2
done
[ -n "$SERVER_ADDR" ] || { cat "$dir/server.log"; exit 1; }

# The server is stopped while the load generator still holds its sockets, so the peak
# is the idle connections' memory, not the teardown's.
"$LOADGEN" --addr "$SERVER_ADDR" --sources "$BENCH_SOURCES" --namespace "$NAMESPACE" \
  idle --connections "$CONNECTIONS" --hold 60s | sed -n 's/^RESULT //p' >"$dir/idle.json" &
loadgen_pid=$!
sleep "${SETTLE_SECONDS:-40}"
# heaptrack runs the server as its child. SIGKILL, so that what was still allocated at
# that moment (heaptrack's "leaked") is exactly the live heap with the sockets idle.
app="$(pgrep -P "$server" -f 'release/switchyard' | head -1)"
kill -KILL "${app:-$server}"
wait "$server" 2>/dev/null || true
kill "$loadgen_pid" 2>/dev/null || true

report="bench/results/heap-idle-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p bench/results
heaptrack_print --print-peaks 0 --print-leaks 1 --peak-limit "${PEAK_LIMIT:-60}" --sub-peak-limit "${SUB_PEAK_LIMIT:-8}" \
  --print-allocators 0 --print-temporary 0 -f "$(ls "$dir"/heap.* | head -1)" >"$report"
echo "profile-idle-heap: $CONNECTIONS connections on $NAMESPACE; report in $report"
grep -E "^(peak heap memory consumption|peak RSS|total memory leaked)" "$report" || true
