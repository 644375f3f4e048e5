#!/usr/bin/env bash
# The mapping end to end on real parts: cloudsuite-sim (suppliers, customers, invoices,
# POs) -> extractor -> transformer -> loader -> salesforce-sim, with the replayer keeping
# dead letters. Everything is checked against salesforce-sim's records and the sim's data
# rules (sim/cloudsuite/README.md):
# - a company that is supplier and customer (C{k}, k%10==0, = V{k/10}) is exactly one
#   Account with both roles and both sides' fields; other companies one Account each;
# - individuals (k%10==7, CustType IND) are Contacts; ship-tos are skipped;
# - invoices and POs are custom-object records whose Account__c is the Id of their
#   customer's / supplier's Account (an individual's invoice: Contact__c is the Id of the
#   Contact), open, paid and credit apart; exact counts;
# - what the mapping cannot produce (a supplier without a name) is dead-lettered at the
#   transformer with its reason and never reaches Salesforce.
# Then the same with config/mapping-tasks.json: invoices and POs as Tasks linked by
# WhatId (an individual's invoice by WhoId to the Contact), ship-tos as Contacts under
# the bill-to Account.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
S=200 C=400 I=800 P=300
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"
export MLC_CLOUDSUITE_CUSTOMER_ENABLED=true MLC_CLOUDSUITE_INVOICE_ENABLED=true \
    MLC_CLOUDSUITE_PO_ENABLED=true

# jq definitions shared by the checks. Input: one object with the CloudSuite records
# (v, c, i, p), salesforce-sim's records (A Account, K Contact, N invoices, O POs, T Task)
# and the tenant t.
DEFS='
def num: sub("^[A-Z]+"; "") | tonumber;
def vnum($n): "V" + ("000000" + ($n | tostring))[-6:];
def status_of: {"A": "Active", "I": "Inactive", "H": "On Hold"}[.] // null;
def by($f): map(select(.[$f] != null) | {key: .[$f], value: .}) | from_entries;
def dups($f): map(select(.[$f] != null)) | group_by(.[$f]) | map(select(length > 1) | "two records with \($f) = \(.[0][$f])") | .[];
. as $d | $d.v as $v | $d.t as $t
| ($d.c | map(select(.CustSeq == "0"))) as $bill
| ($bill | map(select(.CustType == "IND") | .CustNum)) as $ind
| ($d.v | by("VendNum")) as $vby
| ($d.A | by("CloudSuite_Vendor_Number__c")) as $av
| ($d.A | by("CloudSuite_Customer_Number__c")) as $ac
# The vendor a customer company is, by the data rule (null when none).
| def twin: (.CustNum | num) as $k
    | if $k % 10 == 0 and $vby[vnum($k / 10)] != null then vnum($k / 10) else null end;
'

# run_sync NAME MAPPING: a fresh pipeline and simulators; one full sync with MAPPING;
# waits until the expected counts are in Salesforce and the loader is quiet.
run_sync () {
    local name=$1 mapping=$2
    mlc_tmpdir
    mlc_start_sims $TENANT --seed-suppliers $S --seed-customers $C --seed-invoices $I \
        --seed-pos $P --seed 42 || return 1
    # A supplier the mapping cannot produce: its name is blank.
    curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
        -d '{"VendNum":"V900001","Name":"   ","Phone":"555-0100"}' >/dev/null || return 1
    MLC_TRANSFORMER_MAPPING_FILE=$mapping mlc_start_pipeline "$CFG"
    "$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1 || return 1
    mlc_cs_fetch "$CS" $TENANT SLVendors >"$MLC_TMP/v.json" &&
    mlc_cs_fetch "$CS" $TENANT SLCustomers >"$MLC_TMP/c.json" &&
    mlc_cs_fetch "$CS" $TENANT SLArinvs >"$MLC_TMP/i.json" &&
    mlc_cs_fetch "$CS" $TENANT SLPos >"$MLC_TMP/p.json" || return 1
}

# snapshot: the CloudSuite records and salesforce-sim's records as one JSON object.
snapshot () {
    local o
    for o in Account Contact CloudSuite_Invoice__c CloudSuite_Purchase_Order__c Task; do
        curl -fsS "http://127.0.0.1:$SF/__sim/records/$o" >"$MLC_TMP/sf_$o.json" || return 1
    done
    jq -n --arg t $TENANT --slurpfile v "$MLC_TMP/v.json" --slurpfile c "$MLC_TMP/c.json" \
        --slurpfile i "$MLC_TMP/i.json" --slurpfile p "$MLC_TMP/p.json" \
        --slurpfile A "$MLC_TMP/sf_Account.json" --slurpfile K "$MLC_TMP/sf_Contact.json" \
        --slurpfile N "$MLC_TMP/sf_CloudSuite_Invoice__c.json" \
        --slurpfile O "$MLC_TMP/sf_CloudSuite_Purchase_Order__c.json" \
        --slurpfile T "$MLC_TMP/sf_Task.json" \
        '{t: $t, v: $v[0], c: $c[0], i: $i[0], p: $p[0], A: $A[0], K: $K[0], N: $N[0], O: $O[0], T: $T[0]}' \
        >"$MLC_TMP/snap.json"
}

# expect JQ: runs DEFS + JQ (which yields problem strings) on a fresh snapshot; passes when
# there are none, else prints the first few.
expect () {
    snapshot || return 1
    jq -r "$DEFS [ $1 ] | .[]" "$MLC_TMP/snap.json" >"$MLC_TMP/problems.txt" || return 1
    [ ! -s "$MLC_TMP/problems.txt" ] || { head -8 "$MLC_TMP/problems.txt" >&2; return 1; }
}

# counts_are JQ: like expect, but quietly, for waiting.
counts_are () { snapshot && jq -e "$DEFS $1" "$MLC_TMP/snap.json" >/dev/null; }

# The expected counts, from the CloudSuite records and the data rules.
ACCOUNTS='($v | map(select(.Name | test("\\S"))) | length) + ($bill | map(select(.CustType != "IND" and twin == null)) | length)'
INVOICES='$d.i | length'
DEAD='1'
# The Contact of individual customer number $n (null when none).
DEFS="$DEFS"'
def contact_of($n): $d.K | map(select(.CloudSuite_Key__c == "\($t):customer:\($n)"))[0];
'

dead_letters () {
    "$BIN/mlc-replayer" --config "$CFG" list --json >"$MLC_TMP/dead.json" 2>/dev/null
}
dead_count_is () {
    dead_letters && test "$(jq length "$MLC_TMP/dead.json")" -eq "$1"
}

# Checks common to both mappings: the sim's data rules, Accounts, individuals, dead letters.
common_checks () {
    local label=$1
    check "$label: the seeded data follows the sim's rules (k%10==7 individuals, k%10==0 = V{k/10})" expect '
        ($bill[] | select(((.CustNum | num) % 10 == 7) != (.CustType == "IND")) | "type of \(.CustNum): \(.CustType)"),
        ($bill[] | twin as $w | select($w != null) | select(.Name != $vby[$w].Name) | "\(.CustNum) is not \($w)"),
        (if ($bill | map(twin) | map(select(. != null)) | length) != '"$((C / 10))"' then "expected '"$((C / 10))"' twins" else empty end)'
    check "$label: exactly one Account per company (suppliers + customer companies - twins)" expect '
        ($d.A | dups("CloudSuite_Key__c")), ($d.A | dups("CloudSuite_Vendor_Number__c")),
        ($d.A | dups("CloudSuite_Customer_Number__c")),
        (if ($d.A | length) != ('"$ACCOUNTS"') then "Accounts: \($d.A | length), expected \('"$ACCOUNTS"')" else empty end)'
    check "$label: a supplier-and-customer company is one Account with both roles and both sides' fields" expect '
        $bill[] | twin as $w | select($w != null) | $vby[$w] as $vv | $ac[.CustNum] as $a
        | if $a == null then "no Account with customer number \(.CustNum)"
          elif $av[$w].Id != $a.Id then "\(.CustNum) and \($w) are two Accounts"
          elif $a.CloudSuite_Roles__c != "Customer;Supplier" then "roles of \($w): \($a.CloudSuite_Roles__c)"
          elif $a.Type != "Customer and Vendor" then "Type of \($w): \($a.Type)"
          elif $a.CloudSuite_Key__c != "\($t):vendor:\($w)" and $a.CloudSuite_Key__c != "\($t):customer:\(.CustNum)" then "key of \($w): \($a.CloudSuite_Key__c)"
          elif $a.AccountNumber != .CustNum then "AccountNumber of \($w) (customer side) is \($a.AccountNumber)"
          elif $a.CloudSuite_Terms__c != $vv.TermsCode then "terms of \($w) (supplier side) are \($a.CloudSuite_Terms__c)"
          elif $a.CloudSuite_Status__c != ($vv.Stat | status_of) then "status of \($w) (supplier side) is \($a.CloudSuite_Status__c)"
          elif $a.Name != $vv.Name or $a.Phone != $vv.Phone or $a.BillingCity != $vv.VadCity then "shared fields of \($w)"
          else empty end'
    check "$label: other suppliers and customers are Accounts with one role each" expect '
        ($v[] | select(.Name | test("\\S")) | $av[.VendNum] as $a
         | select($a == null or ($a.CloudSuite_Customer_Number__c == null and ($a.CloudSuite_Roles__c != "Supplier" or $a.Type != "Vendor" or $a.CloudSuite_Key__c != "\($t):vendor:\(.VendNum)")))
         | "supplier \(.VendNum): \($a)"),
        ($bill[] | select(.CustType != "IND" and twin == null) | $ac[.CustNum] as $a
         | select($a == null or $a.CloudSuite_Roles__c != "Customer" or $a.Type != "Customer" or $a.CloudSuite_Vendor_Number__c != null or $a.CloudSuite_Key__c != "\($t):customer:\(.CustNum)" or $a.Name != .Name)
         | "customer \(.CustNum): \($a)")'
    check "$label: individuals are Contacts (no Account), with first and last name and e-mail" expect '
        ($d.K | dups("CloudSuite_Key__c")),
        ($bill[] | select(.CustType == "IND") | . as $r | "\($t):customer:\(.CustNum)" as $k
         | ($d.K | map(select(.CloudSuite_Key__c == $k))[0]) as $k2
         | if $k2 == null then "no Contact for \($r.CustNum)"
           elif $ac[$r.CustNum] != null then "an Account for individual \($r.CustNum)"
           elif $k2.LastName != ($r.Name | split(" ") | last) or $k2.FirstName != ($r.Name | split(" ") | .[:-1] | join(" ")) then "name of \($r.CustNum): \($k2.FirstName) \($k2.LastName)"
           elif $k2.Email != (($r.ExternalEmailAddr | ascii_downcase) | if . == "" then null else . end) then "e-mail of \($r.CustNum)"
           else empty end)'
    check "$label: exactly the unmappable records are dead letters" dead_count_is \
        "$(jq "$DEFS $DEAD" "$MLC_TMP/snap.json")"
    check "$label: the data has invoices of individuals, and none is a dead letter" \
        jq -e --slurpfile s "$MLC_TMP/snap.json" '
        ($s[0].c | map(select(.CustSeq == "0" and .CustType == "IND") | .CustNum)) as $ind
        | ($s[0].i | map(select(.CustNum as $n | $ind | index($n))) | length) > 0
          and (map(select(.entity == "invoice")) | length) == 0' \
        "$MLC_TMP/dead.json" >/dev/null
    check "$label: a supplier with a blank name: MAPPING_REQUIRED_FIELD 'field Name: required but empty'" \
        jq -e 'map(select(.key == "V900001")) | length == 1 and (.[0] | .code == "MAPPING_REQUIRED_FIELD" and .stage == "transform" and .fields == "Name" and (.message | startswith("field Name: required but empty")))' \
        "$MLC_TMP/dead.json" >/dev/null
    check "$label: no dead-lettered record reached Salesforce" expect '
        ($d.A[] | select(.CloudSuite_Vendor_Number__c == "V900001") | "V900001 is in Salesforce")'
    # The second poll changes nothing and costs no Salesforce call.
    local calls
    calls=$(mlc_sf_stats "$SF" '.api_calls')
    check "$label: second poll succeeds" \
        bash -c "'$BIN/mlc-extractor' --config '$CFG' --once >>'$MLC_TMP/extractor.log' 2>&1"
    sleep 1
    check "$label: second poll: no Salesforce call, same records" \
        test "$(mlc_sf_stats "$SF" '.api_calls'):$(mlc_sf_stats "$SF" '.records.Account')" = \
             "$calls:$(jq '.A | length' "$MLC_TMP/snap.json")"
}

# ---- the default mapping: custom objects -------------------------------------------
if run_sync default config/mapping.json; then
    echo "ok - default: the pipeline and simulators started, first poll done"
else
    echo "not ok - default: the pipeline and simulators started, first poll done"; TAP_FAILED=1
fi
ready_default () {
    counts_are "(\$d.A | length) == ($ACCOUNTS) and (\$d.N | length) == ($INVOICES) and (\$d.O | length) == (\$d.p | length) and (\$d.K | length) == (\$ind | length)" &&
    dead_count_is "$(jq "$DEFS $DEAD" "$MLC_TMP/snap.json")"
}
check "default: the expected counts arrive (the loader retries children that beat their parents)" \
    mlc_wait_for 60 ready_default
check "default: ship-tos are skipped: Contacts are the individuals only, no Task" expect '
    (if ($d.K | length) != ($ind | length) then "Contacts: \($d.K | length)" else empty end),
    (if ($d.T | length) != 0 then "Tasks: \($d.T | length)" else empty end)'
check "default: each invoice is one CloudSuite_Invoice__c on its customer's Account (Account__c = Id), an individual's on the Contact (Contact__c = Id)" expect '
    ($d.N | dups("CloudSuite_Key__c")),
    (if ($d.N | length) != ('"$INVOICES"') then "invoices: \($d.N | length), expected \('"$INVOICES"')" else empty end),
    (if ($d.N | map(select(.Contact__c != null)) | length) == 0 then "no invoice on a Contact" else empty end),
    ($d.N | by("CloudSuite_Key__c")) as $nby
    | ($d.i[] | . as $r | $nby["\($t):invoice:\(.InvNum)/\(.InvSeq)"] as $x
       | ($ind | index($r.CustNum)) as $is_ind
       | if $x == null then "invoice \($r.InvNum) missing"
         elif $is_ind and ($x.Contact__c != contact_of($r.CustNum).Id or $x.Account__c != null) then "invoice \($r.InvNum) of individual \($r.CustNum): Contact__c \($x.Contact__c), Account__c \($x.Account__c)"
         elif ($is_ind | not) and ($x.Account__c != $ac[$r.CustNum].Id or $x.Contact__c != null) then "invoice \($r.InvNum): Account__c \($x.Account__c), customer \($r.CustNum) is \($ac[$r.CustNum].Id)"
         elif $x.Amount__c != ($r.Amount | tonumber) or $x.Name != $r.InvNum then "invoice \($r.InvNum): amount or name"
         else empty end)'
check "default: open, paid and credit invoices are distinguishable (Status__c)" expect '
    ($d.N | by("CloudSuite_Key__c")) as $nby
    | ($d.i[] | . as $r | $nby["\($t):invoice:\(.InvNum)/\(.InvSeq)"] as $x | select($x != null)
       | (if $r.Type == "C" then "Credit" elif $r.PaidInFull == "1" then "Paid" else "Open" end) as $want
       | select($x.Status__c != $want) | "invoice \($r.InvNum): \($x.Status__c), expected \($want)"),
    (if ($d.N | map(.Status__c) | unique) != ["Credit", "Open", "Paid"] then "statuses: \($d.N | map(.Status__c) | unique)" else empty end)'
check "default: each PO is one CloudSuite_Purchase_Order__c on its supplier's Account" expect '
    ($d.O | dups("CloudSuite_Key__c")),
    (if ($d.O | length) != ($d.p | length) then "POs: \($d.O | length)" else empty end),
    ($d.O | by("CloudSuite_Key__c")) as $oby
    | ($d.p[] | . as $r | $oby["\($t):po:\(.PoNum)"] as $x
       | if $x == null then "PO \($r.PoNum) missing"
         elif $x.Account__c != $av[$r.VendNum].Id then "PO \($r.PoNum): Account__c is not \($r.VendNum)"
         elif $x.Status__c != ({"O": "Ordered", "F": "Filled", "C": "Complete", "P": "Planned", "H": "Historical"}[$r.Stat]) then "PO \($r.PoNum) status \($x.Status__c)"
         else empty end)'
common_checks default
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "default: every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"

# ---- mapping-tasks.json: Tasks on the Account, ship-tos as Contacts -------------------
if run_sync tasks config/mapping-tasks.json; then
    echo "ok - tasks: the pipeline and simulators started, first poll done"
else
    echo "not ok - tasks: the pipeline and simulators started, first poll done"; TAP_FAILED=1
fi
SHIPTOS='($d.c | map(select(.CustSeq != "0")) | length)'
ready_tasks () {
    counts_are "(\$d.A | length) == ($ACCOUNTS) and (\$d.T | length) == ($INVOICES) + (\$d.p | length) and (\$d.K | length) == (\$ind | length) + $SHIPTOS" &&
    dead_count_is "$(jq "$DEFS $DEAD" "$MLC_TMP/snap.json")"
}
check "tasks: the expected counts arrive" mlc_wait_for 60 ready_tasks
check "tasks: no custom-object records" expect '
    (if ($d.N | length) + ($d.O | length) != 0 then "custom-object records exist" else empty end)'
check "tasks: each invoice is a Task on its customer's Account (WhatId = Id), an individual's on the Contact (WhoId = Id), open vs done" expect '
    ($d.T | dups("CloudSuite_Key__c")),
    (if ($d.T | map(select(.WhoId != null)) | length) == 0 then "no Task on a Contact" else empty end),
    ($d.T | by("CloudSuite_Key__c")) as $tby
    | ($d.i[] | . as $r | $tby["\($t):invoice:\(.InvNum)/\(.InvSeq)"] as $x
       | ($ind | index($r.CustNum)) as $is_ind
       | (if $r.Type == "C" or $r.PaidInFull == "1" then "Completed" else "Not Started" end) as $want
       | if $x == null then "invoice Task \($r.InvNum) missing"
         elif $is_ind and ($x.WhoId != contact_of($r.CustNum).Id or $x.WhatId != null) then "invoice Task \($r.InvNum) of individual \($r.CustNum): WhoId \($x.WhoId), WhatId \($x.WhatId)"
         elif ($is_ind | not) and $x.WhatId != $ac[$r.CustNum].Id then "invoice Task \($r.InvNum): WhatId \($x.WhatId) is not \($r.CustNum)"
         elif $x.Status != $want then "invoice Task \($r.InvNum): \($x.Status), expected \($want)"
         elif ($x.Subject | startswith("Invoice \($r.InvNum)") | not) then "invoice Task \($r.InvNum): subject \($x.Subject)"
         else empty end),
    (if ($d.T | map(.Status) | unique | length) < 2 then "Task statuses: \($d.T | map(.Status) | unique)" else empty end)'
check "tasks: each PO is a Task on its supplier's Account" expect '
    ($d.T | by("CloudSuite_Key__c")) as $tby
    | ($d.p[] | . as $r | $tby["\($t):po:\(.PoNum)"] as $x
       | if $x == null then "PO Task \($r.PoNum) missing"
         elif $x.WhatId != $av[$r.VendNum].Id then "PO Task \($r.PoNum): WhatId is not \($r.VendNum)"
         else empty end)'
check "tasks: ship-tos are Contacts under the bill-to Account (AccountId = Id)" expect '
    ($d.K | by("CloudSuite_Key__c")) as $kby
    | ($d.c[] | select(.CustSeq != "0") | . as $r | $kby["\($t):customer:\(.CustNum)/\(.CustSeq)"] as $x
       | if $x == null then "ship-to \($r.CustNum)/\($r.CustSeq) missing"
         elif $x.AccountId != $ac[$r.CustNum].Id then "ship-to \($r.CustNum)/\($r.CustSeq): AccountId \($x.AccountId)"
         else empty end)'
common_checks tasks
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "tasks: every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
