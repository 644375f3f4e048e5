/*  Unit tests for cm_time: SQL datetime text both ways, clocks, interruptible sleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cm_signal.h"
#include "cm_time.h"

static void
test_format (void **state)
{
    char out[24];
    assert_string_equal (cm_time_format_sql (1769933702117LL, out), "2026-02-01 08:15:02.117");
    assert_string_equal (cm_time_format_sql (0, out), "1970-01-01 00:00:00.000");
    assert_string_equal (cm_time_format_sql (951782400000LL, out), "2000-02-29 00:00:00.000");
}

static void
test_parse (void **state)
{
    int64_t ms = 0;
    assert_int_equal (cm_time_parse_sql ("2026-02-01 08:15:02.117", &ms), 0);
    assert_int_equal (ms, 1769933702117LL);
    assert_int_equal (cm_time_parse_sql ("2026-02-01 08:15:02", &ms), 0);
    assert_int_equal (ms, 1769933702000LL);
    assert_int_equal (cm_time_parse_sql ("2026-02-01 08:15:02.1", &ms), 0);
    assert_int_equal (ms, 1769933702100LL);
    assert_int_equal (cm_time_parse_sql ("2024-02-29 23:59:59.999", &ms), 0);
    /*  Round trip over a range of instants. */
    char out[24];
    for (int64_t t = 0; t < 4102444800000LL; t += 86399999LL * 37) {
        int64_t back;
        assert_int_equal (cm_time_parse_sql (cm_time_format_sql (t, out), &back), 0);
        assert_int_equal (back, t);
    }
    const char *bad[] = {"",
                         "2026-02-01",
                         "2026-02-01T08:15:02",
                         "2026-2-01 08:15:02",
                         "2026-02-30 00:00:00",
                         "2025-02-29 00:00:00",
                         "2026-13-01 00:00:00",
                         "2026-02-01 24:00:00",
                         "2026-02-01 08:60:00",
                         "2026-02-01 08:15:02.",
                         "2026-02-01 08:15:02.117Z",
                         "2026-02-01 08:15:02 ",
                         "abcd-ef-gh ij:kl:mn"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cm_time_parse_sql (bad[i], &ms) == 0)
            fail_msg ("parsed '%s'", bad[i]);
    assert_int_equal (cm_time_parse_sql (NULL, &ms), -1);
}

static void
test_clocks_and_sleep (void **state)
{
    assert_true (cm_now_ms () > 1700000000000LL);
    int64_t a = cm_mono_ms ();
    assert_int_equal (cm_sleep_ms (20), 0);
    assert_true (cm_mono_ms () >= a + 20);
    assert_int_equal (cm_sleep_ms (0), 0);
    cm_signal_request_stop ();
    assert_true (cm_signal_stop_requested ());
    /*  A stop request ends even a very long sleep at once. */
    assert_int_equal (cm_sleep_ms (3600 * 1000), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_format),
        cmocka_unit_test (test_parse),
        cmocka_unit_test (test_clocks_and_sleep),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
