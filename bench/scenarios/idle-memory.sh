#!/usr/bin/env bash
# Idle memory per connection: a fresh server per run, CONNECTIONS sockets opened and held,
# server RSS growth divided by the sockets. Switchyard, bare socketioxide, Node socket.io.
#
#   bench/scenarios/idle-memory.sh            # 15,000 connections, 3 runs each
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
CONNECTIONS="${CONNECTIONS:-15000}"
RUNS="${RUNS:-3}"
SERVERS="${SERVERS:-switchyard socketioxide node}"
build_loadgen

printf '%-12s %4s %10s %14s %12s\n' server run connected bytes/conn rss_after_MiB
for server in $SERVERS; do
  for run in $(seq "$RUNS"); do
    start_server "$server"
    r="$(loadgen idle --connections "$CONNECTIONS" --hold 10s --server-pid "$SERVER_PID")"
    stop_server
    printf '%-12s %4s %10s %14s %12.1f\n' "$server" "$run" "$(json "$r" 'r["open_after_hold"]')" \
      "$(json "$r" 'r["bytes_per_connection"]')" "$(json "$r" '(r["server_rss_after"] or 0)/1048576')"
  done
done
