/*  Unit tests for ex_state with a real RocksDB in a temporary directory: changed-hash
    logic, staged vs committed changes, watermark persistence, tenant name checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../extractor/ex_state.h"

static char s_dir[256];

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test_ex_state.XXXXXX");
    assert_non_null (mkdtemp (s_dir));
    return 0;
}

static int
s_teardown (void **state)
{
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    assert_int_equal (system (cmd), 0);
    return 0;
}

#define H1 "0123456789abcdef0123456789abcdef"
#define H2 "fedcba9876543210fedcba9876543210"

static void
test_hash_and_watermark (void **state)
{
    char err[512] = "";
    char data[300];
    snprintf (data, sizeof data, "%s/data", s_dir); /* does not exist yet */
    ex_state_t *st = ex_state_open (data, "ACME_PRD", err, sizeof err);
    assert_non_null (st);
    char dir[400];
    snprintf (dir, sizeof dir, "%s/extractor/ACME_PRD", data);
    struct stat sb;
    assert_int_equal (stat (dir, &sb), 0);
    assert_true (S_ISDIR (sb.st_mode));

    char wm[64];
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 0);
    assert_int_equal (ex_state_changed (st, "vendor", "V000001", H1, err, sizeof err), 1);

    /* staged but not committed: still changed */
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V000001", H1), 0);
    assert_int_equal (ex_state_stage_watermark (st, "vendor", "2026-02-01 08:15:02.117"), 0);
    assert_int_equal (ex_state_staged (st), 2);
    assert_int_equal (ex_state_changed (st, "vendor", "V000001", H1, err, sizeof err), 1);
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 0);

    assert_int_equal (ex_state_commit (st, true, err, sizeof err), 0);
    assert_int_equal (ex_state_staged (st), 0);
    assert_int_equal (ex_state_changed (st, "vendor", "V000001", H1, err, sizeof err), 0);
    assert_int_equal (ex_state_changed (st, "vendor", "V000001", H2, err, sizeof err), 1);
    /* the same key of another entity is another record */
    assert_int_equal (ex_state_changed (st, "customer", "V000001", H1, err, sizeof err), 1);
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 08:15:02.117");
    assert_int_equal (ex_state_watermark (st, "po", wm, sizeof wm, err, sizeof err), 0);

    /* discarded changes never reach the store */
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V000001", H2), 0);
    assert_int_equal (ex_state_stage_watermark (st, "vendor", "2027-01-01 00:00:00.000"), 0);
    ex_state_discard (st);
    assert_int_equal (ex_state_staged (st), 0);
    assert_int_equal (ex_state_commit (st, true, err, sizeof err), 0);
    assert_int_equal (ex_state_changed (st, "vendor", "V000001", H1, err, sizeof err), 0);

    /* a watermark that does not fit the caller's buffer is an error, not a truncation */
    char tiny[8];
    assert_int_equal (ex_state_watermark (st, "vendor", tiny, sizeof tiny, err, sizeof err), -1);

    /* over-long keys are refused */
    char longkey[EX_STATE_MAX_KEY + 10];
    memset (longkey, 'K', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal (ex_state_changed (st, "vendor", longkey, H1, err, sizeof err), -1);
    assert_int_equal (ex_state_stage_hash (st, "vendor", longkey, H1), -1);
    ex_state_destroy (&st);
    assert_null (st);

    /* persistent across reopen */
    st = ex_state_open (data, "ACME_PRD", err, sizeof err);
    assert_non_null (st);
    assert_int_equal (ex_state_changed (st, "vendor", "V000001", H1, err, sizeof err), 0);
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 08:15:02.117");

    /* a second tenant has its own store */
    ex_state_t *other = ex_state_open (data, "ACME_TST", err, sizeof err);
    assert_non_null (other);
    assert_int_equal (ex_state_changed (other, "vendor", "V000001", H1, err, sizeof err), 1);
    ex_state_destroy (&other);
    ex_state_destroy (&st);
}

static void
test_bad_tenant (void **state)
{
    char err[512] = "";
    const char *bad[] = {"..", ".", "", "a/b", "../escape", "ACME PRD"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_null (ex_state_open (s_dir, bad[i], err, sizeof err));
        assert_non_null (strstr (err, "tenant"));
    }
}

static void
test_locked (void **state)
{
    char err[512] = "";
    ex_state_t *a = ex_state_open (s_dir, "LOCKED", err, sizeof err);
    assert_non_null (a);
    /* a second extractor on the same tenant must not share the store */
    ex_state_t *b = ex_state_open (s_dir, "LOCKED", err, sizeof err);
    assert_null (b);
    assert_non_null (strstr (err, "LOCKED"));
    ex_state_destroy (&a);
}

/*  The schedule times survive a reopen, per entity and per tenant. */
static void
test_times (void **state)
{
    char err[512] = "";
    int64_t poll = -1, full = -1;
    ex_state_t *st = ex_state_open (s_dir, "TIMES", err, sizeof err);
    assert_non_null (st);
    assert_non_null (strstr (ex_state_path (st), "/extractor/TIMES"));
    assert_int_equal (ex_state_times (st, "vendor", &poll, &full, err, sizeof err), 0);
    assert_true (poll == 0 && full == 0); /* never */
    assert_int_equal (
        ex_state_set_times (st, "vendor", 1790000000123LL, 1789990000000LL, err, sizeof err), 0);
    assert_int_equal (ex_state_set_times (st, "po", 5, 0, err, sizeof err), 0);
    ex_state_destroy (&st);

    st = ex_state_open (s_dir, "TIMES", err, sizeof err);
    assert_non_null (st);
    assert_int_equal (ex_state_times (st, "vendor", &poll, &full, err, sizeof err), 0);
    assert_true (poll == 1790000000123LL && full == 1789990000000LL);
    assert_int_equal (ex_state_times (st, "po", &poll, &full, err, sizeof err), 0);
    assert_true (poll == 5 && full == 0);
    assert_int_equal (ex_state_times (st, "customer", &poll, &full, err, sizeof err), 0);
    assert_true (poll == 0 && full == 0);
    /* another tenant has its own */
    ex_state_t *other = ex_state_open (s_dir, "TIMES2", err, sizeof err);
    assert_non_null (other);
    assert_int_equal (ex_state_times (other, "vendor", &poll, &full, err, sizeof err), 0);
    assert_true (poll == 0 && full == 0);
    ex_state_destroy (&other);
    ex_state_destroy (&st);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_hash_and_watermark),
        cmocka_unit_test (test_bad_tenant),
        cmocka_unit_test (test_locked),
        cmocka_unit_test (test_times),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
