/*  ex_progress: what an operator sees of the extractor's polls.

    The poll record. After every poll (success or failure) the extractor writes, per
    entity, a JSON object into its state (ex_state_set_poll, "p/<entity>"):
      {"at":ms,"ok":bool,"error":"...","fix":"...","full":bool,"seen":N,"changed":N,"emitted":N,
       "skipped":N,"pages":N,"ms":N,"polls":N,"failures":N,"total_seen":N,
       "total_changed":N,"total_emitted":N,"last_ok_at":ms,"last_full_seen":N}
    at = when the poll started (wall clock); seen..ms = that poll's counts; polls, failures
    and total_* are cumulative over the life of the state; last_full_seen = records read by
    the last complete full pass (0 = none yet), the honest base for a backfill's ETA.
    mlc-status reads it back (ex_progress_load).

    The progress line. During a poll, ex_progress_t reports counts, rate and (only when a
    previous full pass's total is known) an estimate of the time left: on a terminal one
    line per entity rewritten in place on stderr, otherwise an EXT_PROGRESS log line every
    `interval_ms`. Only full passes (a backfill, a reconciliation) are reported; "changed"
    counts up to the previous page (the poller's counts are read between pages). */
#ifndef EX_PROGRESS_H
#define EX_PROGRESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ex_poller.h"
#include "ex_state.h"

/*  Records the outcome of one poll of entity that started at started_ms (wall clock):
    rc 0 = success, -1 = failure with message error (kept as a bounded, single-line excerpt;
    it never contains credentials since the poller's errors do not). Reads the previous
    record to carry the cumulative counters. Returns 0, or -1 (err) on a store error. */
int ex_progress_note_poll (ex_state_t *state, const char *entity, int64_t started_ms, int rc,
                           const ex_poll_stats_t *stats, const char *error, char *err,
                           size_t err_cap);

/*  The fix for a known kind of poll error (unreachable host, refused credentials, TLS,
    time-out), in words for the operator; NULL when none applies. ex_progress_note_poll
    logs it as EXT_POLL_HINT and keeps it in the record ("fix"). */
const char *ex_progress_hint (const char *error);

/*  Reads entity's poll record as a new JSON object (*record, caller deletes): 1, 0 when
    there is none, -1 on a store error or a corrupt record (err). */
int ex_progress_load (ex_state_t *state, const char *entity, cJSON **record, char *err,
                      size_t err_cap);

/*  Records read by entity's last complete full pass, from its poll record; 0 when unknown. */
uint64_t ex_progress_expected (ex_state_t *state, const char *entity);

/*  The live progress of one entity's polls. Wraps the poller's page loader: create it
    with the real loader and give ex_progress_load_fn / the progress to ex_poller_new. */
typedef struct ex_progress_t ex_progress_t;

/*  Creates the progress of tenant/entity around load/load_arg (borrowed). tty: draw the
    line in place on stderr (else EXT_PROGRESS log lines); interval_ms: least time between
    two log lines (0 = one per page; the terminal line is redrawn at most 5 times a
    second). NULL on OOM. */
ex_progress_t *ex_progress_new (const char *tenant, const char *entity, ex_load_fn *load,
                                void *load_arg, bool tty, int64_t interval_ms);

/*  Destroys; sets *self_p to NULL. Accepts NULL. */
void ex_progress_destroy (ex_progress_t **self_p);

/*  Starts reporting one poll whose live counts are *stats (the struct given to
    ex_poller_poll; read between pages). expected: records read by the previous full pass
    (0 = unknown), used for the estimate of the time left of a full pass. Only full passes
    (stats->full, e.g. a backfill) are reported. */
void ex_progress_begin (ex_progress_t *self, const ex_poll_stats_t *stats, uint64_t expected);

/*  Ends the poll: closes an open terminal line. */
void ex_progress_end (ex_progress_t *self);

/*  ex_load_fn: loads a page through the wrapped loader and reports. arg is the progress. */
int ex_progress_load_fn (void *arg, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                         size_t err_cap);

/*  Formats the progress text: seen records after elapsed_ms, changed, the rate, and
    "done in H:MM:SS" when done, else the estimate of the time left when expected > seen,
    else "ETA unknown". Returns out. */
char *ex_progress_format (char *out, size_t cap, uint64_t seen, uint64_t changed,
                          int64_t elapsed_ms, uint64_t expected, bool done);

#endif
