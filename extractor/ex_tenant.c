/*  ex_tenant: one CloudSuite connection and its polling loop. See ex_tenant.h. */
#include "ex_tenant.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_http.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cs_auth.h"
#include "cs_ido.h"
#include "ex_progress.h"
#include "ex_schedule.h"
#include "ex_state.h"

#define EX_TENANT_MAX_SLEEP_MS 1000 /* the loop looks at the clock at least this often */

static const char *const s_entities[EX_TENANT_ENTITIES] = {"vendor", "customer", "invoice", "po"};

struct ex_tenant_t {
    char *name;                                    /* tenant name */
    cs_ionapi_t *ionapi;                           /* credentials */
    ex_state_t *state;                             /* watermarks, hashes, schedule times */
    cm_http_t *http;                               /* HTTP client */
    cm_retry_policy_t policy;                      /* retries of HTTP calls */
    cs_auth_t *auth;                               /* token cache */
    cs_ido_t *ido;                                 /* IDO client */
    ex_poller_t *pollers[EX_TENANT_ENTITIES];      /* one per enabled entity */
    ex_schedule_t schedules[EX_TENANT_ENTITIES];   /* their schedules */
    ex_progress_t *progress[EX_TENANT_ENTITIES];   /* their progress reporters (ex_progress) */
    ex_flow_gate_t gates[EX_TENANT_ENTITIES];      /* their page loads, behind the window */
    ex_flow_t *flow;                               /* records in flight (ex_flow) */
    ex_emit_fn *emit;                              /* where ex_tenant_run hands records */
    void *emit_arg;                                /* its argument */
    size_t count;                                  /* enabled entities */
    _Atomic int64_t last_ok_s[EX_TENANT_ENTITIES]; /* last successful poll (unix s, 0 never) */
};

const char *
ex_tenant_entity_name (size_t i)
{
    return i < EX_TENANT_ENTITIES ? s_entities[i] : NULL;
}

cs_ionapi_t *
ex_tenant_load_ionapi (const cm_config_t *cfg, char *source, size_t source_cap, char *err,
                       size_t err_cap)
{
    const char *text = cm_config_str (cfg, "cloudsuite.ionapi");
    const char *file = cm_config_str (cfg, "cloudsuite.ionapi_file");
    bool allow_http = cm_config_bool (cfg, "cloudsuite.allow_http");
    bool has_text = text && *text;
    bool has_file = file && *file;
    if (has_text && has_file) {
        snprintf (err, err_cap,
                  "both cloudsuite.ionapi and cloudsuite.ionapi_file are set: set one (the "
                  "encrypted store reference, or the file)");
        return NULL;
    }
    if (!has_text && !has_file) {
        snprintf (err, err_cap,
                  "missing required setting cloudsuite.ionapi (e.g. \"secret:ionapi/TENANT\", "
                  "env MLC_CLOUDSUITE_IONAPI) or cloudsuite.ionapi_file (env "
                  "MLC_CLOUDSUITE_IONAPI_FILE)");
        return NULL;
    }
    if (has_file) {
        snprintf (source, source_cap, "file %s", file);
        cs_ionapi_t *ionapi = cs_ionapi_load (file, allow_http, err, err_cap);
        if (!ionapi) {
            char why[512];
            snprintf (why, sizeof why, "%s", err);
            snprintf (err, err_cap,
                      "cloudsuite.ionapi_file: %s; download the tenant's .ionapi file (ION API "
                      "Gateway, Authorized Apps, backend service) and set "
                      "cloudsuite.ionapi_file (env MLC_CLOUDSUITE_IONAPI_FILE) to it, or store "
                      "it with mlc-secrets import-ionapi and set cloudsuite.ionapi",
                      why);
        }
        return ionapi;
    }
    const char *ref = cm_config_secret_ref (cfg, "cloudsuite.ionapi");
    if (ref)
        snprintf (source, source_cap, "secret %s", ref);
    else
        snprintf (source, source_cap, "setting cloudsuite.ionapi");
    return cs_ionapi_parse (source, text, strlen (text), allow_http, err, err_cap);
}

const char *
ex_tenant_name_of (const cm_config_t *cfg, const cs_ionapi_t *ionapi)
{
    const char *tenant = cm_config_str (cfg, "cloudsuite.tenant");
    return tenant && *tenant ? tenant : cs_ionapi_tenant (ionapi);
}

/*  "2026-02-01 08:15:02.117", or "never" for 0. */
static const char *
s_when (int64_t ms, char *buf)
{
    if (ms <= 0)
        return "never";
    return cm_time_format_sql (ms, buf);
}

/*  Writes the token state (cs_auth_status, never the token) into the state for mlc-status.
    0, or -1 (err). */
static int
s_note_token (ex_tenant_t *self, char *err, size_t err_cap)
{
    cs_auth_status_t st;
    cs_auth_status (self->auth, &st);
    cJSON *o = cJSON_CreateObject ();
    char *text = NULL;
    int rc = -1;
    if (!o || !cJSON_AddNumberToObject (o, "at", (double)cm_now_ms ()) ||
        !cJSON_AddBoolToObject (o, "cached", st.cached) ||
        !(st.cached ? cJSON_AddNumberToObject (o, "expires_at", (double)st.expires_at_ms)
                    : cJSON_AddNullToObject (o, "expires_at")) ||
        !(st.last_renewal_ms
              ? cJSON_AddNumberToObject (o, "last_renewal", (double)st.last_renewal_ms)
              : cJSON_AddNullToObject (o, "last_renewal")) ||
        !cJSON_AddNumberToObject (o, "requests", (double)st.requests) ||
        !cJSON_AddNumberToObject (o, "renewals", (double)st.renewals) ||
        !(st.last_error_ms ? cJSON_AddStringToObject (o, "last_error", st.last_error)
                           : cJSON_AddNullToObject (o, "last_error")) ||
        !(st.last_error_ms ? cJSON_AddNumberToObject (o, "last_error_at", (double)st.last_error_ms)
                           : cJSON_AddNullToObject (o, "last_error_at")) ||
        !(text = cJSON_PrintUnformatted (o))) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    rc = ex_state_set_token (self->state, text, err, err_cap);
out:
    free (text);
    cJSON_Delete (o);
    return rc;
}

ex_tenant_t *
ex_tenant_new (const cm_config_t *cfg, char *err, size_t err_cap)
{
    char source[320];
    ex_tenant_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    const char *mongoose = cm_config_str (cfg, "cloudsuite.mongoose_config");
    if (!mongoose || !*mongoose) {
        snprintf (err, err_cap,
                  "missing required setting cloudsuite.mongoose_config (env "
                  "MLC_CLOUDSUITE_MONGOOSE_CONFIG): the Mongoose configuration name of the "
                  "CloudSuite site, sent as X-Infor-MongooseConfig");
        goto fail;
    }
    self->ionapi = ex_tenant_load_ionapi (cfg, source, sizeof source, err, err_cap);
    if (!self->ionapi)
        goto fail;
    self->name = strdup (ex_tenant_name_of (cfg, self->ionapi));
    if (!self->name) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->state = ex_state_open (cm_config_str (cfg, "data_dir"), self->name, err, err_cap);
    if (!self->state)
        goto fail;
    self->flow = ex_flow_new (self->name, cm_config_int (cfg, "cloudsuite.max_in_flight"),
                              cm_config_int (cfg, "cloudsuite.lease_quiet_s") * 1000);
    if (!self->flow) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->policy =
        (cm_retry_policy_t){.max_attempts = (int)cm_config_int (cfg, "http.max_attempts"),
                            .base_ms = (long)cm_config_int (cfg, "http.backoff_base_ms"),
                            .max_ms = (long)cm_config_int (cfg, "http.backoff_max_ms")};
    self->http = cm_http_new ((size_t)cm_config_int (cfg, "http.max_body_bytes"),
                              (long)cm_config_int (cfg, "http.timeout_ms"));
    self->auth = self->http ? cs_auth_new (self->ionapi, self->http, &self->policy,
                                           cm_config_int (cfg, "cloudsuite.token_margin_s"))
                            : NULL;
    self->ido = self->auth ? cs_ido_new (cs_ionapi_api_base (self->ionapi), mongoose, self->http,
                                         self->auth, &self->policy)
                           : NULL;
    if (!self->ido) {
        snprintf (err, err_cap, "cannot create the HTTP client");
        goto fail;
    }
    cm_info ("EXT_START",
             "tenant=%s credentials=\"%s\" token_url=%s api_base=%s mongoose_config=%s "
             "state=%s page_size=%lld overlap_s=%lld full_sync_interval_s=%lld max_in_flight=%lld",
             self->name, source, cs_ionapi_token_url (self->ionapi),
             cs_ionapi_api_base (self->ionapi), mongoose, ex_state_path (self->state),
             (long long)cm_config_int (cfg, "cloudsuite.page_size"),
             (long long)cm_config_int (cfg, "cloudsuite.overlap_s"),
             (long long)cm_config_int (cfg, "cloudsuite.full_sync_interval_s"),
             (long long)ex_flow_window (self->flow));
    int64_t window = ex_flow_window (self->flow);
    int64_t bulk = cm_config_int (cfg, "salesforce.bulk_threshold");
    if (window > 0 && bulk > 0 && window < 2 * bulk)
        cm_warn ("EXT_FLOW_SMALL",
                 "tenant=%s max_in_flight=%lld bulk_threshold=%lld (under twice the Bulk API "
                 "threshold the window lets at most one Bulk job run at a time, none under "
                 "the threshold itself; raise "
                 "cloudsuite.max_in_flight, env MLC_CLOUDSUITE_MAX_IN_FLIGHT; docs/delivery.md, "
                 "\"Flow control\")",
                 self->name, (long long)window, (long long)bulk);

    for (size_t i = 0; i < EX_TENANT_ENTITIES; i++) {
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", s_entities[i]);
        if (!cm_config_bool (cfg, key)) {
            cm_info ("EXT_ENTITY", "tenant=%s entity=%s enabled=0", self->name, s_entities[i]);
            continue;
        }
        ex_entity_t ent;
        ex_entity_from_config (cfg, s_entities[i], &ent);
        ex_progress_t *prog = ex_progress_new (
            self->name, ent.entity, cs_ido_load_fn, self->ido, isatty (STDERR_FILENO),
            cm_config_int (cfg, "cloudsuite.progress_interval_s") * 1000);
        ex_flow_gate_t *gate = &self->gates[self->count];
        *gate = (ex_flow_gate_t){self->flow, ex_progress_load_fn, prog};
        ex_poller_t *p = prog ? ex_poller_new (self->name, &ent, self->state, ex_flow_load_fn, gate,
                                               err, err_cap)
                              : NULL;
        if (!p) {
            if (!prog)
                snprintf (err, err_cap, "out of memory");
            ex_progress_destroy (&prog);
            goto fail;
        }
        self->progress[self->count] = prog;
        ex_schedule_t *s = &self->schedules[self->count];
        self->pollers[self->count++] = p;
        s->interval_ms = (int64_t)ent.poll_interval_s * 1000;
        s->full_interval_ms = (int64_t)ent.full_interval_s * 1000;
        if (ex_state_times (self->state, ent.entity, &s->last_poll_ms, &s->last_full_ms, err,
                            err_cap))
            goto fail;
        atomic_store (&self->last_ok_s[self->count - 1], s->last_poll_ms / 1000);
        char wm[64] = "", t1[32], t2[32];
        int has = ex_state_watermark (self->state, ent.entity, wm, sizeof wm, err, err_cap);
        if (has < 0)
            goto fail;
        cm_info ("EXT_ENTITY",
                 "tenant=%s entity=%s enabled=1 ido=%s key=%s watermark=%s poll_interval_s=%d "
                 "last_poll=\"%s\" last_full=\"%s\" since=\"%s\"",
                 self->name, ent.entity, ent.ido, ent.key, ent.watermark, ent.poll_interval_s,
                 s_when (s->last_poll_ms, t1), s_when (s->last_full_ms, t2),
                 has ? wm : "(first poll reads everything)");
    }
    if (self->count == 0) {
        snprintf (err, err_cap, "no entity is enabled (cloudsuite.<entity>.enabled)");
        goto fail;
    }
    return self;
fail:
    ex_tenant_destroy (&self);
    return NULL;
}

void
ex_tenant_destroy (ex_tenant_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ex_tenant_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        ex_poller_destroy (&self->pollers[i]);
        ex_progress_destroy (&self->progress[i]);
    }
    cs_ido_destroy (&self->ido);
    cs_auth_destroy (&self->auth);
    cm_http_destroy (&self->http);
    ex_state_destroy (&self->state);
    cs_ionapi_destroy (&self->ionapi);
    ex_flow_destroy (&self->flow);
    free (self->name);
    free (self);
    *self_p = NULL;
}

ex_state_t *
ex_tenant_state (ex_tenant_t *self)
{
    return self->state;
}

ex_flow_t *
ex_tenant_flow (ex_tenant_t *self)
{
    return self->flow;
}

//  The pollers' ex_emit_fn: the record counts in the window, then the caller's. Counted
//  first: its confirmation may come back before the caller returns, and one counted
//  before its record would be clamped away (ex_flow_confirmed). A record that could not
//  be handed on stays counted; its pending entry's re-emission is confirmed later.
static int
s_emit (const cm_envelope_t *env, void *arg)
{
    ex_tenant_t *self = arg;
    if (env)
        ex_flow_sent (self->flow, 1);
    return self->emit (env, self->emit_arg) ? -1 : 0;
}

const char *
ex_tenant_name (const ex_tenant_t *self)
{
    return self->name;
}

uint64_t
ex_tenant_token_requests (const ex_tenant_t *self)
{
    return cs_auth_requests (self->auth);
}

int
ex_tenant_run (ex_tenant_t *self, bool once, bool force_full, ex_emit_fn *emit, void *emit_arg,
               char *err, size_t err_cap)
{
    bool failed = false;
    char perr[1024];
    self->emit = emit;
    self->emit_arg = emit_arg;
    while (!cm_signal_stop_requested ()) {
        int64_t now = cm_now_ms ();
        size_t polls = 0, failures = 0, emitted = 0;
        for (size_t i = 0;
             i < self->count && !cm_signal_stop_requested () && !ex_state_failed (self->state);
             i++) {
            ex_schedule_t *s = &self->schedules[i];
            if (!once && ex_schedule_due (s, now) > now)
                continue;
            int64_t start = cm_now_ms ();
            bool full = force_full || ex_schedule_full_due (s, start);
            ex_poll_stats_t stats;
            ex_progress_begin (
                self->progress[i], &stats,
                ex_progress_expected (self->state, ex_poller_entity (self->pollers[i])));
            int rc =
                ex_poller_poll (self->pollers[i], full, s_emit, self, &stats, perr, sizeof perr);
            ex_progress_end (self->progress[i]);
            if (rc == 1)
                break; /* stop requested: what was read is committed, nothing is recorded */
            if (ex_state_failed (self->state))
                break; /* the store failed: stop (below), record nothing more */
            polls++;
            emitted += stats.emitted;
            ex_schedule_done (s, start, rc == 0, stats.full);
            const char *entity = ex_poller_entity (self->pollers[i]);
            char nerr[512];
            if (ex_progress_note_poll (self->state, entity, start, rc, &stats, perr, nerr,
                                       sizeof nerr) ||
                s_note_token (self, nerr, sizeof nerr))
                cm_warn ("EXT_STATE_WRITE_FAILED", "tenant=%s reason=\"%s\"", self->name, nerr);
            if (rc < 0) {
                failures++;
                failed = true;
                snprintf (err, err_cap, "%s", perr);
                continue;
            }
            if (ex_state_set_times (self->state, entity, s->last_poll_ms, s->last_full_ms, perr,
                                    sizeof perr))
                cm_warn ("EXT_STATE_WRITE_FAILED", "tenant=%s reason=\"%s\"", self->name, perr);
            else
                atomic_store (&self->last_ok_s[i], s->last_poll_ms / 1000);
        }
        if (ex_state_failed (self->state))
            break;
        if (polls)
            cm_info ("EXT_CYCLE_DONE",
                     "tenant=%s polls=%zu failed=%zu emitted=%zu token_requests=%llu", self->name,
                     polls, failures, emitted, (unsigned long long)cs_auth_requests (self->auth));
        if (once)
            break;
        now = cm_now_ms ();
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < self->count; i++) {
            int64_t due = ex_schedule_due (&self->schedules[i], now);
            if (due < next)
                next = due;
        }
        int64_t wait = next - now;
        if (wait > 0)
            cm_sleep_ms (wait > EX_TENANT_MAX_SLEEP_MS ? EX_TENANT_MAX_SLEEP_MS : wait);
    }
    if (ex_state_failed (self->state)) {
        char why[1024];
        ex_state_failure (self->state, why, sizeof why);
        snprintf (err, err_cap, "state store failed, stopping: %s", why);
        return -1;
    }
    return once && failed && !cm_signal_stop_requested () ? -1 : 0;
}

int64_t
ex_tenant_last_ok_s (const ex_tenant_t *self, size_t i)
{
    return i < self->count ? atomic_load (&((ex_tenant_t *)self)->last_ok_s[i]) : 0;
}

size_t
ex_tenant_entity_count (const ex_tenant_t *self)
{
    return self->count;
}

const char *
ex_tenant_entity (const ex_tenant_t *self, size_t i)
{
    return i < self->count ? ex_poller_entity (self->pollers[i]) : NULL;
}

uint64_t
ex_tenant_ido_requests (const ex_tenant_t *self)
{
    return cs_ido_requests (self->ido);
}

uint64_t
ex_tenant_token_renewals (const ex_tenant_t *self)
{
    return cs_auth_renewals (self->auth);
}
