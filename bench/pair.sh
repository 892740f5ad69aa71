#!/usr/bin/env bash
# A change beside the binary before it: fan-out and idle memory, the two release binaries
# alternating (before, after, before, after …) in one sitting, so that the machine's noise
# falls on both alike. Prints each scenario's table per round and binary.
#
#   BEFORE=/path/to/old/switchyard AFTER=/path/to/new/switchyard bench/pair.sh
#   ROUNDS=2 RATES="20 40 60" DURATION=10s CONNECTIONS=15000 (the defaults)
set -uo pipefail
cd "$(dirname "$0")/.."
: "${BEFORE:?the binary before the change}" "${AFTER:?the binary after the change}"
ROUNDS="${ROUNDS:-2}"
export RATES="${RATES:-20 40 60}" DURATION="${DURATION:-10s}" CONNECTIONS="${CONNECTIONS:-15000}"

for round in $(seq "$ROUNDS"); do
  for which in before after; do
    bin="$BEFORE"; [ "$which" = after ] && bin="$AFTER"
    echo "### fanout round $round $which"
    SWITCHYARD_BIN="$bin" SERVERS=switchyard bench/scenarios/fanout.sh 2>&1 | grep -v "^bench:" | tail -8
  done
done
for round in $(seq "$ROUNDS"); do
  for which in before after; do
    bin="$BEFORE"; [ "$which" = after ] && bin="$AFTER"
    echo "### idle round $round $which"
    SWITCHYARD_BIN="$bin" SERVERS=switchyard RUNS=1 bench/scenarios/idle-memory.sh 2>&1 | tail -2
  done
done
