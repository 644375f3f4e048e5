/*  tf_ops: the transformer's metrics. See tf_ops.h. */
#include "tf_ops.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "cm_log.h"

struct tf_ops_t {
    tf_loop_t *loop;          /* the loop whose counters are sampled (borrowed) */
    cm_metric_t *in;          /* records received */
    cm_metric_t *out;         /* records sent to the loaders */
    cm_metric_t *skipped;     /* records a skip route dropped */
    cm_metric_t *rejected;    /* errors: rejected (dead letters) */
    cm_metric_t *bad;         /* errors: messages that did not decode */
    cm_metric_t *unsent;      /* errors: given up at shutdown */
    cm_metric_t *store;       /* errors: memory commits that failed */
    tf_memory_ops_t mem;      /* the memory's original callbacks */
    atomic_bool store_failed; /* the last commit failed */
};

/* ---- memory wrappers: forward, and watch commit ------------------------------------ */

static int
s_merge_union (void *arg, const char *sobject, const char *ext_id, const char *field,
               const char *value, char **merged)
{
    tf_ops_t *self = arg;
    return self->mem.merge_union (self->mem.arg, sobject, ext_id, field, value, merged);
}

static int
s_match (void *arg, const char *sobject, const char *match, const char *entity, const char *own_key,
         char **account)
{
    tf_ops_t *self = arg;
    return self->mem.match (self->mem.arg, sobject, match, entity, own_key, account);
}

static int
s_resolve (void *arg, const char *sobject, const char *key, char **account)
{
    tf_ops_t *self = arg;
    return self->mem.resolve (self->mem.arg, sobject, key, account);
}

static int
s_remember (void *arg, const char *ext_id, const char *sobject)
{
    tf_ops_t *self = arg;
    return self->mem.remember (self->mem.arg, ext_id, sobject);
}

static int
s_sobject_of (void *arg, const char *ext_id, char **sobject)
{
    tf_ops_t *self = arg;
    return self->mem.sobject_of (self->mem.arg, ext_id, sobject);
}

static int
s_commit (void *arg)
{
    tf_ops_t *self = arg;
    int rc = self->mem.commit (self->mem.arg);
    atomic_store (&self->store_failed, rc != 0);
    if (rc != 0)
        cm_metric_add (self->store, 1);
    return rc;
}

static int
s_health (void *arg, char *why, size_t why_cap)
{
    tf_ops_t *self = arg;
    if (!atomic_load (&self->store_failed))
        return 0;
    snprintf (why, why_cap, "the transformer's memory store cannot be written");
    return -1;
}

//  The loop's counters are plain integers written by the loop thread; a sample may be one
//  message behind, which is all a metric needs (aligned 64-bit reads do not tear here).
static void
s_sample (void *arg)
{
    tf_ops_t *self = arg;
    if (!self->loop)
        return;
    tf_stats_t s;
    tf_loop_stats (self->loop, &s);
    cm_metric_set (self->in, (int64_t)s.received);
    cm_metric_set (self->out, (int64_t)s.transformed);
    cm_metric_set (self->skipped, (int64_t)s.skipped);
    cm_metric_set (self->rejected, (int64_t)s.rejected);
    cm_metric_set (self->bad, (int64_t)s.bad);
    cm_metric_set (self->unsent, (int64_t)s.unsent);
}

tf_ops_t *
tf_ops_new (cm_daemon_t *daemon, tf_loop_t *loop, tf_memory_ops_t *mem, int peer_grace_s)
{
    tf_ops_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    cm_metrics_t *m = cm_daemon_metrics (daemon);
    self->in = cm_metrics_counter (m, "records_in_total", "Records received per stage",
                                   "stage=\"transformer\"");
    self->out = cm_metrics_counter (m, "records_out_total", "Records sent on per stage",
                                    "stage=\"transformer\"");
    self->skipped =
        cm_metrics_counter (m, "records_skipped_total", "Records a skip route dropped", NULL);
    self->rejected = cm_metrics_counter (m, "errors_total", "Errors by class",
                                         "stage=\"transformer\",class=\"rejected\"");
    self->bad = cm_metrics_counter (m, "errors_total", "Errors by class",
                                    "stage=\"transformer\",class=\"bad_envelope\"");
    self->unsent = cm_metrics_counter (m, "errors_total", "Errors by class",
                                       "stage=\"transformer\",class=\"unsent\"");
    self->store = cm_metrics_counter (m, "errors_total", "Errors by class",
                                      "stage=\"transformer\",class=\"store\"");
    cm_daemon_add_sampler (daemon, s_sample, self);
    cm_daemon_add_health (daemon, s_health, self);
    //  Health names the first link without a peer, in this order: the loaders matter most
    //  (nothing leaves without them), then the replayer (no outcome is recorded), then the
    //  extractors (no input: not urgent, but not healthy either).
    if (loop &&
        (cm_daemon_watch_peers (daemon, tf_loop_load_socket (loop), "loader", peer_grace_s) ||
         cm_daemon_watch_peers (daemon, tf_loop_events_socket (loop), "replayer", peer_grace_s) ||
         cm_daemon_watch_peers (daemon, tf_loop_extract_socket (loop), "extractor", peer_grace_s)))
        cm_warn ("TRF_PEERS_UNWATCHED", "reason=\"cannot monitor the ZeroMQ sockets\"");
    if (mem) {
        self->mem = *mem;
        *mem = (tf_memory_ops_t){s_merge_union, s_match,  s_resolve, s_remember,
                                 s_sobject_of,  s_commit, self};
    }
    return self;
}

void
tf_ops_destroy (tf_ops_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}
