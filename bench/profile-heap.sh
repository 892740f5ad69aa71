#!/usr/bin/env bash
# Heap profiles of the release server under heaptrack. The server is killed (SIGKILL) at
# the moment of interest, so heaptrack's "leaked" is exactly the heap live then, and the
# report lists its allocation sites.
#
#   MODE=idle  (issue 8): CONNECTIONS idle sockets, killed while they are held: what an
#              idle connection costs, and where.
#   MODE=churn (issue 7): the soak's mixed traffic with churn for DURATION, then every
#              client leaves; killed once they are gone: what churn leaves behind.
#
#   bench/profile-heap.sh                              # idle, 3,000 connections on /realtime
#   CONNECTIONS=2000 NAMESPACE=/ws bench/profile-heap.sh
#   MODE=churn CONNECTIONS=1000 DURATION=6m bench/profile-heap.sh
#
# Needs heaptrack (Debian package `heaptrack`). The release profile keeps line tables, so
# the sites name our code and the crates'. The full report is kept in bench/results/.
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
source bench/lib.sh

MODE="${MODE:-idle}"
CONNECTIONS="${CONNECTIONS:-3000}"
NAMESPACE="${NAMESPACE:-/realtime}"
DURATION="${DURATION:-6m}"
command -v heaptrack >/dev/null || { echo "profile-heap: install heaptrack" >&2; exit 2; }
target="${SWITCHYARD_RELEASE_TARGET_DIR:-$HOME/.cache/switchyard-target-release}"
(CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet --bin switchyard) >&2
build_loadgen

dir="$(mktemp -d)"
trap 'pkill -P "$server" 2>/dev/null; kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
SWITCHYARD_RELEASE_TARGET_DIR="$target" start_switchyard_release "$dir" heaptrack -o "$dir/heap"
server=$SERVER_PID
# heaptrack runs the server as its child.
app="$(pgrep -P "$server" -f 'release/switchyard' | head -1)"

if [ "$MODE" = churn ]; then
  "$LOADGEN" --addr "$SERVER_ADDR" --sources "$BENCH_SOURCES" soak --connections "$CONNECTIONS" \
    --duration "$DURATION" --warmup 1m --server-pid "$app" | sed -n 's/^RESULT //p' >"$dir/run.json"
  loadgen_pid=""
  sleep "${SETTLE_SECONDS:-20}" # the server notices the last closes and forgets them
else
  "$LOADGEN" --addr "$SERVER_ADDR" --sources "$BENCH_SOURCES" --namespace "$NAMESPACE" \
    idle --connections "$CONNECTIONS" --hold 120s | sed -n 's/^RESULT //p' >"$dir/run.json" &
  loadgen_pid=$!
  sleep "${SETTLE_SECONDS:-40}"
fi
kill -KILL "${app:-$server}"
wait "$server" 2>/dev/null || true
[ -n "$loadgen_pid" ] && kill "$loadgen_pid" 2>/dev/null
wait 2>/dev/null || true

report="bench/results/heap-$MODE-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p bench/results
heaptrack_print --print-peaks 0 --print-leaks 1 --peak-limit "${PEAK_LIMIT:-60}" --sub-peak-limit "${SUB_PEAK_LIMIT:-8}" \
  --print-allocators 0 --print-temporary 0 -f "$(ls "$dir"/heap.* | head -1)" >"$report"
echo "profile-heap: $MODE, $CONNECTIONS connections; load generator: $(cat "$dir/run.json" | head -c 600)"
echo "profile-heap: report in $report"
grep -E "^(peak heap memory consumption|peak RSS|total memory leaked)" "$report" || true
