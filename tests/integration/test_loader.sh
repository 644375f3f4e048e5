#!/usr/bin/env bash
# The loader against salesforce-sim under stress, fed directly with envelopes
# (mlc-ldfeed, as the transformer would send them): 10,000 records across Accounts, Contacts
# (parent Account by external ID), a custom object (CloudSuite_Invoice__c, Account__r) and
# Tasks (polymorphic What), children sent before their parents and the parents sent twice,
# three loaders at once, tokens that expire every 3 s and every session ended while the
# children wait for their parents, and 20% of calls answered 429 or 503
# plus some UNABLE_TO_LOCK_ROW. Every record must land exactly once with the right values
# and the right parent, and nothing may be dead-lettered.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
T=ACME_PRD
NA=2000 NC=3000 NI=3000 NT=2000
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" --token-ttl 3 --fault-429 0.1 \
    --fault-503 0.1 --fault-lock 0.01 --seed 11 || exit 1
SF=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" 1 "$SF" $T
# Faults at every fifth call: more attempts than the default before a dead letter, short
# backoffs so the test is quick
export MLC_SALESFORCE_MAX_ATTEMPTS=25 MLC_HTTP_BACKOFF_MAX_MS=2000
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
for i in 1 2 3; do mlc_start "loader$i" "$BIN/mlc-loader" --config "$CFG"; done

# The records, as the transformer's payloads (the external-ID field first)
D=$MLC_TMP/records
mkdir -p "$D"
jq -nc --arg t $T --argjson n $NA '
    range(1; $n + 1) | "\($t):customer:C\(.)" as $k |
    {CloudSuite_Key__c: $k, Name: "Customer, \"\(.)\" Ltd", Phone: "+1 555 \(1000 + .)",
     BillingStreet: "\(.) Main St\nSuite \(. % 7)", BillingCity: "City \(. % 50)",
     CloudSuite_Tenant__c: $t}' >"$D/Account.json"
jq -nc --arg t $T --argjson n $NC --argjson na $NA '
    range(1; $n + 1) |
    {CloudSuite_Key__c: "\($t):contact:P\(.)", LastName: "Person \(.)", FirstName: "Pat",
     Email: "p\(.)@example.net", Account: {CloudSuite_Key__c: "\($t):customer:C\(. % $na + 1)"}}
    ' >"$D/Contact.json"
jq -nc --arg t $T --argjson n $NI --argjson na $NA '
    range(1; $n + 1) |
    {CloudSuite_Key__c: "\($t):invoice:\(1000000 + .)/0", Name: "\(1000000 + .)",
     Account__r: {CloudSuite_Key__c: "\($t):customer:C\((. * 7) % $na + 1)"},
     Amount__c: (. * 3 + 0.5), Invoice_Date__c: "2026-01-15", Status__c: "Open"}
    ' >"$D/CloudSuite_Invoice__c.json"
jq -nc --arg t $T --argjson n $NT --argjson na $NA '
    range(1; $n + 1) |
    {CloudSuite_Key__c: "\($t):task:T\(.)", Subject: "Call about order \(.)",
     What: {attributes: {type: "Account"}, CloudSuite_Key__c: "\($t):customer:C\((. * 3) % $na + 1)"},
     ActivityDate: "2026-02-01", Status: "Not Started", Priority: "Normal"}
    ' >"$D/Task.json"
envelopes () { # OBJECT ENTITY
    jq -c --arg t $T --arg o "$1" --arg e "$2" '{tenant: $t, entity: $e,
        key: (.CloudSuite_Key__c | split(":")[2]), sobject: $o, extf: "CloudSuite_Key__c",
        extid: .CloudSuite_Key__c, payload: .}' "$D/$1.json"
}
{
    envelopes Contact customer
    envelopes CloudSuite_Invoice__c invoice
    envelopes Task po
} >"$MLC_TMP/children.jsonl"
{
    envelopes Account customer
    envelopes Account customer # every parent a second time: no duplicate may come of it
} >"$MLC_TMP/parents.jsonl"
feed () { "$BIN/mlc-ldfeed" "ipc://$MLC_TMP/load.sock" --bind <"$1" 2>>"$MLC_TMP/feed.log"; }
sf_called () { [ "$(mlc_sf_stats "$SF" '.api_calls // 0')" -gt 0 ]; }
check "children first: $((NC + NI + NT)) envelopes fed to three loaders" feed "$MLC_TMP/children.jsonl"
# The children wait in retries for their parents. Every session ends now, so the loaders
# meet an expired token whatever the machine's speed (the 3-second TTL alone would leave
# none to a run that finishes within it).
check "Salesforce is called (the children are tried)" mlc_wait_for 30 sf_called
check "every session is expired while the children are retried" \
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$SF/__sim/expire-tokens"
check "then their parents: $((NA * 2)) envelopes" feed "$MLC_TMP/parents.jsonl"

counts () { mlc_sf_stats "$SF" '[.records.Account, .records.Contact, .records.CloudSuite_Invoice__c, .records.Task] | join(" ")'; }
all_landed () { [ "$(counts)" = "$NA $NC $NI $NT" ]; }
# A hang guard, not a timing assertion
mlc_wait_for 90 all_landed
check "all $((NA + NC + NI + NT)) records landed, each exactly once (got: $(counts))" all_landed

# Values and parents: every field as sent; every reference resolves to its Account
for o in Account Contact CloudSuite_Invoice__c Task; do
    curl -fsS "http://127.0.0.1:$SF/__sim/records/$o" >"$D/$o.sf.json"
done
compare () { # OBJECT
    jq -n --slurpfile exp "$D/$1.json" --slurpfile act "$D/$1.sf.json" \
        --slurpfile acc "$D/Account.sf.json" '
        ($acc[0] | map({key: .CloudSuite_Key__c, value: .Id}) | from_entries) as $ids
        | ($act[0] | map({key: .CloudSuite_Key__c, value: .}) | from_entries) as $by
        | {Account: "AccountId", Account__r: "Account__c", What: "WhatId"} as $lookup
        | [$exp[] as $p | $by[$p.CloudSuite_Key__c] as $r
           | if $r == null then {missing: $p.CloudSuite_Key__c}
             else $p | to_entries[]
                  | if (.value | type) == "object"
                    then select($r[$lookup[.key]] != $ids[.value.CloudSuite_Key__c])
                         | {key: $p.CloudSuite_Key__c, parent: .key, want: $ids[.value.CloudSuite_Key__c], got: $r[$lookup[.key]]}
                    else select($r[.key] != .value)
                         | {key: $p.CloudSuite_Key__c, field: .key, want: .value, got: $r[.key]} end
             end]' >"$D/$1.diff.json"
    [ "$(jq length "$D/$1.diff.json")" -eq 0 ] || { head -c 1500 "$D/$1.diff.json" >&2; return 1; }
}
for o in Account Contact CloudSuite_Invoice__c Task; do
    check "$o: every field has the value sent, every parent reference its Account" compare $o
done

rstats () { "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null | jq -r "$1"; }
every_event () { [ "$(rstats .loaded)" -eq $((NA * 2 + NC + NI + NT)) ]; }
mlc_wait_for 20 every_event
check "the replayer has a loaded event for every envelope, no failure" \
    test "$(rstats '"\(.loaded) \(.failed)"')" = "$((NA * 2 + NC + NI + NT)) 0"
check "nothing was dead-lettered" \
    test "$("$BIN/mlc-replayer" --config "$CFG" list --json 2>/dev/null | jq length)" -eq 0
check "faults happened: 429s, 503s, lock errors and expired tokens" \
    test "$(mlc_sf_stats "$SF" '[.refused.fault_429 > 0, .refused.fault_503 > 0, .lock_faults > 0, .invalid_session > 0] | all')" = true
check "missing parents were retried, not dead-lettered" \
    bash -c "cat '$MLC_TMP'/loader*.log | grep LDR_RETRY | grep -q 'Foreign key external ID'"
check "an expired token is renewed and the call repeated (LDR_REAUTH)" \
    bash -c "cat '$MLC_TMP'/loader*.log | grep -q LDR_REAUTH"
check "the client secret appears in no log" \
    bash -c "! grep -rqF '$MLC_SALESFORCE_CLIENT_SECRET' '$MLC_TMP'/*.log"
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every loader stopped cleanly (LDR_STOP) with nothing held" \
    bash -c "for f in '$MLC_TMP'/loader?.log; do grep 'LDR_STOP' \"\$f\" | grep -q 'held=0 in_flight=0' || exit 1; done"
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
