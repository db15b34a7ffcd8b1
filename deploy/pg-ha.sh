#!/usr/bin/env bash
# A PostgreSQL primary with a synchronous streaming standby on one machine, for trying and
# testing aspflow's high availability (an acknowledged event is on both servers), built with the
# Debian server binaries (initdb, pg_ctl, pg_basebackup); failover is `pg_ctl promote`.
#
# Usage: deploy/pg-ha.sh COMMAND DIR [ARGS]
#   up DIR [PRIMARY_PORT [STANDBY_PORT]]
#                    create DIR/primary (port 5433) and DIR/standby (port 5434), start both,
#                    wait until the standby is the synchronous one, and print the URL aspflow
#                    nodes use (on stdout, alone: URL=$(deploy/pg-ha.sh up DIR); also in DIR/url)
#   status DIR       which node is the primary, and the replication state
#   kill-primary DIR kill -9 the postmaster of the node that is the primary (a crash)
#   promote DIR      promote the standby (pg_ctl promote), then let it commit without a standby
#                    (synchronous_standby_names = ''), and print how long that took
#   failover DIR     kill-primary then promote, with timings
#   stop DIR NODE    stop NODE (primary or standby, the directory names) in immediate mode
#   start DIR NODE   start NODE again (refused if it would make a second primary)
#   down DIR [--rm]  stop both nodes (immediate mode); --rm also deletes DIR
#
# Environment: HA_USER (default postgres) is created as a superuser, HA_DB (default aspflow) is
# created owned by it; PGBIN (default: the newest /usr/lib/postgresql/*/bin) holds the server
# binaries. Authentication is trust on 127.0.0.1 and on the Unix sockets, which are in DIR:
# this is for one machine and tests, not for production.
# Run as root (the servers then run as the `postgres` OS user) or as the user owning DIR.
# The servers listen on 127.0.0.1 only; ports already in use (the system cluster's 5432, say)
# are refused, and only postmasters whose data directory is in DIR are ever signalled.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "pg-ha.sh: $*" >&2; exit 1; }
say() { echo "pg-ha.sh: $*" >&2; }

export LC_ALL=C
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE \
  PGTARGETSESSIONATTRS PGAPPNAME || true

HA_USER="${HA_USER:-postgres}"
HA_DB="${HA_DB:-aspflow}"
if [ -z "${PGBIN:-}" ]; then
  PGBIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
    | sort -V | tail -n 1)"
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  die "no PostgreSQL server binaries (apt-get install postgresql, or set PGBIN)"
fi

# Milliseconds since the epoch.
now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $((t / 1000)); }

# Runs a server binary as the postgres OS user when we are root (initdb and postgres refuse
# root), as ourselves otherwise; from / so that the postgres user can read the working directory.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# psql as the bootstrap superuser over the node's Unix socket: sql_on PORT [psql args...]
sql_on() {
  local port="$1"; shift
  "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$DIR" -p "$port" -U postgres -d postgres "$@"
}

# A process that exists and is not a zombie (a killed postmaster is reparented to init, which
# may take its time to reap it).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid of NODE's postmaster if it is running (its pid file names a live process whose working
# directory is the node's data directory), nothing otherwise.
postmaster_pid() {
  local data="$DIR/$1" pid
  [ -f "$data/postmaster.pid" ] || return 0
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" = "$data" ]; then echo "$pid"; fi
}

node_port() {
  case "$1" in
    primary) echo "$PRIMARY_PORT" ;;
    standby) echo "$STANDBY_PORT" ;;
    *) die "unknown node $1 (primary or standby)" ;;
  esac
}

# Running node that is in recovery (standby.signal) or not: node_with_role primary|standby
node_with_role() {
  local node
  for node in primary standby; do
    if [ ! -d "$DIR/$node" ] || [ -z "$(postmaster_pid "$node")" ]; then continue; fi
    if [ -f "$DIR/$node/standby.signal" ]; then
      [ "$1" = standby ] && { echo "$node"; return 0; }
    else
      [ "$1" = primary ] && { echo "$node"; return 0; }
    fi
  done
  return 0
}

set_dir() {
  [ -n "${1:-}" ] || die "DIR is missing (see --help)"
  DIR="$(realpath -m -- "$1")"
  [ "$DIR" != / ] || die "DIR cannot be /"
}

load_env() {
  [ -f "$DIR/ha.env" ] || die "$DIR was not set up by pg-ha.sh up (no $DIR/ha.env)"
  # shellcheck source=/dev/null
  . "$DIR/ha.env"
}

start_node() {
  local node="$1"
  as_pg "$PGBIN/pg_ctl" -D "$DIR/$node" -l "$DIR/$node.log" -w -t 120 start >&2
}

stop_node() {
  local node="$1" pid i
  pid="$(postmaster_pid "$node")"
  if [ -z "$pid" ]; then
    say "$node is not running"
    return 0
  fi
  as_pg "$PGBIN/pg_ctl" -D "$DIR/$node" -m immediate -w -t 60 stop >&2 || true
  for i in $(seq 1 100); do
    alive "$pid" || break
    [ "$i" -lt 100 ] || die "$node (pid $pid) did not stop"
    sleep 0.1
  done
  say "$node stopped"
}

cmd_up() {
  PRIMARY_PORT="${1:-5433}"
  STANDBY_PORT="${2:-5434}"
  local t0 p s
  t0="$(now_ms)"
  [[ "$PRIMARY_PORT" =~ ^[0-9]+$ && "$STANDBY_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
  [ "$PRIMARY_PORT" != "$STANDBY_PORT" ] || die "the two ports must differ"
  for p in "$PRIMARY_PORT" "$STANDBY_PORT"; do
    ! port_in_use "$p" || die "port $p is already in use on 127.0.0.1"
  done
  if [ -e "$DIR/primary" ] || [ -e "$DIR/standby" ]; then
    die "$DIR already holds nodes; run: pg-ha.sh down $DIR --rm"
  fi
  if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then die "$DIR exists and is not empty"; fi

  # The Unix sockets are DIR/.s.PGSQL.PORT, and a socket path has at most 107 bytes.
  [ $((${#DIR} + 16)) -le 107 ] || die "$DIR is too long for the Unix sockets in it"
  mkdir -p "$DIR"
  chmod 0755 "$DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$DIR"; fi
  as_pg test -w "$DIR" -a -x "$DIR" \
    || die "the postgres user cannot write to $DIR (a parent directory not searchable by it?)"
  {
    printf 'PRIMARY_PORT=%q\nSTANDBY_PORT=%q\n' "$PRIMARY_PORT" "$STANDBY_PORT"
    printf 'HA_USER=%q\nHA_DB=%q\n' "$HA_USER" "$HA_DB"
  } >"$DIR/ha.env"

  say "initdb $DIR/primary"
  as_pg "$PGBIN/initdb" -D "$DIR/primary" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=trust --data-checksums --no-instructions >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  as_pg tee "$DIR/primary/pg_hba.conf" >/dev/null <<'EOF'
# pg-ha.sh: trust on the Unix socket and on 127.0.0.1 only, for all users and replication
local   all           all                 trust
local   replication   all                 trust
host    all           all   127.0.0.1/32  trust
host    replication   all   127.0.0.1/32  trust
EOF
  # Later settings win: this block overrides initdb's. The standby inherits it (pg_basebackup).
  as_pg tee -a "$DIR/primary/postgresql.conf" >/dev/null <<EOF

# --- pg-ha.sh ---
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$DIR'
cluster_name = 'ha-primary'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '512MB'
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
fsync = on
full_page_writes = on
synchronous_commit = on
# a commit returns once the WAL is flushed on the primary AND on standby1
synchronous_standby_names = 'FIRST 1 (standby1)'
logging_collector = off
log_line_prefix = '%m [%p] %q%a '
EOF
  say "starting the primary on 127.0.0.1:$PRIMARY_PORT"
  start_node primary

  # The standby does not exist yet: these commits must not wait for it.
  say "creating role $HA_USER and database $HA_DB"
  sql_on "$PRIMARY_PORT" -v u="$HA_USER" -v d="$HA_DB" <<'EOF'
SET synchronous_commit = local;
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', :'u')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'d') \gexec
EOF

  say "pg_basebackup into $DIR/standby"
  as_pg "$PGBIN/pg_basebackup" -D "$DIR/standby" \
    -d "host=127.0.0.1 port=$PRIMARY_PORT user=postgres application_name=standby1" \
    -R -X stream -C -S standby1 -c fast --no-password >&2
  grep -q "application_name=standby1" "$DIR/standby/postgresql.auto.conf" \
    || die "pg_basebackup -R did not put application_name=standby1 in primary_conninfo"
  # Once promoted, the standby has no standby of its own: it must not wait for one.
  as_pg tee -a "$DIR/standby/postgresql.conf" >/dev/null <<EOF

# --- pg-ha.sh: the standby ---
port = $STANDBY_PORT
cluster_name = 'ha-standby'
synchronous_standby_names = ''
EOF
  say "starting the standby on 127.0.0.1:$STANDBY_PORT"
  start_node standby

  say "waiting for standby1 to be the synchronous standby"
  local i
  for i in $(seq 1 300); do
    s="$(sql_on "$PRIMARY_PORT" -c \
      "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")"
    [ "$s" = "streaming/sync" ] && break
    [ "$i" -lt 300 ] || die "standby1 is not a synchronous standby after 30 s (state: ${s:-none})"
    sleep 0.1
  done

  local url="postgres://$HA_USER@127.0.0.1:$PRIMARY_PORT,127.0.0.1:$STANDBY_PORT/$HA_DB?target_session_attrs=read-write"
  echo "$url" >"$DIR/url"
  say "up in $(($(now_ms) - t0)) ms: primary 127.0.0.1:$PRIMARY_PORT, synchronous standby 127.0.0.1:$STANDBY_PORT"
  echo "$url"
}

cmd_status() {
  local node port pid role
  for node in primary standby; do
    port="$(node_port "$node")"
    pid="$(postmaster_pid "$node")"
    if [ -z "$pid" ]; then
      echo "$node  127.0.0.1:$port  down"
      continue
    fi
    role="$(sql_on "$port" -c \
      "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'PRIMARY' END" 2>/dev/null \
      || echo "not answering")"
    echo "$node  127.0.0.1:$port  pid $pid  $role"
    if [ "$role" = PRIMARY ]; then
      sql_on "$port" -F ' ' -c "SELECT '  replica', application_name, client_addr, state,
          'sync_state=' || sync_state, 'replay_lag=' || coalesce(replay_lag::text, '0')
        FROM pg_stat_replication" || true
      sql_on "$port" -c "SELECT '  synchronous_standby_names=' ||
        quote_literal(current_setting('synchronous_standby_names'))" || true
    elif [ "$role" = standby ]; then
      sql_on "$port" -F ' ' -c "SELECT '  receiver', status, sender_host || ':' || sender_port
        FROM pg_stat_wal_receiver" || true
    fi
  done
}

cmd_kill_primary() {
  local node pid i
  node="$(node_with_role primary)"
  [ -n "$node" ] || die "no running primary in $DIR"
  pid="$(postmaster_pid "$node")"
  say "kill -9 $pid (the postmaster of $node, 127.0.0.1:$(node_port "$node"))"
  kill -KILL "$pid"
  for i in $(seq 1 100); do
    alive "$pid" || return 0
    sleep 0.05
  done
  die "postmaster $pid is still alive after kill -9"
}

cmd_promote() {
  local node other port t0 t1 t2 ro
  node="$(node_with_role standby)"
  [ -n "$node" ] || die "no running standby in $DIR"
  other="$(node_with_role primary)"
  [ -z "$other" ] \
    || die "$other is a running primary: promoting $node would make two (kill-primary or stop it first)"
  port="$(node_port "$node")"
  t0="$(now_ms)"
  as_pg "$PGBIN/pg_ctl" -D "$DIR/$node" -w -t 60 promote >&2
  t1="$(now_ms)"
  sql_on "$port" <<'EOF' >/dev/null
ALTER SYSTEM SET synchronous_standby_names = '';
SELECT pg_reload_conf();
EOF
  # pg_reload_conf only signals: wait until the setting is in force.
  for _ in $(seq 1 100); do
    [ -z "$(sql_on "$port" -c "SHOW synchronous_standby_names")" ] && break
    sleep 0.05
  done
  ro="$(sql_on "$port" -c "SELECT pg_is_in_recovery()::text || '/' || current_setting('transaction_read_only')")"
  t2="$(now_ms)"
  [ "$ro" = "false/off" ] || die "$node is not writable after promotion ($ro)"
  say "promoted $node (127.0.0.1:$port): pg_ctl promote $((t1 - t0)) ms, writable without a standby after $((t2 - t0)) ms"
}

cmd_failover() {
  local t0
  t0="$(now_ms)"
  cmd_kill_primary
  cmd_promote
  say "failover done in $(($(now_ms) - t0)) ms"
}

cmd_stop() {
  node_port "${1:-}" >/dev/null
  stop_node "$1"
}

cmd_start() {
  local node="${1:-}" other port
  port="$(node_port "$node")"
  [ -n "$(postmaster_pid "$node")" ] && { say "$node is already running"; return 0; }
  [ -d "$DIR/$node" ] || die "no $DIR/$node"
  if [ ! -f "$DIR/$node/standby.signal" ]; then
    other="$(node_with_role primary)"
    [ -z "$other" ] || die "$other is the primary now: starting $node too would make two primaries"
  fi
  ! port_in_use "$port" || die "port $port is already in use on 127.0.0.1"
  start_node "$node"
}

cmd_down() {
  local rm=0 node
  if [ "${1:-}" = --rm ]; then rm=1; fi
  if [ ! -d "$DIR" ]; then
    say "$DIR does not exist: nothing to stop"
    return 0
  fi
  [ -f "$DIR/ha.env" ] || [ -z "$(ls -A "$DIR")" ] \
    || die "$DIR was not set up by pg-ha.sh (no $DIR/ha.env): not touching it"
  for node in primary standby; do
    if [ -d "$DIR/$node" ]; then stop_node "$node"; fi
  done
  if [ "$rm" -eq 1 ]; then
    rm -rf -- "$DIR"
    say "removed $DIR"
  fi
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
cmd="$1"; shift
case "$cmd" in
  -h|--help|help) usage; exit 0 ;;
esac
# `down --rm DIR` as well as `down DIR --rm`
rm_flag=""
args=()
for a in "$@"; do
  if [ "$a" = --rm ] && [ "$cmd" = down ]; then rm_flag=--rm; else args+=("$a"); fi
done
set_dir "${args[0]:-}"
case "$cmd" in
  up) cmd_up "${args[@]:1}" ;;
  status) load_env; cmd_status ;;
  kill-primary) load_env; cmd_kill_primary ;;
  promote) load_env; cmd_promote ;;
  failover) load_env; cmd_failover ;;
  stop) load_env; cmd_stop "${args[1]:-}" ;;
  start) load_env; cmd_start "${args[1]:-}" ;;
  down) cmd_down "$rm_flag" ;;
  *) die "unknown command $cmd (see --help)" ;;
esac
