/*  Unit tests for cm_store on a real RocksDB in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_store.h"

static char s_dir[64];
static char s_db[128];

static int
rm_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove (path);
}

static int
setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test_cm_store.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    snprintf (s_db, sizeof s_db, "%s/db", s_dir);
    return 0;
}

static int
teardown (void **state)
{
    chmod (s_dir, 0700);
    nftw (s_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static cm_store_t *
open_db (bool read_only)
{
    char err[512] = "";
    cm_store_t *st = cm_store_open (s_db, read_only, err, sizeof err);
    if (!st)
        fail_msg ("open failed: %s", err);
    return st;
}

static void
test_put_get_delete (void **state)
{
    cm_store_t *st = open_db (false);
    assert_string_equal (cm_store_error (st), "");
    const char *key = "hash/ACME_PRD/vendor/V000123";
    const char *val = "3f2a9c1d5e7b4a6f8091a2b3c4d5e6f7";
    char *got = NULL;
    size_t len = 0;
    assert_int_equal (cm_store_get (st, key, strlen (key), &got, &len), 0);
    assert_null (got);
    assert_int_equal (cm_store_put (st, key, strlen (key), val, strlen (val), true), 0);
    assert_int_equal (cm_store_get (st, key, strlen (key), &got, &len), 1);
    assert_int_equal (len, strlen (val));
    assert_string_equal (got, val); /* NUL-terminated beyond vlen */
    free (got);
    /*  Binary values with NUL bytes survive. */
    const char bin[] = {'a', '\0', 'b', '\xff'};
    assert_int_equal (cm_store_put (st, "bin", 3, bin, sizeof bin, false), 0);
    assert_int_equal (cm_store_get (st, "bin", 3, &got, &len), 1);
    assert_int_equal (len, sizeof bin);
    assert_memory_equal (got, bin, sizeof bin);
    free (got);
    assert_int_equal (cm_store_delete (st, key, strlen (key), true), 0);
    assert_int_equal (cm_store_get (st, key, strlen (key), &got, &len), 0);
    /*  Deleting an absent key is fine. */
    assert_int_equal (cm_store_delete (st, "nope", 4, false), 0);
    cm_store_destroy (&st);
    assert_null (st);
    cm_store_destroy (&st);
    /*  Durable across a reopen. */
    st = open_db (false);
    assert_int_equal (cm_store_get (st, "bin", 3, &got, &len), 1);
    free (got);
    cm_store_destroy (&st);
}

static void
test_batch (void **state)
{
    cm_store_t *st = open_db (false);
    assert_int_equal (cm_store_put (st, "dl/old", 6, "x", 1, false), 0);
    cm_store_batch_t *b = cm_store_batch_new ();
    assert_non_null (b);
    assert_int_equal (cm_store_batch_count (b), 0);
    cm_store_batch_put (b, "dl/a", 4, "1", 1);
    cm_store_batch_put (b, "dl/b", 4, "2", 1);
    cm_store_batch_delete (b, "dl/old", 6);
    assert_int_equal (cm_store_batch_count (b), 3);
    /*  Nothing is visible before the commit. */
    char *got;
    size_t len;
    assert_int_equal (cm_store_get (st, "dl/a", 4, &got, &len), 0);
    assert_int_equal (cm_store_batch_commit (st, b, true), 0);
    assert_int_equal (cm_store_batch_count (b), 0);
    assert_int_equal (cm_store_get (st, "dl/a", 4, &got, &len), 1);
    assert_string_equal (got, "1");
    free (got);
    assert_int_equal (cm_store_get (st, "dl/old", 6, &got, &len), 0);
    cm_store_batch_destroy (&b);
    assert_null (b);
    cm_store_destroy (&st);
}

typedef struct {
    char keys[16][32];
    int count;
    int stop_after;
} scan_t;

static int
collect (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    scan_t *s = arg;
    if (s->count < 16)
        snprintf (s->keys[s->count], sizeof s->keys[0], "%.*s", (int)klen, key);
    s->count++;
    return s->stop_after && s->count >= s->stop_after;
}

static void
test_scan (void **state)
{
    cm_store_t *st = open_db (false);
    const char *keys[] = {"audit/ACME_PRD/0003", "audit/ACME_PRD/0001", "audit/ACME_PRE/0001",
                          "audit/ACME_PRD/0002", "audit/ACME_PRD0",     "dl/ACME_PRD/0001",
                          "audit/ACME_PRC/9999"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal (cm_store_put (st, keys[i], strlen (keys[i]), "v", 1, false), 0);
    const char *prefix = "audit/ACME_PRD/";
    scan_t s = {0};
    assert_int_equal (cm_store_scan (st, prefix, strlen (prefix), NULL, 0, collect, &s), 0);
    assert_int_equal (s.count, 3);
    assert_string_equal (s.keys[0], "audit/ACME_PRD/0001");
    assert_string_equal (s.keys[1], "audit/ACME_PRD/0002");
    assert_string_equal (s.keys[2], "audit/ACME_PRD/0003");
    /*  From a start key inside the prefix. */
    memset (&s, 0, sizeof s);
    const char *start = "audit/ACME_PRD/0002";
    assert_int_equal (
        cm_store_scan (st, prefix, strlen (prefix), start, strlen (start), collect, &s), 0);
    assert_int_equal (s.count, 2);
    assert_string_equal (s.keys[0], "audit/ACME_PRD/0002");
    /*  Stopped by the callback. */
    memset (&s, 0, sizeof s);
    s.stop_after = 1;
    assert_int_equal (cm_store_scan (st, prefix, strlen (prefix), NULL, 0, collect, &s), 0);
    assert_int_equal (s.count, 1);
    /*  A prefix with no keys. */
    memset (&s, 0, sizeof s);
    assert_int_equal (cm_store_scan (st, "zzz", 3, NULL, 0, collect, &s), 0);
    assert_int_equal (s.count, 0);
    /*  A start outside the prefix is a usage error. */
    assert_int_equal (cm_store_scan (st, prefix, strlen (prefix), "dl/", 3, collect, &s), -1);
    assert_non_null (strstr (cm_store_error (st), "prefix"));
    cm_store_destroy (&st);
}

static void
test_read_only (void **state)
{
    char err[512] = "";
    /*  Read-only open of a database that does not exist fails and names the path. */
    cm_store_t *st = cm_store_open (s_db, true, err, sizeof err);
    assert_null (st);
    assert_non_null (strstr (err, s_db));
    st = open_db (false);
    assert_int_equal (cm_store_put (st, "k", 1, "v1", 2, true), 0);
    cm_store_destroy (&st);
    cm_store_t *ro = open_db (true);
    char *got;
    size_t len;
    assert_int_equal (cm_store_get (ro, "k", 1, &got, &len), 1);
    assert_string_equal (got, "v1");
    free (got);
    /*  Writes through a read-only handle fail with an error naming the path. */
    assert_int_equal (cm_store_put (ro, "k", 1, "v2", 2, false), -1);
    assert_non_null (strstr (cm_store_error (ro), s_db));
    cm_store_destroy (&ro);
}

static void
test_open_errors (void **state)
{
    char err[512] = "";
    /*  A directory we cannot write into. */
    char locked[160];
    snprintf (locked, sizeof locked, "%s/locked", s_dir);
    assert_int_equal (mkdir (locked, 0500), 0);
    char path[200];
    snprintf (path, sizeof path, "%s/db", locked);
    cm_store_t *st = cm_store_open (path, false, err, sizeof err);
    if (geteuid () == 0) {
        /*  root ignores directory permissions; use a path under a regular file instead. */
        cm_store_destroy (&st);
        char file[160];
        snprintf (file, sizeof file, "%s/plain", s_dir);
        FILE *f = fopen (file, "w");
        fclose (f);
        snprintf (path, sizeof path, "%s/plain/db", s_dir);
        st = cm_store_open (path, false, err, sizeof err);
    }
    assert_null (st);
    if (!strstr (err, path))
        fail_msg ("error '%s' does not name '%s'", err, path);
    chmod (locked, 0700);
    /*  A second writer on the same directory is refused (RocksDB LOCK). */
    cm_store_t *first = open_db (false);
    st = cm_store_open (s_db, false, err, sizeof err);
    assert_null (st);
    assert_non_null (strstr (err, s_db));
    cm_store_destroy (&first);
    /*  Empty path. */
    st = cm_store_open ("", false, err, sizeof err);
    assert_null (st);
}

/*  multi_get: hits, misses, an empty value, binary bytes, a repeated key, a deleted key,
    n = 0, and 5,000 keys half in SST files (after a reopen) and half in the memtable, each
    answer the same as cm_store_get's. */
static void
test_multi_get (void **state)
{
    cm_store_t *st = open_db (false);
    const char bin[] = {'x', '\0', 'y', '\xff'};
    assert_int_equal (cm_store_put (st, "h/vendor/V1", 11, "hash-one", 8, false), 0);
    assert_int_equal (cm_store_put (st, "h/vendor/V3", 11, "", 0, false), 0);
    assert_int_equal (cm_store_put (st, "h/vendor/V4", 11, bin, sizeof bin, false), 0);
    assert_int_equal (cm_store_put (st, "h/vendor/V5", 11, "gone", 4, false), 0);
    assert_int_equal (cm_store_delete (st, "h/vendor/V5", 11, false), 0);
    const char *keys[] = {"h/vendor/V4", "h/vendor/V1", "h/vendor/V2",   "h/vendor/V3",
                          "h/vendor/V1", "h/vendor/V5", "h/vendor/V1\0z"};
    size_t klens[] = {11, 11, 11, 11, 11, 11, 13};
    char *vals[7];
    size_t vlens[7];
    memset (vals, 0xab, sizeof vals); /* the call sets every slot */
    assert_int_equal (cm_store_multi_get (st, 7, keys, klens, vals, vlens), 0);
    assert_string_equal (cm_store_error (st), "");
    assert_int_equal (vlens[0], sizeof bin);
    assert_memory_equal (vals[0], bin, sizeof bin);
    assert_int_equal (vlens[1], 8);
    assert_string_equal (vals[1], "hash-one"); /* NUL-terminated beyond vlen */
    assert_null (vals[2]);                     /* absent */
    assert_int_equal (vlens[2], 0);
    assert_non_null (vals[3]); /* empty, but there */
    assert_int_equal (vlens[3], 0);
    assert_string_equal (vals[3], "");
    assert_string_equal (vals[4], "hash-one"); /* a key asked twice: two copies */
    assert_ptr_not_equal (vals[4], vals[1]);
    assert_null (vals[5]); /* deleted */
    assert_null (vals[6]); /* keys are bytes: "V1\0z" is not "V1" */
    for (size_t i = 0; i < 7; i++)
        free (vals[i]);
    /*  n = 0 reads nothing (the arrays are not touched). */
    assert_int_equal (cm_store_multi_get (st, 0, NULL, NULL, NULL, NULL), 0);

    /*  5,000 keys: the even ones written, flushed to SST by a reopen, then every third
        rewritten in the memtable. */
    enum { N = 5000 };
    cm_store_batch_t *b = cm_store_batch_new ();
    char k[32], v[32];
    for (int i = 0; i < N; i += 2) {
        int kl = snprintf (k, sizeof k, "h/po/P%06d", i);
        int vl = snprintf (v, sizeof v, "v%d", i);
        cm_store_batch_put (b, k, (size_t)kl, v, (size_t)vl);
    }
    assert_int_equal (cm_store_batch_commit (st, b, false), 0);
    cm_store_destroy (&st);
    st = open_db (false);
    for (int i = 0; i < N; i += 3) {
        int kl = snprintf (k, sizeof k, "h/po/P%06d", i);
        int vl = snprintf (v, sizeof v, "new%d", i);
        cm_store_batch_put (b, k, (size_t)kl, v, (size_t)vl);
    }
    assert_int_equal (cm_store_batch_commit (st, b, false), 0);
    cm_store_batch_destroy (&b);
    char **bkeys = calloc (N, sizeof *bkeys);
    size_t *bklens = calloc (N, sizeof *bklens);
    char **bvals = calloc (N, sizeof *bvals);
    size_t *bvlens = calloc (N, sizeof *bvlens);
    assert_true (bkeys && bklens && bvals && bvlens);
    for (int i = 0; i < N; i++) {
        int j = N - 1 - i; /* not in key order */
        bkeys[i] = malloc (32);
        bklens[i] = (size_t)snprintf (bkeys[i], 32, "h/po/P%06d", j);
    }
    assert_int_equal (cm_store_multi_get (st, N, (const char *const *)bkeys, bklens, bvals, bvlens),
                      0);
    size_t found = 0;
    for (int i = 0; i < N; i++) {
        int j = N - 1 - i;
        char *one = NULL;
        size_t olen = 0;
        int rc = cm_store_get (st, bkeys[i], bklens[i], &one, &olen);
        assert_int_equal (rc, bvals[i] ? 1 : 0);
        assert_true (rc == (j % 2 == 0 || j % 3 == 0));
        if (rc == 1) {
            found++;
            assert_int_equal (bvlens[i], olen);
            assert_string_equal (bvals[i], one);
            snprintf (v, sizeof v, j % 3 == 0 ? "new%d" : "v%d", j);
            assert_string_equal (bvals[i], v);
        }
        free (one);
        free (bvals[i]);
        free (bkeys[i]);
    }
    assert_int_equal (found, N / 2 + (N / 3 + 1) - (N / 6 + 1));
    free (bkeys);
    free (bklens);
    free (bvals);
    free (bvlens);
    cm_store_destroy (&st);

    /*  A read-only store answers too. */
    st = open_db (true);
    char *one[1];
    size_t olen[1];
    const char *ok[] = {"h/vendor/V1"};
    size_t oklen[] = {11};
    assert_int_equal (cm_store_multi_get (st, 1, ok, oklen, one, olen), 0);
    assert_string_equal (one[0], "hash-one");
    free (one[0]);
    cm_store_destroy (&st);
}

static int
count_key (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(int *)arg)++;
    return 0;
}

static int
append_value (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    strncat (arg, val, vlen);
    return 0;
}

/*  Column families: an append family takes keys in any order and reads back sorted; one
    batch writes both families at once; a plain open (another process's reader) opens the
    family too; a read-only open of a store without it reads it as empty. */
static void
test_families (void **state)
{
    char err[512] = "";
    static const cm_store_family_t fams[] = {{"audit", true, NULL}};
    cm_store_t *ro = cm_store_open (s_db, false, err, sizeof err); /* a store without it */
    assert_non_null (ro);
    assert_int_equal (cm_store_put (ro, "k", 1, "v", 1, false), 0);
    cm_store_destroy (&ro);
    ro = cm_store_open_families (s_db, true, fams, 1, err, sizeof err);
    assert_non_null (ro);
    char *v = NULL;
    size_t vlen = 0;
    int n = 0;
    assert_int_equal (cm_store_get_in (ro, 1, "k", 1, &v, &vlen), 0);
    assert_int_equal (cm_store_scan_in (ro, 1, "", 0, NULL, 0, count_key, &n), 0);
    assert_int_equal (n, 0);
    cm_store_batch_t *b = cm_store_batch_new ();
    assert_int_equal (cm_store_batch_put_in (b, ro, 1, "x", 1, "y", 1), -1);
    cm_store_destroy (&ro);

    cm_store_t *st = cm_store_open_families (s_db, false, fams, 1, err, sizeof err);
    assert_non_null (st);
    const char *keys[] = {"a/3", "a/1", "a/2", "a/0"};
    for (int i = 0; i < 4; i++)
        assert_int_equal (cm_store_batch_put_in (b, st, 1, keys[i], 3, keys[i] + 2, 1), 0);
    cm_store_batch_put (b, "m/seq", 5, "4", 1);
    assert_int_equal (cm_store_batch_put_in (b, st, 2, "x", 1, "y", 1), -1); /* no family 2 */
    assert_int_equal (cm_store_batch_commit (st, b, false), 0);
    assert_int_equal (cm_store_get_in (st, 1, "a/2", 3, &v, &vlen), 1);
    assert_string_equal (v, "2");
    free (v);
    assert_int_equal (cm_store_get (st, "a/2", 3, &v, &vlen), 0); /* not in the default */
    assert_int_equal (cm_store_get (st, "m/seq", 5, &v, &vlen), 1);
    free (v);
    assert_int_equal (cm_store_batch_delete_in (b, st, 1, "a/0", 3), 0);
    assert_int_equal (cm_store_batch_commit (st, b, false), 0);
    char mem[16] = ""; /* from the unflushed (vector) memtable, sorted for the read */
    assert_int_equal (cm_store_scan_in (st, 1, "a/", 2, NULL, 0, append_value, mem), 0);
    assert_string_equal (mem, "123");
    cm_store_destroy (&st);

    /* a plain open: the family is the store's first other one, id 1; read in key order */
    st = open_db (true);
    char got[16] = "";
    assert_int_equal (cm_store_scan_in (st, 1, "a/", 2, NULL, 0, append_value, got), 0);
    assert_string_equal (got, "123");
    cm_store_destroy (&st);
    cm_store_batch_destroy (&b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown (test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown (test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown (test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown (test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown (test_multi_get, setup, teardown),
        cmocka_unit_test_setup_teardown (test_families, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
