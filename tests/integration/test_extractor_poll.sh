#!/usr/bin/env bash
# Extractor polling on real parts (cloudsuite-sim, RocksDB state, a sink in place of the
# transformer): records added and changed while polling arrive on the next poll and
# unchanged ones never; per-entity schedules and the full reconciliation pass, remembered
# across restarts; and faults (Success:false, HTML / cut / plain-text bodies, 429 with
# Retry-After, 5xx, timeouts, refused connections) that fail a poll without losing or
# doubling a record; a full disk (a tmpfs, as root) and a data_dir that is a file stop the
# extractor with a clear error, as does an empty zmq.confirm_endpoint at start-up.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 200 --seed-customers 100 \
    --seed-invoices 150 --seed-pos 80 --seed 5 || exit 1
CS=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG.base" "$CS" 1 $TENANT
jq '.cloudsuite.customer.enabled = true | .cloudsuite.invoice.enabled = true | .cloudsuite.po.enabled = true
    | .cloudsuite.poll_interval_s = 1 | .cloudsuite.po.poll_interval_s = 3600
    | .cloudsuite.full_sync_interval_s = 3600
    | .http.backoff_base_ms = 50 | .http.backoff_max_ms = 2000' "$CFG.base" >"$CFG"
total=$(mlc_cs_stats "$CS" "[.tenants.$TENANT.records[]] | add")
SIMURL="http://127.0.0.1:$CS/__sim"

stdbuf -oL "$BIN/mlc-ztool" sink "ipc://$MLC_TMP/extract.sock" --count 1000000 --timeout 300 \
    >"$MLC_TMP/sink.out" 2>"$MLC_TMP/sink.log" &
MLC_PIDS+=("$!")
mlc_wait_for 10 grep -q ready "$MLC_TMP/sink.out"
count () { grep -c '"tenant"' "$MLC_TMP/sink.out"; }
count_is () { test "$(count)" -eq "$1"; }
polls () { grep -c "EXT_POLL_DONE.*entity=$2 " "$MLC_TMP/$1.log"; }
polls_at_least () { test "$(polls "$1" "$2")" -ge "$3"; }
# put IDO JSON: insert or update records through the simulator's admin endpoint
put () { curl -fsS -X POST "$SIMURL/$TENANT/records/$1" -d "$2" >/dev/null; }
faults () { curl -fsS -X POST "$SIMURL/faults" -d "$1" >/dev/null; }
# once NAME [args]: one extractor --once run with its own log; returns its exit status
once () {
    local name=$1
    shift
    "$BIN/mlc-extractor" --config "$CFG" --once "$@" >"$MLC_TMP/once-$name.log" 2>&1
}
# emitted KEY: how many envelopes carried this entity|key
emitted () { jq -r 'select(.tenant) | "\(.entity)|\(.key)"' "$MLC_TMP/sink.out" | grep -cxF "$1"; }

# ---- a running extractor: backfill, then changes arrive on the next poll -----------------
mlc_start ext1 "$BIN/mlc-extractor" --config "$CFG"
EXT=$MLC_LAST_PID
check "the backfill delivers all $total records" mlc_wait_for 30 count_is "$total"
check "start-up says what was loaded and where it connects" \
    grep -qE "EXT_START tenant=$TENANT credentials=\"file .*ACME_PRD.ionapi\" token_url=http://127.0.0.1:$CS/$TENANT/as/token.oauth2 api_base=http://127.0.0.1:$CS/$TENANT mongoose_config=CSI_DEMO state=.*/extractor/$TENANT" \
    "$MLC_TMP/ext1.log"
check "... and every entity with its IDO and schedule" \
    test "$(grep -cE 'EXT_ENTITY .*enabled=1 ido=SL' "$MLC_TMP/ext1.log")" -eq 4
check "vendors are polled every second" mlc_wait_for 20 polls_at_least ext1 vendor 3
put SLVendors '{"VendNum":"V900001","Name":"Brand New Supply Co","VadCity":"Leeds"}'
put SLCustomers '{"CustNum":"C000002","CustSeq":"0","Name":"Changed Customer Ltd"}'
check "a record added and one changed while polling arrive on the next poll" \
    mlc_wait_for 20 count_is $((total + 2))
check "... they are exactly the new vendor and the changed customer" \
    bash -c "tail -n 2 '$MLC_TMP/sink.out' | jq -r '\"\(.entity)|\(.key)|\(.src.Name)\"' | sort | tr '\n' ';' |
             grep -qx 'customer|C000002/0|Changed Customer Ltd;vendor|V900001|Brand New Supply Co;'"
before=$(polls ext1 vendor)
mlc_wait_for 20 polls_at_least ext1 vendor $((before + 3))
check "unchanged records are never emitted again (3 more polls, no envelope)" count_is $((total + 2))
check "purchase orders (poll_interval_s 3600) were polled once only" test "$(polls ext1 po)" -eq 1
kill -TERM $EXT
wait $EXT
check "SIGTERM: the extractor exits 0" test $? -eq 0

# ---- a restart remembers the schedules -----------------------------------------------------
mlc_start ext2 "$BIN/mlc-extractor" --config "$CFG"
EXT=$MLC_LAST_PID
check "after a restart vendors are polled again" mlc_wait_for 20 polls_at_least ext2 vendor 2
check "... purchase orders are not (their last poll is less than an hour old)" \
    test "$(polls ext2 po)" -eq 0
check "... and no full pass runs (the last one, the first poll, is less than an hour old)" \
    bash -c "! grep -q 'EXT_POLL_DONE.* full=1' '$MLC_TMP/ext2.log'"
check "... the start-up line shows the remembered schedule" \
    grep -qE 'EXT_ENTITY .*entity=po .*last_poll="20[0-9-]+ [0-9:.]+" last_full="20' "$MLC_TMP/ext2.log"
kill -TERM $EXT
wait $EXT

# ---- a full reconciliation pass catches what the watermark missed --------------------------
# A change whose RecordDate did not move (as when only AdrRecordDate / VadRecordDate moves):
put SLVendors '{"VendNum":"V000007","Name":"Quietly Renamed GmbH","RecordDate":"2025-06-01 00:00:00.000"}'
check "an incremental --once succeeds" once inc
sleep 1
check "... and misses the change (its RecordDate is older than the watermark)" count_is $((total + 2))
check "--once --full succeeds" once full --full
check "... the full pass emits only the missed change" mlc_wait_for 10 count_is $((total + 3))
check "... which is V000007 with its new name" \
    bash -c "tail -n 1 '$MLC_TMP/sink.out' | jq -e '.key == \"V000007\" and .src.Name == \"Quietly Renamed GmbH\"' >/dev/null"
check "... every entity was read in full (full=1 on four polls)" \
    test "$(grep -c 'EXT_POLL_DONE.* full=1' "$MLC_TMP/once-full.log")" -eq 4

# ---- faults: a failed poll never loses or doubles a record -------------------------------
# Success:false for one entity fails that poll only; the others go on.
MLC_CLOUDSUITE_VENDOR_IDO=SLVendorz once ido
check "Success:false (unknown IDO): --once exits 1" test $? -eq 1
check "... the reason with the server's message is logged" \
    grep -q "EXT_POLL_FAILED.*entity=vendor.*IDO 'SLVendorz' does not exist" "$MLC_TMP/once-ido.log"
check "... the other entities were still polled" \
    test "$(grep -c 'EXT_POLL_DONE' "$MLC_TMP/once-ido.log")" -eq 3

# Broken bodies: a poll that gets one fails with the body quoted in the log.
for i in 10 11 12 13 14; do put SLVendors "{\"VendNum\":\"V9000$i\",\"Name\":\"Batch $i Ltd\"}"; done
faults '{"fault_bad_body":1}'
once bad
check "a broken body (HTML, cut JSON or plain text with status 200): --once exits 1" test $? -eq 1
check "... the log quotes the body" \
    grep -qE 'EXT_POLL_FAILED.*(IDO response is HTML|not valid JSON).*body: .*(Sign In|Northwind Me|upstream connect)' \
    "$MLC_TMP/once-bad.log"
# Then broken bodies on 40% of the pages, two records a page and no overlap window, vendors
# only: polls fail part-way again and again, and still each new record is handed on once.
faults '{"fault_bad_body":0.4}'
export MLC_CLOUDSUITE_PAGE_SIZE=2 MLC_CLOUDSUITE_OVERLAP_S=0 MLC_CLOUDSUITE_CUSTOMER_ENABLED=false \
    MLC_CLOUDSUITE_INVOICE_ENABLED=false MLC_CLOUDSUITE_PO_ENABLED=false
runs=0
for _ in $(seq 1 12); do
    runs=$((runs + 1))
    once bad2 && break
done
faults '{"fault_bad_body":0}'
check "polls that failed part-way ($runs runs) resume where they stopped" once bad3
unset MLC_CLOUDSUITE_PAGE_SIZE MLC_CLOUDSUITE_OVERLAP_S MLC_CLOUDSUITE_CUSTOMER_ENABLED \
    MLC_CLOUDSUITE_INVOICE_ENABLED MLC_CLOUDSUITE_PO_ENABLED
each_once () {
    local k
    for k in "$@"; do [ "$(emitted "$k")" -eq 1 ] || return 1; done
}
check "... each of the five new vendors arrived exactly once" mlc_wait_for 10 \
    each_once 'vendor|V900010' 'vendor|V900011' 'vendor|V900012' 'vendor|V900013' 'vendor|V900014'

# fault_window JSON STAT NAME: --once NAME in the background with the faults on, turned off
# as soon as the simulator has served one (its counter STAT grew); returns the exit status.
stat_of () { mlc_cs_stats "$CS" ".tenants.$TENANT.$1"; }
stat_above () { test "$(stat_of "$1")" -gt "$2"; }
fault_window () {
    local before pid
    before=$(stat_of "$2")
    faults "$1"
    once "$3" &
    pid=$!
    mlc_wait_for 20 stat_above "$2" "$before"
    faults '{"fault_429":0,"fault_5xx":0,"retry_after":null}'
    wait $pid
}
put SLVendors '{"VendNum":"V900020","Name":"Throttled Ltd"}'
fault_window '{"fault_429":1,"retry_after":1}' throttled ra
check "429 with Retry-After: --once succeeds" test $? -eq 0
check "... after waiting at least the Retry-After" \
    grep -qE '(EXT|HTTP)_RETRY.*status=429.*delay_ms=(1[0-9]{3}|2000)' "$MLC_TMP/once-ra.log"
check "... the new vendor arrived once" mlc_wait_for 10 each_once 'vendor|V900020'

put SLVendors '{"VendNum":"V900021","Name":"Gateway Trouble Inc"}'
fault_window '{"fault_5xx":1}' faults_5xx 5xx
check "5xx with HTML pages: --once succeeds" test $? -eq 0
check "... after retrying 500/503/504" grep -qE '(EXT|HTTP)_RETRY.*status=50[034]' "$MLC_TMP/once-5xx.log"
check "... the new vendor arrived once" mlc_wait_for 10 each_once 'vendor|V900021'

put SLVendors '{"VendNum":"V900022","Name":"Slow Answer Corp"}'
faults '{"latency_ms":1500}'
MLC_HTTP_TIMEOUT_MS=400 MLC_HTTP_MAX_ATTEMPTS=2 once slow
check "timeouts: --once exits 1 after its retries" test $? -eq 1
faults '{"latency_ms":0}'
check "... the log says the request timed out" grep -q 'EXT_POLL_FAILED.*timed out' "$MLC_TMP/once-slow.log"
jq '.iu = "http://127.0.0.1:1" | .pu = "http://127.0.0.1:1/ACME_PRD/as/"' \
    "$MLC_TMP/ionapi/$TENANT.ionapi" >"$MLC_TMP/closed.ionapi"
MLC_CLOUDSUITE_IONAPI_FILE=$MLC_TMP/closed.ionapi MLC_HTTP_MAX_ATTEMPTS=2 once closed
check "a refused connection: --once exits 1" test $? -eq 1
check "... the log says so" grep -qiE "EXT_POLL_FAILED.*(couldn't connect|connection refused)" "$MLC_TMP/once-closed.log"
check "after the faults, --once succeeds" once after
check "... and the vendor held back by the timeouts arrives once" \
    mlc_wait_for 10 each_once 'vendor|V900022'
sleep 1
n=$(count)
check "over the whole run every envelope is a distinct change ($n envelopes)" \
    test "$(jq -r 'select(.tenant) | "\(.entity)|\(.key)|\(.hash)"' "$MLC_TMP/sink.out" | sort -u | wc -l)" -eq "$n"
check "... and exactly $((total + 3 + 5 + 3)) records were sent" test "$n" -eq $((total + 3 + 5 + 3))

# ---- a full disk or an unwritable data directory: a clear error and a stopped process ---------
# The state on a 16 MiB tmpfs (RocksDB preallocates a 4 MiB write-ahead log): a backfill of
# 300 vendors; then 50 new vendors while the disk is full (a filler file leaves 160 KiB): the
# extractor stops (exit 1) with EXT_STATE_FAILED naming the path and the cause. Once there is
# room again, the next run emits exactly the 50 new vendors: the watermark did not move past
# them and no pending entry was lost.
mlc_start_sim cssim2 "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant FULL_PRD \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 300 --seed 6 || exit 1
CS2=$MLC_LAST_PORT
jq --arg d "$MLC_TMP/full" --arg i "$MLC_TMP/ionapi/FULL_PRD.ionapi" \
    '.data_dir = $d | .cloudsuite.ionapi_file = $i | .zmq.extract_endpoint = "ipc://\($d)-x.sock"
     | .cloudsuite.customer.enabled = false | .cloudsuite.invoice.enabled = false
     | .cloudsuite.po.enabled = false' "$CFG" >"$MLC_TMP/full.json"
mkdir -p "$MLC_TMP/full"
if mount -t tmpfs -o size=16m tmpfs "$MLC_TMP/full" 2>"$MLC_TMP/mount.err"; then
    trap 'umount "$MLC_TMP/full" 2>/dev/null; mlc_cleanup' EXIT
    # full_run NAME: a sink, then extractor --once on the tmpfs state; its exit status
    full_run () {
        stdbuf -oL "$BIN/mlc-ztool" sink "ipc://$MLC_TMP/full-x.sock" --count 1000000 --timeout 60 \
            >"$MLC_TMP/$1.out" 2>"$MLC_TMP/$1.log" &
        MLC_PIDS+=("$!")
        mlc_wait_for 10 grep -q ready "$MLC_TMP/$1.out"
        "$BIN/mlc-extractor" --config "$MLC_TMP/full.json" --once >"$MLC_TMP/once-$1.log" 2>&1
    }
    keys () { sleep 0.5; jq -r 'select(.tenant) | .key' "$MLC_TMP/$1.out" | sort; }
    check "on a roomy tmpfs the backfill succeeds" full_run fd1
    check "... with all 300 vendors" test "$(keys fd1 | wc -l)" -eq 300
    for i in $(seq 10 59); do
        curl -fsS -X POST "http://127.0.0.1:$CS2/__sim/FULL_PRD/records/SLVendors" \
            -d "{\"VendNum\":\"V9500$i\",\"Name\":\"Full Disk $i\"}" >/dev/null
    done
    seq 10 59 | sed 's/^/V9500/' >"$MLC_TMP/new.keys"
    avail=$(df -B1 --output=avail "$MLC_TMP/full" | tail -n 1)
    head -c $(( avail - 160 * 1024 )) /dev/zero >"$MLC_TMP/full/filler" 2>/dev/null
    full_run fd2
    check "a full disk: the extractor stops with exit 1" test $? -eq 1
    check "... EXT_STATE_FAILED names the state's path and the cause" \
        grep -qE "EXT_STATE_FAILED path=$MLC_TMP/full/extractor/FULL_PRD reason=.*No space left on device" \
        "$MLC_TMP/once-fd2.log"
    check "... and EXT_FATAL says it stopped" grep -q 'EXT_FATAL.*state store failed, stopping' \
        "$MLC_TMP/once-fd2.log"
    rm -f "$MLC_TMP/full/filler"
    check "with room again, the next --once succeeds" full_run fd3
    check "... and emits exactly the 50 vendors added while the disk was full" \
        cmp -s "$MLC_TMP/new.keys" <(keys fd3)
    umount "$MLC_TMP/full"
else
    echo "ok - # SKIP full disk: mount -t tmpfs refused: $(head -c 200 "$MLC_TMP/mount.err")"
fi
# A file where the data directory should be, and an empty confirm endpoint: refused at
# start-up with what is wrong and how to fix it.
: >"$MLC_TMP/afile"
MLC_DATA_DIR=$MLC_TMP/afile "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/once-file.log" 2>&1
check "data_dir is a file: exit 1" test $? -eq 1
check "... with a clear message naming it" \
    grep -q "data_dir $MLC_TMP/afile is not usable: cannot create directory $MLC_TMP/afile/extractor: Not a directory" \
    "$MLC_TMP/once-file.log"
MLC_ZMQ_CONFIRM_ENDPOINT= "$BIN/mlc-extractor" --config "$CFG" >"$MLC_TMP/noconfirm.log" 2>&1
check "an empty zmq.confirm_endpoint: refused at start-up (exit 1)" test $? -eq 1
check "... saying leases would never be confirmed" \
    grep -q 'zmq.confirm_endpoint is empty: .*no record would ever be confirmed' "$MLC_TMP/noconfirm.log"

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
