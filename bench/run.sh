#!/usr/bin/env bash
# bench/run.sh: the end-to-end benchmark of ml-connector (`make bench`, issue 8).
#
# For each configuration (loaders x Salesforce latency) it starts fresh simulators seeded with
# a distributor's data set (three regional tenants), one extractor per tenant, one
# transformer, one replayer and N loaders, and measures three phases:
#   backfill     every record of the four entities reaches Salesforce;
#   incremental  1% of the records change in CloudSuite, one poll carries them over;
#   unchanged    a poll with nothing changed (must cost zero Salesforce calls).
# It prints a table and writes JSON to bench/results/<timestamp>.json and latest.json.
# docs/benchmarks.md says what every number means.
#
# Environment:
#   BIN=build/bin          binaries
#   BENCH_QUICK=1          small data set, one configuration (development)
#   BENCH_CONFIGS="L:MS ." loaders:latency pairs (default 1:0 2:0 4:0 1:100 2:100 4:100)
#   BENCH_SCALE=N          per-tenant data set divided by N (default 1; quick mode 10)
#   BENCH_TIMEOUT=S        bound on each phase's wait (default 600)
#   BENCH_PERF=1           perf record -g every pipeline process during the first backfill;
#                          reports in bench/results/perf-<timestamp>/
#   BENCH_PERF_ARGS="..."  perf record's call-graph option (default -g; the binaries have
#                          no frame pointers, so "--call-graph dwarf" gives exact callers)
#   BENCH_RESULTS=DIR      where results go (default bench/results)
#   KEEP=1                 keep each configuration's work directory (logs, state)
#   BENCH_STRICT=1         also fail when a target of issue 8 is missed
#   BENCH_STAGES=1         afterwards run bench/extractor.sh, transformer.sh, loader.sh when
#                          present (per-stage numbers; output in bench/results/<ts>-<stage>.txt)
# Exit status: 0 when every phase completed, no process crashed or logged a sanitizer report
# and the unchanged poll cost zero Salesforce calls (with BENCH_STRICT=1: and every target
# was met); 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 1
: "${BIN:=build/bin}"
. scripts/lib.sh

QUICK=${BENCH_QUICK:-0}
TIMEOUT=${BENCH_TIMEOUT:-600}
RESULTS=${BENCH_RESULTS:-bench/results}
TENANTS=(DIST_NA DIST_EU DIST_AP)
if [ "$QUICK" = 1 ]; then
    SCALE=${BENCH_SCALE:-10}
    CONFIGS=${BENCH_CONFIGS:-2:0}
else
    SCALE=${BENCH_SCALE:-1}
    CONFIGS=${BENCH_CONFIGS:-1:0 2:0 4:0 1:100 2:100 4:100}
fi
# Per tenant; three tenants hold at least 5,000 suppliers, 20,000 customers (bill-to; the
# simulator adds ship-to rows), 100,000 invoices and 30,000 purchase orders.
SUP=$(( (1667 + SCALE - 1) / SCALE ))
CUS=$(( (6667 + SCALE - 1) / SCALE ))
INV=$(( (33334 + SCALE - 1) / SCALE ))
POS=$(( (10000 + SCALE - 1) / SCALE ))
BATCH=200               # records per sObject Collections call
CLK_TCK=$(getconf CLK_TCK)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
OUT_JSON="$RESULTS/$STAMP.json"
PERF_DIR=""
[ "${BENCH_PERF:-0}" = 1 ] && PERF_DIR="$RESULTS/perf-$STAMP" && mkdir -p "$PERF_DIR"
export MLC_SALESFORCE_CLIENT_SECRET="bench-secret-$RANDOM$RANDOM"
BENCH_FAILED=0
# Our own directory (per-configuration JSON pieces, and each configuration's work directory
# inside it): nothing outside this run has a reason to touch it.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-e2e.XXXXXX")
export TMPDIR=$WORK
PERF_PIDS=()
cleanup_all () {
    local p
    for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    mlc_cleanup
    rm -rf "$WORK"
}
trap cleanup_all EXIT
trap 'exit 130' INT TERM

for b in cloudsuite-sim salesforce-sim mlc-extractor mlc-transformer mlc-loader mlc-replayer; do
    [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b is missing; run make first" >&2; exit 1; }
done

log () { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now_ms () { date +%s%3N; }

# ---- process measurements ------------------------------------------------------------------
# proc_sample PID: prints {"rss_kib":VmHWM,"cpu_s":utime+stime} (null values if gone).
proc_sample () {
    local pid=$1 hwm ticks
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}')
    printf '{"rss_kib":%s,"cpu_s":%s}' "${hwm:-null}" \
        "$( [ -n "$ticks" ] && awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}' || echo null)"
}

# Long-lived processes of a configuration: NAME -> PID.
declare -A LONG_PIDS
# sample_long: a JSON object {name: sample} of every long-lived process.
sample_long () {
    local name first=1
    printf '{'
    for name in "${!LONG_PIDS[@]}"; do
        [ $first = 1 ] || printf ','
        first=0
        printf '"%s":%s' "$name" "$(proc_sample "${LONG_PIDS[$name]}")"
    done
    printf '}'
}

# perf_attach NAME PID: with BENCH_PERF, records the process until perf_stop.
perf_attach () {
    [ -n "$PERF_DIR" ] && [ "$PERF_ON" = 1 ] || return 0
    # shellcheck disable=SC2086
    perf record -F 499 ${BENCH_PERF_ARGS:--g} -p "$2" -o "$PERF_DIR/$1.data" \
        >"$PERF_DIR/$1.perf.log" 2>&1 &
    PERF_PIDS+=($!)
}
perf_stop () {
    local p
    for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PERF_PIDS=()
}

# ---- simulator helpers ---------------------------------------------------------------------
sf_stats () { curl -fsS "http://127.0.0.1:$SF/__sim/stats"; }
cs_stats () { curl -fsS "http://127.0.0.1:$CS/__sim/stats"; }

# cs_token TENANT: an access token of the tenant (password grant with its .ionapi).
cs_token () {
    local f="$MLC_TMP/ionapi/$1.ionapi"
    curl -fsS -X POST "$(jq -r '.pu + .ot' "$f")" \
        --data-urlencode grant_type=password \
        --data-urlencode "username=$(jq -r .saak "$f")" \
        --data-urlencode "password=$(jq -r .sask "$f")" \
        --data-urlencode "client_id=$(jq -r .ci "$f")" \
        --data-urlencode "client_secret=$(jq -r .cs "$f")" | jq -r .access_token
}

# cs_items TOKEN TENANT IDO PROPERTIES FILTER: every matching row as a JSON array.
cs_items () {
    curl -fsS -G "http://127.0.0.1:$CS/$2/CSI/IDORequestService/ido/load/$3" \
        -H "Authorization: Bearer $1" -H "X-Infor-MongooseConfig: CSI_DEMO" \
        --data-urlencode "properties=$4" --data-urlencode "filter=$5" \
        --data-urlencode recordcap=0 --data-urlencode readonly=true | jq -c '.Items'
}

# replayer_counts: the replayer's counters (JSON object of outcomes and store counters).
replayer_counts () {
    local out
    out=$("$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null)
    [ -n "$out" ] || out='{}'
    echo "$out"
}
# accounted: loaded + failed + rejected records so far, exact: from the replayer's store
# (no jq: jq costs 60 ms of CPU a call on this machine).
accounted () {
    "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null |
        tr -d ' \t\n' | grep -o '"\(loaded\|failed\|rejected\)":[0-9]*' |
        awk -F: '{n += $2} END {print n + 0}'
}
# accounted_now: the same from the replayer's /metrics (refreshed every second), for the
# polling loops. `mlc-replayer stats` opens the store and replays its log, 40-60 ms of CPU
# a call: polled every second, that took 3-4 % of the CPU from the pipeline it measures.
accounted_now () {
    curl -fsS "http://127.0.0.1:$RP_METRICS/metrics" 2>/dev/null |
        awk '/^mlc_events_total\{.*outcome="(loaded|failed|rejected)"/ {n += $NF} END {print n + 0}'
}
# sf_in_flight: API requests the Salesforce simulator is serving.
sf_in_flight () { sf_stats | grep -o '"in_flight":[0-9]*' | cut -d: -f2; }
# sf_end_ms STATS: when the last record was written (Collections, single or Bulk).
sf_end_ms () {
    jq '[.last_upsert_ms, (.bulk_by_object // {} | .[].last_write_ms)] | map(. // 0) | max' <<<"$1"
}

# ---- the pipeline --------------------------------------------------------------------------
write_config () {
    mlc_write_config "$CFG.base" "$CS" "$SF" "${TENANTS[0]}"
    jq '.log.level = "info"
        | .cloudsuite.poll_interval_s = 86400
        | .cloudsuite.vendor.enabled = true
        | .cloudsuite.customer.enabled = true
        | .cloudsuite.invoice.enabled = true
        | .cloudsuite.po.enabled = true
        | .salesforce.flush_ms = 200' "$CFG.base" >"$CFG"
}

# start_extractors PHASE: one extractor per tenant (the design: a process per connection),
# each polling every entity once (--once) and exiting when what it read has left its
# sockets. /usr/bin/time records each one's peak RSS and CPU time at its exit.
declare -A EXT_PIDS
start_extractors () {
    local t
    for t in "${TENANTS[@]}"; do
        MLC_CLOUDSUITE_IONAPI_FILE="$MLC_TMP/ionapi/$t.ionapi" \
            mlc_start "extractor-$t-$1" /usr/bin/time -o "$MLC_TMP/extractor-$t-$1.time" \
            -f '%M %U %S %x' "$BIN/mlc-extractor" --config "$CFG" --once
        EXT_PIDS[$t]=$MLC_LAST_PID
    done
    if [ -n "$PERF_DIR" ] && [ "$PERF_ON" = 1 ]; then
        local child
        for t in "${TENANTS[@]}"; do
            for _ in $(seq 50); do
                child=$(pgrep -P "${EXT_PIDS[$t]}" -n mlc-extractor) && break
                sleep 0.01
            done
            [ -n "$child" ] && perf_attach "extractor-$t" "$child"
        done
    fi
}

# extractors_done PHASE: every extractor has exited.
extractors_done () {
    local t
    for t in "${TENANTS[@]}"; do
        kill -0 "${EXT_PIDS[$t]}" 2>/dev/null && return 1
    done
    return 0
}

# stop_extractors PHASE: stops any extractor still running (after a timeout) and prints a
# JSON object {"extractor-T": {"rss_kib", "cpu_s", "exit"}} from their exit records.
stop_extractors () {
    local t first=1
    for t in "${TENANTS[@]}"; do kill -TERM "${EXT_PIDS[$t]}" 2>/dev/null; done
    for t in "${TENANTS[@]}"; do
        for _ in $(seq 100); do kill -0 "${EXT_PIDS[$t]}" 2>/dev/null || break; sleep 0.1; done
    done
    printf '{'
    for t in "${TENANTS[@]}"; do
        [ $first = 1 ] || printf ','
        first=0
        local rec
        rec=$(tail -1 "$MLC_TMP/extractor-$t-$1.time" 2>/dev/null)
        printf '"extractor-%s":%s' "$t" "$(awk -v r="$rec" 'BEGIN {
            n = split(r, f, " ")
            if (n == 4 && f[1] ~ /^[0-9]+$/) printf "{\"rss_kib\":%d,\"cpu_s\":%.2f,\"exit\":%d}", f[1], f[2] + f[3], f[4]
            else printf "{\"rss_kib\":null,\"cpu_s\":null,\"exit\":null}" }')"
        if [ "$(awk '{print $4}' <<<"$rec")" != 0 ] ||
            grep -q 'EXT_FATAL\|level=error' "$MLC_TMP/extractor-$t-$1.log"; then
            log "extractor $t ($1) failed or reported errors:"
            grep 'EXT_FATAL\|level=error' "$MLC_TMP/extractor-$t-$1.log" | head -5 >&2
            tail -2 "$MLC_TMP/extractor-$t-$1.time" >&2 2>/dev/null
        fi
    done
    printf '}'
}

# wait_accounted TARGET: waits (bounded) until the replayer accounts for TARGET records
# (loaded + failed + rejected). 0 when reached, 1 on timeout or when extractors failed.
wait_accounted () {
    local target=$1 phase=$2 end=$(( $(date +%s) + TIMEOUT )) n=0
    # The wall time comes from the simulator's clock (last write), so this loop may poll
    # slowly: every second, to leave the CPU to the pipeline.
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$(accounted_now)
        [ "${n:-0}" -ge "$target" ] && return 0
        if extractors_done "$phase" && [ "$(sf_in_flight)" = 0 ]; then
            # the extractors are done; give the rest of the pipeline its time, but stop
            # waiting early when nothing moves for a long while
            local before=$n
            sleep 1
            n=$(accounted_now)
            if [ "$n" = "$before" ]; then
                STALL=$(( ${STALL:-0} + 1 ))
                [ "$STALL" -ge 60 ] && break
            else
                STALL=0
            fi
            continue
        fi
        sleep 1
    done
    STALL=0
    log "phase $phase: timed out with $n of $target records accounted for"
    return 1
}

# phase_json NAME RECORDS T0 T1 SF0 SF1 CS0 CS1 RP0 RP1 PROCS0 PROCS1 EXTRACTORS [EXTRA]
# One phase's numbers: deltas of the simulator counters and of the process CPU times.
phase_json () {
    local extra=${14:-}
    [ -n "$extra" ] || extra='{}'
    jq -n --arg name "$1" --argjson records "$2" --argjson t0 "$3" --argjson t1 "$4" \
        --argjson sf0 "$5" --argjson sf1 "$6" --argjson cs0 "$7" --argjson cs1 "$8" \
        --argjson rp0 "$9" --argjson rp1 "${10}" --argjson p0 "${11}" --argjson p1 "${12}" \
        --argjson ext "${13}" --argjson extra "$extra" --argjson batch $BATCH --argjson cpus "$(nproc)" '
    def d(a; b): (b // 0) - (a // 0);
    def ceildiv(x; y): ((x + y - 1) / y | floor);
    ($sf1.upserts_by_object // {}) as $o1 | ($sf0.upserts_by_object // {}) as $o0
    | ($sf1.bulk_by_object // {}) as $b1 | ($sf0.bulk_by_object // {}) as $b0
    | [($o1 | keys[]), ($b1 | keys[])] | unique
    | [.[] | {key: ., value: {
          calls: (d($o0[.].calls; $o1[.].calls) + d($b0[.].calls; $b1[.].calls)),
          records: (d($o0[.].records; $o1[.].records) + d($b0[.].records; $b1[.].records)),
          written: (d($o0[.].written; $o1[.].written) + d($b0[.].written; $b1[.].written)),
          bulk_jobs: d($b0[.].jobs; $b1[.].jobs)}}
       | select(.value.calls > 0)
       | .value.min_calls = ceildiv(.value.written; $batch)] | from_entries
    | . as $objs
    | ([$objs[].min_calls] | add // 0) as $min
    | d($sf0.api_calls; $sf1.api_calls) as $calls
    | (($t1 - $t0) / 1000) as $wall
    | {
        phase: $name,
        records: $records,
        wall_s: $wall,
        records_per_s: (if $wall > 0 and $records > 0 then ($records / $wall | floor) else 0 end),
        replayer: ($rp1 | with_entries(.value = d($rp0[.key]; .value))),
        salesforce: {
          api_calls: $calls,
          min_calls: $min,
          over_min_pct: (if $min > 0 then ((($calls - $min) * 10000 / $min | round) / 100) else null end),
          calls_per_record: (if $records > 0 then (($calls / $records * 100000 | round) / 100000) else null end),
          token_requests: d($sf0.token_requests; $sf1.token_requests),
          refused: ($sf1.refused | with_entries(.value = d($sf0.refused[.key]; .value))),
          calls_by_endpoint: ($sf1.calls_by_endpoint | with_entries(.value = d($sf0.calls_by_endpoint[.key]; .value)) | with_entries(select(.value != 0))),
          records_in_org: ($sf1.records // {} | with_entries(select(.value != 0))),
          by_object: $objs
        },
        cloudsuite: {
          data_requests: ([$cs1.tenants | keys[] as $t | d($cs0.tenants[$t].data_requests; $cs1.tenants[$t].data_requests)] | add),
          token_requests: ([$cs1.tenants | keys[] as $t | d($cs0.tenants[$t].token_requests; $cs1.tenants[$t].token_requests)] | add),
          throttled: ([$cs1.tenants | keys[] as $t | d($cs0.tenants[$t].throttled; $cs1.tenants[$t].throttled)] | add),
          by_tenant: ($cs1.tenants | with_entries(.key as $t | .value = {
              data_requests: d($cs0.tenants[$t].data_requests; .value.data_requests),
              token_requests: d($cs0.tenants[$t].token_requests; .value.token_requests)}))
        },
        processes: (($p1 | with_entries(.key as $k | .value = {
              rss_kib: .value.rss_kib,
              cpu_s: (if .value.cpu_s != null and $p0[$k].cpu_s != null
                      then ((.value.cpu_s - $p0[$k].cpu_s) * 100 | round) / 100 else null end)}))
            + $ext)
      }
    | ([.processes | to_entries[] | select(.key | test("sim$") | not) | .value.cpu_s // 0] | add // 0) as $pipe
    | ([.processes | to_entries[] | select(.key | test("sim$")) | .value.cpu_s // 0] | add // 0) as $sims
    | .cpu = {
        pipeline_s: (($pipe * 100 | round) / 100),
        simulators_s: (($sims * 100 | round) / 100),
        pipeline_us_per_record: (if $records > 0 then ($pipe * 1e6 / $records | round) else null end),
        all_us_per_record: (if $records > 0 then (($pipe + $sims) * 1e6 / $records | round) else null end),
        cpu_bound_records_per_s: (if $records > 0 and ($pipe + $sims) > 0
            then ($cpus * $records / ($pipe + $sims) | floor) else null end)
      }
    | . + $extra'
}

# ---- the 1% changes ------------------------------------------------------------------------
# changes_json TENANT IDO: the changed rows for one tenant and IDO: every 100th record,
# with a value that no seeded record holds (so every change is a real change).
changes_json () {
    case $2 in
    SLVendors)
        jq -nc --argjson n "$SUP" '[range(50; $n + 1; 100) as $k
            | {VendNum: ("V" + ("000000" + ($k | tostring))[-6:]),
               Phone: ("+1 800 555 " + ("0000" + ($k | tostring))[-4:])}]' ;;
    SLCustomers)
        jq -nc --argjson n "$CUS" '[range(3; $n + 1; 100) as $k
            | {CustNum: ("C" + ("000000" + ($k | tostring))[-6:]), CustSeq: "0",
               Phone: ("+1 800 556 " + ("0000" + ($k | tostring))[-4:])}]' ;;
    SLArinvs)
        jq -nc --argjson n "$INV" '[range(1; $n + 1; 100) as $k
            | {InvNum: (1000000 + $k | tostring), InvSeq: "0",
               Amount: ((60000 + $k | tostring) + ".25")}]' ;;
    SLPos)
        jq -nc --argjson n "$POS" '[range(1; $n + 1; 100) as $k
            | {PoNum: ("PO" + ("00000000" + ($k | tostring))[-8:]), Whse: "BENCH"}]' ;;
    esac
}

# prepare_changes: writes the change files $MLC_TMP/chg-TENANT-IDO.json; prints their total.
prepare_changes () {
    local t ido total=0
    for t in "${TENANTS[@]}"; do
        for ido in SLVendors SLCustomers SLArinvs SLPos; do
            changes_json "$t" "$ido" >"$MLC_TMP/chg-$t-$ido.json"
            total=$(( total + $(jq length "$MLC_TMP/chg-$t-$ido.json") ))
        done
    done
    echo "$total"
}

# post_changes: one request per tenant and IDO, nothing else (the clock of the
# change-to-arrival time runs from here). Answers go to $MLC_TMP/chg-*.answer. Sets
# CHANGES_SINCE to a time just before the first change.
post_changes () {
    local t ido
    CHANGES_SINCE=$(date -u +'%Y-%m-%d %H:%M:%S.%3N')
    sleep 0.002
    for t in "${TENANTS[@]}"; do
        for ido in SLVendors SLCustomers SLArinvs SLPos; do
            curl -sS -X POST "http://127.0.0.1:$CS/__sim/$t/records/$ido" \
                -H 'Content-Type: application/json' --data-binary "@$MLC_TMP/chg-$t-$ido.json" \
                >"$MLC_TMP/chg-$t-$ido.answer" 2>&1
        done
    done
}

# check_changes: every change was an update; then reads back each changed row's RecordDate
# (the simulator sets it at the change) and writes $MLC_TMP/changes.json:
# [{ext: Salesforce external ID, obj, rd, at_ms}]. 1 when a change was refused.
check_changes () {
    local t ido rc=0
    for t in "${TENANTS[@]}"; do
        for ido in SLVendors SLCustomers SLArinvs SLPos; do
            if ! jq -e --argjson n "$(jq length "$MLC_TMP/chg-$t-$ido.json")" \
                    '.updated == $n and .inserted == 0' "$MLC_TMP/chg-$t-$ido.answer" >/dev/null 2>&1; then
                log "changes to $t $ido were not all updates: $(head -c 300 "$MLC_TMP/chg-$t-$ido.answer")"
                rc=1
            fi
        done
    done
    local filter="RecordDate > '$CHANGES_SINCE'"
    for t in "${TENANTS[@]}"; do
        local tok
        tok=$(cs_token "$t")
        cs_items "$tok" "$t" SLVendors VendNum,RecordDate "$filter" |
            jq -c --arg t "$t" '.[] | {ext: "\($t):vendor:\(.VendNum)", obj: "Account", rd: .RecordDate}'
        cs_items "$tok" "$t" SLCustomers CustNum,CustSeq,CustType,RecordDate "$filter" |
            jq -c --arg t "$t" '.[] | {ext: "\($t):customer:\(.CustNum)",
                obj: (if .CustType == "IND" then "Contact" else "Account" end), rd: .RecordDate}'
        cs_items "$tok" "$t" SLArinvs InvNum,InvSeq,RecordDate "$filter" |
            jq -c --arg t "$t" '.[] | {ext: "\($t):invoice:\(.InvNum)/\(.InvSeq)", obj: "CloudSuite_Invoice__c", rd: .RecordDate}'
        cs_items "$tok" "$t" SLPos PoNum,RecordDate "$filter" |
            jq -c --arg t "$t" '.[] | {ext: "\($t):po:\(.PoNum)", obj: "CloudSuite_Purchase_Order__c", rd: .RecordDate}'
    done >"$MLC_TMP/changes.jsonl"
    jq -s 'map(.at_ms = ((.rd | split(".")[0] | strptime("%Y-%m-%d %H:%M:%S") | mktime) * 1000
                         + (.rd | split(".")[1] // "0" | .[0:3] | tonumber)))' \
        "$MLC_TMP/changes.jsonl" >"$MLC_TMP/changes.json"
    return $rc
}

# change_latency: change-to-arrival of the changed records: Salesforce LastModifiedDate minus
# CloudSuite RecordDate, in ms. Prints {"n","missing","median_ms","p99_ms","min_ms","max_ms"}
# ("missing": changed records not in Salesforce, e.g. rejected by the mapping).
change_latency () {
    local o
    jq -c 'map({key: (.ext | ascii_downcase), value: .at_ms}) | from_entries' \
        "$MLC_TMP/changes.json" >"$MLC_TMP/changes-map.json"
    for o in Account Contact CloudSuite_Invoice__c CloudSuite_Purchase_Order__c; do
        curl -fsS "http://127.0.0.1:$SF/__sim/records/$o" |
            jq -c --slurpfile m "$MLC_TMP/changes-map.json" '
                def ms: (split(".")[0] | strptime("%Y-%m-%dT%H:%M:%S") | mktime) * 1000
                        + (split(".")[1][0:3] | tonumber);
                .[] | select(.CloudSuite_Key__c != null)
                | $m[0][.CloudSuite_Key__c | ascii_downcase] as $at
                | select($at != null) | (.LastModifiedDate | ms) - $at'
    done >"$MLC_TMP/latencies.txt"
    jq -s --argjson total "$(jq length "$MLC_TMP/changes.json")" '
        sort as $v | ($v | length) as $n
        | {n: $n, missing: ($total - $n),
           median_ms: (if $n > 0 then (if $n % 2 == 1 then $v[($n - 1) / 2] else (($v[$n / 2 - 1] + $v[$n / 2]) / 2) end) else null end),
           p99_ms: (if $n > 0 then $v[([(($n * 0.99) | ceil) - 1, 0] | max)] else null end),
           min_ms: (if $n > 0 then $v[0] else null end),
           max_ms: (if $n > 0 then $v[-1] else null end)}' "$MLC_TMP/latencies.txt"
}

# calib_ms: milliseconds this machine takes for a fixed piece of single-core work (SHA-256 of
# 128 MiB). Shared and virtual machines change speed from minute to minute without showing it
# as steal time; the same code here has measured 97 and 164 us of CPU per record. Each
# configuration records the figure before and after it, so the report can say how fast the
# machine was while it ran.
calib_ms () {
    local s
    s=$(date +%s%N)
    head -c 128M /dev/zero | sha256sum >/dev/null
    echo $(( ($(date +%s%N) - s) / 1000000 ))
}

# ---- one configuration -----------------------------------------------------------------------
run_config () {
    local loaders=$1 latency=$2 i
    PERF_ON=0
    [ -n "$PERF_DIR" ] && [ "$CONFIG_INDEX" = 0 ] && PERF_ON=1
    local load0 calib0
    load0=$(cut -d' ' -f1 /proc/loadavg)
    calib0=$(calib_ms)
    log "configuration: $loaders loader(s), Salesforce latency $latency ms (load average $load0, reference work $calib0 ms)"
    mlc_tmpdir
    CFG=$MLC_TMP/config.json
    LONG_PIDS=()
    local targs=() t
    for t in "${TENANTS[@]}"; do targs+=(--tenant "$t"); done
    mlc_start_sim cloudsuite-sim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 "${targs[@]}" \
        --ionapi-dir "$MLC_TMP/ionapi" --seed 42 --seed-suppliers "$SUP" \
        --seed-customers "$CUS" --seed-invoices "$INV" --seed-pos "$POS" || return 1
    CS=$MLC_LAST_PORT
    LONG_PIDS[cloudsuite-sim]=$MLC_LAST_PID
    mlc_start_sim salesforce-sim "$BIN/salesforce-sim" --listen 127.0.0.1:0 \
        --client-id demo-client --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" \
        --latency-ms "$latency" || return 1
    SF=$MLC_LAST_PORT
    LONG_PIDS[salesforce-sim]=$MLC_LAST_PID
    write_config
    MLC_METRICS_LISTEN=127.0.0.1:0 mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
    LONG_PIDS[replayer]=$MLC_LAST_PID
    RP_METRICS=""
    for _ in $(seq 200); do
        RP_METRICS=$(grep -m1 -o 'event=MLC_METRICS listen=[0-9.]*:[0-9]*' "$MLC_TMP/replayer.log" 2>/dev/null)
        [ -n "$RP_METRICS" ] && break
        sleep 0.1
    done
    RP_METRICS=${RP_METRICS##*:}
    [ -n "$RP_METRICS" ] || { log "the replayer did not serve its metrics"; return 1; }
    mlc_start transformer "$BIN/mlc-transformer" --config "$CFG"
    LONG_PIDS[transformer]=$MLC_LAST_PID
    for i in $(seq "$loaders"); do
        mlc_start "loader$i" "$BIN/mlc-loader" --config "$CFG"
        LONG_PIDS[loader$i]=$MLC_LAST_PID
    done
    mlc_wait_for 20 test -S "$MLC_TMP/events.sock" -a -S "$MLC_TMP/extract.sock" -a -S "$MLC_TMP/load.sock" ||
        { log "the pipeline did not bind its sockets"; return 1; }
    sleep 0.5
    for i in "${!LONG_PIDS[@]}"; do perf_attach "$i" "${LONG_PIDS[$i]}"; done

    # What the backfill must deliver: every row, less the ship-to rows the mapping skips.
    local cs0 rows shiptos=0 tok
    cs0=$(cs_stats)
    rows=$(jq '[.tenants[].records[]] | add' <<<"$cs0")
    for t in "${TENANTS[@]}"; do
        tok=$(cs_token "$t")
        shiptos=$(( shiptos + $(cs_items "$tok" "$t" SLCustomers CustNum "CustSeq > 0" | jq length) ))
    done
    local expect=$(( rows - shiptos ))
    log "data set: $rows rows in 3 tenants ($(jq -c '[.tenants[].records] | reduce .[] as $r ({}; . as $a | $r | with_entries(.value += ($a[.key] // 0)))' <<<"$cs0")), $shiptos ship-to rows skipped by the mapping, $expect records to deliver"

    # -- backfill
    local sf0 sf1 cs1 rp0 rp1 p0 p1 t0 t1 ext ok phases=()
    sf0=$(sf_stats); cs0=$(cs_stats); rp0=$(replayer_counts); p0=$(sample_long)
    t0=$(now_ms)
    start_extractors backfill
    ok=true
    wait_accounted "$expect" backfill || { ok=false; BENCH_FAILED=1; }
    sf1=$(sf_stats)
    t1=$(sf_end_ms "$sf1")
    [ "$t1" -gt "$t0" ] 2>/dev/null || t1=$(now_ms)
    mlc_wait_for 30 extractors_done backfill
    perf_stop
    PERF_ON=0
    ext=$(stop_extractors backfill)
    jq -e '[.[].exit] | all(. == 0)' <<<"$ext" >/dev/null || { ok=false; BENCH_FAILED=1; }
    cs1=$(cs_stats); rp1=$(replayer_counts); p1=$(sample_long)
    local got
    got=$(jq '.loaded + .failed + .rejected' <<<"$rp1")
    phases+=("$(phase_json backfill "$got" "$t0" "$t1" "$sf0" "$sf1" "$cs0" "$cs1" "$rp0" "$rp1" "$p0" "$p1" "$ext" \
        "{\"complete\":$ok,\"expected\":$expect,\"rows\":$rows,\"skipped_ship_tos\":$shiptos}")")
    log "backfill: $(jq -c '{records, wall_s, records_per_s, api_calls: .salesforce.api_calls, min_calls: .salesforce.min_calls, failed: .replayer.failed, rejected: .replayer.rejected}' <<<"${phases[-1]}")"

    # -- incremental: 1% of the records change, and a poll starts right away
    local changed base
    changed=$(prepare_changes)
    base=$(accounted)
    sf0=$(sf_stats); cs0=$(cs_stats); rp0=$(replayer_counts); p0=$(sample_long)
    post_changes
    t0=$(now_ms)
    start_extractors incremental
    ok=true
    wait_accounted $(( base + changed )) incremental || { ok=false; BENCH_FAILED=1; }
    sf1=$(sf_stats)
    t1=$(sf_end_ms "$sf1")
    [ "$t1" -gt "$t0" ] 2>/dev/null || t1=$(now_ms)
    mlc_wait_for 30 extractors_done incremental
    ext=$(stop_extractors incremental)
    jq -e '[.[].exit] | all(. == 0)' <<<"$ext" >/dev/null || { ok=false; BENCH_FAILED=1; }
    cs1=$(cs_stats); rp1=$(replayer_counts); p1=$(sample_long)
    got=$(( $(jq '.loaded + .failed + .rejected' <<<"$rp1") - base ))
    check_changes || { ok=false; BENCH_FAILED=1; }
    local lat
    lat=$(change_latency)
    phases+=("$(phase_json incremental "$got" "$t0" "$t1" "$sf0" "$sf1" "$cs0" "$cs1" "$rp0" "$rp1" "$p0" "$p1" "$ext" \
        "{\"complete\":$ok,\"expected\":$changed,\"change_to_arrival\":$lat}")")
    log "incremental: $(jq -c '{records, wall_s, api_calls: .salesforce.api_calls, min_calls: .salesforce.min_calls, change_to_arrival}' <<<"${phases[-1]}")"

    # -- unchanged: a poll with nothing changed
    sf0=$(sf_stats); cs0=$(cs_stats); rp0=$(replayer_counts); p0=$(sample_long)
    t0=$(now_ms)
    start_extractors unchanged
    ok=true
    mlc_wait_for "$TIMEOUT" extractors_done unchanged || { ok=false; BENCH_FAILED=1; }
    t1=$(now_ms)
    sleep 1   # anything sent would reach Salesforce within the loaders' flush time
    sf1=$(sf_stats)
    ext=$(stop_extractors unchanged)
    jq -e '[.[].exit] | all(. == 0)' <<<"$ext" >/dev/null || { ok=false; BENCH_FAILED=1; }
    cs1=$(cs_stats); rp1=$(replayer_counts); p1=$(sample_long)
    phases+=("$(phase_json unchanged 0 "$t0" "$t1" "$sf0" "$sf1" "$cs0" "$cs1" "$rp0" "$rp1" "$p0" "$p1" "$ext" \
        "{\"complete\":$ok}")")
    log "unchanged: $(jq -c '{wall_s, api_calls: .salesforce.api_calls, cs_calls: .cloudsuite.data_requests, extracted: .replayer.extracted}' <<<"${phases[-1]}")"

    # Peak RSS and CPU of the long-lived processes, sampled just before they stop.
    local final
    final=$(sample_long)
    local keep=${KEEP:-0}
    KEEP=1 mlc_cleanup
    if ! mlc_check_logs; then BENCH_FAILED=1; fi
    local crashed
    crashed=$(grep -l 'level=fatal\|Segmentation\|Aborted' "$MLC_TMP"/*.log 2>/dev/null)
    [ -n "$crashed" ] && { log "fatal messages in: $crashed"; BENCH_FAILED=1; }
    printf '%s\n' "${phases[@]}" | jq -s --argjson loaders "$loaders" --argjson latency "$latency" \
        --argjson final "$final" \
        --argjson load0 "$load0" --argjson load1 "$(cut -d' ' -f1 /proc/loadavg)" \
        --argjson calib0 "$calib0" --argjson calib1 "$(calib_ms)" \
        '{loaders: $loaders, sf_latency_ms: $latency, load_average: {start: $load0, end: $load1},
          reference_work_ms: {start: $calib0, end: $calib1},
          phases: ., final_processes: $final}' \
        >"$WORK/config-$CONFIG_INDEX.json"
    if [ "$keep" = 1 ]; then
        mv "$MLC_TMP" "$KEEP_DIR/config-$CONFIG_INDEX" && log "kept $KEEP_DIR/config-$CONFIG_INDEX"
    else
        rm -rf "$MLC_TMP"
    fi
    MLC_TMP=""
}

# ---- main ------------------------------------------------------------------------------------
KEEP_DIR=""
if [ "${KEEP:-0}" = 1 ]; then KEEP_DIR=$(mktemp -d "$(dirname "$WORK")/bench-kept.XXXXXX"); fi
log "ml-connector benchmark: mode $([ "$QUICK" = 1 ] && echo quick || echo full), per tenant $SUP suppliers, $CUS customers, $INV invoices, $POS purchase orders; configurations: $CONFIGS"
CONFIG_INDEX=0
T_START=$(date +%s)
for c in $CONFIGS; do
    run_config "${c%%:*}" "${c##*:}" || { log "configuration $c failed to start"; BENCH_FAILED=1; mlc_cleanup; }
    CONFIG_INDEX=$(( CONFIG_INDEX + 1 ))
done
T_END=$(date +%s)

# ---- results ---------------------------------------------------------------------------------
PIPELINE_RE='^(extractor|transformer|loader|replayer)'
jq -s --arg stamp "$STAMP" --arg mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" \
    --argjson per_tenant "{\"suppliers\":$SUP,\"customers\":$CUS,\"invoices\":$INV,\"pos\":$POS}" \
    --argjson seconds $(( T_END - T_START )) --arg host "$(uname -n)" --argjson cpus "$(nproc)" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$( [ -n "$(git status --porcelain -- . ':!bench/results' 2>/dev/null | head -1)" ] && echo +dirty)" \
    --arg re "$PIPELINE_RE" '
    def phase($c; $p): $c.phases[] | select(.phase == $p);
    . as $configs
    | [$configs[] | (.final_processes | to_entries[]), (.phases[].processes | to_entries[])
       | select(.key | test($re))] as $procs
    | ([$procs[].value.rss_kib // 0] | max) as $peak
    | [$configs[] | select(.sf_latency_ms == 100) | {l: .loaders, r: phase(.; "backfill").records_per_s,
        cpu: phase(.; "backfill").cpu.cpu_bound_records_per_s}] | sort_by(.l) as $lat100
    | {
        timestamp: $stamp, mode: $mode, commit: $commit, host: $host, cpus: $cpus,
        bench_seconds: $seconds,
        data_set: {tenants: ["DIST_NA", "DIST_EU", "DIST_AP"], per_tenant: $per_tenant},
        configs: $configs,
        targets: {
          backfill_records_per_s_at_0ms: {target: 20000,
              value: ([$configs[] | select(.sf_latency_ms == 0) | phase(.; "backfill").records_per_s] | max)},
          backfill_calls_over_min_pct: {target: 2,
              value: ([$configs[] | phase(.; "backfill").salesforce.over_min_pct] | max)},
          unchanged_poll_sf_calls: {target: 0,
              value: ([$configs[] | phase(.; "unchanged").salesforce.api_calls] | max)},
          peak_rss_mib_per_process: {target: 64, peak_kib: $peak,
              value: (($peak / 1024 * 100 | floor) / 100),
              process: ([$procs[] | select(.value.rss_kib == $peak) | .key][0])},
          throughput_grows_with_loaders_at_100ms: {
              value: (if ($lat100 | length) < 2 then null
                      else ([range(1; $lat100 | length) as $i | $lat100[$i].r > $lat100[$i - 1].r
                             or ($lat100[$i - 1].cpu != null
                                 and $lat100[$i - 1].r >= 0.9 * $lat100[$i - 1].cpu)] | all) end),
              records_per_s: $lat100,
              rule: "each added loader raises records/s, unless the run before was already at the CPU ceiling of the machine (records/s >= 90 % of its CPU-bound records/s): then no loader can add any"}
        }
      }
    | .targets |= with_entries(.value.met = (
          if .key == "throughput_grows_with_loaders_at_100ms" then .value.value
          elif .value.value == null then null
          elif .key == "backfill_records_per_s_at_0ms" then .value.value >= .value.target
          elif .key == "unchanged_poll_sf_calls" then .value.value == .value.target
          elif .key == "peak_rss_mib_per_process" then .value.peak_kib < .value.target * 1024
          else .value.value <= .value.target end))' \
    "$WORK"/config-*.json >"$OUT_JSON" || { echo "bench: cannot write $OUT_JSON" >&2; exit 1; }
cp "$OUT_JSON" "$RESULTS/latest.json"

bench/report.sh "$OUT_JSON"
if [ -n "$PERF_DIR" ]; then
    for f in "$PERF_DIR"/*.data; do
        [ -s "$f" ] || continue
        {
            echo "# self time by library and function"
            perf report -i "$f" --stdio --no-children --sort dso,symbol -g none --percent-limit 1 \
                2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
            echo "# time including callees (the callers to look at)"
            perf report -i "$f" --stdio --children --sort symbol -g none --percent-limit 3 \
                2>/dev/null | grep -v '^#' | grep -v '^$' | grep -v 'rocksdb::\|0x0000' | head -60
        } | sed 's/ *$//' | cut -c1-160 >"${f%.data}.txt"
    done
    echo "perf profiles: $PERF_DIR/*.txt (perf report -i $PERF_DIR/NAME.data for more)"
fi
echo "results: $OUT_JSON"

# Per-stage benchmarks of the colleagues' scripts, when asked for and present.
if [ "${BENCH_STAGES:-0}" = 1 ]; then
    for stage in extractor transformer loader; do
        [ -x "bench/$stage.sh" ] || continue
        echo "== bench/$stage.sh"
        BIN=$BIN "bench/$stage.sh" >"$RESULTS/$STAMP-$stage.txt" 2>&1 || BENCH_FAILED=1
        cat "$RESULTS/$STAMP-$stage.txt"
    done
fi
# Correctness fails the run; the performance targets fail it only with BENCH_STRICT=1.
jq -e '.targets.unchanged_poll_sf_calls.met and ([.configs[].phases[].complete] | all)' \
    "$OUT_JSON" >/dev/null || BENCH_FAILED=1
if [ "${BENCH_STRICT:-0}" = 1 ]; then
    jq -e '[.targets[].met | select(. != null)] | all' "$OUT_JSON" >/dev/null || BENCH_FAILED=1
fi
exit $BENCH_FAILED
