#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: every figure there comes from one run of this script.
#
#   scripts/bench.sh                # SQLite and PostgreSQL (needs DATABASE_URL's server)
#   BENCH_SECONDS=5 scripts/bench.sh  # shorter rounds
#   BENCH_BIN=/tmp/aspflow-old scripts/bench.sh  # measure another build, e.g. of an earlier commit
#   BENCH_PARTS=replay scripts/bench.sh  # only some parts (of: load instructions open replay)
#
# It builds the release binary, then for each backend starts `aspflow serve` as a separate
# process on a fresh database and loads it with `aspflow bench --server ... --baseline` (the
# raw baseline writes the same rows into scratch tables of the same database), once with the
# API's full answers and once with compact ones; then `bench-open` (cost as the number of cases
# grows) and `bench-replay` (replay and verification of a 1,000,000-event log). Each part
# prints the load average; run it on a quiet machine. The `instructions` part counts the
# server's instructions per operation under valgrind's callgrind instead of timing them: a
# figure that does not move with the host's speed (needs valgrind; skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_ROUND="${BENCH_SECONDS:-10}"
CLIENTS="${BENCH_CLIENTS:-1,16,64}"
PG_ADMIN="${DATABASE_URL:-postgres://root@127.0.0.1:5432/test}"
PG_BASE="${PG_ADMIN%/*}"
PORT="${BENCH_PORT:-50151}"
PARTS=" ${BENCH_PARTS:-load instructions open replay} "
part() { [[ "$PARTS" == *" $1 "* ]]; }

# BENCH_BIN=path: measure that binary (e.g. one built at an earlier commit) instead of building.
if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN"
else
  cargo build --release --locked
  bin=target/release/aspflow
fi
export PGOPTIONS="${PGOPTIONS:---client-min-messages=warning}"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "# $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r), commit $(git rev-parse --short HEAD), binary $bin"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

fresh_pg() {
  local name="aspflow_bench_$1"
  psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  echo "$PG_BASE/$name"
}

serve_and_load() {
  local db="$1"
  "$bin" serve --db "$db" --listen "127.0.0.1:$PORT" --log warn &
  server=$!
  for _ in $(seq 1 100); do
    if "$bin" case list --server "http://127.0.0.1:$PORT" --as observer >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  # The first pass also measures the transport floor before each round (`--floor`: the same
  # clients calling grpc.health.v1.Health/Check, no engine and no database).
  for reply in full compact; do
    floor=""; if [ "$reply" = full ]; then floor="--floor"; fi
    "$bin" bench --server "http://127.0.0.1:$PORT" --db "$db" --baseline $floor \
      --clients "$CLIENTS" --seconds "$SECONDS_PER_ROUND" --warmup 2 --reply "$reply"
  done
  # All clients on one HTTP/2 connection (the other option of issue 14's item 2).
  "$bin" bench --server "http://127.0.0.1:$PORT" --db "$db" --baseline --floor \
    --clients 64 --seconds "$SECONDS_PER_ROUND" --warmup 2 --reply compact --shared-connection
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

if part load; then
  echo; echo "## aspflow bench, SQLite (server in a separate process)"
  serve_and_load "sqlite://$work/bench.db"

  echo; echo "## aspflow bench, PostgreSQL (server in a separate process)"
  serve_and_load "$(fresh_pg load)"
fi

# The server's instructions per operation (callgrind counts them; wall time does not enter):
# 16 clients for 20 s, counted from the end of the 2 s warm-up to the end of the round.
count_instructions() {
  local db="$1" reply="$2" out="$work/callgrind.out"
  rm -f "$out"*
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" serve --db "$db" --listen "127.0.0.1:$PORT" --log warn 2>"$work/valgrind.log" &
  server=$!
  for _ in $(seq 1 300); do
    if "$bin" case list --server "http://127.0.0.1:$PORT" --as observer >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  "$bin" bench --server "http://127.0.0.1:$PORT" --clients 16 --seconds 20 --warmup 2 \
    --reply "$reply" >"$work/bench.out" 2>&1 &
  local load=$!
  sleep 2.2
  callgrind_control -z "$server" >/dev/null 2>&1
  wait "$load"
  callgrind_control -d "$server" >/dev/null 2>&1
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  local ir ops
  ir="$(awk '/^(summary|totals):/ {print $2; exit}' "$out".*)"
  ops="$(awk '/^  (open|execute|shared|aborted|get|list) / {n += $2} END {print n}' "$work/bench.out")"
  printf '%-8s %-7s server instructions per operation: %s (%s instructions, %s operations: %s)\n' \
    "${db%%:*}" "$reply" "$((ir / ops))" "$ir" "$ops" \
    "$(grep -o 'durable commands/s: [0-9]*' "$work/bench.out")"
}

if part instructions; then
  echo; echo "## instructions per operation (valgrind --tool=callgrind; counted, not timed)"
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    for reply in full compact; do
      count_instructions "sqlite://$work/instructions-$reply.db" "$reply"
      count_instructions "$(fresh_pg instr)" "$reply"
    done
  else
    echo "valgrind is not installed: skipped"
  fi
fi

if part open; then
  echo; echo "## bench-open, SQLite"
  "$bin" bench-open --at 100,1000,10000,100000 --samples 200
  echo; echo "## bench-open, PostgreSQL"
  "$bin" bench-open --at 100,1000,10000 --samples 200 --db "$(fresh_pg open)"
fi

if part replay; then
  echo; echo "## bench-replay, SQLite"
  "$bin" bench-replay --events 1000000
  echo; echo "## bench-replay, PostgreSQL"
  "$bin" bench-replay --events 1000000 --db "$(fresh_pg replay)"
fi

for name in load instr open replay; do psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS aspflow_bench_$name" >/dev/null; done
echo; echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
