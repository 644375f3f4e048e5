/*  ex_state: the extractor's per-tenant RocksDB state. See ex_state.h. */
#include "ex_state.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm_store.h"

struct ex_state_t {
    cm_store_t *store;       /* RocksDB at data_dir/extractor/<tenant> */
    cm_store_batch_t *batch; /* staged changes */
    char path[4096];         /* the store's directory, for messages */
    pthread_mutex_t lock;    /* commits and the lease's read-modify-writes (ex_lease) */
};

/*  Creates dir and its parents (mode 0700). Returns 0 or -1 (errno). */
static int
s_mkdir_p (const char *dir)
{
    char tmp[4096];
    if (snprintf (tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir (tmp, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir (tmp, 0700) && errno != EEXIST)
        return -1;
    return 0;
}

static int
s_plain_name (const char *s)
{
    if (!*s || strcmp (s, ".") == 0 || strcmp (s, "..") == 0 || strlen (s) > 128)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

ex_state_t *
ex_state_open (const char *data_dir, const char *tenant, char *err, size_t err_cap)
{
    ex_state_t *self = NULL;
    char parent[4096];
    if (!s_plain_name (tenant)) {
        snprintf (err, err_cap,
                  "tenant '%.64s' is not a plain name (letters, digits, '_', '-', '.')", tenant);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    pthread_mutex_init (&self->lock, NULL);
    if (snprintf (parent, sizeof parent, "%s/extractor", data_dir) >= (int)sizeof parent ||
        snprintf (self->path, sizeof self->path, "%s/%s", parent, tenant) >=
            (int)sizeof self->path) {
        snprintf (err, err_cap, "data_dir path is too long");
        goto fail;
    }
    if (s_mkdir_p (parent)) {
        snprintf (err, err_cap, "%s: cannot create directory: %s", parent, strerror (errno));
        goto fail;
    }
    self->store = cm_store_open (self->path, false, err, err_cap);
    if (!self->store)
        goto fail;
    self->batch = cm_store_batch_new ();
    if (!self->batch) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    ex_state_destroy (&self);
    return NULL;
}

void
ex_state_destroy (ex_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_store_batch_destroy (&(*self_p)->batch);
    cm_store_destroy (&(*self_p)->store);
    pthread_mutex_destroy (&(*self_p)->lock);
    free (*self_p);
    *self_p = NULL;
}

/*  Writes "<tag>/<entity>[/<key>]" into buf. Returns its length, or -1 when too long. */
static int
s_key (char *buf, size_t cap, char tag, const char *entity, const char *key)
{
    if (key && strlen (key) > EX_STATE_MAX_KEY)
        return -1;
    int n = key ? snprintf (buf, cap, "%c/%s/%s", tag, entity, key)
                : snprintf (buf, cap, "%c/%s", tag, entity);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
ex_state_watermark (ex_state_t *self, const char *entity, char *out, size_t out_cap, char *err,
                    size_t err_cap)
{
    char k[256];
    int klen = s_key (k, sizeof k, 'w', entity, NULL);
    if (klen < 0) {
        snprintf (err, err_cap, "entity name too long");
        return -1;
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc = cm_store_get (self->store, k, (size_t)klen, &val, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading watermark of %s: %s", self->path, entity,
                  cm_store_error (self->store));
        return -1;
    }
    if (rc == 0)
        return 0;
    if (vlen + 1 > out_cap) {
        snprintf (err, err_cap, "%s: watermark of %s is corrupt (%zu bytes)", self->path, entity,
                  vlen);
        free (val);
        return -1;
    }
    memcpy (out, val, vlen);
    out[vlen] = '\0';
    free (val);
    return 1;
}

int
ex_state_changed (ex_state_t *self, const char *entity, const char *key, const char *hash,
                  char *err, size_t err_cap)
{
    char k[EX_STATE_MAX_KEY + 256];
    int klen = s_key (k, sizeof k, 'h', entity, key);
    if (klen < 0) {
        snprintf (err, err_cap, "record key of %s is longer than %d bytes", entity,
                  EX_STATE_MAX_KEY);
        return -1;
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc = cm_store_get (self->store, k, (size_t)klen, &val, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading hash of %s %s: %s", self->path, entity, key,
                  cm_store_error (self->store));
        return -1;
    }
    int changed = rc == 0 || vlen != strlen (hash) || memcmp (val, hash, vlen) != 0;
    free (val);
    return changed;
}

int
ex_state_stage_hash (ex_state_t *self, const char *entity, const char *key, const char *hash)
{
    char k[EX_STATE_MAX_KEY + 256];
    int klen = s_key (k, sizeof k, 'h', entity, key);
    if (klen < 0)
        return -1;
    cm_store_batch_put (self->batch, k, (size_t)klen, hash, strlen (hash));
    return 0;
}

int
ex_state_stage_watermark (ex_state_t *self, const char *entity, const char *watermark)
{
    char k[256];
    int klen = s_key (k, sizeof k, 'w', entity, NULL);
    if (klen < 0)
        return -1;
    cm_store_batch_put (self->batch, k, (size_t)klen, watermark, strlen (watermark));
    return 0;
}

size_t
ex_state_staged (const ex_state_t *self)
{
    return cm_store_batch_count (self->batch);
}

int
ex_state_commit (ex_state_t *self, bool sync, char *err, size_t err_cap)
{
    if (cm_store_batch_count (self->batch) == 0)
        return 0;
    pthread_mutex_lock (&self->lock);
    int rc = cm_store_batch_commit (self->store, self->batch, sync);
    pthread_mutex_unlock (&self->lock);
    if (rc) {
        snprintf (err, err_cap, "%s: writing state: %s", self->path, cm_store_error (self->store));
        return -1;
    }
    return 0;
}

cm_store_t *
ex_state_store (ex_state_t *self)
{
    return self->store;
}

cm_store_batch_t *
ex_state_batch (ex_state_t *self)
{
    return self->batch;
}

void
ex_state_lock (ex_state_t *self)
{
    pthread_mutex_lock (&self->lock);
}

void
ex_state_unlock (ex_state_t *self)
{
    pthread_mutex_unlock (&self->lock);
}

void
ex_state_discard (ex_state_t *self)
{
    /* a fresh batch replaces the old one only when it could be made, so self->batch is
       never NULL (if that fails, the old one is kept and the next commit may carry it:
       the caller stops on the error that made it discard anyway) */
    cm_store_batch_t *fresh = cm_store_batch_new ();
    if (fresh) {
        cm_store_batch_destroy (&self->batch);
        self->batch = fresh;
    }
}

const char *
ex_state_path (const ex_state_t *self)
{
    return self->path;
}

int
ex_state_times (ex_state_t *self, const char *entity, int64_t *last_poll_ms, int64_t *last_full_ms,
                char *err, size_t err_cap)
{
    *last_poll_ms = 0;
    *last_full_ms = 0;
    char k[256];
    int klen = s_key (k, sizeof k, 't', entity, NULL);
    if (klen < 0) {
        snprintf (err, err_cap, "entity name too long");
        return -1;
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc = cm_store_get (self->store, k, (size_t)klen, &val, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading the schedule of %s: %s", self->path, entity,
                  cm_store_error (self->store));
        return -1;
    }
    if (rc == 0)
        return 0;
    int64_t poll = 0, full = 0;
    int used = 0;
    /* cm_store_get NUL-terminates the value */
    if (vlen > 64 || sscanf (val, "%" SCNd64 " %" SCNd64 "%n", &poll, &full, &used) != 2 ||
        (size_t)used != vlen || poll < 0 || full < 0) {
        snprintf (err, err_cap, "%s: the schedule of %s is corrupt", self->path, entity);
        free (val);
        return -1;
    }
    free (val);
    *last_poll_ms = poll;
    *last_full_ms = full;
    return 0;
}

int
ex_state_set_times (ex_state_t *self, const char *entity, int64_t last_poll_ms,
                    int64_t last_full_ms, char *err, size_t err_cap)
{
    char k[256], v[64];
    int klen = s_key (k, sizeof k, 't', entity, NULL);
    if (klen < 0) {
        snprintf (err, err_cap, "entity name too long");
        return -1;
    }
    int vlen = snprintf (v, sizeof v, "%" PRId64 " %" PRId64, last_poll_ms, last_full_ms);
    if (cm_store_put (self->store, k, (size_t)klen, v, (size_t)vlen, true)) {
        snprintf (err, err_cap, "%s: writing the schedule of %s: %s", self->path, entity,
                  cm_store_error (self->store));
        return -1;
    }
    return 0;
}

ex_state_t *
ex_state_open_read_only (const char *data_dir, const char *tenant, char *err, size_t err_cap)
{
    ex_state_t *self = NULL;
    if (!s_plain_name (tenant)) {
        snprintf (err, err_cap,
                  "tenant '%.64s' is not a plain name (letters, digits, '_', '-', '.')", tenant);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    pthread_mutex_init (&self->lock, NULL);
    if (snprintf (self->path, sizeof self->path, "%s/extractor/%s", data_dir, tenant) >=
        (int)sizeof self->path) {
        snprintf (err, err_cap, "data_dir path is too long");
        goto fail;
    }
    self->store = cm_store_open (self->path, true, err, err_cap);
    if (!self->store)
        goto fail;
    self->batch = cm_store_batch_new ();
    if (!self->batch) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    ex_state_destroy (&self);
    return NULL;
}

int
ex_state_set_poll (ex_state_t *self, const char *entity, const char *json, char *err,
                   size_t err_cap)
{
    char k[256];
    int klen = s_key (k, sizeof k, 'p', entity, NULL);
    if (klen < 0 || strlen (json) > EX_STATE_MAX_POLL) {
        snprintf (err, err_cap, "entity name or poll record too long");
        return -1;
    }
    if (cm_store_put (self->store, k, (size_t)klen, json, strlen (json), false)) {
        snprintf (err, err_cap, "%s: writing the poll record of %s: %s", self->path, entity,
                  cm_store_error (self->store));
        return -1;
    }
    return 0;
}

int
ex_state_poll (ex_state_t *self, const char *entity, char **json, char *err, size_t err_cap)
{
    *json = NULL;
    char k[256];
    int klen = s_key (k, sizeof k, 'p', entity, NULL);
    if (klen < 0) {
        snprintf (err, err_cap, "entity name too long");
        return -1;
    }
    size_t vlen = 0;
    int rc = cm_store_get (self->store, k, (size_t)klen, json, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading the poll record of %s: %s", self->path, entity,
                  cm_store_error (self->store));
        return -1;
    }
    if (rc > 0 && vlen > EX_STATE_MAX_POLL) {
        snprintf (err, err_cap, "%s: the poll record of %s is too long", self->path, entity);
        free (*json);
        *json = NULL;
        return -1;
    }
    return rc > 0 ? 1 : 0;
}
