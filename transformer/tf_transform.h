/*  tf_transform: apply a mapping to one envelope: pick the route, compute the external ID
    and every target field, and store the target (sObject, external-ID field and value,
    payload JSON) in the envelope. Pure apart from the optional union memory: no sockets,
    no files, so every rule is testable with a table of records.

    The payload is a JSON object of fields only (no "attributes"): the external-ID field
    first, then the mapped fields in mapping order; parent references are nested objects
    ("Account__r": {"CloudSuite_Key__c": "..."}). It is built with cJSON, so quotes,
    control characters and non-ASCII text are escaped correctly; a source value that is not
    valid UTF-8 is a rejection, never invalid JSON on the wire. */
#ifndef TF_TRANSFORM_H
#define TF_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "cm_envelope.h"
#include "tf_mapping.h"

#define TF_MAX_KEY        255 /* longest external-ID value (Salesforce text external ID) */
#define TF_DEFER_ATTEMPTS 3   /* deliveries a record waits for an unknown parent's type */

typedef enum {
    TF_OK,     /* target set in the envelope */
    TF_SKIP,   /* a skip route matched: send nothing */
    TF_REJECT, /* the mapping cannot produce the record: dead-letter it */
    TF_DEFER   /* a parent with "alternatives" whose sObject the memory does not know yet
                  (its record is still on its way): send and report nothing, so the
                  extractor's lease delivers the record again (attempt + 1); from attempt
                  TF_DEFER_ATTEMPTS on, the rule's own relationship is used instead */
} tf_status_t;

/*  Why a record was rejected, and which route was taken. */
typedef struct {
    char code[48];    /* MAPPING_REQUIRED_FIELD, MAPPING_TRANSFORM_FAILED, ... */
    char reason[512]; /* e.g. "field Name: required but empty (source Name)" */
    char field[96];   /* the target field concerned, "" when none */
    char route[96];   /* the route taken, "" for an entity without routes */
    bool retryable;   /* the failure is ours (out of memory), not the record's */
} tf_result_t;

/*  The transformer's memory, for the rules that need more than one record (see
    docs/mapping.md). Callbacks return 0 or -1 and give malloc'd strings (caller frees). A
    NULL memory (or NULL callback) turns the feature off: union fields send this record's
    values, match keys are ignored, parent types are not checked (nor deferred).
      merge_union  union of `value` (a ';' list) with every value sent before for the same
                   sObject, external ID and field; sorted, remembered
      match        the external ID owning match value `match` of sobject: the first record
                   to claim it owns it; a record of another entity gets the owner and is
                   remembered as its alias; a record of the same entity keeps own_key
      resolve      the external ID that key is an alias of, or NULL in *account
      remember     notes that ext_id was sent as sobject
      sobject_of   the sObject ext_id was last sent as, or NULL in *sobject
      commit       makes the writes of this record durable (called once at the end of
                   every record that reached the memory, before the record is sent on) */
typedef struct {
    int (*merge_union) (void *arg, const char *sobject, const char *ext_id, const char *field,
                        const char *value, char **merged);
    int (*match) (void *arg, const char *sobject, const char *match, const char *entity,
                  const char *own_key, char **account);
    int (*resolve) (void *arg, const char *sobject, const char *key, char **account);
    int (*remember) (void *arg, const char *ext_id, const char *sobject);
    int (*sobject_of) (void *arg, const char *ext_id, char **sobject);
    int (*commit) (void *arg);
    void *arg; /* passed to every callback */
} tf_memory_ops_t;

/*  Applies the mapping to env. On TF_OK the envelope's target is set
    (cm_envelope_set_target). On TF_SKIP, TF_REJECT and TF_DEFER the envelope is unchanged
    and result says why (TF_DEFER: code TRF_PARENT_PENDING). mem may be NULL (see tf_memory_ops_t).
 */
tf_status_t tf_transform_apply (const tf_mapping_t *mapping, cm_envelope_t *env,
                                const tf_memory_ops_t *mem, tf_result_t *result);

/*  Applies one transform step to a value (exposed for tests and --check-mapping). Returns
    a malloc'd result, or NULL with the reason in err. `field` supplies the lookup table
    for TF_OP_LOOKUP and may be NULL otherwise. */
char *tf_transform_op (const tf_op_t *op, const tf_field_t *field, const char *value, char *err,
                       size_t err_cap);

#endif
