#!/usr/bin/env bash
# Automatic redrive when a replay is lost (docs/delivery.md): salesforce-sim refuses every
# record with UNABLE_TO_LOCK_ROW, so the loader dead-letters the suppliers as retryable.
# The loader is killed; a stand-in (mlc-ztool sink --connect) takes the redriven replays
# from the replayer and exits with them, as a loader SIGKILLed after it took them would.
# Those replays get no outcome, ever. The replayer must redrive them again after the
# backoff (RPL_REDRIVE ... reason="no outcome for the last replay"), and once the org
# accepts records again every supplier lands and every dead letter is resolved.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=12
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"
export MLC_REPLAYER_REDRIVE_BASE_S=1 MLC_REPLAYER_REDRIVE_MAX_S=2 \
    MLC_REPLAYER_REDRIVE_MAX_ATTEMPTS=20 MLC_SALESFORCE_MAX_ATTEMPTS=2

mlc_start_sims $TENANT --seed-suppliers $N --seed 7 || exit 1
faults () { curl -fsS -X POST "http://127.0.0.1:$SF/__sim/faults" -d "$1" >/dev/null; }
rp () { "$BIN/mlc-replayer" --config "$CFG" "$@"; }
open_dead () { rp list --json 2>/dev/null | jq 'length'; }
dead_is () { test "$(open_dead)" = "$1"; }
accounts_are () { test "$(mlc_sf_stats "$SF" '.records.Account // 0')" = "$1"; }

faults '{"fault_lock":1}'
mlc_start_pipeline "$CFG"
LOADER=$MLC_LAST_PID
check "extractor --once succeeds" \
    bash -c "'$BIN/mlc-extractor' --config '$CFG' --once >>'$MLC_TMP/extractor.log' 2>&1"
check "every supplier is a retryable dead letter ($N), no Account" mlc_wait_for 60 dead_is $N
check "the dead letters say UNABLE_TO_LOCK_ROW, class retryable" \
    test "$(rp list --json | jq '[.[] | select(.code == "UNABLE_TO_LOCK_ROW" and .error_class == "retryable")] | length')" = $N

# the loader dies; the stand-in takes the redriven replays and dies with them
kill -KILL "$LOADER"
wait "$LOADER" 2>/dev/null
REPLAY=$(jq -r .zmq.replay_endpoint "$CFG")
check "the stand-in loader takes the $N redriven replays and exits with them" \
    bash -c "'$BIN/mlc-ztool' sink '$REPLAY' --connect --count $N --timeout 30 >'$MLC_TMP/lost.jsonl'"
check "they are the suppliers' envelopes" \
    test "$(jq -s '[.[] | select(.entity == "vendor")] | length' "$MLC_TMP/lost.jsonl")" = $N
replayed () { test "$(rp list --json | jq '[.[] | select(.replays >= 1)] | length')" = $N; }
check "every dead letter notes its replay" mlc_wait_for 10 replayed

# the org accepts records again and a loader comes back
faults '{"fault_lock":0}'
mlc_start loader2 "$BIN/mlc-loader" --config "$CFG"
check "every supplier lands as an Account (the lost replays were redriven)" \
    mlc_wait_for 60 accounts_are $N
check "no dead letter is left open" mlc_wait_for 30 dead_is 0
check "the replayer logged the redrive of a replay with no outcome" \
    grep -q 'event=RPL_REDRIVE .*reason="no outcome for the last replay"' "$MLC_TMP/replayer.log"
KEY=$(jq -r 'select(.entity == "vendor") | "\(.tenant):vendor:\(.key)"' "$MLC_TMP/lost.jsonl" | head -1)
history_ok () {
    rp history "$KEY" --json >"$MLC_TMP/history.json" || return 1
    jq -e '[.[] | .out // .outcome] as $o
           | ($o | map(select(. == "replayed")) | length) >= 2 and $o[-1] == "loaded"' \
        "$MLC_TMP/history.json" >/dev/null
}
check "history of $KEY: two replays at least (the lost one, then its redrive), loaded last" history_ok
check "every process exited cleanly with no sanitizer report" mlc_check_logs
exit $TAP_FAILED
