/*  ex_poller: one incremental poll of one entity of one tenant.

    The poll loads the entity's IDO page by page (recordcap + bookmark), filtered on the
    watermark property from the stored watermark minus an overlap window (no filter on the
    first poll or a full pass), ordered by watermark then key. Each item becomes a
    cm_envelope (key = key properties joined with '/', fields = the requested properties,
    content hash); a record whose hash equals the stored one is skipped, the others are
    handed to an emit callback. Each changed record's pending entry (ex_lease) is committed
    before the record is handed on - the page's last commit also moves the watermark to
    the page's largest - so a confirmation, which can come back within milliseconds, never
    arrives before the entry it confirms, and an error or a stop never moves the state past
    a record that is neither pending nor confirmed.

    Pages come from a loader callback (cs_ido_load_fn in production, canned pages in
    tests) and records leave through the emit callback, so the poller needs no sockets. */
#ifndef EX_POLLER_H
#define EX_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_config.h"
#include "cm_envelope.h"
#include "cs_ido.h"
#include "ex_state.h"

#define EX_POLLER_MAX_PROPS 256 /* properties per entity */

typedef struct ex_poller_t ex_poller_t;

/*  Loads one page; same contract as cs_ido_load. */
typedef int (ex_load_fn) (void *arg, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                          size_t err_cap);

/*  Hands one record on. Returns 0 when it was handed on (e.g. queued on the socket), -1
    when not (the poll stops; the record and the rest of its page's held records are
    pending already: the lease re-emits them). The envelope
    stays the caller's. Called with env NULL after each page's records (also after a
    failed one): whatever the function holds back to send together (ex_output's events)
    must leave now, as the next page may be a while; it returns 0. */
typedef int (ex_emit_fn) (const cm_envelope_t *env, void *arg);

/*  What one entity is and how it is read. Strings borrowed by ex_poller_new. */
typedef struct {
    const char *entity;     /* "vendor", "customer", "invoice", "po" */
    const char *ido;        /* IDO name, e.g. "SLVendors" */
    const char *properties; /* comma list, or "*" (all but '_' properties) */
    const char *key;        /* comma list of key properties */
    const char *watermark;  /* watermark property, e.g. "RecordDate" */
    int page_size;          /* recordcap, > 0 */
    int overlap_s;          /* overlap window, >= 0 */
    int poll_interval_s;    /* seconds between incremental polls, > 0 */
    int full_interval_s;    /* seconds between full reconciliation passes, 0 = never */
} ex_entity_t;

/*  Counts of one poll. */
typedef struct {
    size_t seen;    /* items read */
    size_t changed; /* items whose hash differed from the stored one */
    size_t emitted; /* items handed on */
    size_t skipped; /* items without a usable key, not emitted */
    size_t pages;   /* pages loaded */
    int64_t ms;     /* duration */
    bool full;      /* read without the watermark filter (a full pass or the first poll) */
} ex_poll_stats_t;

/*  Fills ent from the cloudsuite.<entity>.* keys and cloudsuite.page_size, overlap_s,
    poll_interval_s (when cloudsuite.<entity>.poll_interval_s is 0) and
    full_sync_interval_s. Returns 0. */
int ex_entity_from_config (const cm_config_t *cfg, const char *entity, ex_entity_t *ent);

/*  Creates a poller. Validates the names (IDO, properties, key, watermark: letters, digits,
    '_' only, since they are written into filter and orderby) and adds the key and
    watermark properties to the requested list when missing. Borrows state and load_arg.
    Returns NULL with a message naming the entity and the setting in err. */
ex_poller_t *ex_poller_new (const char *tenant, const ex_entity_t *ent, ex_state_t *state,
                            ex_load_fn *load, void *load_arg, char *err, size_t err_cap);

/*  Frees the poller; sets *self_p to NULL. Accepts NULL. */
void ex_poller_destroy (ex_poller_t **self_p);

/*  The entity name. Borrowed. */
const char *ex_poller_entity (const ex_poller_t *self);

/*  The requested property list (comma-separated). Borrowed. */
const char *ex_poller_properties (const ex_poller_t *self);

/*  Runs one poll (full: without the watermark filter, e.g. a reconciliation pass). Checks
    cm_signal_stop_requested between pages. Returns 0 when every page was read, 1 when a
    stop was requested (state committed up to the last whole page), -1 on error (message
    in err; committed state stays at the last whole page). stats is filled in all cases. */
int ex_poller_poll (ex_poller_t *self, bool full, ex_emit_fn *emit, void *emit_arg,
                    ex_poll_stats_t *stats, char *err, size_t err_cap);

#endif
