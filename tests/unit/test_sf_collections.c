/*  Unit tests for sf_collections: the sObject Collections upsert body, its results, and
    the classification of call-level and record-level errors, with payloads shaped like
    Salesforce's (shared/reference/salesforce-api.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "../../loader/sf_collections.h"

static const char *VENDOR_1 = "{\"Name\":\"Northwind Metals\",\"CloudSuite_Key__c\":"
                              "\"ACME_PRD:vendor:V000123\",\"Phone\":\"+1 312 555 0100\"}";
static const char *VENDOR_2 = "  {\n \"Name\": \"Contoso \\\"Steel\\\"\", \"BillingCity\": "
                              "\"Chicago\", \"CloudSuite_Key__c\": \"ACME_PRD:vendor:V000124\"}";

//  Parses a built body and checks it is the documented shape with n records.
static cJSON *
s_parse_body (const char *body, size_t len, int n)
{
    assert_int_equal (strlen (body), len);
    cJSON *json = cJSON_Parse (body);
    assert_non_null (json);
    assert_true (cJSON_IsFalse (cJSON_GetObjectItem (json, "allOrNone")));
    cJSON *records = cJSON_GetObjectItem (json, "records");
    assert_true (cJSON_IsArray (records));
    assert_int_equal (cJSON_GetArraySize (records), n);
    return json;
}

static void
test_build_splices_payloads (void **state)
{
    const char *payloads[] = {VENDOR_1, VENDOR_2};
    char *body = NULL;
    size_t len = 0;
    char err[200] = "";
    assert_int_equal (sf_collections_build ("Account", payloads, 2, &body, &len, err, sizeof err),
                      0);
    //  The first record is the payload with attributes spliced in front of its fields
    assert_non_null (strstr (body, "{\"allOrNone\":false,\"records\":[{\"attributes\":{\"type\":"
                                   "\"Account\"},\"Name\":\"Northwind Metals\""));
    cJSON *json = s_parse_body (body, len, 2);
    cJSON *records = cJSON_GetObjectItem (json, "records");
    for (int i = 0; i < 2; i++) {
        cJSON *r = cJSON_GetArrayItem (records, i);
        cJSON *attrs = cJSON_GetObjectItem (r, "attributes");
        assert_string_equal (cJSON_GetObjectItem (attrs, "type")->valuestring, "Account");
    }
    cJSON *second = cJSON_GetArrayItem (records, 1);
    assert_string_equal (cJSON_GetObjectItem (second, "Name")->valuestring, "Contoso \"Steel\"");
    assert_string_equal (cJSON_GetObjectItem (second, "CloudSuite_Key__c")->valuestring,
                         "ACME_PRD:vendor:V000124");
    assert_string_equal (cJSON_GetObjectItem (second, "BillingCity")->valuestring, "Chicago");
    cJSON_Delete (json);
    free (body);
}

static void
test_build_empty_object (void **state)
{
    const char *payloads[] = {"{}", " { } "};
    char *body = NULL;
    size_t len = 0;
    char err[200];
    assert_int_equal (sf_collections_build ("Contact", payloads, 2, &body, &len, err, sizeof err),
                      0);
    cJSON *json = s_parse_body (body, len, 2);
    cJSON *r = cJSON_GetArrayItem (cJSON_GetObjectItem (json, "records"), 1);
    assert_int_equal (cJSON_GetArraySize (r), 1); //  attributes only
    cJSON_Delete (json);
    free (body);
}

static void
test_build_200_records (void **state)
{
    static char texts[201][128];
    const char *payloads[201];
    for (int i = 0; i < 201; i++) {
        snprintf (texts[i], sizeof texts[i],
                  "{\"Name\":\"Vendor %d\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V%06d\"}", i, i);
        payloads[i] = texts[i];
    }
    char *body = NULL;
    size_t len = 0;
    char err[200];
    assert_int_equal (sf_collections_build ("Account", payloads, 200, &body, &len, err, sizeof err),
                      0);
    cJSON *json = s_parse_body (body, len, 200);
    cJSON *last = cJSON_GetArrayItem (cJSON_GetObjectItem (json, "records"), 199);
    assert_string_equal (cJSON_GetObjectItem (last, "CloudSuite_Key__c")->valuestring,
                         "ACME_PRD:vendor:V000199");
    cJSON_Delete (json);
    free (body);

    //  Over Salesforce's limit, or nothing at all: refused before any call
    assert_int_equal (sf_collections_build ("Account", payloads, 201, &body, &len, err, sizeof err),
                      -1);
    assert_null (body);
    assert_int_equal (sf_collections_build ("Account", payloads, 0, &body, &len, err, sizeof err),
                      -1);
}

static void
test_build_rejects_bad_payloads (void **state)
{
    const char *bad[] = {
        "[{\"Name\":\"x\"}]",                                  //  an array
        "\"Northwind\"",                                       //  a string
        "",                                                    //  nothing
        "{\"Name\":\"Northwind\"",                             //  cut short
        "{\"Name\":\"a\"} {\"Name\":\"b\"}",                   //  two objects
        "{\"Name\":\"a\"},{\"Name\":\"b\"}",                   //  would smuggle a second record
        "{\"attributes\":{\"type\":\"User\"},\"Name\":\"x\"}", //  its own attributes
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[200] = "";
        assert_int_equal (sf_collections_payload_check (bad[i], err, sizeof err), -1);
        assert_true (strlen (err) > 0);
        const char *payloads[] = {VENDOR_1, bad[i]};
        char *body = (char *)1;
        size_t len = 1;
        assert_int_equal (
            sf_collections_build ("Account", payloads, 2, &body, &len, err, sizeof err), -1);
        assert_null (body);
        assert_non_null (strstr (err, "record 1"));
    }
    char err[200];
    assert_int_equal (sf_collections_payload_check (NULL, err, sizeof err), -1);
    assert_int_equal (sf_collections_payload_check (VENDOR_2, err, sizeof err), 0);

    //  Oversized payload
    char *big = malloc (SF_COLLECTIONS_MAX_PAYLOAD + 64);
    assert_non_null (big);
    memset (big, ' ', SF_COLLECTIONS_MAX_PAYLOAD + 63);
    big[0] = '{';
    memcpy (big + SF_COLLECTIONS_MAX_PAYLOAD + 60, "{}", 2);
    big[SF_COLLECTIONS_MAX_PAYLOAD + 62] = '}';
    big[SF_COLLECTIONS_MAX_PAYLOAD + 63] = '\0';
    assert_int_equal (sf_collections_payload_check (big, err, sizeof err), -1);
    assert_non_null (strstr (err, "over"));
    free (big);

    //  Bad sObject name: it would be spliced into the body and the URL unescaped
    const char *payloads[] = {VENDOR_1};
    char *body = NULL;
    size_t len = 0;
    assert_int_equal (
        sf_collections_build ("Account\",\"x", payloads, 1, &body, &len, err, sizeof err), -1);
    assert_int_equal (sf_collections_build (NULL, payloads, 1, &body, &len, err, sizeof err), -1);
}

static void
test_names_and_path (void **state)
{
    assert_true (sf_collections_name_ok ("Account"));
    assert_true (sf_collections_name_ok ("CloudSuite_Key__c"));
    assert_false (sf_collections_name_ok ("1Account"));
    assert_false (sf_collections_name_ok ("Account/../x"));
    assert_false (sf_collections_name_ok (""));
    assert_false (sf_collections_name_ok (NULL));
    char long_name[100];
    memset (long_name, 'a', 90);
    long_name[90] = '\0';
    assert_false (sf_collections_name_ok (long_name));
    char path[128];
    assert_int_equal (sf_collections_path ("Account", "CloudSuite_Key__c", path, sizeof path), 0);
    assert_string_equal (path, "/composite/sobjects/Account/CloudSuite_Key__c");
    assert_int_equal (sf_collections_path ("Account", "Key?x=1", path, sizeof path), -1);
    assert_int_equal (sf_collections_path ("Account", "CloudSuite_Key__c", path, 10), -1);
}

//  The reference's mixed example: one created, one failed validation.
static void
test_parse_mixed_results (void **state)
{
    const char *body =
        "[{\"id\":\"001xx0000004GxDAAU\",\"success\":true,\"errors\":[],\"created\":true},"
        "{\"success\":false,\"errors\":[{\"statusCode\":\"REQUIRED_FIELD_MISSING\","
        "\"message\":\"Required fields are missing: [Name]\",\"fields\":[\"Name\"]}]}]";
    sf_record_result_t results[2];
    sf_error_t err;
    assert_int_equal (sf_collections_parse (200, body, strlen (body), 2, results, &err),
                      SF_CALL_OK);
    assert_int_equal (err.http_status, 200);
    assert_true (results[0].success);
    assert_true (results[0].created);
    assert_string_equal (results[0].id, "001xx0000004GxDAAU");
    assert_false (results[1].success);
    assert_string_equal (results[1].code, "REQUIRED_FIELD_MISSING");
    assert_string_equal (results[1].message, "Required fields are missing: [Name]");
    assert_string_equal (results[1].fields, "Name");
    assert_int_equal (results[1].cls, CM_ERR_PERMANENT);
}

static void
test_parse_created_vs_updated (void **state)
{
    const char *body =
        "[{\"id\":\"001xx0000004GxDAAU\",\"success\":true,\"errors\":[],\"created\":false},"
        "{\"id\":\"001xx0000004GxE\",\"success\":true,\"errors\":[],\"created\":true},"
        "{\"success\":false,\"errors\":[{\"statusCode\":\"INVALID_FIELD\",\"message\":"
        "\"Foreign key external ID: ACME_PRD:customer:C000042 not found for field "
        "CloudSuite_Key__c in entity Account\",\"fields\":[]}]},"
        "{\"success\":false,\"errors\":[{\"statusCode\":\"STRING_TOO_LONG\",\"message\":"
        "\"Phone: data value too large\",\"fields\":[\"Phone\",\"Fax\"]},"
        "{\"statusCode\":\"UNABLE_TO_LOCK_ROW\",\"message\":\"later\",\"fields\":[]}]}]";
    sf_record_result_t results[4];
    sf_error_t err;
    assert_int_equal (sf_collections_parse (200, body, strlen (body), 4, results, &err),
                      SF_CALL_OK);
    assert_true (results[0].success);
    assert_false (results[0].created); //  updated
    assert_true (results[1].success);
    assert_true (results[1].created);
    assert_string_equal (results[1].id, "001xx0000004GxE"); //  15-char ids are valid
    //  A child before its parent: retried later, not dead-lettered
    assert_string_equal (results[2].code, "INVALID_FIELD");
    assert_int_equal (results[2].cls, CM_ERR_RETRYABLE);
    assert_string_equal (results[2].fields, "");
    //  The first error decides; fields are joined
    assert_string_equal (results[3].code, "STRING_TOO_LONG");
    assert_string_equal (results[3].fields, "Phone,Fax");
    assert_int_equal (results[3].cls, CM_ERR_PERMANENT);
}

static void
test_parse_count_mismatch_and_malformed (void **state)
{
    sf_record_result_t results[3];
    sf_error_t err;
    const char *two = "[{\"id\":\"001xx0000004GxDAAU\",\"success\":true,\"errors\":[],"
                      "\"created\":true},{\"id\":\"001xx0000004GxEAAU\",\"success\":true,"
                      "\"errors\":[],\"created\":true}]";
    assert_int_equal (sf_collections_parse (200, two, strlen (two), 3, results, &err),
                      SF_CALL_RETRY);
    assert_string_equal (err.code, "MALFORMED_RESPONSE");
    assert_non_null (strstr (err.message, "2 results for 3 records"));

    const char *bad[] = {
        "[{\"id\":\"001xx0000004GxDAAU\",\"success\":tr",          //  cut short
        "{\"id\":\"001xx0000004GxDAAU\",\"success\":true}",        //  not an array
        "[{\"id\":\"001xx0000004GxDAAU\",\"created\":true}]",      //  no success
        "[{\"id\":\"001xx0000004GxDAAU\",\"success\":\"true\"}]",  //  success not a bool
        "[{\"success\":true,\"errors\":[]}]",                      //  success without id
        "[{\"id\":\"001<script>\",\"success\":true}]",             //  not an Id
        "[{\"success\":false,\"errors\":{\"statusCode\":\"X\"}}]", //  errors not an array
        "[{\"success\":false,\"errors\":[\"X\"]}]",                //  error not an object
        "[42]",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (sf_collections_parse (200, bad[i], strlen (bad[i]), 1, results, &err),
                          SF_CALL_RETRY);
        assert_string_equal (err.code, "MALFORMED_RESPONSE");
    }
    assert_int_equal (sf_collections_parse (200, NULL, 0, 1, results, &err), SF_CALL_RETRY);

    //  A failure without errors is reported, not fatal
    const char *noerr = "[{\"success\":false,\"errors\":[]}]";
    assert_int_equal (sf_collections_parse (200, noerr, strlen (noerr), 1, results, &err),
                      SF_CALL_OK);
    assert_string_equal (results[0].code, "UNKNOWN_ERROR");
}

static void
test_parse_top_level_errors (void **state)
{
    sf_record_result_t results[1];
    sf_error_t err;
    const char *e400 = "[{\"message\":\"Unexpected character ('}' (code 125)): was expecting "
                       "double-quote to start field name at [line:1, column:3]\","
                       "\"errorCode\":\"JSON_PARSER_ERROR\"}]";
    assert_int_equal (sf_collections_parse (400, e400, strlen (e400), 1, results, &err),
                      SF_CALL_PERMANENT);
    assert_int_equal (err.http_status, 400);
    assert_string_equal (err.code, "JSON_PARSER_ERROR");
    assert_non_null (strstr (err.message, "Unexpected character"));

    const char *e404 = "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"The requested resource "
                       "does not exist\"}]";
    assert_int_equal (sf_collections_parse (404, e404, strlen (e404), 1, results, &err),
                      SF_CALL_PERMANENT);
    assert_string_equal (err.code, "NOT_FOUND");

    const char *e401 = "[{\"message\":\"Session expired or invalid\",\"errorCode\":"
                       "\"INVALID_SESSION_ID\"}]";
    assert_int_equal (sf_collections_parse (401, e401, strlen (e401), 1, results, &err),
                      SF_CALL_REAUTH);
    assert_string_equal (err.code, "INVALID_SESSION_ID");

    //  A body that is not JSON keeps the status as its code and an excerpt as message
    const char *html = "<html><body>Service Unavailable</body></html>";
    assert_int_equal (sf_collections_parse (503, html, strlen (html), 1, results, &err),
                      SF_CALL_RETRY);
    assert_string_equal (err.code, "HTTP_503");
    assert_non_null (strstr (err.message, "Service Unavailable"));
    assert_int_equal (sf_collections_parse (429, NULL, 0, 1, results, &err), SF_CALL_RETRY);
    assert_int_equal (sf_collections_parse (500, "[]", 2, 1, results, &err), SF_CALL_RETRY);
    assert_int_equal (sf_collections_parse (502, "{}", 2, 1, results, &err), SF_CALL_RETRY);
    assert_int_equal (sf_collections_parse (300, "[]", 2, 1, results, &err), SF_CALL_PERMANENT);
    assert_int_equal (sf_collections_parse (0, NULL, 0, 1, results, &err), SF_CALL_RETRY);
}

static void
test_parse_request_limits (void **state)
{
    sf_record_result_t results[1];
    sf_error_t err;
    const char *total = "[{\"message\":\"TotalRequests Limit exceeded.\",\"errorCode\":"
                        "\"REQUEST_LIMIT_EXCEEDED\"}]";
    assert_int_equal (sf_collections_parse (403, total, strlen (total), 1, results, &err),
                      SF_CALL_PAUSED);
    assert_string_equal (err.code, "REQUEST_LIMIT_EXCEEDED");
    assert_int_equal (err.http_status, 403);

    const char *concurrent = "[{\"message\":\"ConcurrentRequests (Concurrent API Requests) "
                             "Limit exceeded.\",\"errorCode\":\"REQUEST_LIMIT_EXCEEDED\"}]";
    assert_int_equal (sf_collections_parse (403, concurrent, strlen (concurrent), 1, results, &err),
                      SF_CALL_RETRY);
    assert_string_equal (err.code, "REQUEST_LIMIT_EXCEEDED");

    //  Any other 403 is a permission problem: retrying does not help
    const char *access = "[{\"message\":\"insufficient access rights on object id\","
                         "\"errorCode\":\"INSUFFICIENT_ACCESS_OR_READONLY\"}]";
    assert_int_equal (sf_collections_parse (403, access, strlen (access), 1, results, &err),
                      SF_CALL_PERMANENT);
}

static void
test_classification_table (void **state)
{
    static const struct {
        const char *code;
        const char *message;
        cm_error_class_t cls;
    } table[] = {
        {"UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record",
         CM_ERR_RETRYABLE},
        {"INVALID_FIELD",
         "Foreign key external ID: ACME_PRD:customer:C1 not found for field CloudSuite_Key__c "
         "in entity Account",
         CM_ERR_RETRYABLE},
        {"INVALID_FIELD", "No such column 'Foo__c' on sobject of type Account", CM_ERR_PERMANENT},
        {"INVALID_FIELD", NULL, CM_ERR_PERMANENT},
        {"ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back", CM_ERR_RETRYABLE},
        {"UNKNOWN_EXCEPTION", "An unexpected error occurred", CM_ERR_RETRYABLE},
        {"REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", CM_ERR_PERMANENT},
        {"STRING_TOO_LONG", "Phone: data value too large", CM_ERR_PERMANENT},
        {"DUPLICATES_DETECTED", "Use one of these records?", CM_ERR_PERMANENT},
        {"DUPLICATE_VALUE", "duplicate value found", CM_ERR_PERMANENT},
        {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value for restricted picklist field",
         CM_ERR_PERMANENT},
        {"FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone must be set", CM_ERR_PERMANENT},
        {"MALFORMED_ID", "bad id", CM_ERR_PERMANENT},
        {"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", CM_ERR_PERMANENT},
        {NULL, NULL, CM_ERR_PERMANENT},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        assert_int_equal (sf_collections_classify (table[i].code, table[i].message), table[i].cls);
}

static void
test_payload_scan (void **state)
{
    //  Well-formed JSON objects of every shape pass
    const char *good[] = {
        "{}",
        " \t\r\n{ } \n",
        "{\"a\":1,\"b\":-0.5e+10,\"c\":0,\"d\":1E3,\"e\":true,\"f\":false,\"g\":null}",
        "{\"a\":[],\"b\":[1,[2,{\"c\":\"d\"}]],\"e\":{}}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00 caf\xc3\xa9\"}",
        "{\"attributesX\":1,\"x\":{\"attributes\":{\"type\":\"A\"}}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[200] = "";
        if (sf_collections_payload_check (good[i], err, sizeof err) != 0)
            fail_msg ("good[%zu] refused: %s", i, err);
    }
    //  Anything else is refused with a reason, whatever cJSON would have let through
    const char *bad[] = {
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":1e}",
        "{\"a\":tru}",
        "{\"a\":NaN}",
        "{\"a\":'x'}",
        "{a:1}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"b\tc\"}",
        "{\"a\":1}\x0b",
        "\x0c{\"a\":1}",
        "{\"a\":1}}",
        "{\"a\":\"x",
        "{\"a\":\"x\\",
        "{\"a\":",
        "{\"att\\u0072ibutes\":{}}",
        //  Not UTF-8, or an escaped surrogate without its other half
        "{\"a\":\"caf\xe9\"}",
        "{\"a\":\"\xff\"}",
        "{\"\xc3\":1}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\\uD888x\"}",
        "{\"a\":\"\\uDE00\"}",
        "{\"a\":\"\\uD83D\\u0041\"}",
        "{\"a\":\"\\uD83D\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[200] = "";
        if (sf_collections_payload_check (bad[i], err, sizeof err) != -1)
            fail_msg ("bad[%zu] accepted: %s", i, bad[i]);
        assert_true (strlen (err) > 0);
    }
    //  Nesting is bounded (no stack exhaustion on hostile input)
    char deep[400];
    size_t len = 0;
    deep[len++] = '{';
    deep[len++] = '"';
    deep[len++] = 'a';
    deep[len++] = '"';
    deep[len++] = ':';
    for (int i = 0; i < 100; i++)
        deep[len++] = '[';
    for (int i = 0; i < 100; i++)
        deep[len++] = ']';
    deep[len++] = '}';
    deep[len] = '\0';
    char err[200] = "";
    assert_int_equal (sf_collections_payload_check (deep, err, sizeof err), -1);
    assert_non_null (strstr (err, "deep"));

    //  The first parent reference: the first member that is an object with a string member
    //  other than "attributes"
    char *parent = (char *)1;
    assert_int_equal (
        sf_collections_payload_scan ("{\"Name\":\"x\",\"Owner\":{\"attributes\":{},\"N\":1},"
                                     "\"Account__r\":{\"attributes\":\"t\",\"n\":2,"
                                     "\"CloudSuite_Key__c\":\"T:c:\\\"1\"},"
                                     "\"Parent\":{\"K\":\"y\"}}",
                                     &parent, err, sizeof err),
        0);
    assert_non_null (parent);
    assert_string_equal (parent, "Account__r\x1fT:c:\\\"1");
    free (parent);
    parent = (char *)1;
    assert_int_equal (sf_collections_payload_scan (VENDOR_1, &parent, err, sizeof err), 0);
    assert_null (parent);
    parent = (char *)1;
    assert_int_equal (
        sf_collections_payload_scan ("{\"A\":{\"K\":\"v\"}", &parent, err, sizeof err), -1);
    assert_null (parent);

    //  A checked payload is spliced as it is, without a second check
    const char *payloads[] = {VENDOR_1, "{ }", VENDOR_2};
    char *body = NULL, *body2 = NULL;
    size_t blen = 0, blen2 = 0;
    assert_int_equal (sf_collections_build ("Account", payloads, 3, &body, &blen, err, sizeof err),
                      0);
    assert_int_equal (
        sf_collections_build_checked ("Account", payloads, 3, &body2, &blen2, err, sizeof err), 0);
    assert_int_equal (blen, blen2);
    assert_string_equal (body, body2);
    cJSON *json = s_parse_body (body, blen, 3);
    cJSON_Delete (json);
    free (body);
    free (body2);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_build_splices_payloads),
        cmocka_unit_test (test_build_empty_object),
        cmocka_unit_test (test_build_200_records),
        cmocka_unit_test (test_build_rejects_bad_payloads),
        cmocka_unit_test (test_payload_scan),
        cmocka_unit_test (test_names_and_path),
        cmocka_unit_test (test_parse_mixed_results),
        cmocka_unit_test (test_parse_created_vs_updated),
        cmocka_unit_test (test_parse_count_mismatch_and_malformed),
        cmocka_unit_test (test_parse_top_level_errors),
        cmocka_unit_test (test_parse_request_limits),
        cmocka_unit_test (test_classification_table),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
