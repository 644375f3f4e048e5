/*  sfsim_schema: the simulated org's objects and fields (loaded from JSON, patched at run
    time), the describe output, and the value checks Salesforce applies to one field
    (type, length, picklist), with Salesforce's status codes and messages.

    Schema JSON: {"objects":[{"name","label","labelPlural","keyPrefix","fields":[{"name",
    "type","length","required","externalId","unique","idLookup","values","restricted",
    "default","referenceTo","relationshipName"}]}]}. Every object also gets the system
    fields Id, CreatedDate, LastModifiedDate and SystemModstamp (read-only).

    sfsim_object_t and sfsim_field_t are read-only descriptors owned by the schema; they
    stay valid until the schema is destroyed. */
#ifndef SFSIM_SCHEMA_H
#define SFSIM_SCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sfsim_map.h"

typedef enum {
    SFSIM_T_ID,
    SFSIM_T_STRING,
    SFSIM_T_TEXTAREA,
    SFSIM_T_PICKLIST,
    SFSIM_T_MULTIPICKLIST,
    SFSIM_T_REFERENCE,
    SFSIM_T_DATE,
    SFSIM_T_DATETIME,
    SFSIM_T_CURRENCY,
    SFSIM_T_DOUBLE,
    SFSIM_T_PERCENT,
    SFSIM_T_INT,
    SFSIM_T_BOOLEAN,
    SFSIM_T_EMAIL,
    SFSIM_T_PHONE,
    SFSIM_T_URL
} sfsim_type_t;

typedef struct {
    char *name;          /* API name, e.g. "CloudSuite_Key__c" */
    char *label;         /* label for describe */
    sfsim_type_t type;   /* field type */
    int length;          /* max characters for text types, 0 otherwise */
    int required;        /* must be set on create, may not be set to null */
    int external_id;     /* usable as upsert key and in parent references */
    int unique;          /* values unique across the object's records */
    int id_lookup;       /* usable to identify a parent (Id, external IDs, Name...) */
    int restricted;      /* restricted picklist */
    int system;          /* Id and audit fields: not createable or updateable */
    char **values;       /* picklist values */
    int value_count;     /* their number */
    char *default_value; /* value set on create when absent, or NULL */
    char **reference_to; /* referenced object names (several: polymorphic) */
    int reference_count; /* their number */
    char *relationship;  /* relationship name ("Account", "What", "Account__r") */
} sfsim_field_t;

typedef struct {
    char *name;                   /* API name */
    char *label;                  /* label */
    char *label_plural;           /* plural label */
    char key_prefix[4];           /* Id prefix, e.g. "001" */
    int custom;                   /* name ends with __c */
    sfsim_field_t *fields;        /* fields, system fields first */
    int field_count;              /* their number */
    sfsim_map_t *by_name;         /* name (any case) -> field */
    sfsim_map_t *by_relationship; /* relationship name (any case) -> reference field */
} sfsim_object_t;

typedef struct sfsim_schema_t sfsim_schema_t;

/*  One Salesforce record error (statusCode, message, fields). */
typedef struct {
    char code[64];       /* statusCode / errorCode */
    char message[1400];  /* message */
    char fields[16][80]; /* field names */
    int field_count;     /* their number */
} sfsim_error_t;

/*  The compiled-in default schema text (config/salesforce-schema.json). */
extern const char sfsim_default_schema_json[];

/*  Builds a schema from JSON text. Returns NULL with a message naming the bad object or
    field in err. */
sfsim_schema_t *sfsim_schema_new (const char *json, char *err, size_t err_cap);

/*  Frees the schema. Accepts NULL. */
void sfsim_schema_destroy (sfsim_schema_t **self_p);

/*  A new schema: `self` with `patch` applied. A patch with "objects" replaces everything;
    otherwise it is {"Object":{"Field":{property:value,...}}} and changes (or adds) those
    fields, e.g. {"Account":{"Name":{"required":false}}}. Returns NULL with err on a bad
    patch. `self` is unchanged. */
sfsim_schema_t *sfsim_schema_patched (const sfsim_schema_t *self, const cJSON *patch, char *err,
                                      size_t err_cap);

/*  The object by name (case-insensitive) or NULL. */
const sfsim_object_t *sfsim_schema_object (const sfsim_schema_t *self, const char *name);

/*  Number of objects and the i-th (schema order). */
int sfsim_schema_object_count (const sfsim_schema_t *self);
const sfsim_object_t *sfsim_schema_object_at (const sfsim_schema_t *self, int i);

/*  The field by name (case-insensitive) or NULL. */
const sfsim_field_t *sfsim_object_field (const sfsim_object_t *obj, const char *name);

/*  The reference field whose relationship name is `rel` (case-insensitive), or NULL. */
const sfsim_field_t *sfsim_object_relationship (const sfsim_object_t *obj, const char *rel);

/*  The describe JSON of obj (caller deletes). version like "62.0" for the urls. */
cJSON *sfsim_object_describe (const sfsim_object_t *obj, const char *version);

/*  The Salesforce type name ("string", "reference", ...). */
const char *sfsim_type_name (sfsim_type_t type);

/*  Checks and normalizes one value for a write (not null; nulls are the caller's). On
    success returns a new cJSON value to store (strings trimmed of nothing, numbers as
    numbers, booleans as booleans). On failure returns NULL and fills err with
    Salesforce's code and message (STRING_TOO_LONG, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST,
    INVALID_TYPE_ON_FIELD_IN_RECORD, INVALID_EMAIL_ADDRESS). Reference fields are not
    resolved here. */
cJSON *sfsim_field_check (const sfsim_field_t *field, const cJSON *value, sfsim_error_t *err);

/*  Sets err to code/message with up to one field name (NULL for none). */
void sfsim_error_set (sfsim_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/*  Number of characters (UTF-8 code points) in s. */
size_t sfsim_utf8_chars (const char *s);

#endif
