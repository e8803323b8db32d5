#!/usr/bin/env bash
# The README's test command: install what is needed, build, run every test —
# once with warnings as errors, once under ASan+UBSan, then make distcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc)

./scripts/deps.sh
./autogen.sh >/dev/null

run_check() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    (
        cd "$dir"
        "$top/configure" "$@" >configure.out
        make -j"$jobs" >/dev/null
        if ! make -j"$jobs" check; then
            # Show why, not just that: every failed test's log.
            find . -name '*.trs' -print | while read -r t; do
                if grep -q -E '^:test-result: (FAIL|ERROR)' "$t"; then
                    echo "==== ${t%.trs}.log"
                    tail -n 80 "${t%.trs}.log"
                fi
            done
            exit 1
        fi
    )
}

# Seconds of libFuzzer per target (fuzz/run.sh) and of the soak test
# (tests/it_soak): the long runs in one pass each, short ones elsewhere.
echo "== build with --enable-werror, make check"
PROXIMITY_FUZZ_SECONDS=20 PROXIMITY_SOAK_SECONDS=30 run_check build/check --enable-werror
echo "== build with --enable-sanitizers (ASan+UBSan), make check"
PROXIMITY_FUZZ_SECONDS=5 PROXIMITY_SOAK_SECONDS=300 run_check build/asan --enable-sanitizers --enable-werror
echo "== make distcheck"
(cd build/check && PROXIMITY_FUZZ_SECONDS=5 PROXIMITY_SOAK_SECONDS=30 make -j"$jobs" distcheck >distcheck.out 2>&1) || { tail -n 100 build/check/distcheck.out; exit 1; }
echo "== all tests passed"
