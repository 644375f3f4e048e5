/*  cm_store: a small RocksDB wrapper: open, get, put, delete, atomic batches and prefix
    scans. Errors are returned as -1 with the RocksDB message in cm_store_error. */
#ifndef CM_STORE_H
#define CM_STORE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cm_store_t cm_store_t;
typedef struct cm_store_batch_t cm_store_batch_t;

/*  Opens (creating when needed, unless read_only) the database directory at path.
    Returns NULL with a message naming the path in err (unwritable, locked by another
    process, corrupt, disk full). The functions without a family argument work on the
    default family. */
cm_store_t *cm_store_open (const char *path, bool read_only, char *err, size_t err_cap);

/*  Column families: key spaces of their own in one database, written together by one
    atomic batch. An append family takes keys in any order with no search per insert (a
    vector memtable, sorted when flushed), but each read of its unflushed part sorts a copy
    of it: for data that is written much and read rarely (the replayer's audit). Whether a
    family is an append family is not stored: it is how this process writes it. */
#define CM_STORE_DEFAULT 0 /* the default family's id */
typedef struct {
    const char *name;         /* family name */
    bool append;              /* written much, read rarely */
    const char *const *moved; /* NULL, or key prefixes (NULL-terminated) that stores written
                                 before the family had in the default family */
} cm_store_family_t;

/*  cm_store_open with the families[0..n) too (borrowed: they must outlive the store),
    created when missing (unless read_only: then a missing one reads as empty). Family
    families[i] has id i + 1. Families the store holds and nobody asked for are opened as
    well (a database opens only with all of them). A writable open moves the keys with a
    family's `moved` prefixes from the default family into it, in atomic, fsync'd chunks (a
    crash in between leaves each key in one family or the other; the next open goes on); a
    read-only open reads such keys of a family in both places (the family's first). */
cm_store_t *cm_store_open_families (const char *path, bool read_only,
                                    const cm_store_family_t *families, size_t n, char *err,
                                    size_t err_cap);

/*  Sets up the calling thread for store work: RocksDB's per-operation perf counters off
    (cm_store_open does it for the thread that opens). For threads that write much. */
void cm_store_thread_init (void);

/*  Flushes and closes the database; sets *self_p to NULL. Accepts NULL. */
void cm_store_destroy (cm_store_t **self_p);

/*  The last error message, "" when none. Borrowed. */
const char *cm_store_error (const cm_store_t *self);

/*  Reads key. Returns 1 and a malloc'd value (NUL-terminated beyond vlen; caller frees),
    0 when absent, -1 on error. */
int cm_store_get (cm_store_t *self, const char *key, size_t klen, char **val, size_t *vlen);

/*  Keys the open moved into their families (cm_store_open_families). */
size_t cm_store_moved (const cm_store_t *self);

/*  cm_store_get in family fam (absent from a read-only store: 0). */
int cm_store_get_in (cm_store_t *self, int fam, const char *key, size_t klen, char **val,
                     size_t *vlen);

/*  cm_store_multi_get in family fam (absent from a read-only store: every vals[i] NULL). */
int cm_store_multi_get_in (cm_store_t *self, int fam, size_t n, const char *const *keys,
                           const size_t *klens, char **vals, size_t *vlens);

/*  Reads n keys (of the default family) with one RocksDB call (rocksdb_multi_get: one consistent
   view for all). Sets vals[i] to a malloc'd value (NUL-terminated beyond vlens[i]; caller frees) or
   to NULL when key i is absent (vlens[i] = 0); an empty value is found (non-NULL, length 0).
    Returns 0, or -1 on an error (the first failed key's message in cm_store_error, every
    vals[i] NULL). n = 0 reads nothing and returns 0. */
int cm_store_multi_get (cm_store_t *self, size_t n, const char *const *keys, const size_t *klens,
                        char **vals, size_t *vlens);

/*  Writes key=val (sync: fsync the WAL before returning). Returns 0 or -1. */
int cm_store_put (cm_store_t *self, const char *key, size_t klen, const void *val, size_t vlen,
                  bool sync);

/*  cm_store_put in family fam. -1 also when there is no such family or it is read-only. */
int cm_store_put_in (cm_store_t *self, int fam, const char *key, size_t klen, const void *val,
                     size_t vlen, bool sync);

/*  Deletes key. Returns 0 or -1. */
int cm_store_delete (cm_store_t *self, const char *key, size_t klen, bool sync);
int cm_store_delete_in (cm_store_t *self, int fam, const char *key, size_t klen, bool sync);

/*  A write batch applied atomically by cm_store_batch_commit. */
cm_store_batch_t *cm_store_batch_new (void);
void cm_store_batch_destroy (cm_store_batch_t **self_p);
void cm_store_batch_put (cm_store_batch_t *self, const char *key, size_t klen, const void *val,
                         size_t vlen);
void cm_store_batch_delete (cm_store_batch_t *self, const char *key, size_t klen);
/*  A put or delete in family fam of store (the batch is then for that store only).
    Returns 0, or -1 when the store has no such family or is read-only. */
int cm_store_batch_put_in (cm_store_batch_t *self, const cm_store_t *store, int fam,
                           const char *key, size_t klen, const void *val, size_t vlen);
int cm_store_batch_delete_in (cm_store_batch_t *self, const cm_store_t *store, int fam,
                              const char *key, size_t klen);
size_t cm_store_batch_count (const cm_store_batch_t *self);
/*  Applies and clears the batch. Returns 0 or -1. */
int cm_store_batch_commit (cm_store_t *self, cm_store_batch_t *batch, bool sync);

/*  Called for each key with the prefix, in key order. Return 0 to go on, non-zero to stop. */
typedef int (cm_store_scan_fn) (const char *key, size_t klen, const char *val, size_t vlen,
                                void *arg);

/*  Scans keys starting with prefix (from `start` if non-NULL, which must itself start with
    prefix). Returns 0 when done or stopped by fn, -1 on error. */
int cm_store_scan (cm_store_t *self, const char *prefix, size_t plen, const char *start,
                   size_t slen, cm_store_scan_fn *fn, void *arg);

/*  cm_store_scan in family fam (absent from a read-only store: nothing, 0). */
int cm_store_scan_in (cm_store_t *self, int fam, const char *prefix, size_t plen, const char *start,
                      size_t slen, cm_store_scan_fn *fn, void *arg);

#endif
