#!/bin/sh
# it_browser.sh — the demo page in a real browser: Debian's Chromium driven
# by Playwright (playwright-core, tests/web/browser.mjs) against proximityd on
# a throwaway primary + replica with 60 businesses: the page loads with no
# request leaving the service, a click on the map runs a search, markers and
# a list with distances appear (the same ids as the API's), paging through
# next_cursor and a category filter work. The screenshot is kept as
# tests/artifacts/demo.png. Skipped (77) only without Chromium or node.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"

chromium=${PROXIMITY_CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
    echo "it_browser: skipped: Chromium is not installed (scripts/deps.sh installs Debian's chromium)" >&2
    exit 77
fi
if [ -z "${PROXIMITY_WITH_PG:-}" ]; then
    . "$top_srcdir/tests/web/node-tools.sh"
    export PROXIMITY_CHROMIUM="$chromium"
    exec bash "$top_srcdir/tests/with-pg" sh "$0" "$@"
fi

# The shipped Leaflet is npm's, byte for byte.
for f in leaflet.js leaflet.css; do
    cmp -s "$top_srcdir/web/$f" "$PROXIMITY_NODE_MODULES/leaflet/dist/$f" || {
        echo "FAIL: web/$f differs from npm's leaflet/dist/$f (copy it again)"
        exit 1
    }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/proximity-browser.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$top_builddir/src/proximityd" --port=0 --bind=127.0.0.1 --port-file="$tmp/port" --threads=2 \
    >"$tmp/proximityd.log" 2>&1 &
pid=$!
i=0
until [ -s "$tmp/port" ] && curl -fsS "http://127.0.0.1:$(cat "$tmp/port")/readyz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
        cat "$tmp/proximityd.log"
        echo "FAIL: proximityd not ready within 60 s"
        exit 1
    fi
    sleep 0.1
done
base=http://127.0.0.1:$(cat "$tmp/port")

# 60 businesses within ~1.5 km of Wellington's Lambton Quay: 40 cafés, 20
# bars, some names in other scripts.
n=0
while [ "$n" -lt 60 ]; do
    lat=$(awk -v n="$n" 'BEGIN { printf "%.6f", -41.2865 + 0.0011 * (n % 10 - 4.5) }')
    lng=$(awk -v n="$n" 'BEGIN { printf "%.6f", 174.7762 + 0.0016 * (int(n / 10) - 2.5) }')
    if [ $((n % 3)) = 2 ]; then cat=bar; name="Bar $n 🍺"; else cat=cafe; name="Café $n 東京"; fi
    curl -fsS -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"name\":\"$name\",\"categories\":[\"$cat\"],\"latitude\":$lat,\"longitude\":$lng}" \
        "$base/v1/businesses"
    n=$((n + 1))
done

mkdir -p "$top_builddir/tests/artifacts"
node "$top_srcdir/tests/web/browser.mjs" "$base" "$top_builddir/tests/artifacts/demo.png"
