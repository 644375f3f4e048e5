/*  ex_ops: the extractor's metrics and health on cm_daemon: records out per entity (counted
    as they are handed to ex_output), events dropped, CloudSuite token requests and renewals,
    IDO (data) requests, the last successful poll per tenant and entity (unix seconds), the
    records in flight and the time spent waiting for their confirmations (ex_flow), and
    the transformer peer of the PUSH output (peers_connected{peer="transformer"}).
    /health is unhealthy when the state store failed ("state store failed: <path>: ...") or
    when no transformer has been connected for peer_grace_s. Wraps ex_output_emit. */
#ifndef EX_OPS_H
#define EX_OPS_H

#include "cm_daemon.h"
#include "cm_envelope.h"
#include "ex_output.h"
#include "ex_tenant.h"

typedef struct ex_ops_t ex_ops_t;

/*  Registers the metrics, a sampler and the health checks; tenant and out are borrowed and
    must outlive the daemon. peer_grace_s: unhealthy after this long without a connected
    transformer (0 = never). NULL on OOM. */
ex_ops_t *ex_ops_new (cm_daemon_t *daemon, ex_tenant_t *tenant, ex_output_t *out, int peer_grace_s);

/*  An ex_emit_fn: counts the record, then ex_output_emit (arg is the ex_ops_t). */
int ex_ops_emit (const cm_envelope_t *env, void *arg);

/*  Frees it (after cm_daemon_destroy); sets *self_p to NULL. Accepts NULL. */
void ex_ops_destroy (ex_ops_t **self_p);

#endif
