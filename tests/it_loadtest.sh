#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup is called from the trap
# it_loadtest.sh — the load tests themselves: every k6 script parses as an
# ES module (node --check; k6 is not installable here), uses the shared
# query file through SharedArray and has thresholds, and has a wrk twin
# (and every twin a k6 script); then every wrk scenario runs for 2 s
# through loadtest/run-wrk.sh against a real proximityd on a throwaway
# cluster with zero failed requests, and the owners' cycle and the 95/5
# mix really write. Figures are printed, not asserted.
set -Eeuo pipefail

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
top_builddir=$(cd "$top_builddir" && pwd)
for t in node wrk curl; do
    command -v "$t" >/dev/null || { echo "it_loadtest: skipped: $t not installed (scripts/deps.sh)"; exit 77; }
done
if [ -z "${PROXIMITY_WITH_PG:-}" ]; then
    exec bash "$top_srcdir/tests/with-pg" bash "$0" "$@"
fi

fail=0
check() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}
work=$(mktemp -d /tmp/it-loadtest.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

k6=$top_srcdir/loadtest/k6
twins=$top_srcdir/loadtest/wrk
for f in "$k6"/*.js; do
    name=$(basename "$f" .js)
    cp "$f" "$work/$name.mjs"
    check "k6/$name.js parses as an ES module" node --check "$work/$name.mjs"
    [ "$name" = lib ] && continue
    check "k6/$name.js has a wrk twin (wrk/$name.lua)" test -f "$twins/$name.lua"
    check "k6/$name.js declares thresholds" grep -q 'thresholds:' "$f"
done
check "k6/lib.js reads the query file through SharedArray" grep -q "new SharedArray('queries'" "$k6/lib.js"
check "k6/ramp.js ramps the arrival rate" grep -q "executor: 'ramping-arrival-rate'" "$k6/ramp.js"
for f in "$twins"/*.lua; do
    name=$(basename "$f" .lua)
    [ "$name" = common ] && continue
    check "wrk/$name.lua has a k6 script" test -f "$k6/$name.js"
done

"$top_builddir/loadtest/proximity-gen" queries --count 20000 --seed 5 \
    --cities "$top_srcdir/tests/data/cities-small.tsv" >"$work/queries.tsv"
PROXIMITY_GEN=$top_builddir/loadtest/proximity-gen PROXIMITY_CITIES=$top_srcdir/tests/data/cities-small.tsv \
    sh "$top_srcdir/loadtest/load-sample.sh" "$PROXIMITY_PRIMARY_URL" 5000 1
"$top_builddir/src/proximityd" --bind 127.0.0.1 --port 0 --port-file "$work/port" --log-level warn \
    >"$work/proximityd.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ -s "$work/port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$work/port")/readyz")" = 200 ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/proximityd.log"; exit 1; }
    sleep 0.1
done
url=http://127.0.0.1:$(cat "$work/port")

bash "$top_srcdir/loadtest/run-wrk.sh" "$url" --seconds 2 --connections 8 --steps "2 8" \
    --queries "$work/queries.tsv" --results "$work/results"
cat "$work/results"
field() { sed -n "s/^run=$1 .*\\b$2=\\([^ ]*\\).*/\\1/p" "$work/results"; }
for run in search owners mixed ramp-c2 ramp-c8; do
    check "$run ran ($(field "$run" n) requests)" test "$(field "$run" n)" -gt 0
    check "$run: zero failed requests ($(field "$run" errors))" test "$(field "$run" errors)" = 0
    check "$run: no answer from the PostGIS fallback" test "$(field "$run" fallback)" = 0
done
check "owners: full cycles (creates $(field owners creates), deletes $(field owners deletes))" \
    test "$(field owners deletes)" -gt 0
w=$(($(field mixed creates) + $(field mixed updates) + $(field mixed deletes)))
share=$(awk -v w="$w" -v n="$(field mixed n)" 'BEGIN { printf "%.1f", 100 * w / n }')
check "mixed: writes are about 5% of requests ($share%)" awk -v s="$share" 'BEGIN { exit !(s >= 3 && s <= 7) }'
exit "$fail"
