/*  Unit tests for cm_map (the replayer's in-memory byte-string hash map). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cm_map.h"

static int s_freed; /* values freed by the map */

static void
count_free (void *value)
{
    s_freed++;
    free (value);
}

static char *
dup (const char *s)
{
    char *d = strdup (s);
    assert_non_null (d);
    return d;
}

static void
test_put_get_replace_delete (void **state)
{
    s_freed = 0;
    cm_map_t *m = cm_map_new (count_free);
    assert_non_null (m);
    bool found = true;
    assert_null (cm_map_get (m, "a", 1, &found));
    assert_false (found);
    /* keys are bytes: NULs inside, and one key a prefix of another */
    assert_int_equal (cm_map_put (m, "T\0E\0K\0", 6, dup ("one")), 0);
    assert_int_equal (cm_map_put (m, "T\0E\0K1\0", 7, dup ("two")), 0);
    assert_int_equal (cm_map_put (m, "T", 1, NULL), 0); /* NULL is a value */
    assert_int_equal (cm_map_size (m), 3);
    assert_string_equal (cm_map_get (m, "T\0E\0K\0", 6, &found), "one");
    assert_true (found);
    assert_string_equal (cm_map_get (m, "T\0E\0K1\0", 7, &found), "two");
    assert_null (cm_map_get (m, "T", 1, &found));
    assert_true (found);
    assert_null (cm_map_get (m, "T\0E\0K", 5, &found));
    assert_false (found);
    /* replacing frees the old value */
    assert_int_equal (cm_map_put (m, "T\0E\0K\0", 6, dup ("uno")), 0);
    assert_int_equal (s_freed, 1);
    assert_string_equal (cm_map_get (m, "T\0E\0K\0", 6, &found), "uno");
    assert_int_equal (cm_map_size (m), 3);
    assert_true (cm_map_delete (m, "T\0E\0K\0", 6));
    assert_false (cm_map_delete (m, "T\0E\0K\0", 6));
    assert_int_equal (s_freed, 2);
    assert_int_equal (cm_map_size (m), 2);
    cm_map_destroy (&m);
    assert_null (m);
    assert_int_equal (s_freed, 3); /* "two"; the NULL value is not passed */
    cm_map_destroy (&m);           /* accepts NULL */
}

static void
test_many_keys_grow_and_clear (void **state)
{
    s_freed = 0;
    cm_map_t *m = cm_map_new (count_free);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf (key, sizeof key, "k%d", i);
        char *v = malloc (sizeof (int));
        assert_non_null (v);
        memcpy (v, &i, sizeof i);
        assert_int_equal (cm_map_put (m, key, (size_t)n, v), 0);
    }
    assert_int_equal (cm_map_size (m), 20000);
    bool found = false;
    for (int i = 0; i < 20000; i += 7) {
        int n = snprintf (key, sizeof key, "k%d", i);
        int *v = cm_map_get (m, key, (size_t)n, &found);
        assert_true (found);
        assert_int_equal (*v, i);
    }
    for (int i = 0; i < 20000; i += 2) {
        int n = snprintf (key, sizeof key, "k%d", i);
        assert_true (cm_map_delete (m, key, (size_t)n));
    }
    assert_int_equal (cm_map_size (m), 10000);
    assert_null (cm_map_get (m, "k2", 2, &found));
    assert_false (found);
    assert_non_null (cm_map_get (m, "k3", 2, &found));
    cm_map_clear (m);
    assert_int_equal (cm_map_size (m), 0);
    assert_int_equal (s_freed, 20000);
    assert_int_equal (cm_map_put (m, "", 0, dup ("empty key")), 0);
    assert_string_equal (cm_map_get (m, "", 0, &found), "empty key");
    cm_map_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_put_get_replace_delete),
        cmocka_unit_test (test_many_keys_grow_and_clear),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
