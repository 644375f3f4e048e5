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
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zsock.h"

#define TF_SEND_SLICE_MS    200   /* one wait for room in a full queue */
#define TF_BACKPRESSURE_LOG 10000 /* log a waiting sender at most this often (ms) */
#define TF_STATS_LOG_MS     30000 /* periodic counters */
#define TF_GROUP_MAX        64    /* messages handled between two memory commits */

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

struct tf_loop_t {
    void *pull;                    /* extract socket, bound */
    void *push;                    /* load socket, bound */
    void *events;                  /* events socket, connected */
    const tf_mapping_t *mapping;   /* borrowed */
    const tf_memory_ops_t *mem;    /* borrowed, may be NULL */
    tf_memory_ops_t mem_group;     /* mem without commit: the group commits once */
    pending_t group[TF_GROUP_MAX]; /* messages handled, not yet sent on */
    size_t group_count;            /* number of them */
    int drain_ms;                  /* time allowed after a stop request */
    int64_t stop_deadline;         /* mono ms when draining ends; -1 before a stop */
    tf_stats_t stats;              /* counters */
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
    //  The load socket lingers for the drain time so queued envelopes reach a loader.
    self->pull =
        cm_zsock_new (ctx, ZMQ_PULL, cfg->extract_endpoint, true, cfg->hwm, 0, err, err_cap);
    if (!self->pull)
        goto fail;
    self->push = cm_zsock_new (ctx, ZMQ_PUSH, cfg->load_endpoint, true, cfg->hwm, cfg->drain_ms,
                               err, err_cap);
    if (!self->push)
        goto fail;
    self->events = cm_zsock_new (ctx, ZMQ_PUSH, cfg->events_endpoint, false, cfg->hwm,
                                 cfg->drain_ms, err, err_cap);
    if (!self->events)
        goto fail;
    return self;
fail:
    tf_loop_destroy (&self);
    return NULL;
}

void
tf_loop_destroy (tf_loop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_loop_t *self = *self_p;
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

static int
send_event (tf_loop_t *self, cm_event_t *ev, const cm_envelope_t *env)
{
    char *data = NULL;
    size_t size = 0;
    if (cm_event_encode (ev, &data, &size)) {
        cm_error ("TRF_EVENT_ENCODE", "tenant=%s entity=%s key=%s", env->tenant, env->entity,
                  env->key);
        return -1;
    }
    int rc = send_waiting (self, self->events, "events", data, size);
    free (data);
    if (rc) {
        self->stats.unsent++;
        cm_error ("TRF_UNSENT", "what=event outcome=%s tenant=%s entity=%s key=%s",
                  cm_outcome_name (ev->outcome), env->tenant, env->entity, env->key);
    }
    return rc;
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

/*  Sends one handled record on: the envelope and its event, or the dead letter. */
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
    if (send_waiting (self, self->push, "load", p->out, p->out_size)) {
        //  No loader took it before shutdown: hand it to the dead-letter store as a
        //  retryable failure (replayable) rather than lose it.
        self->stats.unsent++;
        cm_error ("TRF_UNSENT", "what=envelope tenant=%s entity=%s key=%s", env->tenant,
                  env->entity, env->key);
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

/*  Commits the memory's writes of the whole group, then sends every record on, in the
    order received: no record leaves before what the memory learnt from it is stored.
    Returns 0, or -1 when a send failed. */
static int
group_flush (tf_loop_t *self)
{
    int rc = 0;
    if (self->group_count && self->mem && self->mem->commit && self->mem->commit (self->mem->arg)) {
        //  The memory could not store what these records taught it: none may leave.
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
    group_add (self, copy, size);
    return group_flush (self);
}

int
tf_loop_poll (tf_loop_t *self, int timeout_ms)
{
    char *data = NULL;
    size_t size = 0;
    int rc = cm_zsock_recv (self->pull, &data, &size, timeout_ms);
    if (rc <= 0)
        return rc;
    int handled = 0;
    //  Take whatever else is queued, up to a group, so the memory commits once for all.
    do {
        group_add (self, data, size);
        handled++;
    } while (self->group_count < TF_GROUP_MAX && cm_zsock_recv (self->pull, &data, &size, 0) == 1);
    group_flush (self);
    return handled;
}

static void
log_stats (const tf_loop_t *self, const char *event)
{
    cm_info (event,
             "received=%llu transformed=%llu skipped=%llu rejected=%llu bad=%llu "
             "unsent=%llu",
             (unsigned long long)self->stats.received, (unsigned long long)self->stats.transformed,
             (unsigned long long)self->stats.skipped, (unsigned long long)self->stats.rejected,
             (unsigned long long)self->stats.bad, (unsigned long long)self->stats.unsent);
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
        int rc = tf_loop_poll (self, 200);
        if (rc < 0) {
            if (errno == ETERM)
                break;
            cm_error ("TRF_RECV_FAILED", "reason=\"%s\"", zmq_strerror (errno));
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
    log_stats (self, "TRF_STOPPED");
    return 0;
}
