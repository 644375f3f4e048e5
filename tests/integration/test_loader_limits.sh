#!/usr/bin/env bash
# The daily API allowance runs out mid-run: the loader slows down past salesforce.slowdown_pct,
# pauses the org at salesforce.pause_pct and on a TotalRequests refusal, makes no calls while
# paused, loses nothing, and after the allowance is reset (POST /__sim/reset-limits) the rest
# lands. Then a loader stopped while its org is paused dead-letters what it holds as
# retryable with the code LDR_ORG_PAUSED.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
T=ACME_PRD
N=6000
LIMIT=20
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" --daily-limit $LIMIT || exit 1
SF=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" 1 "$SF" $T
# Collections only (one call per 200 records), short pauses, a visible slowdown
export MLC_SALESFORCE_BULK_THRESHOLD=0 MLC_SALESFORCE_PAUSE_S=2 MLC_SALESFORCE_SLOWDOWN_PCT=50 \
    MLC_SALESFORCE_SLOWDOWN_MS=100 MLC_SALESFORCE_PAUSE_PCT=95
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
mlc_start loader "$BIN/mlc-loader" --config "$CFG"
LOADER=$MLC_LAST_PID

feed () { # FIRST LAST
    jq -nc --arg t $T --argjson a "$1" --argjson b "$2" '
        range($a; $b + 1) | "\($t):vendor:V\(.)" as $k |
        {tenant: $t, entity: "vendor", key: "V\(.)", sobject: "Account",
         extf: "CloudSuite_Key__c", extid: $k, payload: {CloudSuite_Key__c: $k, Name: "Vendor \(.)"}}' |
        "$BIN/mlc-ldfeed" "ipc://$MLC_TMP/load.sock" --bind 2>>"$MLC_TMP/feed.log"
}
accounts () { mlc_sf_stats "$SF" '.records.Account // 0'; }
logged () { grep -q "$1" "$MLC_TMP/loader.log"; }

check "$N records fed while the org allows $LIMIT calls a day" feed 1 $N
check "the loader slows down past 50% of the allowance (LDR_ORG_SLOWDOWN)" \
    mlc_wait_for 30 logged 'LDR_ORG_SLOWDOWN'
check "the loader pauses the org at 95% of the allowance (LDR_ORG_PAUSED reason=usage)" \
    mlc_wait_for 30 logged 'LDR_ORG_PAUSED.*reason=usage'
check "then Salesforce refuses a call with TotalRequests and the org pauses again" \
    mlc_wait_for 30 logged 'LDR_ORG_PAUSED.*reason=TotalRequests'
landed=$(accounts)
check "part of the records landed ($landed), the rest wait" test "$landed" -lt $N -a "$landed" -gt 0
sleep 4
check "nothing spins while paused: at most a probe per pause (refused: $(mlc_sf_stats "$SF" .refused.limit))" \
    test "$(mlc_sf_stats "$SF" .refused.limit)" -le 6
check "no record was dead-lettered while paused" \
    test "$("$BIN/mlc-replayer" --config "$CFG" list --json 2>/dev/null | jq length)" -eq 0

curl -fsS -X POST "http://127.0.0.1:$SF/__sim/reset-limits" -d '{"daily_limit": 100000}' >/dev/null
all_landed () { [ "$(accounts)" -eq $N ]; }
mlc_wait_for 60 all_landed
check "after the reset the rest lands: $N Accounts (got $(accounts))" all_landed
rstats () { "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null | jq -r "$1"; }
every_event () { [ "$(rstats .loaded)" -eq $N ]; }
mlc_wait_for 20 every_event
check "every record has its loaded event and none failed" test "$(rstats '"\(.loaded) \(.failed)"')" = "$N 0"

# Stopped while paused: what the loader holds becomes retryable dead letters, not lost
used=$(mlc_sf_stats "$SF" .api_usage)
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/faults" -d "{\"daily_limit\": $used}" >/dev/null
check "300 more records fed with the allowance spent" feed $((N + 1)) $((N + 300))
paused_twice () { [ "$(grep -c 'LDR_ORG_PAUSED.*reason=TotalRequests' "$MLC_TMP/loader.log")" -ge 2 ]; }
check "the loader pauses the org again" mlc_wait_for 30 paused_twice
kill -TERM "$LOADER"
stopped () { ! kill -0 "$LOADER" 2>/dev/null; }
check "the loader stops promptly while paused" mlc_wait_for 30 stopped
held_dead () {
    [ "$("$BIN/mlc-replayer" --config "$CFG" list --json --code LDR_ORG_PAUSED 2>/dev/null |
        jq '[.[] | select(.error_class == "retryable")] | length')" -eq 300 ]
}
check "the 300 held records are dead letters: retryable, code LDR_ORG_PAUSED" mlc_wait_for 20 held_dead
check "Salesforce holds exactly $N Accounts" test "$(accounts)" -eq $N

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
