/*  ex_state: the extractor's memory of one tenant, a RocksDB at data_dir/extractor/<tenant>.

    Per entity a watermark, "w/<entity>" -> the largest watermark-property value (SQL
    datetime text) that has been handed on; per record a content hash,
    "h/<entity>/<key>" -> 32 hex chars; per entity its schedule, "t/<entity>" -> "<last poll
    ms> <last full pass ms>" (wall clock, so it survives a restart); per entity its last poll
    record, "p/<entity>" -> JSON (ex_progress.h; read by mlc-status). A record is emitted when its
    hash differs from the stored one. Changes are staged while a page is emitted and committed in
    one atomic batch after its records were handed to the socket, so neither a hash nor the
    watermark ever records something that was not handed on. The connection's token state,
    "c/token" -> JSON (never the token itself; read by mlc-status).

    A store error (a full disk, an unwritable or vanished directory) is fatal: the first one
    is logged (EXT_STATE_FAILED, naming the path and the cause) and kept, ex_state_failed
    turns true, and the process stops with a non-zero exit (issue 6: a clear error and a
    stopped process, never a moved watermark or a dropped pending entry; a failed batch
    writes nothing). */
#ifndef EX_STATE_H
#define EX_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_store.h"

#define EX_STATE_MAX_KEY       1024        /* longest record key accepted */
#define EX_STATE_INFLIGHT_MAX  16384       /* in-flight index entries at most */
#define EX_STATE_RESERVE_BYTES (256 << 10) /* free space kept on data_dir's disk */
/* the column family of ex_lease's pending entries "l/<entity>/<key>": each is written once
   and deleted once, and read rarely (cm_store.h, an append family); the other keys are in
   the default family. A store written before it has them in the default family: the
   first writable open moves them, read-only opens read both. */
#define EX_STATE_PENDING 1

typedef struct ex_state_t ex_state_t;

/*  Opens (creating directories as needed) the state of `tenant` under data_dir. The tenant
    must be a plain name (letters, digits, '_', '-', '.'). Returns NULL with a message
    naming the path in err (e.g. a file where a directory should be, a full disk). */
ex_state_t *ex_state_open (const char *data_dir, const char *tenant, char *err, size_t err_cap);

/*  The store's directory (data_dir/extractor/<tenant>). Borrowed. */
const char *ex_state_path (const ex_state_t *self);

/*  Reads when the last successful poll and the last successful full pass of entity started
    (epoch ms, 0 when never). Returns 0, or -1 on a store error or a corrupt value (err). */
int ex_state_times (ex_state_t *self, const char *entity, int64_t *last_poll_ms,
                    int64_t *last_full_ms, char *err, size_t err_cap);

/*  Writes both times of entity at once (fsync'd, outside the staged batch; this also makes
    every earlier unsynced commit durable). 0, or -1. */
int ex_state_set_times (ex_state_t *self, const char *entity, int64_t last_poll_ms,
                        int64_t last_full_ms, char *err, size_t err_cap);

/*  Discards staged changes, closes the store and sets *self_p to NULL. Accepts NULL. */
void ex_state_destroy (ex_state_t **self_p);

/*  Reads the committed watermark of entity into out. Returns 1 when set, 0 when there is
    none yet (first poll), -1 on a store error or a value longer than out_cap-1 (err). */
int ex_state_watermark (ex_state_t *self, const char *entity, char *out, size_t out_cap, char *err,
                        size_t err_cap);

/*  Compares hash with the committed hash of the record. Returns 1 when it differs or the
    record is new, 0 when unchanged, -1 on a store error or an over-long key (err). */
int ex_state_changed (ex_state_t *self, const char *entity, const char *key, const char *hash,
                      char *err, size_t err_cap);

/*  ex_state_changed for n records of entity at once, with one store read
    (cm_store_multi_get; a page of records costs one call, not n): sets changed[i] to 1
    when hashes[i] differs from the committed hash of keys[i] or there is none, 0 when
    equal. Returns 0, or -1 on a store error (recorded as the state's failure) or an
    over-long key (err). n = 0 reads nothing. */
int ex_state_changed_many (ex_state_t *self, const char *entity, size_t n, const char *const *keys,
                           const char *const *hashes, int *changed, char *err, size_t err_cap);

/*  Reads the values "<tag>/<entity>/<keys[i]>" of n records with one store read (tag 'h':
    hashes, 'l': ex_lease's pending entries). Sets vals[i] to a malloc'd value
    (NUL-terminated beyond vlens[i]; caller frees) or NULL when absent. Returns 0, or -1
    (every vals[i] NULL) on a store error (recorded as the state's failure) or an over-long
    key (err). */
int ex_state_get_many (ex_state_t *self, char tag, const char *entity, size_t n,
                       const char *const *keys, char **vals, size_t *vlens, char *err,
                       size_t err_cap);

/*  1 when no hash and no pending entry of entity is stored (a first backfill: every record
    is new, so the poller skips the per-record lookups), 0 when some are, -1 on a store
    error (err). */
int ex_state_entity_empty (ex_state_t *self, const char *entity, char *err, size_t err_cap);

/*  Stages the record's new hash / the entity's new watermark for the next commit.
    Returns 0, or -1 when the key is too long. */
int ex_state_stage_hash (ex_state_t *self, const char *entity, const char *key, const char *hash);
int ex_state_stage_watermark (ex_state_t *self, const char *entity, const char *watermark);

/*  Stages a raw put in the pending family (ex_lease's "l/..." entries), counting its bytes
    for the free-space check of ex_state_commit. */
void ex_state_stage_pending (ex_state_t *self, const char *key, size_t klen, const void *val,
                             size_t vlen);

/*  Refuses a write of `need` bytes when data_dir's disk has less than 2 * need +
    EX_STATE_RESERVE_BYTES free: a store failure ("No space left on device", with the
    numbers; ex_state_fail) and -1 with err. Every write of ex_state checks first, so the
    process stops with a clear error before RocksDB runs out of space mid-write. 0 when
    there is room (or statvfs cannot tell). */
int ex_state_check_space (ex_state_t *self, size_t need, char *err, size_t err_cap);

/*  Number of staged changes. */
size_t ex_state_staged (const ex_state_t *self);

/*  Writes the staged changes atomically and clears them; sync: fsync the write-ahead log
    first. An unsynced commit survives a crash of the process but not of the machine: the
    state may then fall back to an older commit, so records are emitted again (a duplicate
    downstream absorbs), never skipped. ex_state_set_times always syncs, which makes every
    earlier commit durable too. 0, or -1 with err. */
int ex_state_commit (ex_state_t *self, bool sync, char *err, size_t err_cap);

/*  Drops the staged changes (their records were not all handed on). */
void ex_state_discard (ex_state_t *self);

/*  For ex_lease (pending entries, "l/<entity>/<key>"): the store and the staged batch
    (borrowed), and the lock that ex_state_commit holds while it writes, so the lease
    thread's read-modify-writes never interleave with a commit. */
cm_store_t *ex_state_store (ex_state_t *self);
cm_store_batch_t *ex_state_batch (ex_state_t *self);
void ex_state_lock (ex_state_t *self);
void ex_state_unlock (ex_state_t *self);

/*  The in-flight index: the hash of each pending entry ("l/<entity>/<key>") this process
    committed, kept in memory so a confirmation is checked without reading the entry back
    from the store. ex_state_note_pending remembers a pending entry staged for the next
    commit; ex_state_commit adds the noted entries once they are written (so the lease
    never sees one its commit has not made), ex_state_discard forgets them. At most
    EX_STATE_INFLIGHT_MAX entries (the flow-control window keeps far fewer); a pending
    entry left out, or written by an earlier run, is read from the store as before. */
void ex_state_note_pending (ex_state_t *self, const char *key, size_t klen, const char *hash);

/*  With the lock held (ex_state_lock): 1 and the entry's hash in hash[33] when key is in
    the index, 0 when it is not (read the store). */
int ex_state_inflight_hash (ex_state_t *self, const char *key, size_t klen, char *hash);

/*  With the lock held: drops key from the index (its pending entry is being deleted). */
void ex_state_inflight_forget (ex_state_t *self, const char *key, size_t klen);

/*  Entries in the index (with the lock held, or for tests). */
size_t ex_state_inflight_count (ex_state_t *self);

/*  Opens the state of `tenant` read-only (no directory is created; works while the
    extractor holds the store; sees what was committed at the open). For readers such as
    mlc-status. NULL with a message naming the path in err. */
ex_state_t *ex_state_open_read_only (const char *data_dir, const char *tenant, char *err,
                                     size_t err_cap);

#define EX_STATE_MAX_POLL 4096 /* longest poll record accepted */

/*  Writes entity's poll record, "p/<entity>" -> JSON text (see ex_progress.h), unsynced
    (the next ex_state_set_times makes it durable). 0, or -1 (err). */
int ex_state_set_poll (ex_state_t *self, const char *entity, const char *json, char *err,
                       size_t err_cap);

/*  Reads entity's poll record: 1 and a malloc'd NUL-terminated *json (caller frees), 0
    when none, -1 on a store error or an over-long value (err). */
int ex_state_poll (ex_state_t *self, const char *entity, char **json, char *err, size_t err_cap);

/*  Writes / reads the connection's token state, "c/token" -> JSON (see cs_auth_status;
    never the token). Same contracts as ex_state_set_poll / ex_state_poll. */
int ex_state_set_token (ex_state_t *self, const char *json, char *err, size_t err_cap);
int ex_state_token (ex_state_t *self, char **json, char *err, size_t err_cap);

/*  Records a store error as fatal (first one wins; logs EXT_STATE_FAILED with the path).
    Every store error inside ex_state calls it; ex_lease calls it for its own writes. Any
    thread. */
void ex_state_fail (ex_state_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/*  True once a store error happened (any thread). */
bool ex_state_failed (const ex_state_t *self);

/*  Copies the first store error ("<path>: <what>: <cause>") into out. */
void ex_state_failure (ex_state_t *self, char *out, size_t cap);

#endif
