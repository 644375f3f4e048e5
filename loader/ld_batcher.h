/*  ld_batcher: the loader's bounded holding area. Envelopes wait here, grouped by
    (org, sObject, external-ID field) - the records of every tenant loading into one org
    share calls - until a group has a full batch (batch_size, at most 200), which goes at
    once, or a partial batch is due: its oldest ready record has waited flush_ms and either
    the input has been idle for flush_ms (nothing added since) or that record has waited
    max_wait_ms. So records still streaming in fill batches, and a lone change still goes
    out flush_ms after it arrived. Records that
    failed with a retryable error come back with a next-attempt time (capped exponential
    backoff with jitter); after max_attempts counted failures they are handed back as
    exhausted for the dead-letter path.

    The batcher never does I/O and takes the time as an argument, so it is tested without
    clocks or sockets. It is bounded: ld_batcher_add refuses new records once `capacity`
    are held, and the loader then stops reading its sockets (ZeroMQ backpressure). Retries
    are always taken back (a record is never lost), so at most capacity plus one batch is
    ever held.

    Versions of one record (same org, sObject, external-ID field and external ID, whichever
    tenant sent them; same tenant when the caller gives no org) reach
    Salesforce in arrival order: while one version is held or in flight, newer ones wait
    behind it and enter a batch only after ld_batcher_done releases it. So one call never
    carries two versions and a retried old version never overwrites a newer one.

    Every item that ld_batcher_next hands out comes back exactly once: through
    ld_batcher_retry (scheduled) or ld_batcher_done (loaded, failed or exhausted).

    Which batch goes next (ld_batcher_take):
    - Parents first: a group whose records carry parent references (children, e.g.
      Contacts with "Account":{...}) waits while a group without them is due, unless its
      oldest ready record has waited child_wait_ms past its flush time.
    - Siblings together: a Collections batch takes the ready records in arrival order, and
      with each record that names a parent, the other ready records naming the same parent,
      so the children of one Account share a call (no lock contention between calls).
    - Bulk: when at least bulk_threshold ready records of a group are waiting (and the
      caller has room for them), the batch is a Bulk batch of up to bulk_max records in
      arrival order; records marked no_bulk never go in one.
    - An accept callback lets the caller skip groups whose org cannot take a call now. */
#ifndef LD_BATCHER_H
#define LD_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_envelope.h"

typedef struct ld_batcher_t ld_batcher_t;

/*  One record in the loader: the decoded envelope and the exact bytes it arrived as (the
    dead-letter copy, so a replay is byte-identical). */
typedef struct ld_item_t {
    cm_envelope_t *env;      /* decoded envelope, with a target (owned) */
    char *bytes;             /* the bytes as received (owned) */
    size_t size;             /* their size */
    int tries;               /* counted failed attempts so far */
    int64_t received_ms;     /* monotonic ms it arrived */
    int64_t next_at_ms;      /* monotonic ms before which it is not sent (0: now) */
    char *parent;            /* "Rel\x1fvalue" of the payload's first parent reference, or NULL */
    uint64_t parent_hash;    /* hash of parent (0 when none) */
    bool no_bulk;            /* send with Collections only (set by the caller) */
    long org;                /* org index, set by the caller before ld_batcher_add (-1: none,
                                grouped by tenant) */
    bool payload_ok;         /* the payload passed sf_collections_payload_check */
    bool picked;             /* chosen for the batch being built (private) */
    uint64_t key_hash;       /* hash of the record key (private) */
    struct ld_item_t *next;  /* group list link (private) */
    struct ld_item_t *later; /* newer versions of the same record, oldest first (private) */
    struct ld_item_t *hnext; /* index chain link (private) */
    void *group;             /* its group (private) */
} ld_item_t;

typedef struct {
    size_t batch_size;     /* records per batch, 1..200 */
    size_t capacity;       /* records held before ld_batcher_add refuses */
    int64_t flush_ms;      /* a ready record waits this long for batch-mates, and the input
                              this long idle, before a partial batch goes */
    int64_t max_wait_ms;   /* while input keeps arriving, a partial batch waits at most this
                              long (below flush_ms: flush_ms, i.e. no idle rule) */
    int max_attempts;      /* counted failures before a record is exhausted, >= 1 */
    long backoff_base_ms;  /* first retry delay (cap of its jitter) */
    long backoff_max_ms;   /* retry delay cap */
    size_t bulk_threshold; /* ready records of a group that make a Bulk batch; 0 = never */
    size_t bulk_max;       /* records of one Bulk batch at most (0: capacity) */
    int64_t child_wait_ms; /* how long children may be held behind due parents (0: 2000) */
} ld_batcher_config_t;

typedef enum {
    LD_BATCH_COLLECTIONS, /* up to batch_size records: one sObject Collections call */
    LD_BATCH_BULK         /* bulk_threshold..bulk_max records: one Bulk API 2.0 job */
} ld_batch_kind_t;

/*  Asked by ld_batcher_take for each due group: may a batch of tenant go out now? (With
    orgs, tenant is one of the group's tenants: all of them load into the same org.) */
typedef bool (ld_batcher_accept_fn) (void *arg, const char *tenant);

typedef enum {
    LD_RETRY_SCHEDULED, /* the batcher took the record back */
    LD_RETRY_EXHAUSTED  /* max_attempts reached: the caller still owns it (dead letter) */
} ld_retry_t;

/*  Takes ownership of *env_p and *bytes_p (NULLing them) into a new item received at now,
    with org -1. Checks the payload once (payload_ok) and notes its first parent reference.
    Returns NULL on allocation failure (the caller then still owns both). The envelope must
    carry a target (sobject, ext_id_field, ext_id, payload). */
ld_item_t *ld_item_new (cm_envelope_t **env_p, char **bytes_p, size_t size, int64_t now);

/*  Frees the item, its envelope and bytes, and any newer versions chained behind it; sets
 *self_p to NULL. Accepts NULL. */
void ld_item_destroy (ld_item_t **self_p);

/*  Creates a batcher (config values are clamped to their ranges). NULL on OOM. */
ld_batcher_t *ld_batcher_new (const ld_batcher_config_t *config);

/*  Frees the batcher and every record it holds; sets *self_p to NULL. Accepts NULL. */
void ld_batcher_destroy (ld_batcher_t **self_p);

/*  Adds a record. Returns 0 and takes ownership (NULLing *item_p), or -1 when full (the
    caller keeps it). */
int ld_batcher_add (ld_batcher_t *self, ld_item_t **item_p, int64_t now);

/*  True when ld_batcher_add would refuse: stop reading input. */
bool ld_batcher_full (const ld_batcher_t *self);

/*  Records held (waiting and backing off). */
size_t ld_batcher_count (const ld_batcher_t *self);

/*  Takes the next batch that is due at now: up to batch_size ready records of one group, in
    arrival order, one version per record. With drain, every held record counts as ready
    and due (shutdown). Returns the number of items written to items (cap >= batch_size),
    0 when nothing is due. The caller holds them until it gives each one back with
    ld_batcher_retry or ld_batcher_done. Groups are served in turn. */
size_t ld_batcher_next (ld_batcher_t *self, int64_t now, bool drain, ld_item_t **items, size_t cap);

/*  Like ld_batcher_next, choosing as described above: skips groups that accept (when not
    NULL) refuses, and returns a Bulk batch (*kind LD_BATCH_BULK) when a group has enough
    ready records and cap allows; otherwise a Collections batch of at most batch_size. */
size_t ld_batcher_take (ld_batcher_t *self, int64_t now, bool drain, ld_batcher_accept_fn *accept,
                        void *arg, ld_item_t **items, size_t cap, ld_batch_kind_t *kind);

/*  Like ld_batcher_next_due_ms, over the groups that accept (when not NULL) takes. */
int64_t ld_batcher_due_ms (const ld_batcher_t *self, int64_t now, ld_batcher_accept_fn *accept,
                           void *arg);

/*  Milliseconds from now until ld_batcher_next may return a batch: 0 when one is due, -1
    when nothing is held. */
int64_t ld_batcher_next_due_ms (const ld_batcher_t *self, int64_t now);

/*  Gives a record back after a retryable failure. With count_attempt the failure counts
    toward max_attempts and the delay is the backoff of its attempt number; without it (the
    org was paused or had no token: nothing was tried) it just waits. The delay is at least
    min_delay_ms (Retry-After, the end of an org pause). Returns LD_RETRY_SCHEDULED
    (ownership taken, *item_p NULLed) or LD_RETRY_EXHAUSTED (the caller keeps it). */
ld_retry_t ld_batcher_retry (ld_batcher_t *self, ld_item_t **item_p, int64_t now,
                             int64_t min_delay_ms, bool count_attempt);

/*  Ends a record handed out by ld_batcher_next (loaded, failed, or exhausted after the
    caller dead-lettered it): destroys it, sets *item_p to NULL, and lets the next version
    of the same record, if one waits, join its group. */
void ld_batcher_done (ld_batcher_t *self, ld_item_t **item_p);

/*  Backoff before retry number attempt (1-based): equal jitter over
    cap = min(max_ms, base_ms * 2^(attempt-1)), i.e. cap/2 + rnd % (cap/2 + 1). Pure; rnd is
    any random 32-bit value. */
long ld_backoff_ms (long base_ms, long max_ms, int attempt, uint32_t rnd);

#endif
