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

#include "test_util.h"
#include "../../common/cm_envelope.h"
#include "../../common/cm_event.h"
#include "../../common/cm_store.h"
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
    test_tmpdir (fx->dir, sizeof fx->dir, "test_rp_store");
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
    test_rmtree (fx->dir);
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

/*  Dead letters are found again after a reopen (the in-memory index is loaded from the
    store), and a load in the same batch as the failure resolves it. */
static void
test_resolve_after_reopen (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *a = make_env ("ACME_PRD", "R1");
    cm_envelope_t *b = make_env ("ACME_PRD", "R2");
    apply (fx->store, make_failure (a, CM_OUTCOME_FAILED, "REQUIRED_FIELD_MISSING", 1000));
    apply (fx->store, make_failure (b, CM_OUTCOME_REJECTED, "MAPPING_ERROR", 1000));
    rp_store_destroy (&fx->store);
    char err[512];
    fx->store = rp_store_open (fx->path, false, err, sizeof err);
    assert_non_null (fx->store);
    apply (fx->store, make_event (a, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 2000));
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (fx->store, a->id, &dl), 0);
    assert_int_equal (rp_store_dead_letter (fx->store, b->id, &dl), 1);
    rp_dead_letter_destroy (&dl);
    /* failure, second failure and load of one record inside one batch */
    cm_envelope_t *c = make_env ("ACME_PRD", "R3");
    apply (fx->store, make_failure (c, CM_OUTCOME_FAILED, "STRING_TOO_LONG", 3000));
    apply (fx->store, make_failure (c, CM_OUTCOME_FAILED, "STRING_TOO_LONG", 3100));
    apply (fx->store, make_event (c, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 3200));
    assert_true (rp_store_pending (fx->store) > 0);
    rp_stats_t st;
    rp_store_stats (fx->store, &st);
    assert_int_equal (st.dl_created, 3);
    assert_int_equal (st.dl_updated, 1);
    assert_int_equal (st.dl_resolved, 2);
    assert_int_equal (st.dl_open, 1);
    assert_int_equal (rp_store_dead_letter (fx->store, c->id, &dl), 0);
    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "R3", collect, &h), 0);
    assert_int_equal (h.n, 4);
    assert_string_equal (h.outs[2], "resolved");
    assert_string_equal (h.outs[3], "loaded");
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&b);
    cm_envelope_destroy (&c);
}

typedef struct {
    cJSON *entries[8]; /* copies of the entries */
    int n;             /* entries */
} copy_t;

static int
copy_entry (const cJSON *entry, void *arg)
{
    copy_t *c = arg;
    if (c->n < 8)
        c->entries[c->n++] = cJSON_Duplicate (entry, true);
    return 0;
}

/*  Audit entries are written without cJSON: strings with quotes, control characters and
    UTF-8 and large integers read back exactly; an entry in the old cJSON form (numbers
    printed as doubles) written by an earlier version reads the same. */
typedef struct {
    char *text; /* the last value seen */
    int n;      /* values seen */
} stored_t;

static int
stored_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    stored_t *st = arg;
    free (st->text);
    st->text = strndup (val, vlen);
    st->n++;
    return 0;
}

/*  A key of the old layout, in the default family: "a/" or "s/", then the rest. */
static void
put_legacy (cm_store_t *db, const char *pre, const char *rest, size_t rlen, const char *val,
            size_t vlen)
{
    char key[128];
    memcpy (key, pre, 2);
    memcpy (key + 2, rest, rlen);
    assert_int_equal (cm_store_put (db, key, 2 + rlen, val, vlen, false), 0);
}

static int
count_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(size_t *)arg)++;
    return 0;
}

#define LEGACY_N 25001 /* more than two chunks of the move */

typedef struct {
    size_t n;     /* entries seen */
    double first; /* "seq" of the first */
    double last;  /* of the last */
    bool keys_ok; /* every entry has the record's key back */
} seen_t;

static int
seen_entry (const cJSON *entry, void *arg)
{
    seen_t *sn = arg;
    double seq = cJSON_GetObjectItem (entry, "seq")->valuedouble;
    if (sn->n++ == 0)
        sn->first = seq, sn->keys_ok = true;
    sn->last = seq;
    const cJSON *key = cJSON_GetObjectItem (entry, "key");
    sn->keys_ok = sn->keys_ok && cJSON_IsString (key) && strcmp (key->valuestring, "V1") == 0;
    return 0;
}

//  The history of V1 and its Salesforce Id read back whole and in order.
static void
check_legacy_reads (const char *path, bool read_only)
{
    char err[512];
    rp_store_t *st = rp_store_open (path, read_only, err, sizeof err);
    assert_non_null (st);
    seen_t sn = {0};
    assert_int_equal (rp_store_history (st, "ACME_PRD", "vendor", "V1", seen_entry, &sn), 0);
    assert_int_equal (sn.n, LEGACY_N);
    assert_true (sn.first == 0.0 && sn.last == LEGACY_N - 1.0 && sn.keys_ok);
    char *t = NULL, *e = NULL, *key = NULL;
    assert_int_equal (rp_store_lookup_sf_id (st, "001000000000001AAA", &t, &e, &key), 1);
    assert_string_equal (key, "V1");
    free (t), free (e), free (key);
    rp_store_destroy (&st);
}

/*  Stores written before the audit family: a writable open moves the a/ entries and the
    s/ index there; a read-only open before that reads them where they are. */
static void
test_audit_family_migration (void **state)
{
    fx_t *fx = *state;
    rp_store_destroy (&fx->store);
    test_rmtree (fx->path);
    char err[512];
    cm_store_t *db = cm_store_open (fx->path, false, err, sizeof err);
    assert_non_null (db);
    const char rec[] = "ACME_PRD\0vendor\0V1\0";
    char k[sizeof rec - 1 + 16];
    memcpy (k, rec, sizeof rec - 1);
    for (uint64_t i = 0; i < LEGACY_N; i++) {
        int64_t at_ms = INT64_C (1764197740000) + (int64_t)i;
        uint64_t at = (uint64_t)at_ms ^ (UINT64_C (1) << 63);
        for (int b = 0; b < 8; b++) {
            k[sizeof rec - 1 + (size_t)b] = (char)(at >> (56 - 8 * b));
            k[sizeof rec - 1 + 8 + (size_t)b] = (char)(i >> (56 - 8 * b));
        }
        char v[96];
        int vl = snprintf (v, sizeof v, "{\"at\":%lld,\"stage\":\"load\",\"seq\":%llu}",
                           (long long)at_ms, (unsigned long long)i);
        put_legacy (db, "a/", k, sizeof k, v, (size_t)vl);
    }
    put_legacy (db, "s/", "001000000000001AAA", 18, rec, sizeof rec - 2);
    cm_store_destroy (&db);

    check_legacy_reads (fx->path, true);                          /* not moved yet */
    fx->store = rp_store_open (fx->path, false, err, sizeof err); /* moves */
    assert_non_null (fx->store);
    rp_store_destroy (&fx->store);
    check_legacy_reads (fx->path, true);
    check_legacy_reads (fx->path, false);

    /* nothing is left behind, nothing doubled */
    db = cm_store_open (fx->path, true, err, sizeof err);
    assert_non_null (db);
    size_t in_default = 0, in_audit = 0;
    assert_int_equal (cm_store_scan (db, "a/", 2, NULL, 0, count_one, &in_default), 0);
    assert_int_equal (cm_store_scan (db, "s/", 2, NULL, 0, count_one, &in_default), 0);
    assert_int_equal (cm_store_scan_in (db, 1, "", 0, NULL, 0, count_one, &in_audit), 0);
    assert_int_equal (in_default, 0);
    assert_int_equal (in_audit, LEGACY_N + 1);
    cm_store_destroy (&db);
    fx->store = rp_store_open (fx->path, false, err, sizeof err);
    assert_non_null (fx->store);
}

static void
test_audit_text_form (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *env = make_env ("ACME_PRD", "Q\"1\\");
    cm_event_t *ev = make_failure (env, CM_OUTCOME_FAILED, "CODE", INT64_C (1764197740123));
    assert_int_equal (
        cm_event_set_str (ev, &ev->message, "bad \"name\"\n\ttab \x01 caf\xc3\xa9 \\ end"), 0);
    ev->attempt = 4000000000u;
    apply (fx->store, ev);
    rp_store_destroy (&fx->store);

    /* an entry as the cJSON writer stored it, before the record's own */
    char err[512];
    cm_store_t *db = cm_store_open (fx->path, false, err, sizeof err);
    assert_non_null (db);
    /* the record's identity is in the key, not stored again in the entry; the entries
       are in the audit family (opened here as the store's first other family: id 1) */
    stored_t st = {0};
    assert_int_equal (cm_store_scan (db, "a/", 2, NULL, 0, stored_one, &st), 0);
    assert_int_equal (st.n, 0);
    assert_int_equal (cm_store_scan_in (db, 1, "a/", 2, NULL, 0, stored_one, &st), 0);
    assert_int_equal (st.n, 1);
    assert_null (strstr (st.text, "\"tenant\""));
    assert_null (strstr (st.text, "\"entity\""));
    assert_null (strstr (st.text, "\"key\""));
    free (st.text);
    cJSON *old = cJSON_CreateObject ();
    cJSON_AddNumberToObject (old, "at", 1764197740000.0);
    cJSON_AddStringToObject (old, "stage", "extract");
    cJSON_AddStringToObject (old, "out", "extracted");
    cJSON_AddStringToObject (old, "key", "Q\"1\\");
    cJSON_AddNumberToObject (old, "attempt", 1);
    cJSON_AddNumberToObject (old, "seq", 0);
    char *text = cJSON_PrintUnformatted (old);
    char key[64] = "a/ACME_PRD\0vendor\0Q\"1\\";
    size_t klen = strlen ("a/ACME_PRD") + 1 + strlen ("vendor") + 1 + strlen ("Q\"1\\") + 1;
    uint64_t at = (uint64_t)INT64_C (1764197740000) ^ (UINT64_C (1) << 63);
    for (int i = 7; i >= 0; i--, at >>= 8)
        key[klen + (size_t)i] = (char)(at & 0xff);
    memset (key + klen + 8, 0, 8);
    assert_int_equal (cm_store_put (db, key, klen + 16, text, strlen (text), true), 0);
    free (text);
    cJSON_Delete (old);
    cm_store_destroy (&db);
    /* a writable open moves it into the audit family (test_audit_family_migration) */
    fx->store = rp_store_open (fx->path, false, err, sizeof err);
    assert_non_null (fx->store);
    rp_store_destroy (&fx->store);

    fx->store = rp_store_open (fx->path, true, err, sizeof err);
    assert_non_null (fx->store);
    copy_t c = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "Q\"1\\", copy_entry, &c),
                      0);
    assert_int_equal (c.n, 2);
    assert_string_equal (cJSON_GetObjectItem (c.entries[0], "out")->valuestring, "extracted");
    assert_true (cJSON_GetObjectItem (c.entries[0], "at")->valuedouble == 1764197740000.0);
    const cJSON *e = c.entries[1];
    assert_string_equal (cJSON_GetObjectItem (e, "msg")->valuestring,
                         "bad \"name\"\n\ttab \x01 caf\xc3\xa9 \\ end");
    assert_string_equal (cJSON_GetObjectItem (e, "key")->valuestring, "Q\"1\\");
    assert_true (cJSON_GetObjectItem (e, "at")->valuedouble == 1764197740123.0);
    assert_true (cJSON_GetObjectItem (e, "attempt")->valuedouble == 4000000000.0);
    assert_true (cJSON_GetObjectItem (e, "http")->valuedouble == 400.0);
    assert_true (cJSON_GetObjectItem (e, "seq")->valuedouble == 1.0);
    assert_string_equal (cJSON_GetObjectItem (e, "class")->valuestring, "permanent");
    assert_true (cJSON_IsNumber (cJSON_GetObjectItem (e, "env_size")));
    /* read back in the order entries were always written */
    char *printed = cJSON_PrintUnformatted (e);
    const char *want = "\"eid\":\"";
    const char *pos = strstr (printed, want);
    assert_non_null (pos);
    pos = strchr (pos + strlen (want), '"');
    assert_non_null (pos);
    assert_true (strncmp (pos,
                          "\",\"tenant\":\"ACME_PRD\",\"entity\":\"vendor\","
                          "\"key\":\"Q\\\"1\\\\\",\"hash\":\"",
                          strlen ("\",\"tenant\":\"ACME_PRD\",\"entity\":\"vendor\","
                                  "\"key\":\"Q\\\"1\\\\\",\"hash\":\"")) == 0);
    free (printed);
    /* the older entry had "key" stored: kept, the rest added, nothing twice */
    const cJSON *o = c.entries[0];
    assert_string_equal (cJSON_GetObjectItem (o, "tenant")->valuestring, "ACME_PRD");
    assert_string_equal (cJSON_GetObjectItem (o, "entity")->valuestring, "vendor");
    int keys = 0;
    for (const cJSON *m = o->child; m; m = m->next)
        keys += strcmp (m->string, "key") == 0;
    assert_int_equal (keys, 1);
    for (int i = 0; i < c.n; i++)
        cJSON_Delete (c.entries[i]);
    cm_envelope_destroy (&env);
}

static int
count_entry (const cJSON *entry, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

/*  Runs retention steps of max_visit entries until a whole sweep is done; commits. */
static int
sweep (rp_store_t *store, int64_t cutoff, size_t max_visit)
{
    int total = 0;
    bool wrapped = false;
    for (int steps = 0; !wrapped; steps++) {
        assert_true (steps < 10000);
        int n = rp_store_expire_audit (store, cutoff, max_visit, &wrapped);
        assert_true (n >= 0);
        assert_true ((size_t)n <= max_visit);
        total += n;
    }
    assert_int_equal (rp_store_flush (store, false), 0);
    return total;
}

/*  Retention removes old audit entries in bounded steps, keeps new ones, dead letters
    and the history of records with an open dead letter; the store stays bounded. */
static void
test_audit_retention (void **state)
{
    fx_t *fx = *state;
    cm_envelope_t *plain = make_env ("ACME_PRD", "T1");
    cm_envelope_t *failing = make_env ("ACME_PRD", "T2");
    cm_envelope_t *fresh = make_env ("ACME_PRD", "T3");
    for (int i = 0; i < 5; i++) {
        apply (fx->store, make_event (plain, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 1000 + i));
        apply (fx->store, make_event (failing, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 1000 + i));
    }
    apply (fx->store, make_failure (failing, CM_OUTCOME_FAILED, "STRING_TOO_LONG", 1500));
    apply (fx->store, make_event (plain, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 9000));
    apply (fx->store, make_event (fresh, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, 9500));
    assert_int_equal (rp_store_flush (fx->store, false), 0);

    /* steps of 2 entries: many calls, each bounded */
    assert_int_equal (sweep (fx->store, 5000, 2), 5);
    hist_t h = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "T1", collect, &h), 0);
    assert_int_equal (h.n, 1);
    assert_string_equal (h.outs[0], "loaded");
    hist_t f = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "T2", collect, &f), 0);
    assert_int_equal (f.n, 6);
    hist_t n = {0};
    assert_int_equal (rp_store_history (fx->store, "ACME_PRD", "vendor", "T3", collect, &n), 0);
    assert_int_equal (n.n, 1);
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (fx->store, failing->id, &dl), 1);
    rp_dead_letter_destroy (&dl);
    rp_stats_t st;
    rp_store_stats (fx->store, &st);
    assert_int_equal (st.audit_expired, 5);
    cJSON *js = rp_stats_to_json (&st);
    assert_true (cJSON_GetObjectItem (js, "audit_expired")->valuedouble == 5.0);
    cJSON_Delete (js);

    /* once resolved, the failing record's old history goes too */
    apply (fx->store, make_event (failing, CM_STAGE_LOAD, CM_OUTCOME_LOADED, 9600));
    assert_int_equal (sweep (fx->store, 5000, 1000), 6);

    /* a long run: 40 rounds of 30 events over 10 records, a window of 3 rounds */
    for (int round = 0; round < 40; round++) {
        int64_t t = 100000 + round * 1000;
        for (int i = 0; i < 30; i++) {
            char key[16];
            snprintf (key, sizeof key, "L%d", i % 10);
            cm_envelope_t *env = make_env ("ACME_TST", key);
            apply (fx->store, make_event (env, CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, t + i));
            cm_envelope_destroy (&env);
        }
        assert_int_equal (rp_store_flush (fx->store, false), 0);
        sweep (fx->store, t - 2000, 7);
        int count = 0;
        assert_int_equal (rp_store_audit_all (fx->store, count_entry, &count), 0);
        assert_true (count <= 3 * 30 + 3); /* three rounds, and the three entries above */
    }
    rp_store_stats (fx->store, &st);
    int count = 0;
    assert_int_equal (rp_store_audit_all (fx->store, count_entry, &count), 0);
    assert_int_equal ((uint64_t)count, st.audit - st.audit_expired);
    /* the counter survives a reopen */
    rp_store_destroy (&fx->store);
    char err[512];
    fx->store = rp_store_open (fx->path, false, err, sizeof err);
    assert_non_null (fx->store);
    rp_stats_t st2;
    rp_store_stats (fx->store, &st2);
    assert_int_equal (st2.audit_expired, st.audit_expired);
    cm_envelope_destroy (&plain);
    cm_envelope_destroy (&failing);
    cm_envelope_destroy (&fresh);
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
        cmocka_unit_test_setup_teardown (test_resolve_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown (test_audit_text_form, setup, teardown),
        cmocka_unit_test_setup_teardown (test_audit_family_migration, setup, teardown),
        cmocka_unit_test_setup_teardown (test_audit_retention, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
