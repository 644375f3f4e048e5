/*  Unit tests for cm_metrics: registration, rendering, and the real HTTP endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_http.h"
#include "cm_metrics.h"

static void
test_register_and_render (void **state)
{
    cm_metrics_t *m = cm_metrics_new ("loader");
    cm_metric_t *ok =
        cm_metrics_counter (m, "records_out_total", "Records delivered", "class=\"ok\"");
    cm_metric_t *bad =
        cm_metrics_counter (m, "records_out_total", "Records delivered", "class=\"failed\"");
    cm_metric_t *depth = cm_metrics_gauge (m, "queue_depth", "Records held", NULL);
    assert_non_null (ok);
    assert_ptr_not_equal (ok, bad);
    /* the same name and labels give the same handle */
    assert_ptr_equal (ok, cm_metrics_counter (m, "records_out_total", "x", "class=\"ok\""));
    cm_metric_add (ok, 5);
    cm_metric_add (ok, 2);
    cm_metric_add (bad, 1);
    cm_metric_set (depth, 42);
    cm_metric_set (depth, 40);
    cm_metric_add (NULL, 1); /* ignored */
    assert_int_equal (cm_metric_get (ok), 7);
    char *text = cm_metrics_render (m);
    assert_non_null (text);
    assert_non_null (strstr (text, "# TYPE mlc_records_out_total counter\n"));
    assert_non_null (strstr (text, "mlc_records_out_total{process=\"loader\",class=\"ok\"} 7\n"));
    assert_non_null (
        strstr (text, "mlc_records_out_total{process=\"loader\",class=\"failed\"} 1\n"));
    assert_non_null (strstr (text, "# TYPE mlc_queue_depth gauge\n"));
    assert_non_null (strstr (text, "mlc_queue_depth{process=\"loader\"} 40\n"));
    /* HELP/TYPE once per name */
    const char *first = strstr (text, "# HELP mlc_records_out_total");
    assert_null (strstr (first + 1, "# HELP mlc_records_out_total"));
    free (text);
    cm_metrics_destroy (&m);
    assert_null (m);
}

static void
test_full_registry (void **state)
{
    cm_metrics_t *m = cm_metrics_new ("x");
    char labels[32];
    for (int i = 0; i < CM_METRICS_MAX; i++) {
        snprintf (labels, sizeof labels, "i=\"%d\"", i);
        assert_non_null (cm_metrics_counter (m, "c", "c", labels));
    }
    assert_null (cm_metrics_counter (m, "c", "c", "i=\"overflow\""));
    cm_metrics_destroy (&m);
}

static int s_healthy = 1;

static int
health_cb (void *arg, char *why, size_t cap)
{
    if (s_healthy)
        return 0;
    snprintf (why, cap, "store not writable");
    return -1;
}

static long
get (const char *url, char **body)
{
    cm_http_t *http = cm_http_new (65536, 5000);
    cm_http_request_t req = {.method = "GET", .url = url};
    cm_http_response_t resp;
    long status = cm_http_perform (http, &req, &resp) == 0 ? resp.status : 0;
    *body = resp.body ? strdup (resp.body) : NULL;
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
    return status;
}

static void
test_http_endpoints (void **state)
{
    cm_metrics_t *m = cm_metrics_new ("replayer");
    cm_metric_add (cm_metrics_counter (m, "events_total", "Events", NULL), 3);
    cm_metrics_set_health (m, health_cb, NULL);
    char err[256];
    assert_int_equal (cm_metrics_listen (m, "127.0.0.1:0", err, sizeof err), 0);
    int port = cm_metrics_port (m);
    assert_true (port > 0);
    char url[128], listen[64], *body = NULL;
    snprintf (url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    assert_int_equal (get (url, &body), 200);
    assert_non_null (strstr (body, "mlc_events_total{process=\"replayer\"} 3"));
    free (body);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/health", port);
    s_healthy = 1;
    assert_int_equal (get (url, &body), 200);
    assert_string_equal (body, "ok\n");
    free (body);
    snprintf (listen, sizeof listen, "0.0.0.0:%d", port);
    assert_int_equal (cm_metrics_probe (listen, err, sizeof err), 0);
    s_healthy = 0;
    assert_int_equal (get (url, &body), 503);
    assert_non_null (strstr (body, "store not writable"));
    free (body);
    assert_int_equal (cm_metrics_probe (listen, err, sizeof err), -1);
    assert_non_null (strstr (err, "503"));
    snprintf (url, sizeof url, "http://127.0.0.1:%d/nope", port);
    assert_int_equal (get (url, &body), 404);
    free (body);
    cm_metrics_destroy (&m);
    /* nothing listens there any more */
    assert_int_equal (cm_metrics_probe (listen, err, sizeof err), -1);
}

static void
test_bad_listen (void **state)
{
    cm_metrics_t *m = cm_metrics_new ("x");
    char err[256];
    assert_int_equal (cm_metrics_listen (m, "nohost", err, sizeof err), -1);
    assert_non_null (strstr (err, "HOST:PORT"));
    assert_int_equal (cm_metrics_listen (m, "example.com:80", err, sizeof err), -1);
    assert_int_equal (cm_metrics_port (m), 0);
    cm_metrics_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_register_and_render),
        cmocka_unit_test (test_full_registry),
        cmocka_unit_test (test_http_endpoints),
        cmocka_unit_test (test_bad_listen),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
