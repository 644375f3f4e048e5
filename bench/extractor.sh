#!/usr/bin/env bash
# bench/extractor.sh: the extractor's own numbers (issue 3), apart from the pipeline
# benchmark (bench/run.sh).
#
#   1. extraction records/s at zero latency: cloudsuite-sim with 100,000 vendors, one
#      extractor --once, a counting sink (mlc-ztool) instead of the transformer; once with the
#      default page size (200) and once with 1,000; then all four entities (about 100,000 rows
#      in total) at the default page size;
#   2. token requests per hour: an extractor polling every second for BENCH_TOKEN_S seconds
#      (default 150) with --token-ttl 60, and the same with the default TTL (7200 s); the
#      simulator counts every request to the token endpoint.
# Prints a table and one JSON line ("extractor_bench": {...}) at the end.
#
# Environment: BIN=build/bin, BENCH_VENDORS=100000, BENCH_TOKEN_S=150, KEEP=1.
# Exit status 0 when every run delivered every record; 1 otherwise.
set -u
cd "$(dirname "$0")/.."
: "${BIN:=build/bin}"
. scripts/lib.sh
VENDORS=${BENCH_VENDORS:-100000}
TOKEN_S=${BENCH_TOKEN_S:-150}
TENANT=BENCH_PRD
FAILED=0
mlc_tmpdir
trap 'mlc_cleanup' EXIT

now_ms () { date +%s%3N; }

# start_sim NAME ARGS...: a simulator for TENANT; sets CS.
start_sim () {
    local name=$1
    shift
    mlc_start_sim "$name" "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
        --ionapi-dir "$MLC_TMP/ionapi-$name" --seed 9 "$@" || exit 1
    CS=$MLC_LAST_PORT
}

# config NAME JQ: a config for the current simulator with its own data dir, filtered by JQ.
config () {
    mlc_write_config "$MLC_TMP/$1.base" "$CS" 1 $TENANT
    jq --arg d "$MLC_TMP/data-$1" --arg i "$MLC_TMP/ionapi-$2/$TENANT.ionapi" \
        ".data_dir = \$d | .cloudsuite.ionapi_file = \$i | .log.level = \"warn\" | $3" \
        "$MLC_TMP/$1.base" >"$MLC_TMP/$1.json"
}

# extract NAME EXPECTED: extractor --once into a counting sink; prints records/s.
extract () {
    local name=$1 want=$2 start end rc src
    # the sink exits 0 only when exactly `want` envelopes arrived (it prints them: /dev/null)
    "$BIN/mlc-ztool" sink "ipc://$MLC_TMP/extract.sock" --count "$want" --timeout 30 \
        >/dev/null 2>&1 &
    local sink=$!
    sleep 0.3
    start=$(now_ms)
    "$BIN/mlc-extractor" --config "$MLC_TMP/$name.json" --once 2>"$MLC_TMP/ext-$name.log"
    rc=$?
    wait $sink
    src=$?
    end=$(now_ms)
    if [ $rc -ne 0 ] || [ $src -ne 0 ]; then
        echo "  $name: FAILED (extractor exit $rc, sink exit $src: not $want records)" >&2
        FAILED=1
        echo 0
        return
    fi
    echo $(( want * 1000 / (end - start) ))
}

echo "== extraction at zero latency ($VENDORS vendors; sink counting) =="
start_sim tput --seed-suppliers "$VENDORS"
config p200 tput '.cloudsuite.customer.enabled = false | .cloudsuite.invoice.enabled = false | .cloudsuite.po.enabled = false'
config p1000 tput '.cloudsuite.customer.enabled = false | .cloudsuite.invoice.enabled = false | .cloudsuite.po.enabled = false | .cloudsuite.page_size = 1000'
r200=$(extract p200 "$VENDORS")
echo "  page size 200:  $r200 records/s"
r1000=$(extract p1000 "$VENDORS")
echo "  page size 1000: $r1000 records/s"
kill -TERM "$MLC_LAST_PID"

n=$(( VENDORS / 4 ))
start_sim mixed --seed-suppliers $n --seed-customers $(( n * 7 / 10 )) --seed-invoices $n \
    --seed-pos $(( n * 3 / 4 ))
mixed=$(mlc_cs_stats "$CS" "[.tenants.$TENANT.records[]] | add")
config all mixed '.cloudsuite.customer.enabled = true | .cloudsuite.invoice.enabled = true | .cloudsuite.po.enabled = true'
rall=$(extract all "$mixed")
echo "  four entities ($mixed rows), page size 200: $rall records/s"
kill -TERM "$MLC_LAST_PID"

echo "== token requests per hour (extractor polling every second for ${TOKEN_S}s) =="
tokens () {
    local name=$1 ttl=$2 pid before after
    start_sim "tok$name" --seed-suppliers 50 --token-ttl "$ttl"
    config "tok$name" "tok$name" '.cloudsuite.poll_interval_s = 1'
    "$BIN/mlc-ztool" sink "ipc://$MLC_TMP/extract.sock" --count 100000000 --timeout $(( TOKEN_S + 30 )) \
        >/dev/null 2>&1 &
    local sink=$!
    "$BIN/mlc-extractor" --config "$MLC_TMP/tok$name.json" 2>"$MLC_TMP/ext-tok$name.log" &
    pid=$!
    sleep "$TOKEN_S"
    kill -TERM $pid $sink
    wait $pid $sink 2>/dev/null
    local st
    st=$(mlc_cs_stats "$CS" ".tenants.$TENANT")
    kill -TERM "$MLC_LAST_PID"
    local req polls
    req=$(jq .token_requests <<<"$st")
    polls=$(jq .data_requests <<<"$st")
    echo "$req $polls"
}
read -r t60 d60 <<<"$(tokens 60 60)"
per_hour_60=$(( t60 * 3600 / TOKEN_S ))
echo "  --token-ttl 60:   $t60 token requests in ${TOKEN_S}s ($d60 IDO requests) = $per_hour_60 per hour"
read -r tdef ddef <<<"$(tokens def 7200)"
echo "  default TTL 7200: $tdef token request(s) in ${TOKEN_S}s ($ddef IDO requests): the first"
echo "                    grant, then one refresh every 7200 - 60 s = 0.5 per hour"

printf '{"extractor_bench": {"vendors": %d, "records_per_s_page200": %d, "records_per_s_page1000": %d, "four_entities_rows": %d, "records_per_s_four_entities": %d, "token_window_s": %d, "token_requests_ttl60": %d, "token_requests_per_hour_ttl60": %d, "token_requests_ttl7200": %d}}\n' \
    "$VENDORS" "$r200" "$r1000" "$mixed" "$rall" "$TOKEN_S" "$t60" "$per_hour_60" "$tdef"
exit $FAILED
