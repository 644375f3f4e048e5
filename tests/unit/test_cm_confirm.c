/*  Unit tests for cm_confirm: a confirmation round-trips, only final outcomes are
    confirmations, and malformed bytes are refused with a reason, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cm_confirm.h"
#include "../../common/cm_msgpack.h"

static cm_event_t *
event (cm_outcome_t out)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "customer", "C-42");
    assert_int_equal (cm_envelope_add_field (env, "CustNum", "C-42"), 0);
    cm_envelope_compute_hash (env);
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, out, env);
    cm_envelope_destroy (&env);
    assert_non_null (ev);
    return ev;
}

static void
test_round_trip (void **state)
{
    cm_outcome_t outs[] = {CM_OUTCOME_LOADED, CM_OUTCOME_FAILED, CM_OUTCOME_REJECTED,
                           CM_OUTCOME_SKIPPED};
    for (size_t i = 0; i < 4; i++) {
        cm_event_t *ev = event (outs[i]);
        char *data = NULL;
        size_t size = 0;
        assert_int_equal (cm_confirm_encode_event (ev, &data, &size), 0);
        char err[256] = "";
        cm_confirm_t *c = cm_confirm_decode (data, size, err, sizeof err);
        assert_non_null (c);
        assert_string_equal (c->tenant, "ACME_PRD");
        assert_string_equal (c->entity, "customer");
        assert_string_equal (c->key, "C-42");
        assert_string_equal (c->hash, ev->hash);
        assert_int_equal (c->outcome, outs[i]);
        cm_confirm_destroy (&c);
        cm_confirm_destroy (&c); /* NULL is fine */
        free (data);
        cm_event_destroy (&ev);
    }
    assert_string_equal (cm_outcome_name (CM_OUTCOME_SKIPPED), "skipped");
    assert_true (cm_confirm_is_final (CM_OUTCOME_SKIPPED));
    assert_false (cm_confirm_is_final (CM_OUTCOME_TRANSFORMED));
    assert_false (cm_confirm_is_final (CM_OUTCOME_RETRYING));
    assert_false (cm_confirm_is_final (CM_OUTCOME_EXTRACTED));
}

/*  Packs a map of string pairs (NULL value: the key is left out). */
static char *
pack (const char *const *kv, int n, size_t *size)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    int present = 0;
    for (int i = 0; i < n; i++)
        present += kv[2 * i + 1] != NULL;
    msgpack_pack_map (&pk, (size_t)present);
    for (int i = 0; i < n; i++) {
        if (!kv[2 * i + 1])
            continue;
        cm_msgpack_pack_cstr (&pk, kv[2 * i]);
        if (strcmp (kv[2 * i], "v") == 0)
            msgpack_pack_uint32 (&pk, (uint32_t)atoi (kv[2 * i + 1]));
        else
            cm_msgpack_pack_cstr (&pk, kv[2 * i + 1]);
    }
    *size = sb.size;
    return sb.data;
}

static void
expect_refused (const char *const *kv, const char *reason)
{
    size_t size = 0;
    char *data = pack (kv, 6, &size);
    char err[256] = "";
    cm_confirm_t *c = cm_confirm_decode (data, size, err, sizeof err);
    assert_null (c);
    if (!strstr (err, reason))
        fail_msg ("reason '%s' does not mention '%s'", err, reason);
    free (data);
}

static void
test_malformed_refused (void **state)
{
    char err[256] = "";
    assert_null (cm_confirm_decode (NULL, 0, err, sizeof err));
    assert_null (cm_confirm_decode ("\x93\x01\x02", 3, err, sizeof err));
    assert_null (cm_confirm_decode ("\xdf\xff\xff\xff\xff", 5, err, sizeof err));
    const char *no_hash[] = {"v",   "1", "tenant", "T",  "entity", "vendor",
                             "key", "K", "hash",   NULL, "out",    "loaded"};
    expect_refused (no_hash, "hash");
    const char *bad_version[] = {"v",   "7", "tenant", "T", "entity", "vendor",
                                 "key", "K", "hash",   "H", "out",    "loaded"};
    expect_refused (bad_version, "version");
    const char *not_final[] = {"v",   "1", "tenant", "T", "entity", "vendor",
                               "key", "K", "hash",   "H", "out",    "transformed"};
    expect_refused (not_final, "final");
    const char *unknown[] = {"v",   "1", "tenant", "T", "entity", "vendor",
                             "key", "K", "hash",   "H", "out",    "exploded"};
    expect_refused (unknown, "out");
    /* oversized */
    char *big = calloc (1, CM_CONFIRM_MAX_BYTES + 10);
    assert_null (cm_confirm_decode (big, CM_CONFIRM_MAX_BYTES + 10, err, sizeof err));
    free (big);
    /* an event with a missing member does not encode */
    cm_event_t *ev = event (CM_OUTCOME_LOADED);
    free (ev->hash);
    ev->hash = NULL;
    char *data = NULL;
    size_t size = 0;
    assert_int_equal (cm_confirm_encode_event (ev, &data, &size), -1);
    assert_null (data);
    cm_event_destroy (&ev);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_malformed_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
