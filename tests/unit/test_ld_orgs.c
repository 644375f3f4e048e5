/*  Unit tests for ld_orgs: the tenant -> org map from salesforce.* and salesforce.orgs_file:
    lookups with and without a default org, orgs shared by tenants (one token), secrets from
    the file, an environment variable or a resolver, and every bad file refused with a
    message naming the tenant and key but never a secret. No request is made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../loader/ld_orgs.h"
#include "cm_log.h"

static sf_org_config_t
s_base (void)
{
    sf_org_config_t c = {.name = "default",
                         .url = "https://acme.my.salesforce.com",
                         .client_id = "3MVG9default",
                         .client_secret = "default-secret",
                         .api_version = "62.0",
                         .session_ttl_s = 7200,
                         .token_margin_s = 300,
                         .timeout_ms = 5000,
                         .max_body = 1 << 20};
    return c;
}

static ld_orgs_t *
s_parse (const char *text, bool have_default, char *err, size_t cap)
{
    sf_org_config_t base = s_base ();
    return ld_orgs_parse (&base, have_default, text, text ? strlen (text) : 0, "orgs.json", NULL,
                          NULL, err, cap);
}

static void
test_default_only (void **state)
{
    char err[256];
    ld_orgs_t *orgs = s_parse (NULL, true, err, sizeof err);
    assert_non_null (orgs);
    assert_int_equal (ld_orgs_count (orgs), 1);
    assert_int_equal (ld_orgs_index (orgs, "ANY"), 0);
    assert_string_equal (sf_org_name (ld_orgs_find (orgs, "ANY")), "default");
    ld_orgs_destroy (&orgs);
    assert_null (orgs);
    //  Neither a default nor a file: no org at all is an error
    assert_null (s_parse (NULL, false, err, sizeof err));
    assert_non_null (strstr (err, "no Salesforce org"));
}

static void
test_file_routes_and_sharing (void **state)
{
    char err[256];
    setenv ("TEST_LD_ORGS_SECRET", "env-secret", 1);
    const char *text =
        "{\"GLOBEX\": {\"url\": \"https://globex.my.salesforce.com\", \"client_id\": \"g\","
        " \"client_secret_env\": \"TEST_LD_ORGS_SECRET\", \"api_version\": \"61.0\"},"
        " \"GLOBEX_UAT\": {\"url\": \"https://globex.my.salesforce.com/\", \"client_id\": \"g\","
        " \"client_secret\": \"env-secret\"},"
        " \"ACME_TST\": {\"url\": \"https://acme.my.salesforce.com\", \"client_id\": "
        "\"3MVG9default\","
        " \"client_secret\": \"default-secret\"}}";
    ld_orgs_t *orgs = s_parse (text, true, err, sizeof err);
    assert_non_null (orgs);
    //  default, globex (shared by two tenants); ACME_TST is the default org itself
    assert_int_equal (ld_orgs_count (orgs), 2);
    assert_int_equal (ld_orgs_index (orgs, "GLOBEX"), ld_orgs_index (orgs, "GLOBEX_UAT"));
    assert_int_equal (ld_orgs_index (orgs, "ACME_TST"), ld_orgs_index (orgs, "ACME_PRD"));
    assert_ptr_not_equal (ld_orgs_find (orgs, "GLOBEX"), ld_orgs_find (orgs, "ACME_PRD"));
    assert_string_equal (sf_org_name (ld_orgs_find (orgs, "GLOBEX")), "GLOBEX");
    assert_string_equal (sf_org_api_version (ld_orgs_find (orgs, "GLOBEX")), "61.0");
    ld_orgs_destroy (&orgs);

    //  Without a default org, an unlisted tenant has no org
    orgs = s_parse (text, false, err, sizeof err);
    assert_non_null (orgs);
    assert_int_equal (ld_orgs_count (orgs), 2);
    assert_int_equal (ld_orgs_index (orgs, "UNKNOWN"), -1);
    assert_null (ld_orgs_find (orgs, "UNKNOWN"));
    assert_null (ld_orgs_find (orgs, NULL));
    ld_orgs_destroy (&orgs);
    unsetenv ("TEST_LD_ORGS_SECRET");
}

static int
s_resolver (void *arg, const char *ref, char **secret, char *err, size_t err_cap)
{
    int *calls = arg;
    (*calls)++;
    if (strcmp (ref, "secret:sf/acme") == 0) {
        *secret = strdup ("resolved-secret");
        return 0;
    }
    snprintf (err, err_cap, "no such secret");
    return -1;
}

static void
test_secret_references (void **state)
{
    char err[256];
    sf_org_config_t base = s_base ();
    const char *text = "{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\","
                       " \"client_secret\": \"secret:sf/acme\"}}";
    int calls = 0;
    ld_orgs_t *orgs = ld_orgs_parse (&base, false, text, strlen (text), "orgs.json", s_resolver,
                                     &calls, err, sizeof err);
    assert_non_null (orgs);
    assert_int_equal (calls, 1);
    ld_orgs_destroy (&orgs);
    const char *missing = "{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\","
                          " \"client_secret\": \"secret:sf/other\"}}";
    assert_null (ld_orgs_parse (&base, false, missing, strlen (missing), "orgs.json", s_resolver,
                                &calls, err, sizeof err));
    assert_non_null (strstr (err, "tenant A"));
    assert_non_null (strstr (err, "no such secret"));
    //  No resolver configured
    assert_null (s_parse (text, false, err, sizeof err));
    assert_non_null (strstr (err, "secret store"));
}

static void
test_bad_files (void **state)
{
    char err[256];
    struct {
        const char *text;
        const char *says;
    } bad[] = {
        {"[1,2]", "expected an object"},
        {"{\"A\": 1}", "tenant A: expected an object"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\", "
         "\"client_secret\": \"s\", \"colour\": \"red\"}}",
         "unknown key 'colour'"},
        {"{\"A\": {\"client_id\": \"a\", \"client_secret\": \"s\"}}", "url is required"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_secret\": \"s\"}}",
         "client_id is required"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\"}}",
         "exactly one of client_secret"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\", "
         "\"client_secret\": \"s\", \"client_secret_env\": \"X\"}}",
         "exactly one of client_secret"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\", "
         "\"client_secret_env\": \"TEST_LD_ORGS_UNSET\"}}",
         "not set"},
        {"{\"A\": {\"url\": 5, \"client_id\": \"a\", \"client_secret\": \"s\"}}",
         "url must be a non-empty string"},
        {"{\"A\": {\"url\": \"http://a.example.com\", \"client_id\": \"a\", "
         "\"client_secret\": \"top-secret-value\"}}",
         "tenant A"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\", "
         "\"client_secret\": \"s\", \"api_version\": \"62.0/../x\"}}",
         "api_version"},
        {"{\"bad tenant\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\", "
         "\"client_secret\": \"s\"}}",
         "is not a tenant id"},
        //  The same org and client id with two different secrets
        {"{\"A\": {\"url\": \"https://acme.my.salesforce.com\", \"client_id\": \"3MVG9default\", "
         "\"client_secret\": \"top-secret-value\"}}",
         "two different client secrets"},
        {"{\"A\": {\"url\": \"https://a.my.salesforce.com\", \"client_id\": \"a\", "
         "\"client_secret\": \"s\"}, \"A\": {\"url\": \"https://a.my.salesforce.com\", "
         "\"client_id\": \"a\", \"client_secret\": \"s\"}}",
         "listed twice"},
        {"{\"A\": ", "not well-formed JSON"},
    };
    unsetenv ("TEST_LD_ORGS_UNSET");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ld_orgs_t *orgs = s_parse (bad[i].text, true, err, sizeof err);
        if (orgs || !strstr (err, bad[i].says))
            fail_msg ("case %zu: expected '%s', got '%s'", i, bad[i].says, err);
        assert_null (strstr (err, "top-secret-value"));
        assert_null (strstr (err, "default-secret"));
    }
    //  A file that does not exist
    sf_org_config_t base = s_base ();
    assert_null (ld_orgs_new (&base, true, "/nonexistent/orgs.json", NULL, NULL, err, sizeof err));
    assert_non_null (strstr (err, "/nonexistent/orgs.json"));
}

int
main (void)
{
    cm_log_init ("test", CM_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_default_only),
        cmocka_unit_test (test_file_routes_and_sharing),
        cmocka_unit_test (test_secret_references),
        cmocka_unit_test (test_bad_files),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
