/*  tf_records: CloudSuite records given as JSON, turned into envelopes as the extractor
    would send them. For the operator's dry run (mlc-transformer --map-records), the golden
    tests and the benchmark; the running pipeline never reads files of records.

    The input is what IDO LoadCollection answers: the whole response
    ({"Items": [...], ...}) or just the array of Items. Every item is an object whose
    values are strings (null counts as ""; numbers and booleans are taken as their JSON
    text, as a hand-written file may have them). "_ItemId" is ignored. The envelope key is
    the key properties joined with '/' (docs/architecture.md), e.g. "C000042/0". */
#ifndef TF_RECORDS_H
#define TF_RECORDS_H

#include <stddef.h>

#include "cm_envelope.h"

#define TF_RECORDS_MAX_BYTES (512L * 1024 * 1024) /* largest records file */
#define TF_RECORDS_MAX_COUNT 10000000             /* most records in one file */

typedef struct tf_records_t tf_records_t;

/*  Reads the records file at path for entity of tenant; key_props is the comma list of
    key properties (cloudsuite.<entity>.key). Returns the records, or NULL with a message
    naming the file, the record index and the problem in err. */
tf_records_t *tf_records_load (const char *path, const char *tenant, const char *entity,
                               const char *key_props, char *err, size_t err_cap);

/*  Same from JSON text of len bytes; origin names it in messages. */
tf_records_t *tf_records_parse (const char *text, size_t len, const char *origin,
                                const char *tenant, const char *entity, const char *key_props,
                                char *err, size_t err_cap);

/*  Frees the records and their envelopes; sets *self_p to NULL. Accepts NULL. */
void tf_records_destroy (tf_records_t **self_p);

/*  Number of records. */
size_t tf_records_count (const tf_records_t *self);

/*  The i-th record (file order). Borrowed: the caller may set its target but must not
    free it. */
cm_envelope_t *tf_records_at (tf_records_t *self, size_t index);

#endif
