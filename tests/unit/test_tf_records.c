/*  Unit tests for tf_records: records files as LoadCollection responses or arrays of
    Items become envelopes with the key properties joined by '/', every value as text;
    a table of malformed inputs, each refused with a message naming the record and the
    problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../transformer/tf_records.h"

static tf_records_t *
parse (const char *text, const char *keys, char *err, size_t cap)
{
    return tf_records_parse (text, strlen (text), "r.json", "ACME_PRD", "customer", keys, err, cap);
}

static void
test_shapes (void **state)
{
    char err[256] = "";
    const char *response =
        "{\"Items\":[{\"CustNum\":\"C000001\",\"CustSeq\":\"0\",\"Name\":\"Acme \\u00c9\","
        "\"Addr_2\":null,\"CreditLimit\":1500.5,\"CreditHold\":false,"
        "\"_ItemId\":\"PBT=[customer]\"},"
        "{\"CustNum\":\"C000001\",\"CustSeq\":\"1\",\"Name\":\"Dock\"}],"
        "\"Bookmark\":\"<B/>\",\"MoreRowsExist\":false,\"Success\":true,\"Message\":null}";
    tf_records_t *r = parse (response, "CustNum,CustSeq", err, sizeof err);
    if (!r)
        fail_msg ("%s", err);
    assert_int_equal (tf_records_count (r), 2);
    cm_envelope_t *e = tf_records_at (r, 0);
    assert_string_equal (e->tenant, "ACME_PRD");
    assert_string_equal (e->entity, "customer");
    assert_string_equal (e->key, "C000001/0");
    assert_string_equal (cm_envelope_field (e, "Name"), "Acme \xc3\x89");
    assert_string_equal (cm_envelope_field (e, "Addr_2"), "");
    assert_string_equal (cm_envelope_field (e, "CreditLimit"), "1500.5");
    assert_string_equal (cm_envelope_field (e, "CreditHold"), "0");
    assert_null (cm_envelope_field (e, "_ItemId"));
    assert_int_equal (strlen (e->hash), 32);
    assert_string_equal (tf_records_at (r, 1)->key, "C000001/1");
    assert_null (tf_records_at (r, 2));
    tf_records_destroy (&r);
    assert_null (r);
    tf_records_destroy (&r);

    //  A bare array, and an empty one.
    r = parse ("[{\"CustNum\":\"C9\",\"CustSeq\":\"0\"}]", "CustNum,CustSeq", err, sizeof err);
    assert_non_null (r);
    assert_string_equal (tf_records_at (r, 0)->key, "C9/0");
    tf_records_destroy (&r);
    r = parse ("[]", "CustNum", err, sizeof err);
    assert_non_null (r);
    assert_int_equal (tf_records_count (r), 0);
    tf_records_destroy (&r);
}

typedef struct {
    const char *text;  /* input */
    const char *keys;  /* key properties */
    const char *error; /* exact message */
} bad_t;

static const bad_t s_bad[] = {
    {"", "CustNum", "r.json: not valid JSON (near byte 0)"},
    {"[{\"CustNum\":\"C1\"},", "CustNum", "r.json: not valid JSON (near byte 17)"},
    {"{\"Items\":null,\"Success\":false,\"Message\":\"IDO 'X' does not exist.\"}", "CustNum",
     "r.json: the response failed: IDO 'X' does not exist."},
    {"{\"Rows\":[]}", "CustNum",
     "r.json: expected an array of records or a LoadCollection response with \"Items\""},
    {"[1]", "CustNum", "r.json: record 0: not a JSON object"},
    {"[{\"CustNum\":\"C1\"},{\"Name\":\"x\"}]", "CustNum",
     "r.json: record 1: key property 'CustNum' is missing or not text"},
    {"[{\"CustNum\":\"\"}]", "CustNum", "r.json: record 0: key property 'CustNum' is empty"},
    {"[{\"CustNum\":\"C1\",\"Name\":{\"a\":1}}]", "CustNum",
     "r.json: record 0: property 'Name' is not a text value"},
    {"[{\"CustNum\":\"C1\"}]", "", "no key properties for entity 'customer'"},
    {"[{\"CustNum\":\"C1\"}]", "CustNum,,CustSeq", "key properties 'CustNum,,CustSeq': bad list"},
};

static void
test_bad_inputs (void **state)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        char err[256] = "";
        tf_records_t *r = parse (s_bad[i].text, s_bad[i].keys, err, sizeof err);
        if (r)
            fail_msg ("case %zu: accepted", i);
        if (strcmp (err, s_bad[i].error) != 0)
            fail_msg ("case %zu:\n  expected: %s\n  got:      %s", i, s_bad[i].error, err);
    }
    char err[256];
    assert_null (
        tf_records_load ("/nonexistent/r.json", "T", "vendor", "VendNum", err, sizeof err));
    assert_string_equal (err, "/nonexistent/r.json: cannot open: No such file or directory");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_shapes),
        cmocka_unit_test (test_bad_inputs),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
