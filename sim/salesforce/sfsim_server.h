/*  sfsim_server: the Salesforce REST surface of the simulator. Routes requests from
    sim_http to the OAuth token endpoint, the REST API (versions, limits, describe, single
    and Collections upsert, SOQL query, Bulk API 2.0 ingest) and the admin endpoints
    (/__sim/...); enforces bearer tokens and their TTL, the daily API allowance, the
    concurrent-request limit and injected faults; counts calls. Thread-safe: one store lock
    (never held during injected latency) and one small state lock. */
#ifndef SFSIM_SERVER_H
#define SFSIM_SERVER_H

#include <stddef.h>

#include "sfsim_schema.h"
#include "sim_http.h"

typedef struct sfsim_server_t sfsim_server_t;

typedef struct {
    const char *client_id;     /* the connected app's consumer key */
    const char *client_secret; /* its secret (never logged) */
    long token_ttl_s;          /* session timeout, default 7200 */
    long latency_ms;           /* added to every accepted API call */
    long daily_limit;          /* daily API allowance */
    long max_concurrent;       /* concurrent API requests before ConcurrentRequests refusals */
    double fault_429;          /* fraction of API calls answered 429 */
    double fault_503;          /* fraction of API calls answered 503 */
    double fault_lock;         /* fraction of records failing UNABLE_TO_LOCK_ROW */
    long retry_after_s;        /* Retry-After on injected 429/503, 0 for none */
    unsigned long long seed;   /* fault random seed */
} sfsim_config_t;

/*  A server with an empty store using *schema_p (taken, NULLed). Returns NULL with err. */
sfsim_server_t *sfsim_server_new (const sfsim_config_t *config, sfsim_schema_t **schema_p,
                                  char *err, size_t err_cap);

/*  Sets the base URL written into tokens as instance_url ("http://127.0.0.1:PORT"). */
void sfsim_server_set_base_url (sfsim_server_t *self, const char *base_url);

/*  The sim_http handler; arg is the sfsim_server_t. */
void sfsim_server_handle (void *arg, const sim_request_t *req, sim_response_t *resp);

/*  Stops the Bulk worker and frees everything. Call after the HTTP server is stopped.
    Accepts NULL. */
void sfsim_server_destroy (sfsim_server_t **self_p);

#endif
