/*  ex_lease: the extractor keeps every record it emitted until its outcome is durable
    (docs/delivery.md).

    Pending entries live in the tenant's state store next to the hashes:
      "l/<entity>/<key>" -> "<hash> <emitted_at_ms> <attempt>\n" + the encoded envelope.
    The poller stages one (ex_lease_stage) instead of the record's hash, in the page's
    batch (which also moves the page's watermark) or an earlier one, and commits it before
    it hands the record on, so a confirmation never arrives before it; the confirmed hash
   "h/<entity>/<key>" is written only when a confirmation for that very hash arrives from the
   replayer (SUB on zmq.confirm_endpoint, topic = tenant). A record whose hash equals its pending
   hash is not emitted again by a poll (ex_lease_changed): the lease owns it.

    A lease thread reads confirmations and, every EX_LEASE_SCAN_MS, while no confirmation
    for the tenant arrived for quiet_ms (the pipeline is idle or stalled, not draining a
    backlog), re-emits the pending entries older than lease_ms with attempt + 1 (the same
    envelope otherwise). It logs EXT_LEASE (pending, confirmed, re-emitted) every
    EX_LEASE_LOG_MS and once at stop.

    Read-modify-writes of pending entries take the state's lock (ex_state_lock), the one
    the poller's commit takes, so a newer version staged by the poller always wins. */
#ifndef EX_LEASE_H
#define EX_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_envelope.h"
#include "ex_flow.h"
#include "ex_poller.h"
#include "ex_state.h"

#define EX_LEASE_SCAN_MS       2000  /* how often expired leases are looked for */
#define EX_LEASE_LOG_MS        10000 /* EXT_LEASE period */
#define EX_LEASE_SCAN_MAX      5000  /* entries re-emitted per scan at most */
#define EX_LEASE_HEADER_MAX    128   /* longest "<hash> <ms> <attempt>\n" header */
#define EX_LEASE_CONFIRM_BATCH 256   /* confirmations read and written together at most */

typedef struct ex_lease_t ex_lease_t;

/*  Settings. Strings borrowed. */
typedef struct {
    const char *tenant;           /* the subscription topic and the tenant checked */
    const char *confirm_endpoint; /* SUB connects here; NULL or "" = no confirmations */
    int64_t lease_ms;             /* re-emit pending entries older than this, > 0 */
    int64_t quiet_ms;             /* ... once no confirmation came for this long, >= 0 */
    ex_emit_fn *emit;             /* re-emission (called from the lease thread); NULL = none
                                     (--once: the next daemon run re-emits) */
    void *emit_arg;               /* its argument */
    ex_flow_t *flow;              /* confirmations are counted into it; NULL = none */
} ex_lease_config_t;

/*  Stages the pending entry of env (emitted now) in the state's batch: the record is
    handed on. Returns 0, or -1 (key too long, encoding failed). */
int ex_lease_stage (ex_state_t *state, const cm_envelope_t *env, int64_t now_ms);

/*  Like ex_state_changed, but a record whose hash equals its pending hash is unchanged.
    1 changed, 0 not, -1 with err. */
int ex_lease_changed (ex_state_t *state, const char *entity, const char *key, const char *hash,
                      char *err, size_t err_cap);

/*  Parses a pending value's header: hash (into hash[33]), emitted_at, attempt and the
    offset of the envelope bytes. 0, or -1 when corrupt. */
int ex_lease_parse_pending (const char *val, size_t vlen, char *hash, int64_t *at_ms,
                            uint32_t *attempt, size_t *body);

/*  Counts the pending entries (all entities); -1 on a store error. */
int64_t ex_lease_pending_count (ex_state_t *state);

/*  Creates the lease (connects the SUB socket in ctx, borrowed). NULL with err. */
ex_lease_t *ex_lease_new (void *ctx, ex_state_t *state, const ex_lease_config_t *cfg, char *err,
                          size_t err_cap);

/*  Stops the thread if started, closes the socket; sets *self_p to NULL. Accepts NULL. */
void ex_lease_destroy (ex_lease_t **self_p);

/*  Starts the lease thread. 0 or -1. */
int ex_lease_start (ex_lease_t *self);

/*  Handles one confirmation body (untrusted): 1 when it confirmed a pending entry (deleted
    it, stored the confirmed hash), 0 when ignored (malformed, other tenant, no pending
    entry, an older hash), -1 on a store error. */
int ex_lease_handle_confirm (ex_lease_t *self, const void *data, size_t size, int64_t now_ms);

/*  The same for n (<= EX_LEASE_CONFIRM_BATCH) bodies at once, with one read of their
    pending entries and one write: the number that confirmed a pending entry (a repeat of
    one in the same batch is ignored), or -1 on a store error. One caller at a time (the
    lease thread; it reuses the lease's scratch space). */
int ex_lease_handle_confirms (ex_lease_t *self, const void *const *data, const size_t *sizes,
                              size_t n, int64_t now_ms);

/*  Re-emits the expired pending entries at wall-clock now_ms if the quiet rule allows (and
    there is an emit function). Returns the number re-emitted, or -1 on a store error. */
int ex_lease_reemit (ex_lease_t *self, int64_t now_ms);

/*  Counters (any thread). */
uint64_t ex_lease_confirmed (const ex_lease_t *self);
uint64_t ex_lease_reemitted (const ex_lease_t *self);

/*  Publishers (replayers) connected to the confirmation socket now, as far as its monitor
    has seen (the lease thread reads its events): 0 when none, or no socket. Any thread. */
int ex_lease_publishers (const ex_lease_t *self);

#endif
