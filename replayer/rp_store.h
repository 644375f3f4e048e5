/*  rp_store: the replayer's audit trail and dead-letter store, in one RocksDB
    (data_dir/replayer, through cm_store).

    Key layout. T, E, K are the record's tenant, entity and key; \0 is a NUL byte, which no
    C string can contain, so the parts never run into each other and a prefix scan of one
    record never sees another record whose name merely starts the same way.
      a/T\0E\0K\0<at:8><seq:8>  audit entry (JSON object, see below). <at> is the event's
                                ms epoch, big-endian with the sign bit flipped so that keys
                                sort by time; <seq> is a store-wide counter, big-endian, that
                                keeps entries of the same millisecond in arrival order. A
                                prefix scan of a/T\0E\0K\0 is the record's whole history in
                                order.
      s/<sf_id>                 T\0E\0K: the Salesforce Id index, written on LOADED events.
      d/<envelope id>           dead letter (JSON object, see rp_dead_letter_t).
      e/<envelope id>           the dead letter's envelope bytes, exactly as received.
      r/T\0E\0K\0<envelope id>  "" : open dead letters of one record (for resolution).
      m/seq, m/stats            the audit counter and the stats counters (JSON).
    The a/ entries and the s/ index live in a column family of their own, "audit"
    (cm_store.h): an append family, so an insert costs no skip-list search (those searches
    were a quarter of the replayer's CPU); it is read rarely (history, export, retention,
    the Id lookup), and each such read sorts a copy of its unflushed part. The other keys
    stay in the default family, read often (dead letters). Stores written before the
    family have every key in the default family: the first writable open moves the a/ and
    s/ keys (in atomic chunks), and read-only opens read both families meanwhile. A
    replayer older than the family cannot open a store that has it.
    The audit entries, the index updates, the dead letters and the meta keys of a batch of
    events are committed together in one atomic write batch (across both families), so the
    counters always match the data.

    Audit entry JSON (written by hand, integers as integers, strings escaped as cJSON
    does): {"at","stage","out","eid","hash","attempt",...,"seq"} plus
    when present "sobj","extid","sfid","created","class","code","msg",
    "fields","http","env_size". "tenant", "entity" and "key" are not stored (they are in
    the entry's key: a fifth fewer bytes for every entry to write, flush and compact): the
    readers (history, rp_store_audit_all) put them back after "eid", so every entry reads
    as {"at","stage","out","eid","tenant","entity","key","hash","attempt",...}, and entries
    written by older versions, which stored them, read the same. Entries written by the
    replayer itself have stage
    "replay" and out "resolved" (a later LOADED cleared a dead letter), "purged" (with
    "reason") or "replayed".

    Dead letters. A FAILED or REJECTED event creates the dead letter of its envelope id or
    updates it (attempts + 1, last failure time, latest error, latest bytes; the first
    failure time is kept). A LOADED event resolves (removes, with an audit entry) every
    open dead letter of the same tenant/entity/key whose envelope id or content hash is the
    loaded one, or whose last failure is not later than the load: a newer version that
    failed after an older one loaded stays open.

    Writes. rp_store_apply adds to an in-memory batch, committed when it holds
    RP_STORE_BATCH_MAX events or by rp_store_flush. The dead letters the batch changed are
    also kept in memory until the commit and read from there (so a second failure or a
    load in the same batch sees the first failure without a commit); operator reads
    (rp_store_dead_letter, _envelope, _dead_letters, history) commit first. The records
    with an open dead letter are kept in an in-memory index (loaded from r/ at open), so a
    LOADED event of any other record reads nothing. A commit error is returned as -1; the
    caller must stop (a dropped event is never silent).

    Retention (rp_store_expire_audit) deletes old a/ entries in bounded steps; it never
    touches d/, e/, r/, s/ nor the a/ entries of a record with an open dead letter.

    Readers. rp_store_open (read_only=true) works while the daemon holds the database and
    sees the state as of the open (committed batches only). */
#ifndef RP_STORE_H
#define RP_STORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_event.h"

#define RP_STORE_BATCH_MAX 1000 /* events per automatic commit */

typedef struct rp_store_t rp_store_t;

/*  One dead letter, as stored under d/<id>. All strings are owned ("" when unknown). */
typedef struct {
    char *id;                 /* envelope id */
    char *tenant;             /* tenant */
    char *entity;             /* entity */
    char *key;                /* source record key */
    char *hash;               /* content hash of the failed version */
    char *stage;              /* stage that failed it: "transform", "load" */
    char *outcome;            /* "failed" or "rejected" */
    char *error_class;        /* "retryable", "permanent", "none" */
    char *code;               /* error code, e.g. REQUIRED_FIELD_MISSING */
    char *message;            /* error message */
    char *fields;             /* comma list of fields */
    char *sobject;            /* target sObject */
    char *ext_id;             /* target external ID */
    int http_status;          /* HTTP status, 0 = none */
    uint32_t attempts;        /* failures recorded for this envelope id */
    uint32_t env_attempt;     /* the envelope's own attempt counter at the last failure */
    int64_t first_failure_ms; /* first failure, ms epoch */
    int64_t last_failure_ms;  /* last failure, ms epoch */
    uint32_t replays;         /* replays requested */
    uint32_t unanswered;      /* replays followed by another with no outcome between them */
    int64_t last_replay_ms;   /* last replay, 0 = never */
    size_t env_size;          /* size of the stored envelope bytes, 0 = none */
} rp_dead_letter_t;

/*  Counters, persisted with every commit. */
typedef struct {
    uint64_t outcomes[CM_OUTCOME_COUNT]; /* events by cm_outcome_t */
    uint64_t bad_events;                 /* messages that did not decode */
    uint64_t dl_open;                    /* dead letters open now */
    uint64_t dl_created;                 /* dead letters created */
    uint64_t dl_updated;                 /* repeated failures of an open dead letter */
    uint64_t dl_resolved;                /* dead letters cleared by a later LOADED */
    uint64_t dl_purged;                  /* dead letters purged by an operator */
    uint64_t replayed;                   /* envelopes re-fed on the replay socket */
    uint64_t audit;                      /* audit entries written */
    uint64_t audit_expired;              /* audit entries removed by the retention sweep */
} rp_stats_t;

/*  Filters for dead letters; NULL / 0 members match everything. */
typedef struct {
    const char *tenant; /* exact tenant */
    const char *entity; /* exact entity */
    const char *code;   /* exact error code */
    const char *text;   /* substring of message, key, fields or code */
    int64_t since_ms;   /* last failure >= since_ms */
    int64_t until_ms;   /* last failure < until_ms */
} rp_filter_t;

/*  Opens (creating unless read_only) the store in directory dir. NULL with a message in
    err (naming the path) on failure: unwritable, locked, corrupt. */
rp_store_t *rp_store_open (const char *dir, bool read_only, char *err, size_t err_cap);

/*  Flushes pending writes (synced), closes; sets *self_p to NULL. Accepts NULL. A flush
    error is logged (RPL_STORE_ERROR); call rp_store_flush first to see it. */
void rp_store_destroy (rp_store_t **self_p);

/*  The last error, "" when none. Borrowed. */
const char *rp_store_error (const rp_store_t *self);

/*  Records one event: audit entry, Salesforce Id index, dead-letter create / update /
    resolve, counters. Returns 0, or -1 on a storage error (rp_store_error). */
int rp_store_apply (rp_store_t *self, const cm_event_t *event);

/*  Counts a message that did not decode (persisted with the next commit). */
void rp_store_count_bad_event (rp_store_t *self);

/*  Commits pending writes (sync: fsync the WAL). Returns 0 or -1. */
int rp_store_flush (rp_store_t *self, bool sync);

/*  Number of events waiting in the batch. */
size_t rp_store_pending (const rp_store_t *self);

/*  Copies the counters into *stats. */
void rp_store_stats (const rp_store_t *self, rp_stats_t *stats);

/*  Reads dead letter id: 1 and a new *dl (free with rp_dead_letter_destroy), 0 when there
    is none, -1 on error. */
int rp_store_dead_letter (rp_store_t *self, const char *id, rp_dead_letter_t **dl);

/*  Reads the stored envelope bytes of dead letter id: 1 and a malloc'd buffer (caller
    frees), 0 when absent, -1 on error. */
int rp_store_envelope (rp_store_t *self, const char *id, char **data, size_t *size);

/*  Calls fn for each dead letter matching filter (NULL: all), in envelope-id order.
    fn returns 0 to go on. Returns 0, or -1 on error. */
typedef int (rp_dead_letter_fn) (const rp_dead_letter_t *dl, void *arg);
int rp_store_dead_letters (rp_store_t *self, const rp_filter_t *filter, rp_dead_letter_fn *fn,
                           void *arg);

/*  Calls fn for each audit entry of the record, oldest first. fn returns 0 to go on.
    Returns 0 (also when there is no entry), or -1 on error. */
typedef int (rp_audit_fn) (const cJSON *entry, void *arg);
int rp_store_history (rp_store_t *self, const char *tenant, const char *entity, const char *key,
                      rp_audit_fn *fn, void *arg);

/*  Calls fn for every audit entry, record by record. Returns 0 or -1. */
int rp_store_audit_all (rp_store_t *self, rp_audit_fn *fn, void *arg);

/*  Looks up the record a Salesforce Id was loaded from: 1 and three malloc'd strings
    (caller frees), 0 when unknown, -1 on error. */
int rp_store_lookup_sf_id (rp_store_t *self, const char *sf_id, char **tenant, char **entity,
                           char **key);

/*  Removes dead letter id with an audit entry naming the reason. Committed (synced)
    before returning. 1 when purged, 0 when there was none, -1 on error. */
int rp_store_purge (rp_store_t *self, const char *id, const char *reason);

/*  Audit retention, bounded work: looks at no more than max_visit audit entries, from where
    the previous call stopped, and deletes (in the pending batch: commit with
    rp_store_flush) those whose time is before cutoff_ms, except the entries of records
    that have an open dead letter. Dead letters themselves are never touched. Sets *wrapped
    when the sweep reached the end of the audit (the next call starts from the beginning).
    Returns the number of entries deleted (counted in stats.audit_expired), or -1 on error. */
int rp_store_expire_audit (rp_store_t *self, int64_t cutoff_ms, size_t max_visit, bool *wrapped);

/*  Notes that dead letter id was re-fed (audit entry, replays + 1; unanswered + 1 when its
    previous replay got no outcome: no failure since). Batched.
    1, 0 when there was none, -1 on error. */
int rp_store_note_replay (rp_store_t *self, const char *id);

/*  The counters as a JSON object {"extracted":N,...,"dl_open":N,...} (caller deletes), or
    NULL on OOM. */
cJSON *rp_stats_to_json (const rp_stats_t *stats);

/*  Frees a dead letter; sets *self_p to NULL. Accepts NULL. */
void rp_dead_letter_destroy (rp_dead_letter_t **self_p);

/*  True when dl was replayed after its last failure and no outcome came back yet (lost with
    a killed loader, or still on its way). */
bool rp_dead_letter_awaits_outcome (const rp_dead_letter_t *dl);

/*  The dead letter as a new JSON object (caller deletes), or NULL on OOM. */
cJSON *rp_dead_letter_to_json (const rp_dead_letter_t *dl);

/*  True when dl passes filter (NULL passes everything). */
bool rp_filter_match (const rp_filter_t *filter, const rp_dead_letter_t *dl);

#endif
