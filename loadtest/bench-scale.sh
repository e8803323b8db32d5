#!/usr/bin/env bash
# bench-scale.sh — search throughput through haproxy with 1, 2 and 3
# proximityd replicas on the local cluster (deploy/local/cluster.sh), and
# one proximityd straight (no balancer) for the proxy's cost. Everything,
# wrk included, shares this machine's cores: on a 2-core box the figure is
# CPU-bound and adding replicas adds processes, not cores; the CPU split
# printed per run shows where the time goes. Prints figures, asserts none.
#
# usage: loadtest/bench-scale.sh [--builddir B] [--count N] [--seconds T]
#            [--connections C] [--replicas "1 2 3"]
#   --count N        businesses (default 200000, around real cities if
#                    B/loadtest/data/cities.tsv exists or can be built,
#                    else tests/data/cities-small.tsv)
#   --seconds T      measured seconds per run (default 15, after 3 s warm-up)
#   --connections C  wrk connections (default 32)
set -Eeuo pipefail

prog=bench-scale
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
builddir=.
count=200000
seconds=15
conns=32
replicas="1 2 3"
log() { echo "$prog: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 64; }
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) builddir=${2-}; shift 2 ;;
    --count) count=${2-}; shift 2 ;;
    --seconds) seconds=${2-}; shift 2 ;;
    --connections) conns=${2-}; shift 2 ;;
    --replicas) replicas=${2-}; shift 2 ;;
    *) usage ;;
    esac
done
builddir=$(cd "$builddir" && pwd)
cluster=$top/deploy/local/cluster.sh
dir=$(mktemp -d /tmp/bench-scale.XXXXXX)
cleanup() {
    trap - EXIT INT TERM
    bash "$cluster" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cities=$builddir/loadtest/data/cities.tsv
if [ ! -s "$cities" ] && ! make -C "$builddir" loadtest/data/cities.tsv >&2; then
    cities=$top/tests/data/cities-small.tsv
    log "no real cities file: using $cities"
fi
bash "$cluster" start "$dir" --replicas 1 --count "$count" --port 0 --builddir "$builddir" \
    --cities "$cities" -- --log-level warn
# shellcheck disable=SC1091
. "$dir/env"
"$builddir/loadtest/proximity-gen" queries --count 100000 --seed 42 --cities "$cities" >"$dir/queries.tsv"

ticks() { # PID... -> CPU ticks (user + system) of those processes
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
replica_pids() {
    for d in "$dir"/replicas/*/; do
        [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null && cat "$d/pid"
    done
}
hz=$(getconf CLK_TCK)
rows=()
measure() { # LABEL URL
    local label=$1 url=$2 out=$dir/wrk.out
    timeout --foreground $((3 + 30)) wrk -t1 -c"$conns" -d3s -s "$here/wrk/search.lua" "$url" -- "$dir/queries.tsv" >/dev/null 2>&1 || true
    local -a pids
    mapfile -t pids < <(replica_pids)
    local hap
    hap=$(cat "$dir/haproxy.pid")
    local p0 h0 t1 p1 h1 w0 w1
    p0=$(ticks "${pids[@]}")
    h0=$(ticks "$hap")
    w0=$(awk '{ print $1 }' /proc/uptime)
    # bash's time keyword gives wrk's own CPU (user + sys seconds).
    local TIMEFORMAT='%U %S'
    { time timeout --foreground $((seconds + 30)) wrk -t1 -c"$conns" -d"${seconds}s" --latency \
        -s "$here/wrk/search.lua" "$url" -- "$dir/queries.tsv" >"$out" 2>&1; } 2>"$dir/wrk.time" ||
        { cat "$out" >&2; die "wrk failed ($label)"; }
    t1=$(grep -m1 -o 'RESULT .*' "$out")
    p1=$(ticks "${pids[@]}")
    h1=$(ticks "$hap")
    w1=$(awk '{ print $1 }' /proc/uptime)
    local res=$t1
    field() { for kv in $res; do case $kv in "$1"=*) echo "${kv#*=}"; return ;; esac; done; echo -; }
    local cpu
    cpu=$(awk -v p=$((p1 - p0)) -v h=$((h1 - h0)) -v hz="$hz" -v a="$w0" -v b="$w1" -v w="$(cat "$dir/wrk.time")" \
        -v n="$(field n)" \
        'BEGIN { s = (b - a) * hz; split(w, t, " ")
                 printf "proximityd %3.0f%%  haproxy %3.0f%%  wrk %3.0f%%   %4.1f %4.1f %4.1f", 100 * p / s, 100 * h / s,
                     100 * (t[1] + t[2]) / (b - a), 1e6 * p / hz / n, 1e6 * h / hz / n, 1e6 * (t[1] + t[2]) / n }')
    rows+=("$(printf '%-28s %11.0f %8s %8s %8s %7s   %s' "$label" "$(field rps)" "$(field p50_ms)" \
        "$(field p99_ms)" "$(field p999_ms)" "$(field errors)" "$cpu")")
    log "$label: $(field rps) requests/s"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
direct=$(cat "$dir"/replicas/1/port)
measure "1 proximityd, no haproxy" "http://127.0.0.1:$direct"
have=1
for r in $replicas; do
    while [ "$have" -lt "$r" ]; do
        bash "$cluster" add "$dir" >/dev/null
        have=$((have + 1))
    done
    measure "$r via haproxy" "$PROXIMITY_URL"
done

echo
echo "== search through haproxy, $count businesses, wrk -t1 -c$conns, ${seconds} s per run, $(nproc) cores shared by everything"
echo "   (proximityd --threads default = cores each; load average at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg):"
echo "   anything above $(nproc) means other work took CPU from these runs)"
printf '%-28s %11s %8s %8s %8s %7s   %s\n' "replicas" "requests/s" "p50 ms" "p99 ms" "p99.9 ms" errors \
    "CPU (100% = one core)                  CPU µs/request: proximityd haproxy wrk"
printf '%s\n' "${rows[@]}"
echo "   CPU-bound: the machine's $(nproc) cores run wrk, haproxy and every proximityd; more replicas"
echo "   cannot add throughput here, they add scheduling and haproxy work. Replicas scale with cores:"
echo "   the CPU µs per request (robust to other load) say what one core of each buys."
