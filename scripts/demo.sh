#!/usr/bin/env bash
# make demo: a full sync on the bundled simulators. Starts cloudsuite-sim (a tenant with
# suppliers, customers, invoices and purchase orders) and salesforce-sim on free loopback
# ports, runs the whole pipeline until the audit trail accounts for every record, polls again
# to show that unchanged records cost no Salesforce call, changes a few records and polls
# once more to show that only they cost calls, prints a summary and stops everything it
# started. Exits 0 only when Salesforce holds exactly one record per source record, every
# supplier is one Account with its values, and nothing ended as a dead letter.
#   DEMO_SUPPLIERS (2000), DEMO_CUSTOMERS (3000), DEMO_INVOICES (6000), DEMO_POS (2000);
#   KEEP=1 keeps the logs and data.
set -u
cd "$(dirname "$0")/.."
. scripts/lib.sh
NS=${DEMO_SUPPLIERS:-2000}
NC=${DEMO_CUSTOMERS:-3000}
NI=${DEMO_INVOICES:-6000}
NP=${DEMO_POS:-2000}
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="demo-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# every entity of the shipped mapping (a deployment enables them one by one: suppliers only
# by default, docs/salesforce-setup.md lists what each needs in the org)
export MLC_CLOUDSUITE_CUSTOMER_ENABLED=true MLC_CLOUDSUITE_INVOICE_ENABLED=true \
    MLC_CLOUDSUITE_PO_ENABLED=true

say () { printf '%s\n' "$*"; }
row () { printf '  %-44s %s\n' "$1" "$2"; }
fail () { say "demo FAILED: $*"; say "logs kept in $MLC_TMP"; KEEP=1; exit 1; }

say "== ml-connector demo: CloudSuite -> Salesforce"
mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers "$NS" --seed-customers "$NC" \
    --seed-invoices "$NI" --seed-pos "$NP" --seed 42 || fail "cloudsuite-sim did not start"
CS=$MLC_LAST_PORT
mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" || fail "salesforce-sim did not start"
SF=$MLC_LAST_PORT
say "cloudsuite-sim  http://127.0.0.1:$CS  tenant $TENANT: $NS suppliers, $NC customers (with ship-tos),"
say "                $NI invoices, $NP purchase orders (.ionapi in $MLC_TMP/ionapi)"
say "salesforce-sim  http://127.0.0.1:$SF"
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" "$CS" "$SF" $TENANT
mlc_start_pipeline "$CFG"
say "pipeline        replayer, transformer, loader (ZeroMQ over ipc in $MLC_TMP)"

# The replayer's audit trail is the account of what happened to every record.
rstats () { "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null; }
settled () { rstats | jq -e '.extracted > 0 and
    (.loaded + .failed + .rejected + (.skipped // 0)) >= .extracted' >/dev/null; }
sf () { mlc_sf_stats "$SF" "$1"; }
cs_calls () { mlc_cs_stats "$CS" "[.tenants[].data_requests] | add"; }
cs_tokens () { mlc_cs_stats "$CS" "[.tenants[].token_requests] | add"; }
seconds () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

t0=$(date +%s.%N)
"$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1 ||
    fail "extractor failed (see extractor.log)"
mlc_wait_for 120 settled || fail "the audit trail does not account for every record: $(rstats)"
t1=$(date +%s.%N)
calls1=$(sf .api_calls)
S=$(rstats)
say ""
say "-- full sync ($(seconds "$t0" "$t1") s)"
row "records extracted from CloudSuite" "$(jq .extracted <<<"$S")"
row "loaded into Salesforce" "$(jq .loaded <<<"$S")"
row "skipped by the mapping (ship-tos)" "$(jq '.skipped // 0' <<<"$S")"
row "dead letters (failed + rejected)" "$(jq '.failed + .rejected' <<<"$S")"
for o in Account Contact CloudSuite_Invoice__c CloudSuite_Purchase_Order__c; do
    row "  $o in Salesforce" "$(sf ".records.$o // 0")"
done
row "Salesforce API calls" "$calls1 (+ $(sf .token_requests) token request(s))"
row "CloudSuite IDO requests" "$(cs_calls) (+ $(cs_tokens) token request(s))"

# a second poll with nothing changed
"$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1 || fail "second poll failed"
sleep 1
calls2=$(sf .api_calls)
say "-- second poll, nothing changed"
row "Salesforce API calls" "$((calls2 - calls1))"

# a few suppliers change in CloudSuite; only they travel
changed=5
body=$(mlc_cs_fetch "$CS" $TENANT SLVendors | jq -c --argjson n $changed \
    '[.[:$n][] | {VendNum, Phone: "+1 555 0100"}]') || fail "cannot read suppliers"
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" -d "$body" >/dev/null ||
    fail "cannot change suppliers in cloudsuite-sim"
loaded_before=$(jq .loaded <<<"$S")
"$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1 || fail "third poll failed"
more_loaded () { [ "$(rstats | jq .loaded)" -ge $((loaded_before + changed)) ]; }
mlc_wait_for 30 more_loaded || fail "the $changed changed suppliers did not arrive"
sleep 1
calls3=$(sf .api_calls)
say "-- third poll, $changed suppliers changed (new phone)"
row "records loaded" "$(( $(rstats | jq .loaded) - loaded_before ))"
row "Salesforce API calls" "$((calls3 - calls2))"

say "-- checks"
mlc_cs_fetch "$CS" $TENANT SLVendors >"$MLC_TMP/vendors.json" || fail "cannot read suppliers back"
curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" >"$MLC_TMP/accounts.json" || fail "cannot read Accounts"
# suppliers against the Accounts keyed by a supplier (customer companies have Accounts too)
jq -n --slurpfile v "$MLC_TMP/vendors.json" --slurpfile a "$MLC_TMP/accounts.json" --arg t $TENANT \
    '[$v[0], ($a[0] | map(select(.CloudSuite_Key__c | contains(":vendor:")))), $t]' |
    jq -f tests/integration/accounts_match_vendors.jq >"$MLC_TMP/mismatch.json"
dups=0
for o in Account Contact CloudSuite_Invoice__c CloudSuite_Purchase_Order__c; do
    d=$(curl -fsS "http://127.0.0.1:$SF/__sim/records/$o" |
        jq '[.[].CloudSuite_Key__c] | length - (unique | length)') || fail "cannot read $o"
    dups=$((dups + d))
done
S=$(rstats)
dead=$(jq .dl_open <<<"$S")
row "suppliers not matching their Account" "$(jq length "$MLC_TMP/mismatch.json")"
row "records in Salesforce twice" "$dups"
row "dead letters open" "$dead"
[ "$(jq length "$MLC_TMP/mismatch.json")" -eq 0 ] ||
    { jq -r '.[:10][]' "$MLC_TMP/mismatch.json"; fail "Salesforce does not match CloudSuite"; }
[ "$dups" -eq 0 ] || fail "$dups records are in Salesforce more than once"
[ "$(sf '.records.CloudSuite_Invoice__c // 0')" -eq "$NI" ] || fail "not every invoice is in Salesforce"
[ "$(sf '.records.CloudSuite_Purchase_Order__c // 0')" -eq "$NP" ] ||
    fail "not every purchase order is in Salesforce"
[ "$dead" -eq 0 ] || { "$BIN/mlc-replayer" --config "$CFG" list | head -20; fail "$dead records ended as dead letters"; }
[ "$calls2" -eq "$calls1" ] || fail "the unchanged poll cost $((calls2 - calls1)) Salesforce calls"
say ""
say "demo OK: every CloudSuite record is in Salesforce exactly once, none lost; an unchanged"
say "poll cost 0 Salesforce calls and $changed changed suppliers cost $((calls3 - calls2))."
say "Next: mlc-status and mlc-replayer (README, \"Operator commands\"); make test."
