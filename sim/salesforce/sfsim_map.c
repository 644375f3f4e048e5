/*  sfsim_map: string-keyed hash table. See sfsim_map.h. */
#include "sfsim_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *key;     /* owned key copy, NULL when the slot is empty */
    uint64_t hash; /* hash of the key */
    void *value;   /* borrowed value */
} slot_t;

struct sfsim_map_t {
    slot_t *slots; /* the table, cap slots */
    size_t cap;    /* a power of two */
    size_t size;   /* keys stored */
    int nocase;    /* compare keys case-insensitively */
};

static uint64_t
s_hash (const sfsim_map_t *self, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)key;
    if (self->nocase) /* ASCII folding, as strcasecmp does in the C locale, without a call */
        for (; *p; p++)
            h = (h ^ (uint64_t)((unsigned)(*p - 'A') < 26u ? *p | 0x20 : *p)) * 1099511628211ULL;
    else
        for (; *p; p++)
            h = (h ^ (uint64_t)*p) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static int
s_equal (const sfsim_map_t *self, const char *a, const char *b)
{
    return self->nocase ? strcasecmp (a, b) == 0 : strcmp (a, b) == 0;
}

sfsim_map_t *
sfsim_map_new (int nocase)
{
    sfsim_map_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->nocase = nocase;
    self->slots = calloc (self->cap, sizeof (slot_t));
    if (!self->slots) {
        free (self);
        return NULL;
    }
    return self;
}

void
sfsim_map_destroy (sfsim_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_map_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++)
        free (self->slots[i].key);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

static size_t
s_find (const sfsim_map_t *self, const char *key, uint64_t hash)
{
    size_t mask = self->cap - 1;
    size_t i = (size_t)hash & mask;
    while (self->slots[i].key) {
        if (self->slots[i].hash == hash && s_equal (self, self->slots[i].key, key))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *
sfsim_map_get (const sfsim_map_t *self, const char *key)
{
    size_t i = s_find (self, key, s_hash (self, key));
    return self->slots[i].key ? self->slots[i].value : NULL;
}

static int
s_grow (sfsim_map_t *self)
{
    size_t cap = self->cap * 2;
    slot_t *slots = calloc (cap, sizeof (slot_t));
    if (!slots)
        return -1;
    for (size_t i = 0; i < self->cap; i++) {
        if (!self->slots[i].key)
            continue;
        size_t j = (size_t)self->slots[i].hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = self->slots[i];
    }
    free (self->slots);
    self->slots = slots;
    self->cap = cap;
    return 0;
}

int
sfsim_map_put (sfsim_map_t *self, const char *key, void *value)
{
    if ((self->size + 1) * 4 > self->cap * 3 && s_grow (self) != 0)
        return -1;
    uint64_t hash = s_hash (self, key);
    size_t i = s_find (self, key, hash);
    if (self->slots[i].key) {
        self->slots[i].value = value;
        return 0;
    }
    char *copy = strdup (key);
    if (!copy)
        return -1;
    self->slots[i] = (slot_t){.key = copy, .hash = hash, .value = value};
    self->size++;
    return 0;
}

void *
sfsim_map_remove (sfsim_map_t *self, const char *key)
{
    size_t mask = self->cap - 1;
    size_t i = s_find (self, key, s_hash (self, key));
    if (!self->slots[i].key)
        return NULL;
    void *value = self->slots[i].value;
    free (self->slots[i].key);
    self->slots[i].key = NULL;
    self->size--;
    /* Backward-shift: move later entries of the probe run into the hole when their home
       slot is not between the hole and their position. */
    size_t hole = i;
    size_t j = (i + 1) & mask;
    while (self->slots[j].key) {
        size_t home = (size_t)self->slots[j].hash & mask;
        int movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            self->slots[hole] = self->slots[j];
            self->slots[j].key = NULL;
            hole = j;
        }
        j = (j + 1) & mask;
    }
    return value;
}

size_t
sfsim_map_size (const sfsim_map_t *self)
{
    return self->size;
}

const char *
sfsim_map_next (const sfsim_map_t *self, size_t *pos, void **value)
{
    while (*pos < self->cap) {
        slot_t *s = &self->slots[(*pos)++];
        if (s->key) {
            if (value)
                *value = s->value;
            return s->key;
        }
    }
    return NULL;
}
