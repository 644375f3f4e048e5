#!/usr/bin/env bash
# run.sh: sanitizer build only (tests/run.sh runs this script once, on the ASan/UBSan build)
# test_cloudsuite_sim.sh: the CloudSuite simulator's interface, over real HTTP with curl and
# jq: .ionapi files, the password/refresh/revoke token flows, IDO LoadCollection (paging,
# filters, errors), tenant isolation, token expiry, admin endpoints, faults and SIGTERM.
# Prints TAP lines; exits non-zero when anything failed. Binaries come from $BIN.
set -u
BIN=${BIN:-build/bin}
SIM="$BIN/cloudsuite-sim"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cssim-test.XXXXXX")
PIDS=()
TESTS=0
FAILED=0

cleanup () {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok () {
    TESTS=$((TESTS + 1))
    echo "ok - $1"
}

not_ok () {
    TESTS=$((TESTS + 1))
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    for line in "$@"; do
        echo "#   $line"
    done
}

# check NAME COMMAND...: one TAP line from the command's exit status.
check () {
    local name=$1
    shift
    if "$@" >/dev/null; then
        ok "$name"
    else
        not_ok "$name" "command: $*"
    fi
}

# expect_eq NAME GOT WANT
expect_eq () {
    if [ "$2" == "$3" ]; then
        ok "$1"
    else
        not_ok "$1" "got:  $2" "want: $3"
    fi
}

if [ ! -x "$SIM" ]; then
    not_ok "cloudsuite-sim binary at $SIM"
    echo "1..$TESTS"
    exit 1
fi
for tool in curl jq; do
    if ! command -v "$tool" >/dev/null; then
        not_ok "$tool is installed"
        echo "1..$TESTS"
        exit 1
    fi
done

# start_sim NAME ARGS...: starts the simulator, waits for its listening line; sets PORT, PID.
start_sim () {
    local name=$1
    shift
    "$SIM" --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    PIDS+=("$PID")
    PORT=
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$TMP/$name.out")
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "# $name did not start:"
    sed 's/^/#   /' "$TMP/$name.err"
    return 1
}

ION="$TMP/ion"
if start_sim main --tenant ACME_PRD --tenant BETA_TST --ionapi-dir "$ION" --seed 42 \
        --seed-suppliers 100 --seed-customers 60 --seed-invoices 300 --seed-pos 120; then
    ok "simulator starts with two tenants on a free port"
else
    not_ok "simulator starts with two tenants on a free port"
    echo "1..$TESTS"
    exit 1
fi
MAIN_PID=$PID
BASE="http://127.0.0.1:$PORT"
CURL=(curl -s --max-time 20)

# ---------------------------------------------------------------- .ionapi files
for ti in ACME_PRD BETA_TST; do
    f="$ION/$ti.ionapi"
    check "$ti.ionapi is valid JSON with every field" jq -e --arg ti "$ti" --arg iu "$BASE" '
        . as $in
        | (["ti","cn","ci","cs","iu","pu","oa","ot","or","saak","sask"]
            | all(. as $k | ($in[$k] | type == "string" and length > 0)))
        and .ti == $ti and .iu == $iu and .pu == ($iu + "/" + $ti + "/as/")
        and .ot == "token.oauth2" and .or == "revoke_token.oauth2"
        and (.saak | contains("#")) and (.ci | startswith($ti + "~"))' "$f"
    expect_eq "$ti.ionapi has mode 0600" "$(stat -c %a "$f" 2>/dev/null)" "600"
done
check "tenants have different credentials" \
    test "$(jq -r .sask "$ION/ACME_PRD.ionapi")" != "$(jq -r .sask "$ION/BETA_TST.ionapi")"

# ---------------------------------------------------------------- tokens
# token TI [FIELD=VALUE overrides...]: password grant, prints the response body.
token () {
    local f="$ION/$1.ionapi"
    shift
    local -A v=([grant_type]=password [username]="$(jq -r .saak "$f")"
                [password]="$(jq -r .sask "$f")" [client_id]="$(jq -r .ci "$f")"
                [client_secret]="$(jq -r .cs "$f")")
    local kv
    for kv in "$@"; do
        v[${kv%%=*}]=${kv#*=}
    done
    local args=() k
    for k in grant_type username password client_id client_secret; do
        args+=(--data-urlencode "$k=${v[$k]}")
    done
    "${CURL[@]}" -w '\n%{http_code}' -X POST "$(jq -r '.pu + .ot' "$f")" "${args[@]}"
}

resp=$(token ACME_PRD)
body=${resp%$'\n'*}
expect_eq "password grant with the form-encoded saak answers 200" "${resp##*$'\n'}" "200"
check "token response has access_token, Bearer, expires_in 7200, refresh_token" \
    jq -e '(.access_token | length > 0) and .token_type == "Bearer" and .expires_in == 7200
           and (.refresh_token | length > 0)' <<<"$body"
TOK_A=$(jq -r .access_token <<<"$body")
REFRESH_A=$(jq -r .refresh_token <<<"$body")
TOK_B=$(token BETA_TST | head -n1 | jq -r .access_token)

resp=$(token ACME_PRD password=wrong)
expect_eq "wrong sask is refused with 400" "${resp##*$'\n'}" "400"
check "wrong sask says invalid_grant" jq -e '.error == "invalid_grant"' <<<"${resp%$'\n'*}"
resp=$(token ACME_PRD client_secret=wrong)
expect_eq "wrong client secret is refused with 401" "${resp##*$'\n'}" "401"
check "wrong client secret says invalid_client" jq -e '.error == "invalid_client"' <<<"${resp%$'\n'*}"
resp=$(token BETA_TST username="$(jq -r .saak "$ION/ACME_PRD.ionapi")" \
    password="$(jq -r .sask "$ION/ACME_PRD.ionapi")")
expect_eq "tenant A's service account is refused on tenant B's token endpoint" \
    "${resp##*$'\n'}" "400"

f="$ION/ACME_PRD.ionapi"
code=$("${CURL[@]}" -o "$TMP/basic.json" -w '%{http_code}' -X POST "$(jq -r '.pu + .ot' "$f")" \
    -u "$(jq -r .ci "$f"):$(jq -r .cs "$f")" --data-urlencode grant_type=password \
    --data-urlencode "username=$(jq -r .saak "$f")" --data-urlencode "password=$(jq -r .sask "$f")")
expect_eq "client id/secret as HTTP Basic is accepted" "$code" "200"

code=$("${CURL[@]}" -o "$TMP/refresh.json" -w '%{http_code}' -X POST "$(jq -r '.pu + .ot' "$f")" \
    --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$REFRESH_A" \
    --data-urlencode "client_id=$(jq -r .ci "$f")" --data-urlencode "client_secret=$(jq -r .cs "$f")")
expect_eq "refresh_token grant answers 200" "$code" "200"
TOK_R=$(jq -r .access_token "$TMP/refresh.json")
check "refresh grant issues a new access token" test -n "$TOK_R" -a "$TOK_R" != "$TOK_A"

# ---------------------------------------------------------------- IDO loads
# load TI TOKEN IDO [curl args...]: GET LoadCollection, prints the body.
load () {
    local ti=$1 tok=$2 ido=$3
    shift 3
    "${CURL[@]}" -G "$BASE/$ti/CSI/IDORequestService/ido/load/$ido" \
        -H "Authorization: Bearer $tok" -H "X-Infor-MongooseConfig: CSI_DEMO" "$@"
}
# status TI TOKEN IDO [curl args...]: the HTTP status of a load.
status () {
    local ti=$1 tok=$2 ido=$3
    shift 3
    "${CURL[@]}" -o /dev/null -w '%{http_code}' -G "$BASE/$ti/CSI/IDORequestService/ido/load/$ido" \
        -H "Authorization: Bearer $tok" -H "X-Infor-MongooseConfig: CSI_DEMO" "$@"
}

body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode recordcap=5)
check "v2 response shape: Items, Bookmark, MoreRowsExist, Success, Message" jq -e '
    (.Items | length == 5) and (.Bookmark | startswith("<B>")) and .MoreRowsExist == true
    and .Success == true and .Message == null
    and (.Items | all(to_entries | all(.value | type == "string")))
    and (.Items[0]._ItemId | startswith("PBT=[vendor]")) and .Items[0].VendNum == "V000001"' <<<"$body"
check "RecordDate is YYYY-MM-DD HH:MM:SS.fff" jq -e '.Items | all(.RecordDate |
    test("^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}$"))' <<<"$body"
check "readonly=true drops _ItemId" jq -e '.Items | all(has("_ItemId") | not)' \
    <<<"$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode recordcap=3 --data-urlencode readonly=true)"
check "refreshed access token works" jq -e '.Success' <<<"$(load ACME_PRD "$TOK_R" SLVendors -d recordcap=1)"

# page TI TOKEN IDO KEYEXPR [curl args...]: pages with recordcap 7 until MoreRowsExist is
# false; prints one key per line. Calls hook_after_page N (if defined) after each page.
page () {
    local ti=$1 tok=$2 ido=$3 keyexpr=$4
    shift 4
    local bm="" lt=FIRST n=0 body
    while :; do
        body=$(load "$ti" "$tok" "$ido" --data-urlencode recordcap=7 --data-urlencode "loadtype=$lt" \
            --data-urlencode "bookmark=$bm" "$@")
        if ! jq -e .Success <<<"$body" >/dev/null; then
            echo "PAGE-ERROR $body"
            return 1
        fi
        jq -r ".Items[] | $keyexpr" <<<"$body"
        n=$((n + 1))
        declare -F hook_after_page >/dev/null && hook_after_page "$n"
        [ "$(jq -r .MoreRowsExist <<<"$body")" == true ] || break
        bm=$(jq -r .Bookmark <<<"$body")
        lt=NEXT
        [ "$n" -lt 1000 ] || return 1
    done
}

stats () { "${CURL[@]}" "$BASE/__sim/stats"; }
n_vendors=$(stats | jq '.tenants.ACME_PRD.records.SLVendors')
expect_eq "stats count the seeded vendors" "$n_vendors" "100"
page ACME_PRD "$TOK_A" SLVendors .VendNum >"$TMP/vendors.txt"
expect_eq "paging SLVendors with recordcap 7 returns every vendor" "$(wc -l <"$TMP/vendors.txt")" "100"
expect_eq "... each exactly once" "$(sort -u "$TMP/vendors.txt" | wc -l)" "100"

page ACME_PRD "$TOK_A" SLCustomers '.CustNum + "/" + .CustSeq' >"$TMP/cust.txt"
expect_eq "paging SLCustomers (composite key) returns every row once" \
    "$(sort -u "$TMP/cust.txt" | wc -l)/$(wc -l <"$TMP/cust.txt")" \
    "$(stats | jq '.tenants.ACME_PRD.records.SLCustomers')/$(stats | jq '.tenants.ACME_PRD.records.SLCustomers')"

page ACME_PRD "$TOK_A" SLPos '.PoNum' --data-urlencode "orderby=RecordDate DESC, Whse" >"$TMP/pos.txt"
expect_eq "paging SLPos ordered by RecordDate DESC returns every row once" \
    "$(sort -u "$TMP/pos.txt" | wc -l)/$(wc -l <"$TMP/pos.txt")" "120/120"
all=$(load ACME_PRD "$TOK_A" SLPos -d recordcap=0 --data-urlencode "properties=RecordDate")
check "orderby RecordDate DESC pages come in descending order" test "$(
    page ACME_PRD "$TOK_A" SLPos '.RecordDate' --data-urlencode "orderby=RecordDate DESC" | tr '\n' ,)" \
    == "$(jq -r '[.Items[].RecordDate] | sort | reverse | join(",")' <<<"$all"),"

# Records added between pages: one before the bookmark (not seen, it is behind us) and
# one after (seen once); nothing repeats.
hook_after_page () {
    if [ "$1" -eq 3 ]; then
        "${CURL[@]}" -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" \
            -d '{"VendNum":"V000001A","Name":"Behind The Bookmark Inc."}' >/dev/null
        "${CURL[@]}" -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" \
            -d '{"VendNum":"V999999","Name":"Ahead Of The Bookmark LLC"}' >/dev/null
    fi
}
page ACME_PRD "$TOK_A" SLVendors .VendNum >"$TMP/vendors2.txt"
unset -f hook_after_page
expect_eq "inserts while paging: no duplicates, the later key seen once" \
    "$(sort -u "$TMP/vendors2.txt" | wc -l)/$(wc -l <"$TMP/vendors2.txt")/$(grep -c '^V999999$' "$TMP/vendors2.txt")" \
    "101/101/1"

# ---------------------------------------------------------------- filters
all=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "properties=VendNum,RecordDate")
expect_eq "recordcap=0 returns all rows" "$(jq '.Items | length' <<<"$all")/$(jq .MoreRowsExist <<<"$all")" "102/false"
cut=$(jq -r '[.Items[].RecordDate] | sort | .[60]' <<<"$all")
want=$(jq --arg c "$cut" '[.Items[] | select(.RecordDate > $c)] | length' <<<"$all")
got=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "filter=RecordDate > '$cut'")
expect_eq "filter RecordDate > '...' returns exactly the newer rows" \
    "$(jq '.Items | length' <<<"$got")/$(jq --arg c "$cut" '[.Items[] | select(.RecordDate <= $c)] | length' <<<"$got")" \
    "$want/0"
got=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "filter=RecordDate >= '$cut'")
expect_eq "filter RecordDate >= includes the boundary row" "$(jq '.Items | length' <<<"$got")" "$((want + 1))"
day=${cut:0:10}
want=$(jq --arg d "$day" '[.Items[] | select(.RecordDate < $d)] | length' <<<"$all")
got=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "filter=RecordDate < '$day' AND VendNum <> 'V000003'")
want2=$(jq --arg d "$day" '[.Items[] | select(.RecordDate < $d and .VendNum != "V000003")] | length' <<<"$all")
expect_eq "date-only literal and AND with <>" "$(jq '.Items | length' <<<"$got")" "$want2"
got=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "filter=VendNum >= 'V000010' AND VendNum <= 'V000019'")
expect_eq "filter on text key with >= and <=" "$(jq '.Items | length' <<<"$got")" "10"
got=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "filter=VendNum = 'V000042'")
expect_eq "filter with =" "$(jq -r '[.Items[].VendNum] | join(",")' <<<"$got")" "V000042"

body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode "filter=RecordDate >> 'x'")
check "unparsable filter -> Success:false 'Invalid filter'" \
    jq -e '.Success == false and (.Message | test("invalid filter"; "i"))' <<<"$body"
body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode "filter=NoSuchProp = 'x'")
check "filter on an unknown property -> Success:false naming it" \
    jq -e '.Success == false and (.Message | contains("NoSuchProp"))' <<<"$body"
body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode "filter=RecordDate > 'yesterday'")
check "bad datetime literal -> Success:false" jq -e '.Success == false' <<<"$body"

# ---------------------------------------------------------------- errors
body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode "properties=VendNum,Bogus")
check "unknown property -> Success:false with a Message naming it" \
    jq -e '.Success == false and (.Message | contains("Bogus"))' <<<"$body"
body=$(load ACME_PRD "$TOK_A" SLNoSuchIdo)
check "unknown IDO -> Success:false" jq -e '.Success == false and (.Message | contains("SLNoSuchIdo"))' <<<"$body"
body=$("${CURL[@]}" -G "$BASE/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" \
    -H "Authorization: Bearer $TOK_A")
check "missing X-Infor-MongooseConfig -> Success:false about the configuration" \
    jq -e '.Success == false and (.Message | test("configuration"; "i"))' <<<"$body"
body=$("${CURL[@]}" -G "$BASE/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" \
    -H "Authorization: Bearer $TOK_A" -H "X-Infor-MongooseConfig: WRONG_CFG")
check "wrong Mongoose configuration -> Success:false naming it" \
    jq -e '.Success == false and (.Message | contains("WRONG_CFG"))' <<<"$body"
body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode "loadtype=NEXT" --data-urlencode "bookmark=<B>garbage")
check "malformed bookmark -> Success:false" jq -e '.Success == false' <<<"$body"
expect_eq "tenant A's token on tenant B's path -> 401" "$(status BETA_TST "$TOK_A" SLVendors)" "401"
expect_eq "tenant B's token on its own path -> 200" "$(status BETA_TST "$TOK_B" SLVendors)" "200"
expect_eq "no token -> 401" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' \
    "$BASE/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" -H "X-Infor-MongooseConfig: CSI_DEMO")" "401"
expect_eq "garbage token -> 401" "$(status ACME_PRD garbage SLVendors)" "401"

# ---------------------------------------------------------------- data rules
a=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=3 --data-urlencode properties=Name)
b=$(load BETA_TST "$TOK_B" SLVendors -d recordcap=3 --data-urlencode properties=Name)
check "tenants have different data" test "$a" != "$b"
custs=$(load ACME_PRD "$TOK_A" SLCustomers -d recordcap=0 --data-urlencode "properties=CustNum,CustSeq,Name,CustType")
vends=$(load ACME_PRD "$TOK_A" SLVendors -d recordcap=0 --data-urlencode "properties=VendNum,Name")
check "C000010 is the same company as V000001 (same Name)" test \
    "$(jq -r '.Items[] | select(.CustNum == "C000010" and .CustSeq == "0") | .Name' <<<"$custs")" == \
    "$(jq -r '.Items[] | select(.VendNum == "V000001") | .Name' <<<"$vends")"
check "some customers are individuals (CustType IND, a person's name)" jq -e \
    '[.Items[] | select(.CustType == "IND")] | length > 0 and all(.Name | test("^[A-Z][a-z]+ [A-Z]"))' <<<"$custs"
check "some customers have ship-to rows (CustSeq > 0)" jq -e \
    '[.Items[] | select(.CustSeq != "0")] | length > 0' <<<"$custs"
invs=$(load ACME_PRD "$TOK_A" SLArinvs -d recordcap=0 --data-urlencode "properties=CustNum,PaidInFull")
check "every invoice references an existing customer" jq -e -n \
    --argjson c "$custs" --argjson i "$invs" \
    '([$c.Items[].CustNum] | unique) as $known | [$i.Items[].CustNum] | all(. as $x | $known | index($x))'
check "some invoices are paid and some are not" jq -e \
    '[.Items[].PaidInFull] | (index("1") != null) and (index("0") != null)' <<<"$invs"
pos=$(load ACME_PRD "$TOK_A" SLPos -d recordcap=0 --data-urlencode "properties=VendNum")
check "every PO references an existing vendor" jq -e -n --argjson v "$vends" --argjson p "$pos" \
    '([$v.Items[].VendNum]) as $known | [$p.Items[].VendNum] | all(. as $x | $known | index($x))'

# ---------------------------------------------------------------- admin
before=$(stats | jq '.tenants.ACME_PRD.records.SLVendors')
resp=$("${CURL[@]}" -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" \
    -d '{"VendNum":"V900001","Name":"Newly Added Supplier GmbH","VadCity":"Munich","VadCountry":"DE"}')
check "admin insert answers inserted" jq -e '.action == "inserted" and .record.VendNum == "V900001"' <<<"$resp"
expect_eq "admin insert counts in stats" "$(stats | jq '.tenants.ACME_PRD.records.SLVendors')" "$((before + 1))"
maxdate=$(jq -r '[.Items[] | select(.VendNum != "V900001") | .RecordDate] | max' <<<"$all")
body=$(load ACME_PRD "$TOK_A" SLVendors --data-urlencode "filter=RecordDate > '$maxdate'")
check "the new record shows up as newer than every seeded one" \
    jq -e '[.Items[].VendNum] | index("V900001") != null' <<<"$body"
resp=$("${CURL[@]}" -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" -d '{"VendNum":"V000005","Phone":"555-0100"}')
check "admin update keeps other values and moves RecordDate" jq -e --arg m "$maxdate" \
    '.action == "updated" and .record.Phone == "555-0100" and (.record.Name | length > 0)
     and .record.RecordDate > $m' <<<"$resp"
expect_eq "admin update of a key that differs only in case updates, not inserts" \
    "$("${CURL[@]}" -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" -d '{"VendNum":"v000005"}' | jq -r .action)" "updated"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" -d '{"Nope":"x","VendNum":"V1"}')
expect_eq "admin insert with an unknown property -> 400" "$code" "400"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$BASE/__sim/ACME_PRD/records/SLVendors" -d '{"Name":"no key"}')
expect_eq "admin insert without the key -> 400" "$code" "400"
check "the other tenant did not get the record" test \
    "$(stats | jq '.tenants.BETA_TST.records.SLVendors')" == 100

# ---------------------------------------------------------------- revoke, expire-tokens
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$(jq -r '.pu + .or' "$f")" \
    --data-urlencode "token=$REFRESH_A" --data-urlencode token_type_hint=refresh_token \
    --data-urlencode "client_id=$(jq -r .ci "$f")" --data-urlencode "client_secret=$(jq -r .cs "$f")")
expect_eq "revoke answers 200" "$code" "200"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$(jq -r '.pu + .ot' "$f")" \
    --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$REFRESH_A" \
    --data-urlencode "client_id=$(jq -r .ci "$f")" --data-urlencode "client_secret=$(jq -r .cs "$f")")
expect_eq "a revoked refresh token is refused" "$code" "400"
expect_eq "access tokens of a revoked grant -> 401" "$(status ACME_PRD "$TOK_A" SLVendors)" "401"
expect_eq "tenant B's token still works" "$(status BETA_TST "$TOK_B" SLVendors)" "200"
"${CURL[@]}" -X POST "$BASE/__sim/BETA_TST/expire-tokens" >/dev/null
expect_eq "expire-tokens -> 401 for the tenant's tokens" "$(status BETA_TST "$TOK_B" SLVendors)" "401"

# ---------------------------------------------------------------- faults
TOK_A=$(token ACME_PRD | head -n1 | jq -r .access_token)
"${CURL[@]}" -X POST "$BASE/__sim/faults" -d '{"fault_429":1,"retry_after":3}' >/dev/null
hdr=$("${CURL[@]}" -D - -o /dev/null -G "$BASE/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" \
    -H "Authorization: Bearer $TOK_A" -H "X-Infor-MongooseConfig: CSI_DEMO" | tr -d '\r')
check "fault_429=1: 429 with Retry-After: 3" grep -qiE '^HTTP/[0-9.]+ 429|^retry-after: 3$' <<<"$hdr"
check "... both the status and the header" test "$(grep -ciE '^HTTP/[0-9.]+ 429|^retry-after: 3$' <<<"$hdr")" -eq 2
expect_eq "fault_429 applies to token requests too" "$(token ACME_PRD | tail -n1)" "429"
"${CURL[@]}" -X POST "$BASE/__sim/faults" -d '{"fault_429":0,"fault_5xx":1,"retry_after":null}' >/dev/null
hdr=$("${CURL[@]}" -D - -o "$TMP/5xx.html" -G "$BASE/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" \
    -H "Authorization: Bearer $TOK_A" -H "X-Infor-MongooseConfig: CSI_DEMO" | tr -d '\r')
check "fault_5xx=1: a 500/503/504 with an HTML page" \
    grep -qE '^HTTP/[0-9.]+ (500|503|504)' <<<"$hdr"
check "... the body is HTML" grep -q '<html>' "$TMP/5xx.html"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$BASE/__sim/faults" -d '{"fault_429":2}')
expect_eq "out-of-range fault rate -> 400" "$code" "400"
"${CURL[@]}" -X POST "$BASE/__sim/faults" -d '{"fault_429":0.5,"fault_5xx":0}' >/dev/null
codes=$(for _ in $(seq 1 40); do status ACME_PRD "$TOK_A" SLVendors -d recordcap=1; echo; done | sort | uniq -c)
check "fault_429=0.5: some 200 and some 429" test "$(grep -cE ' (200|429)$' <<<"$codes")" -eq 2
"${CURL[@]}" -X POST "$BASE/__sim/faults" -d '{"fault_429":0,"fault_5xx":0,"fault_bad_body":1}' >/dev/null
bodies=$(for _ in $(seq 1 12); do
    "${CURL[@]}" -w ' %{http_code}' -G "$BASE/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" \
        -H "Authorization: Bearer $TOK_A" -H "X-Infor-MongooseConfig: CSI_DEMO" | tr -d '\n'; echo; done)
check "fault_bad_body=1: every load answers 200 with a body that is not a LoadCollection response" \
    test "$(grep -c ' 200$' <<<"$bodies")" -eq 12 -a "$(grep -c Success <<<"$bodies")" -eq 0
check "... HTML sign-in pages, cut JSON and plain text" \
    test "$(grep -cE 'Sign|Northwind Me|upstream' <<<"$bodies")" -eq 12
expect_eq "fault_bad_body does not apply to token requests" "$(token ACME_PRD | tail -n1)" "200"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$BASE/__sim/faults" -d '{"fault_429":0.5,"fault_bad_body":0.6}')
expect_eq "fault rates adding up to more than 1 -> 400" "$code" "400"
"${CURL[@]}" -X POST "$BASE/__sim/faults" -d '{"fault_bad_body":0,"deny_ido":"SLArinvs,SLPos"}' >/dev/null
denied=$(load ACME_PRD "$TOK_A" SLArinvs -d recordcap=1)
check "deny_ido: Success false naming the missing Read permission" \
    jq -e '.Success == false and (.Message | test("Read permission for IDO .SLArinvs."))' <<<"$denied"
expect_eq "deny_ido: other IDOs still load" "$(status ACME_PRD "$TOK_A" SLVendors -d recordcap=1)" "200"
"${CURL[@]}" -X POST "$BASE/__sim/faults" -d '{"deny_ido":""}' >/dev/null
expect_eq "deny_ido cleared: the IDO loads again" \
    "$(load ACME_PRD "$TOK_A" SLArinvs -d recordcap=1 | jq -r .Success)" "true"
st=$(stats)
check "stats count token requests, data requests and throttled per tenant" jq -e '
    .tenants.ACME_PRD.token_requests >= 6 and .tenants.ACME_PRD.data_requests > 20
    and .tenants.ACME_PRD.throttled >= 2 and .tenants.BETA_TST.token_requests >= 2
    and .tenants.ACME_PRD.bad_bodies == 12 and .tenants.ACME_PRD.denied == 1' <<<"$st"

# ---------------------------------------------------------------- token TTL, determinism, SIGTERM
ION2="$TMP/ion2"
if start_sim ttl --tenant ACME_PRD --ionapi-dir "$ION2" --seed 42 --seed-suppliers 100 \
        --token-ttl 1 --mongoose-config OTHER_CFG; then
    ok "second simulator starts with --token-ttl 1"
    TTL_PID=$PID
    f2="$ION2/ACME_PRD.ionapi"
    tok=$("${CURL[@]}" -X POST "$(jq -r '.pu + .ot' "$f2")" --data-urlencode grant_type=password \
        --data-urlencode "username=$(jq -r .saak "$f2")" --data-urlencode "password=$(jq -r .sask "$f2")" \
        --data-urlencode "client_id=$(jq -r .ci "$f2")" --data-urlencode "client_secret=$(jq -r .cs "$f2")")
    check "token says expires_in 1" jq -e '.expires_in == 1' <<<"$tok"
    tok=$(jq -r .access_token <<<"$tok")
    url="http://127.0.0.1:$PORT/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors"
    pick=(--data-urlencode "filter=VendNum IN ('V000001', 'V000002', 'V000077')" --data-urlencode "properties=*")
    first=$("${CURL[@]}" -G "$url" "${pick[@]}" -H "Authorization: Bearer $tok" \
        -H "X-Infor-MongooseConfig: OTHER_CFG")
    check "--mongoose-config names the accepted configuration" jq -e .Success <<<"$first"
    same=$(load ACME_PRD "$(token ACME_PRD | head -n1 | jq -r .access_token)" SLVendors "${pick[@]}")
    check "the same seed and tenant give the same data" test \
        "$(jq -c '.Items' <<<"$first")" == "$(jq -c '.Items' <<<"$same")"
    check "... three vendors compared" jq -e '.Items | length == 3' <<<"$first"
    sleep 2
    code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$url" -H "Authorization: Bearer $tok" \
        -H "X-Infor-MongooseConfig: OTHER_CFG")
    expect_eq "an expired token -> 401" "$code" "401"
    kill -TERM "$TTL_PID"
    wait "$TTL_PID"
    expect_eq "SIGTERM: exit status 0" "$?" "0"
else
    not_ok "second simulator starts with --token-ttl 1"
fi
# ---------------------------------------------------------------- --public-url (compose)
ION3="$TMP/ion3"
if start_sim pub --tenant ACME_PRD --ionapi-dir "$ION3" --seed-suppliers 1 \
        --public-url http://cloudsuite-sim:8080/; then
    PUB_PID=$PID
    for _ in $(seq 1 100); do [ -f "$ION3/ACME_PRD.ionapi" ] && break; sleep 0.05; done
    check "--public-url: the .ionapi file's iu and pu point at it" jq -e '
        .iu == "http://cloudsuite-sim:8080" and .pu == "http://cloudsuite-sim:8080/ACME_PRD/as/"' \
        "$ION3/ACME_PRD.ionapi"
    kill -TERM "$PUB_PID"
    wait "$PUB_PID"
else
    not_ok "simulator starts with --public-url"
fi
"$SIM" --listen 127.0.0.1:0 --tenant T --ionapi-dir "$TMP/x" --public-url ftp://x >/dev/null 2>&1
expect_eq "bad --public-url: exit status 1" "$?" "1"
kill -TERM "$MAIN_PID"
wait "$MAIN_PID"
expect_eq "SIGTERM on the two-tenant simulator: exit status 0" "$?" "0"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP"/*.err; then
    not_ok "no sanitizer reports in the simulators' stderr" \
        "$(grep -hE -A3 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP"/*.err | head -20)"
else
    ok "no sanitizer reports in the simulators' stderr"
fi
check "no secrets in the simulator's log" bash -c \
    "! grep -qF -e '$(jq -r .sask "$ION/ACME_PRD.ionapi")' -e '$(jq -r .cs "$ION/ACME_PRD.ionapi")' '$TMP/main.err'"

"$SIM" --listen 127.0.0.1:0 --ionapi-dir "$TMP/x" >/dev/null 2>&1
expect_eq "missing --tenant: exit status 2" "$?" "2"
"$SIM" --listen 127.0.0.1:0 --tenant T --ionapi-dir "$TMP/x" --fault-429 1.5 >/dev/null 2>&1
expect_eq "bad --fault-429: exit status 2" "$?" "2"

echo "1..$TESTS"
[ "$FAILED" -eq 0 ]
