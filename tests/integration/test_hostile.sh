#!/usr/bin/env bash
# run.sh: sanitizer build only (tests/run.sh runs this script once, on the ASan/UBSan build)
# Hostile HTTP answers on every endpoint the connector calls (tools/mlc-badhttp): the
# CloudSuite token and IDO endpoints (the extractor, through a .ionapi file whose pu and iu
# point at the hostile server) and the Salesforce token, sObject Collections and Bulk
# endpoints (the loader, salesforce.url at the hostile server). For every kind of garbage:
# no process crashes (no signal, no sanitizer report), each exits or keeps running as
# designed, logs a specific reason, and nothing is lost: the extractor's watermark and
# record state do not move (a later poll of the real cloudsuite-sim emits every record),
# and every record a loader could not deliver is a dead letter in the replayer. Also
# garbage on the replay socket, the one ZeroMQ input test_sync.sh does not cover.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=5
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT

# Few attempts keep each hostile exchange short; the timeout is short only against the
# slow mode (timeout_for), so a loaded machine does not turn other modes into timeouts.
export MLC_HTTP_TIMEOUT_MS=8000 MLC_HTTP_MAX_ATTEMPTS=2 MLC_HTTP_BACKOFF_BASE_MS=50 \
    MLC_HTTP_BACKOFF_MAX_MS=200 MLC_HTTP_MAX_BODY_BYTES=1048576 \
    MLC_SALESFORCE_MAX_ATTEMPTS=2 MLC_SALESFORCE_DRAIN_MS=4000 MLC_SALESFORCE_FLUSH_MS=50 \
    MLC_REPLAYER_REDRIVE_BASE_S=0 MLC_CLOUDSUITE_CUSTOMER_ENABLED=false \
    MLC_CLOUDSUITE_INVOICE_ENABLED=false MLC_CLOUDSUITE_PO_ENABLED=false
# The extractors feed sinks and hostile loaders: a --once run does not stay for
# confirmations (with lease_quiet_s 0 it leaves at once, the replayer connected or not).
export MLC_CLOUDSUITE_LEASE_QUIET_S=0
export MLC_SALESFORCE_CLIENT_SECRET="hostile-secret-$RANDOM$RANDOM"

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers $N --seed 11 || exit 1
CS=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" "$CS" 1 $TENANT
REAL_IONAPI=$MLC_TMP/ionapi/$TENANT.ionapi

# start_bad MODE WHERE [ARGS...]: a hostile server; sets BAD_PORT.
start_bad () {
    local mode=$1 where=$2; shift 2
    mlc_start_sim "bad-$mode-$where" "$BIN/mlc-badhttp" --listen 127.0.0.1:0 --mode "$mode" \
        --where "$where" --slow-ms 2000 --huge-bytes 4194304 "$@" || return 1
    BAD_PORT=$MLC_LAST_PORT
    BAD_PID=$MLC_LAST_PID
}
stop_pid () { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
timeout_for () { if [ "$1" = slow ]; then echo 1000; else echo 8000; fi; }

# A log line with event EVENT whose text matches REGEX (extended, case-insensitive).
logged () { grep -aE "event=$2( |$)" "$1" | grep -aqiE "$3"; }
clean_log () { ! grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"; }

# ---- the extractor ---------------------------------------------------------------------
# Token garbage (where=all) and IDO garbage behind a valid token (where=api). --once must
# exit 1 (the poll failed), not crash, and say why in EXT_POLL_FAILED.
declare -A EXT_TOKEN_WHY=(
    [html]='not a JSON object'
    [truncated-json]='not a JSON object'
    [not-json]='not a JSON object'
    [wrong-types]='no access_token'
    [empty]='not a JSON object'
    [random]='token'
    [huge]='token request.*(large|big|exceed|maximum)'
    [slow]='token request.*(time|timed out)'
    [success-false]='no access_token'
    [bad-token-json]='no access_token'
)
declare -A EXT_IDO_WHY=(
    [html]='is HTML, not JSON'
    [truncated-json]='not valid JSON \(truncated'
    [not-json]='not valid JSON'
    [wrong-types]='Items is not an array'
    [huge]='(large|big|exceed|maximum)'
    [empty]='IDO response is empty'
    [random]='(JSON|empty|HTML)'
    [slow]='(time|timed out)'
    [v1-shape]='v1 MGRESTService shape'
    [success-false]='Success=false.*not valid for IDO'
    [csv-garbage]='not valid JSON'
)
# Nothing is delivered while the server is hostile: the extractor sends to a sink that
# is only read by the real poll at the end.
SINK=ipc://$MLC_TMP/ext-sink.sock
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
extract_bad () {
    local mode=$1 where=$2 why=$3
    start_bad "$mode" "$where" || { echo "not ok - mlc-badhttp $mode starts"; TAP_FAILED=1; return; }
    jq --arg u "http://127.0.0.1:$BAD_PORT" '.iu = $u | .pu = ($u + "/'$TENANT'/as/")' \
        "$REAL_IONAPI" >"$MLC_TMP/bad.ionapi"
    local log=$MLC_TMP/ext-$mode-$where.log rc
    MLC_HTTP_TIMEOUT_MS=$(timeout_for "$mode") MLC_CLOUDSUITE_IONAPI_FILE=$MLC_TMP/bad.ionapi \
        MLC_ZMQ_EXTRACT_ENDPOINT=$SINK timeout 60 "$BIN/mlc-extractor" --config "$CFG" --once >"$log" 2>&1
    rc=$?
    check "extractor vs $where garbage '$mode': exits 1 (poll failed), no crash" \
        bash -c "[ $rc -eq 1 ] && grep -q EXT_POLL_FAILED '$log'"
    check "extractor vs $where garbage '$mode': logs the reason" logged "$log" EXT_POLL_FAILED "$why"
    check "extractor vs $where garbage '$mode': no sanitizer report" clean_log "$log"
    stop_pid "$BAD_PID"
}
for mode in html truncated-json not-json wrong-types empty random huge slow success-false \
    bad-token-json; do
    extract_bad "$mode" all "${EXT_TOKEN_WHY[$mode]}"
done
for mode in html truncated-json not-json wrong-types huge empty random slow v1-shape \
    success-false csv-garbage; do
    extract_bad "$mode" api "${EXT_IDO_WHY[$mode]}"
done

# Nothing moved: the real CloudSuite, polled with the same state, still yields every record.
"$BIN/mlc-ztool" sink "$SINK" --count $N --timeout 20 >"$MLC_TMP/sink.jsonl" 2>"$MLC_TMP/sink.log" &
SINK_PID=$!
sleep 0.3
MLC_ZMQ_EXTRACT_ENDPOINT=$SINK timeout 60 "$BIN/mlc-extractor" --config "$CFG" --once \
    >"$MLC_TMP/ext-real.log" 2>&1
check "after the hostile runs, a poll of the real cloudsuite-sim succeeds" \
    grep -q "EXT_POLL_DONE.*changed=$N" "$MLC_TMP/ext-real.log"
wait $SINK_PID
check "... and emits every record (watermark and record state did not move)" \
    test "$(jq -r 'select(.key and .error == null) | .key' "$MLC_TMP/sink.jsonl" | sort -u | wc -l)" -eq $N

# A well-formed page whose item repeats a property name and has an empty one (JSON allows
# both). With properties "*" the extractor keeps the first value of a name, so the
# envelope it emits decodes downstream instead of being refused (and the record lost).
start_bad duplicate-keys api
jq --arg u "http://127.0.0.1:$BAD_PORT" '.iu = $u | .pu = ($u + "/'$TENANT'/as/")' \
    "$REAL_IONAPI" >"$MLC_TMP/dup.ionapi"
"$BIN/mlc-ztool" sink "ipc://$MLC_TMP/dup-sink.sock" --count 1 --timeout 20 \
    >"$MLC_TMP/dup.jsonl" 2>"$MLC_TMP/dup-sink.log" &
SINK_PID=$!
sleep 0.3
MLC_DATA_DIR=$MLC_TMP/ext-dup MLC_CLOUDSUITE_VENDOR_PROPERTIES='*' \
    MLC_CLOUDSUITE_IONAPI_FILE=$MLC_TMP/dup.ionapi MLC_ZMQ_EXTRACT_ENDPOINT=ipc://$MLC_TMP/dup-sink.sock \
    timeout 60 "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/ext-dup.log" 2>&1
wait $SINK_PID
dup_decodes () {
    jq -se 'map(select(.key)) | length == 1 and .[0].key == "V000001" and .[0].error == null
            and .[0].src.Name == "Keystone Filtration" and (.[0].src | has("") | not)' \
        "$MLC_TMP/dup.jsonl" >/dev/null
}
check "an item with a repeated and an empty property name gives an envelope that decodes" \
    dup_decodes
stop_pid "$BAD_PID"

# ---- the loader ------------------------------------------------------------------------
# Real records (extractor -> transformer) reach a loader whose Salesforce is hostile.
# Data garbage (where=api) fails each call; the records are retried, then dead-lettered.
# Token garbage (where=all) stops the org; the records wait without spending attempts and
# are dead-lettered (retryable) when the loader stops. Either way the loader keeps running
# until told to stop, exits 0, and every record is a dead letter in the replayer.
mlc_start transformer "$BIN/mlc-transformer" --config "$CFG"
dead_letters_are () {
    test "$("$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null | jq -r '.dl_open')" = "$1"
}
declare -A LDR_WHY=(
    [api:html]='LDR_BATCH_FAILED.*MALFORMED_RESPONSE'
    [api:truncated-json]='LDR_BATCH_FAILED.*MALFORMED_RESPONSE'
    [api:not-json]='LDR_BATCH_FAILED.*MALFORMED_RESPONSE'
    [api:wrong-types]='LDR_BATCH_FAILED.*boolean success'
    [api:huge]='LDR_BATCH_FAILED.*(large|big|exceed|maximum)'
    [api:empty]='LDR_BATCH_FAILED.*MALFORMED_RESPONSE'
    [api:random]='LDR_BATCH_FAILED.*result=retry'
    [api:slow]='LDR_BATCH_FAILED.*(time|timed out)'
    [api:success-false]='LDR_DEAD_LETTER.*class=permanent code=UNKNOWN_ERROR'
    [api:csv-garbage]='LDR_BULK_(BAD_RESULTS|JOB_FAILED)|LDR_BATCH_FAILED'
    [all:html]='LDR_AUTH_UNAVAILABLE.*not a JSON object'
    [all:truncated-json]='LDR_AUTH_UNAVAILABLE.*not a JSON object'
    [all:wrong-types]='LDR_AUTH_UNAVAILABLE.*access_token'
    [all:bad-token-json]='LDR_AUTH_UNAVAILABLE.*access_token'
    [all:success-false]='LDR_AUTH_UNAVAILABLE.*access_token'
    [all:long-instance-url]='LDR_AUTH_UNAVAILABLE.*instance_url longer'
)
expected=0
load_bad () {
    local mode=$1 where=$2 why=$3
    start_bad "$mode" "$where" || { echo "not ok - mlc-badhttp $mode starts"; TAP_FAILED=1; return; }
    local name=ldr-$mode-$where log rc
    log=$MLC_TMP/$name.log
    local bulk=1000000
    [ "$mode" = csv-garbage ] && bulk=2
    MLC_HTTP_TIMEOUT_MS=$(timeout_for "$mode") MLC_SALESFORCE_URL=http://127.0.0.1:$BAD_PORT \
        MLC_SALESFORCE_BULK_THRESHOLD=$bulk mlc_start "$name" "$BIN/mlc-loader" --config "$CFG"
    local pid=$MLC_LAST_PID
    # A fresh extractor state: the same N suppliers are new again.
    MLC_DATA_DIR=$MLC_TMP/ext-$name timeout 60 "$BIN/mlc-extractor" --config "$CFG" --once \
        >"$MLC_TMP/feed-$name.log" 2>&1
    check "loader vs $where garbage '$mode': the $N records are fed" \
        grep -q "EXT_POLL_DONE.*changed=$N" "$MLC_TMP/feed-$name.log"
    expected=$((expected + N))
    check "loader vs $where garbage '$mode': logs the reason" \
        mlc_wait_for 30 grep -aqiE "$why" "$log"
    check "loader vs $where garbage '$mode': still running" kill -0 "$pid"
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    check "loader vs $where garbage '$mode': stops cleanly (exit 0, drained)" \
        bash -c "[ $rc -eq 0 ] && grep -q LDR_DRAINED '$log'"
    check "loader vs $where garbage '$mode': no sanitizer report" clean_log "$log"
    check "loader vs $where garbage '$mode': every record is a dead letter ($expected)" \
        mlc_wait_for 20 dead_letters_are $expected
    stop_pid "$BAD_PID"
}
for mode in html truncated-json not-json wrong-types huge empty random slow success-false \
    csv-garbage; do
    load_bad "$mode" api "${LDR_WHY[api:$mode]}"
done
for mode in html truncated-json wrong-types bad-token-json success-false long-instance-url; do
    load_bad "$mode" all "${LDR_WHY[all:$mode]}"
done

# ---- garbage on the replay socket (the loader's second input) ---------------------------
"$BIN/mlc-ztool" push "ipc://$MLC_TMP/bad-replay.sock" --bind --garbage 50 &
GPID=$!
MLC_ZMQ_REPLAY_ENDPOINT=ipc://$MLC_TMP/bad-replay.sock MLC_SALESFORCE_URL=http://127.0.0.1:1 \
    mlc_start loader-replay "$BIN/mlc-loader" --config "$CFG"
wait $GPID
check "loader survives garbage on its replay socket and logs it" \
    mlc_wait_for 10 bash -c "grep -q LDR_BAD_ENVELOPE '$MLC_TMP/loader-replay.log' && kill -0 $MLC_LAST_PID"

check "the Salesforce client secret appears in no log" \
    bash -c "! grep -rqF '$MLC_SALESFORCE_CLIENT_SECRET' '$MLC_TMP'/*.log"
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
