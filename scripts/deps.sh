#!/bin/sh
# deps.sh — install everything proximity needs to build, test and benchmark
# on Debian 12, with apt-get.  Idempotent: does nothing when all is present.
# Runs as root, or through sudo otherwise.  usage: scripts/deps.sh
set -eu

PACKAGES="build-essential autoconf automake autoconf-archive libtool pkg-config
libmicrohttpd-dev libjansson-dev libpq-dev check libcurl4-openssl-dev
zlib1g-dev libssl-dev librdkafka-dev kcat postgresql-15 postgresql-15-postgis-3
postgresql-contrib wrk shellcheck
chromium clang"
# clang: the libFuzzer targets (fuzz/run.sh).
# chromium: the demo page's browser test (tests/it_browser.sh, Playwright).
# operations (issue 8): the local haproxy cluster and its runtime API, and
# the checks of deploy/ (yamllint, python3-yaml, docker-compose config,
# systemd-analyze)
PACKAGES="$PACKAGES haproxy socat yamllint python3-yaml docker-compose systemd"

# node and npm may come from elsewhere (nodesource, nvm): only add Debian's
# when the commands are missing.
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

missing=
for p in $PACKAGES; do
    st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "deps: everything is installed"
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
else
    echo "deps: missing:$missing" >&2
    echo "deps: not root and no sudo; install them as root" >&2
    exit 1
fi

echo "deps: installing:$missing"
# $SUDO is empty or one word.
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
echo "deps: done"
