# Shared by the benchmark scripts: build the load generator, start and stop any of the
# three servers (bench/peers/run-peer.sh), and print result tables.
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BENCH_JWT_SECRET="${BENCH_JWT_SECRET:-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
# Spread client sockets over source addresses: ~28k ports each on this machine.
BENCH_SOURCES="${BENCH_SOURCES:-127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4}"
BENCH_PROFILE="${BENCH_PROFILE:-release}"
LOADGEN_TARGET_DIR="${LOADGEN_TARGET_DIR:-$HOME/.cache/switchyard-target-$BENCH_PROFILE}"

build_loadgen() {
  local flag=()
  [ "$BENCH_PROFILE" = release ] && flag=(--release)
  (cd "$BENCH_ROOT" && CARGO_TARGET_DIR="$LOADGEN_TARGET_DIR" cargo build "${flag[@]}" --locked --quiet -p switchyard-bench --bin loadgen) >&2
  LOADGEN="$LOADGEN_TARGET_DIR/$BENCH_PROFILE/loadgen"
  [ "$BENCH_PROFILE" = release ] || LOADGEN="$LOADGEN_TARGET_DIR/debug/loadgen"
}

# start_server <switchyard|node|socketioxide>: sets SERVER_PID and SERVER_ADDR. With
# SERVER_WRAP (words, e.g. "taskset -c 0"), run-peer.sh runs under that command, which
# must exec it (as taskset does) so that SERVER_PID stays the server's: a server started
# pinned sizes its thread pool to its CPUs, as one pinned later does not.
start_server() {
  local log wrap=()
  log="$(mktemp)"
  read -r -a wrap <<<"${SERVER_WRAP:-}"
  # PORT (default 0, any free port) is kept by a restart, as the storm needs.
  PORT="${PORT:-0}" "${wrap[@]}" "$BENCH_ROOT/bench/peers/run-peer.sh" "$1" >"$log" 2>"$log.err" &
  SERVER_PID=$!
  SERVER_ADDR=""
  for _ in $(seq 600); do
    SERVER_ADDR="$(sed -n 's#^listening on http://##p' "$log" | head -1)"
    [ -n "$SERVER_ADDR" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.5
  done
  if [ -z "$SERVER_ADDR" ]; then
    echo "bench: $1 did not start" >&2
    cat "$log.err" >&2
    return 1
  fi
}

# start_switchyard_release <dir> [wrapper…]: the release binary (built already) with the
# benchmark settings, a fresh SQLite database in <dir>, its log in <dir>/server.log, run
# under the wrapper command when one is given (heaptrack, say). Sets SERVER_PID (the
# wrapper's when there is one) and SERVER_ADDR.
start_switchyard_release() {
  local dir="$1"
  shift
  local bin="${SWITCHYARD_RELEASE_TARGET_DIR:-$HOME/.cache/switchyard-target-release}/release/switchyard"
  SWITCHYARD_BIND=127.0.0.1:0 \
  SWITCHYARD_DATABASE_URL="sqlite://$dir/bench.db" \
  SWITCHYARD_JWT_SECRET="$BENCH_JWT_SECRET" \
  SWITCHYARD_RATE_LIMITS=off \
  SWITCHYARD_MAX_CONNECTIONS_PER_IP=0 \
  SWITCHYARD_HANDSHAKES_PER_IP_PER_MINUTE=0 \
  RUST_LOG=warn,switchyard::cli=info NO_COLOR=1 \
    "$@" "$bin" serve >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=""
  for _ in $(seq 300); do
    SERVER_ADDR="$(grep -o 'listening on http://[0-9.:]*' "$dir/server.log" | head -1 | sed 's#listening on http://##')" || true
    [ -n "$SERVER_ADDR" ] && return 0
    sleep 0.2
  done
  cat "$dir/server.log" >&2
  return 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# loadgen <args…>: runs the load generator against the current server, prints its RESULT
# JSON (one line). LOADGEN_WRAP (words, e.g. "taskset -c 1") runs it under that command.
loadgen() {
  local wrap=()
  read -r -a wrap <<<"${LOADGEN_WRAP:-}"
  "${wrap[@]}" "$LOADGEN" --addr "$SERVER_ADDR" --sources "$BENCH_SOURCES" "$@" | sed -n 's/^RESULT //p'
}

# json <result> <python expression on r>: one value out of a result line.
json() {
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# histogram_quantile <metrics text file> <histogram> <label=value> <q>: the upper bound,
# in ms, of the bucket holding quantile q of one of the server's own histograms (as
# Prometheus' histogram_quantile rounds up; `-` when it has no samples).
histogram_quantile() {
  python3 - "$@" <<'PY'
import math, re, sys
path, name, label, q = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
key, value = label.split("=", 1)
buckets = []
for line in open(path):
    m = re.match(r'%s_bucket\{(.*)\} (\S+)' % re.escape(name), line)
    if not m or '%s="%s"' % (key, value) not in m.group(1):
        continue
    le = re.search(r'le="([^"]+)"', m.group(1)).group(1)
    buckets.append((math.inf if le == "+Inf" else float(le), float(m.group(2))))
buckets.sort()
total = buckets[-1][1] if buckets else 0
bound = next((le for le, n in buckets if n >= q * total), None) if total else None
print("-" if bound is None else (">%g" % (buckets[-2][0] * 1000) if math.isinf(bound) else "%g" % (bound * 1000)))
PY
}

# cpu_count <list>: how many CPUs a taskset list such as "1", "0-3" or "1,3" names.
cpu_count() {
  local n=0 part
  for part in ${1//,/ }; do
    if [[ $part == *-* ]]; then n=$((n + ${part#*-} - ${part%-*} + 1)); else n=$((n + 1)); fi
  done
  echo "$n"
}
