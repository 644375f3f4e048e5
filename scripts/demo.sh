#!/usr/bin/env bash
# make demo: a full sync on the bundled simulators. Starts cloudsuite-sim (2,000 suppliers)
# and salesforce-sim on free loopback ports, runs the whole pipeline until every supplier is
# an Account, polls again to show that unchanged records cost no Salesforce call, prints a
# summary and stops everything it started. Exits 0 only when Salesforce holds exactly one
# Account per supplier with the right values.
set -u
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${DEMO_SUPPLIERS:-2000}
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="demo-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

say () { printf '%s\n' "$*"; }
fail () { say "demo FAILED: $*"; say "logs kept in $MLC_TMP"; KEEP=1; exit 1; }

say "== ml-connector demo: CloudSuite suppliers -> Salesforce Accounts"
mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers "$N" --seed 42 || fail "cloudsuite-sim did not start"
CS=$MLC_LAST_PORT
mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" || fail "salesforce-sim did not start"
SF=$MLC_LAST_PORT
say "cloudsuite-sim  http://127.0.0.1:$CS  tenant $TENANT, $N suppliers (.ionapi in $MLC_TMP/ionapi)"
say "salesforce-sim  http://127.0.0.1:$SF"
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG" "$CS" "$SF" $TENANT
mlc_start_pipeline "$CFG"
say "pipeline        replayer, transformer, loader (ZeroMQ over ipc in $MLC_TMP)"

t0=$(date +%s.%N)
"$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1 || fail "extractor failed (see extractor.log)"
all_arrived () { [ "$(mlc_sf_stats "$SF" '.records.Account // 0')" -ge "$N" ]; }
mlc_wait_for 120 all_arrived ||
    fail "only $(mlc_sf_stats "$SF" '.records.Account // 0') of $N Accounts arrived"
t1=$(date +%s.%N)
calls1=$(mlc_sf_stats "$SF" '.api_calls')
tokens1=$(mlc_sf_stats "$SF" '.token_requests')
cs_calls=$(mlc_cs_stats "$CS" "[.tenants[].data_requests] | add")
cs_tokens=$(mlc_cs_stats "$CS" "[.tenants[].token_requests] | add")
# The replayer's audit trail is the account of what happened to every record.
rstats () { "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null; }
audited () { [ "$(rstats | jq '.loaded + .failed + .rejected')" -ge "$N" ]; }
mlc_wait_for 30 audited || fail "the audit trail does not account for every supplier"
say ""
say "-- full sync"
printf '  %-34s %s\n' \
    "suppliers extracted" "$(rstats | jq .extracted)" \
    "records transformed" "$(rstats | jq .transformed)" \
    "records loaded into Salesforce" "$(rstats | jq .loaded)" \
    "Accounts in Salesforce" "$(mlc_sf_stats "$SF" '.records.Account')" \
    "Salesforce API calls" "$calls1 (+ $tokens1 token request(s))" \
    "CloudSuite IDO requests" "$cs_calls (+ $cs_tokens token request(s))" \
    "seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"

"$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1 || fail "second poll failed"
sleep 1
calls2=$(mlc_sf_stats "$SF" '.api_calls')
say "-- second poll (nothing changed)"
printf '  %-34s %s\n' "Salesforce API calls" "$((calls2 - calls1))"

mlc_cs_fetch "$CS" $TENANT SLVendors >"$MLC_TMP/vendors.json" || fail "cannot read suppliers back"
curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" >"$MLC_TMP/accounts.json" || fail "cannot read Accounts"
jq -n --slurpfile v "$MLC_TMP/vendors.json" --slurpfile a "$MLC_TMP/accounts.json" --arg t $TENANT \
    '[$v[0], $a[0], $t]' | jq -f tests/integration/accounts_match_vendors.jq >"$MLC_TMP/mismatch.json"
dead=$(rstats | jq .dl_open)
say "-- checks"
printf '  %-34s %s\n' "dead letters" "$dead" \
    "mismatching or missing Accounts" "$(jq length "$MLC_TMP/mismatch.json")"
[ "$(jq length "$MLC_TMP/mismatch.json")" -eq 0 ] || { jq -r '.[:10][]' "$MLC_TMP/mismatch.json"; fail "Salesforce does not match CloudSuite"; }
[ "$calls2" -eq "$calls1" ] || fail "the unchanged poll cost $((calls2 - calls1)) Salesforce calls"
say ""
say "demo OK: $N suppliers are exactly $N Accounts; the unchanged poll cost 0 Salesforce calls."
