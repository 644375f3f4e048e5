/*  ld_metrics: the loader's metrics and health, on cm_daemon: records in and out, errors by
    class, Salesforce API calls, token requests and renewals and the Sforce-Limit-Info usage
    per org, held records and calls in flight. Unhealthy while an org is stopped (its token
    request failed: credentials refused or token endpoint down) or when no transformer has
    been connected for LD_METRICS_PEERLESS_S. Updated from the loader's loop (its tick). */
#ifndef LD_METRICS_H
#define LD_METRICS_H

#include "cm_daemon.h"
#include "ld_loader.h"

#define LD_METRICS_PEERLESS_S 120 /* unhealthy after this long with no transformer connected */

typedef struct ld_metrics_t ld_metrics_t;

/*  Registers the metrics on daemon's registry, sets the loader's tick and the health
    check, and watches the load socket. NULL on OOM. */
ld_metrics_t *ld_metrics_new (cm_daemon_t *daemon, ld_loader_t *loader);

/*  Frees it; sets *self_p to NULL. Call after cm_daemon_destroy (the health check reads it). */
void ld_metrics_destroy (ld_metrics_t **self_p);

#endif
