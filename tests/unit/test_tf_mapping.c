/*  Unit tests for tf_mapping: the shipped mappings load; a table of broken mappings, each
    with the exact message that names the entity, route, field and problem. Run from the
    repository root (tests/run.sh does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../transformer/tf_mapping.h"

static void
test_default_loads (void **state)
{
    char err[512] = "";
    tf_mapping_t *m = tf_mapping_load ("config/mapping.json", err, sizeof err);
    if (!m)
        fail_msg ("%s", err);
    assert_int_equal (tf_mapping_entity_count (m), 4);
    const tf_entity_t *v = tf_mapping_entity (m, "vendor");
    assert_non_null (v);
    assert_int_equal (v->route_count, 1);
    assert_string_equal (v->routes[0].sobject, "Account");
    assert_string_equal (v->routes[0].ext_field, "CloudSuite_Key__c");
    assert_string_equal (v->routes[0].key.source, "{tenant}:vendor:{VendNum}");
    assert_string_equal (v->routes[0].fields[0].to, "Name");
    assert_true (v->routes[0].fields[0].required);
    const tf_entity_t *c = tf_mapping_entity (m, "customer");
    assert_non_null (c);
    assert_int_equal (c->route_count, 3);
    assert_true (c->routes[0].skip);
    assert_string_equal (c->routes[1].sobject, "Contact");
    assert_null (c->routes[2].when);
    assert_true (tf_mapping_uses_union (m));
    assert_null (tf_mapping_entity (m, "widget"));
    char *props = tf_mapping_properties (m, "vendor");
    assert_string_equal (props, "VendNum,Name,Phone,VadAddr_1,VadAddr_2,VadAddr_3,VadAddr_4,"
                                "VadCity,VadState,VadZip,VadCountry,Stat,CurrCode,TermsCode");
    free (props);
    tf_mapping_destroy (&m);
    assert_null (m);
    tf_mapping_destroy (&m); //  accepts NULL

    m = tf_mapping_load ("config/mapping-tasks.json", err, sizeof err);
    if (!m)
        fail_msg ("%s", err);
    tf_mapping_destroy (&m);
}

#define HEAD                                                                                       \
    "{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\","                            \
    "\"external_id_field\":\"CloudSuite_Key__c\",\"key_template\":\"{tenant}:vendor:{VendNum}\","
#define FIELDS(x) HEAD "\"fields\":[" x "]}}}"

typedef struct {
    const char *text;    /* mapping JSON */
    const char *message; /* the exact error */
} broken_t;

static const broken_t s_broken[] = {
    {"", "m.json: not valid JSON (near line 1)"},
    {"{\"version\":1,\n\"entities\":{,}}", "m.json: not valid JSON (near line 2)"},
    {"[1]", "m.json: must be a JSON object with \"version\" and \"entities\""},
    {"{\"version\":2,\"entities\":{}}", "m.json: 'version' must be 1"},
    {"{\"version\":1,\"entities\":{}}", "m.json: 'entities' must be an object with 1..32 entities"},
    {"{\"version\":1,\"entities\":{\"vendor\":{}},\"extra\":1}",
     "m.json: unknown key 'extra' in the top level (allowed: version, entities, comment)"},
    {"{\"version\":1,\"entities\":{\"vendor\":{\"fields\":[]}}}",
     "m.json: entity 'vendor': missing 'sobject' (or 'routes')"},
    {"{\"version\":1,\"entities\":{\"ven dor\":{}}}",
     "m.json: entity 'ven dor': entity name is not a valid name"},
    {HEAD "\"fields\":[]},\"vendor\":{}}}", "m.json: entity 'vendor': entity defined twice"},
    {"{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\",\"key_template\":\"{VendNum}"
     "\",\"fields\":[]}}}",
     "m.json: entity 'vendor': missing 'external_id_field'"},
    {HEAD "\"fields\":[], \"sobjet\":\"x\"}}}",
     "m.json: entity 'vendor': unknown key 'sobjet' in entity (allowed: sobject, "
     "external_id_field, key_template, match_key_template, fields, routes, comment)"},
    {HEAD "\"fields\":[], \"fields\":[]}}}",
     "m.json: entity 'vendor': duplicate key 'fields' in entity"},
    {HEAD "\"x\":1}}}",
     "m.json: entity 'vendor': unknown key 'x' in entity (allowed: sobject, external_id_field, "
     "key_template, match_key_template, fields, routes, comment)"},
    {"{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
     "\"key_template\":\"{tenant}:vendor\",\"fields\":[]}}}",
     "m.json: entity 'vendor': key_template '{tenant}:vendor' has no record placeholder such as "
     "{VendNum}"},
    {"{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
     "\"key_template\":\"{tenant}:vendor:{VendNum\",\"fields\":[]}}}",
     "m.json: entity 'vendor': bad template placeholder in key_template "
     "'{tenant}:vendor:{VendNum': '{' without '}'"},
    {"{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
     "\"key_template\":\"{Vend Num}\",\"fields\":[]}}}",
     "m.json: entity 'vendor': bad template placeholder {Vend Num} in key_template '{Vend Num}': "
     "not a property name"},
    {"{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
     "\"key_template\":\"a}{VendNum}\",\"fields\":[]}}}",
     "m.json: entity 'vendor': bad template placeholder in key_template 'a}{VendNum}': '}' without "
     "'{' (write '}}' for a literal brace)"},
    {HEAD "\"fields\":{}}}}",
     "m.json: entity 'vendor': 'fields' must be an array of at most 200 field rules"},
    //  fields
    {FIELDS ("{\"to\":\"Name\",\"from\":\"Name\",\"transforms\":[\"trimm\"]}"),
     "m.json: entity 'vendor', field 'Name': unknown transform 'trimm' (known: trim, upper, lower, "
     "title, truncate:N, number, number:D, date, date:dmy, date:mdy, datetime, boolean, "
     "first_name, last_name, normalize, lookup)"},
    {FIELDS ("{\"to\":\"Name\",\"form\":\"Name\"}"),
     "m.json: entity 'vendor', field 'Name': unknown key 'form' in field (allowed: to, from, "
     "from_target, template, const, parent, transforms, lookup, lookup_miss, default, required, "
     "empty, merge, comment)"},
    {FIELDS ("{\"from\":\"Name\"}"), "m.json: entity 'vendor', field '#1': missing 'to'"},
    {FIELDS ("{\"to\":\"Name\"}"), "m.json: entity 'vendor', field 'Name': needs exactly one of "
                                   "'from', 'template', 'const', 'parent', 'from_target'"},
    {FIELDS ("{\"to\":\"Name\",\"from\":\"Name\",\"const\":\"x\"}"),
     "m.json: entity 'vendor', field 'Name': needs exactly one of 'from', 'template', 'const', "
     "'parent', 'from_target'"},
    {FIELDS ("{\"to\":\"Name\",\"from\":\"Name\"},{\"to\":\"Name\",\"from\":\"Name\"}"),
     "m.json: entity 'vendor', field 'Name': mapped twice"},
    {FIELDS ("{\"to\":\"CloudSuite_Key__c\",\"from\":\"VendNum\"}"),
     "m.json: entity 'vendor', field 'CloudSuite_Key__c': is the external-ID field, which "
     "key_template sets"},
    {FIELDS ("{\"to\":\"Name\",\"from\":\"Name\",\"transforms\":[\"truncate\"]}"),
     "m.json: entity 'vendor', field 'Name': transform 'truncate' needs a length: truncate:N with "
     "N in 1..131072"},
    {FIELDS ("{\"to\":\"Name\",\"from\":\"Name\",\"transforms\":[\"truncate:0\"]}"),
     "m.json: entity 'vendor', field 'Name': transform 'truncate:0' needs a length: truncate:N "
     "with N in 1..131072"},
    {FIELDS ("{\"to\":\"Name\",\"from\":\"Name\",\"transforms\":[\"trim:2\"]}"),
     "m.json: entity 'vendor', field 'Name': transform 'trim' takes no argument ('trim:2')"},
    {FIELDS ("{\"to\":\"Amount\",\"from\":\"Amount\",\"transforms\":[\"number:9\"]}"),
     "m.json: entity 'vendor', field 'Amount': transform 'number:9': decimals must be 0..8 "
     "(number:2)"},
    {FIELDS ("{\"to\":\"D\",\"from\":\"D\",\"transforms\":[\"date:ymd\"]}"),
     "m.json: entity 'vendor', field 'D': transform 'date:ymd': date takes no argument, 'dmy' or "
     "'mdy'"},
    {FIELDS ("{\"to\":\"Amount\",\"from\":\"Amount\",\"transforms\":[\"number\",\"trim\"]}"),
     "m.json: entity 'vendor', field 'Amount': transform 'trim' cannot follow a number result"},
    {FIELDS ("{\"to\":\"Amount\",\"from\":\"Amount\",\"transforms\":[\"number\"],\"default\":"
             "\"none\"}"),
     "m.json: entity 'vendor', field 'Amount': 'default' 'none' is not a number, and the field is "
     "a number"},
    {FIELDS ("{\"to\":\"B\",\"from\":\"B\",\"transforms\":[\"boolean\"],\"default\":\"yes\"}"),
     "m.json: entity 'vendor', field 'B': 'default' must be \"true\" or \"false\" for a boolean "
     "field"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"transforms\":[\"lookup\"]}"),
     "m.json: entity 'vendor', field 'S': transform 'lookup' needs a 'lookup' table"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"lookup\":{\"A\":1}}"),
     "m.json: entity 'vendor', field 'S': lookup entry 'A' must map to a string"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"lookup\":{\"A\":\"x\",\"A\":\"y\"}}"),
     "m.json: entity 'vendor', field 'S': duplicate lookup entry 'A'"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"lookup_miss\":\"keep\"}"),
     "m.json: entity 'vendor', field 'S': 'lookup_miss' without a 'lookup' table"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"lookup\":{\"A\":\"x\"},\"lookup_miss\":\"drop\"}"),
     "m.json: entity 'vendor', field 'S': 'lookup_miss' must be \"reject\", \"keep\" or \"empty\""},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"required\":\"yes\"}"),
     "m.json: entity 'vendor', field 'S': 'required' must be true or false"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"empty\":\"skip\"}"),
     "m.json: entity 'vendor', field 'S': 'empty' must be \"null\" (clear the field) or \"omit\" "
     "(leave it out)"},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"merge\":\"append\"}"),
     "m.json: entity 'vendor', field 'S': 'merge' must be \"union\""},
    {FIELDS ("{\"to\":\"S\",\"from\":\"Stat\",\"transforms\":[\"boolean\"],\"merge\":\"union\"}"),
     "m.json: entity 'vendor', field 'S': 'merge': \"union\" needs a text (multi-picklist) value"},
    {FIELDS ("{\"to\":\"S\",\"const\":[1]}"),
     "m.json: entity 'vendor', field 'S': 'const' must be a string, number or boolean"},
    {FIELDS ("{\"to\":\"S\",\"template\":\"plain\"}"),
     "m.json: entity 'vendor', field 'S': template 'plain' has no placeholder (use 'const')"},
    {FIELDS ("{\"to\":\"S\",\"template\":\"{A|upper|}\"}"),
     "m.json: entity 'vendor', field 'S': bad template placeholder in template '{A|upper|}': empty "
     "or unknown transform after '|'"},
    {FIELDS ("{\"to\":\"S\",\"template\":\"{A|uper}\"}"),
     "m.json: entity 'vendor', field 'S': unknown transform 'uper' (known: trim, upper, lower, "
     "title, truncate:N, number, number:D, date, date:dmy, date:mdy, datetime, boolean, "
     "first_name, last_name, normalize, lookup)"},
    {FIELDS ("{\"to\":\"S\",\"template\":\"{A|lookup}\"}"),
     "m.json: entity 'vendor', field 'S': bad template placeholder in template '{A|lookup}': "
     "'lookup' is for fields, not placeholders"},
    {FIELDS ("{\"to\":\"S\",\"template\":\"{}\"}"),
     "m.json: entity 'vendor', field 'S': bad template placeholder in template '{}': empty or too "
     "long name"},
    {FIELDS ("{\"to\":\"Type\",\"from_target\":\"Roles\"}"),
     "m.json: entity 'vendor', field 'Type': 'from_target' 'Roles' must name an earlier text field "
     "of this route"},
    {FIELDS ("{\"to\":\"A__r\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":\"K\"}}"),
     "m.json: entity 'vendor', field 'A__r': missing 'key_template'"},
    {FIELDS ("{\"to\":\"A__r\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
             "\"key_template\":\"{tenant}\"}}"),
     "m.json: entity 'vendor', field 'A__r': parent key_template '{tenant}' has no record "
     "placeholder"},
    {FIELDS ("{\"to\":\"A__r\",\"transforms\":[\"trim\"],\"parent\":{\"sobject\":\"Account\","
             "\"external_id_field\":\"K\",\"key_template\":\"{C}\"}}"),
     "m.json: entity 'vendor', field 'A__r': a 'parent' reference takes no 'transforms'"},
    {FIELDS ("{\"to\":\"A__r\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
             "\"key_template\":\"{C}\",\"kind\":1}}"),
     "m.json: entity 'vendor', field 'A__r': unknown key 'kind' in parent (allowed: sobject, "
     "external_id_field, key_template, typed, alternatives, comment)"},
//  parent alternatives
#define PARENT_ALTS(x)                                                                             \
    FIELDS ("{\"to\":\"N\",\"from\":\"N\"},{\"to\":\"A__r\",\"parent\":{\"sobject\":\"Account\","  \
            "\"external_id_field\":\"K\",\"key_template\":\"{C}\",\"alternatives\":" x "}}")
    {PARENT_ALTS ("[]"),
     "m.json: entity 'vendor', field 'A__r': parent 'alternatives' must be an array of 1 to 4 "
     "objects"},
    {PARENT_ALTS ("[\"Contact\"]"),
     "m.json: entity 'vendor', field 'A__r': each parent alternative must be an object with "
     "sobject and to"},
    {PARENT_ALTS ("[{\"sobject\":\"Contact\"}]"),
     "m.json: entity 'vendor', field 'A__r': missing 'to'"},
    {PARENT_ALTS ("[{\"sobject\":\"Contact\",\"to\":\"C__r\",\"key_template\":\"{C}\"}]"),
     "m.json: entity 'vendor', field 'A__r': unknown key 'key_template' in parent alternative "
     "(allowed: sobject, to, external_id_field, typed, comment)"},
    {PARENT_ALTS ("[{\"sobject\":\"Account\",\"to\":\"C__r\"}]"),
     "m.json: entity 'vendor', field 'A__r': parent alternative sObject 'Account' is the "
     "parent's own"},
    {PARENT_ALTS ("[{\"sobject\":\"Contact\",\"to\":\"N\"}]"),
     "m.json: entity 'vendor', field 'A__r': parent alternative 'N' is mapped twice"},
    {PARENT_ALTS ("[{\"sobject\":\"Contact\",\"to\":\"A__r\"}]"),
     "m.json: entity 'vendor', field 'A__r': parent alternative 'A__r' is mapped twice"},
    {PARENT_ALTS ("[{\"sobject\":\"Contact\",\"to\":\"C__r\"},{\"sobject\":\"Contact\",\"to\":"
                  "\"D__r\"}]"),
     "m.json: entity 'vendor', field 'A__r': parent alternative 'D__r' (Contact) is listed twice"},
    {FIELDS ("{\"to\":\"A__r\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":\"K\","
             "\"key_template\":\"{C}\",\"alternatives\":[{\"sobject\":\"Contact\",\"to\":"
             "\"C__r\"}]}},{\"to\":\"C__r\",\"from\":\"X\"}"),
     "m.json: entity 'vendor', field 'C__r': mapped twice"},
    //  routes and conditions
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[]}}}",
     "m.json: entity 'customer': 'routes' must be an array of 1..16 routes"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"sobject\":\"Account\",\"routes\":[{\"name\":"
     "\"a\",\"skip\":true}]}}}",
     "m.json: entity 'customer': 'sobject' belongs inside each route when 'routes' is used"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"skip\":true}]}}}",
     "m.json: entity 'customer': missing 'name'"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"skip\":true},{"
     "\"name\":\"b\",\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'b': unreachable: route 'a' before it has no 'when'"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"field\":"
     "\"X\",\"eq\":\"1\"},\"skip\":true},{\"name\":\"a\",\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': duplicate route name"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"skip\":true,"
     "\"sobject\":\"Account\"}]}}}",
     "m.json: entity 'customer', route 'a': a skip route takes no 'sobject'"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"co\",\"external_id_"
     "field\":\"K\",\"key_template\":\"{C}\",\"fields\":[]}]}}}",
     "m.json: entity 'customer', route 'co': missing 'sobject'"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"field\":"
     "\"CustSeq\",\"eq\":0},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition 'eq' on 'CustSeq' needs a string value "
     "(write \"0\", not 0)"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"field\":"
     "\"CustSeq\",\"gt\":\"0\"},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition 'gt' on 'CustSeq' needs a number"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"field\":"
     "\"X\"},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition on 'X' needs one of eq, ne, in, empty, gt, "
     "ge, lt, le"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"field\":"
     "\"X\",\"eq\":\"1\",\"ne\":\"2\"},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition on 'X' takes exactly one of eq, ne, in, "
     "empty, gt, ge, lt, le"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"all\":[],"
     "\"any\":[]},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': a condition takes one of 'all', 'any', 'not'"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"all\":[]},"
     "\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition 'all' needs 1..64 items"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":{\"field\":"
     "\"X\",\"in\":[\"a\",1]},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition 'in' on 'X' needs an array of strings"},
    {"{\"version\":1,\"entities\":{\"customer\":{\"routes\":[{\"name\":\"a\",\"when\":"
     "{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"field\":"
     "\"X\",\"eq\":\"1\"}}}}}}}}}},\"skip\":true}]}}}",
     "m.json: entity 'customer', route 'a': condition nested deeper than 8"},
};

static void
test_broken_table (void **state)
{
    for (size_t i = 0; i < sizeof s_broken / sizeof s_broken[0]; i++) {
        char err[1024] = "";
        tf_mapping_t *m = tf_mapping_parse (s_broken[i].text, strlen (s_broken[i].text), "m.json",
                                            err, sizeof err);
        if (m) {
            tf_mapping_destroy (&m);
            fail_msg ("case %zu loaded but must not: %s", i, s_broken[i].text);
        }
        if (strcmp (err, s_broken[i].message) != 0)
            fail_msg ("case %zu:\n got  %s\n want %s", i, err, s_broken[i].message);
    }
}

static void
test_bounds_and_files (void **state)
{
    char err[512];
    //  A file that is not there names itself.
    assert_null (tf_mapping_load ("/nonexistent/mapping.json", err, sizeof err));
    assert_string_equal (err, "/nonexistent/mapping.json: cannot open: No such file or directory");

    //  Over the size bound.
    size_t big = TF_MAX_FILE_BYTES + 10;
    char *text = malloc (big);
    assert_non_null (text);
    memset (text, ' ', big);
    assert_null (tf_mapping_parse (text, big, "big.json", err, sizeof err));
    assert_string_equal (err, "big.json: larger than 1048576 bytes");
    free (text);

    //  Trailing garbage after the object.
    const char *trail =
        "{\"version\":1,\"entities\":{\"v\":{\"sobject\":\"A\",\"external_id_field\":"
        "\"K\",\"key_template\":\"{X}\",\"fields\":[]}}} x";
    assert_null (tf_mapping_parse (trail, strlen (trail), "t.json", err, sizeof err));
    assert_string_equal (err, "t.json: trailing text after the JSON object");

    //  Too many placeholders in one template.
    char tmpl[2048] = "";
    for (int i = 0; i < TF_MAX_PLACEHOLDERS + 1; i++)
        strcat (tmpl, "{A}-");
    char doc[4096];
    snprintf (doc, sizeof doc,
              "{\"version\":1,\"entities\":{\"v\":{\"sobject\":\"A\",\"external_id_field\":\"K\","
              "\"key_template\":\"{X}\",\"fields\":[{\"to\":\"F\",\"template\":\"%s\"}]}}}",
              tmpl);
    assert_null (tf_mapping_parse (doc, strlen (doc), "p.json", err, sizeof err));
    assert_non_null (strstr (err, "has more than 64 placeholders"));

    //  A good minimal mapping, with comments everywhere allowed.
    const char *ok = "{\"version\":1,\"comment\":\"c\",\"entities\":{\"v\":{\"comment\":\"c\","
                     "\"sobject\":\"A\",\"external_id_field\":\"K\",\"key_template\":\"{X}\","
                     "\"fields\":[{\"to\":\"F\",\"from\":\"X\",\"comment\":\"c\"}]}}}";
    tf_mapping_t *m = tf_mapping_parse (ok, strlen (ok), "ok.json", err, sizeof err);
    if (!m)
        fail_msg ("%s", err);
    assert_false (tf_mapping_uses_union (m));
    tf_mapping_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_default_loads),
        cmocka_unit_test (test_broken_table),
        cmocka_unit_test (test_bounds_and_files),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
