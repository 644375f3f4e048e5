/*  Unit tests for tf_memory on a real RocksDB in a temporary directory: match owners and
    aliases, union values, remembered sObjects; the cache in front of RocksDB stays
    consistent with a reference model through thousands of random operations while it
    evicts (a 16-entry cache); unchanged writes are skipped and a record's writes are one
    commit; values too long for the cache are still stored and read back; everything
    survives closing and reopening, including writes not yet committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "../../transformer/tf_memory.h"

typedef struct {
    char dir[64];        /* temporary directory */
    tf_memory_t *mem;    /* under test */
    tf_memory_ops_t ops; /* its callbacks */
} fixture_t;

static void
fixture_open (fixture_t *f, size_t cache)
{
    char err[512];
    f->mem = tf_memory_open_sized (f->dir, cache, err, sizeof err);
    if (!f->mem)
        fail_msg ("%s", err);
    tf_memory_ops (f->mem, &f->ops);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    test_tmpdir (f->dir, sizeof f->dir, "test_tf_memory");
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    tf_memory_destroy (&f->mem);
    assert_int_equal (test_rmtree (f->dir), 0);
    free (f);
    return 0;
}

static char *
sobject_of (fixture_t *f, const char *key)
{
    char *s = NULL;
    assert_int_equal (f->ops.sobject_of (f->ops.arg, key, &s), 0);
    return s;
}

/*  The key filter: a new key costs no RocksDB read, a stored one is read; the filter is
    rebuilt from the store at open, so a reopened memory still finds what it stored. */
static void
test_key_filter (void **state)
{
    fixture_t *f = *state;
    fixture_open (f, 16);
    tf_memory_stats_t st;
    char key[64];
    for (int i = 0; i < 200; i++) {
        snprintf (key, sizeof key, "T:customer:C%06d", i);
        assert_null (sobject_of (f, key));
        assert_int_equal (f->ops.remember (f->ops.arg, key, "Contact"), 0);
        assert_int_equal (f->ops.commit (f->ops.arg), 0);
    }
    tf_memory_stats (f->mem, &st);
    assert_int_equal (st.misses, 0); //  every first look-up was answered by the filter
    assert_int_equal (st.filtered, 200);
    tf_memory_destroy (&f->mem);
    fixture_open (f, 16);
    for (int i = 0; i < 400; i++) {
        snprintf (key, sizeof key, "T:customer:C%06d", i);
        char *s = sobject_of (f, key);
        if (i < 200) {
            assert_non_null (s);
            assert_string_equal (s, "Contact");
        } else
            assert_null (s);
        free (s);
    }
    tf_memory_stats (f->mem, &st);
    assert_true (st.misses >= 200);   //  the stored keys were read (a small cache: evicted)
    assert_true (st.filtered >= 190); //  the new ones (but for a few false positives) not
}

static void
test_match_and_alias (void **state)
{
    fixture_t *f = *state;
    fixture_open (f, 1000);
    char *acc = NULL;
    //  The first claim owns the match value.
    assert_int_equal (f->ops.match (f->ops.arg, "Account", "T:ACME", "vendor", "T:vendor:V1", &acc),
                      0);
    assert_string_equal (acc, "T:vendor:V1");
    free (acc);
    //  Another entity joins the owner and becomes an alias; the same entity does not.
    assert_int_equal (
        f->ops.match (f->ops.arg, "Account", "T:ACME", "customer", "T:customer:C10", &acc), 0);
    assert_string_equal (acc, "T:vendor:V1");
    free (acc);
    assert_int_equal (f->ops.match (f->ops.arg, "Account", "T:ACME", "vendor", "T:vendor:V9", &acc),
                      0);
    assert_string_equal (acc, "T:vendor:V9");
    free (acc);
    assert_int_equal (f->ops.resolve (f->ops.arg, "Account", "T:customer:C10", &acc), 0);
    assert_string_equal (acc, "T:vendor:V1");
    free (acc);
    assert_int_equal (f->ops.resolve (f->ops.arg, "Account", "T:vendor:V9", &acc), 0);
    assert_null (acc);
    assert_int_equal (f->ops.resolve (f->ops.arg, "Contact", "T:customer:C10", &acc), 0);
    assert_null (acc);
    //  Not committed: closing keeps the writes all the same.
    tf_memory_destroy (&f->mem);
    fixture_open (f, 16);
    assert_int_equal (f->ops.resolve (f->ops.arg, "Account", "T:customer:C10", &acc), 0);
    assert_string_equal (acc, "T:vendor:V1");
    free (acc);
}

static void
test_union_and_write_skip (void **state)
{
    fixture_t *f = *state;
    fixture_open (f, 1000);
    tf_memory_stats_t st;
    char *m = NULL;
    //  A supplier's record as tf_transform sees it: reads that miss between writes, and
    //  still one commit.
    assert_int_equal (f->ops.resolve (f->ops.arg, "Account", "T:vendor:V1", &m), 0);
    assert_null (m);
    assert_int_equal (f->ops.match (f->ops.arg, "Account", "T:ACME", "vendor", "T:vendor:V1", &m),
                      0);
    free (m);
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "T:vendor:V1",
                                          "CloudSuite_Roles__c", "Supplier", &m),
                      0);
    assert_string_equal (m, "Supplier");
    free (m);
    assert_int_equal (f->ops.remember (f->ops.arg, "T:vendor:V1", "Account"), 0);
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
    tf_memory_stats (f->mem, &st);
    assert_int_equal (st.writes, 3);
    assert_int_equal (st.commits, 1); //  one record, one commit
    //  The same record again: nothing to write, nothing to commit.
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "T:vendor:V1",
                                          "CloudSuite_Roles__c", "Supplier", &m),
                      0);
    free (m);
    assert_int_equal (f->ops.remember (f->ops.arg, "T:vendor:V1", "Account"), 0);
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
    tf_memory_stats (f->mem, &st);
    assert_int_equal (st.writes, 3);
    assert_int_equal (st.writes_skipped, 2);
    assert_int_equal (st.commits, 1);
    //  A new role joins the union, sorted; the stored list survives a reopen.
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "T:vendor:V1",
                                          "CloudSuite_Roles__c", "Customer;Supplier;", &m),
                      0);
    assert_string_equal (m, "Customer;Supplier");
    free (m);
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
    tf_memory_destroy (&f->mem);
    fixture_open (f, 16);
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "T:vendor:V1",
                                          "CloudSuite_Roles__c", "Supplier", &m),
                      0);
    assert_string_equal (m, "Customer;Supplier");
    free (m);
    char *s = sobject_of (f, "T:vendor:V1");
    assert_string_equal (s, "Account");
    free (s);
    assert_null (sobject_of (f, "T:vendor:V2"));
}

/*  A union longer than the cache holds (1 KiB) is written through and read back. */
static void
test_long_values (void **state)
{
    fixture_t *f = *state;
    fixture_open (f, 16);
    char a[700], b[700];
    memset (a, 'a', sizeof a - 1);
    a[sizeof a - 1] = 0;
    memset (b, 'b', sizeof b - 1);
    b[sizeof b - 1] = 0;
    char *m = NULL;
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "K", "F", a, &m), 0);
    free (m);
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "K", "F", b, &m), 0);
    assert_int_equal (strlen (m), 2 * (sizeof a - 1) + 1);
    free (m);
    //  Read again (from RocksDB, not the cache): both values are there.
    assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", "K", "F", a, &m), 0);
    assert_int_equal (strlen (m), 2 * (sizeof a - 1) + 1);
    assert_int_equal (m[0], 'a');
    assert_int_equal (m[sizeof a], 'b');
    free (m);
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
}

/*  Random operations on 300 keys through a 16-entry cache agree with a plain model, and
    with the store after a reopen. */
static void
test_cache_against_model (void **state)
{
    fixture_t *f = *state;
    fixture_open (f, 16);
    enum { KEYS = 300, OPS = 6000 };
    static const char *const kinds[] = {"Account", "Contact", "Task"};
    int model[KEYS]; //  -1: never remembered, else index into kinds
    for (int i = 0; i < KEYS; i++)
        model[i] = -1;
    uint32_t rng = 12345;
    char key[64];
    for (int n = 0; n < OPS; n++) {
        rng = rng * 1103515245u + 12345u;
        int k = (int)((rng >> 8) % KEYS);
        snprintf (key, sizeof key, "T:customer:C%06d", k);
        if ((rng >> 4) % 3 == 0) {
            int kind = (int)((rng >> 20) % 3);
            assert_int_equal (f->ops.remember (f->ops.arg, key, kinds[kind]), 0);
            model[k] = kind;
            if ((rng >> 12) % 4 == 0)
                assert_int_equal (f->ops.commit (f->ops.arg), 0);
        } else {
            char *s = sobject_of (f, key);
            if (model[k] < 0)
                assert_null (s);
            else {
                assert_non_null (s);
                assert_string_equal (s, kinds[model[k]]);
            }
            free (s);
        }
    }
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
    tf_memory_stats_t st;
    tf_memory_stats (f->mem, &st);
    assert_true (st.evictions > 0);
    assert_true (st.hits > 0);
    assert_true (st.misses > 0);
    tf_memory_destroy (&f->mem);
    fixture_open (f, 100000);
    for (int k = 0; k < KEYS; k++) {
        snprintf (key, sizeof key, "T:customer:C%06d", k);
        char *s = sobject_of (f, key);
        if (model[k] < 0)
            assert_null (s);
        else
            assert_string_equal (s, kinds[model[k]]);
        free (s);
    }
}

/*  Keys and values of very mixed sizes, in phases of one size (the worst case for a slab
    with a free list per size class): the slab stays bounded (the cache starts afresh
    instead of growing) and every value is still read back. */
static void
test_mixed_sizes (void **state)
{
    fixture_t *f = *state;
    fixture_open (f, 128);
    enum { N = 6600 };
    static char key[1000], value[1000];
    for (int i = 0; i < N; i++) {
        int kl = (i / 200) * 30 + 10, vl = (i / 200) * 30 + 1;
        memset (key, 'k', (size_t)kl);
        snprintf (key + kl, sizeof key - (size_t)kl, "%d", i);
        memset (value, 'a' + i % 26, (size_t)vl);
        value[vl] = 0;
        char *m = NULL;
        assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", key, "F", value, &m), 0);
        assert_string_equal (m, value);
        free (m);
        if (i % 10 == 9)
            assert_int_equal (f->ops.commit (f->ops.arg), 0);
    }
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
    tf_memory_stats_t st;
    tf_memory_stats (f->mem, &st);
    assert_true (st.resets > 0);
    for (int i = 0; i < N; i += 7) {
        int kl = (i / 200) * 30 + 10, vl = (i / 200) * 30 + 1;
        memset (key, 'k', (size_t)kl);
        snprintf (key + kl, sizeof key - (size_t)kl, "%d", i);
        memset (value, 'a' + i % 26, (size_t)vl);
        value[vl] = 0;
        char *m = NULL;
        assert_int_equal (f->ops.merge_union (f->ops.arg, "Account", key, "F", value, &m), 0);
        assert_string_equal (m, value);
        free (m);
    }
    assert_int_equal (f->ops.commit (f->ops.arg), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_match_and_alias, setup, teardown),
        cmocka_unit_test_setup_teardown (test_union_and_write_skip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_long_values, setup, teardown),
        cmocka_unit_test_setup_teardown (test_cache_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown (test_mixed_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_key_filter, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
