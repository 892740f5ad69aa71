#!/usr/bin/env bash
# Jitter (issue 21 item 7, after anycable/nodejs-websocket-bench): CLIENTS unchanged
# socket.io-client 4.8 clients subscribed to one channel of `/realtime`, a numbered stream
# published over HTTP at RATE per second for DURATION seconds, and each client's TCP
# connection cut at random every 10-20 s for 1-3 s (reset, and refused while cut) by a
# proxy in the harness. Prints, per server, delivered %, duplicates, out-of-order and the
# replay latency (bench/jitter/jitter.mjs says how each is counted), all servers in one
# run with the same cut schedule (JITTER_SEED):
#
#   switchyard-recovery  Switchyard, SWITCHYARD_CONNECTION_RECOVERY=true
#   switchyard           Switchyard, SWITCHYARD_CONNECTION_RECOVERY=false
#   node-recovery        Node socket.io 4.8 with connectionStateRecovery (its defaults)
#   node                 Node socket.io 4.8 without (not in the default SERVERS)
#   socketioxide         bare socketioxide 0.18 (it has no recovery)
#   switchyard-cluster   three Switchyard nodes with recovery (a private redis-server, a
#                        fresh PostgreSQL database), each client on its own node through the
#                        proxy; the third node is SIGKILLed KILL_AFTER_S (default half of
#                        DURATION) into the stream, and its clients resume on the others
#
#   bench/scenarios/jitter.sh                                  # 10,000 clients, 120 s, 10/s
#   CLIENTS=200 DURATION=60 bench/scenarios/jitter.sh          # a smoke run
#   SERVERS="switchyard-recovery node-recovery" bench/scenarios/jitter.sh
#
# Every client has its own loopback address (127.100.a.b) on both legs of the proxy, so
# neither per-address caps nor ephemeral ports limit CLIENTS (at most 62,500); Switchyard
# runs with the benchmark settings of run-peer.sh (per-address connection cap 100,000,
# handshake and rate limits off). Each harness process holds three descriptors per client;
# the clients are spread over enough processes (at least WORKERS, and one per harness CPU)
# to stay under `ulimit -n`. The server runs on SERVER_CPUS (default 0), the harness on LOADGEN_CPUS
# (default 1); PIN=0 runs both unpinned. The stream each server's clients follow is
# JITTER_STREAM (default `publication`), or JITTER_STREAM_<label> for one server (label
# with `-` as `_`). Only 127.0.0.0/8 is ever used. Results (the table, then each run's
# RESULT line) go to RESULTS, by default bench/results/jitter-<UTC time>.txt. On stderr:
# a timeline of the JITTER_TRACE (3) clients that lost most and of as many that got a
# number twice (`TRACE {json}`), and for the cluster its Redis calls per command.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
CLIENTS="${CLIENTS:-10000}"
DURATION="${DURATION:-120}"
RATE="${RATE:-10}"
WORKERS="${WORKERS:-1}"
SERVERS="${SERVERS:-switchyard-recovery switchyard node-recovery socketioxide switchyard-cluster}"
KILL_AFTER_S="${KILL_AFTER_S:-$((DURATION / 2))}"
PIN="${PIN:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
LOADGEN_CPUS="${LOADGEN_CPUS:-1}"
RESULTS="${RESULTS:-$BENCH_ROOT/bench/results/jitter-$(date -u +%Y%m%dT%H%M%SZ).txt}"
export JITTER_GRACE_S="${JITTER_GRACE_S:-15}"
export JITTER_CONNECT_RATE="${JITTER_CONNECT_RATE:-500}"
export JITTER_JOIN_TIMEOUT_S="${JITTER_JOIN_TIMEOUT_S:-120}"

if ! [[ $CLIENTS =~ ^[0-9]+$ ]] || [ "$CLIENTS" -lt 1 ] || [ "$CLIENTS" -gt 62500 ]; then
  echo "jitter: CLIENTS must be 1..62500" >&2
  exit 2
fi
if ! [[ $DURATION =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 1 ] || [ "$DURATION" -gt 3600 ]; then
  echo "jitter: DURATION must be 1..3600 seconds" >&2
  exit 2
fi
if ! [[ $RATE =~ ^[0-9]+$ ]] || [ "$RATE" -lt 1 ] || [ "$RATE" -gt 1000 ]; then
  echo "jitter: RATE must be 1..1000 per second" >&2
  exit 2
fi

# Descriptors: as many as allowed, and enough harness processes for three per client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -n)"
need=$(((CLIENTS * 3 + nofile - 1001) / (nofile - 1000)))
[ "$need" -gt "$WORKERS" ] && WORKERS="$need"
export JITTER_CLIENTS="$CLIENTS" JITTER_DURATION_S="$DURATION" JITTER_RATE="$RATE" JITTER_WORKERS="$WORKERS"
# The harness's own bound: joining, the stream, the grace and a margin.
deadline=$((CLIENTS / JITTER_CONNECT_RATE + JITTER_JOIN_TIMEOUT_S + DURATION + JITTER_GRACE_S + 120))

# start_cluster: three Switchyard nodes sharing a private Redis and a fresh PostgreSQL
# database. SERVER_URLS lists them; KILL_PID is the third; stop_cluster ends it all.
start_cluster() {
  local port node
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null 2>&1 &
  REDIS_PID=$!
  REDIS_PORT="$port"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  CLUSTER_DB="jitter_$(date +%s)_$$"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $CLUSTER_DB" >/dev/null
  CLUSTER_PIDS=()
  SERVER_URLS=""
  for node in 1 2 3; do
    SWITCHYARD_CONNECTION_RECOVERY=true SWITCHYARD_REDIS_URL="redis://127.0.0.1:$port" \
      SWITCHYARD_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$CLUSTER_DB" \
      start_server switchyard || return 1
    CLUSTER_PIDS+=("$SERVER_PID")
    SERVER_URLS="${SERVER_URLS:+$SERVER_URLS,}http://$SERVER_ADDR"
  done
  KILL_PID="$SERVER_PID"
}

stop_cluster() {
  local pid
  # What the nodes asked of Redis, on stderr: the calls per command and their time.
  redis-cli -p "$REDIS_PORT" info commandstats 2>/dev/null | sed -n 's/^cmdstat_/redis: /p' >&2 || true
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${CLUSTER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $CLUSTER_DB" >/dev/null || true
}

# start <label>: the server of that label (SERVER_PID, SERVER_ADDR; for the cluster
# SERVER_URLS and KILL_PID as well). halt stops what start started.
start() {
  SERVER_URLS=""
  KILL_PID=""
  case "$1" in
    switchyard-cluster) start_cluster ;;
    switchyard-recovery) SWITCHYARD_CONNECTION_RECOVERY=true start_server switchyard ;;
    switchyard) SWITCHYARD_CONNECTION_RECOVERY=false start_server switchyard ;;
    node-recovery) PEER_CONNECTION_RECOVERY=1 start_server node ;;
    node) PEER_CONNECTION_RECOVERY=0 start_server node ;;
    socketioxide) start_server socketioxide ;;
    *)
      echo "jitter: unknown server $1" >&2
      return 2
      ;;
  esac
  [ -n "$SERVER_URLS" ] || SERVER_URLS="http://$SERVER_ADDR"
}

halt() {
  if [ "$1" = switchyard-cluster ]; then stop_cluster; else stop_server; fi
}

harness_wrap=()
if [ "$PIN" != 0 ]; then
  # One harness process per harness CPU at least (a Node process uses one).
  cpus="$(cpu_count "$LOADGEN_CPUS")"
  [ "$cpus" -gt "$WORKERS" ] && WORKERS="$cpus" && export JITTER_WORKERS="$WORKERS"
  # Start each server once unpinned first, so that a build it needs runs on every CPU.
  for server in $SERVERS; do start "$server" && halt "$server"; done
  export SERVER_WRAP="taskset -c $SERVER_CPUS"
  harness_wrap=(taskset -c "$LOADGEN_CPUS")
  echo "pinned: server on CPUs $SERVER_CPUS, harness on CPUs $LOADGEN_CPUS"
fi

mkdir -p "$(dirname "$RESULTS")"
lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT
echo "jitter: $CLIENTS clients, $DURATION s at $RATE/s, $WORKERS harness process(es), servers: $SERVERS"
for server in $SERVERS; do
  start "$server"
  case "$SERVER_ADDR" in
    127.*) ;;
    *)
      echo "jitter: $server listens on $SERVER_ADDR, not on loopback" >&2
      halt "$server"
      exit 1
      ;;
  esac
  kill_args=()
  [ -n "$KILL_PID" ] && kill_args=(--kill-pid "$KILL_PID" --kill-after-s "$KILL_AFTER_S")
  stream_var="JITTER_STREAM_${server//-/_}"
  r="$(JITTER_STREAM="${!stream_var:-${JITTER_STREAM:-publication}}" timeout "$deadline" \
    "${harness_wrap[@]}" node "$BENCH_ROOT/bench/jitter/jitter.mjs" --url "$SERVER_URLS" --label "$server" \
    "${kill_args[@]}" | sed -n 's/^RESULT //p')" || true
  halt "$server"
  if [ -z "$r" ]; then
    echo "jitter: $server: no result" >&2
    continue
  fi
  echo "$r" >>"$lines"
done

table="$(python3 - "$lines" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(v, spec="{}"):
    return "-" if v is None else spec.format(v)
head = ("server", "clients", "pub", "deliv%", "med%", "p1%", "lost", "dups", "ooo",
        "reconn", "recov", "replayed", "rp_p50", "rp_p99", "rp_max", "live_p99", "h_cpu")
print("%-20s %7s %5s %8s %8s %8s %8s %6s %6s %7s %7s %11s %7s %7s %7s %8s %6s" % head)
for r in rows:
    print("%-20s %7s %5s %8s %8s %8s %8s %6s %6s %7s %7s %11s %7s %7s %7s %8s %6s" % (
        r["label"], f"{r['clients']}" + (f"-{r['failed_clients']}" if r["failed_clients"] else ""),
        r["published"], f(r["delivered_pct"], "{:.2f}"), f(r["delivered_pct_median"], "{:.2f}"),
        f(r["delivered_pct_p1"], "{:.2f}"), r["lost"], r["duplicates"], r["out_of_order"],
        r["reconnects"], r["recovered"], f"{r['replays_complete']}/{r['gaps']}",
        f(r["replay_ms_p50"], "{:g}"), f(r["replay_ms_p99"], "{:g}"), f(r["replay_ms_max"], "{:g}"),
        f(r["live_ms_p99"]), "/".join(f"{c:.0%}" for c in r["harness_cpu_share"])))
for r in rows:
    if r.get("nodes", 1) > 1:
        killed = r.get("killed_at_s")
        print("%s: %d nodes, %s; %d connections failed over to another node" % (
            r["label"], r["nodes"],
            "the last SIGKILLed %.1f s into the stream" % killed if killed is not None else "none killed",
            r.get("failovers", 0)))
print()
print("deliv%: of the numbers the server accepted, over all clients; med%/p1%: per client,")
print("median and 1st percentile. lost: accepted numbers a client never got. dups, ooo: repeats")
print("and new numbers below one already seen. reconn/recov: reconnects, and those that came")
print("back socket.recovered. replayed: reconnects whose missed numbers all arrived / those that")
print("had missed any. rp_*: from the transport open again to the last missed number, ms.")
print("live_p99: send to receipt of what no reconnect missed, ms. h_cpu: each harness process's")
print("CPU while the stream ran, of one CPU (near 100%: the harness may be the limit).")
PY
)"
echo "$table"
{
  echo "Jitter, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "CLIENTS=$CLIENTS DURATION=$DURATION RATE=$RATE WORKERS=$WORKERS PIN=$PIN SERVERS=\"$SERVERS\" bench/scenarios/jitter.sh"
  echo
  echo "$table"
  echo
  cat "$lines"
} >"$RESULTS"
echo "results: $RESULTS"
