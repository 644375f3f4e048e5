/*  Unit tests for cm_event_batch: several events in one message, and reading a message
    (one event or a batch) event by event, malformed batches included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../common/cm_envelope.h"
#include "../../common/cm_event.h"
#include "../../common/cm_event_batch.h"
#include "../../common/cm_zsock.h"

static cm_event_t *
make_event (const char *key, cm_outcome_t out)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", key);
    assert_non_null (env);
    cm_envelope_compute_hash (env);
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, out, env);
    assert_non_null (ev);
    cm_envelope_destroy (&env);
    return ev;
}

/*  Reads every event of a message; their keys into keys[] (at most 8). The number read,
    or -1 when the message was refused. */
static int
read_all (const void *data, size_t size, char keys[][16])
{
    cm_event_frame_t f;
    cm_event_frame_init (&f, data, size);
    const void *item;
    size_t item_size;
    char err[256];
    int n = 0, got;
    while ((got = cm_event_frame_next (&f, &item, &item_size, err, sizeof err)) == 1) {
        char derr[256];
        cm_event_t *ev = cm_event_decode (item, item_size, derr, sizeof derr);
        assert_non_null (ev);
        if (n < 8)
            strncpy (keys[n], ev->key, 15);
        n++;
        cm_event_destroy (&ev);
    }
    if (got < 0) {
        assert_true (strlen (err) > 0);
        return -1;
    }
    /* the end stays the end */
    assert_int_equal (cm_event_frame_next (&f, &item, &item_size, err, sizeof err), 0);
    return n;
}

static void
test_batch_round_trip (void **state)
{
    cm_event_batch_t *b = cm_event_batch_new ();
    assert_non_null (b);
    size_t size = 1;
    assert_null (cm_event_batch_frame (b, &size)); /* empty: nothing to send */
    assert_int_equal (size, 0);
    const char *names[] = {"V1", "V2", "V3"};
    for (int i = 0; i < 3; i++) {
        cm_event_t *ev = make_event (names[i], CM_OUTCOME_LOADED);
        assert_int_equal (cm_event_batch_add (b, ev), 0);
        cm_event_destroy (&ev);
    }
    assert_int_equal (cm_event_batch_count (b), 3);
    assert_false (cm_event_batch_full (b));
    const void *frame = cm_event_batch_frame (b, &size);
    assert_non_null (frame);
    char keys[8][16] = {{0}};
    assert_int_equal (read_all (frame, size, keys), 3);
    assert_string_equal (keys[0], "V1");
    assert_string_equal (keys[2], "V3");
    /* cleared, the batch starts again */
    cm_event_batch_clear (b);
    assert_int_equal (cm_event_batch_count (b), 0);
    cm_event_t *ev = make_event ("V9", CM_OUTCOME_FAILED);
    assert_int_equal (cm_event_batch_add (b, ev), 0);
    frame = cm_event_batch_frame (b, &size);
    assert_int_equal (read_all (frame, size, keys), 1);
    assert_string_equal (keys[0], "V9");
    /* an event that does not encode leaves the batch as it was */
    ev->outcome = (cm_outcome_t)99;
    assert_int_equal (cm_event_batch_add (b, ev), -1);
    assert_int_equal (cm_event_batch_count (b), 1);
    cm_event_destroy (&ev);
    cm_event_batch_destroy (&b);
    cm_event_batch_destroy (&b);
}

static void
test_batch_full (void **state)
{
    cm_event_batch_t *b = cm_event_batch_new ();
    cm_event_t *ev = make_event ("V1", CM_OUTCOME_LOADED);
    for (int i = 0; i < CM_EVENT_BATCH_MAX_EVENTS - 1; i++)
        assert_int_equal (cm_event_batch_add (b, ev), 0);
    assert_false (cm_event_batch_full (b));
    assert_int_equal (cm_event_batch_add (b, ev), 0);
    assert_true (cm_event_batch_full (b));
    cm_event_batch_clear (b);
    /* by bytes: a few events with large envelopes */
    char *big = malloc (100 * 1024);
    memset (big, 'x', 100 * 1024);
    assert_int_equal (cm_event_set_envelope (ev, big, 100 * 1024), 0);
    free (big);
    int n = 0;
    while (!cm_event_batch_full (b)) {
        assert_int_equal (cm_event_batch_add (b, ev), 0);
        n++;
    }
    assert_int_equal (n, 3);
    /* the largest event still fits in a full batch's message */
    size_t size;
    cm_event_batch_frame (b, &size);
    assert_true (size + CM_EVENT_MAX_BYTES <= CM_ZSOCK_MAX_MSG);
    cm_event_destroy (&ev);
    cm_event_batch_destroy (&b);
}

/*  A message that is not a batch is one event, returned whole. */
static void
test_single_event (void **state)
{
    cm_event_t *ev = make_event ("V7", CM_OUTCOME_LOADED);
    char *data = NULL;
    size_t size = 0;
    assert_int_equal (cm_event_encode (ev, &data, &size), 0);
    char keys[8][16] = {{0}};
    assert_int_equal (read_all (data, size, keys), 1);
    assert_string_equal (keys[0], "V7");
    /* an empty message too: one (empty) item, which the decoder refuses */
    cm_event_frame_t f;
    cm_event_frame_init (&f, "", 0);
    const void *item;
    size_t item_size = 9;
    char err[64];
    assert_int_equal (cm_event_frame_next (&f, &item, &item_size, err, sizeof err), 1);
    assert_int_equal (item_size, 0);
    assert_int_equal (cm_event_frame_next (&f, &item, &item_size, err, sizeof err), 0);
    free (data);
    cm_event_destroy (&ev);
}

/*  Malformed batches: refused with a reason; the items before the fault are read. */
static void
test_malformed (void **state)
{
    cm_event_batch_t *b = cm_event_batch_new ();
    cm_event_t *ev = make_event ("V1", CM_OUTCOME_LOADED);
    assert_int_equal (cm_event_batch_add (b, ev), 0);
    assert_int_equal (cm_event_batch_add (b, ev), 0);
    size_t size;
    const unsigned char *frame = cm_event_batch_frame (b, &size);
    unsigned char *m = malloc (size + 8);
    char keys[8][16];
    /* cut short inside the second item */
    memcpy (m, frame, size);
    assert_int_equal (read_all (m, size - 3, keys), -1);
    /* bytes after the last item */
    memcpy (m + size, "xyz", 3);
    assert_int_equal (read_all (m, size + 3, keys), -1);
    /* more items announced than there are */
    m[4] = 3;
    assert_int_equal (read_all (m, size, keys), -1);
    m[4] = 2;
    /* an item that is not bin */
    size_t second = 5 + 5 + (size - 5) / 2 - 5; /* both items have the same size */
    m[second] = 0xa1;
    assert_int_equal (read_all (m, size, keys), -1);
    /* a truncated array header, and small array and bin forms */
    assert_int_equal (read_all ("\xdd\x00", 2, keys), -1);
    assert_int_equal (read_all ("\x90", 1, keys), 0);
    assert_int_equal (read_all ("\x91\xc4\x02\x81", 4, keys), -1); /* bin 8 cut short */
    free (m);
    cm_event_destroy (&ev);
    cm_event_batch_destroy (&b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_batch_round_trip),
        cmocka_unit_test (test_batch_full),
        cmocka_unit_test (test_single_event),
        cmocka_unit_test (test_malformed),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
