#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup is called from traps
# it_scale.sh — scaling under load on the local haproxy cluster
# (deploy/local/cluster.sh): two proximityd behind haproxy, a steady wrk
# search load through it; a third replica is added, then one is stopped
# with SIGTERM. Asserts: zero failed requests (wrk non-200 + socket
# errors, haproxy connection/response errors), no answer from the PostGIS
# fallback (every search came from a built index), the added replica got
# its first search only after its first /readyz 200 (haproxy's check), it
# did take traffic, and the stopped one failed /readyz, drained with
# nothing left in flight and exited. Prints requests/s; asserts no timing.
# Bounded: about 40 s. Loopback only.
set -Eeuo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
top_builddir=$(cd "$top_builddir" && pwd)
cluster=$top_srcdir/deploy/local/cluster.sh
LOAD_S=${SCALE_LOAD_SECONDS:-20}

for t in haproxy socat wrk curl psql; do
    command -v "$t" >/dev/null || { echo "it_scale: skipped: $t not installed (scripts/deps.sh)"; exit 77; }
done
if ! why=$(bash "$top_srcdir/tests/pgcluster.sh" check 2>&1); then
    echo "it_scale: skipped: $why"
    exit 77
fi

dir=$(mktemp -d /tmp/proximity-scale.XXXXXX)
wrk_pid=
fail=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null
    bash "$cluster" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fail=1
    fi
}

log() { echo "it_scale: $(date +%T.%N | cut -c1-12) $*"; }

cities=$top_srcdir/tests/data/cities-small.tsv
log "starting the cluster (primary + replica, 2 proximityd, haproxy)"
bash "$cluster" start "$dir" --replicas 2 --count 20000 --port 0 --builddir "$top_builddir" \
    --cities "$cities" -- --threads 2
# shellcheck disable=SC1091
. "$dir/env"
"$top_builddir/loadtest/proximity-gen" queries --count 20000 --seed 3 --cities "$cities" >"$dir/queries.tsv"

log "wrk -t1 -c8 -d${LOAD_S}s through haproxy"
wrk -t1 -c8 -d"${LOAD_S}s" --latency -s "$top_srcdir/loadtest/search.lua" "$PROXIMITY_URL" \
    "$dir/queries.tsv" >"$dir/wrk.out" 2>&1 &
wrk_pid=$!
t0=$(date +%s)
sleep 3
log "adding a replica"
added=$(bash "$cluster" add "$dir")
log "slot $added is UP in haproxy"
bash "$cluster" status "$dir"
sleep 3
log "stopping slot 1 with SIGTERM"
victim_pid=$(cat "$dir/replicas/1/pid")
bash "$cluster" remove "$dir" 1
kill -0 "$victim_pid" 2>/dev/null && { echo "FAIL: slot 1 still runs"; fail=1; }
bash "$cluster" status "$dir"
wait "$wrk_pid" || { cat "$dir/wrk.out"; echo "FAIL: wrk failed"; exit 1; }
wrk_pid=
log "load over after $(($(date +%s) - t0)) s"
cat "$dir/wrk.out"

res=$(grep '^RESULT ' "$dir/wrk.out" | tail -n 1)
field() { for kv in $res; do case $kv in "$1"=*) echo "${kv#*=}"; return ;; esac; done; echo -1; }
n=$(field n)
check "wrk made requests ($n)" test "$n" -gt 1000
check "zero failed requests (non-200 $(field non200), socket errors $(field sockerr))" test "$(field errors)" = 0
check "no answer from the PostGIS fallback ($(field fallback))" test "$(field fallback)" = 0

# haproxy's own counters over all slots: connection errors, response
# errors, retries and redispatches (a retry would hide a refused connection).
hap() { echo "$*" | socat -t 5 stdio "unix-connect:$dir/haproxy.sock"; }
read -r econ eresp wretr wredis < <(hap "show stat" | awk -F, '
    NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) c[$i] = i; next }
    $1 == "proximity" && $2 ~ /^px/ { e += $(c["econ"]); r += $(c["eresp"]); t += $(c["wretr"]); d += $(c["wredis"]) }
    END { print e + 0, r + 0, t + 0, d + 0 }')
check "haproxy: no connection or response errors (econ $econ, eresp $eresp)" test "$((econ + eresp))" = 0
check "haproxy: no retries or redispatches hid a refused connection ($wretr, $wredis)" test "$((wretr + wredis))" = 0

# Readiness gating, from the added replica's own request log: no search
# began before the first /readyz that answered 200 began (a line is
# written when a request completes: its start is ts - duration_ms).
alog=$dir/replicas/$added/proximityd.log
start_of() { # FIRST LINE MATCHING $1 -> "line start_seconds"
    awk -v pat="$1" 'index($0, pat) {
        match($0, /T[0-9:.]+Z/); split(substr($0, RSTART + 1, RLENGTH - 2), t, ":")
        match($0, /"duration_ms":[0-9.]+/); d = substr($0, RSTART + 14, RLENGTH - 14)
        match($0, /-[0-9][0-9]T/); day = substr($0, RSTART + 1, 2)
        printf "%d %.6f\n", NR, day * 86400 + t[1] * 3600 + t[2] * 60 + t[3] - d / 1000; exit }' "$alog"
}
read -r ready_line ready_t < <(start_of '"path":"/readyz","status":200' || true)
read -r search_line search_t < <(start_of '"path":"/v1/search/nearby"' || true)
first_ready=${ready_line:-}
searches=$(grep -c '"path":"/v1/search/nearby"' "$alog" || true)
check "added replica (slot $added) took traffic ($searches searches)" test "${searches:-0}" -gt 0
check "its first search (log line ${search_line:-none}) began after its first /readyz 200 (line ${ready_line:-none}) began" \
    awk -v r="${ready_t:-}" -v s="${search_t:-}" 'BEGIN { exit !(r != "" && s != "" && s + 0 >= r + 0) }'
not_ready_before=$(sed -n "1,${first_ready:-1}p" "$alog" | grep -c '"path":"/readyz","status":503' || true)
echo "added replica: $not_ready_before /readyz 503 before the first 200; $searches searches"
port=$(cat "$dir/replicas/$added/port")
postgis=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "proximity_searches_total{source=\"postgis\"}" { print $2 }')
check "added replica answered no search from PostGIS (${postgis:-?})" test "${postgis:-1}" = 0

# The stopped replica: /readyz failed after SIGTERM, it drained, exited.
vlog=$dir/replicas/1/proximityd.log
check "stopped replica logged its drain with nothing left in flight" grep -q '"msg":"drained","in_flight_left":0' "$vlog"
check "stopped replica exited cleanly" grep -q '"msg":"stopped"' "$vlog"
after_stop=$(sed -n '/"msg":"stopping"/,$p' "$vlog")
check "stopped replica answered /readyz 503 while draining" grep -q '"path":"/readyz","status":503' <<<"$after_stop"
late=$(awk '/"msg":"stopping"/ { s = 1 } s && /search\/nearby/ && /"status":[^2]/' "$vlog" | wc -l)
check "stopped replica failed no search while draining ($late)" test "$late" = 0

echo "figure: $(field rps) requests/s through haproxy with 2-3 replicas on $(nproc) cores (p50 $(field p50_ms) ms, p99 $(field p99_ms) ms); not asserted"
exit "$fail"
