/*  fuzz_envelope: cm_envelope_decode on arbitrary bytes (what a PULL socket delivers).

    Properties beyond "no crash, no leak": a refusal always says why; cm_envelope_decode_lean
    accepts everything cm_envelope_decode accepts, with the same members; an accepted envelope
    re-encodes, and the re-encoded bytes decode to the same envelope (so a record the
    transformer or loader accepts can always be forwarded and dead-lettered intact). */
#include <stdint.h>
#include <string.h>

#include "cm_envelope.h"
#include "fuzz_common.h"

static int
same_str (const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp (a, b) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    char err[256] = "";
    /*  The lean decoder (no source record) accepts whatever the full one accepts, with the
        same members, and refuses only with a reason. */
    char lean_err[256] = "";
    cm_envelope_t *lean = cm_envelope_decode_lean (data, size, lean_err, sizeof lean_err);
    if (!lean)
        FUZZ_CHECK (fuzz_has_reason (lean_err, sizeof lean_err));
    else
        FUZZ_CHECK (lean->field_count == 0 && lean->fields == NULL);
    cm_envelope_t *env = cm_envelope_decode (data, size, err, sizeof err);
    if (!env) {
        cm_envelope_destroy (&lean);
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        return 0;
    }
    FUZZ_CHECK (lean && strcmp (lean->id, env->id) == 0 && strcmp (lean->hash, env->hash) == 0 &&
                same_str (lean->tenant, env->tenant) && same_str (lean->key, env->key) &&
                same_str (lean->sobject, env->sobject) && same_str (lean->payload, env->payload) &&
                lean->attempt == env->attempt && lean->sent_at_ms == env->sent_at_ms);
    cm_envelope_destroy (&lean);
    FUZZ_CHECK (env->tenant && *env->tenant && env->entity && *env->entity && env->key &&
                *env->key && env->attempt >= 1 && env->field_count <= CM_ENVELOPE_MAX_FIELDS);
    char *bytes = NULL;
    size_t n = 0;
    FUZZ_CHECK (cm_envelope_encode (env, &bytes, &n) == 0);
    FUZZ_CHECK (n <= CM_ENVELOPE_MAX_BYTES);
    cm_envelope_t *again = cm_envelope_decode (bytes, n, err, sizeof err);
    if (!again)
        fprintf (stderr, "re-decode failed: %s\n", err);
    FUZZ_CHECK (again);
    FUZZ_CHECK (strcmp (env->id, again->id) == 0 && strcmp (env->hash, again->hash) == 0);
    FUZZ_CHECK (same_str (env->tenant, again->tenant) && same_str (env->entity, again->entity) &&
                same_str (env->key, again->key));
    FUZZ_CHECK (env->attempt == again->attempt && env->extracted_at_ms == again->extracted_at_ms &&
                env->sent_at_ms == again->sent_at_ms);
    FUZZ_CHECK (same_str (env->sobject, again->sobject) &&
                same_str (env->ext_id_field, again->ext_id_field) &&
                same_str (env->ext_id, again->ext_id) && same_str (env->payload, again->payload));
    FUZZ_CHECK (env->field_count == again->field_count);
    for (size_t i = 0; i < env->field_count; i++)
        FUZZ_CHECK (same_str (env->fields[i].name, again->fields[i].name) &&
                    same_str (env->fields[i].value, again->fields[i].value));
    /*  The hash of the source fields is computable on anything that decoded. */
    cm_envelope_compute_hash (again);
    FUZZ_CHECK (strlen (again->hash) == 32);
    cm_envelope_destroy (&again);
    free (bytes);
    cm_envelope_destroy (&env);
    return 0;
}
