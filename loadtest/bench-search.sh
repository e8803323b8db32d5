#!/usr/bin/env bash
# bench-search.sh — nearby search, side by side: proximityd replayed by wrk
# over loopback (keep-alive) and the same queries straight on PostGIS.
#
# usage: loadtest/bench-search.sh [--count N] [--seconds T] [--connections C]
#            [--pgdir DIR] [--builddir DIR] [--threads N] [--postgis "2 4"]
#            [--warmup W] [-- PROXIMITYD-FLAGS...]
#
#   --count N        businesses in the table (default 1000000); loaded with
#                    load-sample.sh if the table holds fewer
#   --seconds T      measured seconds per run (default 20)
#   --connections C  wrk keep-alive connections (default 32)
#   --pgdir DIR      keep the cluster in DIR (created, or reused with its data,
#                    and stopped but kept at the end); default: a throwaway one
#   --builddir DIR   the build directory (default: the current directory)
#   --threads N      proximityd --threads (default: its own default)
#   --postgis LIST   bench_postgis connection counts (default "2 4")
#   --warmup W       seconds of wrk (and of bench_postgis) before measuring (default 2)
#   -- FLAGS         passed to proximityd, e.g. -- --cache-prewarm=1000000
#
# With PROXIMITY_PRIMARY_URL set (and PROXIMITY_REPLICA_URLS), it uses that
# database instead of starting one. wrk runs with one thread: it shares the
# two cores with the server. Prints figures, with the targets beside them; no
# figure makes it fail. Stops everything it started, also on Ctrl-C.
set -Eeuo pipefail

prog=bench-search
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$here")

count=1000000
seconds=20
conns=32
pgdir=
builddir=.
threads=
pg_conns="2 4"
extra=()
QUERIES=100000
QUERY_SEED=42
WARMUP=2
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-600}

# Targets (issue 4), printed beside the figures, never asserted.
T_RPS=30000
T_P99=5
T_RATIO=20

log() { echo "$prog: $*" >&2; }
die() { log "$*"; exit 1; }
usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
    exit 64 # EX_USAGE
}
num() { case $2 in '' | *[!0-9]*) die "$1: expected a number, got '$2'" ;; esac; }

while [ $# -gt 0 ]; do
    case $1 in
    --count) count=${2-}; num "$1" "$count"; shift 2 ;;
    --seconds) seconds=${2-}; num "$1" "$seconds"; shift 2 ;;
    --connections) conns=${2-}; num "$1" "$conns"; shift 2 ;;
    --pgdir) pgdir=${2-}; [ -n "$pgdir" ] || usage; shift 2 ;;
    --builddir) builddir=${2-}; [ -n "$builddir" ] || usage; shift 2 ;;
    --threads) threads=${2-}; num "$1" "$threads"; shift 2 ;;
    --postgis) pg_conns=${2-}; shift 2 ;;
    --warmup) WARMUP=${2-}; num "$1" "$WARMUP"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage ;;
    *) log "unknown argument: $1"; usage ;;
    esac
done
for c in $pg_conns; do num --postgis "$c"; done
{ [ "$seconds" -ge 1 ] && [ "$conns" -ge 1 ]; } || die "--seconds and --connections must be >= 1"

builddir=$(cd "$builddir" && pwd)
proximityd=$builddir/src/proximityd
gen=$builddir/loadtest/proximity-gen
bench_postgis=$builddir/loadtest/bench_postgis
cities=$builddir/loadtest/data/cities.tsv
for b in "$proximityd" "$gen" "$bench_postgis"; do
    [ -x "$b" ] || die "$b not built (make -C $builddir src/proximityd loadtest/proximity-gen loadtest/bench_postgis)"
done
for t in wrk psql curl timeout; do
    command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh installs it)"
done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- clean-up: everything started here is stopped on any exit ---------------

work=$(mktemp -d /tmp/bench-search.XXXXXX)
chmod 755 "$work" # the cluster in it runs as user postgres
srv_pid=
own_cluster=
keep_cluster=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
        kill "$srv_pid" 2>/dev/null || true
        # the drain timeout bounds a clean stop; do not wait longer
        for _ in $(seq 1 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$srv_pid" 2>/dev/null || true
        wait "$srv_pid" 2>/dev/null || true
    fi
    if [ -n "$own_cluster" ]; then
        if [ -n "$keep_cluster" ]; then
            bash "$top_srcdir/tests/pgcluster.sh" stop "$own_cluster" --keep >/dev/null 2>&1 || true
        else
            bash "$top_srcdir/tests/pgcluster.sh" stop "$own_cluster" >/dev/null 2>&1 || true
        fi
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# ---- database --------------------------------------------------------------

if [ -n "${PROXIMITY_PRIMARY_URL:-}" ]; then
    primary=$PROXIMITY_PRIMARY_URL
    replicas=${PROXIMITY_REPLICA_URLS:-}
    log "using the database at PROXIMITY_PRIMARY_URL"
else
    if [ -n "$pgdir" ]; then
        own_cluster=$pgdir
        keep_cluster=1
    else
        own_cluster=$work/pg
    fi
    t0=$(now)
    bash "$top_srcdir/tests/pgcluster.sh" start "$own_cluster" >&2
    # shellcheck disable=SC1091
    primary=$(. "$own_cluster/env" && echo "$PROXIMITY_PRIMARY_URL")
    # shellcheck disable=SC1091
    replicas=$(. "$own_cluster/env" && echo "${PROXIMITY_REPLICA_URLS:-}")
    log "cluster up in $(elapsed "$t0") s"
fi
# PostGIS direct reads where the service reads: the first replica, if any.
read_url=${replicas%%,*}
read_url=${read_url:-$primary}

sql() { psql "$1" -qtAX -v ON_ERROR_STOP=1 -c "$2"; }

have=$(sql "$primary" "SELECT count(*) FROM businesses WHERE deleted_at IS NULL")
load_s=
loaded=0
if [ "$have" -lt "$count" ]; then
    [ -s "$cities" ] || make -C "$builddir" loadtest/data/cities.tsv >&2
    need=$((count - have))
    log "loading $need businesses ($have present)"
    t0=$(now)
    # seed from the row count: a top-up adds new points, not copies
    (cd "$builddir" && PROXIMITY_GEN=$gen PROXIMITY_CITIES=$cities \
        sh "$here/load-sample.sh" "$primary" "$need" "$((have + 1))")
    sql "$primary" "VACUUM businesses" >/dev/null
    load_s=$(elapsed "$t0")
    have=$((have + need))
    loaded=$need
    if [ -n "$own_cluster" ]; then
        bash "$top_srcdir/tests/pgcluster.sh" wait-replay "$own_cluster" >&2
    fi
fi
table_size=$(sql "$primary" "SELECT pg_size_pretty(pg_total_relation_size('businesses'))")
shared_buffers=$(sql "$primary" "SHOW shared_buffers")

[ -s "$cities" ] || make -C "$builddir" loadtest/data/cities.tsv >&2
queries=$work/queries.tsv
"$gen" queries --count "$QUERIES" --seed "$QUERY_SEED" --cities "$cities" >"$queries"

# ---- proximityd --------------------------------------------------------------

srv_args=(--bind 127.0.0.1 --port 0 --port-file "$work/port" --log-level warn
    --primary-url "$primary" --replica-urls "$replicas")
[ -n "$threads" ] && srv_args+=(--threads "$threads")
srv_args+=("${extra[@]}")
t0=$(now)
"$proximityd" "${srv_args[@]}" >"$work/proximityd.log" 2>&1 &
srv_pid=$!
port=
for _ in $(seq 1 300); do
    kill -0 "$srv_pid" 2>/dev/null || { tail -n 20 "$work/proximityd.log" >&2; die "proximityd exited"; }
    [ -s "$work/port" ] && port=$(cat "$work/port") && [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || die "proximityd wrote no port file in 30 s"
base=http://127.0.0.1:$port
ready=
deadline=$(($(date +%s) + READY_TIMEOUT))
while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$srv_pid" 2>/dev/null || { tail -n 20 "$work/proximityd.log" >&2; die "proximityd exited"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/readyz" || true)
    [ "$code" = 200 ] && { ready=1; break; }
    sleep 0.05
done
[ -n "$ready" ] || die "proximityd not ready after $READY_TIMEOUT s"
ready_s=$(elapsed "$t0")
log "proximityd on $base ready after $ready_s s"
# The index load as proximityd reports it: /metrics, and its log if it says
# anything about it at warn level.
metrics() { curl -s --max-time 5 "$base/metrics" >"$1" || true; }
metric() { # FILE NAME[{labels}] -> value, or - if absent
    awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? "-" : v) }' "$1"
}
metrics "$work/m.ready"
index_log=$(grep -i -m 3 -E 'index|snapshot' "$work/proximityd.log" || true)

# Search endpoint present? (until it lands, run against GET /v1/businesses/{id})
probe=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    "$base/v1/search/nearby?latitude=48.85&longitude=2.35&radius=1000&limit=20" || true)
target=search
if [ "$probe" = 404 ] || [ "$probe" = 405 ]; then
    if curl -s --max-time 5 "$base/v1/search/nearby?latitude=48.85&longitude=2.35&radius=1000" |
        grep -q '"NOT_FOUND"\|not found\|no route'; then
        target=business
        log "WARNING: GET /v1/search/nearby answers $probe: measuring GET /v1/businesses/{id} instead"
    fi
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_wrk() { # DURATION_S OUTFILE
    SEARCH_TARGET=$target SEARCH_IDS=$((have < 100000 ? have : 100000)) \
        timeout --foreground $(($1 + 30)) wrk -t1 -c"$conns" -d"$1"s --latency \
        -s "$here/search.lua" "$base" "$queries" >"$2" 2>&1
}

if [ "$WARMUP" -gt 0 ]; then
    log "warm-up ${WARMUP} s"
    run_wrk "$WARMUP" "$work/warmup.out" || { cat "$work/warmup.out" >&2; die "wrk warm-up failed"; }
fi
# Other work on the box skews every figure: say how busy it was.
loadavg() { cut -d' ' -f1 /proc/loadavg; }
log "wrk -t1 -c$conns -d${seconds}s ($target)"
load_wrk=$(loadavg)
metrics "$work/m.0"
c0=$(cpu_ticks "$srv_pid")
w0=$(now)
run_wrk "$seconds" "$work/wrk.out" || { cat "$work/wrk.out" >&2; die "wrk failed"; }
w1=$(now)
c1=$(cpu_ticks "$srv_pid")
metrics "$work/m.1"
cat "$work/wrk.out"
srv_cpu=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v a="$w0" -v b="$w1" \
    'BEGIN { printf "%.0f", 100 * c / hz / (b - a) }')
svc=$(grep '^RESULT ' "$work/wrk.out" | tail -n 1)
[ -n "$svc" ] || die "no RESULT line from search.lua"

# The service is stopped so that PostGIS gets both cores, as wrk + the
# service had them.
kill "$srv_pid" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.2; done
kill -9 "$srv_pid" 2>/dev/null || true
wait "$srv_pid" 2>/dev/null || true
srv_pid=

declare -A pg
for k in $pg_conns; do
    log "bench_postgis --connections $k --seconds $seconds"
    load_pg="${load_pg:+$load_pg, }$(loadavg)"
    timeout --foreground $((seconds + WARMUP + 60)) "$bench_postgis" --url "$read_url" --queries "$queries" \
        --connections "$k" --seconds "$seconds" --warmup "$WARMUP" >"$work/pg$k.out" ||
        { cat "$work/pg$k.out" >&2; die "bench_postgis failed"; }
    cat "$work/pg$k.out"
    pg[$k]=$(grep '^RESULT ' "$work/pg$k.out" | tail -n 1)
done

# ---- the table ---------------------------------------------------------------

field() { # RESULT-LINE KEY
    local kv
    for kv in $1; do
        case $kv in "$2"=*) echo "${kv#*=}"; return ;; esac
    done
    echo "-"
}

echo
echo "== nearby search: $have businesses ($table_size with indexes, shared_buffers $shared_buffers)," \
    "$QUERIES queries (seed $QUERY_SEED), ${seconds} s each after ${WARMUP} s warm-up, loopback, $(nproc) cores"
[ ${#extra[@]} -eq 0 ] || echo "   proximityd flags: ${extra[*]}"
[ -n "$load_s" ] && echo "   this run loaded $loaded businesses (COPY + ANALYZE + VACUUM) in $load_s s"
echo "   proximityd ready $ready_s s after start; index of $(metric "$work/m.ready" proximity_index_points) points:" \
    "snapshot COPY $(metric "$work/m.ready" proximity_index_last_copy_seconds | cut -c1-5) s," \
    "build $(metric "$work/m.ready" proximity_index_last_build_seconds | cut -c1-5) s (/metrics)"
echo "   1-min load average at the start of wrk $load_wrk, of bench_postgis $load_pg (other work skews figures)"
delta() { awk -v a="$(metric "$work/m.0" "$1")" -v b="$(metric "$work/m.1" "$1")" 'BEGIN { printf "%.0f", b - a }'; }
echo "   during wrk: server CPU ${srv_cpu}% (of $(nproc)00%);" \
    "searches index $(delta 'proximity_searches_total{source="index"}')" \
    "postgis $(delta 'proximity_searches_total{source="postgis"}');" \
    "cache hits $(delta proximity_cache_hits_total) misses $(delta proximity_cache_misses_total)" \
    "fetches $(delta proximity_cache_fetches_total)"
[ -n "$index_log" ] && printf '   proximityd log: %s\n' "$index_log"
[ "$target" = search ] || echo "   NOTE: no search endpoint yet; the proximityd row is GET /v1/businesses/{id}"
printf '\n%-30s %12s %9s %9s %9s %8s\n' "" "requests/s" "p50 ms" "p99 ms" "p99.9 ms" "errors"
printf '%-30s %12.0f %9s %9s %9s %8s\n' "proximityd (wrk -t1 -c$conns)" \
    "$(field "$svc" rps)" "$(field "$svc" p50_ms)" "$(field "$svc" p99_ms)" \
    "$(field "$svc" p999_ms)" "$(field "$svc" errors)"
for k in $pg_conns; do
    printf '%-30s %12.0f %9s %9s %9s %8s\n' "PostGIS direct, $k conn" \
        "$(field "${pg[$k]}" rps)" "$(field "${pg[$k]}" p50_ms)" "$(field "${pg[$k]}" p99_ms)" \
        "$(field "${pg[$k]}" p999_ms)" "$(field "${pg[$k]}" errors)"
done
printf '%-30s %12s %9s %9s %9s %8s\n' "target (issue 4)" ">= $T_RPS" "" "<= $T_P99" "" "0"
for k in $pg_conns; do
    awk -v a="$(field "$svc" rps)" -v b="$(field "${pg[$k]}" rps)" -v k="$k" -v t="$T_RATIO" 'BEGIN {
        printf "%-30s %11.1fx   (target >= %dx)\n", "ratio service/PostGIS " k " conn", (b > 0 ? a / b : 0), t }'
done
fb=$(field "$svc" fallback)
[ "$fb" = 0 ] || [ "$fb" = - ] || echo "WARNING: $fb answers came from the PostGIS fallback"
