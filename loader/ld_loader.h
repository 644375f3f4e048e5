/*  ld_loader: the loader process's run loop. It PULLs envelopes from the transformer
    (zmq.load_endpoint) and the replayer (zmq.replay_endpoint), holds them in an ld_batcher,
    upserts each due batch with one sObject Collections call to the tenant's org, and PUSHes
    one cm_event per record to the replayer (zmq.events_endpoint): loaded, retrying, or
    failed (a dead letter carrying the envelope's exact bytes).

    A corrupt message is logged (LDR_BAD_ENVELOPE), counted and dropped. A full batcher
    stops the reading of sockets (backpressure). On a stop request (SIGTERM) it stops
    reading, flushes what it holds for at most drain_ms, dead-letters (as retryable) what
    it could not deliver, and returns. Orgs: one today (every tenant loads into the
    configured org); the tenant -> org lookup is the place where many orgs plug in. */
#ifndef LD_LOADER_H
#define LD_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "cm_config.h"
#include "ld_batcher.h"
#include "sf_org.h"

#define LD_LOADER_CAPACITY 5000  /* records held before the sockets are no longer read */
#define LD_LOADER_DRAIN_MS 15000 /* how long a stop may spend flushing */

typedef struct ld_loader_t ld_loader_t;

typedef struct {
    const char *load_endpoint;   /* PULL, connect: envelopes from the transformer */
    const char *replay_endpoint; /* PULL, connect: envelopes replayed by the replayer */
    const char *events_endpoint; /* PUSH, connect: events to the replayer */
    int hwm;                     /* ZeroMQ high-water mark */
    int64_t drain_ms;            /* flush budget on stop */
    ld_batcher_config_t batcher; /* batching and retry settings */
    sf_org_config_t org;         /* the org every tenant loads into */
} ld_loader_config_t;

typedef struct {
    uint64_t received;       /* messages read */
    uint64_t bad_envelopes;  /* messages that did not decode */
    uint64_t loaded;         /* records Salesforce accepted */
    uint64_t failed;         /* records dead-lettered */
    uint64_t retried;        /* retry schedulings */
    uint64_t batches;        /* upsert calls attempted */
    uint64_t events_lost;    /* events that could not be sent */
    uint64_t api_calls;      /* Salesforce REST calls */
    uint64_t token_requests; /* Salesforce token requests */
} ld_loader_stats_t;

/*  Fills config from the loaded configuration (strings are borrowed from cfg). Returns 0,
    or -1 with the missing or bad key in err. */
int ld_loader_config_from (const cm_config_t *cfg, ld_loader_config_t *config, char *err,
                           size_t err_cap);

/*  Creates the loader: connects its sockets in zmq_ctx and creates the org (no request yet).
    Returns NULL with the reason in err. */
ld_loader_t *ld_loader_new (void *zmq_ctx, const ld_loader_config_t *config, char *err,
                            size_t err_cap);

/*  Frees the loader (closing its sockets); sets *self_p to NULL. Accepts NULL. */
void ld_loader_destroy (ld_loader_t **self_p);

/*  Runs until cm_signal_stop_requested, then drains. Returns 0, or -1 on a socket error. */
int ld_loader_run (ld_loader_t *self);

/*  Handles one received message (takes ownership of data, a malloc'd buffer): decodes it
    and holds it for a batch, or reports it. Exposed for tests. */
void ld_loader_handle (ld_loader_t *self, char **data_p, size_t size);

/*  Sends every batch that is due (all held records when drain). Returns the number of
    batches sent. Exposed for tests. */
size_t ld_loader_flush (ld_loader_t *self, bool drain);

/*  The counters so far. */
void ld_loader_stats (const ld_loader_t *self, ld_loader_stats_t *stats);

/*  The org records of a tenant go to (borrowed); for tests and diagnostics. */
sf_org_t *ld_loader_org (ld_loader_t *self, const char *tenant);

#endif
