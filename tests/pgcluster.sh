#!/usr/bin/env bash
# pgcluster.sh — a PostgreSQL + PostGIS primary and its streaming read
# replica on 127.0.0.1, for tests (throwaway DIR) and local runs (persistent
# DIR).  Usage: pgcluster.sh COMMAND DIR [ARGS]; see usage() below.
set -Eeuo pipefail
trap 'echo "pgcluster: failed: line $LINENO: $BASH_COMMAND" >&2' ERR

prog=pgcluster
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$here")
DB=proximity
TIMEOUT=${PGCLUSTER_TIMEOUT:-30}

usage() {
    cat >&2 <<EOF
usage: $0 start DIR [--port-primary N] [--port-replica N]
       $0 stop DIR [--keep]
       $0 stop-node|start-node|restart-node DIR primary|replica
       $0 wait-replay DIR
       $0 psql DIR primary|replica [PSQL ARGS...]
       $0 status DIR
       $0 check          (exit 77 with the reason if PostgreSQL/PostGIS are missing)
start creates DIR (or reuses the cluster already in it), writes DIR/env;
stop stops both nodes and removes DIR (--keep: stop only).
EOF
    exit 2
}

log() { echo "$prog: $*" >&2; }
die() { log "$*"; exit 1; }

# Tail of a node's log, to stderr, then fail.
die_log() {
    local node=$1
    shift
    log "$*"
    if [ -f "$DIR/$node.log" ]; then
        log "---- last lines of $DIR/$node.log ----"
        tail -n 25 "$DIR/$node.log" >&2 || true
    fi
    exit 1
}

now_ms() { date +%s%3N; }

# PGCLUSTER_VERBOSE=1: how long each step of start took.
step_t=$(now_ms)
step() {
    local t
    t=$(now_ms)
    [ "${PGCLUSTER_VERBOSE:-0}" = 1 ] && log "  $((t - step_t)) ms: $*"
    step_t=$t
    return 0
}

# ---- locating PostgreSQL ---------------------------------------------------

find_bindir() {
    local d
    if [ -n "${PG_BINDIR:-}" ]; then
        echo "$PG_BINDIR"
        return
    fi
    # Debian puts each major version in its own directory; prefer 15.
    for d in /usr/lib/postgresql/15/bin $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
        if [ -x "$d/initdb" ]; then
            echo "$d"
            return
        fi
    done
    if command -v pg_config >/dev/null 2>&1 &&
        [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
        return
    fi
    d=$(command -v initdb 2>/dev/null || true)
    [ -n "$d" ] && dirname "$d"
    return 0
}

PGBIN=$(find_bindir)

# Prints why the harness cannot run here and returns 1, or returns 0.
check_installed() {
    local share
    if [ -z "$PGBIN" ]; then
        echo "PostgreSQL server binaries (initdb) not found; install postgresql-15 (scripts/deps.sh)"
        return 1
    fi
    for b in initdb pg_ctl postgres pg_basebackup psql; do
        if [ ! -x "$PGBIN/$b" ]; then
            echo "$PGBIN/$b is missing; install postgresql-15 (scripts/deps.sh)"
            return 1
        fi
    done
    share=$("$PGBIN/pg_config" --sharedir 2>/dev/null || true)
    [ -n "$share" ] || share=/usr/share/postgresql/$("$PGBIN/postgres" -V | sed 's/.* \([0-9][0-9]*\).*/\1/')
    if ! ls "$share"/extension/postgis.control >/dev/null 2>&1; then
        echo "PostGIS is not installed for $PGBIN (no $share/extension/postgis.control); install postgresql-15-postgis-3"
        return 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "running as root but there is no 'postgres' user to run the server as"
        return 1
    fi
    return 0
}

# PostgreSQL refuses to run as root: run server-side tools as postgres then.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# ---- nodes -----------------------------------------------------------------

node_port() {
    [ -f "$DIR/$1/node.conf" ] || return 0
    sed -n 's/^port = \([0-9][0-9]*\)$/\1/p' "$DIR/$1/node.conf" | tail -n 1
}

q() { # q NODE SQL — one value, unaligned, via TCP
    "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$(node_port "$1")" -U postgres \
        -d "${QDB:-$DB}" -c "$2"
}

port_in_use() {
    # A listener on any address of this port counts (ss), and so does
    # anything answering on 127.0.0.1 (bash /dev/tcp) in case ss is absent.
    if command -v ss >/dev/null 2>&1 &&
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; then
        return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free port below Linux's ephemeral range (32768+), so outgoing
# connections do not take it between our check and the server's bind.
pick_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 12700))
        [ "$p" = "${1:-}" ] && continue
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found after $i tries"
}

sockdir_setting() {
    # Unix socket paths are limited to ~107 bytes; go TCP-only if DIR is long.
    if [ $((${#DIR} + 20)) -lt 100 ]; then
        echo "'$DIR/run'"
    else
        echo "''"
    fi
}

write_node_conf() { # NODE PORT
    local f="$DIR/$1/node.conf"
    {
        echo "# written by tests/pgcluster.sh"
        echo "port = $2"
        if [ "$1" = replica ]; then
            echo "primary_conninfo = 'host=127.0.0.1 port=$(node_port primary) user=postgres application_name=proximity_replica'"
        fi
    } >"$f.tmp"
    mv "$f.tmp" "$f"
    [ "$(id -u)" = 0 ] && chown postgres: "$f"
    return 0
}

node_running() {
    [ -f "$DIR/$1/PG_VERSION" ] &&
        as_pg "$PGBIN/pg_ctl" status -D "$DIR/$1" >/dev/null 2>&1
}

# start_node NODE [FIXED_PORT]: starts it on its configured port, or moves it
# to a fresh free port when that one is taken (unless the port is fixed).
start_node() {
    local node=$1 fixed=${2:-} port other tries=0
    if node_running "$node"; then
        return 0
    fi
    [ -f "$DIR/$node/PG_VERSION" ] || die "$DIR/$node is not initialized (run: $0 start $DIR)"
    if [ "$node" = primary ]; then other=$(node_port replica); else other=$(node_port primary); fi
    port=${fixed:-$(node_port "$node")}
    while :; do
        tries=$((tries + 1))
        if [ -z "$port" ] || { [ -z "$fixed" ] && { [ "$port" = "$other" ] || port_in_use "$port"; }; }; then
            port=$(pick_port "$other")
        fi
        [ "$port" = "$(node_port "$node")" ] || write_node_conf "$node" "$port"
        if as_pg "$PGBIN/pg_ctl" start -w -t "$TIMEOUT" -D "$DIR/$node" \
            -l "$DIR/$node.log" >/dev/null 2>&1; then
            return 0
        fi
        # Lost a race for the port with another process: pick another one.
        if [ -z "$fixed" ] && [ "$tries" -lt 5 ] &&
            tail -n 20 "$DIR/$node.log" 2>/dev/null | grep -q 'could not bind\|could not create any TCP/IP sockets'; then
            log "port $port was taken, retrying $node on another port"
            port=
            continue
        fi
        die_log "$node" "could not start the $node on port $port"
    done
}

stop_node() { # NODE — fast, then immediate, then SIGKILL the postmaster
    local node=$1 pid
    [ -f "$DIR/$node/postmaster.pid" ] || return 0
    if as_pg "$PGBIN/pg_ctl" stop -w -t 20 -m fast -D "$DIR/$node" >/dev/null 2>&1; then
        return 0
    fi
    if as_pg "$PGBIN/pg_ctl" stop -w -t 10 -m immediate -D "$DIR/$node" >/dev/null 2>&1; then
        return 0
    fi
    pid=$(head -n 1 "$DIR/$node/postmaster.pid" 2>/dev/null || true)
    case $pid in
    '' | *[!0-9]*) ;;
    *)
        # Only if it really is a postgres postmaster for this data directory.
        if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$DIR/$node"; then
            log "killing $node postmaster $pid"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        ;;
    esac
    return 0
}

# ---- the cluster -----------------------------------------------------------

write_env() {
    local pp rp
    pp=$(node_port primary)
    rp=$(node_port replica)
    cat >"$DIR/env.tmp" <<EOF
PROXIMITY_PRIMARY_URL=postgresql://postgres@127.0.0.1:$pp/$DB
PROXIMITY_REPLICA_URLS=postgresql://postgres@127.0.0.1:$rp/$DB
PROXIMITY_TEST_PGDIR=$DIR
PGPORT_PRIMARY=$pp
PGPORT_REPLICA=$rp
EOF
    mv "$DIR/env.tmp" "$DIR/env"
}

init_primary() {
    as_pg "$PGBIN/initdb" -D "$DIR/primary" -U postgres -A trust -E UTF8 \
        --locale=C --lc-ctype=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 ||
        as_pg "$PGBIN/initdb" -D "$DIR/primary" -U postgres -A trust -E UTF8 \
            --locale=C --no-sync >"$DIR/initdb.log" 2>&1 ||
        die_log initdb "initdb failed"
    cat >>"$DIR/primary/postgresql.conf" <<EOF

# ---- tests/pgcluster.sh: loopback only, fast and unsafe (test data) ----
listen_addresses = '127.0.0.1'
unix_socket_directories = $(sockdir_setting)
fsync = off
synchronous_commit = off
# With commits not waiting for the flush, the WAL writer's round is what a
# logical change stream waits for: keep it short.
wal_writer_delay = 10ms
full_page_writes = off
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
wal_retrieve_retry_interval = 200ms
wal_receiver_status_interval = 1s
log_line_prefix = '%m [%p] %q%a '
# port (and on the replica primary_conninfo) live here, so that they can
# change when the cluster is reused or moved to a free port.
include_if_exists = 'node.conf'
EOF
    cat >"$DIR/primary/pg_hba.conf" <<EOF
# tests/pgcluster.sh: trust, loopback and the local socket only
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
EOF
}

make_replica() {
    as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$(node_port primary)" \
        -U postgres -D "$DIR/replica" -R -X stream -c fast --no-sync \
        >"$DIR/basebackup.log" 2>&1 || die_log basebackup "pg_basebackup failed"
    # -R wrote primary_conninfo to postgresql.auto.conf; keep it in
    # node.conf instead, next to the port, so both can be rewritten.
    sed -i '/^primary_conninfo/d' "$DIR/replica/postgresql.auto.conf"
    [ -f "$DIR/replica/standby.signal" ] || die "pg_basebackup -R wrote no standby.signal"
    write_node_conf replica "${1:-}"
}

# After the primary moved to another port (fixed port asked for, or its old
# one taken), point the replica at it; primary_conninfo reloads on SIGHUP.
follow_primary() {
    [ -f "$DIR/replica/node.conf" ] || return 0
    if ! grep -q "^primary_conninfo = .* port=$(node_port primary) " "$DIR/replica/node.conf"; then
        write_node_conf replica "$(node_port replica)"
        if node_running replica; then
            as_pg "$PGBIN/pg_ctl" reload -D "$DIR/replica" >/dev/null
        fi
    fi
}

wait_replay() {
    local target deadline
    target=$(q primary "SELECT pg_current_wal_insert_lsn()") || die_log primary "primary not answering"
    deadline=$(($(date +%s) + TIMEOUT))
    until [ "$(q replica "SELECT coalesce(pg_last_wal_replay_lsn() >= '$target'::pg_lsn, false)" 2>/dev/null)" = t ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            die_log replica "replica did not replay $target within ${TIMEOUT}s (at $(q replica 'SELECT pg_last_wal_replay_lsn()' 2>/dev/null || echo '?'))"
        fi
        sleep 0.05
    done
}

cmd_start() {
    local t0 pport='' rport='' fresh=0 have
    t0=$(now_ms)
    while [ $# -gt 0 ]; do
        case $1 in
        --port-primary) pport=${2:?}; shift 2 ;;
        --port-primary=*) pport=${1#*=}; shift ;;
        --port-replica) rport=${2:?}; shift 2 ;;
        --port-replica=*) rport=${1#*=}; shift ;;
        *) usage ;;
        esac
    done
    why=$(check_installed) || die "$why"
    mkdir -p "$DIR"
    if [ ! -f "$DIR/.pgcluster" ]; then
        [ -z "$(ls -A "$DIR")" ] || die "$DIR exists, is not empty and is not a pgcluster directory"
        echo "tests/pgcluster.sh cluster; remove with: $0 stop $DIR" >"$DIR/.pgcluster"
    fi
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$DIR"
        chmod 700 "$DIR"
        runuser -u postgres -- test -w "$DIR" ||
            die "user postgres cannot write $DIR (is a parent directory private?)"
    fi

    if [ ! -f "$DIR/primary/PG_VERSION" ]; then
        fresh=1
        rm -rf "$DIR/primary" "$DIR/replica"
        init_primary
        step initdb
    fi
    mkdir -p "$DIR/run"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/run"
    start_node primary "$pport"
    step start primary

    have=$(QDB=postgres q primary "SELECT 1 FROM pg_database WHERE datname = '$DB'") ||
        die_log primary "primary not answering"
    if [ "$have" != 1 ]; then
        QDB=postgres q primary "CREATE DATABASE $DB" || die "CREATE DATABASE $DB failed"
    fi
    sh "$top_srcdir/sql/migrate.sh" "postgresql://postgres@127.0.0.1:$(node_port primary)/$DB" >&2 ||
        die "migrations failed"
    step createdb + migrate

    if [ ! -f "$DIR/replica/PG_VERSION" ]; then
        rm -rf "$DIR/replica"
        make_replica "$rport"
        step pg_basebackup
    else
        follow_primary
    fi
    start_node replica "$rport"
    step start replica
    wait_replay
    step wait-replay
    write_env
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/env"
    log "$([ "$fresh" = 1 ] && echo created || echo reused) $DIR: primary 127.0.0.1:$(node_port primary), replica 127.0.0.1:$(node_port replica), in $(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.2f", ms / 1000 }') s"
}

cmd_stop() {
    local keep=0
    [ "${1:-}" = --keep ] && keep=1
    [ -e "$DIR" ] || return 0
    [ -d "$DIR" ] || die "$DIR is not a directory"
    stop_node replica
    stop_node primary
    [ "$keep" = 1 ] && return 0
    if [ -f "$DIR/.pgcluster" ] || [ -z "$(ls -A "$DIR")" ]; then
        rm -rf "$DIR"
    else
        die "$DIR is not a pgcluster directory; not removing it"
    fi
}

node_arg() {
    case ${1:-} in
    primary | replica) echo "$1" ;;
    *) usage ;;
    esac
}

# ---- main ------------------------------------------------------------------

[ $# -ge 1 ] || usage
cmd=$1
shift
if [ "$cmd" = check ]; then
    why=$(check_installed) || { echo "$prog: $why" >&2; exit 77; }
    exit 0
fi
[ $# -ge 1 ] || usage
DIR=$1
shift
case $DIR in
/*) ;;
*) DIR=$PWD/$DIR ;;
esac
DIR=${DIR%/}
# DIR/env is sourced by shells and read by tools: keep the path plain.
case $DIR in
*[!A-Za-z0-9._/+-]*) die "DIR may only contain letters, digits and ._/+- : $DIR" ;;
esac

case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
stop-node) stop_node "$(node_arg "${1:-}")" ;;
start-node)
    # Same port as before: the processes under test hold URLs with it.
    node=$(node_arg "${1:-}")
    start_node "$node" "$(node_port "$node")"
    [ "$node" = replica ] || follow_primary
    write_env
    ;;
restart-node)
    node=$(node_arg "${1:-}")
    stop_node "$node"
    start_node "$node" "$(node_port "$node")"
    [ "$node" = replica ] || follow_primary
    write_env
    ;;
wait-replay) wait_replay ;;
psql)
    node=$(node_arg "${1:-}")
    shift
    exec "$PGBIN/psql" -X -h 127.0.0.1 -p "$(node_port "$node")" -U postgres -d "$DB" "$@"
    ;;
status)
    for n in primary replica; do
        if node_running "$n"; then s=running; else s=stopped; fi
        echo "$n 127.0.0.1:$(node_port "$n") $s"
    done
    ;;
*) usage ;;
esac
