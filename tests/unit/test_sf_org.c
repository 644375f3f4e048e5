/*  Unit tests for sf_org and sf_auth: Sforce-Limit-Info parsing, settings checks, and the
    call path (token by client credentials, Authorization per call, re-auth once on 401,
    rejected credentials stop the org without a retry storm, a TotalRequests refusal pauses
    it, the session TTL renews the token) against a scripted HTTP server on loopback that
    answers in Salesforce's shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "../../loader/sf_collections.h"
#include "../../loader/sf_org.h"
#include "cm_log.h"
#include "sim_http.h"

static void
test_limit_info (void **state)
{
    long used = 0, max = 0;
    assert_int_equal (sf_limit_info_parse ("api-usage=18/15000", &used, &max), 0);
    assert_int_equal (used, 18);
    assert_int_equal (max, 15000);
    assert_int_equal (
        sf_limit_info_parse ("per-app-api-usage=17/250(appName=sample-app), api-usage=25/5000",
                             &used, &max),
        0);
    assert_int_equal (used, 25);
    assert_int_equal (max, 5000);
    assert_int_equal (sf_limit_info_parse ("api-usage=7/100; other=1", &used, &max), 0);
    assert_int_equal (used, 7);
    const char *bad[] = {"",
                         "api-usage=",
                         "api-usage=18",
                         "api-usage=18/",
                         "api-usage=x/9",
                         "api-usage=1/2x",
                         "per-app-api-usage=17/250",
                         "api-usage=99999999999999999999999/1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (sf_limit_info_parse (bad[i], &used, &max), -1);
    assert_int_equal (sf_limit_info_parse (NULL, &used, &max), -1);
}

static sf_org_config_t
s_org_config (const char *url)
{
    sf_org_config_t c = {.name = "test",
                         .url = url,
                         .client_id = "3MVG9test",
                         .client_secret = "s3cr3t",
                         .api_version = "62.0",
                         .allow_http = true,
                         .session_ttl_s = 7200,
                         .token_margin_s = 300,
                         .timeout_ms = 5000,
                         .max_body = 1 << 20};
    return c;
}

static void
test_settings_checked (void **state)
{
    char err[256];
    sf_org_config_t c = s_org_config ("http://acme.my.salesforce.com");
    assert_null (sf_org_new (&c, err, sizeof err)); //  plain http off loopback
    assert_true (strlen (err) > 0);
    c = s_org_config ("https://acme.my.salesforce.com");
    c.api_version = "62.0/../../x";
    assert_null (sf_org_new (&c, err, sizeof err));
    assert_non_null (strstr (err, "api_version"));
    c = s_org_config ("https://acme.my.salesforce.com");
    c.client_secret = "";
    assert_null (sf_org_new (&c, err, sizeof err));
    assert_null (strstr (err, "s3cr3t"));
    c = s_org_config ("https://acme.my.salesforce.com/");
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    long used, max;
    sf_org_api_usage (org, &used, &max);
    assert_int_equal (used, -1);
    assert_int_equal (sf_org_blocked_until_ms (org), 0);
    sf_org_destroy (&org);
    assert_null (org);
}

//  ---------------------------------------------------------------------------------------
//  A scripted Salesforce: token endpoint and the Collections upsert, with switches.

typedef struct {
    pthread_mutex_t lock; /* handlers run in server threads */
    int port;             /* its port */
    int token_requests;   /* POST /services/oauth2/token seen */
    int data_calls;       /* other requests seen */
    int valid_token;      /* the token number currently valid (tokN) */
    bool reject_login;    /* answer the token endpoint 400 invalid_client */
    bool total_limit;     /* answer data calls 403 TotalRequests */
    bool expire_now;      /* invalidate the current token before the next data call */
    char last_auth[128];  /* Authorization header of the last data call */
    char last_path[256];  /* path of the last data call */
    char last_body[4096]; /* body of the last data call */
    char usage[64];       /* Sforce-Limit-Info to answer ("" = api-usage=18/15000) */
} fake_sf_t;

static void
s_fake_handler (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    fake_sf_t *f = arg;
    pthread_mutex_lock (&f->lock);
    sim_response_header (resp, "Sforce-Limit-Info", *f->usage ? f->usage : "api-usage=18/15000");
    char text[1024];
    if (strcmp (req->path, "/services/oauth2/token") == 0) {
        f->token_requests++;
        bool form_ok = strstr (req->body, "grant_type=client_credentials") &&
                       strstr (req->body, "client_id=3MVG9test") &&
                       strstr (req->body, "client_secret=s3cr3t");
        if (f->reject_login || !form_ok) {
            const char *e = "{\"error\":\"invalid_client\",\"error_description\":\"invalid "
                            "client credentials\"}";
            sim_response_body (resp, 400, "application/json", e, strlen (e));
        } else {
            f->valid_token++;
            snprintf (text, sizeof text,
                      "{\"access_token\":\"00Dxx!tok%d\",\"signature\":\"c2ln\",\"scope\":\"api\","
                      "\"instance_url\":\"http://127.0.0.1:%d\",\"id\":\"https://login."
                      "salesforce.com/id/00Dxx0000001gPL/005xx000001Sv6e\",\"token_type\":"
                      "\"Bearer\",\"issued_at\":\"1764162000000\"}",
                      f->valid_token, f->port);
            sim_response_body (resp, 200, "application/json", text, strlen (text));
        }
        goto out;
    }
    f->data_calls++;
    snprintf (f->last_path, sizeof f->last_path, "%s", req->path);
    snprintf (f->last_body, sizeof f->last_body, "%s", req->body);
    const char *authz = sim_request_header (req, "Authorization");
    snprintf (f->last_auth, sizeof f->last_auth, "%s", authz ? authz : "");
    if (f->expire_now) {
        f->expire_now = false;
        f->valid_token += 1000; //  no issued token matches any more
    }
    char expected[64];
    snprintf (expected, sizeof expected, "Bearer 00Dxx!tok%d", f->valid_token);
    if (!authz || strcmp (authz, expected) != 0) {
        const char *e = "[{\"message\":\"Session expired or invalid\",\"errorCode\":"
                        "\"INVALID_SESSION_ID\"}]";
        sim_response_header (resp, "WWW-Authenticate", "Token");
        sim_response_body (resp, 401, "application/json", e, strlen (e));
        goto out;
    }
    if (f->total_limit) {
        const char *e = "[{\"message\":\"TotalRequests Limit exceeded.\",\"errorCode\":"
                        "\"REQUEST_LIMIT_EXCEEDED\"}]";
        sim_response_body (resp, 403, "application/json", e, strlen (e));
        goto out;
    }
    const char *ok = "[{\"id\":\"001xx0000004GxDAAU\",\"success\":true,\"errors\":[],"
                     "\"created\":true}]";
    sim_response_body (resp, 200, "application/json", ok, strlen (ok));
out:
    pthread_mutex_unlock (&f->lock);
}

typedef struct {
    fake_sf_t fake;       /* the server's state */
    sim_server_t *server; /* the server */
    char url[64];         /* its base URL */
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    pthread_mutex_init (&fx->fake.lock, NULL);
    char err[256];
    fx->server = sim_server_new ("127.0.0.1:0", s_fake_handler, &fx->fake, err, sizeof err);
    assert_non_null (fx->server);
    fx->fake.port = sim_server_port (fx->server);
    snprintf (fx->url, sizeof fx->url, "http://127.0.0.1:%d", fx->fake.port);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    sim_server_destroy (&fx->server);
    pthread_mutex_destroy (&fx->fake.lock);
    free (fx);
    return 0;
}

static sf_call_result_t
s_upsert (sf_org_t *org, sf_error_t *err)
{
    const char *payloads[] = {"{\"Name\":\"Northwind Metals\",\"CloudSuite_Key__c\":"
                              "\"ACME_PRD:vendor:V000123\"}"};
    char *body = NULL;
    size_t len = 0;
    char why[128];
    assert_int_equal (sf_collections_build ("Account", payloads, 1, &body, &len, why, sizeof why),
                      0);
    char path[128];
    assert_int_equal (sf_collections_path ("Account", "CloudSuite_Key__c", path, sizeof path), 0);
    cm_http_response_t resp;
    sf_call_result_t r = sf_org_call (org, "PATCH", path, body, len, &resp, err);
    if (r == SF_CALL_OK) {
        sf_record_result_t results[1];
        r = sf_collections_parse (resp.status, resp.body, resp.body_len, 1, results, err);
        assert_int_equal (r, SF_CALL_OK);
        assert_true (results[0].success);
        assert_true (results[0].created);
        assert_string_equal (results[0].id, "001xx0000004GxDAAU");
    }
    cm_http_response_clear (&resp);
    free (body);
    return r;
}

static void
test_call_and_reauth (void **state)
{
    fixture_t *fx = *state;
    char err[256];
    sf_org_config_t c = s_org_config (fx->url);
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    sf_error_t e;
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (fx->fake.token_requests, 1);
    assert_int_equal (fx->fake.data_calls, 1);
    assert_string_equal (fx->fake.last_path,
                         "/services/data/v62.0/composite/sobjects/Account/CloudSuite_Key__c");
    assert_string_equal (fx->fake.last_auth, "Bearer 00Dxx!tok1");
    assert_non_null (strstr (fx->fake.last_body, "\"allOrNone\":false"));
    long used, max;
    sf_org_api_usage (org, &used, &max);
    assert_int_equal (used, 18);
    assert_int_equal (max, 15000);

    //  The cached token serves the next call
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (fx->fake.token_requests, 1);

    //  Session ended on the server: one 401, a new token, the call repeated once
    fx->fake.expire_now = true;
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (fx->fake.token_requests, 2);
    assert_int_equal (fx->fake.data_calls, 4);
    assert_string_equal (fx->fake.last_auth, "Bearer 00Dxx!tok1002");
    assert_int_equal (sf_org_token_requests (org), 2);
    assert_int_equal (sf_org_api_calls (org), 4);
    sf_org_destroy (&org);
}

static void
test_rejected_credentials_stop_the_org (void **state)
{
    fixture_t *fx = *state;
    char err[256];
    sf_org_config_t c = s_org_config (fx->url);
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    sf_org_set_pause_ms (org, 60000, 200);
    fx->fake.reject_login = true;
    sf_error_t e;
    assert_int_equal (s_upsert (org, &e), SF_CALL_STOPPED);
    assert_string_equal (e.code, "AUTH_REJECTED");
    assert_non_null (strstr (e.message, "invalid_client"));
    assert_null (strstr (e.message, "s3cr3t"));
    assert_int_equal (fx->fake.token_requests, 1);
    assert_true (sf_org_blocked_until_ms (org) > 0);
    //  No retry storm: while stopped, calls return at once without any request
    for (int i = 0; i < 20; i++)
        assert_int_equal (s_upsert (org, &e), SF_CALL_STOPPED);
    assert_int_equal (fx->fake.token_requests, 1);
    assert_int_equal (fx->fake.data_calls, 0);
    //  After the backoff, fixed credentials work again
    fx->fake.reject_login = false;
    usleep (300 * 1000);
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (fx->fake.token_requests, 2);
    assert_int_equal (sf_org_blocked_until_ms (org), 0);
    sf_org_destroy (&org);
}

static void
test_total_requests_pauses (void **state)
{
    fixture_t *fx = *state;
    char err[256];
    sf_org_config_t c = s_org_config (fx->url);
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    fx->fake.total_limit = true;
    sf_error_t e;
    assert_int_equal (s_upsert (org, &e), SF_CALL_PAUSED);
    assert_int_equal (e.http_status, 403);
    assert_int_equal (fx->fake.data_calls, 1);
    assert_true (sf_org_blocked_until_ms (org) > 0);
    //  Paused: nothing is sent until the pause ends
    assert_int_equal (s_upsert (org, &e), SF_CALL_PAUSED);
    assert_int_equal (fx->fake.data_calls, 1);
    sf_org_destroy (&org);
}

static void
test_session_ttl_renews (void **state)
{
    fixture_t *fx = *state;
    char err[256];
    sf_org_config_t c = s_org_config (fx->url);
    c.session_ttl_s = 1;
    c.token_margin_s = 0;
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    sf_error_t e;
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (fx->fake.token_requests, 1);
    usleep (1200 * 1000);
    //  Renewed before the call, not after a 401
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (fx->fake.token_requests, 2);
    assert_int_equal (fx->fake.data_calls, 2);
    sf_org_destroy (&org);
}

static void
test_usage_slows_and_pauses (void **state)
{
    fixture_t *fx = *state;
    char err[256];
    sf_org_config_t c = s_org_config (fx->url);
    c.slowdown_pct = 50;
    c.pause_pct = 90;
    c.slowdown_ms = 50;
    c.pause_ms = 300;
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    sf_error_t e;
    sf_org_stats_t st;
    snprintf (fx->fake.usage, sizeof fx->fake.usage, "api-usage=6/10");
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_true (sf_org_slowed (org));
    //  Slowed: calls are spaced (counted as delayed), still made
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    sf_org_stats (org, &st);
    assert_int_equal (st.slowdowns, 1);
    assert_true (st.delayed_calls >= 1);
    assert_int_equal (st.pauses, 0);
    assert_int_equal (fx->fake.data_calls, 3);
    //  At the pause share: this call is made, then the org pauses without further calls
    snprintf (fx->fake.usage, sizeof fx->fake.usage, "api-usage=9/10");
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_true (sf_org_blocked_until_ms (org) > 0);
    assert_int_equal (s_upsert (org, &e), SF_CALL_PAUSED);
    assert_string_equal (e.code, "REQUEST_LIMIT_EXCEEDED");
    assert_int_equal (fx->fake.data_calls, 4);
    sf_org_stats (org, &st);
    assert_int_equal (st.pauses, 1);
    assert_int_equal (st.usage_used, 9);
    assert_int_equal (st.usage_max, 10);
    //  After the pause the first call measures again; a reset allowance clears both states
    usleep (350 * 1000);
    snprintf (fx->fake.usage, sizeof fx->fake.usage, "api-usage=1/10");
    assert_int_equal (s_upsert (org, &e), SF_CALL_OK);
    assert_false (sf_org_slowed (org));
    assert_int_equal (sf_org_blocked_until_ms (org), 0);
    sf_org_destroy (&org);
}

typedef struct {
    sf_org_t *org; /* shared */
    int ok;        /* calls that succeeded */
} caller_t;

static void *
s_caller (void *arg)
{
    caller_t *c = arg;
    cm_http_t *http = cm_http_new (1 << 20, 5000);
    for (int i = 0; i < 5; i++) {
        const char *body = "{\"allOrNone\":false,\"records\":[]}";
        sf_request_t req = {.method = "PATCH",
                            .path = "/composite/sobjects/Account/CloudSuite_Key__c",
                            .body = body,
                            .body_len = strlen (body)};
        cm_http_response_t resp;
        sf_error_t err;
        if (sf_org_request (c->org, http, &req, &resp, &err) == SF_CALL_OK)
            c->ok++;
        cm_http_response_clear (&resp);
    }
    cm_http_destroy (&http);
    return NULL;
}

static void
test_threads_share_one_token (void **state)
{
    fixture_t *fx = *state;
    char err[256];
    sf_org_config_t c = s_org_config (fx->url);
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    pthread_t threads[8];
    caller_t callers[8];
    for (int i = 0; i < 8; i++) {
        callers[i] = (caller_t){.org = org};
        assert_int_equal (pthread_create (&threads[i], NULL, s_caller, &callers[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join (threads[i], NULL);
        ok += callers[i].ok;
    }
    assert_int_equal (ok, 40);
    assert_int_equal (fx->fake.token_requests, 1); //  one login for eight threads
    assert_int_equal (sf_org_api_calls (org), 40);
    //  A renewal after a 401 is also done once, the stale token dropped only once
    fx->fake.expire_now = true;
    for (int i = 0; i < 8; i++) {
        callers[i] = (caller_t){.org = org};
        assert_int_equal (pthread_create (&threads[i], NULL, s_caller, &callers[i]), 0);
    }
    ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join (threads[i], NULL);
        ok += callers[i].ok;
    }
    assert_int_equal (ok, 40);
    assert_int_equal (fx->fake.token_requests, 2);
    sf_org_destroy (&org);
}

int
main (void)
{
    cm_log_init ("test", CM_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_limit_info),
        cmocka_unit_test (test_settings_checked),
        cmocka_unit_test_setup_teardown (test_call_and_reauth, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rejected_credentials_stop_the_org, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_total_requests_pauses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_session_ttl_renews, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_usage_slows_and_pauses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_threads_share_one_token, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
