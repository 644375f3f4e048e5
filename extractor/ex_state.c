/*  ex_state: the extractor's per-tenant RocksDB state. See ex_state.h. */
#include "ex_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm_store.h"

struct ex_state_t {
    cm_store_t *store;       /* RocksDB at data_dir/extractor/<tenant> */
    cm_store_batch_t *batch; /* staged changes */
    char path[4096];         /* the store's directory, for messages */
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
ex_state_commit (ex_state_t *self, char *err, size_t err_cap)
{
    if (cm_store_batch_count (self->batch) == 0)
        return 0;
    if (cm_store_batch_commit (self->store, self->batch, true)) {
        snprintf (err, err_cap, "%s: writing state: %s", self->path, cm_store_error (self->store));
        return -1;
    }
    return 0;
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
