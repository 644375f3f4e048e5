/*  Unit tests for tf_ops: the memory wrappers forward every callback, and a failed commit
    makes the transformer unhealthy until a commit succeeds again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_daemon.h"
#include "tf_ops.h"

static int s_fail;  /* the fake commit fails while set */
static int s_calls; /* fake callbacks called */
static int s_arg;   /* the fake's own argument */

static int
f_merge (void *arg, const char *a, const char *b, const char *c, const char *d, char **m)
{
    assert_ptr_equal (arg, &s_arg);
    s_calls++;
    *m = NULL;
    return 0;
}
static int
f_match (void *arg, const char *a, const char *b, const char *c, const char *d, char **acc)
{
    assert_ptr_equal (arg, &s_arg);
    s_calls++;
    *acc = NULL;
    return 0;
}
static int
f_resolve (void *arg, const char *a, const char *b, char **acc)
{
    assert_ptr_equal (arg, &s_arg);
    s_calls++;
    *acc = NULL;
    return 0;
}
static int
f_remember (void *arg, const char *a, const char *b)
{
    assert_ptr_equal (arg, &s_arg);
    s_calls++;
    return 0;
}
static int
f_sobject_of (void *arg, const char *a, char **s)
{
    assert_ptr_equal (arg, &s_arg);
    s_calls++;
    *s = NULL;
    return 0;
}
static int
f_commit (void *arg)
{
    assert_ptr_equal (arg, &s_arg);
    s_calls++;
    return s_fail ? -1 : 0;
}

static void
test_commit_failure_is_unhealthy (void **state)
{
    char dir[] = "/tmp/test_tf_ops.XXXXXX", path[128], err[512];
    assert_non_null (mkdtemp (dir));
    snprintf (path, sizeof path, "%s/c.json", dir);
    FILE *f = fopen (path, "w");
    fputs ("{\"metrics\":{\"listen\":\"127.0.0.1:0\"}}", f);
    fclose (f);
    cm_config_t *cfg = cm_config_load (path, err, sizeof err);
    assert_non_null (cfg);
    cm_daemon_t *d = cm_daemon_new ("transformer", NULL, cfg, err, sizeof err);
    assert_non_null (d);
    tf_memory_ops_t mem = {f_merge, f_match, f_resolve, f_remember, f_sobject_of, f_commit, &s_arg};
    tf_ops_t *ops = tf_ops_new (d, NULL, &mem, 0);
    assert_non_null (ops);
    assert_ptr_not_equal (mem.arg, &s_arg);
    char *out = NULL;
    assert_int_equal (mem.merge_union (mem.arg, "Account", "x", "f", "v", &out), 0);
    assert_int_equal (mem.match (mem.arg, "Account", "m", "vendor", "k", &out), 0);
    assert_int_equal (mem.resolve (mem.arg, "Account", "k", &out), 0);
    assert_int_equal (mem.remember (mem.arg, "x", "Account"), 0);
    assert_int_equal (mem.sobject_of (mem.arg, "x", &out), 0);
    assert_int_equal (mem.commit (mem.arg), 0);
    assert_int_equal (s_calls, 6);

    snprintf (path, sizeof path, "{\"metrics\":{\"listen\":\"127.0.0.1:%d\"}}",
              cm_metrics_port (cm_daemon_metrics (d)));
    char probe_path[160];
    snprintf (probe_path, sizeof probe_path, "%s/p.json", dir);
    f = fopen (probe_path, "w");
    fputs (path, f);
    fclose (f);
    cm_config_t *probe = cm_config_load (probe_path, err, sizeof err);
    assert_non_null (probe);
    assert_int_equal (cm_daemon_health_command (probe, "transformer"), 0);
    s_fail = 1;
    assert_int_equal (mem.commit (mem.arg), -1);
    assert_int_equal (cm_daemon_health_command (probe, "transformer"), 1);
    char *text = cm_metrics_render (cm_daemon_metrics (d));
    assert_non_null (strstr (text, "class=\"store\"} 1\n"));
    free (text);
    s_fail = 0;
    assert_int_equal (mem.commit (mem.arg), 0);
    assert_int_equal (cm_daemon_health_command (probe, "transformer"), 0);

    cm_daemon_destroy (&d);
    tf_ops_destroy (&ops);
    assert_null (ops);
    cm_config_destroy (&probe);
    cm_config_destroy (&cfg);
    unlink (probe_path);
    snprintf (path, sizeof path, "%s/c.json", dir);
    unlink (path);
    rmdir (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_commit_failure_is_unhealthy),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
