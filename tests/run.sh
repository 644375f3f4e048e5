#!/usr/bin/env bash
# Runs every test: cmocka unit tests and integration scripts, on the plain build and on the
# AddressSanitizer/UBSan build. Each test prints TAP lines; this counts them and ends with
# the one line "N passed, M failed". Exit 0 only when nothing failed.
#   tests/run.sh [unit|integration|all] (default all); ONLY=regex limits the test names;
#   B and BSAN name the plain and sanitizer build directories (default build, build/asan);
#   TEST_JOBS=1 runs the plain and the sanitizer integration passes one after the other.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0
failed=0
failures=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CMOCKA_MESSAGE_OUTPUT=TAP
logdir=$(mktemp -d "${TMPDIR:-/tmp}/mlc-tests.XXXXXX")

# count NAME LOG RC: adds the TAP results of one test program to the totals.
count () {
    local name=$1 log=$2 rc=$3 secs=${4:-0}
    local ok nok
    ok=$(grep -cE '^ok ' "$log")
    nok=$(grep -cE '^not ok ' "$log")
    # A program that failed without saying which case (a crash, a sanitizer report, a
    # plan that does not add up) counts as one more failure.
    local plan
    plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$log" | cut -d. -f3)
    if { [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; } || \
       { [ -n "$plan" ] && [ $((ok + nok)) -ne "$plan" ]; } || \
       grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
        nok=$((nok + 1))
    fi
    passed=$((passed + ok))
    failed=$((failed + nok))
    if [ "$nok" -gt 0 ]; then
        failures+=("$name (log: $log)")
        echo "FAIL $name: $ok passed, $nok failed (${secs} s)"
        grep -E '^not ok ' "$log" | head -20 | sed 's/^/    /'
        # the first lines of a sanitizer report, so a CI log shows the cause
        grep -m1 -A12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" |
            sed 's/^/    | /'
    else
        echo "ok   $name: $ok passed (${secs} s)"
    fi
}

run_unit () {
    local dir=$1 label=$2 t name log t0
    for t in "$dir"/test_*; do
        [ -x "$t" ] || continue
        name="$label/$(basename "$t")"
        [[ -n "${ONLY:-}" && ! "$name" =~ $ONLY ]] && continue
        log="$logdir/${name//\//_}.log"
        t0=$SECONDS
        timeout 300 "$t" >"$log" 2>&1
        count "$name" "$log" $? $((SECONDS - t0))
    done
}

run_integration () {
    local bin=$1 label=$2 t name log t0
    for t in tests/integration/test_*.sh; do
        [ -f "$t" ] || continue
        name="$label/$(basename "$t" .sh)"
        [[ -n "${ONLY:-}" && ! "$name" =~ $ONLY ]] && continue
        # protocol and garbage-input scripts run once, on the sanitizer build, which checks
        # strictly more than the plain one
        [ "$label" = integration ] && grep -q '^# run.sh: sanitizer build only' "$t" && continue
        log="$logdir/${name//\//_}.log"
        t0=$SECONDS
        BIN=$bin timeout 600 bash "$t" >"$log" 2>&1
        count "$name" "$log" $? $((SECONDS - t0))
    done
}

# run_format: the C sources and headers are as .clang-format says (make format fixes them)
run_format () {
    local log="$logdir/format.log" out="$logdir/format.out" t0=$SECONDS
    {
        echo "1..1"
        if make --no-print-directory -s format-check >"$out" 2>&1; then
            echo "ok - every C source and header is clang-formatted (.clang-format)"
        else
            echo "not ok - clang-format wants $(grep -c 'error:' "$out") changes: run make format"
            grep -m5 'error:' "$out" | sed 's/^/#   /'
        fi
    } >"$log"
    count format "$log" 0 $((SECONDS - t0))
}

start=$(date +%s)
if [ "$what" = all ] || [ "$what" = unit ]; then
    [[ -z "${ONLY:-}" || format =~ $ONLY ]] && run_format
    run_unit "${B:-build}/tests" unit
    run_unit "${BSAN:-build/asan}/tests" unit-asan
fi
# run_fuzz: every libFuzzer target a few seconds, once (they carry their own sanitizers)
run_fuzz () {
    local log="$logdir/fuzz.log" t0=$SECONDS
    tests/fuzz/run-short.sh >"$log" 2>&1
    count fuzz "$log" $? $((SECONDS - t0))
}
fuzz=0
{ [ "$what" = all ] || [ "$what" = fuzz ]; } && fuzz=1
if [ "$what" = all ] || [ "$what" = integration ]; then
    if [ "${TEST_JOBS:-2}" -gt 1 ]; then
        # The integration scripts mostly wait (for processes, timers, HTTP), so the plain pass
        # (then the fuzz run) goes in the background while the sanitizer pass runs: every
        # script has its own temporary directory, ipc endpoints and ports picked by the kernel.
        (
            passed=0 failed=0 failures=()
            run_integration "${B:-build}/bin" integration
            [ "$fuzz" = 1 ] && run_fuzz
            echo "$passed $failed" >"$logdir/background.counts"
            [ ${#failures[@]} -eq 0 ] || printf '%s\n' "${failures[@]}" >"$logdir/background.failures"
        ) >"$logdir/background.out" 2>&1 &
        bg=$!
        run_integration "${BSAN:-build/asan}/bin" integration-asan
        wait "$bg"
        cat "$logdir/background.out"
        if read -r p f <"$logdir/background.counts" 2>/dev/null; then
            passed=$((passed + p))
            failed=$((failed + f))
            [ -f "$logdir/background.failures" ] && mapfile -t -O ${#failures[@]} failures <"$logdir/background.failures"
        else
            failed=$((failed + 1))
            failures+=("the background pass (plain integration, fuzz) ended early: $logdir/background.out")
        fi
        fuzz=0
    else
        run_integration "${B:-build}/bin" integration
        run_integration "${BSAN:-build/asan}/bin" integration-asan
    fi
fi
[ "$fuzz" = 1 ] && run_fuzz
echo "tests took $(( $(date +%s) - start )) s; logs in $logdir"
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
