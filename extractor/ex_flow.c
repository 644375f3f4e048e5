/*  ex_flow: flow control at the source. See ex_flow.h. */
#include "ex_flow.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"

struct ex_flow_t {
    char *tenant;                     /* for the log */
    int64_t window;                   /* records unconfirmed at most, 0 = no limit */
    int64_t stall_ms;                 /* give up waiting after this long without a confirmation */
    atomic_int_fast64_t in_flight;    /* handed on, not confirmed */
    atomic_int_fast64_t last_confirm; /* monotonic ms of the last confirmation, 0 = none */
    atomic_uint_fast64_t waits;       /* waits that found the window full */
    atomic_uint_fast64_t waited_ms;   /* time spent in them */
    atomic_uint_fast64_t stalls;      /* times the window was switched off */
    atomic_int_fast64_t peak;         /* the most in flight at once */
    atomic_bool off;                  /* switched off by a stall, until a confirmation */
};

ex_flow_t *
ex_flow_new (const char *tenant, int64_t max_in_flight, int64_t stall_ms)
{
    ex_flow_t *self = calloc (1, sizeof *self);
    if (!self || !(self->tenant = strdup (tenant ? tenant : ""))) {
        free (self);
        return NULL;
    }
    self->window = max_in_flight > 0 ? max_in_flight : 0;
    self->stall_ms = stall_ms > EX_FLOW_STALL_MIN_MS ? stall_ms : EX_FLOW_STALL_MIN_MS;
    return self;
}

void
ex_flow_destroy (ex_flow_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->tenant);
    free (*self_p);
    *self_p = NULL;
}

void
ex_flow_sent (ex_flow_t *self, uint64_t n)
{
    int64_t now = atomic_fetch_add (&self->in_flight, (int64_t)n) + (int64_t)n;
    int64_t peak = atomic_load (&self->peak);
    while (now > peak && !atomic_compare_exchange_weak (&self->peak, &peak, now))
        ;
}

void
ex_flow_confirmed (ex_flow_t *self, uint64_t n)
{
    atomic_store (&self->last_confirm, cm_mono_ms ());
    bool was_off = true;
    if (atomic_load (&self->off) && atomic_compare_exchange_strong (&self->off, &was_off, false)) {
        atomic_store (&self->in_flight, 0);
        cm_info ("EXT_FLOW_RESUMED", "tenant=%s window=%" PRId64 " (confirmations arrive again)",
                 self->tenant, self->window);
        return;
    }
    int64_t now = atomic_load (&self->in_flight);
    int64_t next;
    do
        next = now > (int64_t)n ? now - (int64_t)n : 0;
    while (!atomic_compare_exchange_weak (&self->in_flight, &now, next));
}

int
ex_flow_wait (ex_flow_t *self)
{
    if (!self || self->window == 0 || atomic_load (&self->off) ||
        atomic_load (&self->in_flight) < self->window)
        return 0;
    int64_t start = cm_mono_ms ();
    int rc = 0;
    atomic_fetch_add (&self->waits, 1);
    while (atomic_load (&self->in_flight) >= self->window) {
        if (cm_signal_stop_requested ()) {
            rc = -1;
            break;
        }
        int64_t now = cm_mono_ms ();
        int64_t last = atomic_load (&self->last_confirm);
        int64_t quiet = now - (last > start ? last : start);
        if (quiet >= self->stall_ms) {
            atomic_store (&self->off, true);
            atomic_fetch_add (&self->stalls, 1);
            cm_warn ("EXT_FLOW_STALL",
                     "tenant=%s in_flight=%" PRId64 " window=%" PRId64 " quiet_ms=%" PRId64
                     " (no confirmation for that long: the window is off until one arrives; "
                     "is the replayer running and zmq.confirm_endpoint its confirm endpoint?)",
                     self->tenant, (int64_t)atomic_load (&self->in_flight), self->window, quiet);
            break;
        }
        cm_sleep_ms (EX_FLOW_NAP_MS);
    }
    atomic_fetch_add (&self->waited_ms, (uint64_t)(cm_mono_ms () - start));
    return rc;
}

int64_t
ex_flow_drain (ex_flow_t *self, int64_t quiet_ms, bool confirmer)
{
    int64_t start = cm_mono_ms ();
    while (atomic_load (&self->in_flight) > 0 && !cm_signal_stop_requested ()) {
        int64_t last = atomic_load (&self->last_confirm);
        if (last == 0 && !confirmer)
            break;
        if (cm_mono_ms () - (last ? last : start) >= quiet_ms)
            break;
        cm_sleep_ms (EX_FLOW_NAP_MS);
    }
    return atomic_load (&self->in_flight);
}

int64_t
ex_flow_in_flight (const ex_flow_t *self)
{
    return atomic_load (&((ex_flow_t *)self)->in_flight);
}

int64_t
ex_flow_peak (const ex_flow_t *self)
{
    return atomic_load (&((ex_flow_t *)self)->peak);
}

uint64_t
ex_flow_stalls (const ex_flow_t *self)
{
    return atomic_load (&((ex_flow_t *)self)->stalls);
}

int64_t
ex_flow_window (const ex_flow_t *self)
{
    return self->window;
}

uint64_t
ex_flow_waits (const ex_flow_t *self)
{
    return atomic_load (&((ex_flow_t *)self)->waits);
}

uint64_t
ex_flow_waited_ms (const ex_flow_t *self)
{
    return atomic_load (&((ex_flow_t *)self)->waited_ms);
}

int
ex_flow_load_fn (void *arg, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                 size_t err_cap)
{
    ex_flow_gate_t *gate = arg;
    if (ex_flow_wait (gate->flow)) {
        *page = NULL;
        snprintf (err, err_cap, "stopped while waiting for confirmations");
        return -1;
    }
    return gate->load (gate->load_arg, query, page, err, err_cap);
}
