#!/usr/bin/env bash
# Start-up messages (issue 8, operator's view): a table of broken configurations, one per
# row, each run against the process that reads it; the process must fail (exit != 0, except
# where noted) and say what is wrong with the fix in the words (which setting or variable to
# set, which file to fix, which command tests it). Then a good configuration: every daemon
# logs what it loaded (config file, mapping, entities, orgs) and where it connects. No secret
# ever appears in the output.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
SECRET="it-secret-$RANDOM$RANDOM"

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 5 --seed 3 || exit 1
CS=$MLC_LAST_PORT
CFG=$MLC_TMP/good.json
mlc_write_config "$CFG" "$CS" 1 $TENANT   # Salesforce at 127.0.0.1:1: nothing listens there
jq '.http = {"max_attempts": 1}' "$CFG" >"$MLC_TMP/g.json" && mv "$MLC_TMP/g.json" "$CFG"
# an .ionapi whose hosts are unreachable (port 1)
sed "s|127.0.0.1:$CS|127.0.0.1:1|g" "$MLC_TMP/ionapi/$TENANT.ionapi" >"$MLC_TMP/dead.ionapi"
echo '{"version":1,"entities":{"vendor":{"sobject":3}}}' >"$MLC_TMP/badmap.json"
echo '{"log": {"level": "info",}' >"$MLC_TMP/badjson.json"

# variant NAME JQ: a copy of the good config changed by JQ; prints its path
variant () {
    jq "$2" "$CFG" >"$MLC_TMP/cfg-$1.json" && echo "$MLC_TMP/cfg-$1.json"
}

# row DESC EXPECT_RC PATTERN ENV... -- COMMAND...: runs COMMAND (10 s at most) with the
# environment ENV (VAR=value words), expects exit status EXPECT_RC ("fail": any non-zero)
# and an output (stdout + stderr) matching the extended regex PATTERN.
row () {
    local desc=$1 want=$2 pattern=$3; shift 3
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local out="$MLC_TMP/row.out" rc
    env "${envs[@]}" timeout 20 "$@" >"$out" 2>&1 </dev/null
    rc=$?
    if [ "$want" = fail ]; then [ $rc -ne 0 ] && [ $rc -ne 124 ]; else [ $rc -eq "$want" ]; fi
    local rc_ok=$?
    if [ $rc_ok -eq 0 ] && grep -Eq "$pattern" "$out" && ! grep -qF "$SECRET" "$out"; then
        echo "ok - $desc"
    else
        echo "not ok - $desc (exit $rc; want $want and /$pattern/)"
        head -c 1500 "$out" | sed 's/^/#   /'
        TAP_FAILED=1
    fi
    cat "$out" >>"$MLC_TMP/rows.log"
}
S="MLC_SALESFORCE_CLIENT_SECRET=$SECRET"
X=(--once)

row "missing config file: named, with the reason" fail 'nope\.json: cannot open' $S -- \
    "$BIN/mlc-extractor" --config "$MLC_TMP/nope.json" "${X[@]}"
row "config file that is not JSON: where it breaks" fail 'badjson\.json: invalid JSON near byte' $S -- \
    "$BIN/mlc-loader" --config "$MLC_TMP/badjson.json"
row "replayer, config not JSON: named" fail 'badjson\.json: invalid JSON' -- \
    "$BIN/mlc-replayer" --config "$MLC_TMP/badjson.json"
row "extractor without cloudsuite.mongoose_config: the key and its variable" fail \
    'missing required setting cloudsuite\.mongoose_config \(env MLC_CLOUDSUITE_MONGOOSE_CONFIG\)' $S -- \
    "$BIN/mlc-extractor" --config "$(variant nomongoose 'del(.cloudsuite.mongoose_config)')" "${X[@]}"
row "extractor without any .ionapi: both ways to give it" fail \
    'cloudsuite\.ionapi .*MLC_CLOUDSUITE_IONAPI.* or cloudsuite\.ionapi_file \(env MLC_CLOUDSUITE_IONAPI_FILE\)' $S -- \
    "$BIN/mlc-extractor" --config "$(variant noionapi 'del(.cloudsuite.ionapi_file)')" "${X[@]}"
row "extractor with a missing .ionapi file: where to get one and what to set" fail \
    'gone\.ionapi: cannot open.*download the tenant.s \.ionapi file.*set cloudsuite\.ionapi_file \(env MLC_CLOUDSUITE_IONAPI_FILE\)' $S -- \
    "$BIN/mlc-extractor" --config "$(variant goneionapi ".cloudsuite.ionapi_file = \"$MLC_TMP/gone.ionapi\"")" "${X[@]}"
row "extractor, CloudSuite unreachable: the URL and the fix" fail \
    'EXT_POLL_HINT .*fix="the CloudSuite endpoint is unreachable: check the host in the \.ionapi file' $S -- \
    "$BIN/mlc-extractor" --config "$(variant deadcs ".cloudsuite.ionapi_file = \"$MLC_TMP/dead.ionapi\"")" "${X[@]}"
row "extractor, CloudSuite unreachable: the failed poll names the token URL" fail \
    'EXT_POLL_FAILED .*127\.0\.0\.1:1/' $S -- \
    "$BIN/mlc-extractor" --config "$MLC_TMP/cfg-deadcs.json" "${X[@]}"
row "loader without the client secret: which variable or key to set" fail \
    'set MLC_SALESFORCE_CLIENT_SECRET or salesforce\.client_secret in the config file' -- \
    "$BIN/mlc-loader" --config "$CFG"
row "loader without salesforce.url: which variable or key to set" fail \
    'set MLC_SALESFORCE_URL or salesforce\.url in the config file' $S -- \
    "$BIN/mlc-loader" --config "$(variant nourl 'del(.salesforce.url)')"
row "loader ping, Salesforce unreachable: the org, its URL and the reason" fail \
    'FAILED +org default \(http://127\.0\.0\.1:1\).*(connect|Connect)' $S -- \
    "$BIN/mlc-loader" --config "$CFG" ping
row "transformer with a missing mapping file: the key, its variable, the file" fail \
    'nomap\.json: cannot open.*transformer\.mapping_file \(env MLC_TRANSFORMER_MAPPING_FILE\)' -- \
    "$BIN/mlc-transformer" --config "$(variant nomap ".transformer.mapping_file = \"$MLC_TMP/nomap.json\"")"
row "transformer with a bad mapping: the entity, the field and what to fix" fail \
    "badmap\.json: entity 'vendor': 'sobject' must be a string; fix the file" -- \
    "$BIN/mlc-transformer" --config "$(variant badmap ".transformer.mapping_file = \"$MLC_TMP/badmap.json\"")"

# A good configuration: what was loaded and where each daemon connects.
export MLC_SALESFORCE_CLIENT_SECRET=$SECRET
mlc_start replayer "$BIN/mlc-replayer" --config "$CFG" run
mlc_start transformer "$BIN/mlc-transformer" --config "$CFG"
mlc_start loader "$BIN/mlc-loader" --config "$CFG"
mlc_start extractor "$BIN/mlc-extractor" --config "$CFG"
logged () { grep -Eq "$2" "$MLC_TMP/$1.log"; }
check "extractor: the tenant, the .ionapi source, the token and API URLs, the state" \
    mlc_wait_for 20 logged extractor "EXT_START tenant=$TENANT credentials=\"file [^\"]*$TENANT\.ionapi\" token_url=http://127\.0\.0\.1:$CS/.* api_base=.* state=.*/extractor/$TENANT"
check "extractor: every entity, enabled or not, with its IDO and watermark" \
    mlc_wait_for 20 logged extractor 'EXT_ENTITY .*entity=vendor enabled=1 ido=SLVendors .*watermark=RecordDate'
check "extractor: the config file and its endpoints" \
    mlc_wait_for 20 logged extractor "EXT_READY .*config=$CFG extract_endpoint=ipc://"
check "transformer: the mapping file, its entities and its endpoints" \
    mlc_wait_for 20 logged transformer 'TRF_START mapping=config/mapping\.json entities=[1-9][0-9]* .*extract=ipc://.* load=ipc://'
check "loader: the config file, the Salesforce URL and client id, the endpoints, how to test" \
    mlc_wait_for 20 logged loader "LDR_READY config=$CFG salesforce_url=http://127\.0\.0\.1:1 client_id=demo-client .*load_endpoint=ipc://.*mlc-loader ping"
check "replayer: the config file, its store and its endpoints" \
    mlc_wait_for 20 logged replayer "RPL_LISTENING config=$CFG store=.*/data/replayer events=ipc://"
check "no secret in any start-up output" bash -c "! grep -rqF '$SECRET' '$MLC_TMP'/*.log"

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
