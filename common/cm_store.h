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
    process, corrupt, disk full). */
cm_store_t *cm_store_open (const char *path, bool read_only, char *err, size_t err_cap);

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

/*  Reads n keys with one RocksDB call (rocksdb_multi_get: one consistent view for all).
    Sets vals[i] to a malloc'd value (NUL-terminated beyond vlens[i]; caller frees) or to
    NULL when key i is absent (vlens[i] = 0); an empty value is found (non-NULL, length 0).
    Returns 0, or -1 on an error (the first failed key's message in cm_store_error, every
    vals[i] NULL). n = 0 reads nothing and returns 0. */
int cm_store_multi_get (cm_store_t *self, size_t n, const char *const *keys, const size_t *klens,
                        char **vals, size_t *vlens);

/*  Writes key=val (sync: fsync the WAL before returning). Returns 0 or -1. */
int cm_store_put (cm_store_t *self, const char *key, size_t klen, const void *val, size_t vlen,
                  bool sync);

/*  Deletes key. Returns 0 or -1. */
int cm_store_delete (cm_store_t *self, const char *key, size_t klen, bool sync);

/*  A write batch applied atomically by cm_store_batch_commit. */
cm_store_batch_t *cm_store_batch_new (void);
void cm_store_batch_destroy (cm_store_batch_t **self_p);
void cm_store_batch_put (cm_store_batch_t *self, const char *key, size_t klen, const void *val,
                         size_t vlen);
void cm_store_batch_delete (cm_store_batch_t *self, const char *key, size_t klen);
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

#endif
