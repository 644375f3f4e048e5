/*  Unit tests for cm_event: round trips (with the dead-letter envelope bytes) and a total
    decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_event.h"

static cm_envelope_t *
make_envelope (void)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", "V000123");
    assert_non_null (env);
    cm_envelope_add_field (env, "VendNum", "V000123");
    cm_envelope_add_field (env, "Name", "Northwind Industrial Supply");
    cm_envelope_add_field (env, "RecordDate", "2026-02-01 08:15:02.117");
    cm_envelope_compute_hash (env);
    env->attempt = 2;
    cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", "ACME_PRD:vendor:V000123",
                            "{\"Name\":\"Northwind Industrial Supply\"}");
    return env;
}

static void
test_names (void **state)
{
    assert_string_equal (cm_stage_name (CM_STAGE_LOAD), "load");
    assert_string_equal (cm_stage_name (CM_STAGE_EXTRACT), "extract");
    assert_string_equal (cm_outcome_name (CM_OUTCOME_FAILED), "failed");
    assert_string_equal (cm_outcome_name (CM_OUTCOME_RETRYING), "retrying");
    assert_string_equal (cm_error_class_name (CM_ERR_RETRYABLE), "retryable");
    assert_string_equal (cm_error_class_name (CM_ERR_PERMANENT), "permanent");
}

static void
test_loaded_round_trip (void **state)
{
    cm_envelope_t *env = make_envelope ();
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_LOADED, env);
    assert_non_null (ev);
    assert_string_equal (ev->envelope_id, env->id);
    assert_string_equal (ev->hash, env->hash);
    assert_string_equal (ev->sobject, "Account");
    assert_int_equal (ev->attempt, 2);
    assert_int_equal (cm_event_set_str (ev, &ev->sf_id, "001Hs00003AbCdEIAV"), 0);
    ev->created = true;
    char *data;
    size_t size;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    char err[256] = "";
    cm_event_t *back = cm_event_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_int_equal (back->stage, CM_STAGE_LOAD);
    assert_int_equal (back->outcome, CM_OUTCOME_LOADED);
    assert_string_equal (back->envelope_id, env->id);
    assert_string_equal (back->tenant, "ACME_PRD");
    assert_string_equal (back->entity, "vendor");
    assert_string_equal (back->key, "V000123");
    assert_string_equal (back->hash, env->hash);
    assert_int_equal (back->attempt, 2);
    assert_int_equal (back->at_ms, ev->at_ms);
    assert_string_equal (back->sobject, "Account");
    assert_string_equal (back->ext_id, "ACME_PRD:vendor:V000123");
    assert_string_equal (back->sf_id, "001Hs00003AbCdEIAV");
    assert_true (back->created);
    assert_int_equal (back->error_class, CM_ERR_NONE);
    assert_null (back->error_code);
    assert_null (back->message);
    assert_null (back->envelope);
    assert_int_equal (back->http_status, 0);
    free (data);
    cm_event_destroy (&back);
    cm_event_destroy (&ev);
    assert_null (ev);
    cm_envelope_destroy (&env);
}

static void
test_failed_round_trip (void **state)
{
    cm_envelope_t *env = make_envelope ();
    char *env_data;
    size_t env_size;
    assert_int_equal (cm_envelope_encode (env, &env_data, &env_size), 0);
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_FAILED, env);
    assert_int_equal (cm_event_set_error (ev, CM_ERR_PERMANENT, "REQUIRED_FIELD_MISSING",
                                          "Required fields are missing: [Name]", "Name", 400),
                      0);
    assert_int_equal (cm_event_set_envelope (ev, env_data, env_size), 0);
    char *data;
    size_t size;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    char err[256] = "";
    cm_event_t *back = cm_event_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_int_equal (back->outcome, CM_OUTCOME_FAILED);
    assert_int_equal (back->error_class, CM_ERR_PERMANENT);
    assert_string_equal (back->error_code, "REQUIRED_FIELD_MISSING");
    assert_string_equal (back->message, "Required fields are missing: [Name]");
    assert_string_equal (back->error_fields, "Name");
    assert_int_equal (back->http_status, 400);
    assert_false (back->created);
    /*  The dead-letter bytes are exactly the envelope's, and decode to it. */
    assert_int_equal (back->envelope_size, env_size);
    assert_memory_equal (back->envelope, env_data, env_size);
    cm_envelope_t *again =
        cm_envelope_decode (back->envelope, back->envelope_size, err, sizeof err);
    assert_non_null (again);
    assert_string_equal (again->id, env->id);
    assert_string_equal (cm_envelope_field (again, "Name"), "Northwind Industrial Supply");
    cm_envelope_destroy (&again);
    /*  Truncated at every length fails. */
    for (size_t len = 0; len < size; len++) {
        cm_event_t *bad = cm_event_decode (data, len, err, sizeof err);
        if (bad) {
            cm_event_destroy (&bad);
            fail_msg ("decoded a truncation to %zu of %zu bytes", len, size);
        }
    }
    free (data);
    free (env_data);
    cm_event_destroy (&back);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
}

static void
test_rejected_and_retrying (void **state)
{
    cm_envelope_t *env = make_envelope ();
    cm_event_t *ev = cm_event_new (CM_STAGE_TRANSFORM, CM_OUTCOME_REJECTED, env);
    cm_event_set_error (ev, CM_ERR_PERMANENT, "MAPPING", "no mapping for entity po", NULL, 0);
    char *data;
    size_t size;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    char err[256];
    cm_event_t *back = cm_event_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_int_equal (back->stage, CM_STAGE_TRANSFORM);
    assert_int_equal (back->outcome, CM_OUTCOME_REJECTED);
    assert_null (back->error_fields);
    assert_int_equal (back->http_status, 0);
    free (data);
    cm_event_destroy (&back);
    /*  Setting the error again replaces it. */
    cm_event_set_error (ev, CM_ERR_RETRYABLE, "UNABLE_TO_LOCK_ROW", "unable to obtain lock", NULL,
                        503);
    ev->outcome = CM_OUTCOME_RETRYING;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    back = cm_event_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_int_equal (back->error_class, CM_ERR_RETRYABLE);
    assert_string_equal (back->error_code, "UNABLE_TO_LOCK_ROW");
    assert_int_equal (back->http_status, 503);
    free (data);
    cm_event_destroy (&back);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
}

/*  A hand-built event map; `omit` is left out, `bad` gets a wrong-typed value. */
static void
build (const char *omit, const char *bad, char **data, size_t *size)
{
    static const char *strs[][2] = {
        {"stage", "load"},      {"out", "failed"},     {"eid", "0123456789abcdef0123456789abcdef"},
        {"tenant", "ACME_PRD"}, {"entity", "vendor"},  {"key", "V000123"},
        {"hash", ""},           {"class", "permanent"}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    int n = 12 - (omit != NULL);
    msgpack_pack_map (&pk, (size_t)n);
#define KEY(k)  (msgpack_pack_str (&pk, strlen (k)), msgpack_pack_str_body (&pk, k, strlen (k)))
#define SKIP(k) (omit && strcmp (omit, k) == 0)
#define BAD(k)  (bad && strcmp (bad, k) == 0)
    if (!SKIP ("v")) {
        KEY ("v");
        msgpack_pack_uint32 (&pk, BAD ("v") ? 9 : CM_EVENT_VERSION);
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (SKIP (strs[i][0]))
            continue;
        KEY (strs[i][0]);
        if (BAD (strs[i][0]))
            msgpack_pack_true (&pk);
        else
            KEY (strs[i][1]);
    }
    if (!SKIP ("attempt")) {
        KEY ("attempt");
        msgpack_pack_uint32 (&pk, 1);
    }
    if (!SKIP ("at")) {
        KEY ("at");
        msgpack_pack_int64 (&pk, 1769933702117LL);
    }
    if (!SKIP ("env")) {
        KEY ("env");
        if (BAD ("env"))
            KEY ("not binary");
        else {
            msgpack_pack_bin (&pk, 3);
            msgpack_pack_bin_body (&pk, "\x81\xa1v", 3);
        }
    }
#undef KEY
#undef SKIP
#undef BAD
    *size = sb.size;
    *data = msgpack_sbuffer_release (&sb);
    msgpack_sbuffer_destroy (&sb);
}

static void
expect_reject (const char *data, size_t size, const char *needle)
{
    char err[256] = "";
    cm_event_t *ev = cm_event_decode (data, size, err, sizeof err);
    if (ev)
        cm_event_destroy (&ev);
    assert_null (ev);
    if (!strstr (err, needle))
        fail_msg ("error '%s' does not mention '%s'", err, needle);
}

static void
test_rejects (void **state)
{
    char *data;
    size_t size;
    char err[256];
    build (NULL, NULL, &data, &size);
    cm_event_t *ok = cm_event_decode (data, size, err, sizeof err);
    assert_non_null (ok);
    assert_int_equal (ok->envelope_size, 3);
    assert_int_equal (ok->error_class, CM_ERR_PERMANENT);
    cm_event_destroy (&ok);
    /*  Trailing bytes. */
    char *longer = malloc (size + 2);
    memcpy (longer, data, size);
    longer[size] = 0x01;
    longer[size + 1] = 0x02;
    expect_reject (longer, size + 2, "2 trailing bytes");
    free (longer);
    free (data);

    const char *required[] = {"v",      "stage", "out",  "eid",     "tenant",
                              "entity", "key",   "hash", "attempt", "at"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        build (required[i], NULL, &data, &size);
        char needle[64];
        snprintf (needle, sizeof needle, "missing required field '%s'", required[i]);
        expect_reject (data, size, needle);
        free (data);
    }
    build (NULL, "tenant", &data, &size);
    expect_reject (data, size, "field 'tenant': expected str, got bool");
    free (data);
    build (NULL, "stage", &data, &size);
    expect_reject (data, size, "field 'stage'");
    free (data);
    build (NULL, "env", &data, &size);
    expect_reject (data, size, "field 'env': expected bin, got str");
    free (data);
    build (NULL, "v", &data, &size);
    expect_reject (data, size, "version 9");
    free (data);
    expect_reject ("", 0, "empty");
    expect_reject ("\xc0", 1, "expected a map");
    expect_reject ("\xde\xff\xff", 3, "claims");
    char *huge = calloc (1, CM_EVENT_MAX_BYTES + 1);
    expect_reject (huge, CM_EVENT_MAX_BYTES + 1, "exceeds");
    free (huge);
}

static void
test_unknown_stage_value (void **state)
{
    /*  A str with an unknown value for an enum member is named. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    cm_envelope_t *env = make_envelope ();
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_LOADED, env);
    char *data;
    size_t size;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    /*  Replace "loaded" by "lodaed" in place: same length, still valid msgpack. */
    char *at = memmem (data, size, "loaded", 6);
    assert_non_null (at);
    memcpy (at, "lodaed", 6);
    expect_reject (data, size, "field 'out': unknown value");
    free (data);
    msgpack_sbuffer_destroy (&sb);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
}

static void
test_fuzz (void **state)
{
    cm_envelope_t *env = make_envelope ();
    char *env_data;
    size_t env_size;
    cm_envelope_encode (env, &env_data, &env_size);
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_FAILED, env);
    cm_event_set_error (ev, CM_ERR_PERMANENT, "X", "Y", "Z", 400);
    cm_event_set_envelope (ev, env_data, env_size);
    char *data;
    size_t size;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    uint64_t s = 0x2545f4914f6cdd1dULL;
    unsigned char *mut = malloc (size);
    char err[256];
    for (int i = 0; i < 4000; i++) {
        memcpy (mut, data, size);
        for (int f = 0; f < 3; f++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            mut[s % size] = (unsigned char)(s >> 24);
        }
        cm_event_t *e =
            cm_event_decode (mut, (i % 3 == 0) ? (size_t)(s >> 40) % size : size, err, sizeof err);
        cm_event_destroy (&e);
    }
    free (mut);
    free (data);
    free (env_data);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_loaded_round_trip),
        cmocka_unit_test (test_failed_round_trip),
        cmocka_unit_test (test_rejected_and_retrying),
        cmocka_unit_test (test_rejects),
        cmocka_unit_test (test_unknown_stage_value),
        cmocka_unit_test (test_fuzz),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
