#!/usr/bin/env bash
# SIGTERM drain (docs/delivery.md, "Shutdown"): mid-sync every process gets SIGTERM at
# once; each must exit by itself, cleanly (status 0), within a bounded time; after a restart
# with the same configuration everything lands exactly once and no pending entry is left.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
case "$BIN" in *asan*) S=1000 P=1000 ;; *) S=3000 P=3000 ;; esac
mlc_tmpdir
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"
export MLC_CLOUDSUITE_PO_ENABLED=true MLC_CLOUDSUITE_LEASE_S=4 MLC_CLOUDSUITE_LEASE_QUIET_S=3 \
    MLC_REPLAYER_REDRIVE_BASE_S=2 MLC_REPLAYER_REDRIVE_MAX_S=4 MLC_REPLAYER_REPLAY_RATE=2000 \
    MLC_SALESFORCE_DRAIN_MS=3000 MLC_CLOUDSUITE_PAGE_SIZE=200 MLC_SALESFORCE_MAX_IN_FLIGHT=1
# one call at a time of at least 300 ms: the whole batches of the pipeline land in a few
# seconds, not at once, so the SIGTERM finds the sync under way
mlc_start_sims $TENANT --seed-suppliers $S --seed-pos $P --seed 3 -- --latency-ms 300 || exit 1
declare -A PID
KINDS="replayer transformer loader extractor"
start_all () {
    "$BIN/mlc-replayer" --config "$CFG" run >>"$MLC_TMP/replayer.log" 2>&1 & PID[replayer]=$!
    "$BIN/mlc-transformer" --config "$CFG" >>"$MLC_TMP/transformer.log" 2>&1 & PID[transformer]=$!
    "$BIN/mlc-loader" --config "$CFG" >>"$MLC_TMP/loader.log" 2>&1 & PID[loader]=$!
    "$BIN/mlc-extractor" --config "$CFG" >>"$MLC_TMP/extractor.log" 2>&1 & PID[extractor]=$!
}
trap 'for k in $KINDS; do kill -9 "${PID[$k]}" 2>/dev/null; done; mlc_cleanup' EXIT
start_all
total () { echo $(( $(mlc_sf_stats "$SF" '.records.Account // 0') + $(mlc_sf_stats "$SF" '.records.CloudSuite_Purchase_Order__c // 0') )); }
mid_sync () { t=$(total); [ "$t" -gt 0 ] && [ "$t" -lt $((S + P)) ]; }
check "the sync is under way" mlc_wait_for 60 mid_sync
echo "# SIGTERM to every process with $(total) of $((S + P)) records in Salesforce"
for k in $KINDS; do kill -TERM "${PID[$k]}"; done
for k in $KINDS; do
    st=timeout
    for _ in $(seq 1 300); do kill -0 "${PID[$k]}" 2>/dev/null || { wait "${PID[$k]}"; st=$?; break; }; sleep 0.1; done
    check "$k exits by itself after SIGTERM, status 0 (got $st)" test "$st" = 0
done
check "the extractor and the replayer said they stopped" \
    bash -c "grep -q EXT_STOP '$MLC_TMP/extractor.log' && grep -q RPL_STOPPED '$MLC_TMP/replayer.log'"
# full speed for the rest
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/faults" -d '{"latency_ms": 0}' >/dev/null
start_all
pending () { grep -a 'event=EXT_LEASE ' "$MLC_TMP/extractor.log" | tail -1 | sed -n 's/.* pending=\([0-9-]*\) .*/\1/p'; }
done_ () {
    [ "$(mlc_sf_stats "$SF" '.records.Account // 0')" = "$S" ] &&
        [ "$(mlc_sf_stats "$SF" '.records.CloudSuite_Purchase_Order__c // 0')" = "$P" ] && [ "$(pending)" = 0 ]
}
check "after the restart every record lands, none pending (bounded wait)" mlc_wait_for 120 done_
keys_unique () {
    for o in Account CloudSuite_Purchase_Order__c; do
        curl -fsS "http://127.0.0.1:$SF/__sim/records/$o" |
            jq -e 'map(.CloudSuite_Key__c) | length == (unique | length)' >/dev/null || return 1
    done
}
check "exactly once: no external ID twice" keys_unique
for k in $KINDS; do kill -TERM "${PID[$k]}" 2>/dev/null; done
for k in $KINDS; do wait "${PID[$k]}" 2>/dev/null; done
check "no process logged a sanitizer report" mlc_check_logs
exit $TAP_FAILED
