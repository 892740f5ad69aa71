#!/usr/bin/env bash
# Reconnect storm: CLIENTS sockets subscribed to a channel with history in Redis; the node
# is killed (SIGKILL) and started again on the same port; every client reconnects with
# jittered backoff and subscribes with its last position. Prints the time until all were
# back, and how many recovered their publications.
#
#   bench/scenarios/storm.sh                  # 15,000 clients
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
CLIENTS="${CLIENTS:-15000}"
build_loadgen

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export SWITCHYARD_REDIS_URL="${SWITCHYARD_REDIS_URL-redis://127.0.0.1:6379}"
[ -n "$SWITCHYARD_REDIS_URL" ] || unset SWITCHYARD_REDIS_URL # SWITCHYARD_REDIS_URL= : one node in memory
export SWITCHYARD_REDIS_PREFIX="bench-storm-$$"
export SWITCHYARD_DATABASE_URL="sqlite://$(mktemp -d)/storm.db"
export PORT="$port"
start_server switchyard
result="$(mktemp)"
ready="$(mktemp -u)"
"$LOADGEN" --addr "$SERVER_ADDR" --sources "$BENCH_SOURCES" storm --clients "$CLIENTS" \
  --drop-within 300s --deadline 120s --ready-file "$ready" | sed -n 's/^RESULT //p' >"$result" &
loadgen_pid=$!
# Publish until every client has seen a publication (so each one has a position to
# recover from), then a few more, then crash the node.
bin="${SWITCHYARD_BIN:-$HOME/.cache/switchyard-target-release/release/switchyard}"
token="$(SWITCHYARD_JWT_SECRET="$BENCH_JWT_SECRET" "$bin" token --sub bench --role service | tail -1)"
publish() {
  curl -s -o /dev/null -X POST "http://$SERVER_ADDR/api/v1/publish" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"channel\":\"public:bench-storm\",\"event\":\"tick\",\"data\":$1}"
}
n=0
for _ in $(seq 600); do
  [ -e "$ready" ] && break
  n=$((n + 1)); publish "$n"; sleep 0.5
done
[ -e "$ready" ] || echo "storm: not every client saw a publication within 300 s" >&2
for _ in 1 2 3; do n=$((n + 1)); publish "$n"; done
sleep 2
rm -f "$ready"
# The restart runs the binary the first start built, without cargo's up-to-date check.
export SWITCHYARD_BIN="$bin"
killed_at=$(date +%s.%N)
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server switchyard
echo "storm: the server was down for $(python3 -c "import time; print(f'{time.time() - $killed_at:.1f}')") s" >&2
wait "$loadgen_pid"
stop_server
r="$(cat "$result")"
printf '%8s %8s %8s %10s %14s %8s %8s %8s %22s\n' clients dropped back recovered not_recovered p50_s p90_s p99_s seconds_until_all_back
printf '%8s %8s %8s %10s %14s %8.1f %8.1f %8.1f %22s\n' "$CLIENTS" "$(json "$r" 'r["dropped"]')" "$(json "$r" 'r["back"]')" \
  "$(json "$r" 'r["recovered"]')" "$(json "$r" 'r["not_recovered"]')" \
  "$(json "$r" 'r["back_after_seconds"]["p50"]')" "$(json "$r" 'r["back_after_seconds"]["p90"]')" \
  "$(json "$r" 'r["back_after_seconds"]["p99"]')" "$(json "$r" 'r["seconds_until_all_back"]')"
