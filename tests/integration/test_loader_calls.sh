#!/usr/bin/env bash
# What the loader spends: N records of one object by sObject Collections cost exactly
# ceil(N/200) calls (plus one token request); a backlog of one object above
# salesforce.bulk_threshold goes as a Bulk API 2.0 job of a handful of calls. Records
# Salesforce rejects (a required field missing, a value too long, a bad picklist value) are
# dead-lettered with Salesforce's code and fields, by Collections and by Bulk alike, while
# their batch-mates land with the values sent.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
T=ACME_PRD
NA=1000 NC=450 NI=5000
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" || exit 1
SF=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" 1 "$SF" $T
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
stat () { mlc_sf_stats "$SF" "$1"; }
dead () { "$BIN/mlc-replayer" --config "$CFG" list --json 2>/dev/null; }
feed () { "$BIN/mlc-ldfeed" "ipc://$MLC_TMP/load.sock" --bind 2>>"$MLC_TMP/feed.log"; }

# --- sObject Collections: exact call counts ------------------------------------------------
# Bulk off; a long flush delay, so only full batches go until the stream ends
MLC_SALESFORCE_BULK_THRESHOLD=0 MLC_SALESFORCE_FLUSH_MS=3000 \
    mlc_start loader1 "$BIN/mlc-loader" --config "$CFG"
L1=$MLC_LAST_PID
{
    # Two Accounts Salesforce refuses among the good ones
    jq -nc --arg t $T --argjson n $NA '
        range(1; $n + 1) | "\($t):vendor:V\(.)" as $k |
        {tenant: $t, entity: "vendor", key: "V\(.)", sobject: "Account", extf: "CloudSuite_Key__c",
         extid: $k, payload: ({CloudSuite_Key__c: $k, Name: "Vendor \(.)", Phone: "+1 555 \(.)"}
            + if . == 500 then {Name: null}
              elif . == 777 then {Phone: "+1 555 0100 0100 0100 0100 0100 0100 0100 0100 0199"}
              else {} end)}'
    jq -nc --arg t $T --argjson n $NC '
        range(1; $n + 1) | "\($t):contact:P\(.)" as $k |
        {tenant: $t, entity: "customer", key: "P\(.)", sobject: "Contact", extf: "CloudSuite_Key__c",
         extid: $k, payload: {CloudSuite_Key__c: $k, LastName: "Person \(.)"}}'
} | feed
landed_a () { [ "$(stat '"\(.records.Account) \(.records.Contact)"')" = "$((NA - 2)) $NC" ]; }
mlc_wait_for 60 landed_a
check "Collections: $((NA - 2)) Accounts and $NC Contacts landed" landed_a
check "Collections: $NA Accounts + $NC Contacts took ceil($NA/200) + ceil($NC/200) = $(((NA + 199) / 200 + (NC + 199) / 200)) calls, one token" \
    test "$(stat '"\(.calls_by_endpoint.composite_upsert) \(.api_calls) \(.token_requests)"')" = \
        "$(((NA + 199) / 200 + (NC + 199) / 200)) $(((NA + 199) / 200 + (NC + 199) / 200)) 1"
two_dead () { [ "$(dead | jq length)" -eq 2 ]; }
mlc_wait_for 20 two_dead
check "Collections: the two refused Accounts are dead letters with Salesforce's code and fields" \
    test "$(dead | jq -c '[.[] | "\(.key) \(.code) \(.fields) \(.error_class)"] | sort')" = \
        '["V500 REQUIRED_FIELD_MISSING Name permanent","V777 STRING_TOO_LONG Phone permanent"]'
kill -TERM $L1
mlc_wait_for 20 bash -c "! kill -0 $L1"

# --- Bulk API 2.0: a backlog of one object ---------------------------------------------
# Slow calls and one at a time, so the backlog builds up behind the first calls
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/faults" -d '{"latency_ms": 200}' >/dev/null
before=$(stat .calls_by_endpoint.composite_upsert)
MLC_SALESFORCE_MAX_IN_FLIGHT=1 mlc_start loader2 "$BIN/mlc-loader" --config "$CFG"
jq -nc --arg t $T --argjson n $NI --argjson na $NA '
    range(1; $n + 1) | "\($t):invoice:\(.)/0" as $k |
    {tenant: $t, entity: "invoice", key: "\(.)/0", sobject: "CloudSuite_Invoice__c",
     extf: "CloudSuite_Key__c", extid: $k,
     payload: ({CloudSuite_Key__c: $k, Name: "INV \(.), \"A\"", Amount__c: (. + 0.25),
                Account__r: {CloudSuite_Key__c: "\($t):vendor:V\(. % ($na - 2) + 1)"},
                Invoice_Date__c: "2026-03-01", Status__c: "Open", Order_Number__c: ""}
        + if . > $n - 3 then {Status__c: "Bogus"} else {} end)}' >"$MLC_TMP/invoices.jsonl"
# Accounts V500 and V777 were refused: their invoices would wait for them; keep them out
jq -c 'select(.payload.Account__r.CloudSuite_Key__c | test(":V(500|777)$") | not)' \
    "$MLC_TMP/invoices.jsonl" >"$MLC_TMP/invoices2.jsonl"
NI2=$(wc -l <"$MLC_TMP/invoices2.jsonl")
feed <"$MLC_TMP/invoices2.jsonl"
landed_b () { [ "$(stat .records.CloudSuite_Invoice__c)" -eq $((NI2 - 3)) ]; }
mlc_wait_for 60 landed_b
check "Bulk: $((NI2 - 3)) invoices landed" landed_b
# The job's log line follows its results
mlc_wait_for 20 grep -q 'LDR_BULK_JOB.*state=JobComplete' "$MLC_TMP/loader2.log"
jobs=$(grep -c 'LDR_BULK_JOB.*state=JobComplete' "$MLC_TMP/loader2.log")
bulk_calls=$(stat .calls_by_endpoint.bulk)
check "Bulk: the backlog went as $jobs Bulk job(s) of a handful of calls ($bulk_calls calls)" \
    test "$jobs" -ge 1 -a "$bulk_calls" -le $((8 * jobs))
coll=$(($(stat .calls_by_endpoint.composite_upsert) - before))
bulk_records=$(grep -o 'LDR_BULK_JOB.*uploaded=[0-9]*' "$MLC_TMP/loader2.log" | grep -o 'uploaded=[0-9]*' | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
check "Bulk: the rest went by Collections ($coll calls for $((NI2 - bulk_records)) records)" \
    test "$coll" -le $(((NI2 - bulk_records + 199) / 200 + 2))
five_dead () { [ "$(dead | jq length)" -eq 5 ]; }
mlc_wait_for 20 five_dead
check "Bulk: the three bad picklist values are dead letters with Salesforce's code and field" \
    test "$(dead | jq -c '[.[] | select(.entity == "invoice") | "\(.code) \(.fields) \(.error_class)"] | unique')" = \
        '["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST Status__c permanent"]'
curl -fsS "http://127.0.0.1:$SF/__sim/records/CloudSuite_Invoice__c" >"$MLC_TMP/inv.sf.json"
curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" >"$MLC_TMP/acc.sf.json"
values () {
    jq -n --slurpfile exp <(jq -s 'map(.payload)' "$MLC_TMP/invoices2.jsonl") \
        --slurpfile act "$MLC_TMP/inv.sf.json" --slurpfile acc "$MLC_TMP/acc.sf.json" '
        ($acc[0] | map({key: .CloudSuite_Key__c, value: .Id}) | from_entries) as $ids
        | ($act[0] | map({key: .CloudSuite_Key__c, value: .}) | from_entries) as $by
        | [$exp[0][] | select(.Status__c == "Open") as $p | $by[$p.CloudSuite_Key__c] as $r
           | select($r == null or $r.Name != $p.Name or $r.Amount__c != $p.Amount__c
                    or $r.Invoice_Date__c != $p.Invoice_Date__c or $r.Order_Number__c != null
                    or $r.Account__c != $ids[$p.Account__r.CloudSuite_Key__c])
           | {want: $p, got: $r}]' >"$MLC_TMP/inv.diff.json"
    [ "$(jq length "$MLC_TMP/inv.diff.json")" -eq 0 ] || { head -c 1500 "$MLC_TMP/inv.diff.json" >&2; return 1; }
}
check "Bulk: every invoice has the values sent (quotes, commas, numbers, an empty value) and its Account" values

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
