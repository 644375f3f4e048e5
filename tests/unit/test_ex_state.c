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

#include "test_util.h"
#include "../../common/cm_store.h"
#include "../../extractor/ex_lease.h"
#include "../../extractor/ex_state.h"

static char s_dir[256];

static int
s_setup (void **state)
{
    test_tmpdir (s_dir, sizeof s_dir, "test_ex_state");
    return 0;
}

static int
s_teardown (void **state)
{
    assert_int_equal (test_rmtree (s_dir), 0);
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

/*  A first backfill is recognised per entity: no hash and no pending entry stored. */
static void
test_entity_empty (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "EMPTY", err, sizeof err);
    assert_non_null (st);
    assert_int_equal (ex_state_entity_empty (st, "vendor", err, sizeof err), 1);
    /* a watermark or a schedule alone is not a stored record */
    assert_int_equal (ex_state_stage_watermark (st, "vendor", "2026-02-01 08:15:02.117"), 0);
    assert_int_equal (ex_state_commit (st, false, err, sizeof err), 0);
    assert_int_equal (ex_state_entity_empty (st, "vendor", err, sizeof err), 1);
    /* a hash of "vendorx" is not one of "vendor" */
    assert_int_equal (ex_state_stage_hash (st, "vendorx", "V1", H1), 0);
    assert_int_equal (ex_state_commit (st, false, err, sizeof err), 0);
    assert_int_equal (ex_state_entity_empty (st, "vendor", err, sizeof err), 1);
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V1", H1), 0);
    assert_int_equal (ex_state_entity_empty (st, "vendor", err, sizeof err), 1); /* staged */
    assert_int_equal (ex_state_commit (st, false, err, sizeof err), 0);
    assert_int_equal (ex_state_entity_empty (st, "vendor", err, sizeof err), 0);
    /* a pending entry counts too */
    assert_int_equal (ex_state_entity_empty (st, "customer", err, sizeof err), 1);
    ex_state_stage_pending (st, "l/customer/C1/0", 15, "x", 1);
    assert_int_equal (ex_state_commit (st, false, err, sizeof err), 0);
    assert_int_equal (ex_state_entity_empty (st, "customer", err, sizeof err), 0);
    assert_false (ex_state_failed (st));
    ex_state_destroy (&st);
}

/*  ex_state_changed_many answers as ex_state_changed does, key by key (committed hashes
    only, staged ones not yet), in one read; ex_state_get_many reads raw values per tag. */
static void
test_changed_many (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "MANY", err, sizeof err);
    assert_non_null (st);
    int changed[8];
    assert_int_equal (ex_state_changed_many (st, "vendor", 0, NULL, NULL, changed, err, sizeof err),
                      0);
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V1", H1), 0);
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V2", H2), 0);
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V4", ""), 0);
    assert_int_equal (ex_state_stage_hash (st, "customer", "V3", H1), 0); /* other entity */
    assert_int_equal (ex_state_commit (st, false, err, sizeof err), 0);
    assert_int_equal (ex_state_stage_hash (st, "vendor", "V5", H1), 0); /* staged only */
    const char *keys[] = {"V1", "V2", "V3", "V1", "V4", "V4", "V5", "V2"};
    const char *hashes[] = {H1, H1, H1, H2, "", H1, H1, H2};
    const int want[] = {0, 1, 1, 1, 0, 1, 1, 0};
    memset (changed, 0x55, sizeof changed);
    assert_int_equal (
        ex_state_changed_many (st, "vendor", 8, keys, hashes, changed, err, sizeof err), 0);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal (changed[i], want[i]);
        assert_int_equal (ex_state_changed (st, "vendor", keys[i], hashes[i], err, sizeof err),
                          want[i]);
    }
    /* an over-long key anywhere fails the whole call, as ex_state_changed fails */
    char lng[EX_STATE_MAX_KEY + 2];
    memset (lng, 'k', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    const char *bad[] = {"V1", lng};
    const char *bh[] = {H1, H1};
    assert_int_equal (ex_state_changed_many (st, "vendor", 2, bad, bh, changed, err, sizeof err),
                      -1);
    assert_non_null (strstr (err, "longer than"));
    assert_int_equal (ex_state_changed (st, "vendor", lng, H1, err, sizeof err), -1);
    assert_false (ex_state_failed (st)); /* a refused key is not a store failure */
    /* raw values by tag: the pending entries of ex_lease ('l') */
    ex_state_stage_pending (st, "l/vendor/V9", 11, "pending", 7);
    assert_int_equal (ex_state_commit (st, false, err, sizeof err), 0);
    const char *lk[] = {"V9", "V1"};
    char *vals[2];
    size_t vlens[2];
    assert_int_equal (ex_state_get_many (st, 'l', "vendor", 2, lk, vals, vlens, err, sizeof err),
                      0);
    assert_string_equal (vals[0], "pending");
    assert_int_equal (vlens[0], 7);
    assert_null (vals[1]);
    free (vals[0]);
    assert_int_equal (ex_state_get_many (st, 'h', "vendor", 2, lk, vals, vlens, err, sizeof err),
                      0);
    assert_null (vals[0]);
    assert_string_equal (vals[1], H1);
    free (vals[1]);
    ex_state_destroy (&st);
}

/*  The token state round-trips; none before the first write. */
static void
test_token_state (void **state)
{
    char err[512] = "";
    char *json = NULL;
    ex_state_t *st = ex_state_open (s_dir, "TOKEN", err, sizeof err);
    assert_non_null (st);
    assert_int_equal (ex_state_token (st, &json, err, sizeof err), 0);
    assert_null (json);
    assert_int_equal (ex_state_set_token (st, "{\"cached\":true}", err, sizeof err), 0);
    assert_int_equal (ex_state_token (st, &json, err, sizeof err), 1);
    assert_string_equal (json, "{\"cached\":true}");
    free (json);
    /* not a poll record of an entity called "token" */
    assert_int_equal (ex_state_poll (st, "token", &json, err, sizeof err), 0);
    ex_state_destroy (&st);
}

/*  The pending entries of a store written before their family: read where they are by a
    read-only open (mlc-status), moved by the first writable open, nothing left behind. */
static void
test_pending_family_migration (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "ACME_PRD", err, sizeof err);
    assert_non_null (st);
    char path[512];
    snprintf (path, sizeof path, "%s", ex_state_path (st));
    ex_state_destroy (&st);
    cm_store_t *db = cm_store_open (path, false, err, sizeof err); /* the old layout */
    assert_non_null (db);
    assert_int_equal (cm_store_put (db, "l/vendor/V1", 11, "p1", 2, false), 0);
    assert_int_equal (cm_store_put (db, "l/vendor/V2", 11, "p2", 2, false), 0);
    assert_int_equal (cm_store_put (db, "h/vendor/V3", 11, H1, 32, false), 0);
    cm_store_destroy (&db);

    const char *keys[] = {"V1", "V2", "V3"};
    for (int pass = 0; pass < 3; pass++) {
        /* read-only before the move, writable (moves), read-only after */
        st = pass == 1 ? ex_state_open (s_dir, "ACME_PRD", err, sizeof err)
                       : ex_state_open_read_only (s_dir, "ACME_PRD", err, sizeof err);
        assert_non_null (st);
        assert_int_equal (ex_lease_pending_count (st), 2);
        assert_int_equal (ex_state_entity_empty (st, "vendor", err, sizeof err), 0);
        char *vals[3];
        size_t vlens[3];
        assert_int_equal (
            ex_state_get_many (st, 'l', "vendor", 3, keys, vals, vlens, err, sizeof err), 0);
        assert_string_equal (vals[0], "p1");
        assert_string_equal (vals[1], "p2");
        assert_null (vals[2]);
        free (vals[0]);
        free (vals[1]);
        assert_int_equal (ex_state_changed (st, "vendor", "V3", H1, err, sizeof err), 0);
        ex_state_destroy (&st);
    }
    db = cm_store_open (path, true, err, sizeof err);
    assert_non_null (db);
    char *v = NULL;
    size_t vlen = 0;
    assert_int_equal (cm_store_get (db, "l/vendor/V1", 11, &v, &vlen), 0); /* moved */
    assert_int_equal (cm_store_get_in (db, EX_STATE_PENDING, "l/vendor/V1", 11, &v, &vlen), 1);
    free (v);
    assert_int_equal (cm_store_get (db, "h/vendor/V3", 11, &v, &vlen), 1); /* stays */
    free (v);
    cm_store_destroy (&db);
}

/*  A file where the data directory should be: a clear error naming it. */
static void
test_data_dir_is_file (void **state)
{
    char err[512] = "", data[300];
    snprintf (data, sizeof data, "%s/afile", s_dir);
    FILE *f = fopen (data, "w");
    assert_non_null (f);
    fclose (f);
    assert_null (ex_state_open (data, "ACME_PRD", err, sizeof err));
    assert_non_null (strstr (err, "data_dir"));
    assert_non_null (strstr (err, data));
    assert_non_null (strstr (err, "Not a directory"));
    /* .../extractor is the file */
    char dir[300];
    snprintf (dir, sizeof dir, "%s/d2", s_dir);
    assert_int_equal (mkdir (dir, 0700), 0);
    snprintf (data, sizeof data, "%s/d2/extractor", s_dir);
    f = fopen (data, "w");
    assert_non_null (f);
    fclose (f);
    assert_null (ex_state_open (dir, "ACME_PRD", err, sizeof err));
    assert_non_null (strstr (err, data));
    assert_non_null (strstr (err, "Not a directory"));
}

/*  The first store error is kept and makes the state failed. */
static void
test_fail (void **state)
{
    char err[512] = "", why[512];
    ex_state_t *st = ex_state_open (s_dir, "FAIL", err, sizeof err);
    assert_non_null (st);
    assert_false (ex_state_failed (st));
    ex_state_fail (st, "%s: writing state: %s", "/x", "IO error: No space left on device");
    ex_state_fail (st, "second");
    assert_true (ex_state_failed (st));
    ex_state_failure (st, why, sizeof why);
    assert_string_equal (why, "/x: writing state: IO error: No space left on device");
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
        cmocka_unit_test (test_entity_empty),
        cmocka_unit_test (test_changed_many),
        cmocka_unit_test (test_token_state),
        cmocka_unit_test (test_data_dir_is_file),
        cmocka_unit_test (test_pending_family_migration),
        cmocka_unit_test (test_fail),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
