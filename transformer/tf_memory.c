/*  tf_memory: match owners, aliases and union values in RocksDB. See tf_memory.h.
    Writes are not synced per record: a process crash keeps them (RocksDB WAL), and after
    a machine crash the worst case is a role or alias re-learned from the next records. */
#include "tf_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_store.h"

#define TF_MEMORY_MAX_KEY    1024 /* longest store key */
#define TF_MEMORY_MAX_VALUES 64   /* most values kept in one union */

struct tf_memory_t {
    cm_store_t *store; /* the RocksDB database */
};

tf_memory_t *
tf_memory_open (const char *path, char *err, size_t err_cap)
{
    tf_memory_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->store = cm_store_open (path, false, err, err_cap);
    if (!self->store) {
        free (self);
        return NULL;
    }
    return self;
}

void
tf_memory_destroy (tf_memory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_store_destroy (&(*self_p)->store);
    free (*self_p);
    *self_p = NULL;
}

/*  Builds "kind\x1fa\x1fb[\x1fc]" into out. Returns its length, or 0 when too long. */
static size_t
mkey (char *out, char kind, const char *a, const char *b, const char *c)
{
    int n = snprintf (out, TF_MEMORY_MAX_KEY, "%c\x1f%s\x1f%s%s%s", kind, a, b, c ? "\x1f" : "",
                      c ? c : "");
    return n > 0 && n < TF_MEMORY_MAX_KEY ? (size_t)n : 0;
}

static int
s_resolve (void *arg, const char *sobject, const char *key, char **account)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 'a', sobject, key, NULL);
    *account = NULL;
    if (!kl)
        return -1;
    size_t vl = 0;
    int rc = cm_store_get (self->store, k, kl, account, &vl);
    if (rc < 0) {
        cm_error ("TRF_MEMORY_ERROR", "op=resolve reason=\"%s\"", cm_store_error (self->store));
        return -1;
    }
    return 0;
}

static int
s_match (void *arg, const char *sobject, const char *match, const char *entity, const char *own_key,
         char **account)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 'm', sobject, match, NULL);
    *account = NULL;
    if (!kl)
        return -1;
    size_t vl = 0;
    char *owner = NULL;
    int rc = cm_store_get (self->store, k, kl, &owner, &vl);
    if (rc < 0)
        goto fail;
    //  The stored value is "entity\x1fowner key".
    if (rc == 0) {
        char v[TF_MEMORY_MAX_KEY];
        int n = snprintf (v, sizeof v, "%s\x1f%s", entity, own_key);
        if (n < 0 || n >= (int)sizeof v || cm_store_put (self->store, k, kl, v, (size_t)n, false))
            goto fail;
        *account = strdup (own_key);
        return *account ? 0 : -1;
    }
    char *sep = memchr (owner, '\x1f', vl);
    if (!sep) {
        free (owner);
        goto fail;
    }
    *sep = 0;
    const char *owner_key = sep + 1;
    //  Two records of one entity with one match value are two companies (or a duplicate
    //  in CloudSuite): never merge them.
    if (strcmp (owner, entity) == 0 || strcmp (owner_key, own_key) == 0) {
        free (owner);
        *account = strdup (own_key);
        return *account ? 0 : -1;
    }
    char a[TF_MEMORY_MAX_KEY];
    size_t al = mkey (a, 'a', sobject, own_key, NULL);
    if (!al || cm_store_put (self->store, a, al, owner_key, strlen (owner_key), false)) {
        free (owner);
        goto fail;
    }
    cm_info ("TRF_MATCHED", "sobject=%s entity=%s key=%s account=%s", sobject, entity, own_key,
             owner_key);
    *account = strdup (owner_key);
    free (owner);
    return *account ? 0 : -1;
fail:
    cm_error ("TRF_MEMORY_ERROR", "op=match reason=\"%s\"", cm_store_error (self->store));
    return -1;
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/*  Splits a ';' list into list (pointers into text, which is modified), adding unique
    non-empty items. */
static void
split_add (char *text, char **list, size_t *count)
{
    char *save = NULL;
    for (char *tok = strtok_r (text, ";", &save); tok; tok = strtok_r (NULL, ";", &save)) {
        bool seen = false;
        for (size_t i = 0; i < *count; i++)
            if (strcmp (list[i], tok) == 0)
                seen = true;
        if (!seen && *tok && *count < TF_MEMORY_MAX_VALUES)
            list[(*count)++] = tok;
    }
}

static int
s_merge_union (void *arg, const char *sobject, const char *ext_id, const char *field,
               const char *value, char **merged)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 'u', sobject, ext_id, field);
    *merged = NULL;
    if (!kl)
        return -1;
    char *old = NULL, *mine = strdup (value), *out = NULL;
    size_t vl = 0;
    int rc = cm_store_get (self->store, k, kl, &old, &vl);
    if (rc < 0 || !mine) {
        cm_error ("TRF_MEMORY_ERROR", "op=union reason=\"%s\"", cm_store_error (self->store));
        goto fail;
    }
    char *list[TF_MEMORY_MAX_VALUES];
    size_t count = 0;
    if (old)
        split_add (old, list, &count);
    split_add (mine, list, &count);
    qsort (list, count, sizeof list[0], cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < count; i++)
        total += strlen (list[i]) + 1;
    out = malloc (total);
    if (!out)
        goto fail;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (i)
            out[n++] = ';';
        memcpy (out + n, list[i], strlen (list[i]));
        n += strlen (list[i]);
    }
    out[n] = 0;
    //  Rewrite only on change: most records repeat what is stored.
    bool same = false;
    if (old) {
        char *again = NULL;
        size_t al = 0;
        if (cm_store_get (self->store, k, kl, &again, &al) == 1)
            same = al == n && memcmp (again, out, n) == 0;
        free (again);
    }
    if (!same && cm_store_put (self->store, k, kl, out, n, false)) {
        cm_error ("TRF_MEMORY_ERROR", "op=union reason=\"%s\"", cm_store_error (self->store));
        goto fail;
    }
    free (old);
    free (mine);
    *merged = out;
    return 0;
fail:
    free (old);
    free (mine);
    free (out);
    return -1;
}

static int
s_remember (void *arg, const char *ext_id, const char *sobject)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 's', ext_id, "", NULL);
    if (!kl || cm_store_put (self->store, k, kl, sobject, strlen (sobject), false)) {
        cm_error ("TRF_MEMORY_ERROR", "op=remember reason=\"%s\"", cm_store_error (self->store));
        return -1;
    }
    return 0;
}

static int
s_sobject_of (void *arg, const char *ext_id, char **sobject)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 's', ext_id, "", NULL);
    size_t vl = 0;
    *sobject = NULL;
    if (!kl || cm_store_get (self->store, k, kl, sobject, &vl) < 0) {
        cm_error ("TRF_MEMORY_ERROR", "op=sobject_of reason=\"%s\"", cm_store_error (self->store));
        return -1;
    }
    return 0;
}

void
tf_memory_ops (tf_memory_t *self, tf_memory_ops_t *ops)
{
    ops->remember = s_remember;
    ops->sobject_of = s_sobject_of;
    ops->merge_union = s_merge_union;
    ops->match = s_match;
    ops->resolve = s_resolve;
    ops->arg = self;
}
