/*  ex_tenant: one CloudSuite connection, that is one tenant: its .ionapi credentials, token
    cache, IDO client, state (data_dir/extractor/<tenant>), one poller and one schedule per
    enabled entity, and the loop that runs them.

    One extractor process serves exactly one tenant; a deployment with several tenants runs
    one extractor per tenant (docs/cloudsuite.md: credentials, rate limits, failures,
    schedules and restarts stay apart). */
#ifndef EX_TENANT_H
#define EX_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_config.h"
#include "cs_ionapi.h"
#include "ex_flow.h"
#include "ex_poller.h"

#define EX_TENANT_ENTITIES 4 /* vendor, customer, invoice, po */

typedef struct ex_tenant_t ex_tenant_t;

/*  The entity names in polling order ("vendor", "customer", "invoice", "po"). */
const char *ex_tenant_entity_name (size_t i);

/*  Loads the tenant's credentials: the .ionapi JSON text in cloudsuite.ionapi (normally a
    "secret:NAME" reference that cm_config resolved from the encrypted store), else the file
    cloudsuite.ionapi_file. Setting both, or neither, is an error. Writes where they came
    from into source (e.g. "secret ionapi/ACME_PRD" or "file /etc/mlc/ACME_PRD.ionapi").
    Returns the credentials or NULL with a message in err. */
cs_ionapi_t *ex_tenant_load_ionapi (const cm_config_t *cfg, char *source, size_t source_cap,
                                    char *err, size_t err_cap);

/*  The tenant name: cloudsuite.tenant, else the ti of the credentials. Borrowed. */
const char *ex_tenant_name_of (const cm_config_t *cfg, const cs_ionapi_t *ionapi);

/*  Builds the connection from cfg: credentials, state, HTTP client, token cache, IDO client,
    pollers and schedules (the last poll and full-pass times come from the state). Logs what
    was loaded and where it connects (EXT_START, EXT_ENTITY). Returns NULL with a message in
    err (bad credentials, state locked by another extractor, bad entity settings, nothing
    enabled). */
ex_tenant_t *ex_tenant_new (const cm_config_t *cfg, char *err, size_t err_cap);

/*  Frees everything; sets *self_p to NULL. Accepts NULL. */
void ex_tenant_destroy (ex_tenant_t **self_p);

/*  The tenant name. Borrowed. */
const char *ex_tenant_name (const ex_tenant_t *self);

/*  The tenant's state store (borrowed), for ex_lease. */
ex_state_t *ex_tenant_state (ex_tenant_t *self);

/*  The tenant's window of records in flight (borrowed): the lease thread counts the
    confirmations into it, the metrics read it. */
ex_flow_t *ex_tenant_flow (ex_tenant_t *self);

/*  Token requests sent so far. */
uint64_t ex_tenant_token_requests (const ex_tenant_t *self);

/*  Enabled entities: their number and the name of the i-th (NULL when out of range). */
size_t ex_tenant_entity_count (const ex_tenant_t *self);
const char *ex_tenant_entity (const ex_tenant_t *self, size_t i);

/*  When the last successful poll of the i-th enabled entity started (unix seconds; from the
    state at start-up; 0 = never). Any thread. */
int64_t ex_tenant_last_ok_s (const ex_tenant_t *self, size_t i);

/*  IDO (data) requests and token renewals so far. Any thread. */
uint64_t ex_tenant_ido_requests (const ex_tenant_t *self);
uint64_t ex_tenant_token_renewals (const ex_tenant_t *self);

/*  Polls and hands records to emit, each page loaded only when the window has room
    (ex_flow; the records handed on count in it). once: every enabled entity once, then
    return (a full pass when force_full is set or one is due); otherwise the schedules,
    until a stop is requested. Successful polls record their start time in the state; after every
   poll the token state is written too (ex_state_set_token). Returns 0, or -1 when in once mode a
    poll failed (err holds the last failure), or in any mode when the state store failed
    (ex_state_failed; err: "state store failed, stopping: <path>: <what>: <cause>"). */
int ex_tenant_run (ex_tenant_t *self, bool once, bool force_full, ex_emit_fn *emit, void *emit_arg,
                   char *err, size_t err_cap);

#endif
