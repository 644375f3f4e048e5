#!/usr/bin/env bash
# Flow control at the source (docs/delivery.md, "Flow control") on real parts:
# cloudsuite-sim -> extractor -> transformer -> one loader -> salesforce-sim at 150 ms a
# call, with the replayer confirming. A window of 300 records and pages of 100: the
# extractor never has more than the window plus one page unconfirmed, it waits for
# confirmations (so the loader's queue stays short), every record arrives exactly once, and
# the --once run exits when all are confirmed, leaving nothing pending. Then with the
# replayer stopped: nobody confirms, the window switches off after lease_quiet_s, the
# records still reach Salesforce and stay pending for the next daemon run. (That a
# confirmation switches the window on again is tested in tests/unit/test_ex_flow.c.)
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=2000
TENANT=ACME_PRD
WINDOW=300
PAGE=100
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sims $TENANT --seed-suppliers $N --seed 5 -- --latency-ms 150 || exit 1
export MLC_CLOUDSUITE_MAX_IN_FLIGHT=$WINDOW MLC_CLOUDSUITE_PAGE_SIZE=$PAGE
# one call at a time, no Bulk API: the loader is the slow stage by far
export MLC_SALESFORCE_MAX_IN_FLIGHT=1 MLC_SALESFORCE_BULK_THRESHOLD=0
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
RP=$MLC_LAST_PID
mlc_start transformer "$BIN/mlc-transformer" --config "$CFG"
mlc_start loader "$BIN/mlc-loader" --config "$CFG"

accounts () { mlc_sf_stats "$SF" '.records.Account // 0'; }
accounts_are () { test "$(accounts)" -eq "$1"; }
sent_field () { grep 'EXT_SENT' "$1" | tail -1 | grep -oE "$2=[0-9]+" | cut -d= -f2; }

check "a backfill of $N suppliers behind a window of $WINDOW: extractor --once exits 0" \
    "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/extractor1.log" 2>&1
check "EXT_START shows the window" grep -q "EXT_START.*max_in_flight=$WINDOW" "$MLC_TMP/extractor1.log"
peak=$(sent_field "$MLC_TMP/extractor1.log" peak_in_flight)
check "never more than the window plus one page unconfirmed (peak ${peak:-?})" \
    test "${peak:-99999}" -le $((WINDOW + PAGE)) -a "${peak:-0}" -ge $WINDOW
check "the extractor waited for confirmations ($(sent_field "$MLC_TMP/extractor1.log" flow_waits) waits)" \
    test "$(sent_field "$MLC_TMP/extractor1.log" flow_waits)" -ge 3
check "... and the window never stalled" test "$(sent_field "$MLC_TMP/extractor1.log" flow_stalls)" -eq 0
check "--once stayed for its last confirmations: none in flight, none left pending" \
    bash -c "grep -q 'EXT_SENT.* in_flight=0 ' '$MLC_TMP/extractor1.log' &&
        grep -q 'EXT_LEASE.* pending=0 confirmed=$N ' '$MLC_TMP/extractor1.log'"
check "every supplier becomes exactly one Account" mlc_wait_for 60 accounts_are $N
loaded () { "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null | jq -e ".loaded >= $N" >/dev/null; }
check "the replayer recorded every record loaded" mlc_wait_for 30 loaded

# Nobody confirms: the replayer stops; a second extractor with a state of its own (so it
# emits every supplier again: upserts, no duplicates) fills the window, waits
# lease_quiet_s (2 s) without a confirmation, switches the window off and goes on.
kill -TERM $RP
wait $RP 2>/dev/null
calls_before=$(mlc_sf_stats "$SF" '.api_calls')
check "with the replayer stopped: extractor --once still exits 0" \
    env MLC_DATA_DIR="$MLC_TMP/data2" MLC_CLOUDSUITE_LEASE_QUIET_S=2 MLC_SALESFORCE_BULK_THRESHOLD=2000 \
    "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/extractor2.log" 2>&1
check "a window ($WINDOW) under twice salesforce.bulk_threshold (2000) is warned about, with the fix" \
    grep -q "EXT_FLOW_SMALL.*max_in_flight=$WINDOW bulk_threshold=2000.*raise cloudsuite.max_in_flight" \
    "$MLC_TMP/extractor2.log"
check "... the window stalled once and was switched off (EXT_FLOW_STALL)" \
    test "$(grep -c 'EXT_FLOW_STALL' "$MLC_TMP/extractor2.log")" -eq 1
check "... and every record was handed on ($(sent_field "$MLC_TMP/extractor2.log" sent) sent)" \
    test "$(sent_field "$MLC_TMP/extractor2.log" sent)" -eq $N
check "... and what nobody confirmed stays pending for the next daemon run ($N)" \
    grep -q "EXT_LEASE.* pending=$N confirmed=0 " "$MLC_TMP/extractor2.log"
upserted () { test "$(mlc_sf_stats "$SF" '.api_calls')" -ge $((calls_before + N / 200)); }
check "... and reached Salesforce without a replayer" mlc_wait_for 30 upserted
check "still exactly $N Accounts" accounts_are $N
check "no sanitizer reports" mlc_check_logs
