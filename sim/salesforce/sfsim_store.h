/*  sfsim_store: the simulated org's records. One table per object: records in insertion
    order, an Id index and a hash index per unique / external-ID field (case-insensitive,
    as Salesforce's default "unique, case-insensitive" external IDs), so an upsert costs
    O(1) whatever the number of records. Ids are 18-character Salesforce Ids with the
    object's key prefix and a correct case-safe suffix.

    The store owns the schema. One mutex guards both: every function except new/destroy/
    lock/unlock must be called with the lock held (sfsim_store_lock). */
#ifndef SFSIM_STORE_H
#define SFSIM_STORE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sfsim_schema.h"

typedef struct sfsim_store_t sfsim_store_t;
typedef struct sfsim_undo_t sfsim_undo_t;

/*  One record (read-only for callers). */
typedef struct {
    char id[19];   /* 18-character Id */
    cJSON *fields; /* field name (canonical case) -> value; Id and audit fields included */
    size_t index;  /* position in its table */
} sfsim_record_t;

typedef enum { SFSIM_WRITE_UPSERT, SFSIM_WRITE_INSERT } sfsim_write_mode_t;

/*  The outcome of one record write. */
typedef struct {
    int success;         /* 1 when written */
    int created;         /* 1 when a new record was created */
    char id[19];         /* its Id (on success; on failure when known) */
    sfsim_error_t error; /* the error when !success */
} sfsim_result_t;

/*  A new empty store owning *schema_p (NULLed). Returns NULL when out of memory. */
sfsim_store_t *sfsim_store_new (sfsim_schema_t **schema_p);

/*  Frees the store, its records and its schema. Accepts NULL. */
void sfsim_store_destroy (sfsim_store_t **self_p);

void sfsim_store_lock (sfsim_store_t *self);
void sfsim_store_unlock (sfsim_store_t *self);

/*  The current schema (borrowed; valid while the lock is held). */
const sfsim_schema_t *sfsim_store_schema (const sfsim_store_t *self);

/*  Replaces the schema (takes *schema_p) and rebuilds the unique indexes. Fails, keeping
    the old schema and freeing the new one, when existing records violate a new unique
    field; err says which. Returns 0 / -1. */
int sfsim_store_set_schema (sfsim_store_t *self, sfsim_schema_t **schema_p, char *err,
                            size_t err_cap);

/*  Writes one record of obj from `input` (a JSON object of field values; "attributes" is
    ignored; parents may be given by relationship name and external ID, e.g.
    "Account":{"CloudSuite_Key__c":"..."} or "What":{"attributes":{"type":"Account"},...}).
    UPSERT matches on ext_field = ext_value (ext_value NULL: the value inside input), and
    merges fields into an existing record; INSERT always creates (ext_field NULL). With
    lock_fault set, a valid record fails with UNABLE_TO_LOCK_ROW instead of being written.
    With undo non-NULL, the change is logged for sfsim_store_rollback. Fills res; returns 0
    when written, -1 when the record failed (res->error). */
int sfsim_store_write (sfsim_store_t *self, const sfsim_object_t *obj, sfsim_write_mode_t mode,
                       const sfsim_field_t *ext_field, const char *ext_value, const cJSON *input,
                       int lock_fault, sfsim_undo_t *undo, sfsim_result_t *res);

/*  Checks input's keys against obj before any record is written, as Salesforce rejects
    the whole request for an unknown column. Returns 0, or -1 with INVALID_FIELD
    "No such column 'X' on sobject of type Obj" in err. */
int sfsim_store_check_columns (const sfsim_object_t *obj, const cJSON *input, sfsim_error_t *err);

/*  The records of object `name` (any case) in insertion order: sets *records (borrowed,
    valid under the lock until the next write) and returns their number (0 when none). */
size_t sfsim_store_records (const sfsim_store_t *self, const char *name,
                            sfsim_record_t *const **records);

/*  The record of obj whose unique field `field` equals value, or NULL. */
const sfsim_record_t *sfsim_store_find (const sfsim_store_t *self, const sfsim_object_t *obj,
                                        const sfsim_field_t *field, const char *value);

/*  An undo log for all-or-none requests. */
sfsim_undo_t *sfsim_undo_new (void);

/*  Forgets the log (the writes stay). Accepts NULL. */
void sfsim_undo_destroy (sfsim_undo_t **self_p);

/*  Reverts every write logged in undo, newest first, and empties the log. */
void sfsim_store_rollback (sfsim_store_t *self, sfsim_undo_t *undo);

/*  Fills id (19 bytes) with the 18-character form of a 15-character Id. */
void sfsim_id_suffix (const char *id15, char *id18);

#endif
