#!/usr/bin/env bash
# Encrypted credentials end to end: mlc-secrets makes a master key, imports the tenant's
# .ionapi file and stores the Salesforce client secret (from stdin); the .ionapi file is then
# deleted and the whole pipeline runs on "secret:..." references (cloudsuite.ionapi,
# salesforce.client_secret) with only MLC_MASTER_KEY_FILE in the environment. No secret value
# appears in clear text in any log, the data directory, a process's arguments or environment.
# A wrong key, a damaged store and a missing entry are clear errors.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=300
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
SF_SECRET="sf-secret-$RANDOM$RANDOM-$RANDOM"

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers $N --seed 3 || exit 1
CS=$MLC_LAST_PORT
SFSIM_CLIENT_SECRET=$SF_SECRET mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 \
    --client-id demo-client || exit 1
SF=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG.base" "$CS" "$SF" $TENANT
jq '.cloudsuite.ionapi = "secret:ionapi/ACME_PRD" | del(.cloudsuite.ionapi_file)
    | .salesforce.client_secret = "secret:salesforce/client_secret"' "$CFG.base" >"$CFG"
ION=$MLC_TMP/ionapi/$TENANT.ionapi
CS_SECRET=$(jq -r .cs "$ION")
SAAK=$(jq -r .saak "$ION")
SASK=$(jq -r .sask "$ION")
STORE=$MLC_TMP/data/secrets.enc

# ---- the master key ---------------------------------------------------------------------
(umask 077 && "$BIN/mlc-secrets" keygen >"$MLC_TMP/master_key")
check "mlc-secrets keygen prints a 64-hex-character key" grep -qxE '[0-9a-f]{64}' "$MLC_TMP/master_key"
MASTER=$(cat "$MLC_TMP/master_key")
export MLC_MASTER_KEY_FILE=$MLC_TMP/master_key
unset MLC_MASTER_KEY MLC_SALESFORCE_CLIENT_SECRET

"$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/before.log" 2>&1
rc=$?
check "before the import the extractor exits 1" test $rc -eq 1
check "... naming the key, the secret and the missing store" \
    grep -q "config key 'cloudsuite.ionapi' = secret 'ionapi/ACME_PRD': secret store $STORE does not exist" \
    "$MLC_TMP/before.log"

# ---- import -------------------------------------------------------------------------------
jq 'del(.sask)' "$ION" >"$MLC_TMP/broken.ionapi"
"$BIN/mlc-secrets" --config "$CFG" import-ionapi "$MLC_TMP/broken.ionapi" >"$MLC_TMP/import-bad.log" 2>&1
rc=$?
check "importing a broken .ionapi file fails" test $rc -eq 1
check "... naming the file and the field" grep -q "broken.ionapi: required field 'sask' is missing" "$MLC_TMP/import-bad.log"
check "... and creates no store" test ! -e "$STORE"
check "mlc-secrets import-ionapi stores the tenant's file as ionapi/ACME_PRD" \
    bash -c "'$BIN/mlc-secrets' --config '$CFG' import-ionapi '$ION' >'$MLC_TMP/import.log' 2>&1 && grep -q 'as secret ionapi/ACME_PRD into $STORE' '$MLC_TMP/import.log'"
check "mlc-secrets set reads the Salesforce client secret from stdin" \
    bash -c "printf '%s\n' '$SF_SECRET' | '$BIN/mlc-secrets' --config '$CFG' set salesforce/client_secret >'$MLC_TMP/set.log' 2>&1"
check "mlc-secrets list prints the names only" \
    test "$("$BIN/mlc-secrets" --config "$CFG" list | tr '\n' ' ')" = "ionapi/ACME_PRD salesforce/client_secret "
check "the store file is mode 0600" test "$(stat -c %a "$STORE")" = 600
rm -f "$ION"

# ---- the pipeline on secret references ---------------------------------------------------------
"$BIN/mlc-extractor" --config "$CFG" ping >"$MLC_TMP/ping.log" 2>&1
check "ping works with the credentials from the store" test $? -eq 0
check "... and says where they came from" grep -q "credentials: secret ionapi/ACME_PRD" "$MLC_TMP/ping.log"
mlc_start_pipeline "$CFG"
check "extractor --once succeeds with cloudsuite.ionapi = secret:ionapi/ACME_PRD" \
    bash -c "'$BIN/mlc-extractor' --config '$CFG' --once >>'$MLC_TMP/extractor.log' 2>&1"
accounts_are () { test "$(mlc_sf_stats "$SF" '.records.Account // 0')" -eq "$1"; }
check "the loader authenticates with salesforce.client_secret = secret:... : $N Accounts" \
    mlc_wait_for 60 accounts_are $N
check "the extractor's start-up line names the secret, not a file" \
    grep -q 'EXT_START .*credentials="secret ionapi/ACME_PRD"' "$MLC_TMP/extractor.log"

# secrets nowhere in clear text: process arguments and environments, logs, the data directory
leaks () {
    local pid where=()
    for pid in $(pgrep -f "mlc-(extractor|replayer|transformer|loader) --config $CFG"); do
        where+=("/proc/$pid/cmdline" "/proc/$pid/environ")
    done
    grep -laF -e "$CS_SECRET" -e "$SAAK" -e "$SASK" -e "$SF_SECRET" -e "$MASTER" \
        "${where[@]}" "$MLC_TMP"/*.log $(find "$MLC_TMP/data" -type f) 2>/dev/null
}
mlc_start extractor-loop "$BIN/mlc-extractor" --config "$CFG"
mlc_wait_for 20 grep -q EXT_CYCLE_DONE "$MLC_TMP/extractor-loop.log"
check "the four processes are running (so their arguments and environments can be read)" \
    test "$(pgrep -fc "mlc-(extractor|replayer|transformer|loader) --config $CFG")" -eq 4
echo "control: $SASK" >"$MLC_TMP/control.log"
check "the leak check finds a secret where there is one (control)" test -n "$(leaks)"
rm -f "$MLC_TMP/control.log"
found=$(leaks)
check "no secret value in any argument list, environment, log or file of the data directory" \
    test -z "$found"
[ -n "$found" ] && echo "# leaked into: $found"
check "... and the values are really stored (the store decrypts them)" \
    bash -c "'$BIN/mlc-secrets' --config '$CFG' list | grep -qx salesforce/client_secret"

# ---- errors -----------------------------------------------------------------------------
other=$("$BIN/mlc-secrets" keygen)
MLC_MASTER_KEY_FILE= MLC_MASTER_KEY=$other "$BIN/mlc-extractor" --config "$CFG" --once \
    >"$MLC_TMP/wrongkey.log" 2>&1
rc=$?
check "a wrong master key: the extractor exits 1" test $rc -eq 1
check "... saying the key does not open the store, naming the file" \
    grep -q "master key does not open this store.*$STORE\|$STORE.*master key does not open this store" "$MLC_TMP/wrongkey.log"
check "... never printing a key" bash -c "! grep -qF -e '$other' -e '$MASTER' '$MLC_TMP/wrongkey.log'"
MLC_MASTER_KEY_FILE= "$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/nokey.log" 2>&1
rc=$?
check "no master key: exit 1 saying which variable to set" \
    bash -c "[ $rc -eq 1 ] && grep -q 'no master key: set MLC_MASTER_KEY_FILE' '$MLC_TMP/nokey.log'"
cp "$STORE" "$STORE.good"
jq '.entries["salesforce/client_secret"].ct |= (.[0:8] + (if .[8:9] == "A" then "B" else "A" end) + .[9:])' \
    "$STORE.good" >"$STORE"
"$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/tampered.log" 2>&1
rc=$?
check "a tampered store: exit 1, integrity check failed, naming the file" \
    bash -c "[ $rc -eq 1 ] && grep -q 'secret store $STORE: integrity check failed' '$MLC_TMP/tampered.log'"
cp "$STORE.good" "$STORE"
rm -f "$STORE.good"
check "mlc-secrets delete removes an entry" \
    bash -c "'$BIN/mlc-secrets' --config '$CFG' delete ionapi/ACME_PRD >/dev/null"
"$BIN/mlc-extractor" --config "$CFG" --once >"$MLC_TMP/missing.log" 2>&1
rc=$?
check "a missing entry: exit 1 naming the key, the secret and the store" \
    bash -c "[ $rc -eq 1 ] && grep -q \"config key 'cloudsuite.ionapi': secret 'ionapi/ACME_PRD' is not in the secret store $STORE\" '$MLC_TMP/missing.log'"
check "no temporary files left next to the store" \
    test "$(find "$(dirname "$STORE")" -maxdepth 1 -name 'secrets.enc.tmp*' | wc -l)" -eq 0

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
