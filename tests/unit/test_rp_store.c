/*  Unit tests for rp_store (the replayer's audit trail and dead-letter store), on a real
    RocksDB in a fresh temporary directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/cm_envelope.h"
#include "../../common/cm_event.h"
#include "../../replayer/rp_store.h"

typedef struct {
    char dir[256];     /* temporary directory */
    char path[300];    /* store path inside it */
    rp_store_t *store; /* opened read-write */
} fx_t;

static int
setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/test_rp_store.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->path, sizeof fx->path, "%s/replayer", fx->dir);
    char err[512];
    fx->store = rp_store_open (fx->path, false, err, sizeof err);
    assert_non_null (fx->store);
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fx_t *fx = *state;
    rp_store_destroy (&fx->store);
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", fx->dir);
    free (fx);
    return 0;
}

/*  An envelope with a source field and a target, as the transformer sends it. */
static cm_envelope_t *
make_env (const char *tenant, const char *key)
{
    cm_envelope_t *env = cm_envelope_new (tenant, "vendor", key);
    assert_non_null (env);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    assert_int_equal (cm_envelope_add_field (env, "Name", "Acme Steel"), 0);
    cm_envelope_compute_hash (env);
    char extid[128];
    snprintf (extid, sizeof extid, "%s:vendor:%s", tenant, key);
    assert_int_equal (cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", extid,
                                              "{\"Name\":\"Acme Steel\"}"),
                      0);
    return env;
}

static cm_event_t *
make_event (const cm_envelope_t *env, cm_stage_t stage, cm_outcome_t out, int64_t at)
{
    cm_event_t *ev = cm_event_new (stage, out, env);
    assert_non_null (ev);
    ev->at_ms = at;
    return ev;
}

/*  A failed (or rejected) event carrying the envelope's exact bytes. */
static cm_event_t *
make_failure (const cm_envelope_t *env, cm_outcome_t out, const char *code, int64_t at)
{
    cm_event_t *ev =
        make_event (env, out == CM_OUTCOME_REJECTED ? CM_STAGE_TRANSFORM : CM_STAGE_LOAD, out, at);
    assert_int_equal (cm_event_set_error (ev, CM_ERR_PERMANENT, code,
                                          "Required fields are missing: [Name]", "Name", 400),
                      0);
    char *bytes = NULL;
    size_t size = 0;
    assert_int_equal (cm_envelope_encode (env, &bytes, &size), 0);
    assert_int_equal (cm_event_set_envelope (ev, bytes, size), 0);
    free (bytes);
    return ev;
}

static void
apply (rp_store_t *store, cm_event_t *ev)
{
    assert_int_equal (rp_store_apply (store, ev), 0);
    cm_event_destroy (&ev);
}

typedef struct {
    char outs[16][16]; /* "out" of each entry */
    int64_t at[16];    /* "at" of each entry */
    int n;             /* entries */
} hist_t;

static int
collect (const cJSON *entry, void *arg)
{
    hist_t *h = arg;
    if (h->n >= 16)
        return 1;
    const cJSON *out = cJSON_GetObjectItemCaseSensitive (entry, "out");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive (entry, "at");
    snprintf (h->outs[h->n], sizeof h->outs[0], "%s",
              cJSON_IsString (out) ? out->valuestring : "?");
    h->at[h->n] = cJSON_IsNumber (at) ? (int64_t)at->valuedouble : -1;
    h->n++;
    return 0;
}

static void
test_history_in_order (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "V1");
    cm_envelope_t *other = make_env ("ACME_PRD", "V10"); /* V1 is a prefix of V10 */
    /* arrive out of time order; two in the same millisecond keep arrival order */
    apply (fx->store, make_event (env, CM_STAGE_TRANSFORM, CM_OUTCOME_TRANSFORMED, 2000));
    apply (fx->store, make_event (other, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 1500));
    apply (fx->store, make_event (env, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 1000));
    apply (fx->store, make_event (env, CM_STAGE_LOAD, CM_OUTCOME_RETRYING, 3000));
    apply (fx->store, make_event (env, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 3000));
    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "V1", collect, &h), 0);
    assert_int_equal (h.n, 4);
    assert_string_equal (h.outs[0], "extracted");
    assert_string_equal (h.outs[1], "transformed");
    assert_string_equal (h.outs[2], "retrying");
    assert_string_equal (h.outs[3], "loaded");
    assert_int_equal (h.at[0], 1000);
    assert_int_equal (h.at[3], 3000);
    hist_t h2 = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "V10", collect, &h2), 0);
    assert_int_equal (h2.n, 1);
    hist_t none = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "V", collect, &none), 0);
    assert_int_equal (none.n, 0);
    cm_envelope_destroy (&env);
    cm_envelope_destroy (&other);
}

static void
test_failed_keeps_exact_bytes (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "V7");
    char *bytes = NULL;
    size_t size = 0;
    assert_int_equal (cm_envelope_encode (env, &bytes, &size), 0);
    apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, "REQUIRED_FIELD_MISSING", 5000));
    assert_int_equal (rp_store_flush (fx->store, false), 0);

    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (fx->store, env->id, &dl), 1);
    assert_string_equal (dl->id, env->id);
    assert_string_equal (dl->tenant, "ACME_PRD");
    assert_string_equal (dl->entity, "vendor");
    assert_string_equal (dl->key, "V7");
    assert_string_equal (dl->hash, env->hash);
    assert_string_equal (dl->stage, "load");
    assert_string_equal (dl->outcome, "failed");
    assert_string_equal (dl->error_class, "permanent");
    assert_string_equal (dl->code, "REQUIRED_FIELD_MISSING");
    assert_string_equal (dl->message, "Required fields are missing: [Name]");
    assert_string_equal (dl->fields, "Name");
    assert_string_equal (dl->sobject, "Account");
    assert_string_equal (dl->ext_id, "ACME_PRD:vendor:V7");
    assert_int_equal (dl->http_status, 400);
    assert_int_equal (dl->attempts, 1);
    assert_int_equal (dl->first_failure_ms, 5000);
    assert_int_equal (dl->last_failure_ms, 5000);
    assert_int_equal (dl->env_size, size);
    rp_dead_letter_destroy (&dl);
    assert_null (dl);

    char *stored = NULL;
    size_t stored_size = 0;
    assert_int_equal (rp_store_envelope (fx->store, env->id, &stored, &stored_size), 1);
    assert_int_equal (stored_size, size);
    assert_memory_equal (stored, bytes, size);
    free (stored);
    free (bytes);
    assert_int_equal (rp_store_dead_letter (fx->store, "nope", &dl), 0);
    assert_null (dl);
    cm_envelope_destroy (&env);
}

static void
test_second_failure_counts (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "V8");
    /* both in the same batch: the second must see the first */
    apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, "STRING_TOO_LONG", 1000));
    apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, "FIELD_INTEGRITY_EXCEPTION", 2500));
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (fx->store, env->id, &dl), 1);
    assert_int_equal (dl->attempts, 2);
    assert_int_equal (dl->first_failure_ms, 1000);
    assert_int_equal (dl->last_failure_ms, 2500);
    assert_string_equal (dl->code, "FIELD_INTEGRITY_EXCEPTION");
    rp_dead_letter_destroy (&dl);
    /* and after a commit */
    assert_int_equal (rp_store_flush (fx->store, false), 0);
    apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, "STRING_TOO_LONG", 4000));
    assert_int_equal (rp_store_dead_letter (fx->store, env->id, &dl), 1);
    assert_int_equal (dl->attempts, 3);
    assert_int_equal (dl->first_failure_ms, 1000);
    assert_int_equal (dl->last_failure_ms, 4000);
    rp_dead_letter_destroy (&dl);
    rp_stats_t st;
    rp_store_stats (fx->store, &st);
    assert_int_equal (st.dl_created, 1);
    assert_int_equal (st.dl_updated, 2);
    assert_int_equal (st.dl_open, 1);
    assert_int_equal (st.outcomes[CM_OUTCOME_FAILED], 3);
    cm_envelope_destroy (&env);
}

static void
test_loaded_resolves (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "V9");
    cm_envelope_t *bystander = make_env ("ACME_PRD", "V99");
    apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, "REQUIRED_FIELD_MISSING", 1000));
    apply (fx->store, make_failure (bystander, CM_OUTCOME_REJECTED, "MAPPING_ERROR", 1000));
    /* the replayed envelope lands */
    cm_event_t *ev = make_event (env, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 2000);
    assert_int_equal (cm_event_set_str (ev, &ev->sf_id, "001000000000001AAA"), 0);
    apply (fx->store, ev);
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (fx->store, env->id, &dl), 0);
    char *bytes = NULL;
    size_t size = 0;
    assert_int_equal (rp_store_envelope (fx->store, env->id, &bytes, &size), 0);
    assert_int_equal (rp_store_dead_letter (fx->store, bystander->id, &dl), 1);
    rp_dead_letter_destroy (&dl);

    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "V9", collect, &h), 0);
    assert_int_equal (h.n, 3);
    assert_string_equal (h.outs[0], "failed");
    assert_string_equal (h.outs[1], "resolved");
    assert_string_equal (h.outs[2], "loaded");

    /* a newer version failing after the load stays open through an older load event */
    cm_envelope_t *newer = make_env ("ACME_PRD", "V9");
    assert_int_equal (cm_envelope_add_field (newer, "Phone", "555"), 0);
    cm_envelope_compute_hash (newer);
    apply (fx->store, make_failure (newer, CM_OUTCOME_FAILED, "STRING_TOO_LONG", 5000));
    apply (fx->store, make_event (env, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 4000));
    assert_int_equal (rp_store_dead_letter (fx->store, newer->id, &dl), 1);
    rp_dead_letter_destroy (&dl);

    rp_stats_t st;
    rp_store_stats (fx->store, &st);
    assert_int_equal (st.dl_resolved, 1);
    assert_int_equal (st.dl_open, 2);
    assert_int_equal (st.outcomes[CM_OUTCOME_LOADED], 2);
    cm_envelope_destroy (&env);
    cm_envelope_destroy (&bystander);
    cm_envelope_destroy (&newer);
}

static void
test_lookup_by_sf_id (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_TST", "V00042/0");
    apply (fx->store, make_event (env, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 100));
    cm_event_t *ev = make_event (env, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 200);
    assert_int_equal (cm_event_set_str (ev, &ev->sf_id, "001Dn00000AbCdEIAV"), 0);
    ev->created = true;
    apply (fx->store, ev);
    char *t = NULL, *e = NULL, *k = NULL;
    assert_int_equal (rp_store_lookup_sf_id (fx->store, "001Dn00000AbCdEIAV", &t, &e, &k), 1);
    assert_string_equal (t, "ACME_TST");
    assert_string_equal (e, "vendor");
    assert_string_equal (k, "V00042/0");
    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, t, e, k, collect, &h), 0);
    assert_int_equal (h.n, 2);
    free (t), free (e), free (k);
    assert_int_equal (rp_store_lookup_sf_id (fx->store, "001000000000000XXX", &t, &e, &k), 0);
    assert_null (t);
    cm_envelope_destroy (&env);
}

static int
count_dl (const rp_dead_letter_t *dl, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static int
filtered (rp_store_t *store, rp_filter_t f)
{
    int n = 0;
    assert_int_equal (rp_store_dead_letters (store, &f, count_dl, &n), 0);
    return n;
}

static void
test_list_filters (void **state)
{
    fx_t *fx = *state;
    const char *tenants[] = {"ACME_PRD", "ACME_PRD", "ACME_PRD", "BETA_PRD"};
    const char *codes[] = {"REQUIRED_FIELD_MISSING", "STRING_TOO_LONG", "REQUIRED_FIELD_MISSING",
                           "REQUIRED_FIELD_MISSING"};
    int64_t at[] = {1000, 2000, 3000, 4000};
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf (key, sizeof key, "V%d", i);
        cm_envelope_t *env = make_env (tenants[i], key);
        apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, codes[i], at[i]));
        cm_envelope_destroy (&env);
    }
    assert_int_equal (filtered (fx->store, (rp_filter_t){0}), 4);
    assert_int_equal (filtered (fx->store, (rp_filter_t){.tenant = "ACME_PRD"}), 3);
    assert_int_equal (filtered (fx->store, (rp_filter_t){.tenant = "ACME"}), 0);
    assert_int_equal (filtered (fx->store, (rp_filter_t){.entity = "customer"}), 0);
    assert_int_equal (
        filtered (fx->store, (rp_filter_t){.tenant = "ACME_PRD", .code = "REQUIRED_FIELD_MISSING"}),
        2);
    assert_int_equal (filtered (fx->store, (rp_filter_t){.since_ms = 2000, .until_ms = 4000}), 2);
    assert_int_equal (filtered (fx->store, (rp_filter_t){.text = "V3"}), 1);
    int n = 0;
    assert_int_equal (rp_store_dead_letters (fx->store, NULL, count_dl, &n), 0);
    assert_int_equal (n, 4);
}

static void
test_stats_persist_and_read_only (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "V5");
    apply (fx->store, make_event (env, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 1));
    apply (fx->store, make_event (env, CM_STAGE_TRANSFORM, CM_OUTCOME_TRANSFORMED, 2));
    apply (fx->store, make_failure (env, CM_OUTCOME_FAILED, "DUPLICATE_VALUE", 3));
    rp_store_count_bad_event (fx->store);
    assert_int_equal (rp_store_flush (fx->store, true), 0);

    /* a reader while the writer holds the database, as the CLI beside the daemon */
    char err[512];
    rp_store_t *ro = rp_store_open (fx->path, true, err, sizeof err);
    assert_non_null (ro);
    rp_stats_t st;
    rp_store_stats (ro, &st);
    assert_int_equal (st.outcomes[CM_OUTCOME_EXTRACTED], 1);
    assert_int_equal (st.outcomes[CM_OUTCOME_TRANSFORMED], 1);
    assert_int_equal (st.outcomes[CM_OUTCOME_FAILED], 1);
    assert_int_equal (st.bad_events, 1);
    assert_int_equal (st.dl_open, 1);
    assert_int_equal (st.audit, 3);
    assert_int_equal (filtered (ro, (rp_filter_t){0}), 1);
    cm_event_t *ev = make_event (env, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 4);
    assert_int_equal (rp_store_apply (ro, ev), -1);
    assert_non_null (strstr (rp_store_error (ro), "read-only"));
    cm_event_destroy (&ev);
    rp_store_destroy (&ro);

    /* a second writer is refused with the path named */
    rp_store_t *rw = rp_store_open (fx->path, false, err, sizeof err);
    assert_null (rw);
    assert_non_null (strstr (err, fx->path));

    /* reopen: counters and sequence go on */
    rp_store_destroy (&fx->store);
    fx->store = rp_store_open (fx->path, false, err, sizeof err);
    assert_non_null (fx->store);
    rp_store_stats (fx->store, &st);
    assert_int_equal (st.audit, 3);
    assert_int_equal (st.bad_events, 1);
    apply (fx->store, make_event (env, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 5));
    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "V5", collect, &h), 0);
    assert_int_equal (h.n, 5); /* 3 + resolved + loaded */
    assert_string_equal (h.outs[3], "resolved");
    assert_string_equal (h.outs[4], "loaded");
    cm_envelope_destroy (&env);
}

static void
test_purge_is_audited (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "V6");
    apply (fx->store, make_failure (env, CM_OUTCOME_REJECTED, "MAPPING_ERROR", 1000));
    assert_int_equal (rp_store_purge (fx->store, env->id, "vendor deleted upstream"), 1);
    assert_int_equal (rp_store_purge (fx->store, env->id, "again"), 0);
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (fx->store, env->id, &dl), 0);
    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "V6", collect, &h), 0);
    assert_int_equal (h.n, 2);
    assert_string_equal (h.outs[1], "purged");
    rp_stats_t st;
    rp_store_stats (fx->store, &st);
    assert_int_equal (st.dl_purged, 1);
    assert_int_equal (st.dl_open, 0);
    cm_envelope_destroy (&env);
}

static void
test_open_unwritable_dir_fails (void **state)
{
    fx_t *fx = *state;
    char err[512] = "";
    /* a path under a regular file can never be created */
    char file[300], path[320];
    snprintf (file, sizeof file, "%s/plainfile", fx->dir);
    FILE *f = fopen (file, "w");
    assert_non_null (f);
    fclose (f);
    snprintf (path, sizeof path, "%s/replayer", file);
    rp_store_t *s = rp_store_open (path, false, err, sizeof err);
    assert_null (s);
    assert_true (strlen (err) > 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_history_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown (test_failed_keeps_exact_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_second_failure_counts, setup, teardown),
        cmocka_unit_test_setup_teardown (test_loaded_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown (test_lookup_by_sf_id, setup, teardown),
        cmocka_unit_test_setup_teardown (test_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown (test_stats_persist_and_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown (test_purge_is_audited, setup, teardown),
        cmocka_unit_test_setup_teardown (test_open_unwritable_dir_fails, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
