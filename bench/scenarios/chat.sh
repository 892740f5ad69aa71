#!/usr/bin/env bash
# Chat round trip through /ws: PAIRS conversations, message:send at an offered total rate,
# each message stored before it is delivered; latency from the send's due time to
# message:new. Switchyard on SQLite and on PostgreSQL (a fresh database per run).
#
# The last two columns are the server's own view of the store call on each message's path
# (switchyard_db_*_seconds{call="insert_message"}, bucket bounds in ms): the statement's
# p99 (on PostgreSQL it answers after the commit's WAL flush) and the p99 wait for a pooled
# connection. A tail in the loadgen's p99 that these share is the database's.
#
#   bench/scenarios/chat.sh                   # 1,000 conversations at 2,000 msg/s
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
PAIRS="${PAIRS:-1000}"
RATE="${RATE:-2000}"
DURATION="${DURATION:-15s}"
STORES="${STORES:-sqlite postgres}"
build_loadgen

printf '%-9s %8s %8s %6s %8s %8s %8s %8s %8s %8s\n' store msg/s stored lost p50_ms p90_ms p99_ms max_ms \
  db_p99 wait_p99
for store in $STORES; do
  unset SWITCHYARD_DATABASE_URL
  if [ "$store" = postgres ]; then
    db="bench_$(date +%s)_$$"
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
    export SWITCHYARD_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
  fi
  start_server switchyard
  r="$(loadgen chat --pairs "$PAIRS" --rate "$RATE" --duration "$DURATION")"
  metrics="$(mktemp)"
  curl -fsS "http://$SERVER_ADDR/metrics" >"$metrics" || true
  stop_server
  if [ "$store" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE $db" >/dev/null
  fi
  printf '%-9s %8s %8s %6s %8.2f %8.2f %8.2f %8.2f %8s %8s\n' "$store" "$RATE" \
    "$(json "$r" 'r["stored"]')" "$(json "$r" 'r["lost"]')" \
    "$(json "$r" 'r["latency"]["p50_ms"]')" "$(json "$r" 'r["latency"]["p90_ms"]')" \
    "$(json "$r" 'r["latency"]["p99_ms"]')" "$(json "$r" 'r["latency"]["max_ms"]')" \
    "$(histogram_quantile "$metrics" switchyard_db_statement_seconds call=insert_message 0.99)" \
    "$(histogram_quantile "$metrics" switchyard_db_acquire_seconds call=insert_message 0.99)"
  [ -n "${KEEP_METRICS:-}" ] && cp "$metrics" "$KEEP_METRICS"
  rm -f "$metrics"
done
