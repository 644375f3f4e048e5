/*  ex_output: the extractor's two PUSH sockets. See ex_output.h. */
#include "ex_output.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cm_event.h"
#include "cm_log.h"
#include "cm_zsock.h"

struct ex_output_t {
    void *data;              /* PUSH to zmq.extract_endpoint */
    void *events;            /* PUSH to zmq.events_endpoint */
    uint64_t sent;           /* envelopes queued */
    uint64_t events_dropped; /* events not queued in time */
    bool events_stalled;     /* the last event was dropped: do not wait for the next */
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
    cm_zsock_destroy (&(*self_p)->data);
    cm_zsock_destroy (&(*self_p)->events);
    free (*self_p);
    *self_p = NULL;
}

/*  Sends the "extracted" event of env; a failure only counts and logs. */
static void
s_event (ex_output_t *self, const cm_envelope_t *env)
{
    char *buf = NULL;
    size_t size = 0;
    cm_event_t *ev = cm_event_new (CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, env);
    /* once the replayer stalls, events are offered without waiting until one is taken
       again, so a missing replayer costs one short wait, not one per record */
    int timeout = self->events_stalled ? 0 : EX_OUTPUT_EVENT_TIMEOUT_MS;
    if (!ev || cm_event_encode (ev, &buf, &size) ||
        cm_zsock_send (self->events, buf, size, timeout)) {
        self->events_stalled = ev && buf;
        /* relaxed atomics: a metrics thread may read the counters */
        uint64_t dropped = __atomic_add_fetch (&self->events_dropped, 1, __ATOMIC_RELAXED);
        /* the first and then every 1000th, so a missing replayer does not flood the log */
        if (dropped % 1000 == 1)
            cm_warn ("EXT_EVENT_DROPPED", "tenant=%s entity=%s key=%s dropped=%llu reason=%s",
                     env->tenant, env->entity, env->key, (unsigned long long)dropped,
                     ev && buf ? "events socket full or unreachable" : "encoding failed");
    } else
        self->events_stalled = false;
    free (buf);
    cm_event_destroy (&ev);
}

int
ex_output_emit (const cm_envelope_t *env, void *arg)
{
    ex_output_t *self = arg;
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
