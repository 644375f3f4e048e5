#!/usr/bin/env bash
# Confirmations that come back while the extractor is still reading the page
# (docs/delivery.md, "Leases and confirmations"), on real parts: cloudsuite-sim ->
# extractor -> transformer -> loader -> salesforce-sim answering at once, with the replayer
# confirming. Pages of 1,000 records, a window of 1,000 and batches of 20 sent without
# waiting: the first records of a page are loaded and confirmed within milliseconds, long
# before the last one is read. Every confirmation must find its record's pending entry
# (committed before the record was handed on): none ignored, none left pending or counted
# in flight (a count that no confirmation lowers shrinks the window until it stalls for
# lease_quiet_s), and the next run sends nothing again. Then a run whose whole poll ends
# before the first confirmation: it waits for the confirmations, since a replayer is there.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=3000
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sims $TENANT --seed-suppliers $N --seed 11 || exit 1
export MLC_CLOUDSUITE_PAGE_SIZE=1000 MLC_CLOUDSUITE_MAX_IN_FLIGHT=1000
export MLC_SALESFORCE_BATCH_SIZE=20 MLC_SALESFORCE_FLUSH_MS=0
mlc_start_pipeline "$CFG"

accounts_are () { test "$(mlc_sf_stats "$SF" '.records.Account // 0')" -eq "$1"; }
lease_field () { grep 'EXT_LEASE ' "$1" | tail -1 | grep -oE " $2=[0-9]+" | cut -d= -f2; }
log1="$MLC_TMP/extractor1.log"

check "a backfill of $N suppliers in pages of 1000: extractor --once exits 0" \
    "$BIN/mlc-extractor" --config "$CFG" --once >"$log1" 2>&1
check "every supplier becomes exactly one Account" mlc_wait_for 60 accounts_are $N
check "every confirmation found its pending entry (ignored=$(lease_field "$log1" ignored))" \
    test "$(lease_field "$log1" ignored)" -eq 0
check "none left pending (pending=$(lease_field "$log1" pending)), all $N confirmed" \
    grep -q "EXT_LEASE.* pending=0 confirmed=$N " "$log1"
check "none counted in flight at the end, and the window never stalled" \
    grep -q 'EXT_SENT.* in_flight=0 .* flow_stalls=0' "$log1"

calls=$(mlc_sf_stats "$SF" '.api_calls')
check "a second --once run exits 0" \
    "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/extractor2.log" 2>&1
check "... and sends nothing again (every hash was confirmed)" \
    grep -q "EXT_SENT.* sent=0 " "$MLC_TMP/extractor2.log"
check "... and costs no Salesforce call" test "$(mlc_sf_stats "$SF" '.api_calls')" -eq "$calls"
# A poll that ends before the first confirmation can come back: 5 suppliers change and
# Salesforce answers after 400 ms. A --once run with a replayer connected waits for their
# confirmations rather than leave them pending for a daemon run to send again.
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/faults" -H 'Content-Type: application/json' \
    -d '{"latency_ms":400}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -H 'Content-Type: application/json' --data-binary \
    "$(jq -nc '[range(1; 6) as $k | {VendNum: ("V" + ("000000" + ($k | tostring))[-6:]),
        Phone: ("+1 800 555 000" + ($k | tostring))}]')" >/dev/null
log3="$MLC_TMP/extractor3.log"
check "5 changed suppliers, Salesforce at 400 ms: extractor --once exits 0" \
    "$BIN/mlc-extractor" --config "$CFG" --once >"$log3" 2>&1
check "... it sent the 5" grep -q 'EXT_SENT.* sent=5 ' "$log3"
check "... and stayed until they were confirmed (pending=$(lease_field "$log3" pending))" \
    grep -q "EXT_LEASE.* pending=0 confirmed=5 " "$log3"
check "... none in flight at its end" grep -q 'EXT_SENT.* in_flight=0 ' "$log3"
check "still exactly $N Accounts" accounts_are $N
check "no sanitizer reports" mlc_check_logs
