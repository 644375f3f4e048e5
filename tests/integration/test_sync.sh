#!/usr/bin/env bash
# End to end on real parts: cloudsuite-sim -> extractor -> transformer -> loader ->
# salesforce-sim, with the replayer keeping the audit trail. Syncs twice (no duplicates,
# exact values, zero Salesforce calls for an unchanged poll), then a change, a record
# Salesforce rejects (dead letter), and garbage on every socket.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=300
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sims $TENANT --seed-suppliers $N --seed 7 || exit 1
mlc_start_pipeline "$CFG"

accounts () { mlc_sf_stats "$SF" '.records.Account // 0'; }
accounts_are () { test "$(accounts)" -eq "$1"; }
calls () { mlc_sf_stats "$SF" '.api_calls'; }
extract_once () { "$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1; }

check "first poll: extractor --once succeeds" extract_once
check "first poll: every supplier becomes an Account" \
    mlc_wait_for 60 accounts_are $N
match () {
    mlc_cs_fetch "$CS" $TENANT SLVendors >"$MLC_TMP/vendors.json" || return 1
    curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" >"$MLC_TMP/accounts.json" || return 1
    jq -n --slurpfile v "$MLC_TMP/vendors.json" --slurpfile a "$MLC_TMP/accounts.json" \
        --arg t $TENANT '[$v[0], $a[0], $t]' | jq -f tests/integration/accounts_match_vendors.jq \
        >"$MLC_TMP/mismatch.json"
    [ "$(jq length "$MLC_TMP/mismatch.json")" -eq 0 ] || { head -c 2000 "$MLC_TMP/mismatch.json" >&2; return 1; }
}
check "first poll: Account values equal the supplier values, no duplicates" match
first_calls=$(calls)
check "first poll: sObject Collections used (<= ceil(N/200) + retries calls)" \
    test "$(mlc_sf_stats "$SF" '.calls_by_endpoint.composite_upsert // 0')" -ge $(( (N + 199) / 200 ))

check "second poll: extractor --once succeeds" extract_once
sleep 1
check "second poll: unchanged records cost zero Salesforce calls" test "$(calls)" -eq "$first_calls"
check "second poll: still exactly one Account per supplier" test "$(accounts)" -eq $N

# A change in CloudSuite reaches Salesforce on the next poll; only it costs a call.
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -d '{"VendNum":"V000005","Name":"Renamed Metals Ltd"}' >/dev/null
check "third poll: extractor --once succeeds" extract_once
renamed () {
    curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" |
        jq -e --arg k "$TENANT:vendor:V000005" 'map(select(.CloudSuite_Key__c == $k))[0].Name == "Renamed Metals Ltd"'
}
check "third poll: the changed supplier is updated in Salesforce" mlc_wait_for 30 renamed
check "third poll: still exactly one Account per supplier" test "$(accounts)" -eq $N

# A record Salesforce rejects becomes a dead letter with its reason: the org's Phone field is
# made shorter than the mapping allows (as a real org may be), then a supplier with a long
# phone number arrives.
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/schema" -d '{"Account":{"Phone":{"length":20}}}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -d '{"VendNum":"V900001","Name":"Too Long Phone Inc","Phone":"+1 555 0100 0100 0100 0100 0199"}' >/dev/null
check "fourth poll: extractor --once succeeds" extract_once
dead_letter () {
    "$BIN/mlc-replayer" --config "$CFG" list --json 2>/dev/null | grep -q 'STRING_TOO_LONG'
}
check "a record Salesforce rejects is listed as a dead letter with its error code" \
    mlc_wait_for 30 dead_letter
check "mlc-replayer list names the rejected record" \
    bash -c "'$BIN/mlc-replayer' --config '$CFG' list | grep -q V900001"

# Garbage on every socket a process reads: logged and counted, never a crash.
"$BIN/mlc-ztool" push "ipc://$MLC_TMP/extract.sock" --garbage 50
"$BIN/mlc-ztool" push "ipc://$MLC_TMP/events.sock" --garbage 50
"$BIN/mlc-ztool" push "ipc://$MLC_TMP/bad-load.sock" --bind --garbage 50 &
GPID=$!
MLC_ZMQ_LOAD_ENDPOINT="ipc://$MLC_TMP/bad-load.sock" mlc_start loader2 "$BIN/mlc-loader" --config "$CFG"
wait $GPID
sleep 1
check "transformer survives garbage and logs it" \
    bash -c "grep -q TRF_BAD_ENVELOPE '$MLC_TMP/transformer.log' && pgrep -f 'mlc-transformer --config $CFG' >/dev/null"
check "replayer survives garbage and logs it" \
    bash -c "grep -q RPL_BAD_EVENT '$MLC_TMP/replayer.log' && pgrep -f 'mlc-replayer --config $CFG' >/dev/null"
check "loader survives garbage and logs it" \
    bash -c "grep -q LDR_BAD_ENVELOPE '$MLC_TMP/loader2.log' && kill -0 $MLC_LAST_PID"
check "the pipeline still works after the garbage" extract_once

# Secrets never reach logs.
check "the Salesforce client secret appears in no log" \
    bash -c "! grep -rqF '$MLC_SALESFORCE_CLIENT_SECRET' '$MLC_TMP'/*.log"
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
