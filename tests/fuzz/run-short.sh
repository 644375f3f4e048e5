#!/usr/bin/env bash
# The short fuzz run of `make test`: builds every libFuzzer target of tests/fuzz (fuzz.mk)
# and runs each for FUZZ_SECONDS (default 5) on a scratch copy of its checked-in corpus,
# which holds the seeds and the reproducers of every bug found so far (regress-*), so a
# regression fails here first. Prints one TAP line per target and exits non-zero when a
# target does not build, crashes, leaks, breaks a property or runs out of memory.
#   FUZZ_SECONDS=N   seconds per target (make fuzz runs 60)
#   FUZZ_DIR=DIR     where the targets are built (default build/fuzz)
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-5}
dir=${FUZZ_DIR:-build/fuzz}
work=$(mktemp -d "${TMPDIR:-/tmp}/mlc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

targets=$(make --no-print-directory -s FUZZ_DIR="$dir" fuzz-list)
set -- $targets
echo "1..$#"
failed=0
for t in $targets; do
    if ! make --no-print-directory -s FUZZ_DIR="$dir" "$dir/$t" >"$work/$t.build.log" 2>&1; then
        echo "not ok - $t builds (log below)"
        sed 's/^/#   /' "$work/$t.build.log" | tail -20
        failed=1
        continue
    fi
    mkdir -p "$work/$t"
    if "$dir/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/$t-" "$work/$t" "tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
        runs=$(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$work/$t.log" | grep -oE '[0-9]+$')
        echo "ok - $t $secs s clean (${runs:-?} runs)"
    else
        echo "not ok - $t found a bug in $secs s (reproducer kept in $dir/artifacts)"
        mkdir -p "$dir/artifacts"
        cp "$work/$t"-* "$dir/artifacts/" 2>/dev/null
        grep -m1 -B2 -A25 -E 'ERROR: |runtime error:|fuzz property failed|SUMMARY' "$work/$t.log" |
            sed 's/^/#   /' | head -40
        failed=1
    fi
done
exit $failed
