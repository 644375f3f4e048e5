/*  Unit tests for cm_zpeers: peers counted from a real socket's monitor events, over
    tcp on loopback (a PUB bound, SUBs connecting and leaving). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "cm_time.h"
#include "cm_zpeers.h"
#include "cm_zsock.h"

/*  Polls the watch's PAIR for up to 5 s until it counts `want` peers. */
static bool
s_await (cm_zpeers_t *p, int want)
{
    int64_t deadline = cm_mono_ms () + 5000;
    while (cm_zpeers_read (p) != want) {
        if (cm_mono_ms () >= deadline)
            return false;
        zmq_pollitem_t item = {cm_zpeers_socket (p), 0, ZMQ_POLLIN, 0};
        zmq_poll (&item, 1, 50);
    }
    return true;
}

static void
test_counts_connections (void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new ();
    char err[256] = "";
    void *pub = cm_zsock_new (ctx, ZMQ_PUB, "tcp://127.0.0.1:*", true, 100, 0, err, sizeof err);
    assert_non_null (pub);
    char endpoint[128];
    size_t len = sizeof endpoint;
    assert_int_equal (zmq_getsockopt (pub, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    cm_zpeers_t *peers = cm_zpeers_new (ctx, pub);
    assert_non_null (peers);
    assert_int_equal (cm_zpeers_read (peers), 0);

    /* two subscribers connect, one leaves */
    void *sub1 = cm_zsock_new (ctx, ZMQ_SUB, endpoint, false, 100, 0, err, sizeof err);
    void *sub2 = cm_zsock_new (ctx, ZMQ_SUB, endpoint, false, 100, 0, err, sizeof err);
    assert_non_null (sub1);
    assert_non_null (sub2);
    assert_true (s_await (peers, 2));
    assert_int_equal (cm_zpeers_connected (peers), 2);
    cm_zsock_destroy (&sub1);
    assert_true (s_await (peers, 1));
    cm_zsock_destroy (&sub2);
    assert_true (s_await (peers, 0));

    /* a socket that speaks something else fails the handshake: it is not counted, and
       the disconnection after it takes nothing back from a real peer */
    void *sub3 = cm_zsock_new (ctx, ZMQ_SUB, endpoint, false, 100, 0, err, sizeof err);
    assert_true (s_await (peers, 1));
    void *wrong = zmq_socket (ctx, ZMQ_SUB); /* CURVE against a NULL-mechanism PUB */
    char pub_key[41], sec_key[41], server_key[41], server_sec[41];
    assert_int_equal (zmq_curve_keypair (pub_key, sec_key), 0);
    assert_int_equal (zmq_curve_keypair (server_key, server_sec), 0);
    zmq_setsockopt (wrong, ZMQ_CURVE_SERVERKEY, server_key, 40);
    zmq_setsockopt (wrong, ZMQ_CURVE_PUBLICKEY, pub_key, 40);
    zmq_setsockopt (wrong, ZMQ_CURVE_SECRETKEY, sec_key, 40);
    assert_int_equal (zmq_connect (wrong, endpoint), 0);
    for (int i = 0; i < 6; i++) { /* it retries every 100 ms, failing each time */
        cm_sleep_ms (100);
        assert_int_equal (cm_zpeers_read (peers), 1);
    }
    cm_zsock_destroy (&wrong);
    cm_sleep_ms (100);
    assert_int_equal (cm_zpeers_read (peers), 1);
    cm_zsock_destroy (&sub3);
    assert_true (s_await (peers, 0));

    cm_zsock_destroy (&pub);
    cm_zpeers_destroy (&peers);
    assert_null (peers);
    cm_zpeers_destroy (&peers); /* accepts NULL */
    assert_null (cm_zpeers_new (ctx, NULL));
    zmq_ctx_term (ctx);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_counts_connections),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
