#!/usr/bin/env bash
# Ack round trips: CONNECTIONS sockets sending latency:ping at an offered total rate,
# latency from each ping's due time. All three servers.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
CONNECTIONS="${CONNECTIONS:-1000}"
RATE="${RATE:-5000}"
DURATION="${DURATION:-15s}"
SERVERS="${SERVERS:-switchyard socketioxide node}"
build_loadgen

printf '%-12s %10s %10s %8s %8s %8s %8s\n' server acks/s unanswered p50_ms p90_ms p99_ms max_ms
for server in $SERVERS; do
  start_server "$server"
  r="$(loadgen ping --connections "$CONNECTIONS" --rate "$RATE" --duration "$DURATION")"
  stop_server
  printf '%-12s %10.0f %10s %8.2f %8.2f %8.2f %8.2f\n' "$server" \
    "$(json "$r" 'r["acks_per_second"]')" "$(json "$r" 'r["unanswered"]')" \
    "$(json "$r" 'r["latency"]["p50_ms"]')" "$(json "$r" 'r["latency"]["p90_ms"]')" \
    "$(json "$r" 'r["latency"]["p99_ms"]')" "$(json "$r" 'r["latency"]["max_ms"]')"
done
