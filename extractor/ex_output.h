/*  ex_output: where extracted records go. A PUSH socket connected to the transformer's
    extract endpoint for the envelopes (blocking with backpressure, interrupted by a stop
    request) and a PUSH socket connected to the replayer's events endpoint for one
    "extracted" event per record. The events go in batches (cm_event_batch.h): a batch
    leaves when it is full and at the end of every page (ex_output_flush), sent with a short
    timeout and dropped, counted and logged when the replayer does not keep up, so events
    never stall the data path. */
#ifndef EX_OUTPUT_H
#define EX_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "cm_envelope.h"

#define EX_OUTPUT_DATA_LINGER_MS   30000 /* queued envelopes get this long to leave on close */
#define EX_OUTPUT_EVENT_LINGER_MS  2000  /* queued events get this long */
#define EX_OUTPUT_EVENT_TIMEOUT_MS 100   /* an event send waits at most this long */

typedef struct ex_output_t ex_output_t;

/*  Connects both sockets in the ZeroMQ context ctx (borrowed). Returns NULL with a message
    naming the endpoint in err. */
ex_output_t *ex_output_new (void *ctx, const char *extract_endpoint, const char *events_endpoint,
                            int hwm, char *err, size_t err_cap);

/*  Closes both sockets (their linger lets queued messages leave while the context is
    terminated) and sets *self_p to NULL. Accepts NULL. */
void ex_output_destroy (ex_output_t **self_p);

/*  An ex_emit_fn: encodes env and sends it on the data socket (waits while the queue is
    full), then adds its "extracted" event to the batch. Returns 0 when the envelope was
    queued, -1 when not (stop requested, encoding failed, socket error). env NULL (the end
    of a page) sends the batch: ex_output_flush, returns 0. arg is the ex_output_t. */
int ex_output_emit (const cm_envelope_t *env, void *arg);

/*  Sends the events batched so far as one message; when they cannot be queued in time
    they are dropped, counted and logged. Destroy flushes too. */
void ex_output_flush (ex_output_t *self);

/*  The data socket (PUSH to the transformer), for a connection monitor. Borrowed. */
void *ex_output_data_socket (ex_output_t *self);

/*  Envelopes sent and events dropped so far. Safe to call from another thread. */
uint64_t ex_output_sent (const ex_output_t *self);
uint64_t ex_output_events_dropped (const ex_output_t *self);

#endif
