/*  Unit tests for sf_bulk's pure parts: the CSV built from the transformer's payloads
    (columns, parent references, polymorphic What, null and empty values, records CSV cannot
    express, the size cap), sf__Error splitting, and the result files read back into
    per-record outcomes, with real-shaped and hostile files. The job's calls are tested
    against salesforce-sim in test_sf_sim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../loader/sf_bulk.h"

static void
s_free_values (char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (v[i]);
}

static void
test_csv_from_payloads (void **state)
{
    const char *payloads[] = {
        ("{\"CloudSuite_Key__c\":\"T:task:1\",\"Subject\":\"Call, \\\"now\\\"\",\"What\":"
         "{\"attributes\":{\"type\":\"Account\"},\"CloudSuite_Key__c\":\"T:customer:C1\"},"
         "\"ActivityDate\":\"2026-02-01\"}"),
        //  Another column, an empty and a null value, a number and a boolean; no What
        ("{\"CloudSuite_Key__c\":\"T:task:2\",\"Subject\":\"\",\"Description\":null,"
         "\"Amount__c\":12.5,\"Done__c\":true}"),
        //  Not expressible in CSV as Collections reads it: an array, a null reference, a
        //  reference with two fields, no external ID, a duplicate member
        "{\"CloudSuite_Key__c\":\"T:task:3\",\"Tags\":[1,2]}",
        "{\"CloudSuite_Key__c\":\"T:task:4\",\"Account__r\":null,\"Subject\":\"x\"}",
        "{\"CloudSuite_Key__c\":\"T:task:5\",\"Account\":{\"A__c\":\"1\",\"B__c\":\"2\"}}",
        "{\"Subject\":\"no key\"}",
        "{\"CloudSuite_Key__c\":\"T:task:7\",\"Subject\":\"a\",\"Subject\":\"b\"}",
        "not json",
        //  Fine again, with a parent by plain relationship
        "{\"CloudSuite_Key__c\":\"T:task:9\",\"Account__r\":{\"CloudSuite_Key__c\":\"K\"}}",
    };
    size_t n = sizeof payloads / sizeof payloads[0];
    bool included[9];
    char *values[9];
    size_t rows = 0;
    sf_csv_buf_t csv;
    char err[128];
    assert_int_equal (sf_bulk_csv_build ("CloudSuite_Key__c", payloads, n, 0, &csv, included,
                                         values, &rows, err, sizeof err),
                      0);
    assert_int_equal (rows, 3);
    bool want[] = {true, true, false, false, false, false, false, false, true};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (included[i], want[i]);
        assert_int_equal (values[i] != NULL, want[i]);
    }
    assert_string_equal (values[0], "T:task:1");
    assert_string_equal (
        csv.data,
        "\"CloudSuite_Key__c\",\"Subject\",\"Account:What.CloudSuite_Key__c\",\"ActivityDate\","
        "\"Description\",\"Amount__c\",\"Done__c\",\"Account__r.CloudSuite_Key__c\"\n"
        "\"T:task:1\",\"Call, \"\"now\"\"\",\"T:customer:C1\",\"2026-02-01\",,,,\n"
        "\"T:task:2\",\"#N/A\",,,\"#N/A\",\"12.5\",\"true\",\n"
        "\"T:task:9\",,,,,,,\"K\"\n");
    s_free_values (values, n);
    sf_csv_buf_clear (&csv);

    //  The cap: the header fits, the rows that do not wait for the next job
    const char *small[] = {"{\"K__c\":\"a\",\"N\":\"0123456789\"}",
                           "{\"K__c\":\"b\",\"N\":\"0123456789\"}"};
    assert_int_equal (
        sf_bulk_csv_build ("K__c", small, 2, 40, &csv, included, values, &rows, err, sizeof err),
        0);
    assert_int_equal (rows, 1);
    assert_true (included[0]);
    assert_false (included[1]);
    assert_true (csv.len <= 40);
    s_free_values (values, 2);
    sf_csv_buf_clear (&csv);
    //  A header over the cap, a bad field name
    assert_int_equal (
        sf_bulk_csv_build ("K__c", small, 2, 5, &csv, included, values, &rows, err, sizeof err),
        -1);
    assert_int_equal (rows, 0);
    assert_int_equal (
        sf_bulk_csv_build ("K__c;", small, 2, 0, &csv, included, values, &rows, err, sizeof err),
        -1);
}

static void
test_error_split (void **state)
{
    char code[64], msg[512], fields[256];
    sf_bulk_error_split ("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --", code,
                         sizeof code, msg, sizeof msg, fields, sizeof fields);
    assert_string_equal (code, "REQUIRED_FIELD_MISSING");
    assert_string_equal (msg, "Required fields are missing: [Name]");
    assert_string_equal (fields, "Name");
    //  A message with colons of its own, no fields
    sf_bulk_error_split ("INVALID_FIELD:Foreign key external ID: T:customer:C9 not found for field "
                         "CloudSuite_Key__c in entity Account:--",
                         code, sizeof code, msg, sizeof msg, fields, sizeof fields);
    assert_string_equal (code, "INVALID_FIELD");
    assert_string_equal (msg, "Foreign key external ID: T:customer:C9 not found for field "
                              "CloudSuite_Key__c in entity Account");
    assert_string_equal (fields, "");
    sf_bulk_error_split ("STRING_TOO_LONG:Phone: data value too large:Phone,Fax --", code,
                         sizeof code, msg, sizeof msg, fields, sizeof fields);
    assert_string_equal (msg, "Phone: data value too large");
    assert_string_equal (fields, "Phone,Fax");
    //  Not coded
    sf_bulk_error_split ("something went wrong", code, sizeof code, msg, sizeof msg, fields,
                         sizeof fields);
    assert_string_equal (code, "UNKNOWN_ERROR");
    assert_string_equal (msg, "something went wrong");
    sf_bulk_error_split ("", code, sizeof code, msg, sizeof msg, fields, sizeof fields);
    assert_string_equal (code, "UNKNOWN_ERROR");
    sf_bulk_error_split (NULL, code, sizeof code, msg, sizeof msg, fields, sizeof fields);
    assert_string_equal (code, "UNKNOWN_ERROR");
    //  A very long code is cut, not overflowed
    char big[400];
    memset (big, 'A', 300);
    strcpy (big + 300, ":m:f --");
    sf_bulk_error_split (big, code, sizeof code, msg, sizeof msg, fields, sizeof fields);
    assert_int_equal (strlen (code), sizeof code - 1);
}

static void
test_results_parse (void **state)
{
    char *ext[] = {strdup ("T:1"), strdup ("T:2"), strdup ("T:3"),
                   strdup ("T:4"), NULL,           strdup ("T:\"6\"")};
    size_t n = 6;
    sf_record_result_t results[6];
    sf_bulk_outcome_t outcome[6];
    bool seen[6] = {0};
    memset (results, 0, sizeof results);
    for (size_t i = 0; i < n; i++)
        outcome[i] = SF_BULK_CALL;
    char err[200];
    const char *ok = "\"sf__Id\",\"sf__Created\",\"K__c\",\"Name\"\n"
                     "\"001Hs0000000001IAA\",\"true\",\"T:1\",\"a\"\n"
                     "\"001Hs0000000002IAA\",\"false\",\"T:\"\"6\"\"\",\"b\"\n"
                     "\"001Hs0000000003IAA\",\"true\",\"T:99\",\"unknown record\"\n"
                     "\"001Hs0000000004IAA\",\"true\",\"T:1\",\"repeated\"\n"
                     "\"bad id\",\"true\",\"T:2\",\"no usable Id\"\n"
                     "\"001Hs0000000005IAA\",\"true\",\"T:3\"\n"; //  short row: ignored
    assert_int_equal (sf_bulk_results_parse (SF_BULK_SUCCESSFUL, ok, strlen (ok), "K__c", ext, n,
                                             results, outcome, seen, err, sizeof err),
                      2);
    assert_true (seen[0] && results[0].success && results[0].created);
    assert_string_equal (results[0].id, "001Hs0000000001IAA");
    assert_true (seen[5] && results[5].success && !results[5].created);
    assert_false (seen[1]);
    const char *bad =
        "\"sf__Id\",\"sf__Error\",\"K__c\",\"Name\"\n"
        "\"\",\"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --\",\"T:2\",\"\"\n"
        "\"\",\"INVALID_FIELD:Foreign key external ID: X not found for field K__c in entity "
        "Account:--\",\"T:3\",\"c\"\n";
    assert_int_equal (sf_bulk_results_parse (SF_BULK_FAILED, bad, strlen (bad), "K__c", ext, n,
                                             results, outcome, seen, err, sizeof err),
                      2);
    assert_int_equal (outcome[1], SF_BULK_RECORD);
    assert_false (results[1].success);
    assert_string_equal (results[1].code, "REQUIRED_FIELD_MISSING");
    assert_string_equal (results[1].fields, "Name");
    assert_int_equal (results[1].cls, CM_ERR_PERMANENT);
    assert_int_equal (results[2].cls, CM_ERR_RETRYABLE); //  missing parent: later
    const char *unproc = "\"K__c\",\"Name\"\n\"T:4\",\"d\"\n";
    assert_int_equal (sf_bulk_results_parse (SF_BULK_UNPROCESSED, unproc, strlen (unproc), "K__c",
                                             ext, n, results, outcome, seen, err, sizeof err),
                      1);
    assert_int_equal (outcome[3], SF_BULK_REQUEUE);
    assert_int_equal (outcome[4], SF_BULK_CALL); //  not uploaded, never matched

    //  Malformed files: refused with a reason; rows read before a fault stay
    bool seen2[6] = {0};
    const char *shapes[] = {"", "\"sf__Id\",\"sf__Created\",\"Other\"\n",
                            "\"sf__Created\",\"K__c\"\n", "\"sf__Id\",\"K__c\n"};
    for (size_t i = 0; i < 4; i++) {
        err[0] = '\0';
        assert_int_equal (sf_bulk_results_parse (SF_BULK_SUCCESSFUL, shapes[i], strlen (shapes[i]),
                                                 "K__c", ext, n, results, outcome, seen2, err,
                                                 sizeof err),
                          -1);
        assert_true (strlen (err) > 0);
    }
    const char *cut = "\"sf__Id\",\"sf__Created\",\"K__c\"\n"
                      "\"001Hs0000000001IAA\",\"true\",\"T:1\"\n"
                      "\"001Hs0000000002IAA\",\"true\",\"T:2\"x\n";
    assert_int_equal (sf_bulk_results_parse (SF_BULK_SUCCESSFUL, cut, strlen (cut), "K__c", ext, n,
                                             results, outcome, seen2, err, sizeof err),
                      -1);
    assert_true (seen2[0]);
    assert_false (seen2[1]);
    for (size_t i = 0; i < n; i++)
        free (ext[i]);
}

static void
test_results_random (void **state)
{
    char *ext[] = {strdup ("a"), strdup ("b")};
    sf_record_result_t results[2];
    sf_bulk_outcome_t outcome[2];
    char err[200];
    uint32_t seed = 99;
    char text[300];
    for (int round = 0; round < 5000; round++) {
        size_t len = (size_t)(round % 200);
        const char *head = "\"sf__Id\",\"sf__Error\",\"K__c\"\n";
        size_t hl = strlen (head);
        memcpy (text, head, hl);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            text[hl + i] = "ab,\"\n:-_ X0"[(seed >> 16) % 11];
        }
        bool seen[2] = {0};
        long m = sf_bulk_results_parse (SF_BULK_FAILED, text, hl + len, "K__c", ext, 2, results,
                                        outcome, seen, err, sizeof err);
        assert_true (m >= -1 && m <= 2);
    }
    free (ext[0]);
    free (ext[1]);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_csv_from_payloads),
        cmocka_unit_test (test_error_split),
        cmocka_unit_test (test_results_parse),
        cmocka_unit_test (test_results_random),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
