#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: every figure there comes from one run of this script.
#
#   scripts/bench.sh                # SQLite and PostgreSQL (needs DATABASE_URL's server)
#   BENCH_SECONDS=5 scripts/bench.sh  # shorter rounds
#   BENCH_PARTS=replay scripts/bench.sh  # only some parts (of: load open replay)
#
# It builds the release binary, then for each backend starts `aspflow serve` as a separate
# process on a fresh database and loads it with `aspflow bench --server ... --baseline` (the
# raw baseline writes the same rows into scratch tables of the same database), once with the
# API's full answers and once with compact ones; then `bench-open` (cost as the number of cases
# grows) and `bench-replay` (replay and verification of a 1,000,000-event log). Each part
# prints the load average; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_ROUND="${BENCH_SECONDS:-10}"
CLIENTS="${BENCH_CLIENTS:-1,16,64}"
PG_ADMIN="${DATABASE_URL:-postgres://root@127.0.0.1:5432/test}"
PG_BASE="${PG_ADMIN%/*}"
PORT="${BENCH_PORT:-50151}"
PARTS=" ${BENCH_PARTS:-load open replay} "
part() { [[ "$PARTS" == *" $1 "* ]]; }

cargo build --release --locked
bin=target/release/aspflow
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "# $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r), commit $(git rev-parse --short HEAD)"
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
  for reply in full compact; do
    "$bin" bench --server "http://127.0.0.1:$PORT" --db "$db" --baseline \
      --clients "$CLIENTS" --seconds "$SECONDS_PER_ROUND" --warmup 2 --reply "$reply"
  done
  # All clients on one HTTP/2 connection (the other option of issue 14's item 2).
  "$bin" bench --server "http://127.0.0.1:$PORT" --db "$db" --baseline \
    --clients 64 --seconds "$SECONDS_PER_ROUND" --warmup 2 --reply compact --shared-connection
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

if part load; then
  echo; echo "## aspflow bench, SQLite (server in a separate process)"
  serve_and_load "sqlite://$work/bench.db"

  echo; echo "## aspflow bench, PostgreSQL (server in a separate process)"
  serve_and_load "$(fresh_pg load)"
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

for name in load open replay; do psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS aspflow_bench_$name" >/dev/null; done
echo; echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
