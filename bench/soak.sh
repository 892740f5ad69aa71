#!/usr/bin/env bash
# Soak (issue 7): 30 minutes of mixed traffic with churn against one node — connections
# replaced continuously, pings and publications at fixed rates — sampling the server's
# resident memory and open descriptors every 10 s. Prints the growth after the warm-up
# and writes the whole run to bench/results/soak-<timestamp>.json.
#
#   bench/soak.sh                         # 30 min, 2,000 connections
#   SOAK_DURATION=5m SOAK_CONNECTIONS=500 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${SOAK_DURATION:-30m}"
WARMUP="${SOAK_WARMUP:-5m}"
CONNECTIONS="${SOAK_CONNECTIONS:-2000}"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/switchyard-target-release}"
export BENCH_JWT_SECRET="soak-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
source bench/lib.sh

cargo build --release --locked --bin switchyard
cargo build --release --locked -p switchyard-bench --bin loadgen
dir="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
SWITCHYARD_RELEASE_TARGET_DIR="$CARGO_TARGET_DIR" start_switchyard_release "$dir"
server=$SERVER_PID
addr=$SERVER_ADDR
echo "soak: server $server on $addr, $CONNECTIONS connections for $DURATION (warm-up $WARMUP)"

out="bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).json"
"$CARGO_TARGET_DIR/release/loadgen" --addr "$addr" --sources 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4 \
  soak --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$server" \
  | sed -n 's/^RESULT //p' >"$out"
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
g = r["growth_after_warmup"] or {}
mib = lambda b: f"{b / 1048576:.1f} MiB"
print(f"soak: {r['replaced_connections']} connections replaced, {r['pings']} pings "
      f"({r['unanswered_pings']} unanswered), {r['publications']} publications")
if g:
    print(f"soak: RSS {mib(g['rss_at_warmup'])} after warm-up, max {mib(g['rss_max_after'])}, "
          f"last {mib(g['rss_last'])} ({g['rss_growth_pct']:+.1f}%); "
          f"fds {g['fds_at_warmup']} -> max {g['fds_max_after']}")
print(f"soak: full run in {sys.argv[1]}")
PY
