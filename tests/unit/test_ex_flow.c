/*  Unit tests for ex_flow: the window of records in flight, its wait, the stall escape, a
    stop while waiting and the load gate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "cm_signal.h"
#include "cm_time.h"
#include "ex_flow.h"

static void
test_counts (void **state)
{
    ex_flow_t *flow = ex_flow_new ("T", 3, 0);
    assert_non_null (flow);
    assert_int_equal (ex_flow_window (flow), 3);
    ex_flow_sent (flow, 2);
    assert_int_equal (ex_flow_in_flight (flow), 2);
    assert_int_equal (ex_flow_peak (flow), 2);
    assert_int_equal (ex_flow_wait (flow), 0); /* room: no wait */
    assert_int_equal (ex_flow_waits (flow), 0);
    ex_flow_confirmed (flow, 5); /* more than handed on (an earlier run's): never below 0 */
    assert_int_equal (ex_flow_in_flight (flow), 0);
    ex_flow_sent (flow, 1);
    assert_int_equal (ex_flow_peak (flow), 2); /* the most at once */
    ex_flow_destroy (&flow);
    ex_flow_destroy (&flow);

    flow = ex_flow_new ("T", 0, 0); /* no limit */
    ex_flow_sent (flow, 1000000);
    assert_int_equal (ex_flow_wait (flow), 0);
    assert_int_equal (ex_flow_waits (flow), 0);
    ex_flow_destroy (&flow);
    assert_int_equal (ex_flow_wait (NULL), 0);
}

typedef struct {
    ex_flow_t *flow;
    int delay_ms;
} confirmer_t;

static void *
s_confirm_later (void *arg)
{
    confirmer_t *c = arg;
    cm_sleep_ms (c->delay_ms);
    ex_flow_confirmed (c->flow, 1);
    return NULL;
}

static void
test_wait_for_a_confirmation (void **state)
{
    ex_flow_t *flow = ex_flow_new ("T", 2, 60000);
    ex_flow_sent (flow, 2);
    confirmer_t c = {flow, 100};
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_confirm_later, &c), 0);
    assert_int_equal (ex_flow_wait (flow), 0); /* returns once the confirmation came */
    pthread_join (t, NULL);
    assert_int_equal (ex_flow_in_flight (flow), 1);
    assert_int_equal (ex_flow_waits (flow), 1);
    assert_true (ex_flow_waited_ms (flow) >= 50);
    ex_flow_destroy (&flow);
}

static void
test_stall_switches_the_window_off (void **state)
{
    ex_flow_t *flow = ex_flow_new ("T", 1, 0); /* stall at the 1 s minimum */
    ex_flow_sent (flow, 1);
    int64_t start = cm_mono_ms ();
    assert_int_equal (ex_flow_wait (flow), 0);
    int64_t took = cm_mono_ms () - start;
    assert_true (took >= EX_FLOW_STALL_MIN_MS);
    assert_int_equal (ex_flow_stalls (flow), 1);
    /* off: the source goes on without waiting while nobody confirms */
    ex_flow_sent (flow, 10);
    start = cm_mono_ms ();
    assert_int_equal (ex_flow_wait (flow), 0);
    assert_true (cm_mono_ms () - start < EX_FLOW_STALL_MIN_MS);
    assert_int_equal (ex_flow_waits (flow), 1);
    /* a confirmation switches it on, counting afresh */
    ex_flow_confirmed (flow, 1);
    assert_int_equal (ex_flow_in_flight (flow), 0);
    ex_flow_sent (flow, 1);
    confirmer_t c = {flow, 100};
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_confirm_later, &c), 0);
    assert_int_equal (ex_flow_wait (flow), 0); /* waits again, for that confirmation */
    pthread_join (t, NULL);
    assert_int_equal (ex_flow_waits (flow), 2);
    assert_int_equal (ex_flow_stalls (flow), 1);
    ex_flow_destroy (&flow);
}

static void
test_drain (void **state)
{
    ex_flow_t *flow = ex_flow_new ("T", 10, 60000);
    ex_flow_sent (flow, 3);
    int64_t start = cm_mono_ms ();
    /* nobody ever confirmed and no confirmer is connected: no wait */
    assert_int_equal (ex_flow_drain (flow, 60000, false), 3);
    assert_true (cm_mono_ms () - start < 1000);
    /* none came yet, but a confirmer is connected: quiet_ms from the call */
    start = cm_mono_ms ();
    assert_int_equal (ex_flow_drain (flow, 300, true), 3);
    assert_true (cm_mono_ms () - start >= 300);
    /* ... and the first that comes, 100 ms later, is waited for */
    confirmer_t c = {flow, 100};
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_confirm_later, &c), 0);
    start = cm_mono_ms ();
    assert_int_equal (ex_flow_drain (flow, 300, true), 2); /* then 300 ms of quiet */
    pthread_join (t, NULL);
    assert_true (cm_mono_ms () - start >= 400);
    ex_flow_confirmed (flow, 1);
    assert_int_equal (pthread_create (&t, NULL, s_confirm_later, &c), 0);
    ex_flow_sent (flow, 0);
    start = cm_mono_ms ();
    /* confirmations came: counted from the last one, whatever the confirmer flag */
    assert_int_equal (ex_flow_drain (flow, 300, false), 0); /* the last one: done at once */
    pthread_join (t, NULL);
    assert_true (cm_mono_ms () - start < 300);
    ex_flow_destroy (&flow);
}

static int s_loads;

static int
s_load (void *arg, const cs_ido_query_t *query, cs_ido_page_t **page, char *err, size_t err_cap)
{
    s_loads++;
    *page = NULL;
    return 0;
}

static void
test_gate_and_stop (void **state)
{
    ex_flow_t *flow = ex_flow_new ("T", 1, 60000);
    ex_flow_gate_t gate = {flow, s_load, NULL};
    cs_ido_page_t *page = NULL;
    char err[128] = "";
    assert_int_equal (ex_flow_load_fn (&gate, NULL, &page, err, sizeof err), 0);
    assert_int_equal (s_loads, 1);
    ex_flow_sent (flow, 1);
    cm_signal_request_stop (); /* (the last test: a stop stays) while the window is full */
    assert_int_equal (ex_flow_load_fn (&gate, NULL, &page, err, sizeof err), -1);
    assert_int_equal (s_loads, 1);
    assert_non_null (strstr (err, "waiting for confirmations"));
    ex_flow_destroy (&flow);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_counts),
        cmocka_unit_test (test_wait_for_a_confirmation),
        cmocka_unit_test (test_stall_switches_the_window_off),
        cmocka_unit_test (test_drain),
        cmocka_unit_test (test_gate_and_stop),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
