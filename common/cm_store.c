/*  cm_store: RocksDB wrapper. See cm_store.h. */
#include "cm_store.h"

#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CM_STORE_CACHE_BYTES (32u * 1024 * 1024) /* block cache per store */

struct cm_store_t {
    rocksdb_t *db;                              /* the open database */
    rocksdb_options_t *options;                 /* open options */
    rocksdb_block_based_table_options_t *table; /* table options (block cache) */
    rocksdb_cache_t *cache;                     /* LRU block cache */
    rocksdb_readoptions_t *read;                /* read options */
    rocksdb_writeoptions_t *write_sync;         /* writes that fsync the WAL */
    rocksdb_writeoptions_t *write_async;        /* writes that do not */
    char *path;                                 /* database directory */
    bool read_only;                             /* opened read-only */
    char error[512];                            /* last error, "" when none */
};

struct cm_store_batch_t {
    rocksdb_writebatch_t *wb; /* the pending operations */
};

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

cm_store_t *
cm_store_open (const char *path, bool read_only, char *err, size_t err_cap)
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
    rocksdb_options_set_block_based_table_factory (self->options, self->table);
    rocksdb_options_set_create_if_missing (self->options, read_only ? 0 : 1);
    rocksdb_options_set_compression (self->options, rocksdb_lz4_compression);
    rocksdb_options_set_max_open_files (self->options, 256);
    rocksdb_options_set_keep_log_file_num (self->options, 3);
    rocksdb_writeoptions_set_sync (self->write_sync, 1);
    rocksdb_writeoptions_set_sync (self->write_async, 0);
    if (!path || !*path) {
        snprintf (err, err_cap, "store: empty path");
        goto fail;
    }
    if (read_only)
        self->db = rocksdb_open_for_read_only (self->options, path, 0, &rerr);
    else
        self->db = rocksdb_open (self->options, path, &rerr);
    if (!self->db || rerr) {
        snprintf (err, err_cap, "store %s: cannot open%s: %s", path, read_only ? " read-only" : "",
                  rerr ? rerr : "unknown error");
        if (rerr)
            rocksdb_free (rerr);
        goto fail;
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
        if (!self->read_only) {
            rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create ();
            rocksdb_flushoptions_set_wait (fo, 1);
            char *rerr = NULL;
            rocksdb_flush (self->db, fo, &rerr);
            /*  A failed flush loses nothing: the WAL still holds every write. */
            if (rerr)
                rocksdb_free (rerr);
            rocksdb_flushoptions_destroy (fo);
        }
        rocksdb_close (self->db);
    }
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
    *val = NULL;
    *vlen = 0;
    self->error[0] = '\0';
    char *rerr = NULL;
    size_t len = 0;
    char *v = rocksdb_get (self->db, self->read, key, klen, &len, &rerr);
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
cm_store_put (cm_store_t *self, const char *key, size_t klen, const void *val, size_t vlen,
              bool sync)
{
    self->error[0] = '\0';
    char *rerr = NULL;
    rocksdb_put (self->db, sync ? self->write_sync : self->write_async, key, klen, val, vlen,
                 &rerr);
    return rerr ? fail_with (self, "put", rerr) : 0;
}

int
cm_store_delete (cm_store_t *self, const char *key, size_t klen, bool sync)
{
    self->error[0] = '\0';
    char *rerr = NULL;
    rocksdb_delete (self->db, sync ? self->write_sync : self->write_async, key, klen, &rerr);
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

size_t
cm_store_batch_count (const cm_store_batch_t *self)
{
    return (size_t)rocksdb_writebatch_count (self->wb);
}

int
cm_store_batch_commit (cm_store_t *self, cm_store_batch_t *batch, bool sync)
{
    self->error[0] = '\0';
    char *rerr = NULL;
    rocksdb_write (self->db, sync ? self->write_sync : self->write_async, batch->wb, &rerr);
    if (rerr)
        return fail_with (self, "batch write", rerr);
    rocksdb_writebatch_clear (batch->wb);
    return 0;
}

int
cm_store_scan (cm_store_t *self, const char *prefix, size_t plen, const char *start, size_t slen,
               cm_store_scan_fn *fn, void *arg)
{
    self->error[0] = '\0';
    if (start && (slen < plen || memcmp (start, prefix, plen) != 0)) {
        snprintf (self->error, sizeof self->error, "store %s: scan start outside the prefix",
                  self->path);
        return -1;
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator (self->db, self->read);
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
