/*  rp_daemon: the replayer's run loop. See rp_daemon.h. */
#include "rp_daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "cm_confirm.h"
#include "cm_daemon.h"
#include "cm_event.h"
#include "cm_event_batch.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zsock.h"

/* events read (a batch at most 256 more) before a commit; a burst's write batch, its
   confirmations and what waits in the socket meanwhile are held at once: with 5,000 the
   replayer peaked at 56-62 MiB at 100 ms with one loader (whose Bulk results come in
   bursts), with 2,000 at 51-52, for about 3 % more of its CPU (more, smaller commits) */
#define RP_BURST_MAX        2000
#define RP_ID_MAX           128   /* longest envelope id accepted in a control request */
#define RP_REDRIVE_SCAN_MS  5000  /* how often retryable dead letters are looked at */
#define RP_METRICS_MS       1000  /* how often the metric gauges are refreshed */
#define RP_EXPIRE_TICK_MS   1000  /* audit retention: one bounded step this often */
#define RP_EXPIRE_VISIT_MAX 20000 /* audit entries looked at per step at most */
#define RP_EXPIRE_PAUSE_MS  60000 /* rest after a whole sweep (less when retention is less) */
#define RP_PEERLESS_S       120   /* unhealthy after this long with no stage connected */
#define RP_CONFIRM_MAX      (4 * RP_BURST_MAX) /* confirmations waiting for a commit at most */

typedef struct {
    cm_metric_t *received;                   /* events received */
    cm_metric_t *outcomes[CM_OUTCOME_COUNT]; /* events by outcome */
    cm_metric_t *bad_events;                 /* messages that did not decode */
    cm_metric_t *dl_open;                    /* dead letters open */
    cm_metric_t *dl_created;                 /* dead letters created */
    cm_metric_t *replayed;                   /* envelopes re-fed */
    cm_metric_t *replay_queue;               /* replay queue depth */
    cm_metric_t *audit_expired;              /* audit entries removed by retention */
} rp_metrics_t;

struct rp_daemon_t {
    rp_store_t *store;        /* audit trail and dead letters */
    void *ctx;                /* ZeroMQ context */
    void *events;             /* PULL, bound */
    void *replay;             /* PUSH, bound */
    void *control;            /* REP, bound, or NULL */
    void *confirm;            /* PUB, bound, or NULL: delivery confirmations */
    char **cf_tenant;         /* confirmations waiting for the next commit: topics */
    char **cf_data;           /* ... their encoded bodies */
    size_t *cf_size;          /* ... their sizes */
    size_t cf_count;          /* confirmations waiting */
    uint64_t cf_dropped;      /* confirmations not queued (full, OOM): leases recover them */
    int stats_interval_ms;    /* RPL_STATS period */
    int replay_rate;          /* replays per second */
    char **queue;             /* replay queue: envelope ids, FIFO ring */
    size_t q_head;            /* index of the oldest id */
    size_t q_count;           /* ids in the queue */
    size_t q_cap;             /* allocated slots */
    double tokens;            /* replay token bucket */
    int64_t tokens_at_ms;     /* when tokens were last refilled (monotonic) */
    uint64_t received;        /* events received since start */
    int64_t redrive_base_ms;  /* first redrive delay, < 0 = off */
    int64_t redrive_max_ms;   /* longest redrive delay */
    int redrive_max;          /* failures before a dead letter waits for an operator */
    int64_t retention_ms;     /* audit retention, 0 = keep forever */
    int64_t next_expire_ms;   /* monotonic time of the next retention step */
    cm_daemon_t *ops;         /* security policy, metrics and health, or NULL */
    rp_metrics_t m;           /* metric handles (NULL without ops) */
    atomic_bool store_failed; /* a store write failed: unhealthy */
};

/* ---- metrics and health ------------------------------------------------------------ */

static int
s_health (void *arg, char *why, size_t why_cap)
{
    rp_daemon_t *self = arg;
    if (atomic_load (&self->store_failed)) {
        snprintf (why, why_cap, "the replayer store cannot be written");
        return -1;
    }
    return 0;
}

static int
s_ops_new (rp_daemon_t *self, const cm_config_t *cfg, char *err, size_t err_cap)
{
    self->ops = cm_daemon_new ("replayer", self->ctx, cfg, err, err_cap);
    if (!self->ops)
        return -1;
    cm_metrics_t *m = cm_daemon_metrics (self->ops);
    rp_metrics_t *h = &self->m;
    h->received = cm_metrics_counter (m, "records_in_total", "Messages received per stage",
                                      "stage=\"replayer\"");
    for (int i = 0; i < CM_OUTCOME_COUNT; i++) {
        char labels[64];
        snprintf (labels, sizeof labels, "outcome=\"%s\"", cm_outcome_name ((cm_outcome_t)i));
        h->outcomes[i] =
            cm_metrics_counter (m, "events_total", "Pipeline events audited by outcome", labels);
    }
    h->bad_events = cm_metrics_counter (m, "errors_total", "Errors by class",
                                        "stage=\"replayer\",class=\"bad_event\"");
    h->dl_open = cm_metrics_gauge (m, "dead_letters_open", "Dead letters open now", NULL);
    h->dl_created =
        cm_metrics_counter (m, "dead_letters_created_total", "Dead letters created", NULL);
    h->replayed = cm_metrics_counter (m, "records_out_total", "Messages sent per stage",
                                      "stage=\"replayer\"");
    h->audit_expired =
        cm_metrics_counter (m, "audit_expired_total", "Audit entries removed by retention", NULL);
    h->replay_queue =
        cm_metrics_gauge (m, "queue_depth", "Records waiting in a queue", "queue=\"replay\"");
    cm_daemon_add_health (self->ops, s_health, self);
    return 0;
}

//  Refreshes the metrics from the store counters (loop thread: the store is not shared).
static void
s_metrics_update (rp_daemon_t *self)
{
    if (!self->ops)
        return;
    rp_stats_t st;
    rp_store_stats (self->store, &st);
    cm_metric_set (self->m.received, (int64_t)self->received);
    for (int i = 0; i < CM_OUTCOME_COUNT; i++)
        cm_metric_set (self->m.outcomes[i], (int64_t)st.outcomes[i]);
    cm_metric_set (self->m.bad_events, (int64_t)st.bad_events);
    cm_metric_set (self->m.dl_open, (int64_t)st.dl_open);
    cm_metric_set (self->m.dl_created, (int64_t)st.dl_created);
    cm_metric_set (self->m.replayed, (int64_t)st.replayed);
    cm_metric_set (self->m.replay_queue, (int64_t)self->q_count);
    cm_metric_set (self->m.audit_expired, (int64_t)st.audit_expired);
}

/* ---- life cycle -------------------------------------------------------------------- */

rp_daemon_t *
rp_daemon_new (const rp_daemon_config_t *cfg, char *err, size_t err_cap)
{
    rp_daemon_t *self = calloc (1, sizeof *self);
    char *path = NULL;
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->stats_interval_ms = cfg->stats_interval_ms > 0 ? cfg->stats_interval_ms : 10000;
    self->replay_rate = cfg->replay_rate > 0 ? cfg->replay_rate : 50;
    self->redrive_base_ms = cfg->redrive_base_ms ? cfg->redrive_base_ms : 30000;
    self->redrive_max_ms = cfg->redrive_max_ms > 0 ? cfg->redrive_max_ms : 3600000;
    self->redrive_max = cfg->redrive_max > 0 ? cfg->redrive_max : 8;
    self->retention_ms = cfg->audit_retention_ms > 0 ? cfg->audit_retention_ms : 0;
    if (mkdir (cfg->data_dir, 0750) != 0 && errno != EEXIST) {
        snprintf (err, err_cap, "data_dir %s: cannot create: %s", cfg->data_dir, strerror (errno));
        goto fail;
    }
    if (asprintf (&path, "%s/replayer", cfg->data_dir) < 0) {
        path = NULL;
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->store = rp_store_open (path, false, err, err_cap);
    if (!self->store)
        goto fail;
    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        snprintf (err, err_cap, "zmq_ctx_new: %s", zmq_strerror (errno));
        goto fail;
    }
    if (cfg->ops && s_ops_new (self, cfg->ops, err, err_cap) != 0)
        goto fail;
    self->events =
        cm_zsock_new (self->ctx, ZMQ_PULL, cfg->events_endpoint, true, cfg->hwm, 0, err, err_cap);
    if (!self->events)
        goto fail;
    self->replay = cm_zsock_new (self->ctx, ZMQ_PUSH, cfg->replay_endpoint, true, cfg->hwm, 2000,
                                 err, err_cap);
    if (!self->replay)
        goto fail;
    if (cfg->control_endpoint && *cfg->control_endpoint) {
        self->control =
            cm_zsock_new (self->ctx, ZMQ_REP, cfg->control_endpoint, true, 100, 0, err, err_cap);
        if (!self->control)
            goto fail;
    }
    if (cfg->confirm_endpoint && *cfg->confirm_endpoint) {
        self->confirm = cm_zsock_new (self->ctx, ZMQ_PUB, cfg->confirm_endpoint, true, cfg->hwm, 0,
                                      err, err_cap);
        if (!self->confirm)
            goto fail;
        self->cf_tenant = calloc (RP_CONFIRM_MAX, sizeof *self->cf_tenant);
        self->cf_data = calloc (RP_CONFIRM_MAX, sizeof *self->cf_data);
        self->cf_size = calloc (RP_CONFIRM_MAX, sizeof *self->cf_size);
        if (!self->cf_tenant || !self->cf_data || !self->cf_size) {
            snprintf (err, err_cap, "out of memory");
            goto fail;
        }
    }
    if (self->ops)
        cm_daemon_watch_peers (self->ops, self->events, "events", RP_PEERLESS_S);
    self->tokens_at_ms = cm_mono_ms ();
    free (path);
    return self;
fail:
    free (path);
    rp_daemon_destroy (&self);
    return NULL;
}

void
rp_daemon_destroy (rp_daemon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rp_daemon_t *self = *self_p;
    cm_zsock_destroy (&self->events);
    cm_zsock_destroy (&self->replay);
    cm_zsock_destroy (&self->control);
    for (size_t i = 0; i < self->cf_count; i++) {
        free (self->cf_tenant[i]);
        free (self->cf_data[i]);
    }
    free (self->cf_tenant);
    free (self->cf_data);
    free (self->cf_size);
    cm_zsock_destroy (&self->confirm);
    cm_daemon_destroy (&self->ops);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    rp_store_destroy (&self->store);
    for (size_t i = 0; i < self->q_count; i++)
        free (self->queue[(self->q_head + i) % self->q_cap]);
    free (self->queue);
    free (self);
    *self_p = NULL;
}

rp_store_t *
rp_daemon_store (rp_daemon_t *self)
{
    return self->store;
}

size_t
rp_daemon_replay_queued (const rp_daemon_t *self)
{
    return self->q_count;
}

/* ---- confirmations ----------------------------------------------------------------- */

/*  Queues the confirmation of a stored final outcome; it is published after the commit. */
static void
confirm_queue (rp_daemon_t *self, const cm_event_t *ev)
{
    if (!self->confirm || !cm_confirm_is_final (ev->outcome))
        return;
    char *data = NULL;
    size_t size = 0;
    char *tenant = NULL;
    if (self->cf_count >= RP_CONFIRM_MAX || cm_confirm_encode_event (ev, &data, &size) != 0 ||
        !(tenant = strdup (ev->tenant))) {
        free (data);
        self->cf_dropped++;
        return;
    }
    self->cf_tenant[self->cf_count] = tenant;
    self->cf_data[self->cf_count] = data;
    self->cf_size[self->cf_count] = size;
    self->cf_count++;
}

/*  Publishes the queued confirmations (after a commit). A PUB socket drops what no
    subscriber can take; the extractor's lease recovers from that. */
static void
confirm_publish (rp_daemon_t *self)
{
    for (size_t i = 0; i < self->cf_count; i++) {
        if (zmq_send (self->confirm, self->cf_tenant[i], strlen (self->cf_tenant[i]),
                      ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send (self->confirm, self->cf_data[i], self->cf_size[i], ZMQ_DONTWAIT) < 0)
            self->cf_dropped++;
        free (self->cf_tenant[i]);
        free (self->cf_data[i]);
    }
    self->cf_count = 0;
}

size_t
rp_daemon_confirms_waiting (const rp_daemon_t *self)
{
    return self->cf_count;
}

/* ---- events ------------------------------------------------------------------------ */

int
rp_daemon_handle_event (rp_daemon_t *self, const void *data, size_t size)
{
    char reason[256] = "";
    self->received++;
    cm_event_t *ev = cm_event_decode (data, size, reason, sizeof reason);
    if (!ev) {
        rp_store_count_bad_event (self->store);
        cm_warn ("RPL_BAD_EVENT", "size=%zu reason=\"%s\"", size, reason);
        return 0;
    }
    int rc = rp_store_apply (self->store, ev);
    if (rc != 0)
        cm_error ("RPL_STORE_ERROR", "op=apply eid=%s error=\"%s\"",
                  ev->envelope_id ? ev->envelope_id : "", rp_store_error (self->store));
    else
        confirm_queue (self, ev);
    if (rc == 0 && (ev->outcome == CM_OUTCOME_FAILED || ev->outcome == CM_OUTCOME_REJECTED)) {
        char msg[160];
        cm_info ("RPL_DEAD_LETTER", "id=%s tenant=%s entity=%s key=%s stage=%s code=%s msg=\"%s\"",
                 ev->envelope_id ? ev->envelope_id : "", ev->tenant ? ev->tenant : "",
                 ev->entity ? ev->entity : "", ev->key ? ev->key : "", cm_stage_name (ev->stage),
                 ev->error_code ? ev->error_code : "",
                 cm_log_excerpt (ev->message ? ev->message : "",
                                 ev->message ? strlen (ev->message) : 0, 100, msg, sizeof msg));
    }
    cm_event_destroy (&ev);
    return rc;
}

/* ---- replay queue ------------------------------------------------------------------ */

static int
queue_push (rp_daemon_t *self, const char *id)
{
    if (self->q_count >= RP_DAEMON_REPLAY_QUEUE_MAX)
        return -1;
    if (self->q_count == self->q_cap) {
        size_t cap = self->q_cap ? self->q_cap * 2 : 64;
        char **q = malloc (cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < self->q_count; i++)
            q[i] = self->queue[(self->q_head + i) % self->q_cap];
        free (self->queue);
        self->queue = q;
        self->q_cap = cap;
        self->q_head = 0;
    }
    char *copy = strdup (id);
    if (!copy)
        return -1;
    self->queue[(self->q_head + self->q_count) % self->q_cap] = copy;
    self->q_count++;
    return 0;
}

static void
queue_pop (rp_daemon_t *self)
{
    free (self->queue[self->q_head]);
    self->q_head = (self->q_head + 1) % self->q_cap;
    self->q_count--;
}

int
rp_daemon_replay_tick (rp_daemon_t *self, int64_t now_ms)
{
    int sent = 0;
    double elapsed = (double)(now_ms - self->tokens_at_ms);
    self->tokens_at_ms = now_ms;
    if (elapsed > 0)
        self->tokens += elapsed * self->replay_rate / 1000.0;
    /* a burst of at most one second's worth */
    if (self->tokens > self->replay_rate)
        self->tokens = self->replay_rate;
    while (self->q_count > 0 && self->tokens >= 1.0) {
        const char *id = self->queue[self->q_head];
        char *data = NULL;
        size_t size = 0;
        int rc = rp_store_envelope (self->store, id, &data, &size);
        if (rc < 0) {
            cm_error ("RPL_STORE_ERROR", "op=replay_read id=%s error=\"%s\"", id,
                      rp_store_error (self->store));
            return -1;
        }
        if (rc == 0) {
            cm_warn ("RPL_REPLAY_SKIPPED", "id=%s reason=\"dead letter gone or has no envelope\"",
                     id);
            queue_pop (self);
            continue;
        }
        if (zmq_send (self->replay, data, size, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            free (data);
            if (e == EAGAIN)
                break; /* no loader connected or their queues are full: later */
            if (e == EINTR)
                break;
            cm_error ("RPL_SOCKET_ERROR", "op=replay_send error=\"%s\"", zmq_strerror (e));
            return -1;
        }
        free (data);
        self->tokens -= 1.0;
        if (rp_store_note_replay (self->store, id) < 0) {
            cm_error ("RPL_STORE_ERROR", "op=replay_note id=%s error=\"%s\"", id,
                      rp_store_error (self->store));
            return -1;
        }
        cm_info ("RPL_REPLAYED", "id=%s size=%zu", id, size);
        queue_pop (self);
        sent++;
    }
    if (self->q_count == 0 && self->tokens > 1.0)
        self->tokens = 1.0;
    return sent;
}

/* ---- automatic redrive ------------------------------------------------------------- */

typedef struct {
    rp_daemon_t *self; /* the daemon */
    int64_t now_ms;    /* wall clock */
    int queued;        /* ids queued */
} redrive_ctx_t;

static int
redrive_one (const rp_dead_letter_t *dl, void *arg)
{
    redrive_ctx_t *c = arg;
    rp_daemon_t *self = c->self;
    if (strcmp (dl->error_class, "retryable") != 0 || dl->env_size == 0)
        return 0;
    /* a replay with no outcome since (lost with a killed loader, or slow) counts as a
       failure at its own time: the same backoff and the same bound */
    bool no_outcome = rp_dead_letter_awaits_outcome (dl);
    uint32_t tries = dl->attempts + dl->unanswered + (no_outcome ? 1 : 0);
    if (tries >= (uint32_t)self->redrive_max)
        return 0;
    int64_t delay = self->redrive_base_ms;
    for (uint32_t i = 1; i < tries && delay < self->redrive_max_ms; i++)
        delay *= 2;
    if (delay > self->redrive_max_ms)
        delay = self->redrive_max_ms;
    if (c->now_ms < (no_outcome ? dl->last_replay_ms : dl->last_failure_ms) + delay)
        return 0;
    if (queue_push (self, dl->id) != 0)
        return 1;
    c->queued++;
    cm_info ("RPL_REDRIVE",
             "id=%s tenant=%s entity=%s key=%s code=%s attempts=%" PRIu32 " unanswered=%" PRIu32
             "%s",
             dl->id, dl->tenant, dl->entity, dl->key, dl->code, dl->attempts,
             dl->unanswered + (no_outcome ? 1 : 0),
             no_outcome ? " reason=\"no outcome for the last replay\"" : "");
    return 0;
}

static int commit (rp_daemon_t *self, bool sync);

int
rp_daemon_retention_tick (rp_daemon_t *self, int64_t now_ms, bool *wrapped)
{
    *wrapped = true;
    if (self->retention_ms <= 0)
        return 0;
    int n = rp_store_expire_audit (self->store, now_ms - self->retention_ms, RP_EXPIRE_VISIT_MAX,
                                   wrapped);
    if (n < 0) {
        cm_error ("RPL_STORE_ERROR", "op=audit_retention error=\"%s\" action=stop",
                  rp_store_error (self->store));
        atomic_store (&self->store_failed, true);
        return -1;
    }
    if (n > 0) {
        if (commit (self, false) != 0)
            return -1;
        rp_stats_t st;
        rp_store_stats (self->store, &st);
        cm_info ("RPL_AUDIT_EXPIRED", "removed=%d total=%" PRIu64 " retention_s=%" PRId64, n,
                 st.audit_expired, self->retention_ms / 1000);
    }
    return n;
}

int
rp_daemon_redrive_scan (rp_daemon_t *self, int64_t now_ms)
{
    if (self->redrive_base_ms < 0)
        return 0;
    redrive_ctx_t c = {self, now_ms, 0};
    if (rp_store_dead_letters (self->store, NULL, redrive_one, &c) != 0) {
        cm_error ("RPL_STORE_ERROR", "op=redrive_scan error=\"%s\"", rp_store_error (self->store));
        return -1;
    }
    return c.queued;
}

/* ---- control ----------------------------------------------------------------------- */

static char *
reply_error (const char *fmt, const char *arg)
{
    char msg[512];
    snprintf (msg, sizeof msg, fmt, arg ? arg : "");
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return NULL;
    cJSON_AddBoolToObject (o, "ok", false);
    cJSON_AddStringToObject (o, "error", msg);
    char *text = cJSON_PrintUnformatted (o);
    cJSON_Delete (o);
    return text;
}

/*  A time bound of a control request in ms: 0 (none) unless a number within int64_t
    (converting a larger double, e.g. 1e300, is undefined behaviour). */
static int64_t
opt_ms (const cJSON *v)
{
    if (!cJSON_IsNumber (v) || !(v->valuedouble > -9.2e18 && v->valuedouble < 9.2e18))
        return 0;
    return (int64_t)v->valuedouble;
}

static const char *
opt_str (const cJSON *req, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive (req, name);
    return cJSON_IsString (it) ? it->valuestring : NULL;
}

typedef struct {
    rp_daemon_t *self; /* the daemon */
    size_t queued;     /* ids queued */
    bool full;         /* the queue was full */
} collect_ctx_t;

static int
collect_one (const rp_dead_letter_t *dl, void *arg)
{
    collect_ctx_t *c = arg;
    if (dl->env_size == 0)
        return 0;
    if (queue_push (c->self, dl->id) != 0) {
        c->full = true;
        return 1;
    }
    c->queued++;
    return 0;
}

static char *
control_replay (rp_daemon_t *self, const cJSON *req, cJSON *reply)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive (req, "ids");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive (req, "all");
    collect_ctx_t c = {self, 0, false};
    if (cJSON_IsArray (ids)) {
        cJSON *missing = cJSON_AddArrayToObject (reply, "missing");
        const cJSON *it;
        cJSON_ArrayForEach (it, ids)
        {
            if (!cJSON_IsString (it) || strlen (it->valuestring) > RP_ID_MAX)
                return reply_error ("ids must be strings of at most 128 characters%s", "");
            rp_dead_letter_t *dl = NULL;
            int rc = rp_store_dead_letter (self->store, it->valuestring, &dl);
            if (rc < 0)
                return reply_error ("store error: %s", rp_store_error (self->store));
            if (rc == 0 || dl->env_size == 0)
                cJSON_AddItemToArray (missing, cJSON_CreateString (it->valuestring));
            else if (queue_push (self, dl->id) != 0)
                c.full = true;
            else
                c.queued++;
            rp_dead_letter_destroy (&dl);
        }
    } else if (cJSON_IsTrue (all)) {
        const cJSON *since = cJSON_GetObjectItemCaseSensitive (req, "since_ms");
        const cJSON *until = cJSON_GetObjectItemCaseSensitive (req, "until_ms");
        rp_filter_t f = {opt_str (req, "tenant"), opt_str (req, "entity"), opt_str (req, "code"),
                         opt_str (req, "text"),   opt_ms (since),          opt_ms (until)};
        if (rp_store_dead_letters (self->store, &f, collect_one, &c) != 0)
            return reply_error ("store error: %s", rp_store_error (self->store));
    } else
        return reply_error ("replay needs \"ids\" (array) or \"all\": true%s", "");
    if (c.full)
        cm_warn ("RPL_REPLAY_QUEUE_FULL", "max=%d", RP_DAEMON_REPLAY_QUEUE_MAX);
    cm_info ("RPL_REPLAY_QUEUED", "count=%zu queue=%zu rate=%d", c.queued, self->q_count,
             self->replay_rate);
    cJSON_AddBoolToObject (reply, "ok", true);
    cJSON_AddNumberToObject (reply, "queued", (double)c.queued);
    cJSON_AddBoolToObject (reply, "queue_full", c.full);
    return cJSON_PrintUnformatted (reply);
}

char *
rp_daemon_handle_control (rp_daemon_t *self, const void *data, size_t size)
{
    if (size > RP_DAEMON_CONTROL_MAX)
        return reply_error ("request larger than %s bytes", "65536");
    cJSON *req = cJSON_ParseWithLength (data, size);
    cJSON *reply = NULL;
    char *text = NULL;
    if (!cJSON_IsObject (req)) {
        text = reply_error ("request is not a JSON object%s", "");
        goto out;
    }
    const char *cmd = opt_str (req, "cmd");
    reply = cJSON_CreateObject ();
    if (!reply)
        goto out;
    if (!cmd)
        text = reply_error ("request has no \"cmd\"%s", "");
    else if (strcmp (cmd, "ping") == 0) {
        cJSON_AddBoolToObject (reply, "ok", true);
        text = cJSON_PrintUnformatted (reply);
    } else if (strcmp (cmd, "stats") == 0) {
        rp_stats_t st;
        rp_store_stats (self->store, &st);
        cJSON_AddBoolToObject (reply, "ok", true);
        cJSON_AddItemToObject (reply, "stats", rp_stats_to_json (&st));
        cJSON_AddNumberToObject (reply, "replay_queue", (double)self->q_count);
        text = cJSON_PrintUnformatted (reply);
    } else if (strcmp (cmd, "replay") == 0)
        text = control_replay (self, req, reply);
    else if (strcmp (cmd, "purge") == 0) {
        const char *id = opt_str (req, "id");
        const char *reason = opt_str (req, "reason");
        if (!id || !*id || strlen (id) > RP_ID_MAX)
            text = reply_error ("purge needs \"id\"%s", "");
        else if (!reason || !*reason)
            text = reply_error ("purge needs a \"reason\"%s", "");
        else {
            int rc = rp_store_purge (self->store, id, reason);
            if (rc < 0) {
                cm_error ("RPL_STORE_ERROR", "op=purge id=%s error=\"%s\"", id,
                          rp_store_error (self->store));
                text = reply_error ("store error: %s", rp_store_error (self->store));
            } else if (rc == 0)
                text = reply_error ("no dead letter with id %s", id);
            else {
                cJSON_AddBoolToObject (reply, "ok", true);
                text = cJSON_PrintUnformatted (reply);
            }
        }
    } else
        text = reply_error ("unknown cmd \"%s\"", cmd);
out:
    cJSON_Delete (req);
    cJSON_Delete (reply);
    return text;
}

/* ---- the loop ---------------------------------------------------------------------- */

/*  Reads up to max messages without waiting. Returns the count, or -1 on a storage or
    socket error. */
static int
drain_events (rp_daemon_t *self, int max)
{
    int n = 0;
    zmq_msg_t msg;
    while (n < max) {
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->events, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close (&msg);
            if (e == EAGAIN || e == EINTR)
                break;
            cm_error ("RPL_SOCKET_ERROR", "op=events_recv error=\"%s\"", zmq_strerror (e));
            return -1;
        }
        bool more = zmq_msg_more (&msg);
        /* one event, or a batch of them (cm_event_batch.h) */
        cm_event_frame_t frame;
        cm_event_frame_init (&frame, zmq_msg_data (&msg), zmq_msg_size (&msg));
        const void *item;
        size_t item_size;
        char why[160];
        int rc = 0, got;
        while (rc == 0 &&
               (got = cm_event_frame_next (&frame, &item, &item_size, why, sizeof why)) != 0) {
            if (got < 0) {
                self->received++;
                rp_store_count_bad_event (self->store);
                cm_warn ("RPL_BAD_EVENT", "size=%zu reason=\"%s\"", zmq_msg_size (&msg), why);
                break;
            }
            rc = rp_daemon_handle_event (self, item, item_size);
            n++;
        }
        zmq_msg_close (&msg);
        /* a multi-part message: the first part counts, the rest is dropped */
        while (more) {
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, self->events, 0) < 0) {
                zmq_msg_close (&msg);
                break;
            }
            more = zmq_msg_more (&msg);
            zmq_msg_close (&msg);
        }
        if (rc != 0)
            return -1;
    }
    return n;
}

static void
serve_control (rp_daemon_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, self->control, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return;
    }
    char *reply = rp_daemon_handle_control (self, zmq_msg_data (&msg), zmq_msg_size (&msg));
    bool more = zmq_msg_more (&msg);
    zmq_msg_close (&msg);
    while (more) {
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->control, 0) < 0) {
            zmq_msg_close (&msg);
            break;
        }
        more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
    }
    const char *text = reply ? reply : "{\"ok\":false,\"error\":\"out of memory\"}";
    if (zmq_send (self->control, text, strlen (text), 0) < 0)
        cm_warn ("RPL_CONTROL_SEND", "error=\"%s\"", zmq_strerror (errno));
    free (reply);
}

static void
log_stats (rp_daemon_t *self)
{
    rp_stats_t st;
    rp_store_stats (self->store, &st);
    cm_info ("RPL_STATS",
             "received=%" PRIu64 " extracted=%" PRIu64 " transformed=%" PRIu64 " rejected=%" PRIu64
             " loaded=%" PRIu64 " failed=%" PRIu64 " retrying=%" PRIu64 " skipped=%" PRIu64
             " bad_events=%" PRIu64 " dl_open=%" PRIu64 " dl_resolved=%" PRIu64 " replayed=%" PRIu64
             " audit=%" PRIu64 " audit_expired=%" PRIu64 " replay_queue=%zu",
             self->received, st.outcomes[CM_OUTCOME_EXTRACTED], st.outcomes[CM_OUTCOME_TRANSFORMED],
             st.outcomes[CM_OUTCOME_REJECTED], st.outcomes[CM_OUTCOME_LOADED],
             st.outcomes[CM_OUTCOME_FAILED], st.outcomes[CM_OUTCOME_RETRYING],
             st.outcomes[CM_OUTCOME_SKIPPED], st.bad_events, st.dl_open, st.dl_resolved,
             st.replayed, st.audit, st.audit_expired, self->q_count);
}

static int
commit (rp_daemon_t *self, bool sync)
{
    if (rp_store_flush (rp_daemon_store (self), sync) == 0) {
        confirm_publish (self);
        return 0;
    }
    cm_error ("RPL_STORE_ERROR", "op=commit error=\"%s\" action=stop",
              rp_store_error (self->store));
    atomic_store (&self->store_failed, true);
    return -1;
}

int
rp_daemon_commit (rp_daemon_t *self, bool sync)
{
    return commit (self, sync);
}

int
rp_daemon_run (rp_daemon_t *self)
{
    int rc = -1;
    int64_t next_stats = cm_mono_ms () + self->stats_interval_ms;
    int64_t next_redrive = cm_mono_ms () + RP_REDRIVE_SCAN_MS;
    self->next_expire_ms = cm_mono_ms () + RP_EXPIRE_TICK_MS;
    int64_t next_metrics = 0;
    zmq_pollitem_t items[2] = {{self->events, 0, ZMQ_POLLIN, 0}, {self->control, 0, ZMQ_POLLIN, 0}};
    int nitems = self->control ? 2 : 1;
    cm_info ("RPL_STARTED", "replay_rate=%d", self->replay_rate);
    while (!cm_signal_stop_requested ()) {
        int64_t now = cm_mono_ms ();
        long timeout = (next_stats < next_redrive ? next_stats : next_redrive) - now;
        if (self->retention_ms > 0 && self->next_expire_ms - now < timeout)
            timeout = self->next_expire_ms - now;
        if (self->ops && timeout > RP_METRICS_MS)
            timeout = RP_METRICS_MS;
        if (self->q_count > 0 && timeout > 20)
            timeout = 20;
        if (timeout < 0)
            timeout = 0;
        if (zmq_poll (items, nitems, timeout) < 0) {
            if (errno == EINTR)
                continue;
            cm_error ("RPL_SOCKET_ERROR", "op=poll error=\"%s\"", zmq_strerror (errno));
            goto out;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            /* a burst, then a commit: batches under load, no waiting when idle */
            if (drain_events (self, RP_BURST_MAX) < 0)
                goto out;
        }
        if ((rp_store_pending (self->store) > 0 || self->cf_count > 0) && commit (self, false) != 0)
            goto out;
        if (nitems > 1 && (items[1].revents & ZMQ_POLLIN))
            serve_control (self);
        if (self->q_count > 0) {
            if (rp_daemon_replay_tick (self, cm_mono_ms ()) < 0)
                goto out;
            if (commit (self, false) != 0)
                goto out;
        }
        now = cm_mono_ms ();
        if (self->retention_ms > 0 && now >= self->next_expire_ms) {
            bool wrapped = false;
            if (rp_daemon_retention_tick (self, cm_now_ms (), &wrapped) < 0)
                goto out;
            int64_t pause =
                self->retention_ms < RP_EXPIRE_PAUSE_MS ? self->retention_ms : RP_EXPIRE_PAUSE_MS;
            self->next_expire_ms = now + (wrapped ? pause : RP_EXPIRE_TICK_MS);
        }
        if (now >= next_redrive) {
            /* only when the queue is empty, so nothing is queued twice */
            if (self->q_count == 0 && rp_daemon_redrive_scan (self, cm_now_ms ()) < 0)
                goto out;
            next_redrive = now + RP_REDRIVE_SCAN_MS;
        }
        if (now >= next_metrics) {
            s_metrics_update (self);
            next_metrics = now + RP_METRICS_MS;
        }
        if (now >= next_stats) {
            log_stats (self);
            next_stats = now + self->stats_interval_ms;
        }
    }
    /* stop: take in what is already queued (bounded, senders may go on), then commit */
    for (int burst = 0; burst < 20; burst++) {
        int n = drain_events (self, RP_BURST_MAX);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
    }
    if (commit (self, true) != 0)
        goto out;
    log_stats (self);
    if (self->q_count > 0)
        cm_warn ("RPL_REPLAY_DROPPED", "count=%zu reason=\"stopping; replays not sent\"",
                 self->q_count);
    cm_info ("RPL_STOPPED", "received=%" PRIu64, self->received);
    rc = 0;
out:
    return rc;
}
