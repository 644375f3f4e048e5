/*  ld_loader: the loader process's run loop. It PULLs envelopes from the transformer
    (zmq.load_endpoint) and the replayer (zmq.replay_endpoint), holds them in an ld_batcher,
    hands each due batch to a pool of call threads (ld_workers: salesforce.max_in_flight
    calls at once) that upsert it into the tenant's org (ld_orgs) with one sObject
    Collections call, or with a Bulk API 2.0 job when salesforce.bulk_threshold records
    of one object wait, and PUSHes one cm_event per record to the replayer
    (zmq.events_endpoint): loaded, retrying, or failed (a dead letter carrying the
    envelope's exact bytes).

    Only the loop's own thread touches the sockets, the batcher and the events; a worker
    reads its batch's envelopes and writes its job's results, nothing else.

    Orgs: a paused org (daily allowance nearly or fully spent) or a stopped one (refused
    credentials) gets no calls: its records wait in the batcher, nothing spins, and when
    the batcher is full the sockets are no longer read (backpressure). A slowed org gets
    one call at a time, spaced.

    A corrupt message is logged (LDR_BAD_ENVELOPE), counted and dropped. On a stop request
    (SIGTERM) it stops reading, flushes what it holds for at most drain_ms, dead-letters (as
    retryable) what it could not deliver, with LDR_ORG_PAUSED / LDR_ORG_STOPPED for records
    of an org that could not be called, LDR_SHUTDOWN for the rest, and returns. */
#ifndef LD_LOADER_H
#define LD_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_config.h"
#include "ld_batcher.h"
#include "ld_orgs.h"
#include "sf_bulk.h"
#include "sf_org.h"

#define LD_LOADER_CAPACITY 5000  /* default salesforce.max_held */
#define LD_LOADER_DRAIN_MS 15000 /* default salesforce.drain_ms */

typedef struct ld_loader_t ld_loader_t;

typedef struct {
    const char *load_endpoint;   /* PULL, connect: envelopes from the transformer */
    const char *replay_endpoint; /* PULL, connect: envelopes replayed by the replayer */
    const char *events_endpoint; /* PUSH, connect: events to the replayer */
    int hwm;                     /* ZeroMQ high-water mark */
    int64_t drain_ms;            /* flush budget on stop */
    size_t max_in_flight;        /* calls (and Bulk jobs) at once, >= 1 */
    ld_batcher_config_t batcher; /* batching, Bulk threshold and retry settings */
    sf_bulk_options_t bulk;      /* Bulk job polling (cancelled is set by the loader) */
    sf_org_config_t org;         /* shared org settings; url, id, secret of the default org */
    bool have_default_org;       /* salesforce.url is set: unlisted tenants load there */
    const char *orgs_file;       /* salesforce.orgs_file, or NULL */
    ld_secret_fn *resolve;       /* resolves "secret:" values of the orgs file, or NULL */
    void *resolve_arg;           /* its argument */
} ld_loader_config_t;

typedef struct {
    uint64_t received;       /* messages read */
    uint64_t bad_envelopes;  /* messages that did not decode */
    uint64_t loaded;         /* records Salesforce accepted */
    uint64_t failed;         /* records dead-lettered */
    uint64_t retried;        /* retry schedulings */
    uint64_t batches;        /* sObject Collections calls attempted */
    uint64_t bulk_jobs;      /* Bulk jobs attempted */
    uint64_t bulk_records;   /* records given to Bulk jobs */
    uint64_t requeued;       /* records Bulk handed back to Collections */
    uint64_t held_for_org;   /* times a batch waited because its org was paused/stopped */
    uint64_t events_lost;    /* events that could not be sent */
    uint64_t api_calls;      /* Salesforce REST calls, every org */
    uint64_t token_requests; /* Salesforce token requests, every org */
    uint64_t pauses;         /* org pauses (TotalRequests refusal or pause share) */
    uint64_t slowdowns;      /* times an org entered the slowed state */
    uint64_t limit_refusals; /* TotalRequests refusals */
    size_t held;             /* records in the batcher now */
    size_t in_flight;        /* jobs at the workers now */
} ld_loader_stats_t;

/*  Fills config from the loaded configuration (strings are borrowed from cfg). Returns 0,
    or -1 with the missing or bad key in err. */
int ld_loader_config_from (const cm_config_t *cfg, ld_loader_config_t *config, char *err,
                           size_t err_cap);

/*  Creates the loader: creates the orgs (no request yet), starts the workers, connects its
    sockets in zmq_ctx. Returns NULL with the reason in err. */
ld_loader_t *ld_loader_new (void *zmq_ctx, const ld_loader_config_t *config, char *err,
                            size_t err_cap);

/*  Stops the workers (waiting for calls in flight), frees the loader (closing its
    sockets); sets *self_p to NULL. Accepts NULL. */
void ld_loader_destroy (ld_loader_t **self_p);

/*  Runs until cm_signal_stop_requested, then drains. Returns 0, or -1 on a socket error. */
int ld_loader_run (ld_loader_t *self);

/*  Handles one received message (takes ownership of data, a malloc'd buffer): decodes it
    and holds it for a batch, or reports it. Exposed for tests. */
void ld_loader_handle (ld_loader_t *self, char **data_p, size_t size);

/*  Sends every batch that is due (all held records when drain) and waits for their
    outcomes. Returns the number of calls or jobs started. Exposed for tests. */
size_t ld_loader_flush (ld_loader_t *self, bool drain);

/*  The counters so far (every org summed). */
void ld_loader_stats (const ld_loader_t *self, ld_loader_stats_t *stats);

/*  The orgs (borrowed): per-org counters through sf_org_stats. */
const ld_orgs_t *ld_loader_orgs (const ld_loader_t *self);

/*  A function the loop calls about once a second from its own thread (metrics). */
typedef void (ld_loader_tick_fn) (void *arg, ld_loader_t *loader);
void ld_loader_set_tick (ld_loader_t *self, ld_loader_tick_fn *fn, void *arg);
/*  The PULL socket from the transformer (borrowed), to watch its connections. */
void *ld_loader_load_socket (ld_loader_t *self);
/*  The org records of a tenant go to (borrowed), or NULL; for tests and diagnostics. */
sf_org_t *ld_loader_org (ld_loader_t *self, const char *tenant);

#endif
