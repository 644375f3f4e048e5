/*  rp_map: a small hash map from byte-string keys to owned values, for the replayer's
    in-memory indexes (records with an open dead letter, dead letters changed by the
    pending write batch). Keys are copied; values are freed with the map's free function
    when replaced, deleted or cleared. Not thread-safe. */
#ifndef RP_MAP_H
#define RP_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rp_map_t rp_map_t;

/*  Frees one value; NULL values are never passed to it. */
typedef void (rp_map_free_fn) (void *value);

/*  A new empty map; free_fn (may be NULL: values are not freed) owns the values.
    NULL on OOM. */
rp_map_t *rp_map_new (rp_map_free_fn *free_fn);

/*  Frees every entry and the map; sets *self_p to NULL. Accepts NULL. */
void rp_map_destroy (rp_map_t **self_p);

/*  The value of key (borrowed; may be NULL when NULL was stored). *found tells whether the
    key is present. */
void *rp_map_get (const rp_map_t *self, const void *key, size_t klen, bool *found);

/*  Sets key to value (takes ownership of value; NULL is a valid value), freeing the value
    it replaces. 0, or -1 on OOM (value is then freed). */
int rp_map_put (rp_map_t *self, const void *key, size_t klen, void *value);

/*  Removes key, freeing its value. True when it was present. */
bool rp_map_delete (rp_map_t *self, const void *key, size_t klen);

/*  Removes every entry. */
void rp_map_clear (rp_map_t *self);

/*  Entries in the map. */
size_t rp_map_size (const rp_map_t *self);

#endif
