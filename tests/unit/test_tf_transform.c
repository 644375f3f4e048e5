/*  Unit tests for tf_transform: every transform, templates, lookups, defaults, required
    fields, routing, parent references, JSON escaping, and golden payloads of the default
    mapping (config/mapping.json) for real-shaped CSI records, with and without the
    transformer's memory (a real RocksDB in a temporary directory). Run from the
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
#include "../../transformer/tf_memory.h"
#include "../../transformer/tf_transform.h"
#include "cm_envelope.h"

#define TENANT "ACME_PRD"

/*  A record: NULL-terminated name, value pairs. */
static cm_envelope_t *
make_env (const char *entity, const char *key, const char *const *kv)
{
    cm_envelope_t *env = cm_envelope_new (TENANT, entity, key);
    assert_non_null (env);
    for (size_t i = 0; kv && kv[i]; i += 2)
        assert_int_equal (cm_envelope_add_field (env, kv[i], kv[i + 1]), 0);
    return env;
}

/*  A vendor mapping with one extra field rule. */
static tf_mapping_t *
one_field_mapping (const char *field_json)
{
    char text[8192];
    snprintf (text, sizeof text,
              "{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\","
              "\"external_id_field\":\"CloudSuite_Key__c\","
              "\"key_template\":\"{tenant}:vendor:{VendNum}\",\"fields\":[%s]}}}",
              field_json);
    char err[512];
    tf_mapping_t *m = tf_mapping_parse (text, strlen (text), "test", err, sizeof err);
    if (!m)
        fail_msg ("mapping did not load: %s\n%s", err, text);
    return m;
}

typedef struct {
    const char *field;    /* field rule JSON */
    const char *value;    /* value of source property V (NULL: absent) */
    const char *expected; /* payload after the key, e.g. "\"X\":\"a\"" ("" = nothing) */
    const char *reason;   /* or: the rejection reason */
} field_case_t;

static const field_case_t s_field_cases[] = {
    //  trim, case, truncate
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"trim\"]}", " \t Acme Co \r\n",
     "\"X\":\"Acme Co\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"upper\"]}", "acme Zürich",
     "\"X\":\"ACME ZüRICH\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"lower\"]}", "ACME Co", "\"X\":\"acme co\"",
     NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"title\"]}",
     "NORTHWIND METALS-WEST o'brien & SONS", "\"X\":\"Northwind Metals-West O'brien & Sons\"",
     NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"truncate:5\"]}", "Northwind",
     "\"X\":\"North\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"truncate:3\"]}", "Zürich", "\"X\":\"Zür\"",
     NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"truncate:40\"]}", "short", "\"X\":\"short\"",
     NULL},
    //  numbers
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number\"]}", " 001234.5000 ",
     "\"X\":1234.5000", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number:2\"]}", "1234.565", "\"X\":1234.57",
     NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number:2\"]}", "999.995", "\"X\":1000.00",
     NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number:2\"]}", "-0.004", "\"X\":0.00", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number:0\"]}", "-12.5", "\"X\":-13", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number:2\"]}", ".5", "\"X\":0.50", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number\"]}", "", "\"X\":null", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number\"]}", "1,234.50", NULL,
     "field X: number: '1,234.50' is not a decimal number (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number\"]}", "1e5", NULL,
     "field X: number: '1e5' is not a decimal number (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"number:2\"],\"default\":\"0\"}", "", "\"X\":0",
     NULL},
    //  dates
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date\"]}", "2026-02-01 08:15:02.117",
     "\"X\":\"2026-02-01\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date\"]}", "20260201 08:15:02.117",
     "\"X\":\"2026-02-01\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date\"]}", "2024-02-29",
     "\"X\":\"2024-02-29\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date:dmy\"]}", "1/2/2026",
     "\"X\":\"2026-02-01\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date:mdy\"]}", "02/01/2026",
     "\"X\":\"2026-02-01\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date\"]}", "2026-02-30", NULL,
     "field X: date: '2026-02-30' is not a valid date (YYYY-MM-DD[ HH:MM:SS[.fff]]) (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date\"]}", "2025-02-29 00:00:00", NULL,
     "field X: date: '2025-02-29 00:00:00' is not a valid date (YYYY-MM-DD[ HH:MM:SS[.fff]]) "
     "(source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"date\"]}", "2026-02-01 25:00:00", NULL,
     "field X: date: '2026-02-01 25:00:00' is not a valid date (YYYY-MM-DD[ HH:MM:SS[.fff]]) "
     "(source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"datetime\"]}", "2026-02-01 08:15:02.117",
     "\"X\":\"2026-02-01T08:15:02.117Z\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"datetime\"]}", "2026-02-01 08:15:02",
     "\"X\":\"2026-02-01T08:15:02.000Z\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"datetime\"]}", "2026-02-01T08:15:02.1Z",
     "\"X\":\"2026-02-01T08:15:02.100Z\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"datetime\"]}", "2026-02-01",
     "\"X\":\"2026-02-01T00:00:00.000Z\"", NULL},
    //  booleans
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"boolean\"]}", "1", "\"X\":true", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"boolean\"]}", " n ", "\"X\":false", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"boolean\"]}", "maybe", NULL,
     "field X: boolean: 'maybe' is not one of 1/0, Y/N, T/F, true/false, yes/no (source V)"},
    //  names and match form
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"first_name\"]}", " Anna  Maria Ng ",
     "\"X\":\"Anna  Maria\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"last_name\"]}", " Anna Maria Ng ",
     "\"X\":\"Ng\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"first_name\"]}", "Cher", "\"X\":null", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"normalize\"]}", " Acme,  Inc. (West) ",
     "\"X\":\"ACME INC WEST\"", NULL},
    //  lookups
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"trim\",\"upper\"],\"lookup\":{\"A\":"
     "\"Active\",\"I\":\"Inactive\",\"H\":\"On Hold\"}}",
     " h", "\"X\":\"On Hold\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"lookup\":{\"A\":\"Active\"}}", "Z", NULL,
     "field X: lookup has no entry for 'Z' (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"lookup\":{\"A\":\"Active\"},\"lookup_miss\":\"keep\"}", "Z",
     "\"X\":\"Z\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"lookup\":{\"A\":\"Active\"},\"lookup_miss\":\"empty\"}", "Z",
     "\"X\":null", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"lookup\":{\"A\":\"Active\"}}", "", "\"X\":null", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"lookup\",\"upper\"],\"lookup\":{\"A\":"
     "\"Active\"}}",
     "A", "\"X\":\"ACTIVE\"", NULL},
    //  defaults, required, empty handling
    {"{\"to\":\"X\",\"from\":\"V\",\"default\":\"n/a\"}", "", "\"X\":\"n/a\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"default\":\"n/a\"}", NULL, "\"X\":\"n/a\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"trim\"],\"required\":true}", "   ", NULL,
     "field X: required but empty (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"required\":true}", NULL, NULL,
     "field X: required but empty (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"empty\":\"omit\"}", "", "", NULL},
    {"{\"to\":\"X\",\"from\":\"V\"}", "", "\"X\":null", NULL},
    //  constants
    {"{\"to\":\"X\",\"const\":\"Vendor\"}", NULL, "\"X\":\"Vendor\"", NULL},
    {"{\"to\":\"X\",\"const\":42.5}", NULL, "\"X\":42.5", NULL},
    {"{\"to\":\"X\",\"const\":true}", NULL, "\"X\":true", NULL},
    //  templates: empty parts and their separators dropped
    {"{\"to\":\"X\",\"template\":\"{V}\\n{VendNum}\"}", "", "\"X\":\"V1\"", NULL},
    {"{\"to\":\"X\",\"template\":\"{V}\\n{Missing}\\n{VendNum}\"}", " 1 Main St ",
     "\"X\":\"1 Main St\\nV1\"", NULL},
    {"{\"to\":\"X\",\"template\":\"Invoice {V}.\"}", "7", "\"X\":\"Invoice 7.\"", NULL},
    {"{\"to\":\"X\",\"template\":\"Invoice {V}.\"}", "", "\"X\":null", NULL},
    {"{\"to\":\"X\",\"template\":\"{V}, {Missing} {VendNum}\"}", "Columbus",
     "\"X\":\"Columbus, V1\"", NULL},
    {"{\"to\":\"X\",\"template\":\"{{{V}}}\"}", "a", "\"X\":\"{a}\"", NULL},
    {"{\"to\":\"X\",\"template\":\"{V|upper|truncate:3}-{tenant}\"}", "north",
     "\"X\":\"NOR-ACME_PRD\"", NULL},
    {"{\"to\":\"X\",\"template\":\"{V|date}\"}", "nope", NULL,
     "field X: date: 'nope' is not a valid date (YYYY-MM-DD[ HH:MM:SS[.fff]]) (template "
     "'{V|date}')"},
    //  JSON escaping and UTF-8
    {"{\"to\":\"X\",\"from\":\"V\"}", "Café \"Zürich\" \\ 1\n2\t\x01 日本",
     "\"X\":\"Café \\\"Zürich\\\" \\\\ 1\\n2\\t\\u0001 日本\"", NULL},
    {"{\"to\":\"X\",\"from\":\"V\"}", "bad \xff byte", NULL, "field X: not valid UTF-8 (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\"}", "overlong \xc0\xaf", NULL,
     "field X: not valid UTF-8 (source V)"},
    {"{\"to\":\"X\",\"from\":\"V\",\"transforms\":[\"truncate:2\"]}",
     "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", "\"X\":\"€€\"", NULL},
    //  parent references
    {"{\"to\":\"Account__r\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":"
     "\"CloudSuite_Key__c\",\"key_template\":\"{tenant}:customer:{V}\"}}",
     "C000042", "\"Account__r\":{\"CloudSuite_Key__c\":\"ACME_PRD:customer:C000042\"}", NULL},
    {"{\"to\":\"What\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":\"CloudSuite_Key__"
     "c\",\"key_template\":\"{tenant}:vendor:{V}\",\"typed\":true}}",
     "V9",
     "\"What\":{\"attributes\":{\"type\":\"Account\"},\"CloudSuite_Key__c\":\"ACME_PRD:vendor:"
     "V9\"}",
     NULL},
    {"{\"to\":\"Account__r\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":"
     "\"CloudSuite_Key__c\",\"key_template\":\"{tenant}:customer:{V}\"}}",
     " ", "", NULL},
    {"{\"to\":\"Account__r\",\"required\":true,\"parent\":{\"sobject\":\"Account\",\"external_id_"
     "field\":\"CloudSuite_Key__c\",\"key_template\":\"{tenant}:customer:{V}\"}}",
     "", NULL,
     "field Account__r: parent key incomplete, {V} is empty (template '{tenant}:customer:{V}')"},
};

static void
test_field_table (void **state)
{
    for (size_t i = 0; i < sizeof s_field_cases / sizeof s_field_cases[0]; i++) {
        const field_case_t *c = &s_field_cases[i];
        tf_mapping_t *m = one_field_mapping (c->field);
        const char *kv[] = {"VendNum", "V1", c->value ? "V" : NULL, c->value, NULL};
        cm_envelope_t *env = make_env ("vendor", "V1", kv);
        tf_result_t res;
        tf_status_t st = tf_transform_apply (m, env, NULL, &res);
        if (c->expected) {
            char want[4096];
            snprintf (want, sizeof want, "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V1\"%s%s}",
                      *c->expected ? "," : "", c->expected);
            if (st != TF_OK)
                fail_msg ("case %zu (%s): rejected: %s", i, c->field, res.reason);
            if (strcmp (env->payload, want) != 0)
                fail_msg ("case %zu (%s):\n got  %s\n want %s", i, c->field, env->payload, want);
            assert_string_equal (env->sobject, "Account");
            assert_string_equal (env->ext_id_field, "CloudSuite_Key__c");
            assert_string_equal (env->ext_id, "ACME_PRD:vendor:V1");
        } else {
            if (st != TF_REJECT)
                fail_msg ("case %zu (%s): not rejected, payload %s", i, c->field,
                          env->payload ? env->payload : "(none)");
            if (strcmp (res.reason, c->reason) != 0)
                fail_msg ("case %zu: reason\n got  %s\n want %s", i, res.reason, c->reason);
            assert_null (env->payload);
            assert_false (res.retryable);
        }
        cm_envelope_destroy (&env);
        tf_mapping_destroy (&m);
    }
}

static void
test_reject_codes (void **state)
{
    tf_mapping_t *m = one_field_mapping ("{\"to\":\"Name\",\"from\":\"Name\",\"required\":true}");
    tf_result_t res;
    const char *kv[] = {"VendNum", "V1", "Name", "", NULL};
    cm_envelope_t *env = make_env ("vendor", "V1", kv);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_REJECT);
    assert_string_equal (res.code, "MAPPING_REQUIRED_FIELD");
    assert_string_equal (res.field, "Name");
    assert_string_equal (res.reason, "field Name: required but empty (source Name)");
    cm_envelope_destroy (&env);

    //  The key needs every placeholder.
    const char *nokey[] = {"VendNum", "  ", "Name", "Acme", NULL};
    env = make_env ("vendor", "", nokey);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_REJECT);
    assert_string_equal (res.code, "MAPPING_REQUIRED_FIELD");
    assert_string_equal (res.reason, "field CloudSuite_Key__c: key incomplete, {VendNum} is "
                                     "empty (key_template '{tenant}:vendor:{VendNum}')");
    cm_envelope_destroy (&env);

    //  An entity the mapping does not know.
    env = make_env ("widget", "W1", NULL);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_REJECT);
    assert_string_equal (res.code, "MAPPING_NO_ENTITY");
    cm_envelope_destroy (&env);

    //  A key longer than a Salesforce external ID can hold.
    char longv[400];
    memset (longv, 'K', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    const char *big[] = {"VendNum", longv, "Name", "Acme", NULL};
    env = make_env ("vendor", "x", big);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_REJECT);
    assert_string_equal (res.code, "MAPPING_TRANSFORM_FAILED");
    cm_envelope_destroy (&env);
    tf_mapping_destroy (&m);
}

static const char s_routing[] =
    "{\"version\":1,\"entities\":{\"customer\":{\"routes\":["
    "{\"name\":\"ship_to\",\"when\":{\"field\":\"CustSeq\",\"gt\":0},\"skip\":true},"
    "{\"name\":\"gov\",\"when\":{\"all\":[{\"field\":\"CustType\",\"in\":[\"GOV\",\"MIL\"]},"
    "  {\"not\":{\"field\":\"Name\",\"empty\":true}}]},"
    "  \"sobject\":\"Account\",\"external_id_field\":\"CloudSuite_Key__c\","
    "  "
    "\"key_template\":\"{tenant}:gov:{CustNum}\",\"fields\":[{\"to\":\"Name\",\"from\":\"Name\"}]},"
    "{\"name\":\"person\",\"when\":{\"any\":[{\"field\":\"CustType\",\"eq\":\"IND\"},"
    "  {\"field\":\"CreditLimit\",\"lt\":100}]},"
    "  \"sobject\":\"Contact\",\"external_id_field\":\"CloudSuite_Key__c\","
    "  \"key_template\":\"{tenant}:customer:{CustNum}\","
    "  \"fields\":[{\"to\":\"LastName\",\"from\":\"Name\",\"transforms\":[\"last_name\"]}]},"
    "{\"name\":\"hold\",\"when\":{\"field\":\"CreditHold\",\"ne\":\"0\"},\"skip\":true}"
    "]}}}";

static void
test_routing (void **state)
{
    char err[512];
    tf_mapping_t *m = tf_mapping_parse (s_routing, strlen (s_routing), "routing", err, sizeof err);
    if (!m)
        fail_msg ("%s", err);
    struct {
        const char *seq, *type, *name, *limit, *hold;
        tf_status_t status;
        const char *route, *sobject, *payload;
    } rows[] = {
        {"1", "DIST", "Acme", "5000", "0", TF_SKIP, "ship_to", NULL, NULL},
        {" 0", "GOV", "City of Dayton", "5000", "0", TF_OK, "gov", "Account",
         "{\"CloudSuite_Key__c\":\"ACME_PRD:gov:C1\",\"Name\":\"City of Dayton\"}"},
        {"0", "GOV", "", "5000", "0", TF_REJECT, "", NULL, NULL}, //  no route fits
        {"0", "IND", "Anna Ng", "5000", "0", TF_OK, "person", "Contact",
         "{\"CloudSuite_Key__c\":\"ACME_PRD:customer:C1\",\"LastName\":\"Ng\"}"},
        {"0", "DIST", "Bo Li", "50.00", "0", TF_OK, "person", "Contact",
         "{\"CloudSuite_Key__c\":\"ACME_PRD:customer:C1\",\"LastName\":\"Li\"}"},
        {"0", "DIST", "Acme", "5000", "1", TF_SKIP, "hold", NULL, NULL},
        {"0", "DIST", "Acme", "not a number", "0", TF_REJECT, "", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *kv[] = {"CustNum",    "C1",         "CustSeq",    rows[i].seq,   "CustType",
                            rows[i].type, "Name",       rows[i].name, "CreditLimit", rows[i].limit,
                            "CreditHold", rows[i].hold, NULL};
        cm_envelope_t *env = make_env ("customer", "C1/0", kv);
        tf_result_t res;
        tf_status_t st = tf_transform_apply (m, env, NULL, &res);
        if (st != rows[i].status)
            fail_msg ("row %zu: status %d, want %d (%s)", i, st, rows[i].status, res.reason);
        if (st == TF_REJECT) {
            assert_string_equal (res.code, "MAPPING_NO_ROUTE");
            assert_string_equal (res.reason, "entity customer: no route matches the record");
        } else
            assert_string_equal (res.route, rows[i].route);
        if (rows[i].sobject) {
            assert_string_equal (env->sobject, rows[i].sobject);
            assert_string_equal (env->payload, rows[i].payload);
        } else
            assert_null (env->payload);
        cm_envelope_destroy (&env);
    }
    tf_mapping_destroy (&m);
}

/*  A real-shaped SLVendors record (shared/reference/infor-ion-api.md). */
static const char *const s_vendor[] = {"VendNum",
                                       "V000123",
                                       "Name",
                                       "  Northwind Metals  ",
                                       "Phone",
                                       "(614) 555-0142",
                                       "Stat",
                                       "A",
                                       "CurrCode",
                                       "usd",
                                       "TermsCode",
                                       "N30",
                                       "VadAddr_1",
                                       "1200 Industrial Pkwy",
                                       "VadAddr_2",
                                       "Suite 300",
                                       "VadAddr_3",
                                       "",
                                       "VadAddr_4",
                                       "",
                                       "VadCity",
                                       "Columbus",
                                       "VadState",
                                       "OH",
                                       "VadZip",
                                       "43215",
                                       "VadCountry",
                                       "US",
                                       "ExternalEmailAddr",
                                       "sales@northwind.com",
                                       "RecordDate",
                                       "2026-02-01 08:15:02.117",
                                       "RowPointer",
                                       "4E1D2B8C-1F7A-4C1E-9E51-3A7F0C2D9B11",
                                       NULL};

#define GOLDEN_VENDOR                                                                              \
    "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000123\",\"Name\":\"Northwind Metals\","            \
    "\"Phone\":\"(614) 555-0142\",\"BillingStreet\":\"1200 Industrial Pkwy\\nSuite 300\","         \
    "\"BillingCity\":\"Columbus\",\"BillingState\":\"OH\",\"BillingPostalCode\":\"43215\","        \
    "\"BillingCountry\":\"US\",\"CloudSuite_Vendor_Number__c\":\"V000123\","                       \
    "\"CloudSuite_Tenant__c\":\"ACME_PRD\",\"CloudSuite_Roles__c\":\"Supplier\","                  \
    "\"Type\":\"Vendor\",\"CloudSuite_Status__c\":\"Active\","                                     \
    "\"CloudSuite_Currency__c\":\"USD\",\"CloudSuite_Terms__c\":\"N30\"}"

static tf_mapping_t *
default_mapping (void)
{
    char err[512];
    tf_mapping_t *m = tf_mapping_load ("config/mapping.json", err, sizeof err);
    if (!m)
        fail_msg ("config/mapping.json: %s", err);
    return m;
}

static void
test_golden_vendor (void **state)
{
    tf_mapping_t *m = default_mapping ();
    cm_envelope_t *env = make_env ("vendor", "V000123", s_vendor);
    tf_result_t res;
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_OK);
    assert_string_equal (env->sobject, "Account");
    assert_string_equal (env->ext_id_field, "CloudSuite_Key__c");
    assert_string_equal (env->ext_id, "ACME_PRD:vendor:V000123");
    assert_string_equal (env->payload, GOLDEN_VENDOR);
    //  The target survives the envelope's encoding.
    char *data = NULL;
    size_t size = 0;
    char err[256];
    assert_int_equal (cm_envelope_encode (env, &data, &size), 0);
    cm_envelope_t *back = cm_envelope_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_string_equal (back->payload, GOLDEN_VENDOR);
    cm_envelope_destroy (&back);
    free (data);
    cm_envelope_destroy (&env);
    tf_mapping_destroy (&m);
}

static void
test_golden_children (void **state)
{
    tf_mapping_t *m = default_mapping ();
    tf_result_t res;
    const char *inv[] = {"InvNum",      "1000042",
                         "InvSeq",      "0",
                         "CustNum",     "C000010",
                         "InvDate",     "2026-01-15 00:00:00.000",
                         "DueDate",     "2026-02-14 00:00:00.000",
                         "Amount",      "1250.00",
                         "SalesTax",    "87.50",
                         "Freight",     "0.00",
                         "MiscCharges", "0.00",
                         "AmountPaid",  "1337.50",
                         "PaidInFull",  "1",
                         "Type",        "I",
                         "CoNum",       "CO00001234",
                         "TermsCode",   "N30",
                         "RecordDate",  "2026-01-20 10:00:00.000",
                         NULL};
    cm_envelope_t *env = make_env ("invoice", "1000042/0", inv);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_OK);
    assert_string_equal (env->sobject, "CloudSuite_Invoice__c");
    assert_string_equal (
        env->payload,
        "{\"CloudSuite_Key__c\":\"ACME_PRD:invoice:1000042/0\",\"Name\":\"1000042\","
        "\"Account__r\":{\"CloudSuite_Key__c\":\"ACME_PRD:customer:C000010\"},"
        "\"Amount__c\":1250.00,\"Tax__c\":87.50,\"Invoice_Date__c\":\"2026-01-15\","
        "\"Due_Date__c\":\"2026-02-14\",\"Status__c\":\"Paid\",\"Order_Number__c\":\"CO00001234\","
        "\"CloudSuite_Tenant__c\":\"ACME_PRD\"}");
    cm_envelope_destroy (&env);

    //  Open, and a credit memo.
    const char *open[] = {"InvNum",     "1000043", "InvSeq", "0", "CustNum", "C000010",
                          "PaidInFull", "0",       "Type",   "I", NULL};
    env = make_env ("invoice", "1000043/0", open);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_OK);
    assert_non_null (strstr (env->payload, "\"Status__c\":\"Open\""));
    cm_envelope_destroy (&env);
    const char *credit[] = {"InvNum",     "1000044", "InvSeq", "0", "CustNum", "C000010",
                            "PaidInFull", "0",       "Type",   "C", NULL};
    env = make_env ("invoice", "1000044/0", credit);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_OK);
    assert_non_null (strstr (env->payload, "\"Status__c\":\"Credit\""));
    cm_envelope_destroy (&env);

    const char *po[] = {
        "PoNum",       "P000777", "VendNum", "V000123", "OrderDate", "2026-01-05 00:00:00.000",
        "Stat",        "F",       "Whse",    "MAIN",    "TermsCode", "N30",
        "VenCurrCode", "usd",     NULL};
    env = make_env ("po", "P000777", po);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_OK);
    assert_string_equal (env->sobject, "CloudSuite_Purchase_Order__c");
    assert_string_equal (
        env->payload,
        "{\"CloudSuite_Key__c\":\"ACME_PRD:po:P000777\",\"Name\":\"P000777\","
        "\"Account__r\":{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000123\"},"
        "\"Order_Date__c\":\"2026-01-05\",\"Status__c\":\"Filled\",\"Warehouse__c\":\"MAIN\","
        "\"Currency__c\":\"USD\",\"CloudSuite_Tenant__c\":\"ACME_PRD\"}");
    cm_envelope_destroy (&env);

    //  A PO without its vendor cannot be placed on an Account.
    const char *orphan[] = {"PoNum", "P000778", "VendNum", "", NULL};
    env = make_env ("po", "P000778", orphan);
    assert_int_equal (tf_transform_apply (m, env, NULL, &res), TF_REJECT);
    assert_string_equal (res.code, "MAPPING_REQUIRED_FIELD");
    assert_string_equal (res.field, "Account__r");
    cm_envelope_destroy (&env);
    tf_mapping_destroy (&m);
}

/*  The default mapping with the memory: one Account for a supplier that is also a
    customer, both roles, children resolved to it, individuals as Contacts. */
static void
test_default_with_memory (void **state)
{
    char dir[] = "/tmp/test_tf_transform.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char err[512];
    tf_memory_t *mem = tf_memory_open (dir, err, sizeof err);
    if (!mem)
        fail_msg ("%s", err);
    tf_memory_ops_t ops;
    tf_memory_ops (mem, &ops);
    tf_mapping_t *m = default_mapping ();
    tf_result_t res;

    cm_envelope_t *env = make_env ("vendor", "V000123", s_vendor);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_string_equal (env->payload, GOLDEN_VENDOR);
    cm_envelope_destroy (&env);

    //  The same company as a customer: same Account, both roles.
    const char *cust[] = {"CustNum",  "C000010",
                          "CustSeq",  "0",
                          "Name",     "NORTHWIND METALS",
                          "CustType", "DIST",
                          "Addr_1",   "1200 Industrial Pkwy",
                          "Addr_2",   "",
                          "City",     "Columbus",
                          "State",    "OH",
                          "Zip",      "43215",
                          "Country",  "US",
                          "Phone",    "",
                          "CurrCode", "USD",
                          NULL};
    env = make_env ("customer", "C000010/0", cust);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_string_equal (res.route, "company");
    assert_string_equal (env->ext_id, "ACME_PRD:vendor:V000123");
    assert_string_equal (
        env->payload,
        "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000123\",\"Name\":\"NORTHWIND METALS\","
        "\"BillingStreet\":\"1200 Industrial Pkwy\",\"BillingCity\":\"Columbus\","
        "\"BillingState\":\"OH\",\"BillingPostalCode\":\"43215\",\"BillingCountry\":\"US\","
        "\"AccountNumber\":\"C000010\",\"CloudSuite_Customer_Number__c\":\"C000010\","
        "\"CloudSuite_Tenant__c\":\"ACME_PRD\",\"CloudSuite_Roles__c\":\"Customer;Supplier\","
        "\"Type\":\"Customer and Vendor\",\"CloudSuite_Currency__c\":\"USD\"}");
    cm_envelope_destroy (&env);

    //  The supplier again: keeps both roles.
    env = make_env ("vendor", "V000123", s_vendor);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_non_null (strstr (env->payload, "\"CloudSuite_Roles__c\":\"Customer;Supplier\","
                                           "\"Type\":\"Customer and Vendor\""));
    cm_envelope_destroy (&env);

    //  Another supplier with the same name is another company: never merged.
    const char *twin[] = {"VendNum", "V000999", "Name", "Northwind Metals", NULL};
    env = make_env ("vendor", "V000999", twin);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_string_equal (env->ext_id, "ACME_PRD:vendor:V000999");
    cm_envelope_destroy (&env);

    //  The customer's invoice lands on the shared Account.
    const char *inv[] = {"InvNum", "1000050", "InvSeq",     "0", "CustNum", "C000010",
                         "Type",   "I",       "PaidInFull", "0", NULL};
    env = make_env ("invoice", "1000050/0", inv);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_non_null (strstr (env->payload, "\"Account__r\":{\"CloudSuite_Key__c\":"
                                           "\"ACME_PRD:vendor:V000123\"}"));
    cm_envelope_destroy (&env);

    //  An individual is a Contact; its invoice refers to the Contact (Contact__r).
    const char *person[] = {"CustNum",
                            "C000007",
                            "CustSeq",
                            "0",
                            "Name",
                            "Anna Maria Ng",
                            "CustType",
                            "IND",
                            "ExternalEmailAddr",
                            "Anna.Ng@Example.net",
                            NULL};
    env = make_env ("customer", "C000007/0", person);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_string_equal (env->sobject, "Contact");
    assert_string_equal (
        env->payload,
        "{\"CloudSuite_Key__c\":\"ACME_PRD:customer:C000007\",\"LastName\":\"Ng\","
        "\"FirstName\":\"Anna Maria\",\"Email\":\"anna.ng@example.net\",\"Phone\":null,"
        "\"MailingStreet\":null,\"MailingCity\":null,\"MailingState\":null,"
        "\"MailingPostalCode\":null,\"MailingCountry\":null,\"CloudSuite_Tenant__c\":\"ACME_"
        "PRD\"}");
    cm_envelope_destroy (&env);
    const char *pinv[] = {"InvNum", "1000051", "InvSeq", "0", "CustNum", "C000007", NULL};
    env = make_env ("invoice", "1000051/0", pinv);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_OK);
    assert_non_null (strstr (env->payload,
                             "\"Name\":\"1000051\",\"Contact__r\":{"
                             "\"CloudSuite_Key__c\":\"ACME_PRD:customer:C000007\"},"));
    assert_null (strstr (env->payload, "Account__r"));
    cm_envelope_destroy (&env);

    //  A ship-to sequence is skipped.
    const char *ship[] = {"CustNum", "C000010", "CustSeq", "2", "Name", "Northwind Dock", NULL};
    env = make_env ("customer", "C000010/2", ship);
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_SKIP);
    assert_string_equal (res.route, "ship_to");
    cm_envelope_destroy (&env);

    tf_mapping_destroy (&m);
    tf_memory_destroy (&mem);
    //  The memory persists: reopen and the customer is still an alias.
    mem = tf_memory_open (dir, err, sizeof err);
    assert_non_null (mem);
    tf_memory_ops (mem, &ops);
    char *alias = NULL;
    assert_int_equal (ops.resolve (ops.arg, "Account", "ACME_PRD:customer:C000010", &alias), 0);
    assert_non_null (alias);
    assert_string_equal (alias, "ACME_PRD:vendor:V000123");
    free (alias);
    tf_memory_destroy (&mem);
    char cmd[256];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
}

/*  Parent alternatives: the reference follows the sObject the parent was sent as; a type
    that is neither the parent's nor an alternative's is still MAPPING_PARENT_TYPE; an
    unknown parent defers the record. */
static void
test_parent_alternatives (void **state)
{
    char dir[] = "/tmp/test_tf_transform.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char err[512];
    tf_memory_t *mem = tf_memory_open (dir, err, sizeof err);
    if (!mem)
        fail_msg ("%s", err);
    tf_memory_ops_t ops;
    tf_memory_ops (mem, &ops);
    static const char *const text =
        "{\"version\":1,\"entities\":{\"invoice\":{\"sobject\":\"Task\","
        "\"external_id_field\":\"K__c\",\"key_template\":\"{tenant}:invoice:{InvNum}\","
        "\"fields\":[{\"to\":\"What\",\"required\":true,\"parent\":{\"sobject\":\"Account\","
        "\"external_id_field\":\"K__c\",\"key_template\":\"{tenant}:customer:{CustNum}\","
        "\"typed\":true,\"alternatives\":[{\"sobject\":\"Contact\",\"to\":\"Who\","
        "\"typed\":true},{\"sobject\":\"Partner__c\",\"to\":\"Partner__r\","
        "\"external_id_field\":\"P__c\"}]}}]}}}";
    tf_mapping_t *m = tf_mapping_parse (text, strlen (text), "test", err, sizeof err);
    if (!m)
        fail_msg ("%s", err);
    const tf_field_t *f = &tf_mapping_entity (m, "invoice")->routes[0].fields[0];
    assert_int_equal (f->parent_alt_count, 2);
    assert_string_equal (f->parent_alts[1].field, "P__c");

    assert_int_equal (ops.remember (ops.arg, "ACME_PRD:customer:C1", "Contact"), 0);
    assert_int_equal (ops.remember (ops.arg, "ACME_PRD:customer:C2", "Partner__c"), 0);
    assert_int_equal (ops.remember (ops.arg, "ACME_PRD:customer:C3", "Lead"), 0);
    assert_int_equal (ops.remember (ops.arg, "ACME_PRD:customer:C4", "Account"), 0);
    assert_int_equal (ops.commit (ops.arg), 0);
    static const struct {
        const char *cust;     /* the invoice's CustNum */
        const char *expected; /* the payload, or NULL: rejected */
    } cases[] = {
        {"C1", "{\"K__c\":\"ACME_PRD:invoice:7\",\"Who\":{\"attributes\":{\"type\":"
               "\"Contact\"},\"K__c\":\"ACME_PRD:customer:C1\"}}"},
        {"C2", "{\"K__c\":\"ACME_PRD:invoice:7\",\"Partner__r\":{\"P__c\":\"ACME_PRD:"
               "customer:C2\"}}"},
        {"C3", NULL},
        {"C4", "{\"K__c\":\"ACME_PRD:invoice:7\",\"What\":{\"attributes\":{\"type\":"
               "\"Account\"},\"K__c\":\"ACME_PRD:customer:C4\"}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *kv[] = {"InvNum", "7", "CustNum", cases[i].cust, NULL};
        cm_envelope_t *env = make_env ("invoice", "7", kv);
        tf_result_t res;
        tf_status_t st = tf_transform_apply (m, env, &ops, &res);
        if (cases[i].expected) {
            assert_int_equal (st, TF_OK);
            assert_string_equal (env->payload, cases[i].expected);
        } else {
            assert_int_equal (st, TF_REJECT);
            assert_string_equal (res.code, "MAPPING_PARENT_TYPE");
            assert_false (res.retryable);
            assert_string_equal (res.reason,
                                 "field What: parent ACME_PRD:customer:C3 was sent as sObject "
                                 "Lead, not Account or Contact or Partner__c (template "
                                 "'{tenant}:customer:{CustNum}')");
        }
        cm_envelope_destroy (&env);
    }
    //  A parent the memory does not know yet: deferred (nothing sent, nothing reported) on
    //  the first deliveries, so the lease brings the record back once the parent is
    //  mapped; from TF_DEFER_ATTEMPTS on, the rule's own relationship.
    for (uint32_t attempt = 1; attempt <= TF_DEFER_ATTEMPTS; attempt++) {
        const char *kv[] = {"InvNum", "7", "CustNum", "C5", NULL};
        cm_envelope_t *env = make_env ("invoice", "7", kv);
        env->attempt = attempt;
        tf_result_t res;
        tf_status_t st = tf_transform_apply (m, env, &ops, &res);
        if (attempt < TF_DEFER_ATTEMPTS) {
            assert_int_equal (st, TF_DEFER);
            assert_string_equal (res.code, "TRF_PARENT_PENDING");
            assert_null (env->payload);
        } else {
            assert_int_equal (st, TF_OK);
            assert_string_equal (env->payload,
                                 "{\"K__c\":\"ACME_PRD:invoice:7\",\"What\":{\"attributes\":{"
                                 "\"type\":\"Account\"},\"K__c\":\"ACME_PRD:customer:C5\"}}");
        }
        cm_envelope_destroy (&env);
    }
    tf_mapping_destroy (&m);

    //  Without alternatives, a Contact parent is still rejected with the reason.
    static const char *const plain =
        "{\"version\":1,\"entities\":{\"invoice\":{\"sobject\":\"Inv__c\","
        "\"external_id_field\":\"K__c\",\"key_template\":\"{tenant}:invoice:{InvNum}\","
        "\"fields\":[{\"to\":\"Account__r\",\"parent\":{\"sobject\":\"Account\","
        "\"external_id_field\":\"K__c\",\"key_template\":\"{tenant}:customer:{CustNum}\"}}]}}}";
    m = tf_mapping_parse (plain, strlen (plain), "test", err, sizeof err);
    assert_non_null (m);
    const char *kv[] = {"InvNum", "8", "CustNum", "C1", NULL};
    cm_envelope_t *env = make_env ("invoice", "8", kv);
    tf_result_t res;
    assert_int_equal (tf_transform_apply (m, env, &ops, &res), TF_REJECT);
    assert_string_equal (res.code, "MAPPING_PARENT_TYPE");
    assert_string_equal (res.reason, "field Account__r: parent ACME_PRD:customer:C1 was sent as "
                                     "sObject Contact, not Account (template "
                                     "'{tenant}:customer:{CustNum}')");
    cm_envelope_destroy (&env);
    tf_mapping_destroy (&m);
    tf_memory_destroy (&mem);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal (system (cmd), 0);
}

static void
test_transform_op_direct (void **state)
{
    char err[256];
    tf_op_t op = {TF_OP_NUMBER, 3};
    char *out = tf_transform_op (&op, NULL, "+2.0005", err, sizeof err);
    assert_non_null (out);
    assert_string_equal (out, "2.001");
    free (out);
    op.kind = TF_OP_LOOKUP;
    assert_null (tf_transform_op (&op, NULL, "A", err, sizeof err));
    assert_string_equal (err, "lookup: no table");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_field_table),
        cmocka_unit_test (test_reject_codes),
        cmocka_unit_test (test_routing),
        cmocka_unit_test (test_golden_vendor),
        cmocka_unit_test (test_golden_children),
        cmocka_unit_test (test_default_with_memory),
        cmocka_unit_test (test_parent_alternatives),
        cmocka_unit_test (test_transform_op_direct),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
