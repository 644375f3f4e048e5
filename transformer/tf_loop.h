/*  tf_loop: the transformer's main loop. PULL envelopes from the extractors (bound at
    zmq.extract_endpoint), apply the mapping, PUSH the result to the loaders (bound at
    zmq.load_endpoint), and report each record on the events socket (connected to
    zmq.events_endpoint): "transformed", or "rejected" (permanent, with the reason and the
    exact envelope bytes received, for the dead-letter store).

    A message that does not decode is logged (TRF_BAD_ENVELOPE) with the reason, counted
    and dropped. A full load or events queue is waited on, never dropped; on a stop request
    the loop keeps draining for drain_ms; a record that no loader took by then is logged
    (TRF_UNSENT) and reported as "rejected" with class retryable and code TRF_UNSENT, so the
    dead-letter store keeps it for replay.

    Batches (batch > 1, issue 8): mapped envelopes are held per (sObject, external-ID
    field) and sent as ONE multipart message of up to `batch` envelopes, one per frame, so
    a loader receives whole batches. A batch goes when it is full, when the input has been
    idle for flush_ms, when its oldest record has waited max_wait_ms, and when the loop
    stops (tf_loop_run flushes everything before it returns). Batches sent together go in
    the mapping's entity order (parents before children). A record's "transformed" event
    follows its batch. The load socket's HWM is then hwm / batch messages (>= 1): about hwm
    envelopes, as before. batch <= 1: one envelope per message, sent at once. */
#ifndef TF_LOOP_H
#define TF_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "tf_mapping.h"
#include "tf_transform.h"

typedef struct tf_loop_t tf_loop_t;

typedef struct {
    const char *extract_endpoint; /* bind, PULL */
    const char *load_endpoint;    /* bind, PUSH */
    const char *events_endpoint;  /* connect, PUSH */
    int hwm;                      /* high-water mark of every socket */
    int drain_ms;                 /* how long to keep going after a stop request */
    int batch;                    /* envelopes per load message; <= 1: one, unbatched */
    int flush_ms;                 /* a partial batch goes after this much input idle */
    int max_wait_ms;              /* ... or when its oldest record waited this long */
} tf_loop_config_t;

typedef struct {
    uint64_t received;    /* messages read */
    uint64_t transformed; /* envelopes sent to the loaders */
    uint64_t skipped;     /* records a skip route dropped */
    uint64_t rejected;    /* records dead-lettered */
    uint64_t bad;         /* messages that did not decode */
    uint64_t unsent;      /* records or events given up at shutdown */
    uint64_t deferred;    /* records held back for a parent not mapped yet (TF_DEFER) */
    uint64_t batches;     /* load messages sent (batched mode) */
    uint64_t held;        /* envelopes held in partial batches now */
} tf_stats_t;

/*  Creates the sockets on ctx. mapping and mem (may be NULL) are borrowed and must outlive
    the loop. Returns NULL with a message naming the endpoint in err. */
tf_loop_t *tf_loop_new (void *ctx, const tf_loop_config_t *cfg, const tf_mapping_t *mapping,
                        const tf_memory_ops_t *mem, char *err, size_t err_cap);

/*  Closes the sockets; sets *self_p to NULL. Accepts NULL. Envelopes still held in
    partial batches (tf_loop_flush not called) are freed unsent and logged (TRF_UNSENT);
    no event was sent for them, so the extractor's lease delivers them again. */
void tf_loop_destroy (tf_loop_t **self_p);

/*  Runs until a stop is requested (cm_signal), then drains; also returns after idle_ms
    without a message when idle_ms > 0 (tests). Returns 0, or -1 on a socket error or when
    the memory could not commit a group's writes (logged as TRF_STORE_FAILED: the group's
    records are dead-lettered as retryable and the process must stop, issue 6). */
int tf_loop_run (tf_loop_t *self, int idle_ms);

/*  Handles one received message: decode, transform, send on (batched mode: hold, and send
    the batch when full), report. Returns 0, or -1 when a socket failed (the record is then
    logged as unsent). */
int tf_loop_handle (tf_loop_t *self, const char *data, size_t size);

/*  Waits up to timeout_ms (0: not at all) for a message, then handles it and whatever
    else is queued, up to 64 messages, as one group: the memory commits the group's writes
    once, then every record is sent on in order. Returns the number of messages handled,
    0 when none came, -1 on a socket error (errno; ETERM when the context ends). Batches
    that are due (full, idle, max wait) are sent meanwhile. */
int tf_loop_poll (tf_loop_t *self, int timeout_ms);

/*  Sends every held batch now, in the mapping's entity order. Returns 0, or -1 when a
    send failed (those records were dead-lettered as TRF_UNSENT). */
int tf_loop_flush (tf_loop_t *self);

/*  The counters so far. */
void tf_loop_stats (const tf_loop_t *self, tf_stats_t *stats);

/*  The loop's sockets (borrowed), for peer monitoring: the extract PULL, the load PUSH and
    the events PUSH. */
void *tf_loop_extract_socket (tf_loop_t *self);
void *tf_loop_load_socket (tf_loop_t *self);
void *tf_loop_events_socket (tf_loop_t *self);

#endif
