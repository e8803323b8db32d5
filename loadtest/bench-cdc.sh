#!/usr/bin/env bash
# bench-cdc.sh — write-to-visible latency across replicas, measured from
# outside: a throwaway primary + replica, COUNT sample businesses, two
# proximityd (each on its own change stream); bench_cdc moves businesses
# through the first at 100 and 1000 writes/s and polls search on the second.
# Prints figures (p50/p99, search throughput beside an idle run); asserts
# nothing. Stops everything it started.
#
# usage: loadtest/bench-cdc.sh [--builddir DIR] [--count N] [--seconds T]
#            [--rates "100 1000"] [-- PROXIMITYD-FLAGS...]
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$here")
builddir=.
count=100000
seconds=10
rates="100 1000"
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--builddir DIR] [--count N] [--seconds T] [--rates LIST] [-- FLAGS]" >&2; exit 2 ;;
    esac
done
builddir=$(cd "$builddir" && pwd)
log() { echo "bench-cdc: $*" >&2; }

work=$(mktemp -d /tmp/bench-cdc.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    bash "$top_srcdir/tests/pgcluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$top_srcdir/tests/pgcluster.sh" start "$work/pg" >&2
set -a # proximityd reads PROXIMITY_PRIMARY_URL and PROXIMITY_REPLICA_URLS
PROXIMITY_AUTH=${PROXIMITY_AUTH:-off} # the benchmark writes without tokens
# shellcheck disable=SC1091
. "$work/pg/env"
set +a
cities=$builddir/loadtest/data/cities.tsv
[ -s "$cities" ] || make -C "$builddir" loadtest/data/cities.tsv >&2
log "loading $count businesses"
(cd "$builddir" && PROXIMITY_GEN=$builddir/loadtest/proximity-gen PROXIMITY_CITIES=$cities \
    sh "$here/load-sample.sh" "$PROXIMITY_PRIMARY_URL" "$count" 1)
bash "$top_srcdir/tests/pgcluster.sh" wait-replay "$work/pg" >&2
first=$(psql "$PROXIMITY_PRIMARY_URL" -qtAX -c "SELECT min(id) FROM businesses")

ports=()
for i in 0 1; do
    "$builddir/src/proximityd" --bind 127.0.0.1 --port 0 --port-file "$work/port$i" --log-level warn \
        --threads 2 --cache-prewarm 0 "${extra[@]}" >"$work/proximityd$i.log" 2>&1 &
    pids+=($!)
done
for i in 0 1; do
    for _ in $(seq 1 600); do
        [ -s "$work/port$i" ] && curl -sf -o /dev/null "http://127.0.0.1:$(cat "$work/port$i")/readyz" && break
        sleep 0.1
    done
    curl -sf -o /dev/null "http://127.0.0.1:$(cat "$work/port$i")/readyz" || { tail "$work/proximityd$i.log" >&2; log "proximityd $i not ready"; exit 1; }
    ports+=("$(cat "$work/port$i")")
done
log "two proximityd ready (:${ports[0]} writes, :${ports[1]} searched); $(nproc) cores shared by everything"
"$builddir/loadtest/bench_cdc" --writer "${ports[0]}" --reader "${ports[1]}" --rates "$rates" \
    --seconds "$seconds" --ids "$first:$count"
