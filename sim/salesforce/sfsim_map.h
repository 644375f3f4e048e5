/*  sfsim_map: a string-keyed hash table (open addressing, linear probing, backward-shift
    deletion) for the Salesforce simulator's indexes: record Ids, external-ID values,
    tokens, field names. Keys are copied; values are borrowed pointers. Not thread-safe:
    the owner locks. */
#ifndef SFSIM_MAP_H
#define SFSIM_MAP_H

#include <stddef.h>

typedef struct sfsim_map_t sfsim_map_t;

/*  A new empty map. nocase != 0 makes keys compare case-insensitively (ASCII), as
    Salesforce field names do. Returns NULL when out of memory. */
sfsim_map_t *sfsim_map_new (int nocase);

/*  Frees the map and its key copies (not the values). Accepts NULL. */
void sfsim_map_destroy (sfsim_map_t **self_p);

/*  The value stored under key, or NULL. */
void *sfsim_map_get (const sfsim_map_t *self, const char *key);

/*  Stores value under key, replacing any previous value. Returns 0, or -1 when out of
    memory. value must not be NULL. */
int sfsim_map_put (sfsim_map_t *self, const char *key, void *value);

/*  Removes key. Returns the value it held, or NULL when absent. */
void *sfsim_map_remove (sfsim_map_t *self, const char *key);

/*  Number of keys. */
size_t sfsim_map_size (const sfsim_map_t *self);

/*  Iteration: *pos starts at 0; returns the next key and sets *value, or NULL at the end.
    The map must not change during an iteration (except removing nothing). */
const char *sfsim_map_next (const sfsim_map_t *self, size_t *pos, void **value);

#endif
