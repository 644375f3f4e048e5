/*  cm_envelope: one record in flight between the processes, encoded as msgpack.

    A plain value type: every string is owned by the envelope and freed by
    cm_envelope_destroy. The extractor fills the identity and the source record; the
    transformer adds the target (sObject, external ID, payload JSON); the loader reads it.
    Callers read the members and may change the scalars (attempt, sent_at_ms, ...); strings
    and fields change only through the functions below (a decoded envelope keeps them in
    one allocation, see cm_envelope_decode).

    Wire format: a msgpack map with string keys
      v        uint   format version (CM_ENVELOPE_VERSION)
      id       str    32 hex chars, unique per emission
      tenant   str    connection / tenant id, e.g. "ACME_PRD"
      entity   str    "vendor", "customer", "invoice", "po"
      key      str    the source record key, e.g. "V000123" or "C000042/0"
      hash     str    32 hex chars, content hash of the source fields
      attempt  uint   delivery attempt, 1 on first emission
      ts_ex    int    ms epoch the record was extracted
      ts       int    ms epoch of this hop
      src      map    source record: str -> str (IDO values are all strings)
      sobject  str    target sObject (absent before the transformer)
      extf     str    target external-ID field name
      extid    str    target external-ID value
      payload  str    target record as JSON object text (fields only, no attributes)
    Unknown keys are ignored (forward compatibility); wrong types, missing required keys,
    oversized input and trailing bytes are errors. */
#ifndef CM_ENVELOPE_H
#define CM_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define CM_ENVELOPE_VERSION    1
#define CM_ENVELOPE_MAX_BYTES  (1024 * 1024) /* an encoded envelope is never larger */
#define CM_ENVELOPE_MAX_FIELDS 512
#define CM_ENVELOPE_MAX_STR    (256 * 1024) /* no single string value is longer */

typedef struct {
    char *name;  /* property name, e.g. "VendNum" */
    char *value; /* property value, never NULL ("" for empty) */
} cm_field_t;

typedef struct {
    uint32_t version;        /* CM_ENVELOPE_VERSION */
    char id[33];             /* unique emission id, hex */
    char *tenant;            /* tenant / connection id */
    char *entity;            /* logical entity name */
    char *key;               /* source record key */
    char hash[33];           /* content hash of src, hex; "" until computed */
    uint32_t attempt;        /* 1 on first emission */
    int64_t extracted_at_ms; /* when the extractor read it */
    int64_t sent_at_ms;      /* when this hop sent it */
    cm_field_t *fields;      /* source record */
    size_t field_count;      /* number of fields */
    size_t field_cap;        /* allocated slots */
    char *sobject;           /* target sObject or NULL */
    char *ext_id_field;      /* target external-ID field or NULL */
    char *ext_id;            /* target external-ID value or NULL */
    char *payload;           /* target JSON object text or NULL */
    size_t arena_size;       /* internal: bytes of the one allocation cm_envelope_decode made,
                                starting at the envelope itself and holding its fields and
                                strings (0 for cm_envelope_new); never touch */
} cm_envelope_t;

/*  Creates an envelope with a fresh id, attempt 1 and timestamps now. Copies the strings.
    Returns NULL on allocation failure. */
cm_envelope_t *cm_envelope_new (const char *tenant, const char *entity, const char *key);

/*  Frees the envelope and its strings; sets *self_p to NULL. Accepts NULL. */
void cm_envelope_destroy (cm_envelope_t **self_p);

/*  Appends a source field (copies both strings; NULL value is stored as "").
    Returns 0, or -1 when over CM_ENVELOPE_MAX_FIELDS or out of memory. */
int cm_envelope_add_field (cm_envelope_t *self, const char *name, const char *value);

/*  The value of a source field, or NULL if absent. Borrowed. */
const char *cm_envelope_field (const cm_envelope_t *self, const char *name);

/*  Computes self->hash over the source fields (sorted by name, so property order does not
    matter), with BLAKE2b-128. */
void cm_envelope_compute_hash (cm_envelope_t *self);

/*  Sets the target (copies the strings, replacing any previous target). Returns 0 or -1. */
int cm_envelope_set_target (cm_envelope_t *self, const char *sobject, const char *ext_id_field,
                            const char *ext_id, const char *payload);

/*  Encodes to msgpack. On success returns 0 and a malloc'd buffer in *data (caller frees)
    with its size; -1 when the result would exceed CM_ENVELOPE_MAX_BYTES. */
int cm_envelope_encode (const cm_envelope_t *self, char **data, size_t *size);

/*  Decodes untrusted bytes. Returns a new envelope, or NULL with a specific reason in err
    (e.g. "field 'tenant': expected str, got int"). Never crashes on any input.
    The envelope, its fields array and all its strings are one allocation (sized from the
    input: never more than the envelope, the fields and size bytes), freed by
    cm_envelope_destroy; cm_envelope_add_field and cm_envelope_set_target still work on it
    (they allocate what they add). */
cm_envelope_t *cm_envelope_decode (const void *data, size_t size, char *err, size_t err_cap);

/*  As cm_envelope_decode, but leaves the source record out: src must still be present and
    a map of at most CM_ENVELOPE_MAX_FIELDS entries (and the whole input well-formed), but
    its entries are neither checked nor copied, and the envelope has field_count 0. For a
    consumer that never reads the source fields and forwards the original bytes rather than
    re-encoding (the loader): re-encoding a lean envelope would drop src, and its
    cm_envelope_field answers NULL. */
cm_envelope_t *cm_envelope_decode_lean (const void *data, size_t size, char *err, size_t err_cap);

#endif
