/*  tf_memory: the transformer's small persistent memory (RocksDB under
    data_dir/transformer) behind tf_memory_ops_t: match-key owners, key aliases, and the
    values sent so far for "merge": "union" fields. Only needed when the mapping uses match
    keys or union fields (docs/mapping.md). Keys are "<kind>\x1f<sObject>\x1f<...>". */
#ifndef TF_MEMORY_H
#define TF_MEMORY_H

#include <stddef.h>

#include "tf_transform.h"

typedef struct tf_memory_t tf_memory_t;

/*  Opens (creating) the memory at directory path. NULL with a message naming the path in
    err. */
tf_memory_t *tf_memory_open (const char *path, char *err, size_t err_cap);

/*  Closes the memory; sets *self_p to NULL. Accepts NULL. */
void tf_memory_destroy (tf_memory_t **self_p);

/*  Fills ops with callbacks on this memory (valid while it is open). */
void tf_memory_ops (tf_memory_t *self, tf_memory_ops_t *ops);

#endif
