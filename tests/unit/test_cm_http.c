/*  Unit tests for cm_http: backoff bounds, form encoding, URL checks, and real requests
    against an in-process sim_http server on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cm_http.h"
#include "sim_http.h"

typedef struct {
    sim_server_t *server; /* the loopback server */
    char base[64];        /* http://127.0.0.1:PORT */
    pthread_mutex_t lock; /* guards the counters */
    int flaky_calls;      /* requests seen on /flaky */
    int flaky_failures;   /* how many of them fail with 429 first */
} fixture_t;

static void
handler (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    fixture_t *f = arg;
    if (strncmp (req->path, "/status/", 8) == 0) {
        int status = atoi (req->path + 8);
        const char *body = "[{\"message\":\"Session expired or invalid\",\"errorCode\":"
                           "\"INVALID_SESSION_ID\"}]";
        sim_response_body (resp, status, "application/json;charset=UTF-8", body, strlen (body));
        if (status == 401)
            sim_response_header (resp, "WWW-Authenticate", "Bearer realm=\"salesforce\"");
    } else if (strcmp (req->path, "/limits") == 0) {
        sim_response_body (resp, 503, "text/plain", "busy", 4);
        sim_response_header (resp, "Retry-After", "7");
        sim_response_header (resp, "Sforce-Limit-Info", "api-usage=25/15000");
    } else if (strcmp (req->path, "/date") == 0) {
        char date[64];
        time_t when = time (NULL) + 120;
        struct tm tm;
        gmtime_r (&when, &tm);
        strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        sim_response_body (resp, 429, "text/plain", "slow down", 9);
        sim_response_header (resp, "Retry-After", date);
    } else if (strcmp (req->path, "/big") == 0) {
        size_t len = 64 * 1024;
        char *body = malloc (len);
        memset (body, 'x', len);
        sim_response_body (resp, 200, "text/plain", body, len);
        free (body);
    } else if (strcmp (req->path, "/flaky") == 0) {
        pthread_mutex_lock (&f->lock);
        int call = ++f->flaky_calls;
        int failures = f->flaky_failures;
        pthread_mutex_unlock (&f->lock);
        if (call <= failures) {
            sim_response_body (resp, 429, "application/json", "[]", 2);
            sim_response_header (resp, "Retry-After", "0");
        } else
            sim_response_body (resp, 200, "application/json", "{\"ok\":true}", 11);
    } else if (strcmp (req->path, "/slow") == 0) {
        usleep (1000 * 1000);
        sim_response_body (resp, 200, "text/plain", "late", 4);
    } else if (strcmp (req->path, "/echo") == 0) {
        const char *ct = sim_request_header (req, "Content-Type");
        const char *auth = sim_request_header (req, "Authorization");
        cJSON *j = cJSON_CreateObject ();
        cJSON_AddStringToObject (j, "method", req->method);
        cJSON_AddStringToObject (j, "body", req->body);
        cJSON_AddStringToObject (j, "content_type", ct ? ct : "");
        cJSON_AddStringToObject (j, "authorization", auth ? auth : "");
        sim_response_json (resp, 200, j);
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
    if (!f->server) {
        fprintf (stderr, "sim_server_new: %s\n", err);
        return -1;
    }
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

static int
get (cm_http_t *http, const fixture_t *f, const char *path, cm_http_response_t *resp)
{
    char url[128];
    snprintf (url, sizeof url, "%s%s", f->base, path);
    cm_http_request_t req = {.method = "GET", .url = url};
    return cm_http_perform (http, &req, resp);
}

static void
test_backoff (void **state)
{
    cm_retry_policy_t p = {.max_attempts = 8, .base_ms = 200, .max_ms = 30000};
    for (int attempt = 1; attempt <= 12; attempt++) {
        long cap = 200L << (attempt - 1);
        if (cap > 30000)
            cap = 30000;
        long lo = cap, hi = 0;
        for (int i = 0; i < 500; i++) {
            long d = cm_backoff_ms (&p, attempt, -1);
            assert_true (d >= 0);
            assert_true (d <= cap);
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        /*  Full jitter: the delays spread over the range. */
        assert_true (hi > lo);
        assert_true (hi > cap / 2);
        assert_true (lo < cap / 2);
    }
    /*  A huge attempt number does not overflow. */
    assert_true (cm_backoff_ms (&p, 1000, -1) <= 30000);
    /*  Retry-After is a floor... */
    for (int i = 0; i < 200; i++) {
        long d = cm_backoff_ms (&p, 1, 2);
        assert_int_equal (d, 2000);
        d = cm_backoff_ms (&p, 10, 2);
        assert_true (d >= 2000 && d <= 30000);
    }
    /*  ...and may exceed max_ms, but then it is exactly Retry-After. */
    cm_retry_policy_t small = {.max_attempts = 3, .base_ms = 100, .max_ms = 1000};
    assert_int_equal (cm_backoff_ms (&small, 3, 5), 5000);
    assert_true (cm_backoff_ms (&small, 3, 0) <= 400);
}

static void
test_form_encode (void **state)
{
    char *s = cm_http_form_encode ("ACME_PRD#abc+/=");
    assert_string_equal (s, "ACME_PRD%23abc%2B%2F%3D");
    free (s);
    s = cm_http_form_encode ("p@ss word~&x=1%é");
    assert_string_equal (s, "p%40ss%20word%7E%26x%3D1%25%C3%A9");
    free (s);
    s = cm_http_form_encode ("");
    assert_string_equal (s, "");
    free (s);
    s = cm_http_form_encode ("Az09-._");
    assert_string_equal (s, "Az09-._");
    free (s);
}

static void
test_loopback (void **state)
{
    assert_true (cm_http_url_is_loopback ("http://127.0.0.1:8080/services/oauth2/token"));
    assert_true (cm_http_url_is_loopback ("https://localhost/"));
    assert_true (cm_http_url_is_loopback ("HTTP://LOCALHOST:9"));
    assert_true (cm_http_url_is_loopback ("http://127.1.2.3"));
    assert_true (cm_http_url_is_loopback ("http://[::1]:8443/x"));
    assert_false (cm_http_url_is_loopback ("http://127.0.0.1.evil.example/"));
    assert_false (cm_http_url_is_loopback ("http://127.0.0.1@evil.example/"));
    assert_false (cm_http_url_is_loopback ("http://evil.example/?h=127.0.0.1"));
    assert_false (cm_http_url_is_loopback ("http://10.0.0.1/"));
    assert_false (cm_http_url_is_loopback ("http://[::2]/"));
    assert_false (cm_http_url_is_loopback ("ftp://127.0.0.1/"));
    assert_false (cm_http_url_is_loopback ("127.0.0.1"));
    assert_false (cm_http_url_is_loopback ("http://127.0.0.1:80x/"));
    char err[256] = "";
    assert_int_equal (cm_http_check_url ("https://acme.my.salesforce.com", false, err, sizeof err),
                      0);
    assert_int_equal (cm_http_check_url ("http://127.0.0.1:5555", true, err, sizeof err), 0);
    assert_int_equal (cm_http_check_url ("http://127.0.0.1:5555", false, err, sizeof err), -1);
    assert_non_null (strstr (err, "allow_http"));
    assert_int_equal (cm_http_check_url ("http://acme.my.salesforce.com", true, err, sizeof err),
                      -1);
    assert_non_null (strstr (err, "loopback"));
    assert_int_equal (cm_http_check_url ("ftp://127.0.0.1/", true, err, sizeof err), -1);
    assert_non_null (strstr (err, "https"));
    assert_int_equal (cm_http_check_url ("", true, err, sizeof err), -1);
}

static void
test_status_and_headers (void **state)
{
    fixture_t *f = *state;
    cm_http_t *http = cm_http_new (1024 * 1024, 5000);
    assert_non_null (http);
    cm_http_response_t resp;
    assert_int_equal (get (http, f, "/status/401", &resp), 0);
    assert_int_equal (resp.status, 401);
    assert_non_null (strstr (resp.body, "INVALID_SESSION_ID"));
    assert_int_equal (resp.body_len, strlen (resp.body));
    assert_string_equal (resp.content_type, "application/json;charset=UTF-8");
    assert_string_equal (resp.www_authenticate, "Bearer realm=\"salesforce\"");
    assert_int_equal (resp.retry_after_s, -1);
    assert_false (cm_http_retryable (0, &resp));
    cm_http_response_clear (&resp);
    assert_null (resp.body);
    /*  The same handle again (keep-alive reuse), with other headers. */
    assert_int_equal (get (http, f, "/limits", &resp), 0);
    assert_int_equal (resp.status, 503);
    assert_int_equal (resp.retry_after_s, 7);
    assert_string_equal (resp.limit_info, "api-usage=25/15000");
    assert_null (resp.www_authenticate);
    assert_true (cm_http_retryable (0, &resp));
    cm_http_response_clear (&resp);
    /*  Retry-After as an HTTP-date: about two minutes from now. */
    assert_int_equal (get (http, f, "/date", &resp), 0);
    assert_int_equal (resp.status, 429);
    assert_true (resp.retry_after_s >= 60 && resp.retry_after_s <= 121);
    cm_http_response_clear (&resp);
    assert_int_equal (get (http, f, "/status/204", &resp), 0);
    assert_int_equal (resp.status, 204);
    assert_int_equal (resp.body_len, 0);
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
    assert_null (http);
    cm_http_destroy (&http);
}

static void
test_post_form_and_basic (void **state)
{
    fixture_t *f = *state;
    cm_http_t *http = cm_http_new (1024 * 1024, 5000);
    char url[128];
    snprintf (url, sizeof url, "%s/echo", f->base);
    char *pw = cm_http_form_encode ("ACME_PRD#abc+/=");
    char body[256];
    snprintf (body, sizeof body, "grant_type=password&username=svc&password=%s", pw);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    cm_http_request_t req = {.method = "POST",
                             .url = url,
                             .headers = headers,
                             .body = body,
                             .body_len = strlen (body),
                             .basic_user = "client",
                             .basic_pass = "s3cret"};
    cm_http_response_t resp;
    assert_int_equal (cm_http_perform (http, &req, &resp), 0);
    assert_int_equal (resp.status, 200);
    cJSON *j = cJSON_Parse (resp.body);
    assert_non_null (j);
    assert_string_equal (cJSON_GetObjectItem (j, "method")->valuestring, "POST");
    assert_string_equal (cJSON_GetObjectItem (j, "body")->valuestring, body);
    assert_string_equal (cJSON_GetObjectItem (j, "content_type")->valuestring,
                         "application/x-www-form-urlencoded");
    /*  base64("client:s3cret") */
    assert_string_equal (cJSON_GetObjectItem (j, "authorization")->valuestring,
                         "Basic Y2xpZW50OnMzY3JldA==");
    cJSON_Delete (j);
    cm_http_response_clear (&resp);
    /*  PATCH with a JSON body. */
    const char *json = "{\"allOrNone\":false,\"records\":[]}";
    cm_http_request_t patch = {
        .method = "PATCH", .url = url, .body = json, .body_len = strlen (json)};
    assert_int_equal (cm_http_perform (http, &patch, &resp), 0);
    j = cJSON_Parse (resp.body);
    assert_string_equal (cJSON_GetObjectItem (j, "method")->valuestring, "PATCH");
    assert_string_equal (cJSON_GetObjectItem (j, "body")->valuestring, json);
    assert_string_equal (cJSON_GetObjectItem (j, "authorization")->valuestring, "");
    cJSON_Delete (j);
    cm_http_response_clear (&resp);
    free (pw);
    cm_http_destroy (&http);
}

static void
test_too_big (void **state)
{
    fixture_t *f = *state;
    cm_http_t *http = cm_http_new (1024, 5000);
    cm_http_response_t resp;
    assert_int_equal (get (http, f, "/big", &resp), -1);
    assert_int_equal (resp.status, 0);
    assert_true (resp.too_big);
    assert_null (resp.body);
    assert_non_null (strstr (resp.error, "larger than 1024 bytes"));
    assert_false (cm_http_retryable (-1, &resp));
    cm_http_response_clear (&resp);
    /*  The handle still works afterwards. */
    assert_int_equal (get (http, f, "/status/200", &resp), 0);
    assert_int_equal (resp.status, 200);
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
    /*  A cap just big enough passes. */
    http = cm_http_new (64 * 1024, 5000);
    assert_int_equal (get (http, f, "/big", &resp), 0);
    assert_int_equal (resp.body_len, 64 * 1024);
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
}

static void
test_transport_errors (void **state)
{
    fixture_t *f = *state;
    cm_http_t *http = cm_http_new (1024, 200);
    cm_http_response_t resp;
    assert_int_equal (get (http, f, "/slow", &resp), -1);
    assert_int_equal (resp.status, 0);
    assert_true (resp.timed_out);
    assert_true (strlen (resp.error) > 0);
    assert_true (cm_http_retryable (-1, &resp));
    cm_http_response_clear (&resp);
    /*  A port nobody listens on: a fresh server's port after it stopped. */
    char err[128];
    sim_server_t *tmp = sim_server_new ("127.0.0.1:0", handler, f, err, sizeof err);
    int port = sim_server_port (tmp);
    sim_server_destroy (&tmp);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/", port);
    cm_http_request_t req = {.method = "GET", .url = url};
    assert_int_equal (cm_http_perform (http, &req, &resp), -1);
    assert_int_equal (resp.status, 0);
    assert_false (resp.too_big);
    assert_true (strlen (resp.error) > 0);
    assert_true (cm_http_retryable (-1, &resp));
    cm_http_response_clear (&resp);
    /*  Other schemes are refused by the client itself. */
    cm_http_request_t file = {.method = "GET", .url = "file:///etc/passwd"};
    assert_int_equal (cm_http_perform (http, &file, &resp), -1);
    assert_null (resp.body);
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
}

static void
test_retry (void **state)
{
    fixture_t *f = *state;
    f->flaky_failures = 2;
    cm_http_t *http = cm_http_new (1024, 5000);
    cm_retry_policy_t p = {.max_attempts = 5, .base_ms = 1, .max_ms = 5};
    cm_http_response_t resp;
    char url[128];
    snprintf (url, sizeof url, "%s/flaky", f->base);
    cm_http_request_t req = {.method = "GET", .url = url};
    assert_int_equal (cm_http_perform_retry (http, &req, &resp, &p, "test_flaky"), 0);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, "{\"ok\":true}");
    assert_int_equal (f->flaky_calls, 3);
    cm_http_response_clear (&resp);
    /*  Out of attempts: the last 429 is returned. */
    f->flaky_calls = 0;
    f->flaky_failures = 10;
    p.max_attempts = 3;
    assert_int_equal (cm_http_perform_retry (http, &req, &resp, &p, "test_flaky"), 0);
    assert_int_equal (resp.status, 429);
    assert_int_equal (f->flaky_calls, 3);
    cm_http_response_clear (&resp);
    /*  A permanent status is not retried. */
    snprintf (url, sizeof url, "%s/status/400", f->base);
    assert_int_equal (cm_http_perform_retry (http, &req, &resp, &p, "test_400"), 0);
    assert_int_equal (resp.status, 400);
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_backoff),
        cmocka_unit_test (test_form_encode),
        cmocka_unit_test (test_loopback),
        cmocka_unit_test_setup_teardown (test_status_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown (test_post_form_and_basic, setup, teardown),
        cmocka_unit_test_setup_teardown (test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown (test_transport_errors, setup, teardown),
        cmocka_unit_test_setup_teardown (test_retry, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
