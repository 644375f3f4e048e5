/*  ld_loader: the loader's run loop: sockets, batches, call threads, events. See
    ld_loader.h. */
#include "ld_loader.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cm_envelope.h"
#include "cm_event.h"
#include "cm_event_batch.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zsock.h"
#include "ld_workers.h"
#include "sf_collections.h"

#define LD_EVENT_SEND_MS   5000  /* wait at most this long for room on the events socket */
#define LD_EVENT_LINGER_MS 5000  /* on close, time to deliver the last events */
#define LD_POLL_MAX_MS     1000  /* the loop looks at the stop flag at least this often */
#define LD_READ_BURST      256   /* messages read per socket per turn */
#define LD_STATS_EVERY_MS  60000 /* a LDR_STATS line this often while records move */
#define LD_BULK_POLL_FIRST 250   /* first wait before polling a Bulk job */
#define LD_BULK_POLL_MAX   5000  /* longest wait between polls */

//  One batch at a worker: a Collections call or a Bulk job, and its outcome.
typedef struct {
    ld_loader_t *loader;         /* owner */
    size_t org_index;            /* the org's index in the loader's orgs */
    sf_org_t *org;               /* the org */
    ld_batch_kind_t kind;        /* Collections or Bulk */
    ld_item_t **items;           /* the records (borrowed from the batcher until applied) */
    size_t n;                    /* their number */
    sf_call_result_t result;     /* call-level result */
    sf_error_t err;              /* call-level error */
    sf_record_result_t *results; /* per record (Collections: when OK; Bulk: RECORD) */
    sf_bulk_outcome_t *outcome;  /* Bulk: what happened to each record */
    sf_bulk_info_t info;         /* Bulk: the job's story */
    int64_t ms;                  /* how long the work took */
} ld_job_t;

struct ld_loader_t {
    void *load;                 /* PULL: envelopes from the transformer */
    void *replay;               /* PULL: envelopes from the replayer */
    void *events;               /* PUSH: events to the replayer */
    cm_event_batch_t *ev_batch; /* events not yet sent (s_events_flush) */
    ld_batcher_t *batcher;      /* records waiting for a call */
    ld_orgs_t *orgs;            /* tenant -> org */
    size_t *in_flight;          /* jobs at the workers per org */
    ld_workers_t *workers;      /* call threads */
    size_t max_in_flight;       /* workers, and calls per org at once */
    ld_item_t **scratch;        /* ld_batcher_take's output */
    size_t scratch_cap;         /* its size */
    sf_bulk_options_t bulk;     /* Bulk polling settings */
    int64_t drain_ms;           /* flush budget on stop */
    int64_t cancel_at_ms;       /* atomic: Bulk jobs give up after this (0: never) */
    bool draining;              /* stopping: retryable failures are dead-lettered */
    size_t batch_size;          /* records per Collections call */
    size_t capacity;            /* records the batcher holds at most (salesforce.max_held) */
    ld_loader_stats_t stats;    /* counters (org counters are summed on demand) */
    ld_loader_tick_fn *tick;    /* called about once a second, or NULL */
    void *tick_arg;             /* its argument */
};

int
ld_loader_config_from (const cm_config_t *cfg, ld_loader_config_t *c, char *err, size_t err_cap)
{
    memset (c, 0, sizeof *c);
    const char *orgs_file = cm_config_str (cfg, "salesforce.orgs_file");
    c->orgs_file = orgs_file && *orgs_file ? orgs_file : NULL;
    const char *url = cm_config_str (cfg, "salesforce.url");
    c->have_default_org = url && *url;
    //  Without an orgs file, the default org is the only one and must be complete; with
    //  one, a partial default is a mistake too
    if (!c->orgs_file || c->have_default_org) {
        static const char *const required[] = {"salesforce.url", "salesforce.client_id",
                                               "salesforce.client_secret", NULL};
        if (cm_config_require (cfg, required, err, err_cap) != 0)
            return -1;
    }
    c->load_endpoint = cm_config_str (cfg, "zmq.load_endpoint");
    c->replay_endpoint = cm_config_str (cfg, "zmq.replay_endpoint");
    c->events_endpoint = cm_config_str (cfg, "zmq.events_endpoint");
    c->hwm = (int)cm_config_int (cfg, "zmq.hwm");
    c->drain_ms = cm_config_int (cfg, "salesforce.drain_ms");
    c->max_in_flight = (size_t)cm_config_int (cfg, "salesforce.max_in_flight");
    c->batcher.batch_size = (size_t)cm_config_int (cfg, "salesforce.batch_size");
    c->batcher.capacity = (size_t)cm_config_int (cfg, "salesforce.max_held");
    c->batcher.flush_ms = cm_config_int (cfg, "salesforce.flush_ms");
    c->batcher.max_wait_ms = cm_config_int (cfg, "salesforce.max_batch_wait_ms");
    c->batcher.max_attempts = (int)cm_config_int (cfg, "salesforce.max_attempts");
    c->batcher.backoff_base_ms = (long)cm_config_int (cfg, "http.backoff_base_ms");
    c->batcher.backoff_max_ms = (long)cm_config_int (cfg, "http.backoff_max_ms");
    c->batcher.bulk_threshold = (size_t)cm_config_int (cfg, "salesforce.bulk_threshold");
    c->batcher.bulk_max = c->batcher.capacity;
    c->bulk.poll_first_ms = LD_BULK_POLL_FIRST;
    c->bulk.poll_max_ms = LD_BULK_POLL_MAX;
    c->bulk.timeout_ms = cm_config_int (cfg, "salesforce.bulk_timeout_s") * 1000;
    c->org.name = "default";
    c->org.url = url;
    c->org.client_id = cm_config_str (cfg, "salesforce.client_id");
    c->org.client_secret = cm_config_str (cfg, "salesforce.client_secret");
    c->org.api_version = cm_config_str (cfg, "salesforce.api_version");
    c->org.allow_http = cm_config_bool (cfg, "salesforce.allow_http");
    c->org.session_ttl_s = cm_config_int (cfg, "salesforce.session_ttl_s");
    c->org.token_margin_s = cm_config_int (cfg, "salesforce.token_margin_s");
    c->org.timeout_ms = (long)cm_config_int (cfg, "http.timeout_ms");
    c->org.max_body = (size_t)cm_config_int (cfg, "http.max_body_bytes");
    c->org.pause_ms = cm_config_int (cfg, "salesforce.pause_s") * 1000;
    c->org.slowdown_pct = (int)cm_config_int (cfg, "salesforce.slowdown_pct");
    c->org.pause_pct = (int)cm_config_int (cfg, "salesforce.pause_pct");
    c->org.slowdown_ms = cm_config_int (cfg, "salesforce.slowdown_ms");
    if (!c->load_endpoint || !c->replay_endpoint || !c->events_endpoint) {
        snprintf (err, err_cap, "zmq endpoints must be set");
        return -1;
    }
    if (c->org.pause_pct && c->org.slowdown_pct > c->org.pause_pct) {
        snprintf (err, err_cap,
                  "salesforce.slowdown_pct (%d) must not exceed "
                  "salesforce.pause_pct (%d)",
                  c->org.slowdown_pct, c->org.pause_pct);
        return -1;
    }
    if (c->batcher.bulk_threshold > c->batcher.capacity)
        cm_warn ("LDR_CONFIG",
                 "reason=\"salesforce.bulk_threshold (%zu) is above "
                 "salesforce.max_held (%zu): Bulk API is never used\"",
                 c->batcher.bulk_threshold, c->batcher.capacity);
    return 0;
}

static bool
s_cancelled (void *arg)
{
    ld_loader_t *self = arg;
    int64_t at = __atomic_load_n (&self->cancel_at_ms, __ATOMIC_ACQUIRE);
    return at > 0 && cm_mono_ms () >= at;
}

static void s_work (void *job_p, cm_http_t *http, void *arg);
static void s_job_destroy (ld_job_t **job_p);

static void
s_job_discard (void *job)
{
    ld_job_t *j = job;
    //  Only at destroy: the batcher is going too, so its records go with the job
    for (size_t i = 0; i < j->n; i++)
        ld_item_destroy (&j->items[i]);
    s_job_destroy (&j);
}

ld_loader_t *
ld_loader_new (void *zmq_ctx, const ld_loader_config_t *config, char *err, size_t err_cap)
{
    assert (zmq_ctx && config);
    ld_loader_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->drain_ms = config->drain_ms;
    self->max_in_flight = config->max_in_flight ? config->max_in_flight : 1;
    self->bulk = config->bulk;
    self->bulk.cancelled = s_cancelled;
    self->bulk.cancelled_arg = self;
    self->orgs = ld_orgs_new (&config->org, config->have_default_org, config->orgs_file,
                              config->resolve, config->resolve_arg, err, err_cap);
    if (!self->orgs)
        goto fail;
    self->in_flight = calloc (ld_orgs_count (self->orgs), sizeof *self->in_flight);
    self->batcher = ld_batcher_new (&config->batcher);
    if (!self->in_flight || !self->batcher) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->batch_size = config->batcher.batch_size;
    if (self->batch_size < 1 || self->batch_size > SF_COLLECTIONS_MAX)
        self->batch_size = SF_COLLECTIONS_MAX;
    self->capacity = config->batcher.capacity;
    //  Room for the largest batch ld_batcher_take can hand out
    self->scratch_cap = config->batcher.capacity > SF_COLLECTIONS_MAX ? config->batcher.capacity
                                                                      : SF_COLLECTIONS_MAX;
    self->scratch = calloc (self->scratch_cap, sizeof *self->scratch);
    if (!self->scratch) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->workers = ld_workers_new (self->max_in_flight, s_work, self, config->org.max_body,
                                    config->org.timeout_ms, err, err_cap);
    if (!self->workers)
        goto fail;
    //  Loaders connect (they scale out); the transformer and the replayer bind. The load
    //  socket keeps zmq.hwm messages: the transformer bounds its batches with its send HWM
    //  (hwm / batch). A receive HWM of hwm / batch_size made ZeroMQ lose what was in flight
    //  whenever a sender of single envelopes (mlc-ldfeed, an older transformer) closed
    //  while this queue was full (docs/salesforce.md, "Whole batches")
    self->load = cm_zsock_new (zmq_ctx, ZMQ_PULL, config->load_endpoint, false, config->hwm, 0, err,
                               err_cap);
    if (!self->load)
        goto fail;
    self->replay = cm_zsock_new (zmq_ctx, ZMQ_PULL, config->replay_endpoint, false, config->hwm, 0,
                                 err, err_cap);
    if (!self->replay)
        goto fail;
    self->events = cm_zsock_new (zmq_ctx, ZMQ_PUSH, config->events_endpoint, false, config->hwm,
                                 LD_EVENT_LINGER_MS, err, err_cap);
    if (!self->events)
        goto fail;
    if (!(self->ev_batch = cm_event_batch_new ())) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    ld_loader_destroy (&self);
    return NULL;
}

static void s_events_flush (ld_loader_t *self);

void
ld_loader_destroy (ld_loader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ld_loader_t *self = *self_p;
    //  Workers first: they may still read records and orgs
    __atomic_store_n (&self->cancel_at_ms, cm_mono_ms (), __ATOMIC_RELEASE);
    ld_workers_destroy (&self->workers, s_job_discard);
    if (self->ev_batch)
        s_events_flush (self);
    cm_event_batch_destroy (&self->ev_batch);
    cm_zsock_destroy (&self->load);
    cm_zsock_destroy (&self->replay);
    cm_zsock_destroy (&self->events);
    ld_batcher_destroy (&self->batcher);
    ld_orgs_destroy (&self->orgs);
    free (self->in_flight);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

sf_org_t *
ld_loader_org (ld_loader_t *self, const char *tenant)
{
    assert (self);
    return ld_orgs_find (self->orgs, tenant);
}

void
ld_loader_set_tick (ld_loader_t *self, ld_loader_tick_fn *fn, void *arg)
{
    assert (self);
    self->tick = fn;
    self->tick_arg = arg;
}

void *
ld_loader_load_socket (ld_loader_t *self)
{
    assert (self);
    return self->load;
}

const ld_orgs_t *
ld_loader_orgs (const ld_loader_t *self)
{
    assert (self);
    return self->orgs;
}

void
ld_loader_stats (const ld_loader_t *self, ld_loader_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
    stats->api_calls = stats->token_requests = 0;
    stats->pauses = stats->slowdowns = stats->limit_refusals = 0;
    for (size_t i = 0; i < ld_orgs_count (self->orgs); i++) {
        sf_org_stats_t o;
        sf_org_stats (ld_orgs_at (self->orgs, i), &o);
        stats->api_calls += o.api_calls;
        stats->token_requests += o.token_requests;
        stats->pauses += o.pauses;
        stats->slowdowns += o.slowdowns;
        stats->limit_refusals += o.limit_refusals;
    }
    stats->held = ld_batcher_count (self->batcher);
    stats->in_flight = ld_workers_busy (self->workers);
}

/* ---------------------------------------------------------------------------------------- */
/* Events and outcomes (the loop's thread only) */

//  Sends the events batched so far as one message (cm_event_batch.h); a failure is
//  logged and counted (those events are lost, the loop goes on). The run loop calls it
//  before it waits, so no event waits for the next piece of work.
static void
s_events_flush (ld_loader_t *self)
{
    size_t size = 0;
    const void *frame = cm_event_batch_frame (self->ev_batch, &size);
    if (!frame)
        return;
    if (cm_zsock_send (self->events, frame, size, LD_EVENT_SEND_MS) != 0) {
        size_t n = cm_event_batch_count (self->ev_batch);
        self->stats.events_lost += n;
        cm_error ("LDR_EVENT_LOST", "events=%zu reason=\"%s\"", n, strerror (errno));
    }
    cm_event_batch_clear (self->ev_batch);
}

//  Adds one event to the batch (sent when full, or by the run loop before it waits); a
//  failure is logged and counted (the event is lost, the loop goes on).
static void
s_emit (ld_loader_t *self, cm_event_t **event_p)
{
    cm_event_t *event = *event_p;
    if (!event) {
        self->stats.events_lost++;
        cm_error ("LDR_EVENT_LOST", "reason=\"out of memory\"");
        return;
    }
    if (cm_event_batch_add (self->ev_batch, event) != 0) {
        self->stats.events_lost++;
        cm_error ("LDR_EVENT_LOST", "eid=%s outcome=%s reason=\"encode failed\"",
                  event->envelope_id, cm_outcome_name (event->outcome));
    } else if (cm_event_batch_full (self->ev_batch))
        s_events_flush (self);
    cm_event_destroy (event_p);
}

//  An event about an item's envelope, with the error part when cls is not NONE.
static cm_event_t *
s_event (const ld_item_t *item, cm_outcome_t outcome, cm_error_class_t cls, const char *code,
         const char *message, const char *fields, int http)
{
    cm_event_t *event = cm_event_new (CM_STAGE_LOAD, outcome, item->env);
    if (!event)
        return NULL;
    if (cls != CM_ERR_NONE && cm_event_set_error (event, cls, code, message,
                                                  fields && *fields ? fields : NULL, http) != 0)
        cm_event_destroy (&event);
    //  Dead letters carry the bytes exactly as received, so a replay is byte-identical
    if (event && outcome == CM_OUTCOME_FAILED &&
        cm_event_set_envelope (event, item->bytes, item->size) != 0)
        cm_event_destroy (&event);
    return event;
}

//  Dead-letters a record the loader holds (not in the batcher), then frees it.
static void
s_dead_letter (ld_loader_t *self, ld_item_t **item_p, cm_error_class_t cls, const char *code,
               const char *message, const char *fields, int http)
{
    ld_item_t *item = *item_p;
    char ext[160], msg[320];
    cm_warn ("LDR_DEAD_LETTER",
             "tenant=%s sobject=%s extid=\"%s\" class=%s code=%s http=%d tries=%d msg=\"%s\"",
             item->env->tenant, item->env->sobject ? item->env->sobject : "-",
             cm_log_excerpt (item->env->ext_id ? item->env->ext_id : "",
                             item->env->ext_id ? strlen (item->env->ext_id) : 0, 120, ext,
                             sizeof ext),
             cm_error_class_name (cls), code, http, item->tries,
             cm_log_excerpt (message ? message : "", message ? strlen (message) : 0, 200, msg,
                             sizeof msg));
    cm_event_t *event = s_event (item, CM_OUTCOME_FAILED, cls, code, message, fields, http);
    s_emit (self, &event);
    self->stats.failed++;
}

//  Ends a record handed out by the batcher as a dead letter.
static void
s_fail (ld_loader_t *self, ld_item_t **item_p, cm_error_class_t cls, const char *code,
        const char *message, const char *fields, int http)
{
    s_dead_letter (self, item_p, cls, code, message, fields, http);
    ld_batcher_done (self->batcher, item_p);
}

//  A retryable failure of a record handed out by the batcher: back to the batcher, or a
//  dead letter when its attempts are spent or the loader is stopping.
static void
s_retry (ld_loader_t *self, ld_item_t **item_p, bool count_attempt, int64_t min_delay_ms, bool log,
         const char *code, const char *message, const char *fields, int http)
{
    if (self->draining) {
        char why[600];
        snprintf (why, sizeof why, "loader stopped before the record landed: %s",
                  message ? message : "");
        s_fail (self, item_p, CM_ERR_RETRYABLE, code, why, fields, http);
        return;
    }
    ld_item_t *item = *item_p;
    //  Built before the batcher takes the item back (it may be handed out again later)
    cm_event_t *event =
        s_event (item, CM_OUTCOME_RETRYING, CM_ERR_RETRYABLE, code, message, fields, http);
    char ext[160];
    cm_log_excerpt (item->env->ext_id, strlen (item->env->ext_id), 120, ext, sizeof ext);
    int64_t now = cm_mono_ms ();
    if (ld_batcher_retry (self->batcher, item_p, now, min_delay_ms, count_attempt) ==
        LD_RETRY_EXHAUSTED) {
        cm_event_destroy (&event);
        s_fail (self, item_p, CM_ERR_RETRYABLE, code, message, fields, http);
        return;
    }
    self->stats.retried++;
    if (log)
        cm_warn ("LDR_RETRY",
                 "tenant=%s sobject=%s extid=\"%s\" code=%s http=%d tries=%d delay_ms=%lld",
                 item->env->tenant, item->env->sobject, ext, code, http, item->tries,
                 (long long)(item->next_at_ms - now));
    s_emit (self, &event);
}

//  A record Salesforce accepted.
static void
s_loaded (ld_loader_t *self, ld_item_t **item_p, const sf_record_result_t *r)
{
    cm_event_t *event = s_event (*item_p, CM_OUTCOME_LOADED, CM_ERR_NONE, NULL, NULL, NULL, 0);
    if (event && (cm_event_set_str (event, &event->sf_id, r->id) != 0))
        cm_event_destroy (&event);
    if (event)
        event->created = r->created;
    s_emit (self, &event);
    self->stats.loaded++;
    ld_batcher_done (self->batcher, item_p);
}

//  A record's own result (Collections or Bulk). Returns true when it landed.
static bool
s_record_outcome (ld_loader_t *self, ld_item_t **item_p, const sf_record_result_t *r, int http)
{
    if (r->success) {
        s_loaded (self, item_p, r);
        return true;
    }
    if (r->cls == CM_ERR_RETRYABLE)
        //  Logged once per batch by s_apply, not once per record
        s_retry (self, item_p, true, 0, false, r->code, r->message, r->fields, http);
    else
        s_fail (self, item_p, CM_ERR_PERMANENT, r->code, r->message, r->fields, http);
    return false;
}

//  A record whose call failed as a whole.
static void
s_call_outcome (ld_loader_t *self, ld_item_t **item_p, sf_call_result_t result,
                const sf_error_t *err, sf_org_t *org)
{
    if (result == SF_CALL_RETRY || result == SF_CALL_REAUTH || result == SF_CALL_OK)
        s_retry (self, item_p, true, err->retry_after_s > 0 ? err->retry_after_s * 1000 : 0, false,
                 *err->code ? err->code : "LDR_NO_RESULT", err->message, NULL, err->http_status);
    else if (result == SF_CALL_PAUSED || result == SF_CALL_STOPPED) {
        //  Nothing was tried: wait for the org without spending attempts
        int64_t now = cm_mono_ms ();
        int64_t until = sf_org_blocked_until_ms (org);
        int64_t wait = until > now ? until - now : 1000;
        const char *code = err->code;
        if (self->draining)
            code = result == SF_CALL_PAUSED ? "LDR_ORG_PAUSED" : "LDR_ORG_STOPPED";
        s_retry (self, item_p, false, wait, false, code, err->message, NULL, err->http_status);
    } else
        s_fail (self, item_p, CM_ERR_PERMANENT, err->code, err->message, NULL, err->http_status);
}

static void
s_job_destroy (ld_job_t **job_p)
{
    ld_job_t *job = *job_p;
    if (!job)
        return;
    free (job->items);
    free (job->results);
    free (job->outcome);
    free (job);
    *job_p = NULL;
}

//  Applies a finished job: one outcome per record, the org's slot freed.
static void
s_apply (ld_loader_t *self, ld_job_t *job)
{
    assert (self->in_flight[job->org_index] > 0);
    self->in_flight[job->org_index]--;
    //  Copies for the log line: the items are gone by then. The batch may hold records of
    //  several tenants of the org: the first one's is named
    char tenant[64], sobject[96];
    const char *org = sf_org_name (job->org);
    snprintf (tenant, sizeof tenant, "%s", job->items[0]->env->tenant);
    snprintf (sobject, sizeof sobject, "%s", job->items[0]->env->sobject);
    size_t ok = 0, failed = 0, retried = 0;
    const sf_record_result_t *first_retry = NULL;
    for (size_t i = 0; i < job->n; i++) {
        ld_item_t **item_p = &job->items[i];
        bool record = (job->kind == LD_BATCH_BULK && job->outcome[i] == SF_BULK_RECORD) ||
                      (job->kind == LD_BATCH_COLLECTIONS && job->result == SF_CALL_OK);
        if (record && !job->results[i].success && job->results[i].cls == CM_ERR_RETRYABLE) {
            retried++;
            if (!first_retry)
                first_retry = &job->results[i];
        }
        if (job->kind == LD_BATCH_BULK) {
            if (job->outcome[i] == SF_BULK_RECORD) {
                if (s_record_outcome (self, item_p, &job->results[i], 200))
                    ok++;
                else
                    failed++;
            } else if (job->outcome[i] == SF_BULK_REQUEUE) {
                //  Not tried by Bulk: Collections takes it, no attempt spent, no event
                (*item_p)->no_bulk = true;
                ld_batcher_retry (self->batcher, item_p, cm_mono_ms (), 0, false);
                self->stats.requeued++;
            } else {
                failed++;
                s_call_outcome (self, item_p, job->result, &job->err, job->org);
            }
        } else if (job->result == SF_CALL_OK) {
            if (s_record_outcome (self, item_p, &job->results[i], job->err.http_status))
                ok++;
            else
                failed++;
        } else {
            failed++;
            s_call_outcome (self, item_p, job->result, &job->err, job->org);
        }
    }
    char msg[320];
    if (retried)
        //  One line for the records of a batch that will be tried again
        cm_warn ("LDR_RETRY",
                 "org=%s tenant=%s sobject=%s kind=%s n=%zu retried=%zu code=%s msg=\"%s\"", org,
                 tenant, sobject, job->kind == LD_BATCH_BULK ? "bulk" : "collections", job->n,
                 retried, first_retry->code,
                 cm_log_excerpt (first_retry->message, strlen (first_retry->message), 200, msg,
                                 sizeof msg));
    if (job->result != SF_CALL_OK)
        //  One line for a call-level failure, not one per record
        cm_warn (
            "LDR_BATCH_FAILED",
            "org=%s tenant=%s sobject=%s kind=%s n=%zu result=%s code=%s http=%d msg=\"%s\"", org,
            tenant, sobject, job->kind == LD_BATCH_BULK ? "bulk" : "collections", job->n,
            sf_call_result_name (job->result), job->err.code, job->err.http_status,
            cm_log_excerpt (job->err.message, strlen (job->err.message), 200, msg, sizeof msg));
    if (job->kind == LD_BATCH_BULK)
        cm_info ("LDR_BULK_JOB",
                 "org=%s tenant=%s sobject=%s job=%s state=%s n=%zu uploaded=%zu loaded=%zu "
                 "failed=%zu requeued=%zu calls=%zu polls=%zu ms=%lld",
                 org, tenant, sobject, *job->info.job_id ? job->info.job_id : "-",
                 *job->info.state ? job->info.state : "-", job->n, job->info.uploaded,
                 job->info.loaded, job->info.failed, job->info.requeued, job->info.calls,
                 job->info.polls, (long long)job->ms);
    else
        cm_debug ("LDR_BATCH",
                  "org=%s tenant=%s sobject=%s n=%zu ok=%zu failed=%zu result=%s http=%d ms=%lld",
                  org, tenant, sobject, job->n, ok, failed, sf_call_result_name (job->result),
                  job->err.http_status, (long long)job->ms);
    s_job_destroy (&job);
}

//  Takes every finished job back and applies it. Returns how many.
static size_t
s_collect (ld_loader_t *self)
{
    size_t n = 0;
    ld_job_t *job;
    while ((job = ld_workers_take (self->workers))) {
        s_apply (self, job);
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Work (a worker thread) */

//  One sObject Collections upsert.
static void
s_work_collections (ld_job_t *job, cm_http_t *http, const char *const *payloads)
{
    const cm_envelope_t *first = job->items[0]->env;
    char path[256];
    char *body = NULL;
    size_t body_len = 0;
    char why[256];
    if (sf_collections_path (first->sobject, first->ext_id_field, path, sizeof path) != 0 ||
        sf_collections_build_checked (first->sobject, payloads, job->n, &body, &body_len, why,
                                      sizeof why) != 0) {
        //  Checked on arrival, so only memory can fail here: try again later
        job->result = SF_CALL_RETRY;
        snprintf (job->err.code, sizeof job->err.code, "LDR_INTERNAL");
        snprintf (job->err.message, sizeof job->err.message, "cannot build the request");
        return;
    }
    cm_http_response_t resp;
    sf_request_t req = {.method = "PATCH", .path = path, .body = body, .body_len = body_len};
    job->result = sf_org_request (job->org, http, &req, &resp, &job->err);
    if (job->result == SF_CALL_OK) {
        long retry_after = job->err.retry_after_s;
        job->result = sf_collections_parse (resp.status, resp.body, resp.body_len, job->n,
                                            job->results, &job->err);
        job->err.retry_after_s = retry_after;
    }
    cm_http_response_clear (&resp);
    free (body);
}

static void
s_work (void *job_p, cm_http_t *http, void *arg)
{
    ld_job_t *job = job_p;
    ld_loader_t *self = arg;
    int64_t started = cm_mono_ms ();
    const char **payloads = calloc (job->n, sizeof *payloads);
    if (!payloads) {
        job->result = SF_CALL_RETRY;
        snprintf (job->err.code, sizeof job->err.code, "LDR_INTERNAL");
        snprintf (job->err.message, sizeof job->err.message, "out of memory");
        return;
    }
    for (size_t i = 0; i < job->n; i++)
        payloads[i] = job->items[i]->env->payload;
    if (job->kind == LD_BATCH_BULK) {
        const cm_envelope_t *first = job->items[0]->env;
        job->result =
            sf_bulk_upsert (job->org, http, first->sobject, first->ext_id_field, payloads, job->n,
                            &self->bulk, job->results, job->outcome, &job->err, &job->info);
    } else
        s_work_collections (job, http, payloads);
    free (payloads);
    job->ms = cm_mono_ms () - started;
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch */

//  May a batch of tenant go out now? Not while its org is paused or stopped (its records
//  wait, nothing spins), and one at a time while it is slowed.
static bool
s_accept (void *arg, const char *tenant)
{
    ld_loader_t *self = arg;
    long i = ld_orgs_index (self->orgs, tenant);
    if (i < 0)
        return true;
    sf_org_t *org = ld_orgs_at (self->orgs, (size_t)i);
    if (!self->draining && sf_org_blocked_until_ms (org))
        return false;
    size_t cap = sf_org_slowed (org) ? 1 : self->max_in_flight;
    return self->in_flight[i] < cap;
}

//  Starts as many due batches as there are idle workers. Returns how many.
static size_t
s_dispatch (ld_loader_t *self, bool drain)
{
    size_t started = 0;
    while (ld_workers_idle (self->workers) > 0) {
        ld_batch_kind_t kind;
        size_t n = ld_batcher_take (self->batcher, cm_mono_ms (), drain, s_accept, self,
                                    self->scratch, self->scratch_cap, &kind);
        if (n == 0)
            break;
        long oi = ld_orgs_index (self->orgs, self->scratch[0]->env->tenant);
        assert (oi >= 0); //  records without an org are dead-lettered on arrival
        sf_org_t *org = ld_orgs_at (self->orgs, (size_t)oi);
        ld_job_t *job = calloc (1, sizeof *job);
        if (job) {
            job->items = malloc (n * sizeof *job->items);
            job->results = calloc (n, sizeof *job->results);
            job->outcome = kind == LD_BATCH_BULK ? calloc (n, sizeof *job->outcome) : NULL;
        }
        if (!job || !job->items || !job->results || (kind == LD_BATCH_BULK && !job->outcome)) {
            s_job_destroy (&job);
            cm_error ("LDR_NO_MEMORY", "n=%zu reason=\"cannot start a call\"", n);
            for (size_t i = 0; i < n; i++)
                s_retry (self, &self->scratch[i], false, 1000, false, "LDR_NO_MEMORY",
                         "the loader could not start the call", NULL, 0);
            break;
        }
        memcpy (job->items, self->scratch, n * sizeof *job->items);
        job->n = n;
        job->kind = kind;
        job->loader = self;
        job->org = org;
        job->org_index = (size_t)oi;
        job->err.retry_after_s = -1;
        //  While draining, a paused or stopped org is accepted too: its worker gets the
        //  refusal at once without a request, and the records become dead letters
        self->in_flight[oi]++;
        if (kind == LD_BATCH_BULK) {
            self->stats.bulk_jobs++;
            self->stats.bulk_records += n;
        } else
            self->stats.batches++;
        int rc = ld_workers_submit (self->workers, job);
        assert (rc == 0); //  the pool stops only in ld_loader_destroy
        (void)rc;
        started++;
    }
    return started;
}

/* ---------------------------------------------------------------------------------------- */
/* Input */

//  Why an item's envelope cannot be loaded at all (NULL when it can).
static const char *
s_target_problem (const ld_item_t *item, char *why, size_t cap)
{
    const cm_envelope_t *env = item->env;
    if (!env->sobject || !env->ext_id_field || !env->ext_id || !env->payload)
        return "envelope has no target (sobject, extf, extid, payload)";
    if (!sf_collections_name_ok (env->sobject))
        return "target sobject is not a valid API name";
    if (!sf_collections_name_ok (env->ext_id_field))
        return "target external-ID field is not a valid API name";
    if (!*env->ext_id)
        return "target external ID is empty";
    //  ld_item_new checked it; check again only for the reason
    if (!item->payload_ok && sf_collections_payload_check (env->payload, why, cap) != 0)
        return why;
    return NULL;
}

void
ld_loader_handle (ld_loader_t *self, char **data_p, size_t size)
{
    assert (self && data_p && *data_p);
    self->stats.received++;
    char why[256];
    //  the loader never reads the source record and forwards the original bytes
    cm_envelope_t *env = cm_envelope_decode_lean (*data_p, size, why, sizeof why);
    if (!env) {
        self->stats.bad_envelopes++;
        char reason[320];
        cm_warn ("LDR_BAD_ENVELOPE", "bytes=%zu count=%llu reason=\"%s\"", size,
                 (unsigned long long)self->stats.bad_envelopes,
                 cm_log_excerpt (why, strlen (why), 250, reason, sizeof reason));
        free (*data_p);
        *data_p = NULL;
        return;
    }
    int64_t now = cm_mono_ms ();
    ld_item_t *item = ld_item_new (&env, data_p, size, now);
    if (!item) {
        cm_error ("LDR_NO_MEMORY", "bytes=%zu", size);
        cm_envelope_destroy (&env);
        free (*data_p);
        *data_p = NULL;
        return;
    }
    char detail[200];
    const char *problem = s_target_problem (item, detail, sizeof detail);
    if (problem) {
        //  Well-formed but not loadable: a dead letter for the operator, not a retry
        s_dead_letter (self, &item, CM_ERR_PERMANENT, "LDR_BAD_TARGET", problem, NULL, 0);
        ld_item_destroy (&item);
        return;
    }
    item->org = ld_orgs_index (self->orgs, item->env->tenant);
    if (item->org < 0) {
        char msg[200];
        snprintf (msg, sizeof msg,
                  "no Salesforce org for tenant %.64s: list it in salesforce.orgs_file or "
                  "set salesforce.url",
                  item->env->tenant);
        s_dead_letter (self, &item, CM_ERR_PERMANENT, "LDR_NO_ORG", msg, NULL, 0);
        ld_item_destroy (&item);
        return;
    }
    if (ld_batcher_add (self->batcher, &item, now) != 0) {
        s_dead_letter (self, &item, CM_ERR_RETRYABLE, "LDR_NO_MEMORY",
                       "the loader could not hold the record", NULL, 0);
        ld_item_destroy (&item);
    }
}

//  Reads one message without waiting and handles every frame of it as an envelope of its
//  own: the transformer sends a batch as one multipart message, the replayer (and older
//  transformers) one envelope per message. A frame that does not decode is one bad
//  envelope; its message-mates still count. Returns 1 when a message was read, 0 when
//  none was waiting, -1 on a socket error (errno).
static int
s_read_message (ld_loader_t *self, void *sock)
{
    size_t frames = 0;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        //  The frames of a message arrive together: after the first, none is waited for
        if (zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno ();
            zmq_msg_close (&msg);
            if (e == EINTR)
                continue;
            if (frames == 0 && e == EAGAIN)
                return 0;
            errno = e;
            return -1;
        }
        frames++;
        bool more = zmq_msg_more (&msg);
        size_t len = zmq_msg_size (&msg);
        //  One spare byte, as cm_zsock_recv gives
        char *data = malloc (len + 1);
        if (data) {
            if (len)
                memcpy (data, zmq_msg_data (&msg), len);
            data[len] = '\0';
        }
        zmq_msg_close (&msg);
        if (data)
            ld_loader_handle (self, &data, len);
        else {
            self->stats.received++;
            cm_error ("LDR_NO_MEMORY", "bytes=%zu frame=%zu", len, frames);
        }
        if (!more)
            return 1;
    }
}

//  Room in the batcher for a whole message (a batch of up to batch_size envelopes).
static bool
s_room (ld_loader_t *self)
{
    size_t held = ld_batcher_count (self->batcher);
    return held == 0 || held + self->batch_size <= self->capacity;
}

//  Reads what is waiting on sock, up to a burst and while there is room. -1 on error.
static int
s_read (ld_loader_t *self, void *sock)
{
    for (int i = 0; i < LD_READ_BURST && !ld_batcher_full (self->batcher) && s_room (self); i++) {
        int rc = s_read_message (self, sock);
        if (rc == 0)
            return 0;
        if (rc < 0)
            return errno == ETERM ? -1 : 0;
    }
    return 0;
}

//  Waits up to timeout_ms for a finished job (and, when sockets, for input). Returns the
//  zmq_poll result; items[1..] tell which socket is readable.
static int
s_wait (ld_loader_t *self, zmq_pollitem_t *items, int count, long timeout_ms)
{
    items[0] = (zmq_pollitem_t){NULL, ld_workers_fd (self->workers), ZMQ_POLLIN, 0};
    int n = zmq_poll (items, count, timeout_ms);
    if (n < 0 && zmq_errno () == EINTR)
        n = 0;
    return n;
}

size_t
ld_loader_flush (ld_loader_t *self, bool drain)
{
    assert (self);
    size_t started = s_dispatch (self, drain);
    zmq_pollitem_t items[1];
    while (ld_workers_busy (self->workers) > 0) {
        s_wait (self, items, 1, 100);
        s_collect (self);
    }
    return started;
}

static void
s_log_stats (ld_loader_t *self, const char *event)
{
    ld_loader_stats_t s;
    ld_loader_stats (self, &s);
    cm_info (event,
             "held=%zu in_flight=%zu received=%llu loaded=%llu failed=%llu retried=%llu "
             "bad=%llu batches=%llu bulk_jobs=%llu bulk_records=%llu api_calls=%llu "
             "token_requests=%llu pauses=%llu slowdowns=%llu events_lost=%llu",
             s.held, s.in_flight, (unsigned long long)s.received, (unsigned long long)s.loaded,
             (unsigned long long)s.failed, (unsigned long long)s.retried,
             (unsigned long long)s.bad_envelopes, (unsigned long long)s.batches,
             (unsigned long long)s.bulk_jobs, (unsigned long long)s.bulk_records,
             (unsigned long long)s.api_calls, (unsigned long long)s.token_requests,
             (unsigned long long)s.pauses, (unsigned long long)s.slowdowns,
             (unsigned long long)s.events_lost);
    for (size_t i = 0; i < ld_orgs_count (self->orgs); i++) {
        sf_org_t *org = ld_orgs_at (self->orgs, i);
        sf_org_stats_t o;
        sf_org_stats (org, &o);
        cm_info ("LDR_ORG_STATS",
                 "org=%s api_calls=%llu token_requests=%llu reauths=%llu used=%ld max=%ld "
                 "slowed=%d pauses=%llu limit_refusals=%llu delayed_calls=%llu",
                 sf_org_name (org), (unsigned long long)o.api_calls,
                 (unsigned long long)o.token_requests, (unsigned long long)o.reauths, o.usage_used,
                 o.usage_max, o.slowed ? 1 : 0, (unsigned long long)o.pauses,
                 (unsigned long long)o.limit_refusals, (unsigned long long)o.delayed_calls);
    }
}

//  Stop: read nothing more, flush what is held within the budget, dead-letter the rest.
static void
s_drain (ld_loader_t *self)
{
    self->draining = true;
    int64_t deadline = cm_mono_ms () + self->drain_ms;
    //  Bulk jobs still polling give up (and abort) at the deadline
    __atomic_store_n (&self->cancel_at_ms, deadline > 0 ? deadline : 1, __ATOMIC_RELEASE);
    zmq_pollitem_t items[1];
    while (true) {
        s_collect (self);
        int64_t now = cm_mono_ms ();
        if (now >= deadline)
            break;
        s_dispatch (self, true);
        if (ld_batcher_count (self->batcher) == 0 && ld_workers_busy (self->workers) == 0)
            break;
        s_events_flush (self);
        s_wait (self, items, 1, deadline - now < 200 ? (long)(deadline - now) : 200);
    }
    //  Calls in flight end by themselves (request timeouts, Bulk jobs cancelled)
    while (ld_workers_busy (self->workers) > 0) {
        s_events_flush (self);
        s_wait (self, items, 1, 200);
        s_collect (self);
    }
    size_t n;
    while ((n = ld_batcher_take (self->batcher, cm_mono_ms (), true, NULL, NULL, self->scratch,
                                 self->scratch_cap, NULL)) > 0)
        for (size_t i = 0; i < n; i++) {
            ld_item_t **item_p = &self->scratch[i];
            sf_org_t *org = ld_orgs_find (self->orgs, (*item_p)->env->tenant);
            bool blocked = org && sf_org_blocked_until_ms (org);
            s_fail (self, item_p, CM_ERR_RETRYABLE, blocked ? "LDR_ORG_PAUSED" : "LDR_SHUTDOWN",
                    blocked ? "loader stopped while the org was paused or stopped; the record "
                              "was not sent"
                            : "loader stopped before the record was sent",
                    NULL, 0);
        }
}

int
ld_loader_run (ld_loader_t *self)
{
    assert (self);
    int rc = 0;
    cm_info ("LDR_START", "orgs=%zu max_in_flight=%zu batch_size=%zu max_held=%zu",
             ld_orgs_count (self->orgs), self->max_in_flight, self->batch_size, self->scratch_cap);
    int64_t next_stats = cm_mono_ms () + LD_STATS_EVERY_MS;
    uint64_t last_received = 0;
    int64_t next_tick = 0;
    while (!cm_signal_stop_requested ()) {
        s_collect (self);
        s_dispatch (self, false);
        if (cm_signal_stop_requested ())
            break;
        int64_t now = cm_mono_ms ();
        if (self->tick && now >= next_tick) {
            self->tick (self->tick_arg, self);
            next_tick = now + 1000;
        }
        if (now >= next_stats) {
            if (self->stats.received != last_received || ld_batcher_count (self->batcher))
                s_log_stats (self, "LDR_STATS");
            last_received = self->stats.received;
            next_stats = now + LD_STATS_EVERY_MS;
        }
        int64_t due = ld_batcher_due_ms (self->batcher, now, s_accept, self);
        long timeout = due < 0 || due > LD_POLL_MAX_MS ? LD_POLL_MAX_MS : (long)due;
        if (ld_workers_idle (self->workers) == 0)
            timeout = LD_POLL_MAX_MS; //  a finished call wakes the loop
        //  Backpressure: while full (no room for a whole batch), leave the messages in
        //  ZeroMQ's queues
        bool full = ld_batcher_full (self->batcher) || !s_room (self);
        s_events_flush (self);
        zmq_pollitem_t items[3] = {
            {0}, {self->load, 0, ZMQ_POLLIN, 0}, {self->replay, 0, ZMQ_POLLIN, 0}};
        int n = s_wait (self, items, full ? 1 : 3, timeout);
        if (n < 0) {
            cm_error ("LDR_POLL_FAILED", "reason=\"%s\"", zmq_strerror (zmq_errno ()));
            rc = -1;
            break;
        }
        for (int i = 1; i < 3 && !full; i++)
            if ((items[i].revents & ZMQ_POLLIN) && s_read (self, items[i].socket) != 0) {
                rc = -1;
                break;
            }
        if (rc != 0)
            break;
    }
    size_t held = ld_batcher_count (self->batcher);
    s_drain (self);
    s_events_flush (self);
    cm_info ("LDR_DRAINED", "held_at_stop=%zu", held);
    s_log_stats (self, "LDR_STOP");
    return rc;
}
