/*  ex_flow: flow control at the source. The extractor counts the records it handed on and
    the confirmations of them (ex_lease), and before it loads the next page it waits while
    max_in_flight or more are unconfirmed. That bounds what can pile up in every queue after
    it (transformer, loaders, replayer) to a window per tenant, without small ZeroMQ HWMs
    (docs/delivery.md, "Flow control").

    Confirmations can stop while records still flow: the replayer is down (the loaders go
    on loading), or a PUB socket dropped them. So when the source has waited stall_ms
    without a confirmation, the window is switched off (EXT_FLOW_STALL) and the ZeroMQ
    queues' own limits hold the source back as they would without it; the next
    confirmation switches it on again (EXT_FLOW_RESUMED) with the count started afresh: what
    was in flight while nobody confirmed is the leases' to bring back, not the window's. */
#ifndef EX_FLOW_H
#define EX_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_ido.h"
#include "ex_poller.h"

#define EX_FLOW_NAP_MS       10   /* how often a waiting source looks at the count again */
#define EX_FLOW_STALL_MIN_MS 1000 /* stall_ms below this (e.g. lease_quiet_s 0) is this */
/* a --once run waits at most this long for the next confirmation of what it has in flight */
#define EX_FLOW_DRAIN_MAX_MS 5000

typedef struct ex_flow_t ex_flow_t;

/*  A window of max_in_flight records (0: no limit) for tenant (copied, for the log);
    stall_ms at least EX_FLOW_STALL_MIN_MS. NULL on OOM. */
ex_flow_t *ex_flow_new (const char *tenant, int64_t max_in_flight, int64_t stall_ms);

/*  Frees it; sets *self_p to NULL. Accepts NULL. */
void ex_flow_destroy (ex_flow_t **self_p);

/*  n records handed on (the polling thread). */
void ex_flow_sent (ex_flow_t *self, uint64_t n);

/*  n of them confirmed (the lease thread). The count never goes below zero: confirmations
    of records handed on before this process started are not in it. Switches a window that
    stalled back on. */
void ex_flow_confirmed (ex_flow_t *self, uint64_t n);

/*  Waits while the window is full: returns 0 when the source may go on (room in the
    window, no limit, the window off, or switched off now after stall_ms without a
    confirmation), -1 when a stop was requested. */
int ex_flow_wait (ex_flow_t *self);

/*  At the end of a --once run: waits while records are unconfirmed and confirmations keep
    coming, that is until none is in flight, or quiet_ms passed without a confirmation
    (counted from the last one, or from the call while none came), or a stop was
    requested. When none ever came and no confirmer is connected (confirmer false: no
    replayer behind the confirmation socket), nobody will confirm and it does not wait; a
    poll shorter than the pipeline's first round trip ends before the first confirmation,
    so with a confirmer it waits for that. Returns the records still unconfirmed. */
int64_t ex_flow_drain (ex_flow_t *self, int64_t quiet_ms, bool confirmer);

/*  Records handed on and not yet confirmed, the most of them at once, the window, the
    waits that found it full, the milliseconds spent waiting and the stalls. Any thread. */
int64_t ex_flow_in_flight (const ex_flow_t *self);
int64_t ex_flow_peak (const ex_flow_t *self);
int64_t ex_flow_window (const ex_flow_t *self);
uint64_t ex_flow_waits (const ex_flow_t *self);
uint64_t ex_flow_waited_ms (const ex_flow_t *self);
uint64_t ex_flow_stalls (const ex_flow_t *self);

/*  A page loader behind the window: ex_flow_wait, then the wrapped loader. */
typedef struct {
    ex_flow_t *flow;  /* the tenant's window (NULL: no waiting) */
    ex_load_fn *load; /* the loader it wraps */
    void *load_arg;   /* its argument */
} ex_flow_gate_t;

/*  An ex_load_fn; arg is an ex_flow_gate_t. A stop requested while waiting fails the load
    with "stopped while waiting for confirmations". */
int ex_flow_load_fn (void *arg, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                     size_t err_cap);

#endif
