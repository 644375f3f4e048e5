/*  cm_event_batch: several events in one ZeroMQ message.

    A message on the events socket is one encoded event (a msgpack map, cm_event.h) or a
    batch: a msgpack array of bin items, each one encoded event. A stage that reports many
    records at once (a loader's response, a transformer's group) adds their events to a
    batch and sends it as one message: a message per record cost the sender, both ZeroMQ
    I/O threads and the replayer more than the event itself. The replayer reads either form
    (cm_event_frame_next), so a sender of single events keeps working; a replayer older
    than batches refuses them, so upgrade the replayer first.

    The batch is written with fixed-size headers (array 32, bin 32) so that adding never
    moves what is already there. */
#ifndef CM_EVENT_BATCH_H
#define CM_EVENT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_event.h"

#define CM_EVENT_BATCH_MAX_EVENTS 256          /* a batch this long is full */
#define CM_EVENT_BATCH_MAX_BYTES  (256 * 1024) /* a batch this large is full */

typedef struct cm_event_batch_t cm_event_batch_t;

/*  An empty batch, or NULL on OOM. */
cm_event_batch_t *cm_event_batch_new (void);

/*  Frees the batch; sets *self_p to NULL. Accepts NULL. */
void cm_event_batch_destroy (cm_event_batch_t **self_p);

/*  Encodes ev into the batch. 0, or -1 when it does not encode or on OOM (the batch is
    unchanged). */
int cm_event_batch_add (cm_event_batch_t *self, const cm_event_t *ev);

/*  Events in the batch. */
size_t cm_event_batch_count (const cm_event_batch_t *self);

/*  True when the batch should be sent before more is added. Full batches stay within
    CM_ZSOCK_MAX_MSG: CM_EVENT_BATCH_MAX_BYTES plus one largest event fits. */
bool cm_event_batch_full (const cm_event_batch_t *self);

/*  The batch as one message (borrowed; valid until the next add or clear), or NULL when it
    is empty. */
const void *cm_event_batch_frame (cm_event_batch_t *self, size_t *size);

/*  Empties the batch (keeps its buffer). */
void cm_event_batch_clear (cm_event_batch_t *self);

/*  Reading a received message, event by event. */
typedef struct {
    const unsigned char *p; /* the message */
    size_t size;            /* its size */
    size_t off;             /* where the next item starts */
    uint32_t left;          /* items left in a batch */
    int state;              /* 0 not started, 1 in a batch, 2 done */
} cm_event_frame_t;

void cm_event_frame_init (cm_event_frame_t *self, const void *data, size_t size);

/*  The next event's bytes (borrowed from the message) in *item, *item_size: 1. 0 when
    there are no more. -1 with a reason in err when the batch is malformed (its remaining
    events are lost: the caller counts them as one bad event). A message that is not a
    batch is one event, returned whole (cm_event_decode judges it). */
int cm_event_frame_next (cm_event_frame_t *self, const void **item, size_t *item_size, char *err,
                         size_t err_cap);

#endif
