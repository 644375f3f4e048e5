/*  Unit tests for rp_cli (the replayer's operator commands) on a real store in a
    temporary directory, output captured in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "test_util.h"
#include "../../common/cm_envelope.h"
#include "../../common/cm_event.h"
#include "../../replayer/rp_cli.h"
#include "../../replayer/rp_store.h"

static char s_dir[256];
static char s_id_acme[33]; /* dead letter of ACME_PRD:vendor:V1 */
static char s_id_beta[33]; /* dead letter of BETA_PRD:vendor:V2 */
static char *s_bytes_acme; /* its envelope bytes */
static size_t s_size_acme; /* their size */

typedef struct {
    char *out; /* stdout text */
    char *err; /* stderr text */
    int rc;    /* exit status */
} run_t;

/*  Runs the CLI with a NULL-terminated argument list. */
static run_t
run (const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start (ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg (ap, const char *))
        argv[argc++] = (char *)a;
    va_end (ap);
    argv[argc] = NULL;
    run_t r = {0};
    size_t on = 0, en = 0;
    FILE *out = open_memstream (&r.out, &on);
    FILE *err = open_memstream (&r.err, &en);
    /* no daemon listens here: purge falls back to the store, replay fails clearly */
    char ctl[300];
    snprintf (ctl, sizeof ctl, "ipc://%s/nobody.ctl", s_dir);
    rp_cli_config_t cfg = {s_dir, ctl, 200, NULL};
    r.rc = rp_cli_run (&cfg, argc, argv, out, err);
    fclose (out);
    fclose (err);
    return r;
}

static void
run_free (run_t *r)
{
    free (r->out);
    free (r->err);
}

static void
add_failure (rp_store_t *store, const char *tenant, const char *key, const char *code, char *id_out,
             char **bytes_out, size_t *size_out)
{
    cm_envelope_t *env = cm_envelope_new (tenant, "vendor", key);
    assert_non_null (env);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    assert_int_equal (cm_envelope_add_field (env, "Name", ""), 0);
    cm_envelope_compute_hash (env);
    assert_int_equal (cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", key, "{}"), 0);
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_FAILED, env);
    assert_int_equal (cm_event_set_error (ev, CM_ERR_PERMANENT, code,
                                          "Required fields are missing: [Name]", "Name", 400),
                      0);
    char *bytes = NULL;
    size_t size = 0;
    assert_int_equal (cm_envelope_encode (env, &bytes, &size), 0);
    assert_int_equal (cm_event_set_envelope (ev, bytes, size), 0);
    assert_int_equal (rp_store_apply (store, ev), 0);
    strcpy (id_out, env->id);
    if (bytes_out) {
        *bytes_out = bytes;
        *size_out = size;
    } else
        free (bytes);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
}

static int
setup (void **state)
{
    test_tmpdir (s_dir, sizeof s_dir, "test_rp_cli");
    char path[300], err[512];
    snprintf (path, sizeof path, "%s/replayer", s_dir);
    rp_store_t *store = rp_store_open (path, false, err, sizeof err);
    assert_non_null (store);
    add_failure (store, "ACME_PRD", "V1", "REQUIRED_FIELD_MISSING", s_id_acme, &s_bytes_acme,
                 &s_size_acme);
    add_failure (store, "BETA_PRD", "V2", "STRING_TOO_LONG", s_id_beta, NULL, NULL);
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", "V3");
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_LOADED, env);
    assert_int_equal (cm_event_set_str (ev, &ev->sf_id, "001Dn00000AbCdEIAV"), 0);
    assert_int_equal (rp_store_apply (store, ev), 0);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
    /* a record the mapping routes nowhere */
    env = cm_envelope_new ("ACME_PRD", "customer", "C1/1");
    ev = cm_event_new (CM_STAGE_TRANSFORM, CM_OUTCOME_SKIPPED, env);
    assert_int_equal (rp_store_apply (store, ev), 0);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
    rp_store_destroy (&store);
    return 0;
}

static int
teardown (void **state)
{
    test_rmtree (s_dir);
    free (s_bytes_acme);
    s_bytes_acme = NULL;
    return 0;
}

static void
test_list_table (void **state)
{
    run_t r = run ("list", NULL);
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "ID"));
    assert_non_null (strstr (r.out, s_id_acme));
    assert_non_null (strstr (r.out, s_id_beta));
    assert_non_null (strstr (r.out, "REQUIRED_FIELD_MISSING"));
    assert_non_null (strstr (r.out, "Required fields are missing"));
    assert_non_null (strstr (r.out, "2 dead letters"));
    run_free (&r);

    r = run ("list", "--tenant", "BETA_PRD", NULL);
    assert_int_equal (r.rc, 0);
    assert_null (strstr (r.out, s_id_acme));
    assert_non_null (strstr (r.out, s_id_beta));
    assert_non_null (strstr (r.out, "STRING_TOO_LONG"));
    run_free (&r);

    r = run ("list", "--code", "NO_SUCH_CODE", NULL);
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "0 dead letters"));
    run_free (&r);
}

static void
test_list_json (void **state)
{
    run_t r = run ("list", "--json", "--code", "REQUIRED_FIELD_MISSING", NULL);
    assert_int_equal (r.rc, 0);
    cJSON *a = cJSON_Parse (r.out);
    assert_true (cJSON_IsArray (a));
    assert_int_equal (cJSON_GetArraySize (a), 1);
    cJSON *o = cJSON_GetArrayItem (a, 0);
    assert_string_equal (cJSON_GetObjectItem (o, "id")->valuestring, s_id_acme);
    assert_string_equal (cJSON_GetObjectItem (o, "tenant")->valuestring, "ACME_PRD");
    assert_string_equal (cJSON_GetObjectItem (o, "key")->valuestring, "V1");
    assert_int_equal (cJSON_GetObjectItem (o, "attempts")->valueint, 1);
    assert_int_equal (cJSON_GetObjectItem (o, "http_status")->valueint, 400);
    cJSON_Delete (a);
    run_free (&r);
}

static void
test_show (void **state)
{
    run_t r = run ("show", "0123456789abcdef0123456789abcdef", NULL);
    assert_int_equal (r.rc, 1);
    assert_non_null (strstr (r.err, "no dead letter with id 0123456789abcdef0123456789abcdef"));
    assert_string_equal (r.out, "");
    run_free (&r);

    r = run ("show", s_id_acme, NULL);
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "ACME_PRD:vendor:V1"));
    assert_non_null (strstr (r.out, "REQUIRED_FIELD_MISSING"));
    assert_non_null (strstr (r.out, "VendNum = V1"));
    run_free (&r);

    r = run ("show", s_id_acme, "--json", NULL);
    assert_int_equal (r.rc, 0);
    cJSON *o = cJSON_Parse (r.out);
    assert_true (cJSON_IsObject (o));
    assert_string_equal (
        cJSON_GetObjectItem (cJSON_GetObjectItem (o, "source"), "VendNum")->valuestring, "V1");
    cJSON_Delete (o);
    run_free (&r);

    r = run ("show", NULL);
    assert_int_equal (r.rc, 2);
    run_free (&r);
}

static void
test_history (void **state)
{
    run_t r = run ("history", "ACME_PRD:vendor:V1", NULL);
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "failed"));
    assert_non_null (strstr (r.out, "REQUIRED_FIELD_MISSING"));
    run_free (&r);

    r = run ("history", "001Dn00000AbCdEIAV", "--json", NULL);
    assert_int_equal (r.rc, 0);
    cJSON *a = cJSON_Parse (r.out);
    assert_int_equal (cJSON_GetArraySize (a), 1);
    assert_string_equal (cJSON_GetObjectItem (cJSON_GetArrayItem (a, 0), "key")->valuestring, "V3");
    cJSON_Delete (a);
    run_free (&r);

    r = run ("history", "001000000000000XXX", NULL);
    assert_int_equal (r.rc, 1);
    assert_non_null (strstr (r.err, "001000000000000XXX"));
    run_free (&r);
}

static void
test_stats_and_export (void **state)
{
    run_t r = run ("stats", "--json", NULL);
    assert_int_equal (r.rc, 0);
    cJSON *o = cJSON_Parse (r.out);
    assert_int_equal (cJSON_GetObjectItem (o, "failed")->valueint, 2);
    assert_int_equal (cJSON_GetObjectItem (o, "loaded")->valueint, 1);
    assert_int_equal (cJSON_GetObjectItem (o, "dl_open")->valueint, 2);
    assert_int_equal (cJSON_GetObjectItem (o, "skipped")->valueint, 1);
    assert_int_equal (cJSON_GetObjectItem (o, "audit_expired")->valueint, 0);
    cJSON_Delete (o);
    run_free (&r);

    r = run ("stats", NULL);
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "\nskipped      1\n"));
    assert_non_null (strstr (r.out, "\naudit_expired 0\n"));
    run_free (&r);

    r = run ("export", "--tenant", "ACME_PRD", NULL);
    assert_int_equal (r.rc, 0);
    char *nl = strchr (r.out, '\n');
    assert_non_null (nl);
    assert_string_equal (nl + 1, ""); /* one line */
    o = cJSON_Parse (r.out);
    const char *b64 = cJSON_GetObjectItem (o, "envelope_b64")->valuestring;
    unsigned char bin[4096];
    size_t bin_len = 0;
    assert_int_equal (sodium_base642bin (bin, sizeof bin, b64, strlen (b64), NULL, &bin_len, NULL,
                                         sodium_base64_VARIANT_ORIGINAL),
                      0);
    assert_int_equal (bin_len, s_size_acme);
    assert_memory_equal (bin, s_bytes_acme, s_size_acme);
    cJSON_Delete (o);
    run_free (&r);

    r = run ("export", "--audit", NULL);
    assert_int_equal (r.rc, 0);
    int lines = 0;
    for (char *p = r.out; (p = strchr (p, '\n')); p++)
        lines++;
    assert_int_equal (lines, 4);
    run_free (&r);
}

static void
test_purge_without_daemon (void **state)
{
    run_t r = run ("purge", s_id_beta, NULL);
    assert_int_equal (r.rc, 2); /* no reason */
    run_free (&r);
    r = run ("purge", s_id_beta, "--reason", "vendor closed", NULL);
    assert_int_equal (r.rc, 0);
    run_free (&r);
    r = run ("show", s_id_beta, NULL);
    assert_int_equal (r.rc, 1);
    run_free (&r);
    r = run ("history", "BETA_PRD:vendor:V2", NULL);
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "purged"));
    assert_non_null (strstr (r.out, "vendor closed"));
    run_free (&r);
    r = run ("replay", s_id_acme, NULL);
    assert_int_equal (r.rc, 1);
    assert_non_null (strstr (r.err, "did not answer"));
    run_free (&r);
}

static void
test_usage_errors (void **state)
{
    run_t r = run ("frobnicate", NULL);
    assert_int_equal (r.rc, 2);
    run_free (&r);
    r = run ("list", "--since", "yesterday", NULL);
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err, "bad time"));
    run_free (&r);
    r = run ("list", "--bogus", "x", NULL);
    assert_int_equal (r.rc, 2);
    run_free (&r);
}

static void
test_no_store (void **state)
{
    char saved[256];
    strcpy (saved, s_dir);
    strcpy (s_dir, "/nonexistent/mlc-test");
    run_t r = run ("list", NULL);
    strcpy (s_dir, saved);
    assert_int_equal (r.rc, 1);
    assert_non_null (strstr (r.err, "/nonexistent/mlc-test/replayer"));
    run_free (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_list_table, setup, teardown),
        cmocka_unit_test_setup_teardown (test_list_json, setup, teardown),
        cmocka_unit_test_setup_teardown (test_show, setup, teardown),
        cmocka_unit_test_setup_teardown (test_history, setup, teardown),
        cmocka_unit_test_setup_teardown (test_stats_and_export, setup, teardown),
        cmocka_unit_test_setup_teardown (test_purge_without_daemon, setup, teardown),
        cmocka_unit_test_setup_teardown (test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown (test_no_store, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
