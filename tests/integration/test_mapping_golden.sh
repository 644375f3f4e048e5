#!/usr/bin/env bash
# Golden tests: records exactly as cloudsuite-sim serves them for --seed 42 (fetched over
# HTTP with the extractor's default properties) go through `mlc-transformer --map-records`
# with each shipped mapping; the exact Salesforce payloads (and every skip and rejection
# with its reason) must equal the checked-in files tests/golden/*.seed42.jsonl.
# UPDATE_GOLDEN=1 rewrites the golden files instead (review the diff before committing).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
GOLDEN=tests/golden
mlc_tmpdir
trap 'mlc_cleanup' EXIT

# The sizes cover every data rule: C{k} with k%10==0 is V{k/10} (one Account, both roles),
# k%10==7 individuals (Contacts; their invoices refer to the Contact), k%5==1 ship-tos, paid, open
# and credit invoices, POs in several states.
mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 30 --seed-customers 60 \
    --seed-invoices 40 --seed-pos 20 --seed 42 || exit 1
CS=$MLC_LAST_PORT

# The extractor's default properties (common/cm_config.c, cloudsuite.<entity>.properties).
P_VENDOR=VendNum,Name,Phone,Stat,CurrCode,TermsCode,VadAddr_1,VadAddr_2,VadAddr_3,VadAddr_4,VadCity,VadState,VadZip,VadCountry,ExternalEmailAddr,RecordDate,RowPointer
P_CUSTOMER=CustNum,CustSeq,Name,CustType,Addr_1,Addr_2,Addr_3,Addr_4,City,State,Zip,Country,Phone,ExternalEmailAddr,CurrCode,TermsCode,CreditLimit,CreditHold,CreateDate,RecordDate,RowPointer
P_INVOICE=InvNum,InvSeq,CustNum,InvDate,DueDate,Amount,SalesTax,Freight,MiscCharges,Type,CoNum,TermsCode,AmountPaid,PaidInFull,RecordDate,RowPointer
P_PO=PoNum,VendNum,OrderDate,Stat,Whse,TermsCode,VenCurrCode,RecordDate,RowPointer

fetch () {
    mlc_cs_fetch "$CS" $TENANT SLVendors "$P_VENDOR" >"$MLC_TMP/vendors.json" &&
    mlc_cs_fetch "$CS" $TENANT SLCustomers "$P_CUSTOMER" >"$MLC_TMP/customers.json" &&
    mlc_cs_fetch "$CS" $TENANT SLArinvs "$P_INVOICE" >"$MLC_TMP/invoices.json" &&
    mlc_cs_fetch "$CS" $TENANT SLPos "$P_PO" >"$MLC_TMP/pos.json"
}
check "the seeded records are fetched from cloudsuite-sim" fetch
check "the sim serves the sizes asked for" \
    test "$(jq length "$MLC_TMP/vendors.json"):$(jq length "$MLC_TMP/invoices.json"):$(jq length "$MLC_TMP/pos.json")" = 30:40:20

map () {
    local mapping=$1 out=$2
    "$BIN/mlc-transformer" --map-records --mapping "$mapping" --tenant $TENANT \
        vendor="$MLC_TMP/vendors.json" customer="$MLC_TMP/customers.json" \
        invoice="$MLC_TMP/invoices.json" po="$MLC_TMP/pos.json" >"$out" 2>"$out.err"
}

# compare NAME: the output equals the golden file (or rewrites it with UPDATE_GOLDEN=1).
compare () {
    local name=$1
    if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$MLC_TMP/$name.jsonl" "$GOLDEN/$name.seed42.jsonl"
        echo "# rewrote $GOLDEN/$name.seed42.jsonl" >&2
        return 0
    fi
    diff -u "$GOLDEN/$name.seed42.jsonl" "$MLC_TMP/$name.jsonl" | head -40 >&2
    cmp -s "$GOLDEN/$name.seed42.jsonl" "$MLC_TMP/$name.jsonl"
}

for name in mapping mapping-tasks; do
    check "$name: --map-records maps every seeded record" map config/$name.json "$MLC_TMP/$name.jsonl"
    check "$name: one output line per record" \
        test "$(grep -c . "$MLC_TMP/$name.jsonl")" -eq "$(jq -s 'map(length) | add' "$MLC_TMP"/vendors.json "$MLC_TMP"/customers.json "$MLC_TMP"/invoices.json "$MLC_TMP"/pos.json)"
    check "$name: every payload is a JSON object led by its external ID" \
        bash -c "jq -e -s 'map(select(.result == \"ok\") | (.payload | keys_unsorted[0]) == .extf and .payload[.extf] == .extid) | all' '$MLC_TMP/$name.jsonl' >/dev/null"
    check "$name: payloads, skips and rejections equal $GOLDEN/$name.seed42.jsonl" compare $name
done

# What the golden files must show, independent of their exact bytes (so a regenerated file
# cannot silently lose a rule).
g=$GOLDEN/mapping.seed42.jsonl
both () {
    jq -e -s --arg t $TENANT 'map(select(.entity == "customer" and .key == "C000010/0"))[0]
        | .extid == ($t + ":vendor:V000001") and .payload.CloudSuite_Roles__c == "Customer;Supplier"
          and .payload.Type == "Customer and Vendor"' "$g" >/dev/null
}
check "golden: C000010 (= V000001) updates the supplier's Account with both roles" both
check "golden: individuals (C0000x7) are Contacts" \
    bash -c "jq -e -s '[.[] | select(.entity == \"customer\" and (.key | test(\"^C0000[0-9]7/0\")))] | length == 6 and all(.sobject == \"Contact\")' '$g' >/dev/null"
check "golden: ship-tos are skipped by the default mapping" \
    bash -c "jq -e -s '[.[] | select(.entity == \"customer\" and (.key | endswith(\"/0\") | not))] | length > 0 and all(.result == \"skip\" and .route == \"ship_to\")' '$g' >/dev/null"
check "golden: open, paid and credit invoices are distinguishable" \
    bash -c "jq -e -s '[.[] | select(.sobject == \"CloudSuite_Invoice__c\") | .payload.Status__c] | unique == [\"Credit\", \"Open\", \"Paid\"]' '$g' >/dev/null"
# Individuals are C0000x7 (k%10==7): their invoices go under the Contact, all others under
# the Account; nothing is rejected.
check "golden: an individual's invoice refers to the Contact (Contact__r), every other to an Account" \
    bash -c "jq -e -s '[.[] | select(.entity == \"invoice\")] as \$i | (\$i | all(.result == \"ok\"))
        and ([\$i[] | select(.payload.Contact__r)] | length > 0 and all(.payload.Contact__r.CloudSuite_Key__c | test(\"^ACME_PRD:customer:C0000[0-9]7\$\")) and all(.payload.Account__r == null))
        and ([\$i[] | select(.payload.Contact__r == null)] | all(.payload.Account__r.CloudSuite_Key__c | test(\"customer:C[0-9]*[0-689]\$|vendor:\")))' '$g' >/dev/null"
check "golden: no record of the default mapping is rejected" \
    bash -c "jq -e -s 'all(.result != \"rejected\")' '$g' >/dev/null"
check "golden (tasks): invoices and POs are Tasks linked by What to an Account, an individual's invoice by Who to the Contact" \
    bash -c "jq -e -s '[.[] | select(.entity == \"invoice\" or .entity == \"po\")] as \$t | (\$t | length > 0 and all(.result == \"ok\" and .sobject == \"Task\"))
        and ([\$t[] | select(.payload.Who)] | length > 0 and all(.entity == \"invoice\" and .payload.Who.attributes.type == \"Contact\" and .payload.What == null and (.payload.Who.CloudSuite_Key__c | test(\"C0000[0-9]7\$\"))))
        and ([\$t[] | select(.payload.Who == null)] | all(.payload.What.attributes.type == \"Account\"))' '$GOLDEN/mapping-tasks.seed42.jsonl' >/dev/null"

# The operator's check of a mapping file.
for name in mapping mapping-tasks; do
    check "--check-mapping config/$name.json: valid, exit 0" \
        bash -c "'$BIN/mlc-transformer' --check-mapping config/$name.json >'$MLC_TMP/check.out' && tail -1 '$MLC_TMP/check.out' | grep -q '^mapping OK: 4 entities'"
done
jq '.entities.vendor.fields[0].transforms = ["trimm"]' config/mapping.json >"$MLC_TMP/broken.json"
check_broken () {
    "$BIN/mlc-transformer" --check-mapping "$MLC_TMP/broken.json" >"$MLC_TMP/check.out"
    [ $? -eq 1 ] && grep -q "^error: $MLC_TMP/broken.json: entity 'vendor', field 'Name': unknown transform 'trimm'" "$MLC_TMP/check.out" &&
        tail -1 "$MLC_TMP/check.out" | grep -q '^mapping INVALID'
}
check "--check-mapping: a broken mapping exits 1 naming entity, field and problem" check_broken
echo '{"cloudsuite":{"customer":{"enabled":true,"properties":"CustNum,CustSeq,Name,Addr_1,Addr_2,Addr_3,Addr_4,City,State,Zip,Country,Phone,ExternalEmailAddr,CurrCode"}}}' >"$MLC_TMP/cfg.json"
check_props () {
    "$BIN/mlc-transformer" --check-mapping config/mapping.json --config "$MLC_TMP/cfg.json" >"$MLC_TMP/check.out"
    local rc=$?
    [ $rc -eq 1 ] && [ "$(grep -c '^error: ' "$MLC_TMP/check.out")" -eq 1 ] &&
        grep -q "^error: entity 'customer' uses property 'CustType', which cloudsuite.customer.properties does not extract$" "$MLC_TMP/check.out"
}
check "--check-mapping --config: a property the extractor does not fetch is an error" check_props

# A broken input is refused with a reason, never half-mapped.
echo '[{"VendNum": "V1", "Name": ["x"]}]' >"$MLC_TMP/bad.json"
bad_input () {
    ! "$BIN/mlc-transformer" --map-records vendor="$MLC_TMP/bad.json" >"$MLC_TMP/bad.out" 2>&1 &&
    grep -q "record 0: property 'Name' is not a text value" "$MLC_TMP/bad.out"
}
check "a malformed records file is refused with the record and property named" bad_input
check "an unknown entity is a usage error" \
    bash -c "'$BIN/mlc-transformer' --map-records vendors='$MLC_TMP/bad.json' >/dev/null 2>&1; test \$? -eq 2"

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
