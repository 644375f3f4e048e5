#!/usr/bin/env bash
# Many orgs in one loader, and `mlc-loader ping`. Tenant ACME_PRD loads into the default org
# (salesforce.*); GLOBEX and GLOBEX_UAT into a second org named by salesforce.orgs_file (one
# org, one token: GLOBEX's secret comes from the encrypted store as "secret:sf/globex",
# GLOBEX_UAT's from an environment variable); BADCO into an org whose credentials are
# refused: BADCO's records wait without a retry storm against the login service while the
# others land, and become retryable dead letters (LDR_ORG_STOPPED) when the loader stops.
# ping checks the token, /limits and the describe of every mapped object in every org,
# naming what is missing.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=300
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-a-$RANDOM$RANDOM"
export GLOBEX_SF_SECRET="it-secret-g-$RANDOM$RANDOM"

mlc_start_sim sfa "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" || exit 1
SFA=$MLC_LAST_PORT
mlc_start_sim sfg "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id globex-client \
    --client-secret "$GLOBEX_SF_SECRET" || exit 1
SFG=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" 1 "$SFA" ACME_PRD
MLC_MASTER_KEY=$("$BIN/mlc-secrets" keygen)
export MLC_MASTER_KEY
mkdir -p "$MLC_TMP/data"
check "the GLOBEX org's secret goes into the encrypted store" \
    bash -c "printf '%s' \"\$GLOBEX_SF_SECRET\" | '$BIN/mlc-secrets' --config '$CFG' set sf/globex 2>>'$MLC_TMP/secrets.log'"
cat >"$MLC_TMP/orgs.json" <<JSON
{
  "GLOBEX": {"url": "http://127.0.0.1:$SFG", "client_id": "globex-client",
             "client_secret": "secret:sf/globex"},
  "GLOBEX_UAT": {"url": "http://127.0.0.1:$SFG", "client_id": "globex-client",
                 "client_secret_env": "GLOBEX_SF_SECRET"},
  "BADCO":  {"url": "http://127.0.0.1:$SFG", "client_id": "badco-client",
             "client_secret": "not-the-secret"}
}
JSON
jq 'del(.BADCO)' "$MLC_TMP/orgs.json" >"$MLC_TMP/orgs-good.json"

# --- ping ------------------------------------------------------------------------------
ping () { "$BIN/mlc-loader" --config "$CFG" ping >"$MLC_TMP/ping.out" 2>>"$MLC_TMP/ping.log"; }
MLC_SALESFORCE_ORGS_FILE=$MLC_TMP/orgs-good.json ping
rc=$?
check "ping: two good orgs and the shipped mapping: exit 0" test $rc -eq 0
check "ping: reports the token and the daily allowance of each org" \
    test "$(grep -c 'daily API requests: [0-9]* of 1000000 remaining' "$MLC_TMP/ping.out")" -eq 2
check "ping: describes every mapped object (Account, Contact, two custom objects)" \
    bash -c "for o in Account Contact CloudSuite_Invoice__c CloudSuite_Purchase_Order__c; do grep -q \"ok .*: \$o: external ID CloudSuite_Key__c\" '$MLC_TMP/ping.out' || exit 1; done"
check "ping: made no upsert" test "$(mlc_sf_stats "$SFA" '.calls_by_endpoint.composite_upsert')" -eq 0
# A mapping that needs what the org lacks
jq '.entities.vendor.fields += [{"to": "Bogus__c", "const": "x"}]
    | .entities.customer.routes[1].external_id_field = "Nope__c"
    | .entities.invoice.fields += [{"to": "Owner__r", "parent": {"sobject": "Account",
         "external_id_field": "CloudSuite_Key__c", "key_template": "{tenant}:vendor:{VendNum}"}}]' \
    config/mapping.json >"$MLC_TMP/mapping-bad.json"
MLC_TRANSFORMER_MAPPING_FILE=$MLC_TMP/mapping-bad.json ping
rc=$?
check "ping: a mapping the org cannot take: exit 1" test $rc -eq 1
check "ping: names the missing field" grep -q 'MISSING  org default: Account: field Bogus__c is missing' "$MLC_TMP/ping.out"
check "ping: names the missing external ID" grep -q 'MISSING  org default: Contact: external ID field Nope__c is missing' "$MLC_TMP/ping.out"
check "ping: names the missing parent relationship" \
    grep -q 'MISSING  org default: CloudSuite_Invoice__c: relationship Owner__r (a lookup to Account) is missing' "$MLC_TMP/ping.out"
MLC_SALESFORCE_ORGS_FILE=$MLC_TMP/orgs.json ping
rc=$?
check "ping: refused credentials: exit 1, the org and the reason named" \
    bash -c "[ $rc -eq 1 ] && grep -q 'FAILED   org BADCO .*token: AUTH_REJECTED.*invalid_client_id' '$MLC_TMP/ping.out'"

# --- one loader, three orgs --------------------------------------------------------------
export MLC_SALESFORCE_ORGS_FILE=$MLC_TMP/orgs.json
logins=$(mlc_sf_stats $SFG .token_requests)
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
mlc_start loader "$BIN/mlc-loader" --config "$CFG"
LOADER=$MLC_LAST_PID
for t in ACME_PRD GLOBEX GLOBEX_UAT BADCO; do
    jq -nc --arg t $t --argjson n $N '
        range(1; $n + 1) | "\($t):vendor:V\(.)" as $k |
        {tenant: $t, entity: "vendor", key: "V\(.)", sobject: "Account",
         extf: "CloudSuite_Key__c", extid: $k, payload: {CloudSuite_Key__c: $k, Name: "\($t) \(.)"}}'
done | "$BIN/mlc-ldfeed" "ipc://$MLC_TMP/load.sock" --bind 2>>"$MLC_TMP/feed.log"
tenants_of () { curl -fsS "http://127.0.0.1:$1/__sim/records/Account" | jq -c '[.[] | .CloudSuite_Key__c | split(":")[0]] | group_by(.) | map("\(.[0])=\(length)")'; }
landed () { [ "$(tenants_of $SFA)" = "[\"ACME_PRD=$N\"]" ] && [ "$(tenants_of $SFG)" = "[\"GLOBEX=$N\",\"GLOBEX_UAT=$N\"]" ]; }
mlc_wait_for 60 landed
check "each tenant's records land in its own org (default: $(tenants_of $SFA), GLOBEX's: $(tenants_of $SFG))" landed
check "the loader's orgs: default, GLOBEX (shared by GLOBEX_UAT), BADCO" grep -q 'LDR_START orgs=3' "$MLC_TMP/loader.log"
sleep 2
logins=$(($(mlc_sf_stats $SFG .token_requests) - logins))
check "one login for the shared GLOBEX org, one refused for BADCO, no retry storm (logins at that host: $logins)" \
    test "$logins" -le 2 -a "$(grep -c LDR_AUTH_REJECTED "$MLC_TMP/loader.log")" -eq 1
check "BADCO's records wait: none lost, none dead-lettered yet" \
    test "$("$BIN/mlc-replayer" --config "$CFG" list --json 2>/dev/null | jq length)" -eq 0
kill -TERM $LOADER
mlc_wait_for 30 bash -c "! kill -0 $LOADER"
stopped_dead () {
    [ "$("$BIN/mlc-replayer" --config "$CFG" list --json --tenant BADCO 2>/dev/null |
        jq '[.[] | select(.code == "LDR_ORG_STOPPED" or .code == "LDR_ORG_PAUSED") | select(.error_class == "retryable")] | length')" -eq $N ]
}
check "on stop BADCO's $N records become retryable dead letters naming the stopped org" \
    mlc_wait_for 20 stopped_dead
check "no client secret appears in any log or output" \
    bash -c "! grep -rqF -e '$MLC_SALESFORCE_CLIENT_SECRET' -e '$GLOBEX_SF_SECRET' -e not-the-secret '$MLC_TMP'/*.log '$MLC_TMP'/ping.out"

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
