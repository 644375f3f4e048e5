/*  fuzz_event: cm_event_decode on arbitrary bytes (what the replayer's events socket
    delivers). An accepted event re-encodes and decodes to the same event, with its
    envelope bytes intact (a dead letter must replay byte-identical). The same bytes read
    as a message of events (cm_event_frame_next, as the replayer reads every message):
    every item lies inside the message, the reading ends, and a refusal has a reason; an
    accepted event sent in a batch of two comes back out of it byte for byte. */
#include <stdint.h>
#include <string.h>

#include "cm_event.h"
#include "cm_event_batch.h"
#include "fuzz_common.h"

static int
same_str (const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp (a, b) == 0;
}

/*  Reads the input as a message of events. */
static void
read_frame (const uint8_t *data, size_t size)
{
    cm_event_frame_t frame;
    cm_event_frame_init (&frame, data, size);
    const void *item;
    size_t item_size, items = 0;
    char err[256] = "";
    int got;
    while ((got = cm_event_frame_next (&frame, &item, &item_size, err, sizeof err)) == 1) {
        FUZZ_CHECK ((const uint8_t *)item >= data &&
                    (const uint8_t *)item + item_size <= data + size);
        FUZZ_CHECK (++items <= size + 1);
        cm_event_t *ev = cm_event_decode (item, item_size, err, sizeof err);
        cm_event_destroy (&ev);
    }
    if (got < 0)
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
    FUZZ_CHECK (cm_event_frame_next (&frame, &item, &item_size, err, sizeof err) == 0);
}

/*  An accepted event in a batch of two comes out as it went in. */
static void
batch_round_trip (const cm_event_t *ev, const char *bytes, size_t n)
{
    cm_event_batch_t *b = cm_event_batch_new ();
    FUZZ_CHECK (b && cm_event_batch_add (b, ev) == 0 && cm_event_batch_add (b, ev) == 0);
    size_t fsize = 0;
    const void *f = cm_event_batch_frame (b, &fsize);
    cm_event_frame_t frame;
    cm_event_frame_init (&frame, f, fsize);
    const void *item;
    size_t item_size;
    char err[256];
    for (int i = 0; i < 2; i++) {
        FUZZ_CHECK (cm_event_frame_next (&frame, &item, &item_size, err, sizeof err) == 1);
        FUZZ_CHECK (item_size == n && memcmp (item, bytes, n) == 0);
    }
    FUZZ_CHECK (cm_event_frame_next (&frame, &item, &item_size, err, sizeof err) == 0);
    cm_event_batch_destroy (&b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    read_frame (data, size);
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
    batch_round_trip (ev, bytes, n);
    free (bytes);
    cm_event_destroy (&ev);
    return 0;
}
