/*  ex_output: the extractor's two PUSH sockets. See ex_output.h. */
#include "ex_output.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cm_event.h"
#include "cm_event_batch.h"
#include "cm_log.h"
#include "cm_zsock.h"

struct ex_output_t {
    void *data;              /* PUSH to zmq.extract_endpoint */
    void *events;            /* PUSH to zmq.events_endpoint */
    uint64_t sent;           /* envelopes queued */
    uint64_t events_dropped; /* events not queued in time */
    bool events_stalled;     /* the last batch was dropped: do not wait for the next */
    cm_event_batch_t *batch; /* events not yet sent (ex_output_flush) */
};

ex_output_t *
ex_output_new (void *ctx, const char *extract_endpoint, const char *events_endpoint, int hwm,
               char *err, size_t err_cap)
{
    ex_output_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->data = cm_zsock_new (ctx, ZMQ_PUSH, extract_endpoint, false, hwm,
                               EX_OUTPUT_DATA_LINGER_MS, err, err_cap);
    if (!self->data)
        goto fail;
    self->events = cm_zsock_new (ctx, ZMQ_PUSH, events_endpoint, false, hwm,
                                 EX_OUTPUT_EVENT_LINGER_MS, err, err_cap);
    if (!self->events)
        goto fail;
    if (!(self->batch = cm_event_batch_new ())) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    ex_output_destroy (&self);
    return NULL;
}

void
ex_output_destroy (ex_output_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ex_output_t *self = *self_p;
    if (self->events && self->batch)
        ex_output_flush (self);
    cm_event_batch_destroy (&self->batch);
    cm_zsock_destroy (&self->data);
    cm_zsock_destroy (&self->events);
    free (self);
    *self_p = NULL;
}

//  Counts and logs n events that were not queued.
static void
s_dropped (ex_output_t *self, const cm_envelope_t *env, size_t n, const char *reason)
{
    /* relaxed atomics: a metrics thread may read the counters */
    uint64_t before = __atomic_fetch_add (&self->events_dropped, n, __ATOMIC_RELAXED);
    /* the first and then about every 1000th, so a missing replayer does not flood the log */
    if (before / 1000 != (before + n) / 1000 || before == 0) {
        if (env)
            cm_warn ("EXT_EVENT_DROPPED", "tenant=%s entity=%s key=%s dropped=%llu reason=%s",
                     env->tenant, env->entity, env->key, (unsigned long long)(before + n), reason);
        else
            cm_warn ("EXT_EVENT_DROPPED", "events=%zu dropped=%llu reason=%s", n,
                     (unsigned long long)(before + n), reason);
    }
}

void
ex_output_flush (ex_output_t *self)
{
    size_t size = 0;
    const void *frame = cm_event_batch_frame (self->batch, &size);
    if (!frame)
        return;
    /* once the replayer stalls, batches are offered without waiting until one is taken
       again, so a missing replayer costs one short wait, not one per page */
    int timeout = self->events_stalled ? 0 : EX_OUTPUT_EVENT_TIMEOUT_MS;
    self->events_stalled = cm_zsock_send (self->events, frame, size, timeout) != 0;
    if (self->events_stalled)
        s_dropped (self, NULL, cm_event_batch_count (self->batch),
                   "events socket full or unreachable");
    cm_event_batch_clear (self->batch);
}

/*  Adds the "extracted" event of env to the batch (sent when full, or by ex_output_flush);
    a failure only counts and logs. */
static void
s_event (ex_output_t *self, const cm_envelope_t *env)
{
    cm_event_t *ev = cm_event_new (CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, env);
    if (!ev || cm_event_batch_add (self->batch, ev) != 0)
        s_dropped (self, env, 1, "encoding failed");
    else if (cm_event_batch_full (self->batch))
        ex_output_flush (self);
    cm_event_destroy (&ev);
}

int
ex_output_emit (const cm_envelope_t *env, void *arg)
{
    ex_output_t *self = arg;
    if (!env) {
        ex_output_flush (self);
        return 0;
    }
    char *buf = NULL;
    size_t size = 0;
    if (cm_envelope_encode (env, &buf, &size)) {
        cm_error ("EXT_ENCODE_FAILED", "tenant=%s entity=%s key=%s reason=\"envelope too big\"",
                  env->tenant, env->entity, env->key);
        return -1;
    }
    int rc = cm_zsock_send (self->data, buf, size, -1);
    free (buf);
    if (rc) {
        if (errno != EINTR && errno != ETERM)
            cm_error ("EXT_SEND_FAILED", "tenant=%s entity=%s key=%s reason=\"%s\"", env->tenant,
                      env->entity, env->key, zmq_strerror (errno));
        return -1;
    }
    __atomic_add_fetch (&self->sent, 1, __ATOMIC_RELAXED);
    s_event (self, env);
    return 0;
}

uint64_t
ex_output_sent (const ex_output_t *self)
{
    return __atomic_load_n (&self->sent, __ATOMIC_RELAXED);
}

uint64_t
ex_output_events_dropped (const ex_output_t *self)
{
    return __atomic_load_n (&self->events_dropped, __ATOMIC_RELAXED);
}

void *
ex_output_data_socket (ex_output_t *self)
{
    return self->data;
}
