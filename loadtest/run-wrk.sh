#!/usr/bin/env bash
# run-wrk.sh — runs the wrk scenarios (the twins of loadtest/k6/*.js)
# against a running service or load balancer and prints, per scenario,
# requests/s, latency percentiles and error counts.
#
# usage: loadtest/run-wrk.sh URL [--scenarios "search owners mixed ramp"]
#            [--seconds T] [--connections C] [--threads N] [--queries FILE]
#            [--steps "2 8 32 64"] [--p95 MS] [--p99 MS] [--err-rate R] [--enforce]
#
#   URL            e.g. http://127.0.0.1:8080 (deploy/local/cluster.sh's
#                  PROXIMITY_URL, or one proximityd)
#   --scenarios    which to run, in order (default: all four)
#   --seconds T    seconds per scenario, and per ramp step (default 10)
#   --connections  wrk connections for search/owners/mixed (default 16)
#   --threads N    wrk threads (default 1: it shares the cores with the service)
#   --queries FILE the shared query/data file (lat<TAB>lng<TAB>radius_m);
#                  default $QUERIES, else one made with proximity-gen
#                  ($PROXIMITY_GEN or ./loadtest/proximity-gen, cities from
#                  $PROXIMITY_CITIES or ./loadtest/data/cities.tsv)
#   --steps LIST   connection counts of the ramp's steps (default "2 8 32 64")
#   --p95/--p99/--err-rate  the ramp's thresholds (defaults 20 ms, 50 ms, 0.01,
#                  as in k6/ramp.js); each step says ok or CROSSED
#   --enforce      exit 1 when a threshold is crossed or any request failed
#                  (default: report only, exit 1 only when wrk itself fails)
#   --results FILE also write each run's RESULT line there, for scripts
set -Eeuo pipefail

prog=run-wrk
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "$prog: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 64; }
num() { case $2 in '' | *[!0-9]*) die "$1: expected a number, got '$2'" ;; esac; }

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage ;; esac
url=${1%/}
shift
scenarios="search owners mixed ramp"
seconds=10
conns=16
threads=1
queries=${QUERIES:-}
steps="2 8 32 64"
p95=20
p99=50
err_rate=0.01
enforce=
results_file=
while [ $# -gt 0 ]; do
    case $1 in
    --scenarios) scenarios=${2-}; shift 2 ;;
    --seconds) seconds=${2-}; num "$1" "$seconds"; shift 2 ;;
    --connections) conns=${2-}; num "$1" "$conns"; shift 2 ;;
    --threads) threads=${2-}; num "$1" "$threads"; shift 2 ;;
    --queries) queries=${2-}; shift 2 ;;
    --steps) steps=${2-}; shift 2 ;;
    --p95) p95=${2-}; shift 2 ;;
    --p99) p99=${2-}; shift 2 ;;
    --err-rate) err_rate=${2-}; shift 2 ;;
    --enforce) enforce=1; shift ;;
    --results) results_file=${2-}; shift 2 ;;
    *) log "unknown argument: $1"; usage ;;
    esac
done
for s in $scenarios; do
    [ -f "$here/wrk/$s.lua" ] || die "no scenario '$s' (loadtest/wrk/$s.lua)"
done
for c in $steps; do num --steps "$c"; done
command -v wrk >/dev/null || die "wrk not found (scripts/deps.sh installs it)"
curl -sf --max-time 5 -o /dev/null "$url/healthz" || die "$url/healthz does not answer"

work=$(mktemp -d /tmp/run-wrk.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$queries" ]; then
    gen=${PROXIMITY_GEN:-loadtest/proximity-gen}
    [ -x "$gen" ] || die "no --queries file and no proximity-gen at $gen (set PROXIMITY_GEN)"
    queries=$work/queries.tsv
    "$gen" queries --count 100000 --seed 42 --cities "${PROXIMITY_CITIES:-loadtest/data/cities.tsv}" >"$queries"
fi
[ -s "$queries" ] || die "query file $queries is empty or missing"

results=()
run() { # NAME LUA CONNECTIONS [ENV...]
    local name=$1 lua=$2 c=$3 out=$work/$1.out
    shift 3
    log "$name: wrk -t$threads -c$c -d${seconds}s"
    if ! env "$@" timeout --foreground $((seconds + 30)) wrk -t"$threads" -c"$c" -d"${seconds}s" --latency \
        -s "$here/wrk/$lua.lua" "$url" -- "$queries" >"$out" 2>&1; then
        cat "$out" >&2
        die "wrk failed in $name"
    fi
    sed -n '/^[a-z]*: [0-9]* requests in/,$p' "$out" | grep -v '^RESULT '
    results+=("$name $(grep '^RESULT ' "$out" | tail -n 1)")
    [ -z "$results_file" ] || echo "run=$name ${results[-1]#* }" >>"$results_file"
}

for s in $scenarios; do
    if [ "$s" = ramp ]; then
        for c in $steps; do
            run "ramp-c$c" ramp "$c" P95_MS="$p95" P99_MS="$p99" ERR_RATE="$err_rate"
        done
    else
        run "$s" "$s" "$conns"
    fi
done

field() { # RESULT-LINE KEY
    local kv
    for kv in $1; do case $kv in "$2"=*) echo "${kv#*=}"; return ;; esac; done
    echo "-"
}
echo
echo "== $url, ${seconds} s per run, wrk -t$threads, $(wc -l <"$queries") queries, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %11s %8s %8s %8s %8s %9s %7s %7s %10s\n' scenario requests/s "p50 ms" "p90 ms" "p95 ms" "p99 ms" "p99.9 ms" errors writes thresholds
bad=0
for r in "${results[@]}"; do
    name=${r%% *}
    line=${r#* }
    w=$(($(field "$line" creates) + $(field "$line" updates) + $(field "$line" deletes)))
    th=$(field "$line" thresholds)
    case $name in ramp-*) ;; *) th=- ;; esac
    printf '%-12s %11.0f %8s %8s %8s %8s %9s %7s %7s %10s\n' "$name" "$(field "$line" rps)" \
        "$(field "$line" p50_ms)" "$(field "$line" p90_ms)" "$(field "$line" p95_ms)" "$(field "$line" p99_ms)" \
        "$(field "$line" p999_ms)" "$(field "$line" errors)" "$w" "$th"
    [ "$(field "$line" errors)" = 0 ] || bad=1
    [ "$th" != crossed ] || bad=1
done
[ -z "$enforce" ] || exit "$bad"
exit 0
