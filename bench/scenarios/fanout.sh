#!/usr/bin/env bash
# Fan-out: SUBSCRIBERS sockets on one channel, publications posted over HTTP at rising
# offered rates, against Switchyard, bare socketioxide and Node socket.io in one run.
# Prints deliveries/s, loss and latency (from each publication's due time) per rate.
#
#   bench/scenarios/fanout.sh                 # 5,000 subscribers; 10, 20, 40, 80 pub/s
#   SUBSCRIBERS=1000 RATES="10 20" DURATION=5s bench/scenarios/fanout.sh
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
SUBSCRIBERS="${SUBSCRIBERS:-5000}"
RATES="${RATES:-10 20 40 80}"
DURATION="${DURATION:-15s}"
SERVERS="${SERVERS:-switchyard socketioxide node}"
build_loadgen

printf '%-12s %6s %12s %10s %8s %8s %8s %8s\n' server pub/s deliveries/s lost p50_ms p90_ms p99_ms max_ms
for server in $SERVERS; do
  for rate in $RATES; do
    start_server "$server"
    r="$(loadgen fanout --subscribers "$SUBSCRIBERS" --rate "$rate" --duration "$DURATION")"
    stop_server
    printf '%-12s %6s %12.0f %10s %8.2f %8.2f %8.2f %8.2f\n' "$server" "$rate" \
      "$(json "$r" 'r["deliveries_per_second"]')" "$(json "$r" 'r["lost"]')" \
      "$(json "$r" 'r["latency"]["p50_ms"]')" "$(json "$r" 'r["latency"]["p90_ms"]')" \
      "$(json "$r" 'r["latency"]["p99_ms"]')" "$(json "$r" 'r["latency"]["max_ms"]')"
    echo "$server $rate $r" >>"${RESULTS:-/dev/null}"
  done
done
