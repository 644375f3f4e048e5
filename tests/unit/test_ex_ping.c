/*  Unit tests for ex_ping's plain-words diagnosis: a table of failure messages as the token
    endpoint, libcurl and Mongoose produce them, each with the words the operator must see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../extractor/ex_ping.h"

typedef struct {
    cm_oauth_result_t result; /* token result */
    const char *err;          /* the message */
    const char *want;         /* words the hint must contain */
} s_token_case_t;

static const s_token_case_t s_token[] = {
    {CM_OAUTH_REJECTED,
     "token request rejected by https://mingle-sso.inforcloudsuite.com:443/ACME_PRD/as/"
     "token.oauth2 (HTTP 401): invalid_client: Client authentication failed.",
     "client id or secret (ci/cs"},
    {CM_OAUTH_REJECTED, "token request rejected by X (HTTP 400): invalid_grant: bad credentials",
     "service account keys (saak/sask"},
    {CM_OAUTH_REJECTED, "(HTTP 400): unsupported_grant_type", "Backend Service"},
    {CM_OAUTH_UNAVAILABLE,
     "token request to https://x/as/token.oauth2 failed: Could not resolve host: x", "DNS"},
    {CM_OAUTH_UNAVAILABLE,
     "failed: Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server",
     "connection refused"},
    {CM_OAUTH_UNAVAILABLE,
     "failed: SSL certificate problem: unable to get local issuer certificate", "certificate"},
    {CM_OAUTH_UNAVAILABLE, "failed: timed out after 30000 ms", "did not answer in time"},
    {CM_OAUTH_REJECTED, "token request rejected by X (HTTP 404)", "pu and ot"},
    {CM_OAUTH_UNAVAILABLE, "token endpoint X unavailable (HTTP 503)", "throttling or failing"},
    {CM_OAUTH_MALFORMED, "token response from X (HTTP 200) is not a JSON object",
     "did not answer like an OAuth server"},
};

typedef struct {
    const char *err;  /* cs_ido_load message */
    const char *want; /* words the hint must contain */
} s_ido_case_t;

static const s_ido_case_t s_ido[] = {
    {"tenant=ACME_PRD ido=SLVendors: HTTP 400; body: {\"Message\":\"No Mongoose configuration "
     "specified: the X-Infor-MongooseConfig header is required\"}",
     "set cloudsuite.mongoose_config"},
    {"IDO request failed (Success=false): Configuration 'WRONG' not found on the application "
     "server.",
     "Mongoose configuration name is wrong"},
    {"IDO request failed (Success=false): IDO 'SLPOs' does not exist.", "case-sensitive"},
    {"IDO request failed (Success=false): Property 'Nmae' not found in IDO 'SLCustomers'.",
     "cloudsuite.<entity>.properties"},
    {"IDO request failed (Success=false): Invalid column name 'RecDate'.", ".watermark"},
    {"IDO request failed (Success=false): User does not have Read permission for IDO 'SLArinvs'.",
     "no rights on this IDO"},
    {"tenant=ACME_PRD ido=SLArinvs: HTTP 403; body: Forbidden", "no rights on this IDO"},
    {"tenant=ACME_PRD ido=SLVendors: refused with 401 even with a new token", "lack access"},
    {"tenant=ACME_PRD ido=SLVendors: HTTP 404; body: {}", "check iu"},
    {"IDO response is HTML, not JSON (gateway or login page?); body: <html>", "login page"},
    {"tenant=ACME_PRD ido=SLVendors: request failed: Could not resolve host: x", "DNS"},
    {"tenant=ACME_PRD ido=SLVendors: HTTP 429; body: {}", "throttling"},
};

static void
test_token_hints (void **state)
{
    for (size_t i = 0; i < sizeof s_token / sizeof s_token[0]; i++) {
        const char *hint = ex_ping_token_hint (s_token[i].result, s_token[i].err);
        if (!hint || !strstr (hint, s_token[i].want)) {
            print_error ("token case %zu: hint '%s' lacks '%s'\n", i, hint ? hint : "(null)",
                         s_token[i].want);
            fail ();
        }
    }
}

static void
test_ido_hints (void **state)
{
    for (size_t i = 0; i < sizeof s_ido / sizeof s_ido[0]; i++) {
        const char *hint = ex_ping_ido_hint (s_ido[i].err);
        if (!hint || !strstr (hint, s_ido[i].want)) {
            print_error ("IDO case %zu: hint '%s' lacks '%s'\n", i, hint ? hint : "(null)",
                         s_ido[i].want);
            fail ();
        }
    }
}

static void
test_transport_hint (void **state)
{
    assert_null (ex_ping_transport_hint ("IDO request failed (Success=false): x"));
    assert_null (ex_ping_transport_hint (NULL));
    assert_non_null (ex_ping_transport_hint ("Empty reply from server"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_token_hints),
        cmocka_unit_test (test_ido_hints),
        cmocka_unit_test (test_transport_hint),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
