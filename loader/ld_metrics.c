/*  ld_metrics: the loader's metrics and health. See ld_metrics.h. */
#include "ld_metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LD_METRICS_MAX_ORGS 64 /* orgs with their own series; the rest are summed only */

typedef struct {
    cm_metric_t *api_calls; /* mlc_api_calls_total{system="salesforce",org} */
    cm_metric_t *tokens;    /* mlc_token_requests_total{system="salesforce",org} */
    cm_metric_t *renewals;  /* mlc_token_renewals_total{org} */
    cm_metric_t *usage;     /* mlc_salesforce_api_usage{org} */
    cm_metric_t *usage_max; /* mlc_salesforce_api_max{org} */
    cm_metric_t *stopped;   /* mlc_org_stopped{org} */
} org_metrics_t;

struct ld_metrics_t {
    cm_metric_t *in;                         /* records received */
    cm_metric_t *out;                        /* records loaded */
    cm_metric_t *bad;                        /* errors: bad envelopes */
    cm_metric_t *failed;                     /* errors: dead-lettered */
    cm_metric_t *retried;                    /* errors: retry schedulings */
    cm_metric_t *lost;                       /* errors: events lost */
    cm_metric_t *held;                       /* held records */
    cm_metric_t *in_flight;                  /* calls in flight */
    cm_metric_t *pauses;                     /* org pauses */
    org_metrics_t orgs[LD_METRICS_MAX_ORGS]; /* per-org series */
    size_t org_count;                        /* used entries */
    atomic_int stopped;                      /* orgs stopped now (health) */
    char stopped_name[128];                  /* one of them, for the reason (under seq) */
    atomic_uint seq;                         /* even: stopped_name stable */
};

static int
s_health (void *arg, char *why, size_t why_cap)
{
    ld_metrics_t *self = arg;
    int n = atomic_load (&self->stopped);
    if (n == 0)
        return 0;
    char name[128] = "?";
    unsigned s1 = atomic_load (&self->seq);
    if (s1 % 2 == 0) {
        memcpy (name, self->stopped_name, sizeof name);
        name[sizeof name - 1] = '\0';
        if (atomic_load (&self->seq) != s1)
            snprintf (name, sizeof name, "?");
    }
    snprintf (why, why_cap, "%d Salesforce org%s stopped (token refused or unavailable), e.g. %s",
              n, n == 1 ? "" : "s", name);
    return -1;
}

static void
s_tick (void *arg, ld_loader_t *loader)
{
    ld_metrics_t *self = arg;
    ld_loader_stats_t s;
    ld_loader_stats (loader, &s);
    cm_metric_set (self->in, (int64_t)s.received);
    cm_metric_set (self->out, (int64_t)s.loaded);
    cm_metric_set (self->bad, (int64_t)s.bad_envelopes);
    cm_metric_set (self->failed, (int64_t)s.failed);
    cm_metric_set (self->retried, (int64_t)s.retried);
    cm_metric_set (self->lost, (int64_t)s.events_lost);
    cm_metric_set (self->held, (int64_t)s.held);
    cm_metric_set (self->in_flight, (int64_t)s.in_flight);
    cm_metric_set (self->pauses, (int64_t)s.pauses);
    const ld_orgs_t *orgs = ld_loader_orgs (loader);
    int stopped = 0;
    for (size_t i = 0; i < ld_orgs_count (orgs); i++) {
        sf_org_t *org = ld_orgs_at (orgs, i);
        bool is_stopped = sf_org_stopped (org);
        if (is_stopped && stopped++ == 0) {
            atomic_fetch_add (&self->seq, 1);
            snprintf (self->stopped_name, sizeof self->stopped_name, "%s", sf_org_name (org));
            atomic_fetch_add (&self->seq, 1);
        }
        if (i >= self->org_count)
            continue;
        sf_org_stats_t o;
        sf_org_stats (org, &o);
        org_metrics_t *m = &self->orgs[i];
        cm_metric_set (m->api_calls, (int64_t)o.api_calls);
        cm_metric_set (m->tokens, (int64_t)o.token_requests);
        cm_metric_set (m->renewals, (int64_t)o.reauths);
        cm_metric_set (m->usage, o.usage_used);
        cm_metric_set (m->usage_max, o.usage_max);
        cm_metric_set (m->stopped, is_stopped);
    }
    atomic_store (&self->stopped, stopped);
}

//  Copies an org name into a label value: quotes, backslashes and control bytes dropped.
static void
s_label_value (const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; in && *in && o + 1 < cap; in++)
        if (*in != '"' && *in != '\\' && (unsigned char)*in >= 0x20)
            out[o++] = *in;
    out[o] = '\0';
}

ld_metrics_t *
ld_metrics_new (cm_daemon_t *daemon, ld_loader_t *loader)
{
    ld_metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    cm_metrics_t *m = cm_daemon_metrics (daemon);
    self->in = cm_metrics_counter (m, "records_in_total", "Records received per stage",
                                   "stage=\"loader\"");
    self->out = cm_metrics_counter (m, "records_out_total", "Records sent on per stage",
                                    "stage=\"loader\"");
    self->bad = cm_metrics_counter (m, "errors_total", "Errors by class",
                                    "stage=\"loader\",class=\"bad_envelope\"");
    self->failed = cm_metrics_counter (m, "errors_total", "Errors by class",
                                       "stage=\"loader\",class=\"dead_letter\"");
    self->retried = cm_metrics_counter (m, "errors_total", "Errors by class",
                                        "stage=\"loader\",class=\"retryable\"");
    self->lost = cm_metrics_counter (m, "errors_total", "Errors by class",
                                     "stage=\"loader\",class=\"event_lost\"");
    self->held =
        cm_metrics_gauge (m, "queue_depth", "Records waiting in a queue", "queue=\"held\"");
    self->in_flight = cm_metrics_gauge (m, "calls_in_flight", "Salesforce calls in flight", NULL);
    self->pauses = cm_metrics_counter (m, "org_pauses_total",
                                       "Times an org was paused for its API allowance", NULL);
    const ld_orgs_t *orgs = ld_loader_orgs (loader);
    for (size_t i = 0; i < ld_orgs_count (orgs) && i < LD_METRICS_MAX_ORGS; i++) {
        char name[96], labels[160];
        s_label_value (sf_org_name (ld_orgs_at (orgs, i)), name, sizeof name);
        org_metrics_t *o = &self->orgs[i];
        snprintf (labels, sizeof labels, "system=\"salesforce\",org=\"%s\"", name);
        o->api_calls = cm_metrics_counter (m, "api_calls_total", "API calls per system", labels);
        o->tokens =
            cm_metrics_counter (m, "token_requests_total", "Token requests per system", labels);
        snprintf (labels, sizeof labels, "org=\"%s\"", name);
        o->renewals = cm_metrics_counter (m, "token_renewals_total",
                                          "Salesforce tokens renewed after a 401", labels);
        o->usage =
            cm_metrics_gauge (m, "salesforce_api_usage",
                              "Sforce-Limit-Info api-usage: calls used (-1 unknown)", labels);
        o->usage_max = cm_metrics_gauge (
            m, "salesforce_api_max", "Sforce-Limit-Info api-usage: allowance (-1 unknown)", labels);
        o->stopped =
            cm_metrics_gauge (m, "org_stopped", "1 while the org's token is refused", labels);
        self->org_count++;
    }
    cm_daemon_add_health (daemon, s_health, self);
    cm_daemon_watch_peers (daemon, ld_loader_load_socket (loader), "transformer",
                           LD_METRICS_PEERLESS_S);
    ld_loader_set_tick (loader, s_tick, self);
    return self;
}

void
ld_metrics_destroy (ld_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}
