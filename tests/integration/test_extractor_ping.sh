#!/usr/bin/env bash
# mlc-extractor ping against cloudsuite-sim: exit 0 and "the connection works" for a good
# configuration; for each broken one, exit 1 with the cause in plain words (a table of
# setting -> expected words).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 20 --seed-customers 10 --seed-invoices 10 \
    --seed-pos 5 || exit 1
CS=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG.base" "$CS" 1 $TENANT
jq '.cloudsuite.customer.enabled = true | .cloudsuite.invoice.enabled = true | .cloudsuite.po.enabled = true' "$CFG.base" >"$CFG"
ION=$MLC_TMP/ionapi/$TENANT.ionapi

"$BIN/mlc-extractor" --config "$CFG" ping >"$MLC_TMP/ping-good.log" 2>&1
check "a good configuration: ping exits 0" test $? -eq 0
check "... says the connection works" grep -qx "ping: the connection works" "$MLC_TMP/ping-good.log"
check "... with one ok line for the token and each of the four entities" \
    test "$(grep -cE '^ok   (token|vendor|customer|invoice|po)' "$MLC_TMP/ping-good.log")" -eq 5
check "... and shows where it connects" grep -q "API base:       http://127.0.0.1:$CS/$TENANT" "$MLC_TMP/ping-good.log"
check "ping prints no secret" bash -c "! grep -qF -e '$(jq -r .cs "$ION")' -e '$(jq -r .sask "$ION")' -e '$(jq -r .saak "$ION")' '$MLC_TMP/ping-good.log'"

ionapi () { jq "$1" "$ION" >"$MLC_TMP/$2.ionapi"; echo "$MLC_TMP/$2.ionapi"; }
# case NAME WORDS ENV=VALUE...: ping with the environment overrides; expects exit 1 and WORDS
case_ () {
    local name=$1 words=$2
    local out=$MLC_TMP/ping-${name// /_}.log
    shift 2
    env "$@" "$BIN/mlc-extractor" --config "$CFG" ping >"$out" 2>&1
    local rc=$?
    if [ $rc -eq 1 ] && grep -q "^FAIL" "$out" && grep -qE "$words" "$out" &&
        grep -qx "ping: the connection does not work (see FAIL above)" "$out"; then
        echo "ok - ping, $name: exit 1, '$words'"
    else
        echo "not ok - ping, $name: exit $rc, want '$words'"
        sed 's/^/# /' "$out"
        TAP_FAILED=1
    fi
}
case_ "bad client secret" "FAIL token: the OAuth client id or secret \(ci/cs" \
    MLC_CLOUDSUITE_IONAPI_FILE="$(ionapi '.cs = "wrong"' badcs)"
case_ "bad service account key" "FAIL token: the service account keys \(saak/sask.*(wrong|revoked)" \
    MLC_CLOUDSUITE_IONAPI_FILE="$(ionapi '.sask = "wrong"' badsask)"
case_ "wrong Mongoose config" "FAIL vendor \(SLVendors\): the Mongoose configuration name is wrong.*cloudsuite.mongoose_config" \
    MLC_CLOUDSUITE_MONGOOSE_CONFIG=NOT_A_CONFIG
case_ "missing Mongoose config" "FAIL Mongoose config: cloudsuite.mongoose_config is not set" \
    MLC_CLOUDSUITE_MONGOOSE_CONFIG=
case_ "unknown IDO" "FAIL po \(SLPOs\): this IDO does not exist.*case-sensitive" \
    MLC_CLOUDSUITE_PO_IDO=SLPOs
case_ "unknown property" "FAIL customer \(SLCustomers\): a property is not in this IDO" \
    MLC_CLOUDSUITE_CUSTOMER_PROPERTIES=CustNum,CustSeq,Nmae
case_ "wrong URL (nothing listening)" "FAIL token: nothing accepts connections.*connection refused" \
    MLC_CLOUDSUITE_IONAPI_FILE="$(ionapi '.iu = "http://127.0.0.1:1" | .pu = "http://127.0.0.1:1/ACME_PRD/as/"' closed)"
case_ "https to a plain http port (TLS)" "FAIL token: the TLS handshake" \
    MLC_CLOUDSUITE_IONAPI_FILE="$(ionapi ".pu = \"https://127.0.0.1:$CS/ACME_PRD/as/\"" tls)"
case_ "broken .ionapi file" "FAIL credentials.*required field 'saak' is missing" \
    MLC_CLOUDSUITE_IONAPI_FILE="$(ionapi 'del(.saak)' nosaak)"
case_ "plain http to a remote host" "FAIL credentials.*field 'iu'" \
    MLC_CLOUDSUITE_IONAPI_FILE="$(ionapi '.iu = "http://ionapi.example.com"' remote)"

# no rights on an IDO: the simulator's service account may not read invoices
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/faults" -d '{"deny_ido":"SLArinvs"}' >/dev/null
case_ "no rights on an IDO" "FAIL invoice \(SLArinvs\): the service account has no rights on this IDO"
check "... the other entities are still ok" test "$(grep -cE '^ok   (vendor|customer|po) ' "$MLC_TMP/ping-no_rights_on_an_IDO.log")" -eq 3
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/faults" -d '{"deny_ido":""}' >/dev/null

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
