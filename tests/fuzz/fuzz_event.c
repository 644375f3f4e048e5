/*  fuzz_event: cm_event_decode on arbitrary bytes (what the replayer's events socket
    delivers). An accepted event re-encodes and decodes to the same event, with its
    envelope bytes intact (a dead letter must replay byte-identical). */
#include <stdint.h>
#include <string.h>

#include "cm_event.h"
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
    cm_event_t *ev = cm_event_decode (data, size, err, sizeof err);
    if (!ev) {
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        return 0;
    }
    FUZZ_CHECK (ev->envelope_size <= CM_ENVELOPE_MAX_BYTES);
    /*  The names used in logs and storage exist for every decoded value. */
    FUZZ_CHECK (strcmp (cm_stage_name (ev->stage), "unknown") != 0);
    FUZZ_CHECK (strcmp (cm_outcome_name (ev->outcome), "unknown") != 0);
    FUZZ_CHECK (strcmp (cm_error_class_name (ev->error_class), "unknown") != 0);
    char *bytes = NULL;
    size_t n = 0;
    FUZZ_CHECK (cm_event_encode (ev, &bytes, &n) == 0);
    cm_event_t *again = cm_event_decode (bytes, n, err, sizeof err);
    if (!again)
        fprintf (stderr, "re-decode failed: %s\n", err);
    FUZZ_CHECK (again);
    FUZZ_CHECK (ev->stage == again->stage && ev->outcome == again->outcome &&
                ev->attempt == again->attempt && ev->at_ms == again->at_ms &&
                ev->error_class == again->error_class && ev->http_status == again->http_status);
    if (ev->outcome == CM_OUTCOME_LOADED)
        FUZZ_CHECK (ev->created == again->created);
    FUZZ_CHECK (
        same_str (ev->envelope_id, again->envelope_id) && same_str (ev->tenant, again->tenant) &&
        same_str (ev->entity, again->entity) && same_str (ev->key, again->key) &&
        same_str (ev->hash, again->hash) && same_str (ev->sobject, again->sobject) &&
        same_str (ev->ext_id, again->ext_id) && same_str (ev->sf_id, again->sf_id) &&
        same_str (ev->error_code, again->error_code) && same_str (ev->message, again->message) &&
        same_str (ev->error_fields, again->error_fields));
    FUZZ_CHECK (ev->envelope_size == again->envelope_size &&
                (ev->envelope == NULL) == (again->envelope == NULL));
    if (ev->envelope_size)
        FUZZ_CHECK (memcmp (ev->envelope, again->envelope, ev->envelope_size) == 0);
    cm_event_destroy (&again);
    free (bytes);
    cm_event_destroy (&ev);
    return 0;
}
