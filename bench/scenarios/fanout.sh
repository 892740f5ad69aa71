#!/usr/bin/env bash
# Fan-out: SUBSCRIBERS sockets on one channel, publications posted over HTTP at rising
# offered rates, against Switchyard, bare socketioxide and Node socket.io in one run.
# Prints deliveries/s, loss and latency (from each publication's due time) per rate, then
# each server's highest sustained rate (zero loss, p99 below SUSTAINED_P99_MS) and the
# ratios of the deliveries/s there.
#
# The server runs on SERVER_CPUS (default 0), the load generator on LOADGEN_CPUS (default
# 1) with one tokio thread per CPU given, so that neither takes the other's CPU; PIN=0
# runs both unpinned.
#
#   bench/scenarios/fanout.sh                 # 5,000 subscribers; 10, 20, 40, 80 pub/s
#   SUBSCRIBERS=1000 RATES="10 20" DURATION=5s bench/scenarios/fanout.sh
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
SUBSCRIBERS="${SUBSCRIBERS:-5000}"
RATES="${RATES:-10 20 40 80}"
DURATION="${DURATION:-15s}"
SERVERS="${SERVERS:-switchyard socketioxide node}"
SUSTAINED_P99_MS="${SUSTAINED_P99_MS:-200}"
PIN="${PIN:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
LOADGEN_CPUS="${LOADGEN_CPUS:-1}"
# Switchyard runs at its defaults but for the handshake and rate limits, which the peers
# lack (bench/lib.sh): presence is announced only in channels of at most 100 subscribers
# (`presence_channel_limit`), so 5,000 subscribers joining cost no presence:join storm.
build_loadgen

threads=()
if [ "$PIN" != 0 ]; then
  # Start each server once unpinned first, so that a build it needs runs on every CPU.
  for server in $SERVERS; do start_server "$server" && stop_server; done
  export SERVER_WRAP="taskset -c $SERVER_CPUS" LOADGEN_WRAP="taskset -c $LOADGEN_CPUS"
  threads=(--threads "$(cpu_count "$LOADGEN_CPUS")")
  echo "pinned: server on CPUs $SERVER_CPUS, loadgen on CPUs $LOADGEN_CPUS (${threads[*]})"
fi
echo "deliveries/s: distinct deliveries of the publications due in the offered window / the window"

declare -A best_rate best_dps
# failed: connects and publishes that failed (neither is counted as lost); lg_cpu: the
# load generator's CPU time over the publishing and its 3 s grace, of one CPU.
printf '%-12s %6s %12s %8s %6s %8s %8s %8s %8s %7s %4s\n' \
  server pub/s deliveries/s lost failed p50_ms p90_ms p99_ms max_ms lg_cpu ok
for server in $SERVERS; do
  for rate in $RATES; do
    start_server "$server"
    r="$(loadgen "${threads[@]}" fanout --subscribers "$SUBSCRIBERS" --rate "$rate" --duration "$DURATION")"
    stop_server
    echo "$server $rate $r" >>"${RESULTS:-/dev/null}"
    ok="$(json "$r" "'yes' if r['lost'] == 0 and r['connect_failures'] == 0 and r['publish_failures'] == 0 and r['latency']['p99_ms'] < $SUSTAINED_P99_MS else 'no'")"
    dps="$(json "$r" 'round(r["deliveries_per_second"])')"
    printf '%-12s %6s %12s %8s %6s %8.2f %8.2f %8.2f %8.2f %7s %4s\n' "$server" "$rate" "$dps" \
      "$(json "$r" 'r["lost"]')" "$(json "$r" 'r["connect_failures"] + r["publish_failures"]')" \
      "$(json "$r" 'r["latency"]["p50_ms"]')" "$(json "$r" 'r["latency"]["p90_ms"]')" \
      "$(json "$r" 'r["latency"]["p99_ms"]')" "$(json "$r" 'r["latency"]["max_ms"]')" \
      "$(json "$r" '"{:.0f}%".format(100 * (r.get("loadgen_cpu_share") or 0))')" "$ok"
    if [ "$ok" = yes ] && [ "$dps" -gt "${best_dps[$server]:-0}" ]; then
      best_rate[$server]="$rate"
      best_dps[$server]="$dps"
    fi
  done
done

# ratio <a> <b>: a/b to two decimals, or n/a.
ratio() {
  if [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ]; then
    python3 -c "print(f'{$1 / $2:.2f}')"
  else
    echo n/a
  fi
}

echo
echo "max sustained (zero loss, p99 < ${SUSTAINED_P99_MS} ms; lg_cpu near 100% per loadgen CPU: the load generator, not the server, may be the limit):"
top="$(tr ' ' '\n' <<<"$RATES" | sort -g | tail -1)"
for server in $SERVERS; do
  note=""
  [ "${best_rate[$server]:-}" = "$top" ] && note="  (the highest rate tried: it may go higher)"
  printf '  %-12s %6s pub/s %12s deliveries/s%s\n' "$server" "${best_rate[$server]:-none}" "${best_dps[$server]:-0}" "$note"
done
sy="${best_dps[switchyard]:-}"
echo "  switchyard/socketioxide: $(ratio "$sy" "${best_dps[socketioxide]:-}")"
echo "  switchyard/node:         $(ratio "$sy" "${best_dps[node]:-}")"
