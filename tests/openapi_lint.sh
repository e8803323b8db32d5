#!/bin/sh
# openapi_lint.sh — api/openapi.yaml must lint clean under Redocly CLI's
# strict recommended rules (tests/web/redocly.yaml), and a deliberately
# broken document must be refused (the linter really runs and really fails).
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/web/node-tools.sh"
redocly=$PROXIMITY_NODE_MODULES/.bin/redocly
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
config=$top_srcdir/tests/web/redocly.yaml
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== redocly lint api/openapi.yaml"
"$redocly" lint --config "$config" --format=stylish "$top_srcdir/api/openapi.yaml" >"$out" 2>&1 || {
    cat "$out"
    echo "FAIL: api/openapi.yaml does not lint clean"
    exit 1
}
grep -v '[║╔╚]' "$out" | sed '/^$/d'

echo "== a broken document must be refused"
if "$redocly" lint --config "$config" --format=stylish "$top_srcdir/tests/web/broken-openapi.yaml" >"$out" 2>&1; then
    cat "$out"
    echo "FAIL: redocly accepted tests/web/broken-openapi.yaml"
    exit 1
fi
for rule in no-unresolved-refs operation-operationId-unique struct; do
    if ! grep -q "$rule" "$out"; then
        cat "$out"
        echo "FAIL: redocly did not report $rule in tests/web/broken-openapi.yaml"
        exit 1
    fi
done
echo "refused, as it should be: $(grep -c -E ' (error|warning) ' "$out") problems"
echo "1 passed, 0 failed"
