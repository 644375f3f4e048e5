/*  ex_state: the extractor's memory of one tenant, a RocksDB at data_dir/extractor/<tenant>.

    Per entity a watermark, "w/<entity>" -> the largest watermark-property value (SQL
    datetime text) that has been handed on; per record a content hash,
    "h/<entity>/<key>" -> 32 hex chars. A record is emitted when its hash differs from the
    stored one. Changes are staged while a page is emitted and committed in one atomic
    batch after its records were handed to the socket, so neither a hash nor the watermark
    ever records something that was not handed on. */
#ifndef EX_STATE_H
#define EX_STATE_H

#include <stddef.h>

#define EX_STATE_MAX_KEY 1024 /* longest record key accepted */

typedef struct ex_state_t ex_state_t;

/*  Opens (creating directories as needed) the state of `tenant` under data_dir. The tenant
    must be a plain name (letters, digits, '_', '-', '.'). Returns NULL with a message
    naming the path in err. */
ex_state_t *ex_state_open (const char *data_dir, const char *tenant, char *err, size_t err_cap);

/*  Discards staged changes, closes the store and sets *self_p to NULL. Accepts NULL. */
void ex_state_destroy (ex_state_t **self_p);

/*  Reads the committed watermark of entity into out. Returns 1 when set, 0 when there is
    none yet (first poll), -1 on a store error or a value longer than out_cap-1 (err). */
int ex_state_watermark (ex_state_t *self, const char *entity, char *out, size_t out_cap, char *err,
                        size_t err_cap);

/*  Compares hash with the committed hash of the record. Returns 1 when it differs or the
    record is new, 0 when unchanged, -1 on a store error or an over-long key (err). */
int ex_state_changed (ex_state_t *self, const char *entity, const char *key, const char *hash,
                      char *err, size_t err_cap);

/*  Stages the record's new hash / the entity's new watermark for the next commit.
    Returns 0, or -1 when the key is too long. */
int ex_state_stage_hash (ex_state_t *self, const char *entity, const char *key, const char *hash);
int ex_state_stage_watermark (ex_state_t *self, const char *entity, const char *watermark);

/*  Number of staged changes. */
size_t ex_state_staged (const ex_state_t *self);

/*  Writes the staged changes atomically (fsync'd) and clears them. 0, or -1 with err. */
int ex_state_commit (ex_state_t *self, char *err, size_t err_cap);

/*  Drops the staged changes (their records were not all handed on). */
void ex_state_discard (ex_state_t *self);

#endif
