#!/bin/sh
# contract.sh — every HTTP exchange the integration tests made with the real
# proximityd (recorded by tests/testutil.c into tests/exchanges/*.jsonl, one
# file per test program, see tests/with-pg) must match api/openapi.yaml:
# statuses, headers, bodies (ajv, JSON Schema 2020-12), and for accepted
# requests the request too; every operation of the spec must have been
# exercised. make runs it after the integration tests (tests/web.am).
# Then two negative checks prove the checker can fail: hand-written wrong
# exchanges (tests/web/wrong-exchanges.jsonl) must all be refused, and the
# recorded traffic must be refused by a deliberately wrong copy of the spec.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/web/node-tools.sh"
validate="node $top_srcdir/tests/web/validate-exchanges.mjs"
spec=$top_srcdir/api/openapi.yaml
dir=${PROXIMITY_TEST_EXCHANGES_DIR:-$top_builddir/tests/exchanges}

files=
for f in "$dir"/*.jsonl; do
    [ -s "$f" ] && files="$files $f"
done
if [ -z "$files" ]; then
    echo "contract: skipped: no integration test recorded any traffic in $dir" >&2
    echo "(they run under tests/with-pg and are skipped without PostgreSQL)" >&2
    exit 77
fi

echo "== recorded traffic against api/openapi.yaml"
for f in $files; do
    echo "   $(basename "$f"): $(wc -l <"$f") exchanges"
done
# $files is a list of paths without blanks (the build tree's).
# shellcheck disable=SC2086
$validate "$spec" $files --require all

echo "== hand-written wrong exchanges must all be refused"
$validate "$spec" "$top_srcdir/tests/web/wrong-exchanges.jsonl" --expect-failures

echo "== the recorded traffic must be refused by wrong specs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Each wrong spec: one change to api/openapi.yaml (a JavaScript statement on
# `s`, the parsed document) and what the refusal must say.
refuse() {
    node -e '
const req = require("module").createRequire(process.env.PROXIMITY_NODE_MODULES + "/");
const YAML = req("yaml"), fs = require("fs");
const s = YAML.parse(fs.readFileSync(process.argv[1], "utf8"));
eval(process.argv[3]);
fs.writeFileSync(process.argv[2], YAML.stringify(s));
' "$spec" "$tmp/wrong-spec.yaml" "$1"
    # shellcheck disable=SC2086
    if $validate "$tmp/wrong-spec.yaml" $files >"$tmp/out" 2>&1; then
        cat "$tmp/out"
        echo "FAIL: the recorded traffic passed a spec changed by: $1"
        exit 1
    fi
    if ! grep -q "$2" "$tmp/out"; then
        cat "$tmp/out"
        echo "FAIL: the refusal of a spec changed by ($1) does not say: $2"
        exit 1
    fi
    echo "   refused ($1): $(grep -m1 -E '^[0-9]+ failures' "$tmp/out")"
}
refuse 's.components.schemas.BusinessFields.properties.id = {type: "string"}' "id must be string"
refuse 's.components.schemas.SearchResponse.required.push("count")' "must have required property 'count'"
refuse 'delete s.paths["/v1/businesses/{id}"].get.responses["304"]' "status 304 is not documented for getBusiness"
refuse 's.paths["/v1/search/nearby"].get.parameters[3].schema.maximum = 10' "accepted query parameter limit"
refuse 'delete s.paths["/v1/businesses"].post.responses["401"]' "status 401 is not documented for createBusiness"
echo "6 passed, 0 failed"
