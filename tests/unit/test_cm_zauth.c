/*  Unit tests for cm_zauth: the plaintext bind rule, configuration errors, and real CURVE
    handshakes over loopback TCP with the ZAP handler admitting only listed keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cm_config.h"
#include "cm_zauth.h"

static void
test_plaintext_bind_rule (void **state)
{
    const char *private_ifaces[] = {"127.0.0.1", "10.88.0.5", "::1", "fe80::1", NULL};
    const char *public_ifaces[] = {"127.0.0.1", "203.0.113.5", NULL};
    struct {
        const char *ep;
        const char *const *ifaces;
        bool ok;
    } cases[] = {
        {"ipc:///tmp/x.sock", public_ifaces, true},
        {"inproc://x", public_ifaces, true},
        {"tcp://127.0.0.1:5551", public_ifaces, true},
        {"tcp://localhost:5551", public_ifaces, true},
        {"tcp://[::1]:5551", public_ifaces, true},
        {"tcp://10.1.2.3:5551", public_ifaces, true},
        {"tcp://172.20.0.1:5551", public_ifaces, true},
        {"tcp://192.168.1.9:5551", public_ifaces, true},
        {"tcp://172.32.0.1:5551", public_ifaces, false},
        {"tcp://8.8.8.8:5551", private_ifaces, false},
        {"tcp://*:5551", private_ifaces, true},
        {"tcp://0.0.0.0:5551", private_ifaces, true},
        {"tcp://*:5551", public_ifaces, false},
        {"udp://127.0.0.1:5551", private_ifaces, false},
        {"tcp://nocolon", private_ifaces, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = cm_zauth_plaintext_bind_ok (cases[i].ep, (const char *const *)cases[i].ifaces);
        if (got != cases[i].ok)
            fail_msg ("%s: expected %d", cases[i].ep, cases[i].ok);
    }
}

static char s_dir[64];

static cm_config_t *
config_with (const char *json)
{
    char path[128], err[512];
    snprintf (path, sizeof path, "%s/config.json", s_dir);
    FILE *f = fopen (path, "w");
    fputs (json, f);
    fclose (f);
    cm_config_t *cfg = cm_config_load (path, err, sizeof err);
    if (!cfg)
        fail_msg ("config: %s", err);
    return cfg;
}

static void
test_config_errors (void **state)
{
    char pub[41], sec[41], err[512], json[1024];
    zmq_curve_keypair (pub, sec);
    void *ctx = zmq_ctx_new ();
    snprintf (json, sizeof json, "{\"zmq\":{\"curve_secret_key\":\"%s\"}}", sec);
    cm_config_t *cfg = config_with (json);
    assert_null (cm_zauth_new (ctx, cfg, err, sizeof err));
    assert_non_null (strstr (err, "zmq.curve_server_key"));
    assert_null (strstr (err, sec)); /* the secret never shows */
    cm_config_destroy (&cfg);

    snprintf (json, sizeof json,
              "{\"zmq\":{\"curve_secret_key\":\"short\",\"curve_server_key\":\"%s\"}}", pub);
    cfg = config_with (json);
    assert_null (cm_zauth_new (ctx, cfg, err, sizeof err));
    assert_non_null (strstr (err, "zmq.curve_secret_key"));
    cm_config_destroy (&cfg);

    snprintf (json, sizeof json,
              "{\"zmq\":{\"curve_secret_key\":\"%s\",\"curve_server_key\":\"%s\","
              "\"curve_clients\":\"%s, nonsense\"}}",
              sec, pub, pub);
    cfg = config_with (json);
    assert_null (cm_zauth_new (ctx, cfg, err, sizeof err));
    assert_non_null (strstr (err, "entry 2"));
    cm_config_destroy (&cfg);

    snprintf (json, sizeof json, "{\"zmq\":{\"curve_clients\":\"%s\"}}", pub);
    cfg = config_with (json);
    assert_null (cm_zauth_new (ctx, cfg, err, sizeof err));
    cm_config_destroy (&cfg);

    /* plaintext mode: a public bind is refused unless allowed */
    cfg = config_with ("{}");
    cm_zauth_t *auth = cm_zauth_new (ctx, cfg, err, sizeof err);
    assert_non_null (auth);
    assert_false (cm_zauth_curve (auth));
    void *sock = zmq_socket (ctx, ZMQ_PULL);
    assert_int_equal (cm_zauth_apply (auth, sock, "tcp://8.8.8.8:5551", true, err, sizeof err), -1);
    assert_non_null (strstr (err, "zmq.allow_plaintext"));
    assert_int_equal (cm_zauth_apply (auth, sock, "tcp://127.0.0.1:5551", true, err, sizeof err),
                      0);
    assert_int_equal (cm_zauth_apply (auth, sock, "tcp://8.8.8.8:5551", false, err, sizeof err), 0);
    cm_zauth_destroy (&auth);
    cm_config_destroy (&cfg);
    cfg = config_with ("{\"zmq\":{\"allow_plaintext\":true}}");
    auth = cm_zauth_new (ctx, cfg, err, sizeof err);
    assert_int_equal (cm_zauth_apply (auth, sock, "tcp://8.8.8.8:5551", true, err, sizeof err), 0);
    cm_zauth_destroy (&auth);
    cm_config_destroy (&cfg);
    zmq_close (sock);
    zmq_ctx_term (ctx);
}

/*  Sends "hello" from a client socket configured by client_auth (NULL: plaintext) to the
    server; returns whether it arrived within 1.5 s. */
static bool
delivered (void *ctx, void *pull, const char *endpoint, cm_zauth_t *client_auth)
{
    char err[256];
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt (push, ZMQ_LINGER, &zero, sizeof zero);
    if (client_auth)
        assert_int_equal (cm_zauth_apply (client_auth, push, endpoint, false, err, sizeof err), 0);
    assert_int_equal (zmq_connect (push, endpoint), 0);
    zmq_send (push, "hello", 5, ZMQ_DONTWAIT);
    zmq_pollitem_t item = {.socket = pull, .events = ZMQ_POLLIN};
    bool got = zmq_poll (&item, 1, 1500) == 1;
    if (got) {
        char buf[16];
        assert_int_equal (zmq_recv (pull, buf, sizeof buf, 0), 5);
    }
    zmq_close (push);
    return got;
}

static void
test_curve_handshakes (void **state)
{
    char srv_pub[41], srv_sec[41], cli_pub[41], cli_sec[41], bad_pub[41], bad_sec[41];
    zmq_curve_keypair (srv_pub, srv_sec);
    zmq_curve_keypair (cli_pub, cli_sec);
    zmq_curve_keypair (bad_pub, bad_sec);
    char json[1024], err[512];
    void *sctx = zmq_ctx_new (), *cctx = zmq_ctx_new ();

    snprintf (json, sizeof json,
              "{\"zmq\":{\"curve_secret_key\":\"%s\",\"curve_server_key\":\"%s\","
              "\"curve_clients\":\"%s\"}}",
              srv_sec, srv_pub, cli_pub);
    cm_config_t *scfg = config_with (json);
    cm_zauth_t *server = cm_zauth_new (sctx, scfg, err, sizeof err);
    assert_non_null (server);
    assert_true (cm_zauth_curve (server));
    void *pull = zmq_socket (sctx, ZMQ_PULL);
    assert_int_equal (cm_zauth_apply (server, pull, "tcp://127.0.0.1:*", true, err, sizeof err), 0);
    assert_int_equal (zmq_bind (pull, "tcp://127.0.0.1:*"), 0);
    char endpoint[128];
    size_t len = sizeof endpoint;
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &len);

    snprintf (json, sizeof json,
              "{\"zmq\":{\"curve_secret_key\":\"%s\",\"curve_server_key\":\"%s\"}}", cli_sec,
              srv_pub);
    cm_config_t *ccfg = config_with (json);
    cm_zauth_t *client = cm_zauth_new (cctx, ccfg, err, sizeof err);
    assert_non_null (client);
    snprintf (json, sizeof json,
              "{\"zmq\":{\"curve_secret_key\":\"%s\",\"curve_server_key\":\"%s\"}}", bad_sec,
              srv_pub);
    cm_config_t *bcfg = config_with (json);
    cm_zauth_t *stranger = cm_zauth_new (cctx, bcfg, err, sizeof err);
    assert_non_null (stranger);

    assert_true (delivered (cctx, pull, endpoint, client));
    assert_false (delivered (cctx, pull, endpoint, stranger));
    assert_false (delivered (cctx, pull, endpoint, NULL));
    assert_true (cm_zauth_denied (server) >= 1);
    /* the listed client still gets through afterwards */
    assert_true (delivered (cctx, pull, endpoint, client));

    zmq_close (pull);
    cm_zauth_destroy (&client);
    cm_zauth_destroy (&stranger);
    cm_zauth_destroy (&server);
    assert_null (server);
    zmq_ctx_term (cctx);
    zmq_ctx_term (sctx);
    cm_config_destroy (&scfg);
    cm_config_destroy (&ccfg);
    cm_config_destroy (&bcfg);
}

static int
setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test_cm_zauth.XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
teardown (void **state)
{
    char path[128];
    snprintf (path, sizeof path, "%s/config.json", s_dir);
    unlink (path);
    rmdir (s_dir);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_plaintext_bind_rule),
        cmocka_unit_test (test_config_errors),
        cmocka_unit_test (test_curve_handshakes),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
