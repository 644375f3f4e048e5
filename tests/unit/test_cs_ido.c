/*  Unit tests for cs_ido: LoadCollection URL building and v2 response parsing, with
    real-shaped payloads (shared/reference/infor-ion-api.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../extractor/cs_ido.h"

#define BASE "https://mingle-ionapi.inforcloudsuite.com/ACME_PRD"

static void
test_url_first_page (void **state)
{
    cs_ido_query_t q = {.ido = "SLVendors",
                        .properties = "VendNum,Name,RecordDate",
                        .filter = "RecordDate >= '2026-02-01 08:15:02.117'",
                        .orderby = "RecordDate,VendNum",
                        .recordcap = 200};
    char *url = cs_ido_load_url (BASE, &q);
    assert_non_null (url);
    assert_string_equal (url,
                         BASE "/CSI/IDORequestService/ido/load/SLVendors"
                              "?properties=VendNum%2CName%2CRecordDate"
                              "&filter=RecordDate%20%3E%3D%20%272026-02-01%2008%3A15%3A02.117%27"
                              "&orderby=RecordDate%2CVendNum&recordcap=200");
    free (url);
}

static void
test_url_next_page (void **state)
{
    cs_ido_query_t q = {.ido = "SLVendors",
                        .properties = "VendNum",
                        .orderby = "RecordDate,VendNum",
                        .recordcap = 50,
                        .bookmark = "<B><P><p>V000123</p></P><D>N&M=#1</D></B>"};
    char *url = cs_ido_load_url (BASE, &q);
    assert_non_null (url);
    /* no filter on a first poll; bookmark paging with loadtype NEXT, all encoded */
    assert_null (strstr (url, "filter="));
    assert_non_null (strstr (url, "&recordcap=50&loadtype=NEXT&bookmark="
                                  "%3CB%3E%3CP%3E%3Cp%3EV000123%3C%2Fp%3E%3C%2FP%3E"
                                  "%3CD%3EN%26M%3D%231%3C%2FD%3E%3C%2FB%3E"));
    /* exactly one '?', no raw separators from the values */
    assert_int_equal (strchr (url, '?') - url, strrchr (url, '?') - url);
    assert_null (strchr (url, '#'));
    assert_null (strchr (url, '<'));
    free (url);
}

static void
test_url_defaults (void **state)
{
    cs_ido_query_t q = {.ido = "SLCustomers"};
    char *url = cs_ido_load_url (BASE, &q);
    assert_non_null (url);
    assert_string_equal (url, BASE "/CSI/IDORequestService/ido/load/SLCustomers?properties=%2A");
    free (url);
    cs_ido_query_t empty = {.ido = ""};
    assert_null (cs_ido_load_url (BASE, &empty));
}

/* The v2 example of the reference, two items, more rows. */
static const char *s_v2 =
    "{ \"Items\": [ {\"VendNum\": \"V000123\", \"Name\": \"Northwind Metals\", "
    "\"RecordDate\": \"2026-02-01 08:15:02.117\", \"_ItemId\": \"PBT=[vendor] ven.DT=[2026-02-01 "
    "08:15:02.117] ven.ID=[a1b2] ven.RP=[...]\"},"
    " {\"VendNum\": \"V000124\", \"Name\": \"Contoso Fasteners, Inc.\", \"Phone\": \"\", "
    "\"RecordDate\": \"2026-02-01 08:15:03.000\", \"_ItemId\": \"PBT=[vendor]\"} ],\n"
    "  \"Bookmark\": \"<B><P><p>V000124</p></P></B>\",\n"
    "  \"MoreRowsExist\": true,\n"
    "  \"Success\": true,\n"
    "  \"Message\": null }";

static void
test_parse_v2 (void **state)
{
    char err[512] = "";
    cs_ido_page_t *page = cs_ido_parse (s_v2, strlen (s_v2), err, sizeof err);
    assert_non_null (page);
    assert_int_equal (cs_ido_page_size (page), 2);
    assert_string_equal (cs_ido_page_get (page, 0, "VendNum"), "V000123");
    assert_string_equal (cs_ido_page_get (page, 0, "Name"), "Northwind Metals");
    assert_string_equal (cs_ido_page_get (page, 1, "Name"), "Contoso Fasteners, Inc.");
    assert_string_equal (cs_ido_page_get (page, 1, "Phone"), "");
    assert_null (cs_ido_page_get (page, 0, "Phone"));
    assert_null (cs_ido_page_get (page, 2, "VendNum"));
    assert_int_equal (cs_ido_page_prop_count (page, 0), 4);
    assert_string_equal (cs_ido_page_prop_name (page, 0, 3), "_ItemId");
    assert_string_equal (cs_ido_page_prop_value (page, 1, 0), "V000124");
    assert_string_equal (cs_ido_page_bookmark (page), "<B><P><p>V000124</p></P></B>");
    assert_true (cs_ido_page_more (page));
    cs_ido_page_destroy (&page);
    assert_null (page);
}

static void
test_parse_last_page (void **state)
{
    const char *body = "{\"Items\":[],\"Bookmark\":null,\"MoreRowsExist\":false,"
                       "\"Success\":true,\"Message\":null}";
    char err[256] = "";
    cs_ido_page_t *page = cs_ido_parse (body, strlen (body), err, sizeof err);
    assert_non_null (page);
    assert_int_equal (cs_ido_page_size (page), 0);
    assert_null (cs_ido_page_bookmark (page));
    assert_false (cs_ido_page_more (page));
    cs_ido_page_destroy (&page);
}

/*  Lookups in the answer's order take the shortcut; any other order, a missing name and a
    repeated name give what cs_ido_page_get gives. */
static void
test_get_next (void **state)
{
    const char *body = "{\"Items\":[{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"},"
                       "{\"A\":\"x\",\"B\":\"y\",\"A\":\"z\"}],\"Success\":true}";
    char err[256] = "";
    cs_ido_page_t *page = cs_ido_parse (body, strlen (body), err, sizeof err);
    assert_non_null (page);
    size_t next = 0;
    assert_string_equal (cs_ido_page_get_next (page, 0, "A", &next), "1");
    assert_int_equal (next, 1);
    assert_string_equal (cs_ido_page_get_next (page, 0, "B", &next), "2");
    assert_string_equal (cs_ido_page_get_next (page, 0, "C", &next), "3");
    assert_int_equal (next, 3);
    assert_null (cs_ido_page_get_next (page, 0, "D", &next));
    assert_int_equal (next, 3);
    next = 0;
    assert_string_equal (cs_ido_page_get_next (page, 0, "C", &next), "3"); /* out of order */
    assert_string_equal (cs_ido_page_get_next (page, 0, "A", &next), "1");
    assert_int_equal (next, 1);
    /* item 1 repeats A: the first A counts, even where the hint points at the second */
    next = 2;
    assert_string_equal (cs_ido_page_get_next (page, 1, "A", &next), "x");
    assert_string_equal (cs_ido_page_get (page, 1, "A"), "x");
    assert_null (cs_ido_page_get_next (page, 2, "A", &next));
    cs_ido_page_destroy (&page);
}

static void
test_parse_non_string_values (void **state)
{
    const char *body = "{\"Items\":[{\"CustNum\":\"C000042\",\"CustSeq\":0,\"CreditLimit\":1500.5,"
                       "\"Big\":12345678901,\"Addr_2\":null,\"CreditHold\":false,\"Flag\":true,"
                       "\"Nested\":{\"a\":[1,\"x\"]}}],\"MoreRowsExist\":false,\"Success\":true}";
    char err[256] = "";
    cs_ido_page_t *page = cs_ido_parse (body, strlen (body), err, sizeof err);
    assert_non_null (page);
    assert_string_equal (cs_ido_page_get (page, 0, "CustSeq"), "0");
    assert_string_equal (cs_ido_page_get (page, 0, "CreditLimit"), "1500.5");
    assert_string_equal (cs_ido_page_get (page, 0, "Big"), "12345678901");
    assert_string_equal (cs_ido_page_get (page, 0, "Addr_2"), "");
    assert_string_equal (cs_ido_page_get (page, 0, "CreditHold"), "0");
    assert_string_equal (cs_ido_page_get (page, 0, "Flag"), "1");
    assert_string_equal (cs_ido_page_get (page, 0, "Nested"), "{\"a\":[1,\"x\"]}");
    cs_ido_page_destroy (&page);
}

typedef struct {
    const char *name; /* case */
    const char *body; /* response body */
    const char *want; /* text the message must contain */
} s_bad_t;

static const s_bad_t s_bad[] = {
    {"Success false",
     "{\"Items\":null,\"Bookmark\":null,\"MoreRowsExist\":false,\"Success\":false,"
     "\"Message\":\"Property 'Bogus' not found on IDO SLVendors.\"}",
     "Success=false): Property 'Bogus' not found on IDO SLVendors."},
    {"HTML page",
     "<!DOCTYPE html><html><head><title>504 Gateway Time-out</title></head>"
     "<body>The gateway did not receive a timely response</body></html>",
     "HTML, not JSON (gateway or login page?); body: <!DOCTYPE html><html><head><title>504 Gateway "
     "Time-out"},
    {"truncated JSON", "{ \"Items\": [ {\"VendNum\": \"V000123\", \"Name\": \"Northw",
     "not valid JSON (truncated or not JSON); body: { \\\"Items\\\""},
    {"plain text", "Service Unavailable", "not valid JSON"},
    {"v1 shape",
     "{\"Items\":[[{\"Name\":\"VendNum\",\"Value\":\"V000123\"},{\"Name\":\"Name\","
     "\"Value\":\"Northwind Metals\"}]],\"Message\":null,\"Success\":true}",
     "v1 MGRESTService shape"},
    {"no Items", "{\"Success\":true,\"Message\":null}", "has no Items"},
    {"Items not array", "{\"Items\":\"x\",\"Success\":true}", "Items is not an array"},
    {"item not object", "{\"Items\":[\"V000123\"],\"Success\":true}", "Items[0] is not an object"},
    {"array body", "[1,2,3]", "not a JSON object"},
    {"empty body", "", "empty"},
    {"Success false without Message", "{\"Items\":null,\"Success\":false}", "(no Message)"},
    {"Success as the text false",
     "{\"Items\":[],\"Success\":\"False\",\"Message\":\"IDO is locked\"}",
     "Success=false): IDO is locked"},
    {"JSON null", "null", "not a JSON object"},
    {"JSON number", "12345", "not a JSON object"},
    {"HTML after white space", "\r\n  <html><body>Bad Gateway</body></html>",
     "HTML, not JSON (gateway or login page?); body: \\r\\n  <html><body>Bad Gateway"},
    {"JSON cut inside the Items", "{\"Items\":[{\"_ItemId\":\"PBT=[ven]\",\"Name\":\"Northwind Me",
     "not valid JSON (truncated or not JSON)"},
    {"gateway error object", "{\"error\":\"too_many_requests\",\"error_description\":\"x\"}",
     "has no Items"},
};

static void
test_parse_errors (void **state)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        char err[512] = "";
        cs_ido_page_t *page = cs_ido_parse (s_bad[i].body, strlen (s_bad[i].body), err, sizeof err);
        if (page || !strstr (err, s_bad[i].want)) {
            print_error ("case '%s': err='%s' want '%s'\n", s_bad[i].name, err, s_bad[i].want);
            cs_ido_page_destroy (&page);
            fail ();
        }
    }
}

static void
test_parse_excerpt_is_short (void **state)
{
    size_t len = 100000;
    char *body = malloc (len + 1);
    assert_non_null (body);
    memset (body, 'x', len);
    memcpy (body, "<html>", 6);
    body[len] = '\0';
    char err[2048] = "";
    assert_null (cs_ido_parse (body, len, err, sizeof err));
    assert_true (strlen (err) < 600);
    assert_non_null (strstr (err, "<html>xxx"));
    free (body);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_url_first_page),
        cmocka_unit_test (test_url_next_page),
        cmocka_unit_test (test_url_defaults),
        cmocka_unit_test (test_parse_v2),
        cmocka_unit_test (test_parse_last_page),
        cmocka_unit_test (test_parse_non_string_values),
        cmocka_unit_test (test_parse_errors),
        cmocka_unit_test (test_get_next),
        cmocka_unit_test (test_parse_excerpt_is_short),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
