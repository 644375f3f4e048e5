#!/usr/bin/env bash
# run.sh: sanitizer build only (tests/run.sh runs this script once, on the ASan/UBSan build)
# Integration test of salesforce-sim over real HTTP (curl + jq). Prints TAP lines and exits
# non-zero on any failure. BIN: directory of the binaries (default build/bin).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
SIM=$BIN/salesforce-sim
TMP=$(mktemp -d)
PIDS=()
FAILED=0
N=0

cleanup () {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

ok () { N=$((N + 1)); echo "ok $N - $1"; }
not_ok () { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; [ $# -gt 1 ] && echo "# $2"; }
check () { # check "description" test-command...
    local d=$1; shift
    if "$@" >/dev/null; then ok "$d"; else not_ok "$d" "failed: $*"; fi
}
eq () { [ "$1" = "$2" ] || { echo "# expected [$2] got [$1]" >&2; return 1; }; }

for tool in curl jq; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool is required"; exit 1; }
done
[ -x "$SIM" ] || { echo "not ok 1 - $SIM not built"; exit 1; }

# start_sim NAME args... : starts the simulator, sets URL_<NAME> and PID_<NAME>
start_sim () {
    local name=$1; shift
    "$SIM" --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$TMP/$name.out")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "not ok - $name did not start: $(cat "$TMP/$name.err")"; exit 1; }
    printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
    printf -v "PID_$name" '%s' "$pid"
}

start_sim main --client-id cid --client-secret s3cret --seed 7
U=$URL_main
V=$U/services/data/v62.0

# --- OAuth --------------------------------------------------------------------------------
curl -s -X POST "$U/services/oauth2/token" -d grant_type=client_credentials -d client_id=cid \
    -d client_secret=s3cret >"$TMP/tok.json"
check "token: success has exactly the Salesforce keys" \
    eq "$(jq -c 'keys' "$TMP/tok.json")" '["access_token","id","instance_url","issued_at","scope","signature","token_type"]'
check "token: access_token 00D...! , Bearer, instance_url, issued_at in ms" \
    jq -e --arg u "$U" '(.access_token | test("^00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]+$")) and .token_type == "Bearer"
        and .instance_url == $u and (.issued_at | test("^[0-9]{13}$")) and .scope == "api"' "$TMP/tok.json"
TOKEN=$(jq -r .access_token "$TMP/tok.json")
AUTH="Authorization: Bearer $TOKEN"
check "token: HTTP Basic credentials accepted" \
    eq "$(curl -s -u cid:s3cret -X POST "$U/services/oauth2/token" -d grant_type=client_credentials | jq -r .token_type)" Bearer
check "token: wrong client id -> invalid_client_id" \
    eq "$(curl -s -w ' %{http_code}' -X POST "$U/services/oauth2/token" -d grant_type=client_credentials -d client_id=nope -d client_secret=s3cret)" \
    '{"error":"invalid_client_id","error_description":"client identifier invalid"} 400'
check "token: wrong secret -> invalid_client" \
    eq "$(curl -s -w ' %{http_code}' -X POST "$U/services/oauth2/token" -d grant_type=client_credentials -d client_id=cid -d client_secret=bad)" \
    '{"error":"invalid_client","error_description":"invalid client credentials"} 400'
check "token: other grant -> unsupported_grant_type" \
    eq "$(curl -s -X POST "$U/services/oauth2/token" -d grant_type=password -d client_id=cid | jq -r .error)" unsupported_grant_type

# --- Auth, versions, limits header -----------------------------------------------------------
curl -s -D "$TMP/h401" -o "$TMP/b401" "$V/limits" -H "Authorization: Bearer 00Dbogus!token"
check "bad token -> 401 INVALID_SESSION_ID with WWW-Authenticate: Token" \
    bash -c "grep -q '^HTTP/1.1 401' $TMP/h401 && grep -qi '^WWW-Authenticate: Token' $TMP/h401 &&
             [ \"\$(cat $TMP/b401)\" = '[{\"message\":\"Session expired or invalid\",\"errorCode\":\"INVALID_SESSION_ID\"}]' ]"
check "versions list has v62.0" \
    eq "$(curl -s "$U/services/data/" | jq -r '.[] | select(.version == "62.0") | .url')" /services/data/v62.0
curl -s -D "$TMP/hlim" -o "$TMP/blim" "$V/limits" -H "$AUTH"
check "Sforce-Limit-Info: api-usage=USED/MAX on responses" \
    grep -qiE '^Sforce-Limit-Info: api-usage=[0-9]+/1000000' "$TMP/hlim"
check "limits: DailyApiRequests Max/Remaining" \
    jq -e '.DailyApiRequests.Max == 1000000 and (.DailyApiRequests.Remaining | type) == "number"' "$TMP/blim"

# --- describe -----------------------------------------------------------------------------
curl -s "$V/sobjects/Account/describe" -H "$AUTH" >"$TMP/desc.json"
check "describe Account: name, keyPrefix, Name required 255, external ID unique" \
    jq -e '.name == "Account" and .keyPrefix == "001"
        and (.fields[] | select(.name == "Name") | .type == "string" and .length == 255 and .nillable == false)
        and (.fields[] | select(.name == "CloudSuite_Key__c") | .externalId and .unique)
        and (.fields[] | select(.name == "CloudSuite_Roles__c") | .type == "multipicklist" and ([.picklistValues[].value] == ["Supplier","Customer"]))' "$TMP/desc.json"
check "describe Task: WhatId polymorphic What" \
    eq "$(curl -s "$V/sobjects/Task/describe" -H "$AUTH" | jq -c '.fields[] | select(.name == "WhatId") | [.type, .relationshipName, (.referenceTo | index("Account") != null)]')" \
    '["reference","What",true]'
check "describe unknown object -> 404 NOT_FOUND" \
    eq "$(curl -s -w ' %{http_code}' "$V/sobjects/Nope__c/describe" -H "$AUTH")" \
    '[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}] 404'

# --- Collections upsert -----------------------------------------------------------------------
upsert () { # upsert OBJECT JSON
    curl -s -X PATCH "$V/composite/sobjects/$1/CloudSuite_Key__c" -H "$AUTH" \
        -H 'Content-Type: application/json' --data-binary "$2"
}
stat () { curl -s "$U/__sim/stats" | jq -r "$1"; }

calls0=$(stat .api_calls)
upsert Account '{"allOrNone":false,"records":[
  {"attributes":{"type":"Account"},"Name":"Northwind Metals","CloudSuite_Key__c":"ACME:vendor:V1","CloudSuite_Roles__c":"Supplier;Customer"},
  {"attributes":{"type":"Account"},"CloudSuite_Key__c":"ACME:vendor:V2","Phone":"555"}]}' >"$TMP/r1.json"
check "collections: created true with an 18-char 001 Id" \
    jq -e '.[0].success == true and .[0].created == true and .[0].errors == [] and (.[0].id | test("^001[A-Za-z0-9]{15}$"))' "$TMP/r1.json"
check "collections: REQUIRED_FIELD_MISSING exact" \
    eq "$(jq -c '.[1]' "$TMP/r1.json")" \
    '{"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [Name]","fields":["Name"]}]}'
ID1=$(jq -r '.[0].id' "$TMP/r1.json")
upsert Account '{"records":[{"attributes":{"type":"Account"},"BillingCity":"Oslo","CloudSuite_Key__c":"ACME:vendor:V1"}]}' >"$TMP/r2.json"
check "collections: second upsert updates (created false, same Id)" \
    eq "$(jq -c '.[0] | [.success, .created, .id]' "$TMP/r2.json")" "[true,false,\"$ID1\"]"
check "collections: update merges fields (Name kept, BillingCity added)" \
    eq "$(curl -s "$U/__sim/records/Account" | jq -c '.[0] | [.Name, .BillingCity]')" '["Northwind Metals","Oslo"]'
check "collections: one API call per request" eq "$(( $(stat .api_calls) - calls0 ))" 2
check "stats: upserts_by_object counts calls, records sent and records written" \
    eq "$(curl -s "$U/__sim/stats" | jq -c .upserts_by_object.Account)" '{"calls":2,"records":3,"written":2}'
check "stats: last_upsert_ms is the time of the last upsert" \
    bash -c "curl -s $U/__sim/stats | jq -e --argjson now \$(date +%s%3N) '.last_upsert_ms > \$now - 60000 and .last_upsert_ms <= \$now'"
check "collections: a field named twice (any case): the last value, stored once" \
    bash -c "curl -s -X PATCH '$V/composite/sobjects/Account/CloudSuite_Key__c' -H '$AUTH' \
        -d '{\"records\":[{\"attributes\":{\"type\":\"Account\"},\"Name\":\"first\",\"name\":\"second\",\"CloudSuite_Key__c\":\"ACME:vendor:TWICE\"}]}' |
        jq -e '.[0].success' >/dev/null &&
        curl -s '$U/__sim/records/Account' |
        jq -e '[.[] | select(.CloudSuite_Key__c == \"ACME:vendor:TWICE\")] | length == 1 and .[0].Name == \"second\" and ([.[0] | keys[] | ascii_downcase | select(. == \"name\")] | length == 1)'"

upsert Account '{"records":[{"attributes":{"type":"Account"},"Name":"'"$(printf 'x%.0s' $(seq 1 256))"'","CloudSuite_Key__c":"ACME:vendor:LONG"},
  {"attributes":{"type":"Account"},"Name":"P","CloudSuite_Key__c":"ACME:vendor:PICK","CloudSuite_Status__c":"Closed"},
  {"attributes":{"type":"Account"},"Name":"M","CloudSuite_Key__c":"ACME:vendor:MULTI","CloudSuite_Roles__c":"Supplier;Owner"},
  {"attributes":{"type":"Account"},"Name":"D","CloudSuite_Key__c":"ACME:vendor:DUP"},
  {"attributes":{"type":"Account"},"Name":"D","CloudSuite_Key__c":"ACME:vendor:DUP"}]}' >"$TMP/r3.json"
check "STRING_TOO_LONG with max length" \
    jq -e '.[0].errors[0] | .statusCode == "STRING_TOO_LONG" and (.message | test("^Name: data value too large: x+ \\(max length=255\\)$")) and .fields == ["Name"]' "$TMP/r3.json"
check "restricted picklist -> INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" \
    eq "$(jq -c '[.[1].errors[0].statusCode, .[1].errors[0].fields, .[2].errors[0].message]' "$TMP/r3.json")" \
    '["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",["CloudSuite_Status__c"],"bad value for restricted picklist field: Owner"]'
check "duplicate external ID inside one request fails both copies" \
    eq "$(jq -c '[.[3].errors[0].statusCode, .[4].errors[0].statusCode]' "$TMP/r3.json")" '["DUPLICATE_EXTERNAL_ID","DUPLICATE_EXTERNAL_ID"]'
check "unknown field -> whole request 400 INVALID_FIELD" \
    eq "$(curl -s -w ' %{http_code}' -X PATCH "$V/composite/sobjects/Account/CloudSuite_Key__c" -H "$AUTH" \
        -d '{"records":[{"attributes":{"type":"Account"},"Name":"a","Foo__c":"x","CloudSuite_Key__c":"k"}]}')" \
    '[{"message":"No such column '"'"'Foo__c'"'"' on sobject of type Account","errorCode":"INVALID_FIELD"}] 400'
check "unknown external ID field -> 404 NOT_FOUND" \
    eq "$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$V/composite/sobjects/Account/Nope__c" -H "$AUTH" -d '{"records":[]}')" 404

# allOrNone: the good record is rolled back
before=$(stat .records.Account)
upsert Account '{"allOrNone":true,"records":[{"attributes":{"type":"Account"},"Name":"Good","CloudSuite_Key__c":"ACME:vendor:AON1"},
  {"attributes":{"type":"Account"},"CloudSuite_Key__c":"ACME:vendor:AON2"}]}' >"$TMP/r4.json"
check "allOrNone: good record ALL_OR_NONE_OPERATION_ROLLED_BACK, nothing stored" \
    bash -c "[ \"\$(jq -r '.[0].errors[0].statusCode' $TMP/r4.json)\" = ALL_OR_NONE_OPERATION_ROLLED_BACK ] &&
             [ \"\$(curl -s $U/__sim/stats | jq .records.Account)\" = $before ]"

# 200 + 1 records: counts, and more than 200 refused
recs () { # recs FROM TO -> JSON records
    jq -cn --argjson a "$1" --argjson b "$2" \
        '{allOrNone:false, records:[range($a; $b) | {attributes:{type:"Account"}, Name:("Bulk \(.)"), CloudSuite_Key__c:("ACME:vendor:B\(.)")}]}'
}
before=$(stat .records.Account)
calls0=$(stat .api_calls)
upsert Account "$(recs 0 200)" >"$TMP/r5.json"
upsert Account "$(recs 200 201)" >/dev/null
check "200 then 1 record: 200 successes in one call" eq "$(jq '[.[] | select(.success)] | length' "$TMP/r5.json")" 200
check "201 records land in stats, 2 API calls" \
    eq "$(( $(stat .records.Account) - before )):$(( $(stat .api_calls) - calls0 ))" "201:2"
check "more than 200 records -> 400 EXCEEDED_ID_LIMIT" \
    eq "$(upsert Account "$(recs 1000 1201)" | jq -r '.[0].errorCode')" EXCEEDED_ID_LIMIT

# --- Parents by external ID -------------------------------------------------------------------
upsert Contact '{"records":[
  {"attributes":{"type":"Contact"},"LastName":"Ng","CloudSuite_Key__c":"ACME:contact:1","Account":{"CloudSuite_Key__c":"ACME:vendor:V1"}},
  {"attributes":{"type":"Contact"},"LastName":"Lo","CloudSuite_Key__c":"ACME:contact:2","Account":{"CloudSuite_Key__c":"ACME:vendor:MISSING"}}]}' >"$TMP/r6.json"
check "child Contact by parent external ID resolves AccountId" \
    eq "$(curl -s "$U/__sim/records/Contact" | jq -r '.[] | select(.CloudSuite_Key__c == "ACME:contact:1") | .AccountId')" "$ID1"
check "missing parent -> INVALID_FIELD Foreign key external ID text" \
    eq "$(jq -c '.[1].errors[0]' "$TMP/r6.json")" \
    '{"statusCode":"INVALID_FIELD","message":"Foreign key external ID: ACME:vendor:MISSING not found for field CloudSuite_Key__c in entity Account","fields":[]}'
upsert Task '{"records":[{"attributes":{"type":"Task"},"Subject":"Call","CloudSuite_Key__c":"ACME:task:1",
  "What":{"attributes":{"type":"Account"},"CloudSuite_Key__c":"ACME:vendor:V1"},"ActivityDate":"2025-03-01"}]}' >/dev/null
check "polymorphic What resolves WhatId; picklist defaults applied" \
    eq "$(curl -s "$U/__sim/records/Task" | jq -c '.[0] | [.WhatId == "'"$ID1"'", .Status, .Priority]')" '[true,"Not Started","Normal"]'
upsert CloudSuite_Invoice__c '{"records":[{"attributes":{"type":"CloudSuite_Invoice__c"},"Name":"INV-1","CloudSuite_Key__c":"ACME:invoice:1",
  "Account__r":{"CloudSuite_Key__c":"ACME:vendor:V1"},"Amount__c":"12.50","Invoice_Date__c":"2025-13-01"}]}' >"$TMP/r7.json"
check "bad date -> INVALID_TYPE_ON_FIELD_IN_RECORD" \
    eq "$(jq -c '.[0].errors[0] | [.statusCode, .fields]' "$TMP/r7.json")" '["INVALID_TYPE_ON_FIELD_IN_RECORD",["Invoice_Date__c"]]'

# --- Single-record upsert -------------------------------------------------------------------
check "single upsert: 201 created" \
    eq "$(curl -s -w ' %{http_code}' -X PATCH "$V/sobjects/Account/CloudSuite_Key__c/ACME:vendor:S1" -H "$AUTH" -d '{"Name":"Solo"}' | jq -Rr 'split(" ") | (.[0] | fromjson | "\(.success) \(.created)") + " " + .[1]')" \
    "true true 201"
check "single upsert: 200 updated" \
    eq "$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$V/sobjects/Account/CloudSuite_Key__c/ACME:vendor:S1" -H "$AUTH" -d '{"Phone":"1"}')" 200
check "single upsert: 400 error array with errorCode and fields" \
    eq "$(curl -s -X PATCH "$V/sobjects/Account/CloudSuite_Key__c/ACME:vendor:S1" -H "$AUTH" -d '{"Name":null}')" \
    '[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]'

# --- SOQL -------------------------------------------------------------------------------------
query () { curl -s -G "$V/query" -H "$AUTH" --data-urlencode "q=$1"; }
check "SOQL select with WHERE and LIMIT" \
    eq "$(query "SELECT Id, Name FROM Account WHERE CloudSuite_Key__c = 'ACME:vendor:V1' LIMIT 5" | jq -c '[.totalSize, .done, .records[0].Id, .records[0].Name, .records[0].attributes.type]')" \
    "[1,true,\"$ID1\",\"Northwind Metals\",\"Account\"]"
check "SOQL COUNT()" eq "$(query "SELECT COUNT() FROM Contact" | jq -c '[.totalSize, .records]')" '[1,[]]'
check "SOQL ORDER BY DESC LIMIT" \
    eq "$(query "SELECT Name FROM Account WHERE Name LIKE 'Bulk 19%' ORDER BY Name DESC LIMIT 2" | jq -c '[.records[].Name]')" '["Bulk 199","Bulk 198"]'
check "SOQL malformed -> 400 MALFORMED_QUERY" \
    eq "$(query "SELECT FROM" | jq -r '.[0].errorCode')" MALFORMED_QUERY

# --- Bulk API 2.0 -----------------------------------------------------------------------------
curl -s -X POST "$V/jobs/ingest" -H "$AUTH" -H 'Content-Type: application/json' \
    -d '{"object":"Contact","externalIdFieldName":"CloudSuite_Key__c","contentType":"CSV","operation":"upsert","lineEnding":"LF"}' >"$TMP/job.json"
JOB=$(jq -r .id "$TMP/job.json")
check "bulk: job created Open with contentUrl" \
    jq -e '.state == "Open" and (.id | test("^750")) and (.contentUrl | endswith("/batches"))' "$TMP/job.json"
printf 'LastName,FirstName,CloudSuite_Key__c,Account.CloudSuite_Key__c\nSmith,"Jo, ""JJ""",ACME:contact:10,ACME:vendor:V1\n,Nolast,ACME:contact:11,ACME:vendor:V1\nNg,Kim,ACME:contact:1,\n' >"$TMP/job.csv"
check "bulk: upload CSV -> 201" \
    eq "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$V/jobs/ingest/$JOB/batches" -H "$AUTH" -H 'Content-Type: text/csv' --data-binary @"$TMP/job.csv")" 201
check "bulk: close -> UploadComplete" \
    eq "$(curl -s -X PATCH "$V/jobs/ingest/$JOB" -H "$AUTH" -H 'Content-Type: application/json' -d '{"state":"UploadComplete"}' | jq -r .state)" UploadComplete
state=""
for _ in $(seq 1 100); do
    curl -s "$V/jobs/ingest/$JOB" -H "$AUTH" >"$TMP/jobinfo.json"
    state=$(jq -r .state "$TMP/jobinfo.json")
    case $state in JobComplete|Failed|Aborted) break ;; esac
    sleep 0.05
done
check "bulk: job reaches JobComplete, 3 processed, 1 failed" \
    eq "$(jq -c '[.state, .numberRecordsProcessed, .numberRecordsFailed]' "$TMP/jobinfo.json")" '["JobComplete",3,1]'
curl -s "$V/jobs/ingest/$JOB/successfulResults" -H "$AUTH" >"$TMP/ok.csv"
curl -s "$V/jobs/ingest/$JOB/failedResults" -H "$AUTH" >"$TMP/failed.csv"
check "bulk: successfulResults header and rows (created true/false)" \
    bash -c "head -1 $TMP/ok.csv | grep -q '^\"sf__Id\",\"sf__Created\",\"LastName\"' &&
             grep -q '\"true\",\"Smith\",\"Jo, \"\"JJ\"\"\"' $TMP/ok.csv && grep -q '\"false\",\"Ng\"' $TMP/ok.csv &&
             [ \$(wc -l < $TMP/ok.csv) -eq 3 ]"
check "bulk: failedResults carries sf__Error" \
    grep -q '"REQUIRED_FIELD_MISSING:Required fields are missing: \[LastName\]:LastName --"' "$TMP/failed.csv"
check "bulk: parent column resolved AccountId" \
    eq "$(curl -s "$U/__sim/records/Contact" | jq -r '.[] | select(.CloudSuite_Key__c == "ACME:contact:10") | .AccountId')" "$ID1"
check "bulk: calls counted in calls_by_endpoint" bash -c "[ \$(curl -s $U/__sim/stats | jq .calls_by_endpoint.bulk) -ge 5 ]"
check "bulk: bulk_by_object counts the job's calls, records processed and written" \
    bash -c "curl -s $U/__sim/stats | jq -e '.bulk_by_object.Contact | .calls >= 5 and .jobs == 1 and .records == 3 and .written == 2'"

# --- Faults and admin -------------------------------------------------------------------------
curl -s -X POST "$U/__sim/faults" -d '{"fault_lock":1}' >/dev/null
check "fault_lock: per-record UNABLE_TO_LOCK_ROW" \
    eq "$(upsert Account '{"records":[{"attributes":{"type":"Account"},"Name":"L","CloudSuite_Key__c":"ACME:vendor:V1"}]}' | jq -r '.[0].errors[0].message')" \
    "unable to obtain exclusive access to this record or 1 records: $ID1"
curl -s -X POST "$U/__sim/faults" -d '{"fault_lock":0,"fault_503":1}' >/dev/null
check "fault_503: API call answered 503" eq "$(curl -s -o /dev/null -w '%{http_code}' "$V/limits" -H "$AUTH")" 503
curl -s -X POST "$U/__sim/faults" -d '{"fault_503":0,"fault_429":1}' >/dev/null
check "fault_429: API call answered 429, counted as refused" \
    bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $V/limits -H '$AUTH') = 429 ] && [ \$(curl -s $U/__sim/stats | jq .refused.fault_429) -ge 1 ]"
curl -s -X POST "$U/__sim/faults" -d '{"fault_429":0}' >/dev/null

curl -s -X POST "$U/__sim/schema" -d '{"Account":{"Name":{"required":false}}}' >/dev/null
check "schema patch at run time relaxes a required field" \
    eq "$(upsert Account '{"records":[{"attributes":{"type":"Account"},"CloudSuite_Key__c":"ACME:vendor:NONAME"}]}' | jq -r '.[0].success')" true
check "bad schema patch -> 400" \
    eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/__sim/schema" -d '{"Nope":{"X":{}}}')" 400

# concurrency: one slow call in flight, max_concurrent 1 -> the next is refused
curl -s -X POST "$U/__sim/faults" -d '{"max_concurrent":1,"latency_ms":3000}' >/dev/null
curl -s -o /dev/null "$V/limits" -H "$AUTH" &
PIDS+=($!)
for _ in $(seq 1 100); do [ "$(stat .in_flight)" = 1 ] && break; sleep 0.02; done
check "max_concurrent: 403 ConcurrentRequests REQUEST_LIMIT_EXCEEDED" \
    eq "$(curl -s -w ' %{http_code}' "$V/limits" -H "$AUTH")" \
    '[{"message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}] 403'
curl -s -X POST "$U/__sim/faults" -d '{"max_concurrent":25,"latency_ms":0}' >/dev/null

# daily allowance
used=$(stat .api_usage)
curl -s -X POST "$U/__sim/faults" -d "{\"daily_limit\":$((used + 1))}" >/dev/null
check "daily allowance: last call allowed" eq "$(curl -s -o /dev/null -w '%{http_code}' "$V/limits" -H "$AUTH")" 200
curl -s -D "$TMP/h403" -o "$TMP/b403" "$V/limits" -H "$AUTH"
check "daily allowance exhausted -> 403 TotalRequests REQUEST_LIMIT_EXCEEDED" \
    bash -c "grep -q '^HTTP/1.1 403' $TMP/h403 &&
             [ \"\$(cat $TMP/b403)\" = '[{\"message\":\"TotalRequests Limit exceeded.\",\"errorCode\":\"REQUEST_LIMIT_EXCEEDED\"}]' ] &&
             grep -qi 'Sforce-Limit-Info: api-usage=$((used + 1))/$((used + 1))' $TMP/h403"
curl -s -X POST "$U/__sim/reset-limits" -d '{"daily_limit":1000000}' >/dev/null
check "reset-limits: calls allowed again, usage restarted" \
    bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $V/limits -H '$AUTH') = 200 ] && [ \$(curl -s $U/__sim/stats | jq .api_usage) = 1 ]"

# token expiry
curl -s -X POST "$U/__sim/expire-tokens" >/dev/null
check "expire-tokens: the old token gets 401 INVALID_SESSION_ID" \
    eq "$(curl -s "$V/limits" -H "$AUTH" | jq -r '.[0].errorCode')" INVALID_SESSION_ID
start_sim ttl --client-id cid --client-secret s3cret --token-ttl 1
T2=$(curl -s -X POST "$URL_ttl/services/oauth2/token" -d grant_type=client_credentials -d client_id=cid -d client_secret=s3cret | jq -r .access_token)
check "--token-ttl: fresh token works" eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL_ttl/services/data/v62.0/limits" -H "Authorization: Bearer $T2")" 200
sleep 1.2
check "--token-ttl: token expires -> 401" eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL_ttl/services/data/v62.0/limits" -H "Authorization: Bearer $T2")" 401

# the compiled-in schema is config/salesforce-schema.json
start_sim file --client-id cid --client-secret s3cret --schema "$ROOT/config/salesforce-schema.json"
start_sim dflt --client-id cid --client-secret s3cret
for name in dflt file; do
    url_var=URL_$name
    url=${!url_var}
    t=$(curl -s -X POST "$url/services/oauth2/token" -d grant_type=client_credentials -d client_id=cid -d client_secret=s3cret | jq -r .access_token)
    for o in Account Contact Task CloudSuite_Invoice__c CloudSuite_Purchase_Order__c; do
        curl -s "$url/services/data/v62.0/sobjects/$o/describe" -H "Authorization: Bearer $t"
        echo
    done >"$TMP/describe.$name"
done
same=0
[ "$(grep -c '"keyPrefix"' "$TMP/describe.file")" = 5 ] && cmp -s "$TMP/describe.dflt" "$TMP/describe.file" && same=1
check "compiled-in default schema equals config/salesforce-schema.json" eq "$same" 1
check "bad --schema file -> exit 2 with a message" \
    bash -c "echo '{\"objects\":[{\"name\":\"A\",\"keyPrefix\":\"001\",\"fields\":[{\"name\":\"X\",\"type\":\"strng\"}]}]}' >$TMP/bad.json;
             $SIM --listen 127.0.0.1:0 --client-id a --client-secret b --schema $TMP/bad.json 2>$TMP/bad.err; [ \$? = 2 ] && grep -q 'unknown type' $TMP/bad.err"

# --- --public-url (compose: the instance_url other containers reach) ---------------------------
start_sim pub --client-id cid --client-secret s3cret --public-url http://salesforce-sim:8080/
check "--public-url: token responses carry it as instance_url" eq "$(curl -s -X POST "$URL_pub/services/oauth2/token" \
    -d grant_type=client_credentials -d client_id=cid -d client_secret=s3cret | jq -r .instance_url)" \
    http://salesforce-sim:8080
check "bad --public-url -> exit 2" bash -c "$SIM --listen 127.0.0.1:0 --client-id a --client-secret b --public-url 'http://a b' 2>/dev/null; [ \$? = 2 ]"

# --- SIGTERM ----------------------------------------------------------------------------------
kill -TERM "$PID_main"
wait "$PID_main"
check "SIGTERM: exit 0" eq "$?" 0

echo "1..$N"
[ "$FAILED" -eq 0 ]
