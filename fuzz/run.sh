#!/bin/sh
# run.sh — libFuzzer over every target of fuzz/targets for a bounded time,
# from the committed seed corpus (fuzz/corpus/NAME) plus the kept crash
# inputs (fuzz/regress/NAME). Run by `make check` as fuzz/run.sh.
#
# Builds each target with clang -fsanitize=fuzzer,address,undefined from
# the sources themselves, in the build tree ($top_builddir/fuzz/libfuzzer),
# since the project's own compiler (gcc) has no libFuzzer. The corpus is
# copied there first (the source tree may be read-only: distcheck), and new
# inputs and crash artifacts stay there. A crash fails the test; keep its
# input as fuzz/regress/NAME/<something> so every replay runs it again.
#
# PROXIMITY_FUZZ_SECONDS  seconds per target (default 10; 0 = build only)
# PROXIMITY_FUZZ_TARGETS  names to run (default: all of fuzz/targets)
# CLANG                   the compiler (default: clang, then clang-14)
# Exits 77 when no clang with libFuzzer is found.
set -eu

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-.}
seconds=${PROXIMITY_FUZZ_SECONDS:-10}
work=$builddir/fuzz/libfuzzer

cc=${CLANG:-}
if [ -z "$cc" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null 2>&1; then
            cc=$c
            break
        fi
    done
fi
if [ -z "$cc" ]; then
    echo "fuzz: skipped: no clang (libFuzzer needs clang; scripts/deps.sh installs it)"
    exit 77
fi
mkdir -p "$work"
probe=$work/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' >"$probe"
if ! "$cc" -fsanitize=fuzzer "$probe" -o "$work/probe" 2>"$work/probe.err"; then
    echo "fuzz: skipped: $cc cannot link -fsanitize=fuzzer: $(head -n 3 "$work/probe.err")"
    exit 77
fi

cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
-fno-omit-frame-pointer -D_GNU_SOURCE -I$srcdir/src -I$srcdir/tests -I$srcdir/fuzz"

status=0
total_runs=0
summary=
grep -v -e '^#' -e '^[[:space:]]*$' "$srcdir/fuzz/targets" >"$work/targets"
while read -r line; do
    name=${line%% *}
    rest=${line#"$name"}
    case $rest in
    *'|'*) srcs=${rest%%|*} mods=${rest#*|} ;;
    *) srcs=$rest mods='' ;;
    esac
    if [ -n "${PROXIMITY_FUZZ_TARGETS:-}" ]; then
        case " $PROXIMITY_FUZZ_TARGETS " in
        *" $name "*) ;;
        *) continue ;;
        esac
    fi
    paths="$srcdir/fuzz/fuzz_$name.c"
    for s in $srcs; do
        paths="$paths $srcdir/$s"
    done
    pc_cflags='' pc_libs=''
    if [ -n "$mods" ]; then
        # shellcheck disable=SC2086  # module list
        pc_cflags=$(pkg-config --cflags $mods)
        # shellcheck disable=SC2086
        pc_libs=$(pkg-config --libs $mods)
    fi
    bin=$work/fuzz_$name
    # shellcheck disable=SC2086  # word lists
    if ! "$cc" $cflags $pc_cflags $paths -o "$bin" $pc_libs -lm -lpthread 2>"$work/$name.build.log"; then
        echo "fuzz: $name: build failed:"
        cat "$work/$name.build.log"
        status=1
        continue
    fi
    [ "$seconds" = 0 ] && continue

    corpus=$work/corpus/$name
    mkdir -p "$corpus" "$work/artifacts/$name"
    cp "$srcdir/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
    chmod -R u+w "$corpus"
    dirs=$corpus
    [ -d "$srcdir/fuzz/regress/$name" ] && dirs="$dirs $srcdir/fuzz/regress/$name"
    # The JSON targets start from a dictionary of the grammar and fields.
    dict=''
    case $name in
    business | debezium) dict=-dict=$srcdir/fuzz/json.dict ;;
    esac
    log=$work/$name.log
    # Leaks are checked too: the targets free what they allocate.
    # shellcheck disable=SC2086  # dirs is a list, dict empty or one word
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 $dict \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$name/" $dirs >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz: $name: ${runs:-?} inputs in ${seconds}s, ${cov:-cov: ?}, no failure"
        total_runs=$((total_runs + ${runs:-0}))
        summary="$summary $name=${runs:-0}"
    else
        echo "fuzz: $name: FAILED; the input is in $work/artifacts/$name/ (keep it in fuzz/regress/$name/):"
        grep -a -E -A 12 'property failed|runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|ERROR: libFuzzer: (timeout|out-of-memory)' "$log" | head -n 40
        status=1
    fi
done <"$work/targets"
echo "fuzz: $total_runs inputs tried in all:$summary"
exit $status
