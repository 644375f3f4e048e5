# Input: [vendors, accounts, tenant]. Output: a list of mismatches (empty when every vendor
# is exactly one Account with the mapped values).
def clean: (. // "") | gsub("^\\s+|\\s+$"; "");
.[0] as $vendors | .[1] as $accounts | .[2] as $tenant
| ($accounts | group_by(.CloudSuite_Key__c) | map(select(length > 1) | "duplicate Account " + .[0].CloudSuite_Key__c)) as $dups
| ($accounts | map({key: .CloudSuite_Key__c, value: .}) | from_entries) as $by_key
| $dups + [ $vendors[] | . as $v | ($tenant + ":vendor:" + $v.VendNum) as $k | $by_key[$k] as $a
  | if $a == null then "missing Account " + $k
    elif ($a.Name | clean) != ($v.Name | clean) then "Name of " + $k + ": " + ($a.Name|tostring) + " != " + $v.Name
    elif ($a.Phone | clean) != ($v.Phone | clean) then "Phone of " + $k
    elif ($a.BillingCity | clean) != ($v.VadCity | clean) then "BillingCity of " + $k
    elif ($a.BillingPostalCode | clean) != ($v.VadZip | clean) then "BillingPostalCode of " + $k
    elif ($a.CloudSuite_Vendor_Number__c | clean) != ($v.VendNum | clean) then "Vendor number of " + $k
    else empty end ]
| if ($accounts | length) != ($vendors | length) then . + ["account count \($accounts|length) != vendor count \($vendors|length)"] else . end
