/*  tf_memory: the transformer's small persistent memory (RocksDB under
    data_dir/transformer) behind tf_memory_ops_t: match-key owners, key aliases, and the
    values sent so far for "merge": "union" fields. Only needed when the mapping uses match
    keys or union fields (docs/mapping.md). Keys are "<kind>\x1f<sObject>\x1f<...>".
    A bounded cache (about 128k keys) answers most look-ups, and a filter of every key the
    store may hold answers "absent" for new keys without a RocksDB read; writes wait in one batch
    until the commit callback (per record in tf_transform, per group of records in
    tf_loop). */
#ifndef TF_MEMORY_H
#define TF_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "tf_transform.h"

typedef struct tf_memory_t tf_memory_t;

/*  Counters of the memory and its cache. */
typedef struct {
    uint64_t hits;           /* look-ups answered by the cache */
    uint64_t misses;         /* look-ups that read RocksDB */
    uint64_t filtered;       /* cache misses the key filter answered "absent" (no read) */
    uint64_t evictions;      /* entries the full cache dropped */
    uint64_t writes;         /* keys written */
    uint64_t writes_skipped; /* writes of a value already stored */
    uint64_t commits;        /* write batches committed (at most one per record) */
    uint64_t resets;         /* times the cache started afresh (keys of very mixed sizes) */
    uint64_t bytes;          /* memory held by the cache (table and slab) and the filter */
} tf_memory_stats_t;

/* default cache capacity, keys (about 12 MB, at most 34) */
#define TF_MEMORY_CACHE_ENTRIES 131072

/*  Opens (creating) the memory at directory path. NULL with a message naming the path in
    err. */
tf_memory_t *tf_memory_open (const char *path, char *err, size_t err_cap);

/*  Same with a cache of about cache_entries keys (rounded up to a power of two, at least
    16); for tests. */
tf_memory_t *tf_memory_open_sized (const char *path, size_t cache_entries, char *err,
                                   size_t err_cap);

/*  Closes the memory; sets *self_p to NULL. Accepts NULL. */
void tf_memory_destroy (tf_memory_t **self_p);

/*  Fills ops with callbacks on this memory (valid while it is open). */
void tf_memory_ops (tf_memory_t *self, tf_memory_ops_t *ops);

/*  The counters so far. */
void tf_memory_stats (const tf_memory_t *self, tf_memory_stats_t *stats);

#endif
