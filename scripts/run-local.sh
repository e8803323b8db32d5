#!/usr/bin/env bash
# The README's run command: install what is needed, build, start a local
# PostgreSQL primary + streaming replica under .local/pg, apply migrations,
# load sample businesses (once), and run proximityd on port 8080.
#   scripts/run-local.sh          start everything (Ctrl-C stops proximityd)
#   scripts/run-local.sh stop     stop the local clusters, keeping their data
# PROXIMITY_SAMPLE_COUNT (default 100000) sets how many businesses to load.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
pgdir=$top/.local/pg
build=$top/build/local

if [ "${1:-}" = stop ]; then
    bash tests/pgcluster.sh stop "$pgdir" --keep
    exit 0
fi

./scripts/deps.sh
./autogen.sh >/dev/null
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
    (cd "$build" && "$top/configure" >configure.out)
fi
make -C "$build" -j"$(nproc)" >/dev/null

bash tests/pgcluster.sh start "$pgdir" --port-primary 55432 --port-replica 55433
set -a
# shellcheck disable=SC1091
. "$pgdir/env"
set +a

count=$(psql -qtAX "$PROXIMITY_PRIMARY_URL" -c "SELECT count(*) FROM businesses")
if [ "$count" = 0 ]; then
    n=${PROXIMITY_SAMPLE_COUNT:-100000}
    echo "loading $n sample businesses around real cities..."
    make -C "$build" loadtest/data/cities.tsv >/dev/null
    (cd "$build" && "$top/loadtest/load-sample.sh" "$PROXIMITY_PRIMARY_URL" "$n" 1)
    bash tests/pgcluster.sh wait-replay "$pgdir"
fi

port=${PROXIMITY_PORT:-8080}
# A local trial writes without tokens: auth is off unless you set
# PROXIMITY_AUTH=jwt (with PROXIMITY_JWT_SECRET or _PUBLIC_KEY_FILE).
export PROXIMITY_AUTH="${PROXIMITY_AUTH:-off}"
cat <<EOT

proximityd is starting on http://127.0.0.1:$port (primary :55432, replica :55433, auth $PROXIMITY_AUTH). Try:
  curl -s http://127.0.0.1:$port/v1/businesses/1
  curl -s -X POST http://127.0.0.1:$port/v1/businesses -H 'Content-Type: application/json' \\
       -d '{"name":"Blue Door Cafe","categories":["cafe"],"latitude":37.7749,"longitude":-122.4194}'
or open the demo map page: http://127.0.0.1:$port/ (the API's contract: api/openapi.yaml)

EOT
exec "$build/src/proximityd" --bind "${PROXIMITY_BIND:-127.0.0.1}" --port "$port"
