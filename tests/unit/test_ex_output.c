/*  Unit tests for ex_output over real ipc:// sockets: envelopes leave one by one, their
    "extracted" events in batches (when full, at the end of a page, at destroy), and events
    nobody takes are dropped and counted, never blocking the data path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "../../extractor/ex_output.h"
#include "cm_event.h"
#include "cm_event_batch.h"
#include "test_util.h"

typedef struct {
    char dir[64];      /* temp dir for the ipc endpoints */
    char data[128];    /* ipc://dir/extract */
    char events[128];  /* ipc://dir/events */
    void *ctx;         /* ZeroMQ context */
    void *data_pull;   /* the transformer's side */
    void *events_pull; /* the replayer's side, NULL when not bound */
    ex_output_t *out;  /* under test (closed by teardown after a failed assertion) */
} fx_t;

static void *
s_pull (void *ctx, const char *endpoint)
{
    void *s = zmq_socket (ctx, ZMQ_PULL);
    assert_non_null (s);
    int linger = 0, timeout = 2000;
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    assert_int_equal (zmq_bind (s, endpoint), 0);
    return s;
}

static int
setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    test_tmpdir (fx->dir, sizeof fx->dir, "test_ex_output");
    snprintf (fx->data, sizeof fx->data, "ipc://%s/extract", fx->dir);
    snprintf (fx->events, sizeof fx->events, "ipc://%s/events", fx->dir);
    fx->ctx = zmq_ctx_new ();
    fx->data_pull = s_pull (fx->ctx, fx->data);
    fx->events_pull = s_pull (fx->ctx, fx->events);
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fx_t *fx = *state;
    ex_output_destroy (&fx->out);
    zmq_close (fx->data_pull);
    if (fx->events_pull)
        zmq_close (fx->events_pull);
    zmq_ctx_term (fx->ctx);
    test_rmtree (fx->dir);
    free (fx);
    return 0;
}

static cm_envelope_t *
s_vendor (int i)
{
    char key[32];
    snprintf (key, sizeof key, "V%06d", i);
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", key);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    cm_envelope_compute_hash (env);
    return env;
}

static void
s_emit (ex_output_t *out, int from, int to)
{
    for (int i = from; i < to; i++) {
        cm_envelope_t *env = s_vendor (i);
        assert_int_equal (ex_output_emit (env, out), 0);
        cm_envelope_destroy (&env);
    }
}

//  Receives one events message without waiting: its events' keys counted from *next on
//  (each must be V<*next>, in order). Returns the events in it, -1 when none is queued.
static int
s_recv_events (fx_t *fx, int *next)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, fx->events_pull, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return -1;
    }
    cm_event_frame_t fr;
    cm_event_frame_init (&fr, zmq_msg_data (&msg), zmq_msg_size (&msg));
    const void *item;
    size_t size;
    char err[256];
    int n = 0;
    while (cm_event_frame_next (&fr, &item, &size, err, sizeof err) == 1) {
        cm_event_t *ev = cm_event_decode (item, size, err, sizeof err);
        assert_non_null (ev);
        assert_int_equal (ev->outcome, CM_OUTCOME_EXTRACTED);
        char key[32];
        snprintf (key, sizeof key, "V%06d", (*next)++);
        assert_string_equal (ev->key, key);
        cm_event_destroy (&ev);
        n++;
    }
    zmq_msg_close (&msg);
    return n;
}

//  Waits (bounded) until the events socket has a message.
static void
s_wait_events (fx_t *fx)
{
    zmq_pollitem_t item = {fx->events_pull, 0, ZMQ_POLLIN, 0};
    assert_int_equal (zmq_poll (&item, 1, 2000), 1);
}

static void
test_events_leave_in_batches (void **state)
{
    fx_t *fx = *state;
    char err[256];
    ex_output_t *out = fx->out =
        ex_output_new (fx->ctx, fx->data, fx->events, 1000, err, sizeof err);
    assert_non_null (out);
    /* a page of 3: the envelopes leave at once, the events wait for the page's end */
    s_emit (out, 0, 3);
    for (int i = 0; i < 3; i++) {
        char buf[4096];
        assert_true (zmq_recv (fx->data_pull, buf, sizeof buf, 0) > 0);
    }
    int next = 0;
    assert_int_equal (s_recv_events (fx, &next), -1);
    assert_int_equal (ex_output_emit (NULL, out), 0); /* the end of the page */
    s_wait_events (fx);
    assert_int_equal (s_recv_events (fx, &next), 3);
    assert_int_equal (s_recv_events (fx, &next), -1);
    assert_int_equal (ex_output_emit (NULL, out), 0); /* nothing held: nothing sent */
    assert_int_equal (s_recv_events (fx, &next), -1);

    /* a long page: each full batch leaves as it fills, the rest at the page's end */
    s_emit (out, 3, 3 + CM_EVENT_BATCH_MAX_EVENTS + 10);
    s_wait_events (fx);
    assert_int_equal (s_recv_events (fx, &next), CM_EVENT_BATCH_MAX_EVENTS);
    assert_int_equal (s_recv_events (fx, &next), -1);
    ex_output_flush (out);
    s_wait_events (fx);
    assert_int_equal (s_recv_events (fx, &next), 10);

    /* what is held at destroy leaves too */
    s_emit (out, next, next + 2);
    ex_output_destroy (&fx->out);
    assert_null (fx->out);
    s_wait_events (fx);
    assert_int_equal (s_recv_events (fx, &next), 2);
    assert_int_equal (next, 3 + CM_EVENT_BATCH_MAX_EVENTS + 10 + 2);
}

static void
test_events_nobody_takes_are_dropped (void **state)
{
    fx_t *fx = *state;
    char err[256];
    zmq_close (fx->events_pull); /* no replayer */
    fx->events_pull = NULL;
    /* HWM 1: the queue of the unconnected events socket is full after one batch */
    ex_output_t *out = fx->out = ex_output_new (fx->ctx, fx->data, fx->events, 1, err, sizeof err);
    assert_non_null (out);
    char buf[4096];
    int emitted = 0, pages = 0;
    while (ex_output_events_dropped (out) == 0 && pages < 10) {
        s_emit (out, emitted, emitted + 5);
        emitted += 5;
        for (int i = 0; i < 5; i++) /* the data path goes on */
            assert_true (zmq_recv (fx->data_pull, buf, sizeof buf, 0) > 0);
        ex_output_flush (out);
        pages++;
    }
    assert_int_equal (ex_output_events_dropped (out), 5); /* the whole batch, counted */
    assert_int_equal (ex_output_sent (out), (uint64_t)emitted);
    /* stalled: the next batch is offered without a wait, and dropped as well */
    s_emit (out, emitted, emitted + 2);
    for (int i = 0; i < 2; i++)
        assert_true (zmq_recv (fx->data_pull, buf, sizeof buf, 0) > 0);
    assert_int_equal (ex_output_emit (NULL, out), 0);
    assert_int_equal (ex_output_events_dropped (out), 7);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_events_leave_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown (test_events_nobody_takes_are_dropped, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
