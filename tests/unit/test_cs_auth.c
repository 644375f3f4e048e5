/*  Unit tests for cs_auth (the token cache of one tenant) and the 401 handling of cs_ido_load,
    against cloudsuite-sim's server running in this process over real HTTP on loopback:
    tokens are reused, renewed before expiry with the refresh grant, renewed once after a
    401, and a refused credential or a repeated 401 does not turn into a stream of token
    requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../../extractor/cs_auth.h"
#include "../../extractor/cs_ido.h"
#include "../../extractor/cs_ionapi.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_time.h"
#include "cssim_server.h"
#include "sim_http.h"

typedef struct {
    char dir[64];           /* temp dir with the .ionapi file */
    cssim_server_t *sim;    /* the simulated gateway */
    sim_server_t *http_srv; /* its HTTP server */
    int port;               /* its port */
    cs_ionapi_t *ionapi;    /* the tenant's credentials */
    cm_http_t *http;        /* client */
    cm_retry_policy_t policy;
} fixture_t;

static int
s_setup_ttl (void **state, int ttl)
{
    fixture_t *f = calloc (1, sizeof *f);
    char err[512];
    snprintf (f->dir, sizeof f->dir, "/tmp/test_cs_auth.XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    cssim_config_t cfg = {.tenants = {"ACME_PRD"},
                          .ntenants = 1,
                          .seed = 42,
                          .vendors = 30,
                          .token_ttl = ttl,
                          .retry_after = -1,
                          .mongoose_config = "CSI_DEMO"};
    f->sim = cssim_server_new (&cfg, err, sizeof err);
    assert_non_null (f->sim);
    f->http_srv = sim_server_new ("127.0.0.1:0", cssim_server_handle, f->sim, err, sizeof err);
    assert_non_null (f->http_srv);
    f->port = sim_server_port (f->http_srv);
    assert_int_equal (cssim_server_write_ionapi (f->sim, f->dir, f->port, err, sizeof err), 0);
    char path[128];
    snprintf (path, sizeof path, "%s/ACME_PRD.ionapi", f->dir);
    f->ionapi = cs_ionapi_load (path, true, err, sizeof err);
    assert_non_null (f->ionapi);
    f->http = cm_http_new (1 << 20, 5000);
    f->policy = (cm_retry_policy_t){.max_attempts = 2, .base_ms = 10, .max_ms = 50};
    *state = f;
    return 0;
}

static int
s_setup (void **state)
{
    return s_setup_ttl (state, 7200);
}

static int
s_setup_short (void **state)
{
    return s_setup_ttl (state, 2);
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    cs_ionapi_destroy (&f->ionapi);
    cm_http_destroy (&f->http);
    sim_server_destroy (&f->http_srv);
    cssim_server_destroy (&f->sim);
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system (cmd);
    free (f);
    return rc == 0 ? 0 : -1;
}

/*  A counter of the simulator's tenant, e.g. "token_requests". */
static long
s_stat (fixture_t *f, const char *name)
{
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/__sim/stats", f->port);
    cm_http_request_t req = {.method = "GET", .url = url};
    cm_http_response_t resp;
    assert_int_equal (cm_http_perform (f->http, &req, &resp), 0);
    cJSON *root = cJSON_Parse (resp.body);
    const cJSON *v = cJSON_GetObjectItem (
        cJSON_GetObjectItem (cJSON_GetObjectItem (root, "tenants"), "ACME_PRD"), name);
    assert_true (cJSON_IsNumber (v));
    long n = (long)v->valuedouble;
    cJSON_Delete (root);
    cm_http_response_clear (&resp);
    return n;
}

static void
s_expire_tokens (fixture_t *f)
{
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/__sim/ACME_PRD/expire-tokens", f->port);
    cm_http_request_t req = {.method = "POST", .url = url, .body = "", .body_len = 0};
    cm_http_response_t resp;
    assert_int_equal (cm_http_perform (f->http, &req, &resp), 0);
    assert_int_equal (resp.status, 200);
    cm_http_response_clear (&resp);
}

static void
test_token_reused (void **state)
{
    fixture_t *f = *state;
    char err[512];
    cs_auth_t *auth = cs_auth_new (f->ionapi, f->http, &f->policy, 60);
    const char *t1 = NULL, *t2 = NULL;
    assert_int_equal (cs_auth_token (auth, &t1, err, sizeof err), CM_OAUTH_OK);
    char first[64];
    snprintf (first, sizeof first, "%s", t1);
    for (int i = 0; i < 20; i++)
        assert_int_equal (cs_auth_token (auth, &t2, err, sizeof err), CM_OAUTH_OK);
    assert_string_equal (first, t2);
    assert_int_equal (cs_auth_requests (auth), 1);
    assert_int_equal (s_stat (f, "token_requests"), 1);
    cs_auth_destroy (&auth);
    assert_null (auth);
}

static void
test_short_ttl_refresh (void **state)
{
    fixture_t *f = *state;
    char err[512];
    /* margin 60 s on a 2 s token: clamped to half the lifetime, so renewed after 1 s */
    cs_auth_t *auth = cs_auth_new (f->ionapi, f->http, &f->policy, 60);
    const char *t = NULL;
    assert_int_equal (cs_auth_token (auth, &t, err, sizeof err), CM_OAUTH_OK);
    assert_int_equal (cs_auth_token (auth, &t, err, sizeof err), CM_OAUTH_OK);
    assert_int_equal (cs_auth_requests (auth), 1);
    usleep (1100 * 1000);
    assert_int_equal (cs_auth_token (auth, &t, err, sizeof err), CM_OAUTH_OK);
    assert_int_equal (cs_auth_requests (auth), 2); /* the refresh grant */
    assert_int_equal (s_stat (f, "tokens_issued"), 2);
    /* the operator's view: cached, expiring within the 2 s lifetime, one renewal, no error */
    cs_auth_status_t st;
    cs_auth_status (auth, &st);
    assert_true (st.cached);
    assert_true (st.expires_at_ms > cm_now_ms () && st.expires_at_ms <= cm_now_ms () + 2000);
    assert_true (st.last_renewal_ms > 0 && st.last_renewal_ms <= cm_now_ms ());
    assert_int_equal (st.requests, 2);
    assert_int_equal (st.renewals, 1);
    assert_int_equal (cs_auth_renewals (auth), 1);
    assert_int_equal (st.last_error_ms, 0);
    assert_string_equal (st.last_error, "");
    cs_auth_destroy (&auth);
}

static void
test_refused_cools_down (void **state)
{
    fixture_t *f = *state;
    char err[1024];
    /* the same tenant with a wrong service account secret key */
    char path[128];
    snprintf (path, sizeof path, "%s/ACME_PRD.ionapi", f->dir);
    FILE *in = fopen (path, "r");
    char text[8192];
    size_t n = fread (text, 1, sizeof text - 1, in);
    fclose (in);
    text[n] = '\0';
    cJSON *root = cJSON_Parse (text);
    cJSON_ReplaceItemInObject (root, "sask", cJSON_CreateString ("wrong-secret-key"));
    char *bad = cJSON_Print (root);
    cJSON_Delete (root);
    cs_ionapi_t *ionapi = cs_ionapi_parse ("bad.ionapi", bad, strlen (bad), true, err, sizeof err);
    free (bad);
    assert_non_null (ionapi);
    cs_auth_t *auth = cs_auth_new (ionapi, f->http, &f->policy, 60);
    const char *t = NULL;
    assert_int_equal (cs_auth_token (auth, &t, err, sizeof err), CM_OAUTH_REJECTED);
    assert_null (t);
    assert_non_null (strstr (err, "invalid_grant"));
    assert_null (strstr (err, "wrong-secret-key"));
    assert_int_equal (s_stat (f, "token_requests"), 1);
    /* asked again at once (every entity, every retry): no new request for the cool-down */
    for (int i = 0; i < 5; i++) {
        assert_int_equal (cs_auth_token (auth, &t, err, sizeof err), CM_OAUTH_REJECTED);
        assert_non_null (strstr (err, "not retried for another"));
        assert_non_null (strstr (err, "invalid_grant"));
    }
    assert_int_equal (cs_auth_requests (auth), 1);
    assert_int_equal (s_stat (f, "token_requests"), 1);
    /* the operator's view: no token, the refusal kept, never a secret */
    cs_auth_status_t st;
    cs_auth_status (auth, &st);
    assert_false (st.cached);
    assert_int_equal (st.last_renewal_ms, 0);
    assert_true (st.last_error_ms > 0);
    assert_non_null (strstr (st.last_error, "invalid_grant"));
    assert_null (strstr (st.last_error, "wrong-secret-key"));
    assert_int_equal (st.renewals, 0);
    cs_auth_destroy (&auth);
    cs_ionapi_destroy (&ionapi);
}

static void
test_401_renews_once (void **state)
{
    fixture_t *f = *state;
    char err[1024];
    cs_auth_t *auth = cs_auth_new (f->ionapi, f->http, &f->policy, 60);
    cs_ido_t *ido =
        cs_ido_new (cs_ionapi_api_base (f->ionapi), "CSI_DEMO", f->http, auth, &f->policy);
    cs_ido_query_t q = {.ido = "SLVendors", .properties = "VendNum,Name", .recordcap = 5};
    cs_ido_page_t *page = NULL;
    assert_int_equal (cs_ido_load (ido, &q, &page, err, sizeof err), 0);
    assert_int_equal (cs_ido_page_size (page), 5);
    cs_ido_page_destroy (&page);
    assert_int_equal (cs_auth_requests (auth), 1);

    /* every token revoked: the next load gets a 401, renews once and succeeds */
    s_expire_tokens (f);
    assert_int_equal (cs_ido_load (ido, &q, &page, err, sizeof err), 0);
    cs_ido_page_destroy (&page);
    assert_int_equal (s_stat (f, "unauthorized"), 1);
    assert_int_equal (cs_auth_requests (auth), 3); /* refresh refused (revoked), then password */

    /* revoked again at once: a new token did not help a moment ago, so no third renewal
       storm: the load fails with a clear message and costs no token request */
    s_expire_tokens (f);
    assert_int_equal (cs_ido_load (ido, &q, &page, err, sizeof err), -1);
    assert_null (page);
    assert_non_null (strstr (err, "401"));
    assert_non_null (strstr (err, "tenant=ACME_PRD ido=SLVendors"));
    assert_int_equal (cs_auth_requests (auth), 3);
    /* the guard is per renewal, not forever */
    assert_false (cs_auth_invalidate (auth));
    cs_ido_destroy (&ido);
    cs_auth_destroy (&auth);
}

int
main (void)
{
    cm_log_init ("test", CM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_token_reused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_short_ttl_refresh, s_setup_short, s_teardown),
        cmocka_unit_test_setup_teardown (test_refused_cools_down, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_401_renews_once, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
