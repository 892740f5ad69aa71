#!/usr/bin/env bash
# The regression guard CI runs (under two minutes): short fan-out, ping and chat runs
# against the Switchyard binary the test suite built. It prints figures and asserts
# nothing about time; a run that loses publications or messages fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export BENCH_PROFILE=debug
export LOADGEN_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
export SWITCHYARD_BIN="${SWITCHYARD_BIN:-$LOADGEN_TARGET_DIR/debug/switchyard}"
build_loadgen

start_server switchyard
fanout="$(loadgen fanout --subscribers 300 --rate 20 --duration 5s)"
ping="$(loadgen ping --connections 100 --rate 500 --duration 5s)"
chat="$(loadgen chat --pairs 50 --rate 200 --duration 5s)"
stop_server
echo "bench (debug build, shared machine; figures for trend only):"
for r in "$fanout" "$ping" "$chat"; do
  json "$r" '"  {:<7} count {:>7}  p50 {:>7.2f} ms  p99 {:>7.2f} ms  lost {}".format(r["mode"], r["latency"]["count"], r["latency"]["p50_ms"], r["latency"]["p99_ms"], r.get("lost", r.get("unanswered")))'
done
for r in "$fanout" "$chat"; do
  lost="$(json "$r" 'r["lost"]')"
  [ "$lost" = 0 ] || { echo "bench: $lost lost in $(json "$r" 'r["mode"]')" >&2; exit 1; }
done
