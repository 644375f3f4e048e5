/*  tf_loop: PULL -> transform -> PUSH, with events. See tf_loop.h. */
#include "tf_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cm_envelope.h"
#include "cm_event.h"
#include "cm_event_batch.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zsock.h"

#define TF_SEND_SLICE_MS    200   /* one wait for room in a full queue */
#define TF_BACKPRESSURE_LOG 10000 /* log a waiting sender at most this often (ms) */
#define TF_STATS_LOG_MS     30000 /* periodic counters */
#define TF_GROUP_MAX        64    /* messages handled between two memory commits */
#define TF_BATCH_MAX        200   /* envelopes per load message at most (a Collections call) */
#define TF_BATCHES_MAX      32    /* (sObject, external-ID field) batches held at once */
#define TF_IDLE_POLL_MS     200   /* longest wait for input while nothing is due */

/*  A message handled but not sent on yet. */
typedef struct {
    cm_envelope_t *env; /* decoded, with its target when st is TF_OK */
    char *data;         /* the bytes received (for a dead letter) */
    size_t size;        /* their size */
    tf_status_t st;     /* the transform's verdict */
    tf_result_t res;    /* why, when rejected or skipped */
    char *out;          /* the encoded envelope to send (TF_OK) */
    size_t out_size;    /* its size */
} pending_t;

/*  Mapped envelopes of one (sObject, external-ID field), waiting to go as one message. */
typedef struct {
    char *sobject;      /* target sObject */
    char *ext_id_field; /* target external-ID field */
    size_t rank;        /* mapping entity index of its first record (parents first) */
    pending_t *items;   /* held records, TF_OK, in the order received */
    size_t count;       /* number of them */
    int64_t first_ms;   /* mono ms when the oldest was added */
    int64_t last_ms;    /* mono ms when the newest was added */
} tf_batch_t;

struct tf_loop_t {
    void *pull;                         /* extract socket, bound */
    void *push;                         /* load socket, bound */
    void *events;                       /* events socket, connected */
    cm_event_batch_t *ev_batch;         /* events not yet sent (events_flush) */
    const tf_mapping_t *mapping;        /* borrowed */
    const tf_memory_ops_t *mem;         /* borrowed, may be NULL */
    tf_memory_ops_t mem_group;          /* mem without commit: the group commits once */
    pending_t group[TF_GROUP_MAX];      /* messages handled, not yet sent on */
    size_t group_count;                 /* number of them */
    int drain_ms;                       /* time allowed after a stop request */
    int64_t stop_deadline;              /* mono ms when draining ends; -1 before a stop */
    tf_stats_t stats;                   /* counters */
    bool store_failed;                  /* a group's memory commit failed: stop */
    size_t batch;                       /* envelopes per load message; <= 1: unbatched */
    int flush_ms;                       /* idle input time that sends partial batches */
    int max_wait_ms;                    /* longest a record waits in a partial batch */
    int64_t last_input_ms;              /* mono ms of the last message read */
    tf_batch_t batches[TF_BATCHES_MAX]; /* held batches (slots with sobject set are in use) */
    size_t batch_count;                 /* slots in use */
};

tf_loop_t *
tf_loop_new (void *ctx, const tf_loop_config_t *cfg, const tf_mapping_t *mapping,
             const tf_memory_ops_t *mem, char *err, size_t err_cap)
{
    tf_loop_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->mapping = mapping;
    self->mem = mem;
    self->drain_ms = cfg->drain_ms;
    self->stop_deadline = -1;
    self->batch = cfg->batch > 1 ? (size_t)cfg->batch : 1;
    if (self->batch > TF_BATCH_MAX)
        self->batch = TF_BATCH_MAX;
    self->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 0;
    self->max_wait_ms = cfg->max_wait_ms > 0 ? cfg->max_wait_ms : 0;
    self->last_input_ms = cm_mono_ms ();
    //  ZeroMQ counts messages, and a batch is one: about hwm envelopes may wait
    int load_hwm = cfg->hwm;
    if (self->batch > 1) {
        load_hwm = cfg->hwm / (int)self->batch;
        if (load_hwm < 1)
            load_hwm = 1;
    }
    //  The load socket lingers for the drain time so queued envelopes reach a loader.
    self->pull =
        cm_zsock_new (ctx, ZMQ_PULL, cfg->extract_endpoint, true, cfg->hwm, 0, err, err_cap);
    if (!self->pull)
        goto fail;
    self->push = cm_zsock_new (ctx, ZMQ_PUSH, cfg->load_endpoint, true, load_hwm, cfg->drain_ms,
                               err, err_cap);
    if (!self->push)
        goto fail;
    self->events = cm_zsock_new (ctx, ZMQ_PUSH, cfg->events_endpoint, false, cfg->hwm,
                                 cfg->drain_ms, err, err_cap);
    if (!self->events)
        goto fail;
    if (!(self->ev_batch = cm_event_batch_new ())) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    tf_loop_destroy (&self);
    return NULL;
}

static int events_flush (tf_loop_t *self);

void
tf_loop_destroy (tf_loop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_loop_t *self = *self_p;
    size_t dropped = 0;
    for (size_t b = 0; b < self->batch_count; b++) {
        tf_batch_t *batch = &self->batches[b];
        for (size_t i = 0; i < batch->count; i++) {
            cm_envelope_destroy (&batch->items[i].env);
            free (batch->items[i].out);
            free (batch->items[i].data);
        }
        dropped += batch->count;
        free (batch->items);
        free (batch->sobject);
        free (batch->ext_id_field);
    }
    if (dropped)
        //  No event went for them: the extractor's lease delivers them again
        cm_warn ("TRF_UNSENT", "what=held_batches records=%zu", dropped);
    if (self->ev_batch && self->events)
        events_flush (self);
    cm_event_batch_destroy (&self->ev_batch);
    cm_zsock_destroy (&self->pull);
    cm_zsock_destroy (&self->push);
    cm_zsock_destroy (&self->events);
    free (self);
    *self_p = NULL;
}

void
tf_loop_stats (const tf_loop_t *self, tf_stats_t *stats)
{
    *stats = self->stats;
}

void *
tf_loop_extract_socket (tf_loop_t *self)
{
    return self->pull;
}

void *
tf_loop_load_socket (tf_loop_t *self)
{
    return self->push;
}

void *
tf_loop_events_socket (tf_loop_t *self)
{
    return self->events;
}

static bool
draining_over (tf_loop_t *self)
{
    if (!cm_signal_stop_requested ())
        return false;
    if (self->stop_deadline < 0)
        self->stop_deadline = cm_mono_ms () + self->drain_ms;
    return cm_mono_ms () >= self->stop_deadline;
}

/*  Sends, waiting while the queue is full: backpressure, never a drop. After a stop
    request it keeps trying until the drain time is over. Returns 0, or -1 (given up, or a
    socket error). */
static int
send_waiting (tf_loop_t *self, void *sock, const char *what, const char *data, size_t size)
{
    int64_t logged = 0;
    for (;;) {
        if (cm_zsock_send (sock, data, size, TF_SEND_SLICE_MS) == 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR) {
            cm_error ("TRF_SEND_FAILED", "socket=%s reason=\"%s\"", what, zmq_strerror (errno));
            return -1;
        }
        if (draining_over (self))
            return -1;
        if (cm_signal_stop_requested ()) {
            //  cm_zsock_send returns at once during a stop: pace the retries.
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep (&ts, NULL);
        }
        int64_t now = cm_mono_ms ();
        if (now - logged >= TF_BACKPRESSURE_LOG) {
            cm_info ("TRF_BACKPRESSURE", "socket=%s waiting=for_room", what);
            logged = now;
        }
    }
}

/*  Sends the events batched so far as one message (cm_event_batch.h), waiting while the
    queue is full like every send. Every entry point of the loop calls it before it
    returns, so no event waits for the next message. 0, or -1 (those events are lost:
    counted and logged). */
static int
events_flush (tf_loop_t *self)
{
    size_t size = 0;
    const void *frame = cm_event_batch_frame (self->ev_batch, &size);
    if (!frame)
        return 0;
    int rc = send_waiting (self, self->events, "events", frame, size);
    if (rc) {
        size_t n = cm_event_batch_count (self->ev_batch);
        self->stats.unsent += n;
        cm_error ("TRF_UNSENT", "what=events events=%zu", n);
    }
    cm_event_batch_clear (self->ev_batch);
    return rc;
}

/*  Adds the record's event to the batch, sent when full or by events_flush. */
static int
send_event (tf_loop_t *self, cm_event_t *ev, const cm_envelope_t *env)
{
    if (cm_event_batch_add (self->ev_batch, ev)) {
        cm_error ("TRF_EVENT_ENCODE", "tenant=%s entity=%s key=%s", env->tenant, env->entity,
                  env->key);
        self->stats.unsent++;
        return -1;
    }
    return cm_event_batch_full (self->ev_batch) ? events_flush (self) : 0;
}

/*  Reports a rejected record with the exact bytes received. */
static int
report_rejected (tf_loop_t *self, const cm_envelope_t *env, const tf_result_t *res,
                 const char *data, size_t size)
{
    self->stats.rejected++;
    char msg[600];
    cm_log_excerpt (res->reason, strlen (res->reason), 400, msg, sizeof msg);
    cm_warn ("TRF_REJECTED", "tenant=%s entity=%s key=%s code=%s msg=\"%s\"", env->tenant,
             env->entity, env->key, res->code, msg);
    cm_event_t *ev = cm_event_new (CM_STAGE_TRANSFORM, CM_OUTCOME_REJECTED, env);
    if (!ev ||
        cm_event_set_error (ev, res->retryable ? CM_ERR_RETRYABLE : CM_ERR_PERMANENT, res->code,
                            res->reason, res->field[0] ? res->field : NULL, 0) ||
        cm_event_set_envelope (ev, data, size)) {
        cm_event_destroy (&ev);
        cm_error ("TRF_UNSENT", "what=event reason=out_of_memory key=%s", env->key);
        self->stats.unsent++;
        return -1;
    }
    int rc = send_event (self, ev, env);
    cm_event_destroy (&ev);
    return rc;
}

/*  Decodes and transforms one message into the group (taking ownership of data); the
    memory's writes wait for the group's commit. A message that does not decode is
    counted and dropped here. */
static void
group_add (tf_loop_t *self, char *data, size_t size)
{
    self->stats.received++;
    char err[256];
    cm_envelope_t *env = cm_envelope_decode (data, size, err, sizeof err);
    if (!env) {
        self->stats.bad++;
        char msg[300];
        cm_log_excerpt (err, strlen (err), 200, msg, sizeof msg);
        cm_warn ("TRF_BAD_ENVELOPE", "bytes=%zu reason=\"%s\" bad_total=%llu", size, msg,
                 (unsigned long long)self->stats.bad);
        free (data);
        return;
    }
    pending_t *p = &self->group[self->group_count++];
    memset (p, 0, sizeof *p);
    p->env = env;
    p->data = data;
    p->size = size;
    //  The memory's callbacks as they are now (tf_ops may wrap them after tf_loop_new),
    //  without the per-record commit: group_flush commits once for the group.
    if (self->mem) {
        self->mem_group = *self->mem;
        self->mem_group.commit = NULL;
    }
    p->st = tf_transform_apply (self->mapping, env, self->mem ? &self->mem_group : NULL, &p->res);
    if (p->st == TF_OK) {
        env->sent_at_ms = cm_now_ms ();
        if (cm_envelope_encode (env, &p->out, &p->out_size)) {
            memset (&p->res, 0, sizeof p->res);
            snprintf (p->res.code, sizeof p->res.code, "MAPPING_PAYLOAD_TOO_LARGE");
            snprintf (p->res.reason, sizeof p->res.reason,
                      "the mapped envelope is over %d bytes (payload %zu bytes)",
                      CM_ENVELOPE_MAX_BYTES, env->payload ? strlen (env->payload) : 0);
            p->st = TF_REJECT;
        }
    }
}

static int batch_add (tf_loop_t *self, pending_t *p);
static int report_unsent (tf_loop_t *self, pending_t *p);
static int report_transformed (tf_loop_t *self, pending_t *p);

/*  Sends one handled record on: the envelope and its event (batched mode: into its
    batch), or the dead letter. */
static int
group_send (tf_loop_t *self, pending_t *p)
{
    cm_envelope_t *env = p->env;
    if (p->st == TF_SKIP) {
        self->stats.skipped++;
        cm_debug ("TRF_SKIPPED", "tenant=%s entity=%s key=%s route=%s", env->tenant, env->entity,
                  env->key, p->res.route);
        //  A skip is final: reported, so the extractor's pending entry is confirmed.
        cm_event_t *sev = cm_event_new (CM_STAGE_TRANSFORM, CM_OUTCOME_SKIPPED, env);
        char why[300];
        snprintf (why, sizeof why, "the mapping routes the record nowhere (route %s)",
                  p->res.route);
        if (!sev || cm_event_set_str (sev, &sev->message, why)) {
            cm_error ("TRF_UNSENT", "what=event reason=out_of_memory key=%s", env->key);
            self->stats.unsent++;
            cm_event_destroy (&sev);
            return -1;
        }
        int src = send_event (self, sev, env);
        cm_event_destroy (&sev);
        return src;
    }
    if (p->st == TF_REJECT)
        return report_rejected (self, env, &p->res, p->data, p->size);
    if (p->st == TF_DEFER) {
        //  Not sent, not reported: the extractor's pending entry stays, and its lease
        //  delivers the record again once its parent had the time to be mapped.
        self->stats.deferred++;
        cm_info ("TRF_PARENT_PENDING", "tenant=%s entity=%s key=%s attempt=%u reason=\"%s\"",
                 env->tenant, env->entity, env->key, (unsigned)env->attempt, p->res.reason);
        return 0;
    }
    if (self->batch > 1)
        return batch_add (self, p);
    if (send_waiting (self, self->push, "load", p->out, p->out_size))
        return report_unsent (self, p);
    return report_transformed (self, p);
}

/*  A record no loader took before shutdown: handed to the dead-letter store as a
    retryable failure (replayable) rather than lost. Returns -1. */
static int
report_unsent (tf_loop_t *self, pending_t *p)
{
    cm_envelope_t *env = p->env;
    self->stats.unsent++;
    cm_error ("TRF_UNSENT", "what=envelope tenant=%s entity=%s key=%s", env->tenant, env->entity,
              env->key);
    tf_result_t res;
    memset (&res, 0, sizeof res);
    snprintf (res.code, sizeof res.code, "TRF_UNSENT");
    snprintf (res.reason, sizeof res.reason,
              "no loader took the record before the transformer stopped");
    res.retryable = true;
    report_rejected (self, env, &res, p->data, p->size);
    self->stats.rejected--; //  counted as unsent, not as a mapping rejection
    return -1;
}

/*  A record a loader took: counted and reported "transformed". */
static int
report_transformed (tf_loop_t *self, pending_t *p)
{
    cm_envelope_t *env = p->env;
    self->stats.transformed++;
    cm_event_t *ev = cm_event_new (CM_STAGE_TRANSFORM, CM_OUTCOME_TRANSFORMED, env);
    if (!ev || cm_event_set_str (ev, &ev->sobject, env->sobject) ||
        cm_event_set_str (ev, &ev->ext_id, env->ext_id)) {
        cm_error ("TRF_UNSENT", "what=event reason=out_of_memory key=%s", env->key);
        self->stats.unsent++;
        cm_event_destroy (&ev);
        return -1;
    }
    int rc = send_event (self, ev, env);
    cm_event_destroy (&ev);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Batches: one multipart message per (sObject, external-ID field) */

static const char *
s_or_empty (const char *s)
{
    return s ? s : "";
}

/*  The mapping's index of an entity (parents come first in the mapping), or SIZE_MAX. */
static size_t
entity_rank (const tf_mapping_t *mapping, const char *entity)
{
    const tf_entity_t *e = mapping ? tf_mapping_entity (mapping, s_or_empty (entity)) : NULL;
    for (size_t i = 0; e && i < tf_mapping_entity_count (mapping); i++)
        if (tf_mapping_entity_at (mapping, i) == e)
            return i;
    return SIZE_MAX;
}

/*  Sends the batch as one multipart message, one envelope per frame, waiting while the
    queue is full as send_waiting does. ZeroMQ counts whole messages against the HWM and
    hands a message to one loader: once the first frame is taken, the others are too.
    Returns 0, or -1 (given up, or a socket error). */
static int
send_frames (tf_loop_t *self, tf_batch_t *b)
{
    int64_t logged = 0;
    for (;;) {
        int flags = ZMQ_DONTWAIT | (b->count > 1 ? ZMQ_SNDMORE : 0);
        if (zmq_send (self->push, b->items[0].out, b->items[0].out_size, flags) >= 0)
            break;
        int e = zmq_errno ();
        if (e != EAGAIN && e != EINTR) {
            cm_error ("TRF_SEND_FAILED", "socket=load reason=\"%s\"", zmq_strerror (e));
            return -1;
        }
        if (draining_over (self))
            return -1;
        zmq_pollitem_t item = {self->push, 0, ZMQ_POLLOUT, 0};
        //  After a stop request, short waits so the drain deadline is kept
        int wait = cm_signal_stop_requested () ? 10 : TF_SEND_SLICE_MS;
        if (zmq_poll (&item, 1, wait) < 0 && zmq_errno () != EINTR) {
            cm_error ("TRF_SEND_FAILED", "socket=load reason=\"%s\"", zmq_strerror (zmq_errno ()));
            return -1;
        }
        int64_t now = cm_mono_ms ();
        if (now - logged >= TF_BACKPRESSURE_LOG) {
            cm_info ("TRF_BACKPRESSURE", "socket=load waiting=for_room");
            logged = now;
        }
    }
    for (size_t i = 1; i < b->count; i++) {
        int flags = i + 1 < b->count ? ZMQ_SNDMORE : 0;
        while (zmq_send (self->push, b->items[i].out, b->items[i].out_size, flags) < 0) {
            if (zmq_errno () != EINTR) {
                cm_error ("TRF_SEND_FAILED", "socket=load frame=%zu reason=\"%s\"", i,
                          zmq_strerror (zmq_errno ()));
                return -1;
            }
        }
    }
    return 0;
}

/*  Sends a batch, then reports each record (transformed, or unsent when no loader took
    the message) and empties the batch. Returns 0, or -1 when the send failed. */
static int
batch_send (tf_loop_t *self, tf_batch_t *b)
{
    if (!b->count)
        return 0;
    int rc = send_frames (self, b);
    if (rc == 0)
        self->stats.batches++;
    for (size_t i = 0; i < b->count; i++) {
        pending_t *p = &b->items[i];
        if (rc == 0)
            report_transformed (self, p);
        else
            report_unsent (self, p);
        cm_envelope_destroy (&p->env);
        free (p->out);
        free (p->data);
    }
    self->stats.held -= b->count;
    b->count = 0;
    return rc;
}

/*  Before a batch of children goes: the partial batches of parents (lower mapping rank)
    whose own stream has been idle for flush_ms go first, so children less often reach a
    loader before their parents; a parent stream still arriving is not cut short. Returns
    0, or -1 when a send failed. */
static int
send_idle_parents (tf_loop_t *self, const tf_batch_t *child, int64_t now)
{
    int rc = 0;
    for (;;) {
        tf_batch_t *next = NULL;
        for (size_t i = 0; i < self->batch_count; i++) {
            tf_batch_t *b = &self->batches[i];
            if (!b->count || b == child || b->rank >= child->rank ||
                now - b->last_ms < self->flush_ms)
                continue;
            if (!next || b->rank < next->rank)
                next = b;
        }
        if (!next)
            return rc;
        if (batch_send (self, next))
            rc = -1;
    }
}

/*  Sends held batches in the mapping's entity order (parents first): every one when all,
    else those whose oldest record waited max_wait_ms. Returns 0, or -1 when a send failed. */
static int
batches_send (tf_loop_t *self, int64_t now, bool all)
{
    int rc = 0;
    for (;;) {
        tf_batch_t *next = NULL;
        for (size_t i = 0; i < self->batch_count; i++) {
            tf_batch_t *b = &self->batches[i];
            if (!b->count)
                continue;
            if (!all && (self->max_wait_ms <= 0 || now - b->first_ms < self->max_wait_ms))
                continue;
            if (!next || b->rank < next->rank)
                next = b;
        }
        if (!next)
            return rc;
        if (!all && send_idle_parents (self, next, now))
            rc = -1;
        if (batch_send (self, next))
            rc = -1;
    }
}

/*  Milliseconds until a held batch is due (input idle, or its max wait), 0 when one is
    due now, -1 when nothing is held. */
static int64_t
batches_due_in (const tf_loop_t *self, int64_t now)
{
    int64_t due = -1;
    for (size_t i = 0; i < self->batch_count; i++) {
        const tf_batch_t *b = &self->batches[i];
        if (!b->count)
            continue;
        int64_t at = self->last_input_ms + self->flush_ms;
        if (self->max_wait_ms > 0 && b->first_ms + self->max_wait_ms < at)
            at = b->first_ms + self->max_wait_ms;
        int64_t d = at > now ? at - now : 0;
        if (due < 0 || d < due)
            due = d;
    }
    return due;
}

/*  Sends what is due: everything after flush_ms of idle input, else what waited max_wait_ms. */
static int
batches_send_due (tf_loop_t *self, int64_t now)
{
    if (self->batch <= 1)
        return 0;
    return batches_send (self, now, now - self->last_input_ms >= self->flush_ms);
}

/*  Frees the batch slots (all empty). */
static void
batches_clear (tf_loop_t *self)
{
    for (size_t i = 0; i < self->batch_count; i++) {
        tf_batch_t *b = &self->batches[i];
        free (b->items);
        free (b->sobject);
        free (b->ext_id_field);
        memset (b, 0, sizeof *b);
    }
    self->batch_count = 0;
}

/*  Takes a mapped record into its batch (ownership of its fields moves, *p is cleared),
    and sends the batch when it is full. Returns 0, or -1 when a send failed. */
static int
batch_add (tf_loop_t *self, pending_t *p)
{
    const cm_envelope_t *env = p->env;
    int rc = 0;
    tf_batch_t *b = NULL;
    for (size_t i = 0; i < self->batch_count && !b; i++)
        if (strcmp (self->batches[i].sobject, s_or_empty (env->sobject)) == 0 &&
            strcmp (self->batches[i].ext_id_field, s_or_empty (env->ext_id_field)) == 0)
            b = &self->batches[i];
    if (!b) {
        if (self->batch_count == TF_BATCHES_MAX) {
            //  More targets than slots: send everything held and start over
            rc = batches_send (self, cm_mono_ms (), true);
            batches_clear (self);
        }
        b = &self->batches[self->batch_count];
        b->sobject = strdup (s_or_empty (env->sobject));
        b->ext_id_field = strdup (s_or_empty (env->ext_id_field));
        b->items = calloc (self->batch, sizeof *b->items);
        b->rank = entity_rank (self->mapping, env->entity);
        if (!b->sobject || !b->ext_id_field || !b->items) {
            free (b->sobject);
            free (b->ext_id_field);
            free (b->items);
            memset (b, 0, sizeof *b);
            //  No memory for a batch: this record goes alone
            if (send_waiting (self, self->push, "load", p->out, p->out_size))
                return report_unsent (self, p);
            return report_transformed (self, p);
        }
        self->batch_count++;
    }
    int64_t now = cm_mono_ms ();
    if (!b->count)
        b->first_ms = now;
    b->last_ms = now;
    b->items[b->count++] = *p;
    self->stats.held++;
    memset (p, 0, sizeof *p);
    if (b->count >= self->batch) {
        if (send_idle_parents (self, b, now))
            rc = -1;
        if (batch_send (self, b))
            rc = -1;
    }
    return rc;
}

int
tf_loop_flush (tf_loop_t *self)
{
    int rc = batches_send (self, cm_mono_ms (), true);
    return events_flush (self) ? -1 : rc;
}

/*  Commits the memory's writes of the whole group, then sends every record on, in the
    order received: no record leaves before what the memory learnt from it is stored.
    Returns 0, or -1 when a send failed. */
static int
group_flush (tf_loop_t *self)
{
    int rc = 0;
    if (self->group_count && self->mem && self->mem->commit && self->mem->commit (self->mem->arg)) {
        //  The memory could not store what these records taught it: none may leave, and
        //  the process stops (tf_loop_run) rather than go on with a store it cannot write.
        self->store_failed = true;
        for (size_t i = 0; i < self->group_count; i++) {
            pending_t *p = &self->group[i];
            if (p->st != TF_OK)
                continue;
            memset (&p->res, 0, sizeof p->res);
            snprintf (p->res.code, sizeof p->res.code, "MAPPING_INTERNAL");
            snprintf (p->res.reason, sizeof p->res.reason,
                      "the transformer's memory could not store its writes");
            p->res.retryable = true;
            p->st = TF_REJECT;
        }
    }
    for (size_t i = 0; i < self->group_count; i++) {
        pending_t *p = &self->group[i];
        if (group_send (self, p))
            rc = -1;
        cm_envelope_destroy (&p->env);
        free (p->out);
        free (p->data);
    }
    self->group_count = 0;
    return rc;
}

int
tf_loop_handle (tf_loop_t *self, const char *data, size_t size)
{
    char *copy = malloc (size ? size : 1);
    if (!copy) {
        cm_error ("TRF_UNSENT", "what=message reason=out_of_memory bytes=%zu", size);
        self->stats.received++;
        self->stats.unsent++;
        return -1;
    }
    memcpy (copy, data, size);
    self->last_input_ms = cm_mono_ms ();
    group_add (self, copy, size);
    int rc = group_flush (self);
    if (batches_send_due (self, cm_mono_ms ()))
        rc = -1;
    if (events_flush (self))
        rc = -1;
    return rc;
}

int
tf_loop_poll (tf_loop_t *self, int timeout_ms)
{
    char *data = NULL;
    size_t size = 0;
    int64_t deadline = timeout_ms < 0 ? -1 : cm_mono_ms () + timeout_ms;
    int rc;
    //  Wait for input, waking up to send the batches that fall due meanwhile
    for (;;) {
        int64_t now = cm_mono_ms ();
        int64_t wait = deadline < 0 ? -1 : (deadline > now ? deadline - now : 0);
        int64_t due = self->batch > 1 ? batches_due_in (self, now) : -1;
        if (due >= 0 && (wait < 0 || due < wait))
            wait = due;
        rc = cm_zsock_recv (self->pull, &data, &size, (int)wait);
        if (rc != 0)
            break;
        now = cm_mono_ms ();
        if (due >= 0)
            batches_send_due (self, now);
        events_flush (self);
        if (cm_signal_stop_requested () || (deadline >= 0 && now >= deadline))
            return 0;
    }
    if (rc < 0)
        return rc;
    self->last_input_ms = cm_mono_ms ();
    int handled = 0;
    //  Take whatever else is queued, up to a group, so the memory commits once for all.
    do {
        group_add (self, data, size);
        handled++;
    } while (self->group_count < TF_GROUP_MAX && cm_zsock_recv (self->pull, &data, &size, 0) == 1);
    group_flush (self);
    batches_send_due (self, cm_mono_ms ());
    events_flush (self);
    return handled;
}

static void
log_stats (const tf_loop_t *self, const char *event)
{
    cm_info (event,
             "received=%llu transformed=%llu skipped=%llu rejected=%llu bad=%llu "
             "unsent=%llu deferred=%llu batches=%llu",
             (unsigned long long)self->stats.received, (unsigned long long)self->stats.transformed,
             (unsigned long long)self->stats.skipped, (unsigned long long)self->stats.rejected,
             (unsigned long long)self->stats.bad, (unsigned long long)self->stats.unsent,
             (unsigned long long)self->stats.deferred, (unsigned long long)self->stats.batches);
}

int
tf_loop_run (tf_loop_t *self, int idle_ms)
{
    int64_t last_msg = cm_mono_ms ();
    int64_t last_stats = last_msg;
    uint64_t logged_received = 0;
    for (;;) {
        if (draining_over (self))
            break;
        int rc = tf_loop_poll (self, TF_IDLE_POLL_MS);
        if (rc < 0) {
            if (errno == ETERM)
                break;
            cm_error ("TRF_RECV_FAILED", "reason=\"%s\"", zmq_strerror (errno));
            return -1;
        }
        if (self->store_failed) {
            cm_error ("TRF_STORE_FAILED",
                      "reason=\"the memory store (data_dir/transformer) cannot be written; the "
                      "last records were dead-lettered as retryable; stopping. Check free disk "
                      "space and the permissions of data_dir, then restart\"");
            tf_loop_flush (self); //  what was held was stored before
            log_stats (self, "TRF_STOPPED");
            return -1;
        }
        int64_t now = cm_mono_ms ();
        if (rc == 0) {
            //  Nothing queued: after a stop request that is the end of the drain.
            if (cm_signal_stop_requested ())
                break;
            if (idle_ms > 0 && now - last_msg >= idle_ms)
                break;
        } else
            last_msg = now;
        if (now - last_stats >= TF_STATS_LOG_MS && self->stats.received != logged_received) {
            log_stats (self, "TRF_STATS");
            last_stats = now;
            logged_received = self->stats.received;
        }
    }
    //  Nothing held is lost: the partial batches go before the loop ends
    tf_loop_flush (self);
    log_stats (self, "TRF_STOPPED");
    return 0;
}
