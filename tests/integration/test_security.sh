#!/usr/bin/env bash
# ZeroMQ security end to end (issue 7): a full sync with CURVE on every link (keys from
# `mlc-ztool keygen`, kept in the encrypted secret store; transformer and replayer share
# the server keypair and admit only the listed client keys). A stranger with an unlisted key
# cannot inject records (its extractor's envelopes never reach Salesforce; the transformer
# logs ZMQ_AUTH_DENIED) nor replay or purge dead letters over the control socket. Without
# keys a public bind is refused with a clear message. Finally every log, the audit trail and
# dead letters (mlc-replayer export) and the data directory are searched for every secret
# (Salesforce client secret, .ionapi cs/saak/sask, CURVE secret keys, master key): none may
# appear in clear text.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=50
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
SF_SECRET="sf-secret-$RANDOM$RANDOM-$RANDOM"

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers $N --seed 5 || exit 1
CS=$MLC_LAST_PORT
SFSIM_CLIENT_SECRET=$SF_SECRET mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 \
    --client-id demo-client || exit 1
SF=$MLC_LAST_PORT
ION=$MLC_TMP/ionapi/$TENANT.ionapi
CS_SECRET=$(jq -r .cs "$ION")
SAAK=$(jq -r .saak "$ION")
SASK=$(jq -r .sask "$ION")

# ---- keys ---------------------------------------------------------------------------------
keygen () { # NAME: writes NAME.pub and NAME.sec under $MLC_TMP/keys
    mkdir -p "$MLC_TMP/keys"
    "$BIN/mlc-ztool" keygen >"$MLC_TMP/keys/$1.pair" || return 1
    sed -n 's/^public=//p' "$MLC_TMP/keys/$1.pair" >"$MLC_TMP/keys/$1.pub"
    sed -n 's/^secret=//p' "$MLC_TMP/keys/$1.pair" >"$MLC_TMP/keys/$1.sec"
    grep -qxE '.{40}' "$MLC_TMP/keys/$1.pub" && grep -qxE '.{40}' "$MLC_TMP/keys/$1.sec"
}
check "mlc-ztool keygen prints a Z85 CURVE keypair" keygen server
for k in extractor loader operator stranger; do keygen $k || { echo "not ok - keygen $k"; exit 1; }; done
pub () { cat "$MLC_TMP/keys/$1.pub"; }
sec () { cat "$MLC_TMP/keys/$1.sec"; }

CFG=$MLC_TMP/config.json
mlc_write_config "$CFG.base" "$CS" "$SF" $TENANT
jq --arg s "$(pub server)" '.cloudsuite.ionapi = "secret:ionapi/ACME_PRD" | del(.cloudsuite.ionapi_file)
    | .salesforce.client_secret = "secret:salesforce/client_secret"
    | .zmq.curve_server_key = $s' "$CFG.base" >"$CFG"
(umask 077 && "$BIN/mlc-secrets" keygen >"$MLC_TMP/master_key")
MASTER=$(cat "$MLC_TMP/master_key")
export MLC_MASTER_KEY_FILE=$MLC_TMP/master_key
unset MLC_MASTER_KEY MLC_SALESFORCE_CLIENT_SECRET
store_all () {
    "$BIN/mlc-secrets" --config "$CFG" import-ionapi "$ION" >/dev/null &&
    printf '%s\n' "$SF_SECRET" | "$BIN/mlc-secrets" --config "$CFG" set salesforce/client_secret &&
    for k in server extractor loader operator; do
        sec $k | "$BIN/mlc-secrets" --config "$CFG" set "curve/$k" || return 1
    done
}
check "the .ionapi file, the Salesforce secret and the CURVE secret keys go into the store" store_all
CLIENTS="$(pub server),$(pub extractor),$(pub loader),$(pub operator)"

# ---- the pipeline with CURVE ---------------------------------------------------------------
MLC_ZMQ_CURVE_SECRET_KEY=secret:curve/server MLC_ZMQ_CURVE_CLIENTS=$CLIENTS \
    mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
MLC_ZMQ_CURVE_SECRET_KEY=secret:curve/server MLC_ZMQ_CURVE_CLIENTS=$CLIENTS \
    mlc_start transformer "$BIN/mlc-transformer" --config "$CFG"
MLC_ZMQ_CURVE_SECRET_KEY=secret:curve/loader mlc_start loader "$BIN/mlc-loader" --config "$CFG"
extract () { MLC_ZMQ_CURVE_SECRET_KEY=secret:curve/extractor timeout 60 "$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1; }
accounts () { mlc_sf_stats "$SF" '.records.Account // 0'; }
accounts_are () { test "$(accounts)" -eq "$1"; }
has_account () {
    curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" |
        jq -e --arg k "$TENANT:vendor:$1" 'any(.[]; .CloudSuite_Key__c == $k)' >/dev/null
}
check "CURVE sync: the extractor (listed key) polls once" extract
check "CURVE sync: every supplier becomes an Account" mlc_wait_for 60 accounts_are $N
check "the transformer runs with CURVE (TRF_START, no ZMQ_AUTH_DENIED yet)" \
    bash -c "grep -q TRF_START '$MLC_TMP/transformer.log' && ! grep -q ZMQ_AUTH_DENIED '$MLC_TMP/transformer.log'"

# ---- a stranger cannot inject ---------------------------------------------------------------
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -d '{"VendNum":"V777777","Name":"Injected By Stranger"}' >/dev/null
MLC_DATA_DIR=$MLC_TMP/stranger MLC_ZMQ_CURVE_SECRET_KEY=$(sec stranger) \
    timeout 8 "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/stranger-extractor.log" 2>&1
# (a PUSH queues before the handshake, so the tool itself cannot tell; the transformer can)
MLC_CONFIG=$CFG MLC_ZMQ_CURVE_SECRET_KEY=$(sec stranger) timeout 20 \
    "$BIN/mlc-ztool" push "ipc://$MLC_TMP/extract.sock" --garbage 3 >"$MLC_TMP/stranger-push.log" 2>&1
check "the transformer logs ZMQ_AUTH_DENIED for the stranger" grep -q ZMQ_AUTH_DENIED "$MLC_TMP/transformer.log"
check "nothing of the stranger reached the transformer (no TRF_BAD_ENVELOPE)" \
    bash -c "! grep -q TRF_BAD_ENVELOPE '$MLC_TMP/transformer.log'"
sleep 1
no_account () { ! has_account "$1"; }
check "the stranger's record did not reach Salesforce" no_account V777777
check "the listed extractor polls again" extract
check "... and the same record from it reaches Salesforce" mlc_wait_for 30 has_account V777777

# ---- a dead letter; the control channel needs a listed key -----------------------------------
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/schema" -d '{"Account":{"Phone":{"length":20}}}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -d '{"VendNum":"V900001","Name":"Too Long Phone Inc","Phone":"+1 555 0100 0100 0100 0100 0199"}' >/dev/null
extract
dl_id () { "$BIN/mlc-replayer" --config "$CFG" list --json 2>/dev/null | jq -r 'if type == "array" then .[] else . end | select(.code == "STRING_TOO_LONG") | .id' | head -1; }
has_dl () { test -n "$(dl_id)"; }
check "a rejected record becomes a dead letter" mlc_wait_for 30 has_dl
ID=$(dl_id)
replayed () { "$BIN/mlc-replayer" --config "$CFG" stats --json 2>/dev/null | jq -r '.replayed // .stats.replayed // 0'; }
before=$(replayed)
MLC_ZMQ_CURVE_SECRET_KEY=$(sec stranger) timeout 30 "$BIN/mlc-replayer" --config "$CFG" replay "$ID" \
    >"$MLC_TMP/stranger-replay.log" 2>&1
rc=$?
check "a replay with a stranger's key fails (exit $rc)" test $rc -ne 0
check "... the replayer logs ZMQ_AUTH_DENIED" grep -q ZMQ_AUTH_DENIED "$MLC_TMP/replayer.log"
check "... and nothing was replayed" test "$(replayed)" = "$before"
MLC_ZMQ_CURVE_SECRET_KEY=$(sec stranger) timeout 30 "$BIN/mlc-replayer" --config "$CFG" purge "$ID" \
    --reason stranger >"$MLC_TMP/stranger-purge.log" 2>&1
rc=$?
check "a purge with a stranger's key fails (exit $rc)" test $rc -ne 0
check "... the dead letter is still there" test "$(dl_id)" = "$ID"
check "a replay with the operator's listed key succeeds" \
    bash -c "MLC_ZMQ_CURVE_SECRET_KEY=secret:curve/operator '$BIN/mlc-replayer' --config '$CFG' replay '$ID' >'$MLC_TMP/operator-replay.log' 2>&1"
check "a plaintext client cannot reach the CURVE control socket either" \
    bash -c "! timeout 30 '$BIN/mlc-replayer' --config '$CFG.base' replay '$ID' >/dev/null 2>&1"

# ---- without keys, no public bind --------------------------------------------------------------
MLC_ZMQ_EXTRACT_ENDPOINT=tcp://192.0.2.10:15551 MLC_DATA_DIR=$MLC_TMP/public timeout 20 "$BIN/mlc-transformer" \
    --config "$CFG.base" >"$MLC_TMP/public-bind.log" 2>&1
rc=$?
check "without keys the transformer refuses a public bind (exit $rc)" test $rc -eq 1
check "... with a clear message" grep -q "refusing to bind tcp://192.0.2.10:15551 without encryption" \
    "$MLC_TMP/public-bind.log"
MLC_ZMQ_CONTROL_ENDPOINT=tcp://192.0.2.10:15555 MLC_DATA_DIR=$MLC_TMP/public timeout 20 \
    "$BIN/mlc-replayer" --config "$CFG.base" run >"$MLC_TMP/public-bind-rpl.log" 2>&1
check "... so does the replayer for its control socket" \
    grep -q "refusing to bind tcp://192.0.2.10:15555 without encryption" "$MLC_TMP/public-bind-rpl.log"

# ---- no secret in clear text -------------------------------------------------------------------
"$BIN/mlc-replayer" --config "$CFG" export --audit >"$MLC_TMP/export-audit.out" 2>&1
"$BIN/mlc-replayer" --config "$CFG" export >"$MLC_TMP/export-dl.out" 2>&1
check "the audit export is not empty" test -s "$MLC_TMP/export-audit.out"
keep=${KEEP:-0}
KEEP=1 mlc_cleanup # stop everything so the RocksDB files are final
# clear_nowhere VALUE: grep finds VALUE in none of the logs, exports and data files (and
# they exist: grep exits 1, not 2)
clear_nowhere () {
    grep -rqF -- "$1" "$MLC_TMP"/*.log "$MLC_TMP"/*.out "$MLC_TMP/data"
    test $? -eq 1
}
check "the data directory holds the stores" test -d "$MLC_TMP/data/replayer"
for name in SF_SECRET CS_SECRET SAAK SASK MASTER; do
    check "secret $name appears in no log, export or data file" clear_nowhere "${!name}"
done
for k in server extractor loader operator stranger; do
    check "CURVE secret key of $k appears in no log, export or data file" clear_nowhere "$(sec $k)"
done
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
