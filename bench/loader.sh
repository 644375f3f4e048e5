#!/usr/bin/env bash
# bench/loader.sh: the loader alone against salesforce-sim: records/s and API calls per
# record, for 1 and 4 loaders at 0 and 100 ms Salesforce latency, with the default settings
# (Bulk API 2.0 for backlogs of salesforce.bulk_threshold records) and with Collections only.
#
# Envelopes are fed straight to the loaders (tools/mlc-ldfeed, as the transformer would send
# them): half Accounts, then half invoices (CloudSuite_Invoice__c, each naming its Account
# by external ID). The clock runs from the first envelope sent to the last record in the
# simulator; the replayer records every event, as in production.
#
# Environment:
#   BIN=build/bin           binaries
#   BENCH_N=20000           records per run
#   BENCH_CONFIGS="L:MS ."  loaders:latency pairs (default "1:0 4:0 1:100 4:100")
#   BENCH_MODES="bulk collections"
#   BENCH_TIMEOUT=300       bound on each run's wait, seconds
#   KEEP=1                  keep each run's work directory
# Exit status: 0 when every run landed every record exactly once; 1 otherwise.
set -u
cd "$(dirname "$0")/.."
: "${BIN:=build/bin}"
. scripts/lib.sh
N=${BENCH_N:-20000}
CONFIGS=${BENCH_CONFIGS:-1:0 4:0 1:100 4:100}
MODES=${BENCH_MODES:-bulk collections}
TIMEOUT=${BENCH_TIMEOUT:-300}
T=BENCH
NA=$((N / 2))
NI=$((N - NA))
export MLC_SALESFORCE_CLIENT_SECRET="bench-secret-$RANDOM$RANDOM"
for b in salesforce-sim mlc-loader mlc-replayer mlc-ldfeed; do
    [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b is missing; run make first" >&2; exit 1; }
done
now_ms () { date +%s%3N; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-loader.XXXXXX")
trap 'mlc_cleanup; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
jq -nc --arg t $T --argjson n $NA '
    range(1; $n + 1) | "\($t):customer:C\(.)" as $k |
    {tenant: $t, entity: "customer", key: "C\(.)", sobject: "Account", extf: "CloudSuite_Key__c",
     extid: $k, payload: {CloudSuite_Key__c: $k, Name: "Customer \(.)", Phone: "+1 555 \(1000 + .)",
                          BillingStreet: "\(.) Main St\nSuite 4", BillingCity: "Springfield",
                          CloudSuite_Tenant__c: $t}}' >"$WORK/feed.jsonl"
jq -nc --arg t $T --argjson n $NI --argjson na $NA '
    range(1; $n + 1) | "\($t):invoice:\(.)/0" as $k |
    {tenant: $t, entity: "invoice", key: "\(.)/0", sobject: "CloudSuite_Invoice__c",
     extf: "CloudSuite_Key__c", extid: $k,
     payload: {CloudSuite_Key__c: $k, Name: "\(1000000 + .)", Amount__c: (. * 3 + 0.5),
               Account__r: {CloudSuite_Key__c: "\($t):customer:C\(. % $na + 1)"},
               Invoice_Date__c: "2026-01-15", Status__c: "Open", CloudSuite_Tenant__c: $t}}' \
    >>"$WORK/feed.jsonl"

echo "== loader throughput: $N records ($NA Accounts, then $NI invoices under them) into" \
     "salesforce-sim; $(nproc) cores ($(uname -m))"
rows=()
failed=0
run () { # LOADERS LATENCY MODE
    local loaders=$1 latency=$2 mode=$3
    export TMPDIR=$WORK
    mlc_tmpdir
    mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id bench-client \
        --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" --latency-ms "$latency" || return 1
    local sf=$MLC_LAST_PORT cfg=$MLC_TMP/config.json
    MLC_SF_CLIENT_ID=bench-client MLC_LOG_LEVEL=warn mlc_write_config "$cfg" 1 "$sf" $T
    local bulk=2000
    [ "$mode" = collections ] && bulk=0
    mlc_start replayer "$BIN/mlc-replayer" --config "$cfg" run
    local lpids=()
    for i in $(seq "$loaders"); do
        MLC_LOG_LEVEL=${BENCH_LOADER_LOG:-info} MLC_SALESFORCE_BULK_THRESHOLD=$bulk mlc_start "loader$i" "$BIN/mlc-loader" --config "$cfg"
        lpids+=("$MLC_LAST_PID")
    done
    sleep 0.5 # every loader connected before the first envelope
    local start end
    start=$(now_ms)
    "$BIN/mlc-ldfeed" "ipc://$MLC_TMP/load.sock" --bind <"$WORK/feed.jsonl" 2>>"$MLC_TMP/feed.log" &
    local feeder=$!
    local deadline=$(( $(date +%s) + TIMEOUT )) got=0
    while [ "$(date +%s)" -lt "$deadline" ]; do
        got=$(mlc_sf_stats "$sf" '(.records.Account // 0) + (.records.CloudSuite_Invoice__c // 0)')
        [ "$got" -ge "$N" ] && break
        sleep 0.05
    done
    end=$(now_ms)
    wait "$feeder"
    local stats ms calls bulk_calls coll_calls tokens
    stats=$(curl -fsS "http://127.0.0.1:$sf/__sim/stats")
    ms=$((end - start))
    calls=$(jq .api_calls <<<"$stats")
    bulk_calls=$(jq .calls_by_endpoint.bulk <<<"$stats")
    coll_calls=$(jq .calls_by_endpoint.composite_upsert <<<"$stats")
    tokens=$(jq .token_requests <<<"$stats")
    # Loader CPU (user + system, every loader) per record, in microseconds
    local ticks=0 hz p t
    hz=$(getconf CLK_TCK)
    for p in "${lpids[@]}"; do
        t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        ticks=$((ticks + t))
    done
    local cpu_us
    cpu_us=$(awk -v t="$ticks" -v hz="$hz" -v n="$N" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    local jobs
    jobs=$(cat "$MLC_TMP"/loader*.log | grep -c 'LDR_BULK_JOB' || true)
    local ok=yes
    [ "$got" -eq "$N" ] || { ok=NO; failed=1; }
    rows+=("$(printf '%7s %10s %-12s %9s %10s %9s %11s %10s %7s %6s %5s %8s' "$loaders" "$latency" \
        "$mode" "$(awk -v n="$N" -v ms="$ms" 'BEGIN { printf "%.2f", ms / 1000 }')" \
        "$(awk -v n="$N" -v ms="$ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')" "$calls" \
        "$(awk -v n="$N" -v c="$calls" 'BEGIN { printf "%.4f", c / n }')" "$coll_calls" \
        "$bulk_calls/$jobs" "$tokens" "$ok" "$cpu_us")")
    echo "${rows[-1]}"
    [ "${KEEP:-0}" = 1 ] && echo "   logs: $MLC_TMP"
    KEEP=${KEEP:-0} mlc_cleanup
}
header=$(printf '%7s %10s %-12s %9s %10s %9s %11s %10s %7s %6s %5s %8s' loaders latency_ms mode \
    seconds records/s api_calls calls/record collection bulk/jobs tokens all cpu_us/rec)
echo "$header"
for mode in $MODES; do
    for c in $CONFIGS; do
        run "${c%%:*}" "${c##*:}" "$mode" || failed=1
    done
done
echo
echo "== summary (the minimum by Collections is $(((NA + 199) / 200 + (NI + 199) / 200)) calls: ceil(N/200) per object)"
echo "$header"
printf '%s\n' "${rows[@]}"
exit $failed
