/*  cm_store: RocksDB wrapper. See cm_store.h. */
#include "cm_store.h"

#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/*  Memory per store (issue 8: peak RSS under 64 MiB per process). The defaults (64 MiB
    memtables, index and filter blocks outside any cache) let one store grow past 100 MiB
    during a backfill; these bound it to about 2 x 4 MiB of memtables plus an 8 MiB cache
    that also holds the index and filter blocks. */
#define CM_STORE_CACHE_BYTES        (8u * 1024 * 1024) /* block cache per store */
#define CM_STORE_WRITE_BUFFER_BYTES (4u * 1024 * 1024) /* one memtable */
#define CM_STORE_FILE_BYTES         (8u * 1024 * 1024) /* SST files of level 1 and up */
#define CM_STORE_WRITE_BUFFERS      2                  /* memtables at most (1 active) */
#define CM_STORE_BLOOM_BITS         10                 /* bloom filter bits per key */
#define CM_STORE_RUNS_BEFORE_MERGE  8 /* sorted runs before universal compaction merges */
/* with several families, a family that takes few writes keeps old log files alive; past
   this much log a flush of the family that holds the oldest frees them */
#define CM_STORE_MAX_WAL_BYTES (16u * 1024 * 1024)
#define CM_STORE_MOVE_CHUNK    10000 /* keys moved into a family per atomic batch */

/*  Full disk. A write needs its own size (twice: WAL, then SST) plus room for a memtable
    flush; with less free space it is refused with "No space left on device" before RocksDB
    tries it. RocksDB must not meet ENOSPC on its write-ahead log: after a failed log write
    it cannot write again (some builds abort on the next write), so the store also refuses
    every write after the first failed one, and the process must stop. */
#define CM_STORE_SPACE_RESERVE (CM_STORE_WRITE_BUFFER_BYTES + 256u * 1024)

struct cm_store_t {
    rocksdb_t *db;                              /* the open database */
    rocksdb_options_t *options;                 /* open options (and the sorted families') */
    rocksdb_options_t *append_options;          /* append families' options, or NULL */
    rocksdb_column_family_handle_t **families;  /* [0] default, [i] the i-th asked for (NULL
                                                   when absent from a read-only store), then
                                                   the others found in the store */
    size_t family_count;                        /* handles */
    const cm_store_family_t *asked;             /* the families asked for (borrowed) */
    size_t asked_count;                         /* their number */
    size_t moved;                               /* keys moved into them at the open */
    rocksdb_block_based_table_options_t *table; /* table options (block cache) */
    rocksdb_cache_t *cache;                     /* LRU block cache */
    rocksdb_readoptions_t *read;                /* read options */
    rocksdb_writeoptions_t *write_sync;         /* writes that fsync the WAL */
    rocksdb_writeoptions_t *write_async;        /* writes that do not */
    char *path;                                 /* database directory */
    bool read_only;                             /* opened read-only */
    bool write_failed;                          /* a write failed: no more writes */
    char error[512];                            /* last error, "" when none */
};

struct cm_store_batch_t {
    rocksdb_writebatch_t *wb; /* the pending operations */
};

/*  The handle of family id (CM_STORE_DEFAULT or a cm_store_open_families index + 1), NULL
    when it is absent (read-only) or out of range. */
static rocksdb_column_family_handle_t *
family (const cm_store_t *self, int id)
{
    return id >= 0 && (size_t)id < self->family_count ? self->families[id] : NULL;
}

/*  True when p (n bytes) and the moved prefix `moved` overlap: one starts with the other. */
static bool
overlaps (const char *p, size_t n, const char *moved)
{
    size_t m = strlen (moved);
    return memcmp (p, moved, n < m ? n : m) == 0;
}

/*  True when reads of family fam in the range of key or prefix p (n bytes) must also look in
    the default family: a read-only open of a store whose keys there have not been moved
    into the family yet (the first writable open moves them). */
static bool
legacy (const cm_store_t *self, int fam, const char *p, size_t n)
{
    if (!self->read_only || fam <= CM_STORE_DEFAULT || (size_t)fam > self->asked_count)
        return false;
    const char *const *moved = self->asked[fam - 1].moved;
    for (size_t i = 0; moved && moved[i]; i++)
        if (overlaps (p, n, moved[i]))
            return true;
    return false;
}

static int move_to_family (cm_store_t *self, const char *prefix, size_t plen, int fam,
                           size_t *moved);

/*  Copies a RocksDB error into the store (prefixed with the path) and frees it. */
static int
fail_with (cm_store_t *self, const char *what, char *rerr)
{
    snprintf (self->error, sizeof self->error, "store %s: %s: %s", self->path, what,
              rerr ? rerr : "unknown error");
    if (rerr)
        rocksdb_free (rerr);
    return -1;
}

void
cm_store_thread_init (void)
{
    rocksdb_set_perf_level (rocksdb_disable);
}

cm_store_t *
cm_store_open (const char *path, bool read_only, char *err, size_t err_cap)
{
    return cm_store_open_families (path, read_only, NULL, 0, err, err_cap);
}

/*  Opens the database with its column families: the default one, the n asked for, and
    any other the store holds (a database opens only with all of its families). */
static int
open_families (cm_store_t *self, const char *path, const cm_store_family_t *asked, size_t n,
               char **rerr)
{
    size_t nfound = 0;
    char *lerr = NULL;
    char **found = rocksdb_list_column_families (self->options, path, &nfound, &lerr);
    if (lerr) { /* no database yet (a new one has only the default family) */
        rocksdb_free (lerr);
        rocksdb_list_column_families_destroy (found, 0); /* an empty list, still allocated */
        found = NULL;
        nfound = 0;
    }
    size_t cap = 1 + n + nfound;
    const char **names = calloc (cap, sizeof *names);
    const rocksdb_options_t **opts = calloc (cap, sizeof *opts);
    size_t *slot = calloc (cap, sizeof *slot); /* where each opened one's handle goes */
    rocksdb_column_family_handle_t **handles = calloc (cap, sizeof *handles);
    self->families = calloc (cap, sizeof *self->families);
    int rc = -1;
    if (!names || !opts || !slot || !handles || !self->families) {
        *rerr = strdup ("out of memory");
        goto out;
    }
    size_t count = 0; /* families to open */
    names[count] = "default", opts[count] = self->options, slot[count++] = 0;
    for (size_t i = 0; i < n; i++) {
        bool exists = false;
        for (size_t j = 0; j < nfound; j++)
            exists = exists || strcmp (found[j], asked[i].name) == 0;
        if (self->read_only && !exists)
            continue; /* read as empty */
        names[count] = asked[i].name;
        opts[count] = asked[i].append ? self->append_options : self->options;
        slot[count++] = 1 + i;
    }
    self->family_count = 1 + n;
    for (size_t j = 0; j < nfound; j++) {
        bool known = strcmp (found[j], "default") == 0;
        for (size_t i = 0; i < n; i++)
            known = known || strcmp (found[j], asked[i].name) == 0;
        if (known)
            continue;
        names[count] = found[j], opts[count] = self->options;
        slot[count++] = self->family_count++;
    }
    if (self->read_only)
        self->db = rocksdb_open_for_read_only_column_families (self->options, path, (int)count,
                                                               names, opts, handles, 0, rerr);
    else
        self->db = rocksdb_open_column_families (self->options, path, (int)count, names, opts,
                                                 handles, rerr);
    if (self->db && !*rerr) {
        for (size_t i = 0; i < count; i++)
            self->families[slot[i]] = handles[i];
        rc = 0;
    }
out:
    if (found)
        rocksdb_list_column_families_destroy (found, nfound);
    free (names);
    free (opts);
    free (slot);
    free (handles);
    return rc;
}

cm_store_t *
cm_store_open_families (const char *path, bool read_only, const cm_store_family_t *families,
                        size_t n, char *err, size_t err_cap)
{
    char *rerr = NULL;
    cm_store_t *self = calloc (1, sizeof *self);
    if (!self || !(self->path = strdup (path ? path : ""))) {
        snprintf (err, err_cap, "store %s: out of memory", path ? path : "");
        free (self);
        return NULL;
    }
    self->read_only = read_only;
    self->options = rocksdb_options_create ();
    self->table = rocksdb_block_based_options_create ();
    self->cache = rocksdb_cache_create_lru (CM_STORE_CACHE_BYTES);
    self->read = rocksdb_readoptions_create ();
    self->write_sync = rocksdb_writeoptions_create ();
    self->write_async = rocksdb_writeoptions_create ();
    rocksdb_block_based_options_set_block_cache (self->table, self->cache);
    /* index and filter blocks are charged to the cache (bounded), L0 ones pinned (hot) */
    rocksdb_block_based_options_set_cache_index_and_filter_blocks (self->table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache (self->table, 1);
    /* point reads (dead letters, parents, record hashes) mostly miss: a bloom filter
       answers those without reading a data block; the table options own the policy */
    rocksdb_block_based_options_set_filter_policy (
        self->table, rocksdb_filterpolicy_create_bloom_full (CM_STORE_BLOOM_BITS));
    rocksdb_options_set_write_buffer_size (self->options, CM_STORE_WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_write_buffer_number (self->options, CM_STORE_WRITE_BUFFERS);
    /* smaller compaction outputs: a compaction's builders hold less at a time */
    rocksdb_options_set_target_file_size_base (self->options, CM_STORE_FILE_BYTES);
    rocksdb_options_set_block_based_table_factory (self->options, self->table);
    rocksdb_options_set_create_if_missing (self->options, read_only ? 0 : 1);
    rocksdb_options_set_compression (self->options, rocksdb_lz4_compression);
    rocksdb_options_set_max_open_files (self->options, 256);
    rocksdb_options_set_keep_log_file_num (self->options, 3);
    /* universal compaction: the stores take writes of keys spread over the whole key
       space (audit entries, record hashes), which level compaction rewrites level 1 for
       again and again; universal merges sorted runs of similar size (replayer CPU 9.6 ->
       8.05 s in the benchmark). The price: merging the largest run needs its size again in
       free disk for a while. Stores written with level compaction open as they are. */
    rocksdb_options_set_compaction_style (self->options, rocksdb_universal_compaction);
    /* merge when 8 sorted runs have piled up, not 4: a backfill writes every key once, so
       each merge before the data settles is work done again at the next; the point reads
       (record hashes, dead letters) skip most runs by their bloom filters (replayer share
       of the pipeline's CPU 31-33 % -> 27-30 % in the benchmark) */
    rocksdb_options_set_level0_file_num_compaction_trigger (self->options,
                                                            CM_STORE_RUNS_BEFORE_MERGE);
    /* RocksDB counts every operation in thread-local perf counters by default; nothing
       reads them, and the bookkeeping was ~5 % of the replayer's main thread. The setting
       is per thread: it covers the thread that opens the store (every process's main
       thread, which does nearly all the writes); another thread that writes much calls
       cm_store_thread_init. */
    cm_store_thread_init ();
    rocksdb_writeoptions_set_sync (self->write_sync, 1);
    rocksdb_writeoptions_set_sync (self->write_async, 0);
    if (n > 0) {
        rocksdb_options_set_create_missing_column_families (self->options, read_only ? 0 : 1);
        rocksdb_options_set_max_total_wal_size (self->options, CM_STORE_MAX_WAL_BYTES);
    }
    bool append = false;
    for (size_t i = 0; i < n; i++)
        append = append || families[i].append;
    if (append) {
        /* appends go into a vector memtable: an insert costs no search (a skip list's was
           a quarter of the replayer's CPU); the vector is sorted when it is flushed, and
           for each read of it (rare: operator queries). Concurrent memtable writes need a
           skip list; every store has one writer thread. */
        self->append_options = rocksdb_options_create_copy (self->options);
        rocksdb_options_set_memtable_vector_rep (self->append_options);
        /* a memtable bloom filter answers reads of absent keys without that sort */
        rocksdb_options_set_memtable_prefix_bloom_size_ratio (self->append_options, 0.05);
        rocksdb_options_set_memtable_whole_key_filtering (self->append_options, 1);
        rocksdb_options_set_allow_concurrent_memtable_write (self->options, 0);
        rocksdb_options_set_allow_concurrent_memtable_write (self->append_options, 0);
    }
    if (!path || !*path) {
        snprintf (err, err_cap, "store: empty path");
        goto fail;
    }
    if (open_families (self, path, families, n, &rerr) != 0 || !self->db || rerr) {
        snprintf (err, err_cap, "store %s: cannot open%s: %s", path, read_only ? " read-only" : "",
                  rerr ? rerr : "unknown error");
        if (rerr)
            rocksdb_free (rerr);
        goto fail;
    }
    self->asked = families;
    self->asked_count = n;
    for (size_t i = 0; !read_only && i < n; i++)
        for (size_t j = 0; families[i].moved && families[i].moved[j]; j++) {
            size_t moved = 0;
            const char *p = families[i].moved[j];
            if (move_to_family (self, p, strlen (p), (int)i + 1, &moved) != 0) {
                snprintf (err, err_cap, "%s (moving the keys %s into the family %s)", self->error,
                          p, families[i].name);
                goto fail;
            }
            self->moved += moved;
        }
    return self;
fail:
    cm_store_destroy (&self);
    return NULL;
}

void
cm_store_destroy (cm_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_store_t *self = *self_p;
    if (self->db) {
        if (!self->read_only && !self->write_failed) {
            rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create ();
            rocksdb_flushoptions_set_wait (fo, 1);
            for (size_t i = 0; i < self->family_count; i++) {
                char *rerr = NULL;
                if (self->families[i])
                    rocksdb_flush_cf (self->db, fo, self->families[i], &rerr);
                /*  A failed flush loses nothing: the WAL still holds every write. */
                if (rerr)
                    rocksdb_free (rerr);
            }
            rocksdb_flushoptions_destroy (fo);
        }
        for (size_t i = 0; i < self->family_count; i++)
            if (self->families[i])
                rocksdb_column_family_handle_destroy (self->families[i]);
        rocksdb_close (self->db);
    } else if (self->families) {
        for (size_t i = 0; i < self->family_count; i++)
            if (self->families[i])
                rocksdb_column_family_handle_destroy (self->families[i]);
    }
    free (self->families);
    if (self->append_options)
        rocksdb_options_destroy (self->append_options);
    if (self->options)
        rocksdb_options_destroy (self->options);
    if (self->table)
        rocksdb_block_based_options_destroy (self->table);
    if (self->cache)
        rocksdb_cache_destroy (self->cache);
    if (self->read)
        rocksdb_readoptions_destroy (self->read);
    if (self->write_sync)
        rocksdb_writeoptions_destroy (self->write_sync);
    if (self->write_async)
        rocksdb_writeoptions_destroy (self->write_async);
    free (self->path);
    free (self);
    *self_p = NULL;
}

const char *
cm_store_error (const cm_store_t *self)
{
    return self ? self->error : "";
}

int
cm_store_get (cm_store_t *self, const char *key, size_t klen, char **val, size_t *vlen)
{
    return cm_store_get_in (self, CM_STORE_DEFAULT, key, klen, val, vlen);
}

size_t
cm_store_moved (const cm_store_t *self)
{
    return self->moved;
}

static int get_cf (cm_store_t *self, rocksdb_column_family_handle_t *cf, const char *key,
                   size_t klen, char **val, size_t *vlen);

int
cm_store_get_in (cm_store_t *self, int fam, const char *key, size_t klen, char **val, size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    self->error[0] = '\0';
    rocksdb_column_family_handle_t *cf = family (self, fam);
    int rc = cf ? get_cf (self, cf, key, klen, val, vlen) : 0;
    if (rc == 0 && legacy (self, fam, key, klen))
        rc = get_cf (self, self->families[CM_STORE_DEFAULT], key, klen, val, vlen);
    return rc;
}

static int
get_cf (cm_store_t *self, rocksdb_column_family_handle_t *cf, const char *key, size_t klen,
        char **val, size_t *vlen)
{
    char *rerr = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf (self->db, self->read, cf, key, klen, &len, &rerr);
    if (rerr) {
        if (v)
            rocksdb_free (v);
        return fail_with (self, "get", rerr);
    }
    if (!v)
        return 0;
    char *copy = malloc (len + 1);
    if (!copy) {
        rocksdb_free (v);
        snprintf (self->error, sizeof self->error, "store %s: get: out of memory", self->path);
        return -1;
    }
    memcpy (copy, v, len);
    copy[len] = '\0';
    rocksdb_free (v);
    *val = copy;
    *vlen = len;
    return 1;
}

int
cm_store_multi_get (cm_store_t *self, size_t n, const char *const *keys, const size_t *klens,
                    char **vals, size_t *vlens)
{
    return cm_store_multi_get_in (self, CM_STORE_DEFAULT, n, keys, klens, vals, vlens);
}

int
cm_store_multi_get_in (cm_store_t *self, int fam, size_t n, const char *const *keys,
                       const size_t *klens, char **vals, size_t *vlens)
{
    self->error[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        vlens[i] = 0;
    }
    rocksdb_column_family_handle_t *cf = family (self, fam);
    if (n == 0 || !cf)
        return 0;
    char **errs = calloc (n, sizeof *errs); /* per-key RocksDB errors (NULL: none) */
    const rocksdb_column_family_handle_t **cfs = calloc (n, sizeof *cfs); /* cf for each key */
    if (!errs || !cfs) {
        free (errs);
        free (cfs);
        snprintf (self->error, sizeof self->error, "store %s: multi get: out of memory",
                  self->path);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        cfs[i] = cf;
    /* RocksDB's own (unterminated) values land in vals first, then are replaced by copies */
    rocksdb_multi_get_cf (self->db, self->read, cfs, n, keys, klens, vals, vlens, errs);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i]) {
            if (rc == 0)
                fail_with (self, "multi get", errs[i]);
            else
                rocksdb_free (errs[i]);
            rc = -1;
        }
        if (!vals[i])
            continue;
        char *copy = rc == 0 ? malloc (vlens[i] + 1) : NULL;
        if (copy) {
            memcpy (copy, vals[i], vlens[i]);
            copy[vlens[i]] = '\0';
        } else if (rc == 0) {
            snprintf (self->error, sizeof self->error, "store %s: multi get: out of memory",
                      self->path);
            rc = -1;
        }
        rocksdb_free (vals[i]);
        vals[i] = copy;
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            free (vals[i]);
            vals[i] = NULL;
            vlens[i] = 0;
        }
    }
    free (errs);
    free (cfs);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!vals[i] && legacy (self, fam, keys[i], klens[i]) &&
            get_cf (self, self->families[CM_STORE_DEFAULT], keys[i], klens[i], &vals[i],
                    &vlens[i]) < 0) {
            for (size_t j = 0; j < n; j++) {
                free (vals[j]);
                vals[j] = NULL;
            }
            rc = -1;
        }
    return rc;
}

/*  0 when a write of `bytes` may go ahead, -1 with the error set when the store is stopped
    by an earlier write error or the disk is (nearly) full. */
static int
write_guard (cm_store_t *self, const char *what, size_t bytes)
{
    if (self->write_failed) {
        if (!self->error[0])
            snprintf (self->error, sizeof self->error,
                      "store %s: %s refused: an earlier write failed; restart the process",
                      self->path, what);
        return -1;
    }
    struct statvfs vfs;
    if (statvfs (self->path, &vfs) != 0)
        return 0; /* no answer: RocksDB will say */
    unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    unsigned long long need = 2ull * bytes + CM_STORE_SPACE_RESERVE;
    if (avail >= need)
        return 0;
    snprintf (self->error, sizeof self->error,
              "store %s: %s: No space left on device (%llu KiB free, a write of %zu bytes needs "
              "%llu KiB); free space under %s and restart",
              self->path, what, avail / 1024, bytes, need / 1024, self->path);
    self->write_failed = true;
    return -1;
}

int
cm_store_put (cm_store_t *self, const char *key, size_t klen, const void *val, size_t vlen,
              bool sync)
{
    return cm_store_put_in (self, CM_STORE_DEFAULT, key, klen, val, vlen, sync);
}

int
cm_store_put_in (cm_store_t *self, int fam, const char *key, size_t klen, const void *val,
                 size_t vlen, bool sync)
{
    self->error[0] = '\0';
    rocksdb_column_family_handle_t *cf = family (self, fam);
    if (!cf || self->read_only) {
        snprintf (self->error, sizeof self->error, "store %s: put: no family %d to write",
                  self->path, fam);
        return -1;
    }
    if (write_guard (self, "put", klen + vlen) != 0)
        return -1;
    char *rerr = NULL;
    rocksdb_put_cf (self->db, sync ? self->write_sync : self->write_async, cf, key, klen, val, vlen,
                    &rerr);
    if (rerr)
        self->write_failed = true;
    return rerr ? fail_with (self, "put", rerr) : 0;
}

int
cm_store_delete (cm_store_t *self, const char *key, size_t klen, bool sync)
{
    return cm_store_delete_in (self, CM_STORE_DEFAULT, key, klen, sync);
}

int
cm_store_delete_in (cm_store_t *self, int fam, const char *key, size_t klen, bool sync)
{
    self->error[0] = '\0';
    rocksdb_column_family_handle_t *cf = family (self, fam);
    if (!cf || self->read_only) {
        snprintf (self->error, sizeof self->error, "store %s: delete: no family %d to write",
                  self->path, fam);
        return -1;
    }
    if (write_guard (self, "delete", klen) != 0)
        return -1;
    char *rerr = NULL;
    rocksdb_delete_cf (self->db, sync ? self->write_sync : self->write_async, cf, key, klen, &rerr);
    if (rerr)
        self->write_failed = true;
    return rerr ? fail_with (self, "delete", rerr) : 0;
}

cm_store_batch_t *
cm_store_batch_new (void)
{
    cm_store_batch_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->wb = rocksdb_writebatch_create ();
    if (!self->wb) {
        free (self);
        return NULL;
    }
    return self;
}

void
cm_store_batch_destroy (cm_store_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rocksdb_writebatch_destroy ((*self_p)->wb);
    free (*self_p);
    *self_p = NULL;
}

void
cm_store_batch_put (cm_store_batch_t *self, const char *key, size_t klen, const void *val,
                    size_t vlen)
{
    rocksdb_writebatch_put (self->wb, key, klen, val, vlen);
}

void
cm_store_batch_delete (cm_store_batch_t *self, const char *key, size_t klen)
{
    rocksdb_writebatch_delete (self->wb, key, klen);
}

int
cm_store_batch_put_in (cm_store_batch_t *self, const cm_store_t *store, int fam, const char *key,
                       size_t klen, const void *val, size_t vlen)
{
    rocksdb_column_family_handle_t *cf = family (store, fam);
    if (!cf || store->read_only)
        return -1;
    rocksdb_writebatch_put_cf (self->wb, cf, key, klen, val, vlen);
    return 0;
}

int
cm_store_batch_delete_in (cm_store_batch_t *self, const cm_store_t *store, int fam, const char *key,
                          size_t klen)
{
    rocksdb_column_family_handle_t *cf = family (store, fam);
    if (!cf || store->read_only)
        return -1;
    rocksdb_writebatch_delete_cf (self->wb, cf, key, klen);
    return 0;
}

size_t
cm_store_batch_count (const cm_store_batch_t *self)
{
    return (size_t)rocksdb_writebatch_count (self->wb);
}

int
cm_store_batch_commit (cm_store_t *self, cm_store_batch_t *batch, bool sync)
{
    self->error[0] = '\0';
    size_t bytes = 0;
    rocksdb_writebatch_data (batch->wb, &bytes);
    if (write_guard (self, "batch write", bytes) != 0)
        return -1;
    char *rerr = NULL;
    rocksdb_write (self->db, sync ? self->write_sync : self->write_async, batch->wb, &rerr);
    if (rerr) {
        self->write_failed = true;
        return fail_with (self, "batch write", rerr);
    }
    rocksdb_writebatch_clear (batch->wb);
    return 0;
}

int
cm_store_scan (cm_store_t *self, const char *prefix, size_t plen, const char *start, size_t slen,
               cm_store_scan_fn *fn, void *arg)
{
    return cm_store_scan_in (self, CM_STORE_DEFAULT, prefix, plen, start, slen, fn, arg);
}

static int scan_cf (cm_store_t *self, rocksdb_column_family_handle_t *cf, const char *prefix,
                    size_t plen, const char *start, size_t slen, cm_store_scan_fn *fn, void *arg);

int
cm_store_scan_in (cm_store_t *self, int fam, const char *prefix, size_t plen, const char *start,
                  size_t slen, cm_store_scan_fn *fn, void *arg)
{
    self->error[0] = '\0';
    if (start && (slen < plen || memcmp (start, prefix, plen) != 0)) {
        snprintf (self->error, sizeof self->error, "store %s: scan start outside the prefix",
                  self->path);
        return -1;
    }
    rocksdb_column_family_handle_t *cf = family (self, fam);
    int rc = cf ? scan_cf (self, cf, prefix, plen, start, slen, fn, arg) : 0;
    /* after the family's keys: when a move stopped half-way, the moved ones are the smaller */
    if (rc == 0 && legacy (self, fam, prefix, plen))
        rc = scan_cf (self, self->families[CM_STORE_DEFAULT], prefix, plen, start, slen, fn, arg);
    return rc;
}

static int
scan_cf (cm_store_t *self, rocksdb_column_family_handle_t *cf, const char *prefix, size_t plen,
         const char *start, size_t slen, cm_store_scan_fn *fn, void *arg)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf (self->db, self->read, cf);
    if (!it) {
        snprintf (self->error, sizeof self->error, "store %s: cannot create iterator", self->path);
        return -1;
    }
    if (start)
        rocksdb_iter_seek (it, start, slen);
    else
        rocksdb_iter_seek (it, prefix, plen);
    int rc = 0;
    for (; rocksdb_iter_valid (it); rocksdb_iter_next (it)) {
        size_t klen = 0, vlen = 0;
        const char *k = rocksdb_iter_key (it, &klen);
        if (klen < plen || memcmp (k, prefix, plen) != 0)
            break;
        const char *v = rocksdb_iter_value (it, &vlen);
        if (fn (k, klen, v, vlen, arg) != 0)
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error (it, &rerr);
    if (rerr)
        rc = fail_with (self, "scan", rerr);
    rocksdb_iter_destroy (it);
    return rc;
}

/* ---- moving keys between families -------------------------------------------------------- */

typedef struct {
    cm_store_t *self;        /* the store */
    int fam;                 /* the family they go to */
    cm_store_batch_t *batch; /* the chunk being moved */
    size_t count;            /* keys in it */
    size_t chunk;            /* keys a chunk at most */
    char *last;              /* the chunk's last key (malloc'd): where the next one starts */
    size_t last_len;         /* its length */
    bool oom;                /* out of memory */
} move_ctx_t;

static int
move_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    move_ctx_t *ctx = arg;
    char *last = realloc (ctx->last, klen ? klen : 1);
    if (!last) {
        ctx->oom = true;
        return 1;
    }
    memcpy (last, key, klen);
    ctx->last = last;
    ctx->last_len = klen;
    (void)cm_store_batch_put_in (ctx->batch, ctx->self, ctx->fam, key, klen, val, vlen);
    cm_store_batch_delete (ctx->batch, key, klen);
    return ++ctx->count >= ctx->chunk;
}

/*  Moves every key with prefix from the default family into family fam, CM_STORE_MOVE_CHUNK
    keys per atomic, fsync'd batch: a crash in between leaves each key in one family or the
    other, and the next writable open goes on. The count moved in *moved. 0 or -1. */
static int
move_to_family (cm_store_t *self, const char *prefix, size_t plen, int fam, size_t *moved)
{
    *moved = 0;
    size_t chunk = CM_STORE_MOVE_CHUNK;
    move_ctx_t ctx = {self, fam, cm_store_batch_new (), 0, chunk, NULL, 0, false};
    int rc = ctx.batch ? 0 : -1;
    while (rc == 0) {
        ctx.count = 0;
        char *start = ctx.last;
        size_t slen = ctx.last_len;
        ctx.last = NULL;
        ctx.last_len = 0;
        /* the chunk before is deleted: a scan from its last key starts after it */
        if (cm_store_scan (self, prefix, plen, start, slen, move_one, &ctx) != 0 || ctx.oom ||
            (ctx.count && cm_store_batch_commit (self, ctx.batch, true)))
            rc = -1;
        free (start);
        *moved += rc == 0 ? ctx.count : 0;
        if (ctx.count < chunk)
            break;
    }
    free (ctx.last);
    if (rc != 0 && (ctx.oom || !ctx.batch))
        snprintf (self->error, sizeof self->error, "store %s: move: out of memory", self->path);
    cm_store_batch_destroy (&ctx.batch);
    return rc;
}
