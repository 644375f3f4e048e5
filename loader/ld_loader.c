/*  ld_loader: the loader's run loop: sockets, batches, upserts, events. See ld_loader.h. */
#include "ld_loader.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cm_envelope.h"
#include "cm_event.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zsock.h"
#include "sf_collections.h"

#define LD_EVENT_SEND_MS   5000 /* wait at most this long for room on the events socket */
#define LD_EVENT_LINGER_MS 5000 /* on close, time to deliver the last events */
#define LD_POLL_MAX_MS     1000 /* the loop looks at the stop flag at least this often */
#define LD_READ_BURST      256  /* messages read per socket per turn */

struct ld_loader_t {
    void *load;              /* PULL: envelopes from the transformer */
    void *replay;            /* PULL: envelopes from the replayer */
    void *events;            /* PUSH: events to the replayer */
    ld_batcher_t *batcher;   /* records waiting for a call */
    sf_org_t *org;           /* the org (one today; see ld_loader_org) */
    int64_t drain_ms;        /* flush budget on stop */
    size_t batch_size;       /* records per call */
    bool draining;           /* stopping: retryable failures are dead-lettered */
    ld_loader_stats_t stats; /* counters */
};

int
ld_loader_config_from (const cm_config_t *cfg, ld_loader_config_t *c, char *err, size_t err_cap)
{
    static const char *const required[] = {"salesforce.url", "salesforce.client_id",
                                           "salesforce.client_secret", NULL};
    if (cm_config_require (cfg, required, err, err_cap) != 0)
        return -1;
    memset (c, 0, sizeof *c);
    c->load_endpoint = cm_config_str (cfg, "zmq.load_endpoint");
    c->replay_endpoint = cm_config_str (cfg, "zmq.replay_endpoint");
    c->events_endpoint = cm_config_str (cfg, "zmq.events_endpoint");
    c->hwm = (int)cm_config_int (cfg, "zmq.hwm");
    c->drain_ms = LD_LOADER_DRAIN_MS;
    c->batcher.batch_size = (size_t)cm_config_int (cfg, "salesforce.batch_size");
    c->batcher.capacity = LD_LOADER_CAPACITY;
    c->batcher.flush_ms = cm_config_int (cfg, "salesforce.flush_ms");
    c->batcher.max_attempts = (int)cm_config_int (cfg, "salesforce.max_attempts");
    c->batcher.backoff_base_ms = (long)cm_config_int (cfg, "http.backoff_base_ms");
    c->batcher.backoff_max_ms = (long)cm_config_int (cfg, "http.backoff_max_ms");
    c->org.name = "default";
    c->org.url = cm_config_str (cfg, "salesforce.url");
    c->org.client_id = cm_config_str (cfg, "salesforce.client_id");
    c->org.client_secret = cm_config_str (cfg, "salesforce.client_secret");
    c->org.api_version = cm_config_str (cfg, "salesforce.api_version");
    c->org.allow_http = cm_config_bool (cfg, "salesforce.allow_http");
    c->org.session_ttl_s = cm_config_int (cfg, "salesforce.session_ttl_s");
    c->org.token_margin_s = cm_config_int (cfg, "salesforce.token_margin_s");
    c->org.timeout_ms = (long)cm_config_int (cfg, "http.timeout_ms");
    c->org.max_body = (size_t)cm_config_int (cfg, "http.max_body_bytes");
    if (!c->load_endpoint || !c->replay_endpoint || !c->events_endpoint) {
        snprintf (err, err_cap, "zmq endpoints must be set");
        return -1;
    }
    return 0;
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
    self->org = sf_org_new (&config->org, err, err_cap);
    if (!self->org)
        goto fail;
    self->batcher = ld_batcher_new (&config->batcher);
    if (!self->batcher) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->batch_size = config->batcher.batch_size;
    if (self->batch_size < 1 || self->batch_size > SF_COLLECTIONS_MAX)
        self->batch_size = SF_COLLECTIONS_MAX;
    //  Loaders connect (they scale out); the transformer and the replayer bind
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
    return self;
fail:
    ld_loader_destroy (&self);
    return NULL;
}

void
ld_loader_destroy (ld_loader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ld_loader_t *self = *self_p;
    cm_zsock_destroy (&self->load);
    cm_zsock_destroy (&self->replay);
    cm_zsock_destroy (&self->events);
    ld_batcher_destroy (&self->batcher);
    sf_org_destroy (&self->org);
    free (self);
    *self_p = NULL;
}

sf_org_t *
ld_loader_org (ld_loader_t *self, const char *tenant)
{
    assert (self);
    //  One org today. Many orgs (issue 5): look the tenant's connection up here.
    return self->org;
}

void
ld_loader_stats (const ld_loader_t *self, ld_loader_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
    stats->api_calls = sf_org_api_calls (self->org);
    stats->token_requests = sf_org_token_requests (self->org);
}

//  Sends one event; a failure is logged and counted (the event is lost, the loop goes on).
static void
s_emit (ld_loader_t *self, cm_event_t **event_p)
{
    cm_event_t *event = *event_p;
    if (!event) {
        self->stats.events_lost++;
        cm_error ("LDR_EVENT_LOST", "reason=\"out of memory\"");
        return;
    }
    char *data = NULL;
    size_t size = 0;
    if (cm_event_encode (event, &data, &size) != 0 ||
        cm_zsock_send (self->events, data, size, LD_EVENT_SEND_MS) != 0) {
        self->stats.events_lost++;
        cm_error ("LDR_EVENT_LOST", "eid=%s outcome=%s reason=\"%s\"", event->envelope_id,
                  cm_outcome_name (event->outcome), data ? strerror (errno) : "encode failed");
    }
    free (data);
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

//  One sObject Collections upsert for n records of one group, and an outcome per record.
static void
s_send_batch (ld_loader_t *self, ld_item_t **items, size_t n)
{
    const cm_envelope_t *first = items[0]->env;
    sf_org_t *org = ld_loader_org (self, first->tenant);
    //  Copies for the log line: the items are gone by then
    char tenant[64], sobject[96];
    snprintf (tenant, sizeof tenant, "%s", first->tenant);
    snprintf (sobject, sizeof sobject, "%s", first->sobject);
    const char *payloads[SF_COLLECTIONS_MAX];
    for (size_t i = 0; i < n; i++)
        payloads[i] = items[i]->env->payload;
    char path[256];
    char *body = NULL;
    size_t body_len = 0;
    char why[256];
    sf_record_result_t *results = calloc (n, sizeof *results);
    if (!results ||
        sf_collections_path (first->sobject, first->ext_id_field, path, sizeof path) != 0 ||
        sf_collections_build (first->sobject, payloads, n, &body, &body_len, why, sizeof why) !=
            0) {
        //  Checked on arrival, so only memory can fail here: try again later
        for (size_t i = 0; i < n; i++)
            s_retry (self, &items[i], true, 0, false, "LDR_INTERNAL", "cannot build the request",
                     NULL, 0);
        cm_error ("LDR_INTERNAL", "n=%zu reason=\"cannot build the request\"", n);
        goto out;
    }
    self->stats.batches++;
    int64_t started = cm_mono_ms ();
    cm_http_response_t resp;
    sf_error_t err;
    sf_call_result_t result = sf_org_call (org, "PATCH", path, body, body_len, &resp, &err);
    if (result == SF_CALL_OK) {
        long retry_after = err.retry_after_s;
        result = sf_collections_parse (resp.status, resp.body, resp.body_len, n, results, &err);
        err.retry_after_s = retry_after;
    }
    cm_http_response_clear (&resp);
    size_t ok = 0, failed = 0;
    int64_t now = cm_mono_ms ();
    for (size_t i = 0; i < n; i++) {
        ld_item_t **item_p = &items[i];
        if (result == SF_CALL_OK) {
            const sf_record_result_t *r = &results[i];
            if (r->success) {
                cm_event_t *event =
                    s_event (*item_p, CM_OUTCOME_LOADED, CM_ERR_NONE, NULL, NULL, NULL, 0);
                if (event && (cm_event_set_str (event, &event->sf_id, r->id) != 0))
                    cm_event_destroy (&event);
                if (event)
                    event->created = r->created;
                s_emit (self, &event);
                self->stats.loaded++;
                ok++;
                ld_batcher_done (self->batcher, item_p);
            } else if (r->cls == CM_ERR_RETRYABLE) {
                failed++;
                s_retry (self, item_p, true, 0, true, r->code, r->message, r->fields,
                         err.http_status);
            } else {
                failed++;
                s_fail (self, item_p, CM_ERR_PERMANENT, r->code, r->message, r->fields,
                        err.http_status);
            }
            continue;
        }
        failed++;
        if (result == SF_CALL_RETRY || result == SF_CALL_REAUTH)
            s_retry (self, item_p, true, err.retry_after_s > 0 ? err.retry_after_s * 1000 : 0,
                     false, err.code, err.message, NULL, err.http_status);
        else if (result == SF_CALL_PAUSED || result == SF_CALL_STOPPED) {
            //  Nothing was tried: wait for the org without spending attempts
            int64_t until = sf_org_blocked_until_ms (org);
            int64_t wait = until > now ? until - now : 1000;
            s_retry (self, item_p, false, wait, false, err.code, err.message, NULL,
                     err.http_status);
        } else
            s_fail (self, item_p, CM_ERR_PERMANENT, err.code, err.message, NULL, err.http_status);
    }
    if (result != SF_CALL_OK) {
        //  One line for a call-level failure, not one per record
        char msg[320];
        cm_warn ("LDR_BATCH_FAILED",
                 "tenant=%s sobject=%s n=%zu result=%s code=%s http=%d msg=\"%s\"", tenant, sobject,
                 n, sf_call_result_name (result), err.code, err.http_status,
                 cm_log_excerpt (err.message, strlen (err.message), 200, msg, sizeof msg));
    }
    cm_debug ("LDR_BATCH", "tenant=%s sobject=%s n=%zu ok=%zu failed=%zu result=%s http=%d ms=%lld",
              tenant, sobject, n, ok, failed, sf_call_result_name (result), err.http_status,
              (long long)(cm_mono_ms () - started));
out:
    free (body);
    free (results);
}

size_t
ld_loader_flush (ld_loader_t *self, bool drain)
{
    assert (self);
    ld_item_t *items[SF_COLLECTIONS_MAX];
    size_t batches = 0;
    size_t n;
    while ((n = ld_batcher_next (self->batcher, cm_mono_ms (), drain, items, SF_COLLECTIONS_MAX)) >
           0) {
        s_send_batch (self, items, n);
        batches++;
        if (!drain && cm_signal_stop_requested ())
            break;
    }
    return batches;
}

//  Why an envelope cannot be loaded at all (NULL when it can).
static const char *
s_target_problem (const cm_envelope_t *env, char *why, size_t cap)
{
    if (!env->sobject || !env->ext_id_field || !env->ext_id || !env->payload)
        return "envelope has no target (sobject, extf, extid, payload)";
    if (!sf_collections_name_ok (env->sobject))
        return "target sobject is not a valid API name";
    if (!sf_collections_name_ok (env->ext_id_field))
        return "target external-ID field is not a valid API name";
    if (!*env->ext_id)
        return "target external ID is empty";
    if (sf_collections_payload_check (env->payload, why, cap) != 0)
        return why;
    return NULL;
}

void
ld_loader_handle (ld_loader_t *self, char **data_p, size_t size)
{
    assert (self && data_p && *data_p);
    self->stats.received++;
    char why[256];
    cm_envelope_t *env = cm_envelope_decode (*data_p, size, why, sizeof why);
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
    const char *problem = s_target_problem (item->env, detail, sizeof detail);
    if (problem) {
        //  Well-formed but not loadable: a dead letter for the operator, not a retry
        s_dead_letter (self, &item, CM_ERR_PERMANENT, "LDR_BAD_TARGET", problem, NULL, 0);
        ld_item_destroy (&item);
        return;
    }
    if (ld_batcher_add (self->batcher, &item, now) != 0) {
        s_dead_letter (self, &item, CM_ERR_RETRYABLE, "LDR_NO_MEMORY",
                       "the loader could not hold the record", NULL, 0);
        ld_item_destroy (&item);
    }
}

//  Reads what is waiting on sock, up to a burst and while there is room. -1 on error.
static int
s_read (ld_loader_t *self, void *sock)
{
    for (int i = 0; i < LD_READ_BURST && !ld_batcher_full (self->batcher); i++) {
        char *data = NULL;
        size_t size = 0;
        int rc = cm_zsock_recv (sock, &data, &size, 0);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            if (errno == ENOMEM || errno == EMSGSIZE)
                continue;
            return errno == ETERM ? -1 : 0;
        }
        ld_loader_handle (self, &data, size);
    }
    return 0;
}

int
ld_loader_run (ld_loader_t *self)
{
    assert (self);
    int rc = 0;
    cm_info ("LDR_START", "org=%s batch_size=%zu", sf_org_name (self->org), self->batch_size);
    while (!cm_signal_stop_requested ()) {
        ld_loader_flush (self, false);
        if (cm_signal_stop_requested ())
            break;
        int64_t due = ld_batcher_next_due_ms (self->batcher, cm_mono_ms ());
        long timeout = due < 0 || due > LD_POLL_MAX_MS ? LD_POLL_MAX_MS : (long)due;
        if (ld_batcher_full (self->batcher)) {
            //  Backpressure: leave the messages in ZeroMQ's queues until there is room
            cm_sleep_ms (timeout > 0 ? timeout : 1);
            continue;
        }
        zmq_pollitem_t poll[2] = {{self->load, 0, ZMQ_POLLIN, 0}, {self->replay, 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll (poll, 2, timeout);
        if (n < 0) {
            if (zmq_errno () == EINTR)
                continue;
            cm_error ("LDR_POLL_FAILED", "reason=\"%s\"", zmq_strerror (zmq_errno ()));
            rc = -1;
            break;
        }
        for (int i = 0; i < 2; i++)
            if ((poll[i].revents & ZMQ_POLLIN) && s_read (self, poll[i].socket) != 0) {
                rc = -1;
                break;
            }
        if (rc != 0)
            break;
    }
    //  Stop: read nothing more, flush what is held within the budget, dead-letter the rest
    self->draining = true;
    size_t held = ld_batcher_count (self->batcher);
    int64_t deadline = cm_mono_ms () + self->drain_ms;
    ld_item_t *items[SF_COLLECTIONS_MAX];
    size_t n;
    while (cm_mono_ms () < deadline && (n = ld_batcher_next (self->batcher, cm_mono_ms (), true,
                                                             items, SF_COLLECTIONS_MAX)) > 0)
        s_send_batch (self, items, n);
    while ((n = ld_batcher_next (self->batcher, cm_mono_ms (), true, items, SF_COLLECTIONS_MAX)) >
           0)
        for (size_t i = 0; i < n; i++)
            s_fail (self, &items[i], CM_ERR_RETRYABLE, "LDR_SHUTDOWN",
                    "loader stopped before the record was sent", NULL, 0);
    ld_loader_stats_t s;
    ld_loader_stats (self, &s);
    cm_info ("LDR_STOP",
             "held=%zu received=%llu loaded=%llu failed=%llu retried=%llu bad=%llu "
             "api_calls=%llu token_requests=%llu events_lost=%llu",
             held, (unsigned long long)s.received, (unsigned long long)s.loaded,
             (unsigned long long)s.failed, (unsigned long long)s.retried,
             (unsigned long long)s.bad_envelopes, (unsigned long long)s.api_calls,
             (unsigned long long)s.token_requests, (unsigned long long)s.events_lost);
    return rc;
}
