/*  ex_ops: the extractor's metrics. See ex_ops.h. */
#include "ex_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ex_state.h"

#define EX_OPS_ENTITIES 8 /* entities with their own series */

struct ex_ops_t {
    cm_daemon_t *daemon;                      /* registry owner (borrowed) */
    ex_tenant_t *tenant;                      /* the connection (borrowed) */
    ex_output_t *out;                         /* the sockets (borrowed) */
    char tenant_label[96];                    /* tenant name, label-safe */
    char entity[EX_OPS_ENTITIES][32];         /* entity names seen */
    cm_metric_t *records[EX_OPS_ENTITIES];    /* records_out_total per entity */
    cm_metric_t *records_other;               /* records of further entities */
    cm_metric_t *tokens;                      /* token_requests_total{system="cloudsuite"} */
    cm_metric_t *dropped;                     /* errors_total{class="event_dropped"} */
    cm_metric_t *emit_failed;                 /* errors_total{class="emit_failed"} */
    cm_metric_t *renewals;                    /* token_renewals_total{system="cloudsuite"} */
    cm_metric_t *ido;                         /* api_calls_total{system="cloudsuite"} */
    cm_metric_t *last_ok[EX_TENANT_ENTITIES]; /* last_successful_poll_seconds per entity */
    cm_metric_t *store_failed;                /* state_store_failed (0 / 1) */
    cm_metric_t *in_flight;                   /* records_in_flight (ex_flow) */
    cm_metric_t *flow_waited;                 /* flow_wait_seconds_total */
};

//  Copies text into a label value: quotes, backslashes and control bytes dropped.
static void
s_label_value (const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; in && *in && o + 1 < cap; in++)
        if (*in != '"' && *in != '\\' && (unsigned char)*in >= 0x20)
            out[o++] = *in;
    out[o] = '\0';
}

//  The token counter is written by the polling thread; an aligned 64-bit read is enough for
//  a metric that may lag one request behind.
static void
s_sample (void *arg)
{
    ex_ops_t *self = arg;
    cm_metric_set (self->tokens, (int64_t)ex_tenant_token_requests (self->tenant));
    cm_metric_set (self->dropped, (int64_t)ex_output_events_dropped (self->out));
    cm_metric_set (self->renewals, (int64_t)ex_tenant_token_renewals (self->tenant));
    cm_metric_set (self->ido, (int64_t)ex_tenant_ido_requests (self->tenant));
    for (size_t i = 0; i < ex_tenant_entity_count (self->tenant) && i < EX_TENANT_ENTITIES; i++)
        cm_metric_set (self->last_ok[i], ex_tenant_last_ok_s (self->tenant, i));
    cm_metric_set (self->store_failed, ex_state_failed (ex_tenant_state (self->tenant)));
    ex_flow_t *flow = ex_tenant_flow (self->tenant);
    cm_metric_set (self->in_flight, ex_flow_in_flight (flow));
    cm_metric_set (self->flow_waited, (int64_t)(ex_flow_waited_ms (flow) / 1000));
}

//  Health: the state store (a failed write or read stops the process; until it is gone,
//  /health says why). The transformer peer is watched by cm_daemon_watch_peers.
static int
s_health (void *arg, char *why, size_t why_cap)
{
    ex_ops_t *self = arg;
    ex_state_t *state = ex_tenant_state (self->tenant);
    if (!ex_state_failed (state))
        return 0;
    char failure[512];
    ex_state_failure (state, failure, sizeof failure);
    snprintf (why, why_cap, "state store failed: %s", failure);
    return -1;
}

ex_ops_t *
ex_ops_new (cm_daemon_t *daemon, ex_tenant_t *tenant, ex_output_t *out, int peer_grace_s)
{
    ex_ops_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->daemon = daemon;
    self->tenant = tenant;
    self->out = out;
    s_label_value (ex_tenant_name (tenant), self->tenant_label, sizeof self->tenant_label);
    cm_metrics_t *m = cm_daemon_metrics (daemon);
    char labels[256];
    snprintf (labels, sizeof labels, "stage=\"extractor\",tenant=\"%s\",entity=\"other\"",
              self->tenant_label);
    self->records_other =
        cm_metrics_counter (m, "records_out_total", "Records sent on per stage", labels);
    snprintf (labels, sizeof labels, "system=\"cloudsuite\",tenant=\"%s\"", self->tenant_label);
    self->tokens =
        cm_metrics_counter (m, "token_requests_total", "Token requests per system", labels);
    self->dropped = cm_metrics_counter (m, "errors_total", "Errors by class",
                                        "stage=\"extractor\",class=\"event_dropped\"");
    self->emit_failed = cm_metrics_counter (m, "errors_total", "Errors by class",
                                            "stage=\"extractor\",class=\"emit_failed\"");
    snprintf (labels, sizeof labels, "system=\"cloudsuite\",tenant=\"%s\"", self->tenant_label);
    self->renewals = cm_metrics_counter (m, "token_renewals_total",
                                         "Tokens renewed (refreshed or granted again)", labels);
    self->ido = cm_metrics_counter (m, "api_calls_total", "API calls per system", labels);
    for (size_t i = 0; i < ex_tenant_entity_count (tenant) && i < EX_TENANT_ENTITIES; i++) {
        char name[32];
        s_label_value (ex_tenant_entity (tenant, i), name, sizeof name);
        snprintf (labels, sizeof labels, "tenant=\"%s\",entity=\"%s\"", self->tenant_label, name);
        self->last_ok[i] = cm_metrics_gauge (
            m, "last_successful_poll_seconds",
            "Start of the last successful poll per tenant and entity (unix seconds, 0 never)",
            labels);
    }
    self->store_failed = cm_metrics_gauge (
        m, "state_store_failed", "1 once the state store failed (the process stops)", NULL);
    snprintf (labels, sizeof labels, "tenant=\"%s\"", self->tenant_label);
    self->in_flight = cm_metrics_gauge (
        m, "records_in_flight",
        "Records handed on and not yet confirmed (the window is cloudsuite.max_in_flight)", labels);
    self->flow_waited = cm_metrics_counter (
        m, "flow_wait_seconds_total",
        "Seconds the source waited for confirmations before loading a page", labels);
    s_sample (self);
    cm_daemon_add_sampler (daemon, s_sample, self);
    cm_daemon_add_health (daemon, s_health, self);
    cm_daemon_watch_peers (daemon, ex_output_data_socket (out), "transformer", peer_grace_s);
    return self;
}

int
ex_ops_emit (const cm_envelope_t *env, void *arg)
{
    ex_ops_t *self = arg;
    int rc = ex_output_emit (env, self->out);
    if (rc != 0) {
        cm_metric_add (self->emit_failed, 1);
        return rc;
    }
    if (!env)
        return 0; /* the end of a page, no record */
    const char *entity = env->entity ? env->entity : "";
    cm_metric_t *metric = self->records_other;
    for (int i = 0; i < EX_OPS_ENTITIES; i++) {
        if (self->entity[i][0] == '\0') {
            //  first record of this entity: its series (the polling thread only)
            char name[32], labels[256];
            s_label_value (entity, name, sizeof name);
            snprintf (labels, sizeof labels, "stage=\"extractor\",tenant=\"%s\",entity=\"%s\"",
                      self->tenant_label, name);
            self->records[i] =
                cm_metrics_counter (cm_daemon_metrics (self->daemon), "records_out_total",
                                    "Records sent on per stage", labels);
            snprintf (self->entity[i], sizeof self->entity[i], "%s", entity);
        }
        if (strcmp (self->entity[i], entity) == 0) {
            metric = self->records[i];
            break;
        }
    }
    cm_metric_add (metric, 1);
    return 0;
}

void
ex_ops_destroy (ex_ops_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}
