/*  Unit tests for cm_daemon: the metrics server from metrics.listen, samplers, health checks,
    peer watches over real ZeroMQ, the health subcommand, and the socket policy it installs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cm_daemon.h"
#include "cm_zauth.h"
#include "cm_zsock.h"

static char s_dir[64];

static cm_config_t *
config_with (const char *json)
{
    char path[128], err[512];
    snprintf (path, sizeof path, "%s/config.json", s_dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (json, f);
    fclose (f);
    cm_config_t *cfg = cm_config_load (path, err, sizeof err);
    if (!cfg)
        fail_msg ("config: %s", err);
    return cfg;
}

static atomic_int s_samples;
static atomic_int s_sick;

static void
sampler (void *arg)
{
    atomic_fetch_add (&s_samples, 1);
    cm_metric_set (arg, 7);
}

static int
check (void *arg, char *why, size_t why_cap)
{
    if (!atomic_load (&s_sick))
        return 0;
    snprintf (why, why_cap, "test says so");
    return -1;
}

static int
wait_for_samples (int n)
{
    for (int i = 0; i < 100 && atomic_load (&s_samples) < n; i++)
        usleep (50 * 1000);
    return atomic_load (&s_samples) >= n;
}

static void
test_metrics_health_and_sampler (void **state)
{
    cm_config_t *cfg = config_with ("{\"metrics\":{\"listen\":\"127.0.0.1:0\"}}");
    void *ctx = zmq_ctx_new ();
    char err[512];
    cm_daemon_t *d = cm_daemon_new ("unit", ctx, cfg, err, sizeof err);
    if (!d)
        fail_msg ("cm_daemon_new: %s", err);
    assert_non_null (cm_zsock_get_auth ());
    cm_metric_t *g = cm_metrics_gauge (cm_daemon_metrics (d), "sampled", "a sampled gauge", NULL);
    assert_int_equal (cm_daemon_add_sampler (d, sampler, g), 0);
    assert_int_equal (cm_daemon_add_health (d, check, NULL), 0);
    assert_true (wait_for_samples (2));
    assert_int_equal (cm_metric_get (g), 7);
    char *text = cm_metrics_render (cm_daemon_metrics (d));
    assert_non_null (strstr (text, "mlc_zap_denied_total{process=\"unit\"} 0\n"));
    free (text);

    /* the health subcommand probes the real server */
    int port = cm_metrics_port (cm_daemon_metrics (d));
    assert_true (port > 0);
    char json[256];
    snprintf (json, sizeof json, "{\"metrics\":{\"listen\":\"127.0.0.1:%d\"}}", port);
    cm_config_t *probe = config_with (json);
    assert_int_equal (cm_daemon_health_command (probe, "unit"), 0);
    atomic_store (&s_sick, 1);
    assert_int_equal (cm_daemon_health_command (probe, "unit"), 1);
    atomic_store (&s_sick, 0);
    assert_int_equal (cm_daemon_health_command (probe, "unit"), 0);
    cm_config_destroy (&probe);

    /* a peer watch: connected count follows a real connection */
    snprintf (json, sizeof json, "ipc://%s/watch.sock", s_dir);
    void *server = cm_zsock_new (ctx, ZMQ_PULL, json, true, 10, 0, err, sizeof err);
    assert_non_null (server);
    assert_int_equal (cm_daemon_watch_peers (d, server, "tester", 1), 0);
    void *client = cm_zsock_new (ctx, ZMQ_PUSH, json, false, 10, 0, err, sizeof err);
    assert_non_null (client);
    int connected = 0;
    for (int i = 0; i < 100 && !connected; i++) {
        usleep (50 * 1000);
        text = cm_metrics_render (cm_daemon_metrics (d));
        connected =
            strstr (text, "mlc_peers_connected{process=\"unit\",peer=\"tester\"} 1\n") != NULL;
        free (text);
    }
    assert_true (connected);
    cm_zsock_destroy (&client);
    /* no peer for more than 1 s: unhealthy */
    int unhealthy = 0;
    snprintf (json, sizeof json, "{\"metrics\":{\"listen\":\"127.0.0.1:%d\"}}", port);
    probe = config_with (json);
    for (int i = 0; i < 100 && !unhealthy; i++) {
        usleep (50 * 1000);
        unhealthy = cm_daemon_health_command (probe, "unit") == 1;
    }
    cm_config_destroy (&probe);
    assert_true (unhealthy);
    cm_zsock_destroy (&server);
    cm_daemon_destroy (&d);
    assert_null (d);
    assert_null (cm_zsock_get_auth ());
    zmq_ctx_term (ctx);
    cm_config_destroy (&cfg);
}

static bool
peers_are (cm_daemon_t *d, const char *want)
{
    char *text = cm_metrics_render (cm_daemon_metrics (d));
    bool ok = text && strstr (text, want) != NULL;
    free (text);
    return ok;
}

/*  A stranger refused by the ZAP handler does not count as a peer, nor does its
    disconnection take a real peer away. */
static void
test_denied_peer_not_counted (void **state)
{
    char spub[41], ssec[41], xpub[41], xsec[41], json[512], err[512], ep[128];
    zmq_curve_keypair (spub, ssec);
    zmq_curve_keypair (xpub, xsec);
    snprintf (json, sizeof json,
              "{\"zmq\":{\"curve_secret_key\":\"%s\",\"curve_server_key\":\"%s\","
              "\"curve_clients\":\"%s\"}}",
              ssec, spub, spub);
    cm_config_t *cfg = config_with (json);
    void *ctx = zmq_ctx_new ();
    cm_daemon_t *d = cm_daemon_new ("unit", ctx, cfg, err, sizeof err);
    if (!d)
        fail_msg ("cm_daemon_new: %s", err);
    snprintf (ep, sizeof ep, "ipc://%s/curve.sock", s_dir);
    void *server = cm_zsock_new (ctx, ZMQ_PULL, ep, true, 10, 0, err, sizeof err);
    assert_non_null (server);
    assert_int_equal (cm_daemon_watch_peers (d, server, "curve", 0), 0);
    void *client = cm_zsock_new (ctx, ZMQ_PUSH, ep, false, 10, 0, err, sizeof err);
    assert_non_null (client);
    const char *one = "mlc_peers_connected{process=\"unit\",peer=\"curve\"} 1\n";
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        usleep (50 * 1000);
        up = peers_are (d, one);
    }
    assert_true (up);
    /* the stranger: its own keys, set by hand (not through the process policy) */
    void *stranger = zmq_socket (ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt (stranger, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (stranger, ZMQ_CURVE_SERVERKEY, spub, 40);
    zmq_setsockopt (stranger, ZMQ_CURVE_PUBLICKEY, xpub, 40);
    zmq_setsockopt (stranger, ZMQ_CURVE_SECRETKEY, xsec, 40);
    assert_int_equal (zmq_connect (stranger, ep), 0);
    bool denied = false;
    for (int i = 0; i < 100 && !denied; i++) {
        usleep (50 * 1000);
        denied = cm_zauth_denied (cm_zsock_get_auth ()) >= 1;
    }
    assert_true (denied);
    zmq_close (stranger);
    usleep (300 * 1000);
    assert_true (peers_are (d, one));
    cm_zsock_destroy (&client);
    cm_zsock_destroy (&server);
    cm_daemon_destroy (&d);
    zmq_ctx_term (ctx);
    cm_config_destroy (&cfg);
}

static void
test_errors (void **state)
{
    char err[512];
    void *ctx = zmq_ctx_new ();
    cm_config_t *cfg = config_with ("{\"metrics\":{\"listen\":\"nonsense\"}}");
    assert_null (cm_daemon_new ("unit", ctx, cfg, err, sizeof err));
    assert_non_null (strstr (err, "metrics.listen nonsense"));
    assert_null (cm_zsock_get_auth ());
    cm_config_destroy (&cfg);
    cfg = config_with ("{\"zmq\":{\"curve_secret_key\":\"short\"}}");
    assert_null (cm_daemon_new ("unit", ctx, cfg, err, sizeof err));
    assert_non_null (strstr (err, "zmq.curve_secret_key"));
    assert_null (cm_daemon_client_new (ctx, cfg, err, sizeof err));
    cm_config_destroy (&cfg);
    cfg = config_with ("{}");
    assert_int_equal (cm_daemon_health_command (cfg, "unit"), 1); /* metrics.listen unset */
    cm_daemon_t *c = cm_daemon_client_new (ctx, cfg, err, sizeof err);
    assert_non_null (c);
    assert_null (cm_daemon_metrics (c));
    cm_daemon_client_destroy (&c);
    cm_config_destroy (&cfg);
    zmq_ctx_term (ctx);
}

int
main (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test_cm_daemon.XXXXXX");
    if (!mkdtemp (s_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_metrics_health_and_sampler),
        cmocka_unit_test (test_denied_peer_not_counted),
        cmocka_unit_test (test_errors),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (system (cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
