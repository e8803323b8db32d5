#!/usr/bin/env bash
# cluster.sh — a local proximity cluster on loopback: PostgreSQL primary +
# streaming replica (tests/pgcluster.sh), N proximityd replicas and haproxy
# in front of them, health-checking each replica's /readyz.
#
# usage: deploy/local/cluster.sh start DIR [--replicas N] [--count M] [--port P]
#                                [--builddir B] [--cities FILE] [-- PROXIMITYD-FLAGS...]
#        deploy/local/cluster.sh add DIR [--no-wait]     one more proximityd (prints its slot)
#        deploy/local/cluster.sh remove DIR [SLOT]       SIGTERM one (default: the newest), wait, retire its slot
#        deploy/local/cluster.sh status DIR              haproxy's view: slot, state, requests
#        deploy/local/cluster.sh stop DIR [--keep]       stop everything (--keep: keep the database)
#
#   --replicas N   proximityd replicas to start with (default 2, at most 8)
#   --count M      businesses to load into an empty table (default 100000)
#   --port P       haproxy's port on 127.0.0.1 (default 8080; 0 = a free one)
#   --builddir B   where proximityd and proximity-gen are built (default build/local)
#   --cities FILE  cities TSV for the generator (default B/loadtest/data/cities.tsv)
#   -- FLAGS       extra proximityd flags for every replica (kept for `add`)
#
# haproxy routes to a replica only while its /readyz answers 200 (checked
# every 200 ms; down after 2 failures, up after 1 success), so a new replica
# gets traffic only once its index is built and its change stream caught up,
# and a replica stopped with SIGTERM (which fails /readyz for
# PROXIMITY_DRAIN_DELAY before it stops accepting) leaves the rotation before
# it closes. DIR/env holds PROXIMITY_URL (haproxy) and the database URLs.
# Everything listens on 127.0.0.1 only.
set -Eeuo pipefail

prog=cluster
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
pgcluster=$top/tests/pgcluster.sh
SLOTS=8
DRAIN_DELAY_MS=${CLUSTER_DRAIN_DELAY_MS:-1500}
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-120}

log() { echo "$prog: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 64; }
num() { case $2 in '' | *[!0-9]*) die "$1: expected a number, got '$2'" ;; esac; }

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
shift 2
case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac
DIR=${DIR%/}

# The runtime API: one command to haproxy's admin socket.
hap() { echo "$*" | socat -t 5 stdio "unix-connect:$DIR/haproxy.sock"; }

# haproxy's CSV statistics of the slots, columns picked by header name:
# stat_cols status,addr,... -> "slot value value ..." lines.
stat_cols() {
    hap "show stat" | awk -F, -v want="$1" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; n = split(want, w, ","); next }
        $1 == "proximity" && $2 ~ /^px[0-9]+$/ {
            sub("px", "", $2); line = $2
            for (i = 1; i <= n; i++) line = line " " $(col[w[i]])
            print line }'
}

# "slot state" for each slot (state: UP, DOWN, MAINT, ...).
slot_states() { stat_cols status; }

slot_state() { slot_states | awk -v s="$1" '$1 == s { print $2 }'; }


load_settings() {
    [ -f "$DIR/settings" ] || die "$DIR is not a cluster directory (run: $0 start $DIR)"
    # shellcheck disable=SC1091
    . "$DIR/settings"
}

# Starts proximityd in a free slot; prints the slot.
start_replica() {
    local slot='' s port d pid
    for s in $(seq 1 "$SLOTS"); do
        if [ ! -f "$DIR/replicas/$s/pid" ] || ! kill -0 "$(cat "$DIR/replicas/$s/pid")" 2>/dev/null; then
            slot=$s
            break
        fi
    done
    [ -n "$slot" ] || die "all $SLOTS slots are taken"
    d=$DIR/replicas/$slot
    rm -rf "$d"
    mkdir -p "$d"
    # shellcheck disable=SC2086  # EXTRA_FLAGS is a word list by design
    PROXIMITY_DRAIN_DELAY=$DRAIN_DELAY_MS \
        setsid "$BUILDDIR/src/proximityd" --bind 127.0.0.1 --port 0 --port-file "$d/port" \
        --primary-url "$PRIMARY_URL" --replica-urls "$REPLICA_URLS" $EXTRA_FLAGS \
        >"$d/proximityd.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$d/pid"
    for _ in $(seq 1 200); do
        [ -s "$d/port" ] && break
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$d/proximityd.log" >&2; die "proximityd in slot $slot exited"; }
        sleep 0.05
    done
    [ -s "$d/port" ] || die "proximityd in slot $slot wrote no port file"
    port=$(cat "$d/port")
    # Into haproxy: the address, then out of maintenance; the health check
    # keeps it out of rotation until /readyz says ready.
    # haproxy takes a server leaving maintenance as UP at once, before any
    # check (the scaling test caught searches reaching an index still being
    # built). So: out of maintenance into drain (no new traffic), health
    # forced down (ignored while in maintenance), then ready: only the
    # first passing check (/readyz 200) lets traffic in.
    hap "set server proximity/px$slot addr 127.0.0.1 port $port" >/dev/null
    hap "set server proximity/px$slot state drain" >/dev/null
    hap "set server proximity/px$slot health down" >/dev/null
    hap "set server proximity/px$slot state ready" >/dev/null
    log "slot $slot: proximityd pid $pid on 127.0.0.1:$port (in rotation once /readyz is 200)"
    echo "$slot"
}

wait_up() { # SLOT
    local deadline=$(($(date +%s) + READY_TIMEOUT))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(slot_state "$1")" = UP ] && return 0
        kill -0 "$(cat "$DIR/replicas/$1/pid")" 2>/dev/null || die "proximityd in slot $1 exited"
        sleep 0.1
    done
    die "slot $1 not UP in haproxy after $READY_TIMEOUT s"
}

stop_replica() { # SLOT
    local d=$DIR/replicas/$1 pid
    [ -f "$d/pid" ] || die "slot $1 has no replica"
    pid=$(cat "$d/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        # drain delay + drain timeout bound a clean stop
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "slot $1: still running after 30 s, killing"; kill -KILL "$pid"; }
    fi
    rm -f "$d/pid"
    hap "set server proximity/px$1 state maint" >/dev/null 2>&1 || true
    log "slot $1: stopped"
}

write_haproxy_cfg() { # PORT
    cat >"$DIR/haproxy.cfg" <<EOF
# written by deploy/local/cluster.sh
global
    maxconn 4096
    stats socket $DIR/haproxy.sock mode 600 level admin
    pidfile $DIR/haproxy.pid
    log stderr format short local0 warning

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    # A connection refused is retried (on another replica): the usual LB
    # setting. Answered requests are never retried.
    retries 2
    option redispatch

frontend proximity
    bind 127.0.0.1:$1
    default_backend proximity

backend proximity
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1
    # $SLOTS slots, each in maintenance until cluster.sh puts a replica in it.
    server-template px 1-$SLOTS 127.0.0.1:9 check disabled
EOF
}

cmd_start() {
    local replicas=2 count=100000 port=8080 build_dir=$top/build/local cities='' extra=()
    while [ $# -gt 0 ]; do
        case $1 in
        --replicas) replicas=${2-}; num "$1" "$replicas"; shift 2 ;;
        --count) count=${2-}; num "$1" "$count"; shift 2 ;;
        --port) port=${2-}; num "$1" "$port"; shift 2 ;;
        --builddir) build_dir=${2-}; shift 2 ;;
        --cities) cities=${2-}; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) usage ;;
        esac
    done
    [ "$replicas" -le "$SLOTS" ] || die "--replicas: at most $SLOTS"
    build_dir=$(cd "$build_dir" && pwd)
    [ -x "$build_dir/src/proximityd" ] || die "$build_dir/src/proximityd is not built"
    for t in haproxy socat psql curl; do
        command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh installs it)"
    done
    mkdir -p "$DIR/replicas"
    chmod 755 "$DIR" # the database under it runs as user postgres
    bash "$pgcluster" start "$DIR/pg" >&2
    # shellcheck disable=SC1091
    primary=$(. "$DIR/pg/env" && echo "$PROXIMITY_PRIMARY_URL")
    # shellcheck disable=SC1091
    rep_urls=$(. "$DIR/pg/env" && echo "${PROXIMITY_REPLICA_URLS:-}")

    have=$(psql "$primary" -qtAX -c "SELECT count(*) FROM businesses")
    if [ "$have" = 0 ] && [ "$count" -gt 0 ]; then
        [ -n "$cities" ] || cities=$build_dir/loadtest/data/cities.tsv
        [ -s "$cities" ] || make -C "$build_dir" loadtest/data/cities.tsv >&2
        PROXIMITY_GEN=$build_dir/loadtest/proximity-gen PROXIMITY_CITIES=$cities \
            sh "$top/loadtest/load-sample.sh" "$primary" "$count" 1
        bash "$pgcluster" wait-replay "$DIR/pg" >&2
    fi

    if [ "$port" = 0 ]; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
            echo $((20000 + RANDOM % 12000)))
    fi
    {
        echo "BUILDDIR='$build_dir'"
        echo "PRIMARY_URL='$primary'"
        echo "REPLICA_URLS='$rep_urls'"
        echo "EXTRA_FLAGS='${extra[*]}'"
        echo "PORT=$port"
    } >"$DIR/settings"
    {
        echo "PROXIMITY_URL=http://127.0.0.1:$port"
        echo "PROXIMITY_PRIMARY_URL=$primary"
        echo "PROXIMITY_REPLICA_URLS=$rep_urls"
    } >"$DIR/env"
    load_settings
    write_haproxy_cfg "$port"
    haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy refused $DIR/haproxy.cfg"
    if [ -f "$DIR/haproxy.pid" ] && kill -0 "$(cat "$DIR/haproxy.pid")" 2>/dev/null; then
        die "haproxy already runs for $DIR (stop it first)"
    fi
    haproxy -D -f "$DIR/haproxy.cfg" 2>"$DIR/haproxy.log" || die "haproxy did not start: $(cat "$DIR/haproxy.log")"
    for _ in $(seq 1 50); do [ -S "$DIR/haproxy.sock" ] && break; sleep 0.1; done
    local slots=()
    for _ in $(seq 1 "$replicas"); do slots+=("$(start_replica)"); done
    for s in "${slots[@]}"; do wait_up "$s"; done
    log "ready: http://127.0.0.1:$port -> $replicas proximityd (haproxy stats: $0 status $DIR)"
}

cmd_status() {
    load_settings
    printf '%-5s %-8s %-22s %10s %8s\n' slot state address requests errors
    stat_cols status,addr,req_tot,econ,eresp,wretr,wredis | awk '$2 != "MAINT" {
        printf "%-5s %-8s %-22s %10s %8s\n", $1, $2, $3, $4, $5 + $6 }'
}

cmd_stop() {
    local keep=${1:-}
    if [ -d "$DIR/replicas" ]; then
        for d in "$DIR"/replicas/*/; do
            [ -f "$d/pid" ] || continue
            pid=$(cat "$d/pid")
            kill -TERM "$pid" 2>/dev/null || true
        done
        for d in "$DIR"/replicas/*/; do
            [ -f "$d/pid" ] || continue
            pid=$(cat "$d/pid")
            for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$d/pid"
        done
    fi
    if [ -f "$DIR/haproxy.pid" ]; then
        kill -TERM "$(cat "$DIR/haproxy.pid")" 2>/dev/null || true
        rm -f "$DIR/haproxy.pid"
    fi
    if [ -d "$DIR/pg" ]; then
        if [ "$keep" = --keep ]; then
            bash "$pgcluster" stop "$DIR/pg" --keep >&2 || true
        else
            bash "$pgcluster" stop "$DIR/pg" >&2 || true
        fi
    fi
    [ "$keep" = --keep ] || rm -rf "$DIR"
    log "stopped"
}

case $cmd in
start) cmd_start "$@" ;;
add)
    load_settings
    slot=$(start_replica)
    [ "${1:-}" = --no-wait ] || wait_up "$slot"
    echo "$slot"
    ;;
remove)
    load_settings
    slot=${1:-}
    if [ -z "$slot" ]; then # the newest running replica
        slot=$(for d in "$DIR"/replicas/*/; do
            [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null && basename "$d"
        done | sort -n | tail -n 1)
    fi
    [ -n "$slot" ] || die "no running replica"
    stop_replica "$slot"
    ;;
status) cmd_status ;;
stop) cmd_stop "${1:-}" ;;
*) usage ;;
esac
