/*  cm_map: a small hash map from byte-string keys to owned values, for in-memory indexes
    (the replayer's records with an open dead letter and dead letters changed by the
    pending write batch; the extractor's records in flight). Keys are copied; values are
    freed with the map's free function when replaced, deleted or cleared. Not thread-safe. */
#ifndef CM_MAP_H
#define CM_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cm_map_t cm_map_t;

/*  Frees one value; NULL values are never passed to it. */
typedef void (cm_map_free_fn) (void *value);

/*  A new empty map; free_fn (may be NULL: values are not freed) owns the values.
    NULL on OOM. */
cm_map_t *cm_map_new (cm_map_free_fn *free_fn);

/*  Frees every entry and the map; sets *self_p to NULL. Accepts NULL. */
void cm_map_destroy (cm_map_t **self_p);

/*  The value of key (borrowed; may be NULL when NULL was stored). *found tells whether the
    key is present. */
void *cm_map_get (const cm_map_t *self, const void *key, size_t klen, bool *found);

/*  Sets key to value (takes ownership of value; NULL is a valid value), freeing the value
    it replaces. 0, or -1 on OOM (value is then freed). */
int cm_map_put (cm_map_t *self, const void *key, size_t klen, void *value);

/*  Removes key, freeing its value. True when it was present. */
bool cm_map_delete (cm_map_t *self, const void *key, size_t klen);

/*  Removes every entry. */
void cm_map_clear (cm_map_t *self);

/*  Entries in the map. */
size_t cm_map_size (const cm_map_t *self);

#endif
