#!/usr/bin/env bash
# Two tenants at once, one extractor process per tenant (the design): two cloudsuite-sims
# (so two base URLs and two token endpoints), two extractors side by side with one data_dir
# (state in data_dir/extractor/<tenant>), one sink. Each tenant's records arrive with its
# own tenant id and nothing of the other; each sim sees only its own tenant's token; a third
# extractor for a tenant already served is refused; one tenant's outage does not stop the
# other.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
A=ACME_PRD
B=GLOBEX_TST
mlc_tmpdir
trap 'mlc_cleanup' EXIT

# Different sizes, so a key of B that showed up as A would be noticed (V000301.. exist in B only).
mlc_start_sim csA "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $A \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 300 --seed-customers 100 --seed-invoices 100 \
    --seed-pos 50 --seed 1 --token-ttl 4 || exit 1
PA=$MLC_LAST_PORT
mlc_start_sim csB "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $B \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 500 --seed-customers 150 --seed-invoices 120 \
    --seed-pos 60 --seed 2 --mongoose-config GLOBEX_CFG || exit 1
PB=$MLC_LAST_PORT
CSB=$MLC_LAST_PID
# One shared config file (as compose would mount); per tenant only the environment differs.
mlc_write_config "$MLC_TMP/config.json.base" "$PA" 1 $A
jq '.cloudsuite.customer.enabled = true | .cloudsuite.invoice.enabled = true | .cloudsuite.po.enabled = true
    | .cloudsuite.poll_interval_s = 1 | .http.max_attempts = 3 | .http.backoff_max_ms = 1000 | del(.cloudsuite.ionapi_file) | del(.cloudsuite.mongoose_config)' \
    "$MLC_TMP/config.json.base" >"$MLC_TMP/config.json"
CFG=$MLC_TMP/config.json
totalA=$(mlc_cs_stats "$PA" "[.tenants.$A.records[]] | add")
totalB=$(mlc_cs_stats "$PB" "[.tenants.$B.records[]] | add")

stdbuf -oL "$BIN/mlc-ztool" sink "ipc://$MLC_TMP/extract.sock" --count 1000000 --timeout 300 \
    >"$MLC_TMP/sink.out" 2>"$MLC_TMP/sink.log" &
MLC_PIDS+=("$!")
mlc_wait_for 10 grep -q ready "$MLC_TMP/sink.out"
count () { jq -r --arg t "$1" 'select(.tenant == $t) | .key' "$MLC_TMP/sink.out" | wc -l; }
count_is () { test "$(count "$1")" -eq "$2"; }
jqt () { jq "$@" >/dev/null; }
grants () { grep -c 'event=EXT_TOKEN ' "$MLC_TMP/$1.log"; }
grants_at_least () { test "$(grants "$1")" -ge "$2"; }

MLC_CLOUDSUITE_IONAPI_FILE=$MLC_TMP/ionapi/$A.ionapi MLC_CLOUDSUITE_MONGOOSE_CONFIG=CSI_DEMO \
    mlc_start extA "$BIN/mlc-extractor" --config "$CFG"
EXTA=$MLC_LAST_PID
MLC_CLOUDSUITE_IONAPI_FILE=$MLC_TMP/ionapi/$B.ionapi MLC_CLOUDSUITE_MONGOOSE_CONFIG=GLOBEX_CFG \
    mlc_start extB "$BIN/mlc-extractor" --config "$CFG"
EXTB=$MLC_LAST_PID

check "tenant $A: all $totalA records arrive" mlc_wait_for 40 count_is $A "$totalA"
check "tenant $B: all $totalB records arrive" mlc_wait_for 40 count_is $B "$totalB"
check "no envelope of any other tenant" \
    test "$(jq -r 'select(.tenant) | .tenant' "$MLC_TMP/sink.out" | sort -u | tr '\n' ' ')" = "$A $B "
check "no record twice" test "$(jq -r 'select(.tenant) | "\(.tenant)|\(.entity)|\(.key)"' \
    "$MLC_TMP/sink.out" | sort | uniq -d | wc -l)" -eq 0
check "$A carries only its own vendors (V000001..V000300)" test "$(jq -r --arg t $A \
    'select(.tenant == $t and .entity == "vendor") | .key' "$MLC_TMP/sink.out" | sort | tail -n1)" = V000300
check "$B has its own 500 vendors" test "$(jq -r --arg t $B \
    'select(.tenant == $t and .entity == "vendor") | .key' "$MLC_TMP/sink.out" | sort -u | wc -l)" -eq 500
# same key, different companies: the values come from the right tenant
nameA=$(mlc_cs_fetch "$PA" $A SLVendors VendNum,Name | jq -r '.[] | select(.VendNum == "V000001") | .Name')
check "$A's V000001 carries $A's name ($nameA)" test "$(jq -r --arg t $A \
    'select(.tenant == $t and .key == "V000001") | .src.Name' "$MLC_TMP/sink.out")" = "$nameA"

sA=$(mlc_cs_stats "$PA" ".tenants.$A")
sB=$(mlc_cs_stats "$PB" ".tenants.$B")
check "each simulator issued tokens to its own tenant only, and never saw a foreign token" \
    jqt -en --argjson a "$sA" --argjson b "$sB" \
    '$a.tokens_issued >= 1 and $b.tokens_issued >= 1 and $a.unauthorized == 0 and $b.unauthorized == 0'
check "$A (4 s tokens) renews its token" mlc_wait_for 20 grants_at_least extA 2
check "... while $B (default 7200 s) needed exactly one" test "$(grants extB)" -eq 1
check "each extractor talks to its own base URL" bash -c \
    "grep -q 'api_base=http://127.0.0.1:$PA/$A ' '$MLC_TMP/extA.log' && grep -q 'api_base=http://127.0.0.1:$PB/$B ' '$MLC_TMP/extB.log'"
check "separate state directories under one data_dir" \
    test -d "$MLC_TMP/data/extractor/$A" -a -d "$MLC_TMP/data/extractor/$B"

# A second extractor for a tenant that is already served is refused (its state is locked).
MLC_CLOUDSUITE_IONAPI_FILE=$MLC_TMP/ionapi/$A.ionapi MLC_CLOUDSUITE_MONGOOSE_CONFIG=CSI_DEMO \
    "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/extA2.log" 2>&1
rc=$?
check "a second extractor for $A exits 1" test $rc -eq 1
check "... naming its state directory" grep -q "EXT_FATAL.*extractor/$A" "$MLC_TMP/extA2.log"

# Changes reach the right tenant only.
curl -fsS -X POST "http://127.0.0.1:$PA/__sim/$A/records/SLVendors" -d '{"VendNum":"V000002","Name":"Acme Only Change"}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$PB/__sim/$B/records/SLCustomers" -d '{"CustNum":"C000003","CustSeq":"0","Name":"Globex Only Change"}' >/dev/null
check "a change in $A arrives as $A" mlc_wait_for 20 count_is $A $((totalA + 1))
check "a change in $B arrives as $B" mlc_wait_for 20 count_is $B $((totalB + 1))
check "... with the right values" bash -c "jq -e -s 'map(select(.tenant)) | .[-2:] | map(\"\(.tenant)|\(.key)|\(.src.Name)\") | sort ==
    [\"$A|V000002|Acme Only Change\", \"$B|C000003/0|Globex Only Change\"]' '$MLC_TMP/sink.out' >/dev/null"

# One tenant's outage does not hold up the other.
kill -TERM $CSB
curl -fsS -X POST "http://127.0.0.1:$PA/__sim/$A/records/SLVendors" -d '{"VendNum":"V999999","Name":"During The Outage"}' >/dev/null
check "with $B's CloudSuite down, $A's new record still arrives" mlc_wait_for 30 count_is $A $((totalA + 2))
check "... while $B's extractor reports failed polls" mlc_wait_for 30 grep -q EXT_POLL_FAILED "$MLC_TMP/extB.log"
check "... and keeps running" kill -0 $EXTB

kill -TERM $EXTA $EXTB
wait $EXTA
rcA=$?
wait $EXTB
rcB=$?
check "both extractors exit 0 on SIGTERM" test $rcA -eq 0 -a $rcB -eq 0
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
