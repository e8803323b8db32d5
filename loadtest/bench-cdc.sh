#!/usr/bin/env bash
# bench-cdc.sh — write-to-visible latency across replicas, measured from
# outside: a throwaway primary + replica, COUNT sample businesses, and for
# each transport two proximityd: `pg` (each on its own change stream) and
# `kafka` (primary → proximity-cdc relay → a 3-broker librdkafka mock
# cluster, 6 partitions → both proximityd). bench_cdc moves businesses
# through the first at 100 and 1000 writes/s and polls search on the
# second. Prints one table (p50/p99, search throughput beside an idle run)
# with both transports; asserts nothing. Stops everything it started.
# BENCH_KAFKA_CONFIG: librdkafka properties for the consumers (default
# fetch.wait.max.ms=10, see below).
#
# usage: loadtest/bench-cdc.sh [--builddir DIR] [--count N] [--seconds T]
#            [--rates "100 1000"] [--transports "pg kafka"] [-- PROXIMITYD-FLAGS...]
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$here")
builddir=.
count=100000
seconds=10
rates="100 1000"
transports="pg kafka"
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--builddir DIR] [--count N] [--seconds T] [--rates LIST] [--transports LIST] [-- FLAGS]" >&2; exit 2 ;;
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

# Two proximityd with the given extra flags, ready; their ports in ports[].
start_pair() {
    ports=()
    pair=()
    for i in 0 1; do
        rm -f "$work/port$i"
        "$builddir/src/proximityd" --bind 127.0.0.1 --port 0 --port-file "$work/port$i" --log-level warn \
            --threads 2 --cache-prewarm 0 "$@" "${extra[@]}" >"$work/proximityd$i.log" 2>&1 &
        pids+=($!)
        pair+=($!)
    done
    for i in 0 1; do
        for _ in $(seq 1 600); do
            [ -s "$work/port$i" ] && curl -sf -o /dev/null "http://127.0.0.1:$(cat "$work/port$i")/readyz" && break
            sleep 0.1
        done
        curl -sf -o /dev/null "http://127.0.0.1:$(cat "$work/port$i")/readyz" || { tail "$work/proximityd$i.log" >&2; log "proximityd $i not ready"; exit 1; }
        ports+=("$(cat "$work/port$i")")
    done
}

stop_pair() {
    for p in "${pair[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pair[@]}"; do wait "$p" 2>/dev/null || true; done
}

# The Kafka leg: the mock cluster (kept alive by its stdin) and the relay.
start_kafka() {
    mkfifo "$work/mock.in"
    "$builddir/tests/kafka_mock" --brokers 3 --topic bench.businesses --partitions 6 \
        <"$work/mock.in" >"$work/mock.out" 2>"$work/mock.log" &
    pids+=($!)
    exec 9>"$work/mock.in" # held open until the script exits
    for _ in $(seq 1 100); do grep -q '^BOOTSTRAP ' "$work/mock.out" && break; sleep 0.1; done
    bootstrap=$(sed -n 's/^BOOTSTRAP //p' "$work/mock.out")
    [ -n "$bootstrap" ] || { cat "$work/mock.log" >&2; log "kafka mock did not start"; exit 1; }
    "$builddir/src/proximity-cdc" --kafka-brokers "$bootstrap" --kafka-topic bench.businesses \
        --cdc-slot bench_cdc_relay --relay-bind 127.0.0.1 --relay-port 0 --log-level warn \
        >"$work/relay.log" 2>&1 &
    pids+=($!)
    # The slot exists once the relay streams; proximityd takes its position.
    for _ in $(seq 1 100); do
        [ "$(psql "$PROXIMITY_PRIMARY_URL" -qtAX -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bench_cdc_relay' AND active")" = 1 ] && break
        sleep 0.1
    done
}

header=
for t in $transports; do
    case $t in
    pg) start_pair --cdc pg ;;
    kafka)
        start_kafka
        # The mock broker answers a waiting fetch only when fetch.wait.max.ms
        # runs out (a real broker answers as data arrives): keep it short.
        start_pair --cdc kafka --kafka-brokers "$bootstrap" --kafka-topic bench.businesses --cdc-slot bench_cdc_relay \
            --kafka-config "${BENCH_KAFKA_CONFIG:-fetch.wait.max.ms=10}"
        ;;
    *) log "unknown transport $t"; exit 2 ;;
    esac
    log "$t: two proximityd ready (:${ports[0]} writes, :${ports[1]} searched); $(nproc) cores shared by everything"
    "$builddir/loadtest/bench_cdc" --writer "${ports[0]}" --reader "${ports[1]}" --rates "$rates" \
        --seconds "$seconds" --ids "$first:$count" --label "$t" $header
    header=--no-header
    stop_pair
done
