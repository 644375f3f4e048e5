/*  cm_map: byte-string hash map (separate chaining, FNV-1a, doubling). See cm_map.h. */
#include "cm_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CM_MAP_MIN_BUCKETS 64

typedef struct node_t {
    struct node_t *next; /* next node of the bucket */
    uint64_t hash;       /* full hash of the key */
    void *value;         /* owned value (may be NULL) */
    size_t klen;         /* key length */
    char key[];          /* key bytes */
} node_t;

struct cm_map_t {
    node_t **buckets;        /* bucket heads */
    size_t nbuckets;         /* number of buckets, a power of two */
    size_t size;             /* entries */
    cm_map_free_fn *free_fn; /* frees values, or NULL */
};

static uint64_t
hash_bytes (const void *key, size_t klen)
{
    const unsigned char *p = key;
    uint64_t h = UINT64_C (14695981039346656037);
    for (size_t i = 0; i < klen; i++) {
        h ^= p[i];
        h *= UINT64_C (1099511628211);
    }
    return h ^ (h >> 29);
}

cm_map_t *
cm_map_new (cm_map_free_fn *free_fn)
{
    cm_map_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->buckets = calloc (CM_MAP_MIN_BUCKETS, sizeof *self->buckets);
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    self->nbuckets = CM_MAP_MIN_BUCKETS;
    self->free_fn = free_fn;
    return self;
}

static void
node_free (cm_map_t *self, node_t *n)
{
    if (n->value && self->free_fn)
        self->free_fn (n->value);
    free (n);
}

void
cm_map_clear (cm_map_t *self)
{
    for (size_t i = 0; i < self->nbuckets; i++) {
        node_t *n = self->buckets[i];
        while (n) {
            node_t *next = n->next;
            node_free (self, n);
            n = next;
        }
        self->buckets[i] = NULL;
    }
    self->size = 0;
}

void
cm_map_destroy (cm_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_map_t *self = *self_p;
    cm_map_clear (self);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static node_t **
find (const cm_map_t *self, const void *key, size_t klen, uint64_t h)
{
    node_t **pp = &self->buckets[h & (self->nbuckets - 1)];
    while (*pp) {
        node_t *n = *pp;
        if (n->hash == h && n->klen == klen && memcmp (n->key, key, klen) == 0)
            return pp;
        pp = &n->next;
    }
    return pp;
}

void *
cm_map_get (const cm_map_t *self, const void *key, size_t klen, bool *found)
{
    node_t **pp = find (self, key, klen, hash_bytes (key, klen));
    *found = *pp != NULL;
    return *pp ? (*pp)->value : NULL;
}

/*  Doubles the bucket array; on OOM the map keeps working with longer chains. */
static void
grow (cm_map_t *self)
{
    size_t nb = self->nbuckets * 2;
    node_t **b = calloc (nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < self->nbuckets; i++) {
        node_t *n = self->buckets[i];
        while (n) {
            node_t *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free (self->buckets);
    self->buckets = b;
    self->nbuckets = nb;
}

int
cm_map_put (cm_map_t *self, const void *key, size_t klen, void *value)
{
    uint64_t h = hash_bytes (key, klen);
    node_t **pp = find (self, key, klen, h);
    if (*pp) {
        if ((*pp)->value && (*pp)->value != value && self->free_fn)
            self->free_fn ((*pp)->value);
        (*pp)->value = value;
        return 0;
    }
    node_t *n = malloc (sizeof *n + klen);
    if (!n) {
        if (value && self->free_fn)
            self->free_fn (value);
        return -1;
    }
    n->next = NULL;
    n->hash = h;
    n->value = value;
    n->klen = klen;
    if (klen)
        memcpy (n->key, key, klen);
    *pp = n;
    self->size++;
    if (self->size > self->nbuckets)
        grow (self);
    return 0;
}

bool
cm_map_delete (cm_map_t *self, const void *key, size_t klen)
{
    node_t **pp = find (self, key, klen, hash_bytes (key, klen));
    if (!*pp)
        return false;
    node_t *n = *pp;
    *pp = n->next;
    node_free (self, n);
    self->size--;
    return true;
}

size_t
cm_map_size (const cm_map_t *self)
{
    return self->size;
}
