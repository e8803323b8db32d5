#!/usr/bin/env bash
# check_deploy.sh — checks the deploy/ files with the tools that run here
# (Docker and Kubernetes do not): yamllint, tests/check_deploy.py (parses
# every manifest, cross-references them, metrics and PROXIMITY_* names
# against the programs), `docker-compose config`, `haproxy -c`,
# `systemd-analyze verify`, shellcheck on the scripts.
set -Eeuo pipefail

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
deploy=$top_srcdir/deploy
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)
for t in yamllint haproxy docker-compose systemd-analyze shellcheck; do
    command -v "$t" >/dev/null || { echo "check_deploy: skipped: $t not installed (scripts/deps.sh)"; exit 77; }
done
if [ -z "$py" ] || ! "$py" -c 'import yaml' 2>/dev/null; then
    echo "check_deploy: skipped: python3 with the yaml module (python3-yaml) not installed"
    exit 77
fi

work=$(mktemp -d /tmp/check-deploy.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
step() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        sed 's/^/    /' "$work/out"
        fail=1
    fi
}

mapfile -t yamls < <(find "$deploy" -name '*.yml' -o -name '*.yaml' | sort)
step "yamllint ${#yamls[@]} files" yamllint -s -c "$deploy/.yamllint" "${yamls[@]}"

"$top_builddir/src/proximityd" --help >"$work/proximityd.help"
"$top_builddir/src/proximity-cdc" --help >"$work/relay.help"
"$py" "$top_srcdir/tests/check_deploy.py" "$top_srcdir" "$work/proximityd.help" "$work/relay.help" || fail=1

# docker-compose (v1, Debian's) validates the file and its interpolation
# without a Docker daemon; it resolves the build context, so copy it.
step "docker-compose config" docker-compose --project-directory "$deploy" -f "$deploy/docker-compose.yml" config -q
# Service names do not resolve here: init-addr lets haproxy start anyway.
step "haproxy -c deploy/haproxy.cfg" haproxy -c -q -f "$deploy/haproxy.cfg"
for unit in "$deploy"/systemd/*.service; do
    # verify needs ExecStart to exist: point it at the build's binaries.
    sed -e "s|/usr/bin/proximityd|$(cd "$top_builddir" && pwd)/src/proximityd|" \
        -e "s|/usr/bin/proximity-cdc|$(cd "$top_builddir" && pwd)/src/proximity-cdc|" "$unit" >"$work/$(basename "$unit")"
    step "systemd-analyze verify $(basename "$unit")" systemd-analyze verify "$work/$(basename "$unit")"
done
mapfile -t scripts < <(find "$deploy" -name '*.sh' | sort)
step "shellcheck ${#scripts[@]} scripts" shellcheck "${scripts[@]}"
exit "$fail"
