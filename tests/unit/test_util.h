/*  test_util: small helpers shared by the unit tests (header only, static inline).

    Include it after <cmocka.h>:
        test_tmpdir (dir, sizeof dir, "test_x");   makes /tmp/test_x.XXXXXX, or fails the test
        test_rmtree (dir);                          removes it and everything in it
    test_rmtree walks the tree itself (nftw, no shell): no quoting problem with odd names, and
    no fork per test. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/*  Makes a fresh directory /tmp/NAME.XXXXXX into dir (cap bytes); fails the test when it
    cannot. */
static inline void
test_tmpdir (char *dir, size_t cap, const char *name)
{
    int n = snprintf (dir, cap, "/tmp/%s.XXXXXX", name);
    assert_true (n > 0 && (size_t)n < cap);
    assert_non_null (mkdtemp (dir));
}

static inline int
test_rmtree_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (flag == FTW_DP ? rmdir (path) : unlink (path)) == 0 || errno == ENOENT ? 0 : -1;
}

/*  Removes dir and everything below it (as rm -rf: a missing dir is no error). Returns 0,
    or -1 after saying on stderr what it could not remove. */
static inline int
test_rmtree (const char *dir)
{
    struct stat st;
    if (lstat (dir, &st) != 0 && errno == ENOENT)
        return 0;
    if (nftw (dir, test_rmtree_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf (stderr, "could not remove %s\n", dir);
        return -1;
    }
    return 0;
}

#endif
