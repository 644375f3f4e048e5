/*  Unit tests for ex_schedule: when an entity is due, when a poll is a full pass, retries
    after a failure, a clock that went back, and times restored after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../extractor/ex_schedule.h"

#define MIN  60000LL
#define HOUR (60 * MIN)
#define T0   1790000000000LL /* some wall-clock ms */

static void
test_never_polled_is_due_now (void **state)
{
    ex_schedule_t s = {.interval_ms = 5 * MIN, .full_interval_ms = 24 * HOUR};
    assert_true (ex_schedule_due (&s, T0) <= T0);
    /* first poll: full passes are on and there was none */
    assert_true (ex_schedule_full_due (&s, T0));
    s.full_interval_ms = 0;
    assert_false (ex_schedule_full_due (&s, T0));
}

static void
test_interval_after_success (void **state)
{
    ex_schedule_t s = {.interval_ms = 5 * MIN, .full_interval_ms = 24 * HOUR};
    ex_schedule_done (&s, T0, true, true); /* the first poll reads everything */
    assert_int_equal (s.last_poll_ms, T0);
    assert_int_equal (s.last_full_ms, T0);
    assert_true (ex_schedule_due (&s, T0 + 1000) == T0 + 5 * MIN);
    assert_false (ex_schedule_full_due (&s, T0 + 5 * MIN));
    ex_schedule_done (&s, T0 + 5 * MIN, true, false);
    assert_int_equal (s.last_full_ms, T0); /* an incremental poll does not move it */
    assert_true (ex_schedule_due (&s, T0 + 5 * MIN + 1) == T0 + 10 * MIN);
    /* a day later the next poll is a full pass */
    assert_true (ex_schedule_full_due (&s, T0 + 24 * HOUR));
    assert_false (ex_schedule_full_due (&s, T0 + 24 * HOUR - 1));
}

static void
test_failure_retries_sooner (void **state)
{
    ex_schedule_t s = {.interval_ms = 6 * HOUR};
    ex_schedule_done (&s, T0, true, false);
    ex_schedule_done (&s, T0 + 6 * HOUR, false, false);
    assert_int_equal (s.last_poll_ms, T0); /* a failure is not a poll */
    assert_true (ex_schedule_due (&s, T0 + 6 * HOUR + 1) == T0 + 6 * HOUR + EX_SCHEDULE_RETRY_MS);
    /* a short interval is not stretched by the retry delay */
    s.interval_ms = 1000;
    assert_true (ex_schedule_due (&s, T0 + 6 * HOUR + 1) == T0 + 6 * HOUR + 1000);
    /* a failed full pass stays due */
    ex_schedule_t f = {.interval_ms = MIN, .full_interval_ms = HOUR, .last_full_ms = T0};
    ex_schedule_done (&f, T0 + HOUR, false, true);
    assert_int_equal (f.last_full_ms, T0);
    assert_true (ex_schedule_full_due (&f, T0 + HOUR + MIN));
}

static void
test_restart_restores (void **state)
{
    /* as after a restart: times from the state, no attempt yet */
    ex_schedule_t s = {.interval_ms = HOUR,
                       .full_interval_ms = 24 * HOUR,
                       .last_poll_ms = T0,
                       .last_full_ms = T0 - 2 * HOUR};
    assert_true (ex_schedule_due (&s, T0 + MIN) == T0 + HOUR);
    assert_false (ex_schedule_full_due (&s, T0 + MIN));
    /* a full pass that falls due before the next poll is not delayed by it */
    s.last_full_ms = T0 - 24 * HOUR + 10 * MIN;
    assert_true (ex_schedule_due (&s, T0 + MIN) == T0 + 10 * MIN);
    assert_true (ex_schedule_full_due (&s, T0 + 10 * MIN));
}

static void
test_clock_went_back (void **state)
{
    ex_schedule_t s = {
        .interval_ms = HOUR, .full_interval_ms = 24 * HOUR, .last_poll_ms = T0, .last_full_ms = T0};
    /* "now" before the last poll: due at once rather than in a day and an hour */
    assert_true (ex_schedule_due (&s, T0 - 24 * HOUR) <= T0 - 24 * HOUR);
    assert_true (ex_schedule_full_due (&s, T0 - 24 * HOUR));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_never_polled_is_due_now),
        cmocka_unit_test (test_interval_after_success),
        cmocka_unit_test (test_failure_retries_sooner),
        cmocka_unit_test (test_restart_restores),
        cmocka_unit_test (test_clock_went_back),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
