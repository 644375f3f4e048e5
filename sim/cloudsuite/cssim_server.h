/*  cssim_server: the simulated ION API Gateway in front of CSI Mongoose for one or more
    tenants: per-tenant credentials and .ionapi files, the OAuth token and revoke
    endpoints, IDO LoadCollection (v2), fault injection (latency, 429, 5xx, broken bodies,
    IDOs without read permission) and the
    /__sim admin endpoints. One lock guards all state; handlers run on many threads.

    Routes (see README.md in this folder for the shapes):
      POST /{ti}/as/token.oauth2            password and refresh_token grants
      POST /{ti}/as/revoke_token.oauth2     RFC 7009 revoke
      GET  /{ti}/CSI/IDORequestService/ido/load/{IDO}
      GET  /__sim/stats                     counters per tenant
      POST /__sim/faults                    change faults at run time
      POST /__sim/{ti}/records/{IDO}        insert or update records by key
      POST /__sim/{ti}/expire-tokens        invalidate every token of a tenant */
#ifndef CSSIM_SERVER_H
#define CSSIM_SERVER_H

#include <stdint.h>

#include "sim_http.h"

#define CSSIM_MAX_TENANTS 32

typedef struct {
    const char *tenants[CSSIM_MAX_TENANTS]; /* tenant ids ([A-Za-z0-9_-], 1..64 chars) */
    int ntenants;                           /* their number */
    uint64_t seed;                          /* --seed */
    long vendors;                           /* --seed-suppliers */
    long customers;                         /* --seed-customers */
    long invoices;                          /* --seed-invoices */
    long pos;                               /* --seed-pos */
    int token_ttl;                          /* --token-ttl seconds */
    int latency_ms;                         /* --latency-ms */
    double fault_429;                       /* --fault-429 rate 0..1 */
    int retry_after;                        /* --retry-after seconds, -1 = no header */
    double fault_5xx;                       /* --fault-5xx rate 0..1 */
    double fault_bad_body;                  /* --fault-bad-body rate 0..1 (IDO loads) */
    const char *deny_ido;                   /* --deny-ido comma list, or NULL */
    const char *mongoose_config;            /* --mongoose-config */
    const char *public_url;                 /* --public-url (http[s]://host[:port]), NULL =
                                               http://127.0.0.1:PORT */
} cssim_config_t;

typedef struct cssim_server_t cssim_server_t;

/*  Builds the state and seeds every tenant's data. Returns NULL with the reason in err. */
cssim_server_t *cssim_server_new (const cssim_config_t *cfg, char *err, size_t err_cap);

/*  Frees everything. Accepts NULL; sets *self_p to NULL. */
void cssim_server_destroy (cssim_server_t **self_p);

/*  Writes DIR/<ti>.ionapi (mode 0600, via a temporary file and rename) for every tenant,
    pointing at the configured public_url, else at http://127.0.0.1:PORT. Creates DIR (0700)
    when missing. Returns 0, or -1 with the reason in err. */
int cssim_server_write_ionapi (cssim_server_t *self, const char *dir, int port, char *err,
                               size_t err_cap);

/*  The sim_http handler; arg is the cssim_server_t. */
void cssim_server_handle (void *arg, const sim_request_t *req, sim_response_t *resp);

#endif
