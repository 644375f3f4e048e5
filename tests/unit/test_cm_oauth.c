/*  Unit tests for cm_oauth against an in-process sim_http token endpoint with the real
    response shapes of Salesforce (client credentials) and Infor ION (password grant). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_http.h"
#include "cm_oauth.h"
#include "cm_time.h"
#include "sim_http.h"

#define SECRET   "Zr9#kQ+2/xV=ACME_PRD~s3cr3t"
#define SF_TOKEN "00DHs000000abcd!AQ4AQFy1X.nIuB4qvV_0d3eK8R2lCf1EXAMPLE"

typedef struct {
    sim_server_t *server; /* loopback token endpoint */
    char base[64];        /* http://127.0.0.1:PORT */
    int calls;            /* requests seen (guarded by lock) */
    pthread_mutex_t lock; /* guards calls */
} fixture_t;

static void
handler (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    fixture_t *f = arg;
    pthread_mutex_lock (&f->lock);
    f->calls++;
    pthread_mutex_unlock (&f->lock);
    if (strcmp (req->path, "/services/oauth2/token") == 0) {
        /*  Salesforce client credentials: the form carries the credentials. */
        char *want = NULL;
        char *enc = cm_http_form_encode (SECRET);
        if (asprintf (&want, "grant_type=client_credentials&client_id=3MVG9abc&client_secret=%s",
                      enc) < 0)
            want = NULL;
        free (enc);
        if (!want || strcmp (req->body, want) != 0) {
            const char *err = "{\"error\":\"invalid_client\",\"error_description\":\"invalid "
                              "client credentials\"}";
            sim_response_body (resp, 400, "application/json;charset=UTF-8", err, strlen (err));
        } else {
            const char *ok =
                "{\"access_token\":\"" SF_TOKEN "\",\"signature\":\"c2lnbmF0dXJl\","
                "\"scope\":\"api\",\"instance_url\":\"https://acme.my.salesforce.com\","
                "\"id\":\"https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001Sv6e\","
                "\"token_type\":\"Bearer\",\"issued_at\":\"1764162000000\"}";
            sim_response_body (resp, 200, "application/json;charset=UTF-8", ok, strlen (ok));
        }
        free (want);
    } else if (strcmp (req->path, "/ACME_PRD/as/token.oauth2") == 0) {
        /*  Infor ION password grant with HTTP Basic client authentication. */
        const char *auth = sim_request_header (req, "Authorization");
        if (!auth || strncmp (auth, "Basic ", 6) != 0 ||
            !strstr (req->body, "grant_type=password")) {
            sim_response_body (resp, 401, "application/json", "{\"error\":\"invalid_client\"}", 26);
            return;
        }
        const char *ok = "{\"access_token\":\"eyJhbGciOiJSUzI1NiJ9.ion.sig\",\"token_type\":"
                         "\"Bearer\",\"expires_in\":7200,\"refresh_token\":\"rt-12345\"}";
        sim_response_body (resp, 200, "application/json", ok, strlen (ok));
    } else if (strcmp (req->path, "/strexp") == 0) {
        const char *ok = "{\"access_token\":\"tok\",\"expires_in\":\"3599\"}";
        sim_response_body (resp, 200, "application/json", ok, strlen (ok));
    } else if (strcmp (req->path, "/badexp") == 0) {
        const char *ok = "{\"access_token\":\"tok\",\"expires_in\":\"soon\"}";
        sim_response_body (resp, 200, "application/json", ok, strlen (ok));
    } else if (strcmp (req->path, "/html") == 0) {
        const char *html = "<html><body>Maintenance</body></html>";
        sim_response_body (resp, 200, "text/html", html, strlen (html));
    } else if (strcmp (req->path, "/noaccess") == 0) {
        sim_response_body (resp, 200, "application/json", "{\"token_type\":\"Bearer\"}", 23);
    } else if (strcmp (req->path, "/echo400") == 0) {
        /*  A server that (wrongly) echoes the request into a non-JSON error body. */
        sim_response_body (resp, 400, "text/plain", req->body, req->body_len);
    } else if (strcmp (req->path, "/down") == 0) {
        sim_response_body (resp, 503, "text/plain", "down", 4);
        sim_response_header (resp, "Retry-After", "0");
    } else
        sim_response_body (resp, 404, "text/plain", "not found", 9);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    pthread_mutex_init (&f->lock, NULL);
    char err[256];
    f->server = sim_server_new ("127.0.0.1:0", handler, f, err, sizeof err);
    if (!f->server)
        return -1;
    snprintf (f->base, sizeof f->base, "http://127.0.0.1:%d", sim_server_port (f->server));
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    sim_server_destroy (&f->server);
    pthread_mutex_destroy (&f->lock);
    free (f);
    return 0;
}

static const cm_retry_policy_t s_policy = {.max_attempts = 3, .base_ms = 1, .max_ms = 5};

static cm_oauth_result_t
request (fixture_t *f, const char *path, const char *form, const char *user, const char *pass,
         cm_token_t *token, char *err, size_t err_cap)
{
    cm_http_t *http = cm_http_new (64 * 1024, 5000);
    assert_non_null (http);
    char url[128];
    snprintf (url, sizeof url, "%s%s", f->base, path);
    cm_oauth_result_t r =
        cm_oauth_request (http, &s_policy, url, form, user, pass, 7200, token, err, err_cap);
    cm_http_destroy (&http);
    return r;
}

static char *
sf_form (const char *secret)
{
    char *enc = cm_http_form_encode (secret);
    char *form = NULL;
    if (asprintf (&form, "grant_type=client_credentials&client_id=3MVG9abc&client_secret=%s", enc) <
        0)
        form = NULL;
    free (enc);
    return form;
}

static void
test_salesforce_success (void **state)
{
    fixture_t *f = *state;
    cm_token_t token = {0};
    char err[512] = "";
    char *form = sf_form (SECRET);
    int64_t before = cm_mono_ms ();
    assert_int_equal (
        request (f, "/services/oauth2/token", form, NULL, NULL, &token, err, sizeof err),
        CM_OAUTH_OK);
    assert_string_equal (token.access_token, SF_TOKEN);
    assert_string_equal (token.instance_url, "https://acme.my.salesforce.com");
    assert_null (token.refresh_token);
    /*  No expires_in: the default TTL (7200 s) applies. */
    assert_true (token.issued_at_ms >= before);
    assert_int_equal (token.expires_at_ms - token.issued_at_ms, 7200 * 1000);
    assert_true (cm_token_fresh (&token, 300 * 1000));
    assert_false (cm_token_fresh (&token, 7201 * 1000));
    cm_token_clear (&token);
    assert_null (token.access_token);
    assert_false (cm_token_fresh (&token, 0));
    free (form);
}

static void
test_infor_success (void **state)
{
    fixture_t *f = *state;
    cm_token_t token = {0};
    char err[512] = "";
    const char *form = "grant_type=password&username=ACME_PRD%23svc&password=pw";
    assert_int_equal (request (f, "/ACME_PRD/as/token.oauth2", form, "ACME_PRD~clientid",
                               "clientsecret", &token, err, sizeof err),
                      CM_OAUTH_OK);
    assert_string_equal (token.access_token, "eyJhbGciOiJSUzI1NiJ9.ion.sig");
    assert_string_equal (token.refresh_token, "rt-12345");
    assert_int_equal (token.expires_at_ms - token.issued_at_ms, 7200 * 1000);
    /*  A second request replaces the token (no leak of the first). */
    assert_int_equal (
        request (f, "/strexp", "grant_type=password", NULL, NULL, &token, err, sizeof err),
        CM_OAUTH_OK);
    assert_string_equal (token.access_token, "tok");
    assert_null (token.refresh_token);
    /*  expires_in as a numeric string. */
    assert_int_equal (token.expires_at_ms - token.issued_at_ms, 3599 * 1000);
    cm_token_clear (&token);
}

static void
test_rejected (void **state)
{
    fixture_t *f = *state;
    cm_token_t token = {0};
    char err[512] = "";
    const char *wrong = "Wr0ng#Secret+Value/XYZ";
    char *form = sf_form (wrong);
    assert_int_equal (
        request (f, "/services/oauth2/token", form, NULL, NULL, &token, err, sizeof err),
        CM_OAUTH_REJECTED);
    assert_non_null (strstr (err, "invalid_client: invalid client credentials"));
    assert_non_null (strstr (err, "400"));
    assert_null (strstr (err, wrong));
    assert_null (strstr (err, "Wr0ng"));
    assert_null (token.access_token);
    /*  Not retried: one request only. */
    assert_int_equal (f->calls, 1);
    /*  A token in hand survives a failed refresh. */
    cm_token_t held = {0};
    held.access_token = strdup ("still-valid");
    held.expires_at_ms = cm_mono_ms () + 60000;
    assert_int_equal (
        request (f, "/services/oauth2/token", form, NULL, NULL, &held, err, sizeof err),
        CM_OAUTH_REJECTED);
    assert_string_equal (held.access_token, "still-valid");
    cm_token_clear (&held);
    free (form);
    /*  A server echoing the request body: the message still has no secret. */
    form = sf_form (SECRET);
    assert_int_equal (request (f, "/echo400", form, NULL, NULL, &token, err, sizeof err),
                      CM_OAUTH_REJECTED);
    assert_null (strstr (err, "s3cr3t"));
    assert_null (strstr (err, "client_secret"));
    free (form);
    /*  401 from the Infor endpoint without Basic auth. */
    assert_int_equal (request (f, "/ACME_PRD/as/token.oauth2", "grant_type=password", NULL, NULL,
                               &token, err, sizeof err),
                      CM_OAUTH_REJECTED);
    assert_non_null (strstr (err, "invalid_client"));
}

static void
test_malformed (void **state)
{
    fixture_t *f = *state;
    cm_token_t token = {0};
    char err[512] = "";
    assert_int_equal (request (f, "/html", "x=1", NULL, NULL, &token, err, sizeof err),
                      CM_OAUTH_MALFORMED);
    assert_non_null (strstr (err, "not a JSON object"));
    assert_int_equal (request (f, "/noaccess", "x=1", NULL, NULL, &token, err, sizeof err),
                      CM_OAUTH_MALFORMED);
    assert_non_null (strstr (err, "no access_token"));
    assert_int_equal (request (f, "/badexp", "x=1", NULL, NULL, &token, err, sizeof err),
                      CM_OAUTH_MALFORMED);
    assert_non_null (strstr (err, "expires_in"));
    assert_null (token.access_token);
}

static void
test_unavailable (void **state)
{
    fixture_t *f = *state;
    cm_token_t token = {0};
    char err[512] = "";
    assert_int_equal (request (f, "/down", "x=1", NULL, NULL, &token, err, sizeof err),
                      CM_OAUTH_UNAVAILABLE);
    assert_non_null (strstr (err, "503"));
    /*  Retried up to the policy's attempts. */
    assert_int_equal (f->calls, s_policy.max_attempts);
    /*  Nobody listening. */
    char e2[128];
    sim_server_t *tmp = sim_server_new ("127.0.0.1:0", handler, f, e2, sizeof e2);
    int port = sim_server_port (tmp);
    sim_server_destroy (&tmp);
    cm_http_t *http = cm_http_new (1024, 2000);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/token", port);
    assert_int_equal (
        cm_oauth_request (http, &s_policy, url, "x=1", NULL, NULL, 60, &token, err, sizeof err),
        CM_OAUTH_UNAVAILABLE);
    assert_non_null (strstr (err, "failed"));
    cm_http_destroy (&http);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_salesforce_success, setup, teardown),
        cmocka_unit_test_setup_teardown (test_infor_success, setup, teardown),
        cmocka_unit_test_setup_teardown (test_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown (test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
