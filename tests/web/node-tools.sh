# node-tools.sh — sourced by the tests that use npm tools (Redocly CLI, ajv,
# Playwright, Leaflet; tests/web/package.json): exports top_srcdir,
# top_builddir and PROXIMITY_NODE_MODULES, installing the packages with
# `npm ci` into $top_builddir/tests/web-tools the first time (and again when
# the lock file changes). Exits 77 (skip) when node or npm is not installed
# at all; an install that fails is an error. Parallel tests take turns
# (flock). usage: . "$top_srcdir/tests/web/node-tools.sh"
: "${top_builddir:=.}"
export top_srcdir top_builddir

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node-tools: skipped: node and npm are not installed (scripts/deps.sh installs them)" >&2
    exit 77
fi
PROXIMITY_NODE_MODULES=$(cd "$top_builddir" && pwd)/tests/web-tools/node_modules
export PROXIMITY_NODE_MODULES
(
    dir=${PROXIMITY_NODE_MODULES%/node_modules}
    lock=$top_srcdir/tests/web/package-lock.json
    mkdir -p "$dir"
    flock 9
    if ! cmp -s "$lock" "$dir/package-lock.json" || [ ! -d "$dir/node_modules" ]; then
        rm -rf "$dir/node_modules"
        cp "$top_srcdir/tests/web/package.json" "$lock" "$dir/"
        chmod u+w "$dir/package.json" "$dir/package-lock.json"
        if ! npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >"$dir/npm.log" 2>&1; then
            cat "$dir/npm.log" >&2
            rm -f "$dir/package-lock.json"
            echo "node-tools: npm ci failed (is the npm registry reachable?)" >&2
            exit 1
        fi
    fi
) 9>"$(cd "$top_builddir" && pwd)/tests/.web-tools.lock" || exit 1
