/*  tf_mapping: the declarative mapping from CloudSuite records to Salesforce records,
    loaded from a JSON file (docs/mapping.md) and validated completely before use.

    A mapping holds one entity per source entity ("vendor", "customer", ...). An entity is a
    list of routes tried in order; the first route whose condition holds produces the target
    record (or skips the source record). An entity written without "routes" is one route
    that always applies. A route names the target sObject, the external-ID field, the key
    template and an ordered list of field rules.

    The compiled structures below are read-only plain data for tf_transform; the mapping
    object owns all of them. Every size is bounded (TF_MAX_*); a file over a bound is an
    error naming the entity, route and field. */
#ifndef TF_MAPPING_H
#define TF_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#define TF_MAX_FILE_BYTES   (1024 * 1024) /* mapping file size */
#define TF_MAX_ENTITIES     32
#define TF_MAX_ROUTES       16     /* per entity */
#define TF_MAX_FIELDS       200    /* per route */
#define TF_MAX_OPS          16     /* transforms per field */
#define TF_MAX_LOOKUP       1000   /* entries per lookup table */
#define TF_MAX_TEMPLATE     4096   /* template text length */
#define TF_MAX_PLACEHOLDERS 64     /* per template */
#define TF_MAX_NAME         80     /* entity, field, property, sObject names */
#define TF_MAX_TEXT         32768  /* const, default, lookup value length */
#define TF_MAX_COND_DEPTH   8      /* nesting of all/any/not */
#define TF_MAX_COND_ITEMS   64     /* items of all/any/in */
#define TF_MAX_TRUNCATE     131072 /* largest truncate:N */
#define TF_MAX_DECIMALS     8      /* largest number:D */
#define TF_MAX_PARENT_ALTS  4      /* "alternatives" of one parent reference */

/*  Kind of a value in the target JSON. */
typedef enum { TF_KIND_STRING, TF_KIND_NUMBER, TF_KIND_BOOL } tf_kind_t;

/*  One transform step. */
typedef enum {
    TF_OP_TRIM,       /* strip leading and trailing white space */
    TF_OP_UPPER,      /* ASCII upper case */
    TF_OP_LOWER,      /* ASCII lower case */
    TF_OP_TITLE,      /* ASCII title case: "NORTHWIND METALS" -> "Northwind Metals" */
    TF_OP_TRUNCATE,   /* at most arg characters (UTF-8 aware) */
    TF_OP_NUMBER,     /* decimal number; arg = decimals to round to, -1 = as is */
    TF_OP_DATE,       /* any supported date text -> YYYY-MM-DD; arg = input order */
    TF_OP_DATETIME,   /* SQL datetime -> ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS.fffZ" */
    TF_OP_BOOLEAN,    /* 1/0, Y/N, T/F, true/false, yes/no -> JSON boolean */
    TF_OP_FIRST_NAME, /* all words but the last */
    TF_OP_LAST_NAME,  /* the last word */
    TF_OP_NORMALIZE,  /* match form: ASCII upper case, runs of anything but letters and
                         digits become one space, trimmed ("Acme, Inc." -> "ACME INC") */
    TF_OP_LOOKUP      /* the field's lookup table */
} tf_op_kind_t;

/*  Input orders of TF_OP_DATE for day/month/year text like "01/02/2026". */
enum { TF_DATE_ISO = 0, TF_DATE_DMY = 1, TF_DATE_MDY = 2 };

typedef struct {
    tf_op_kind_t kind; /* which transform */
    int arg;           /* truncate length, number decimals, date input order */
} tf_op_t;

/*  A template: literal text and {Property} or {Property|transform|...} placeholders. */
typedef struct {
    bool is_field;   /* placeholder (true) or literal text (false) */
    char *text;      /* the literal, or the property name */
    tf_op_t *ops;    /* placeholder transforms, in order */
    size_t op_count; /* number of transforms */
} tf_tpart_t;

typedef struct {
    tf_tpart_t *parts; /* in order */
    size_t count;      /* number of parts */
    char *source;      /* the template text as written, for messages */
} tf_template_t;

/*  A routing condition on source fields. */
typedef enum {
    TF_COND_EQ,
    TF_COND_NE,
    TF_COND_IN,
    TF_COND_EMPTY,
    TF_COND_GT,
    TF_COND_GE,
    TF_COND_LT,
    TF_COND_LE,
    TF_COND_ALL,
    TF_COND_ANY,
    TF_COND_NOT
} tf_cond_kind_t;

typedef struct tf_cond_t tf_cond_t;
struct tf_cond_t {
    tf_cond_kind_t kind; /* which test */
    char *field;         /* source property (comparisons) */
    char **values;       /* eq/ne: one value; in: the list */
    size_t value_count;  /* number of values */
    double number;       /* gt/ge/lt/le operand */
    bool flag;           /* empty: true tests empty, false tests non-empty */
    tf_cond_t *kids;     /* all/any: items; not: one item */
    size_t kid_count;    /* number of kids */
};

/*  Where a field's value comes from. */
typedef enum {
    TF_SRC_FROM,     /* a source property */
    TF_SRC_TEMPLATE, /* a template over source properties */
    TF_SRC_CONST,    /* a constant */
    TF_SRC_PARENT,   /* a parent reference by external ID */
    TF_SRC_TARGET    /* the final value of an earlier target field (after any union) */
} tf_src_t;

/*  Another sObject a parent may have been sent as, and the relationship that then holds
    the reference (e.g. an invoice's customer sent as a Contact: Contact__r). */
typedef struct {
    char *sobject; /* the sObject the parent was sent as */
    char *to;      /* relationship name written instead of the field's `to` */
    char *field;   /* the parent's external-ID field */
    bool typed;    /* add "attributes":{"type":...} (polymorphic) */
} tf_parent_alt_t;

/*  What a lookup does with a value that has no entry. */
typedef enum { TF_MISS_REJECT, TF_MISS_KEEP, TF_MISS_EMPTY } tf_miss_t;

typedef struct {
    char *to;                     /* target field (or relationship name for TF_SRC_PARENT) */
    tf_src_t src;                 /* value source */
    char *from;                   /* TF_SRC_FROM: source property; TF_SRC_TARGET: target field */
    tf_template_t tmpl;           /* TF_SRC_TEMPLATE: value; TF_SRC_PARENT: parent key */
    char *const_text;             /* TF_SRC_CONST: the value as text */
    tf_kind_t const_kind;         /* TF_SRC_CONST: its JSON kind */
    tf_op_t *ops;                 /* transforms, in order */
    size_t op_count;              /* number of transforms */
    char **lookup_keys;           /* lookup table keys */
    char **lookup_values;         /* lookup table values */
    size_t lookup_count;          /* number of entries */
    tf_miss_t lookup_miss;        /* what a miss does */
    char *default_text;           /* used when the value is empty, or NULL */
    bool required;                /* empty after everything: reject */
    bool omit_empty;              /* empty: leave the field out (true) or send null (false) */
    bool merge_union;             /* multi-picklist: union with the values sent before */
    tf_kind_t kind;               /* JSON kind of the result */
    char *parent_sobject;         /* TF_SRC_PARENT: parent sObject */
    char *parent_field;           /* TF_SRC_PARENT: parent's external-ID field */
    bool parent_typed;            /* TF_SRC_PARENT: add "attributes":{"type":...} (polymorphic) */
    bool parent_may_be_alias;     /* TF_SRC_PARENT: some route with a match key targets the
                                     parent sObject, so the parent key may be an alias */
    tf_parent_alt_t *parent_alts; /* TF_SRC_PARENT: other sObjects the parent may have been
                                     sent as (tf_memory knows), each with its relationship */
    size_t parent_alt_count;      /* number of them */
} tf_field_t;

typedef struct {
    char *name;              /* route name, "" for an entity without routes */
    tf_cond_t *when;         /* NULL: always */
    bool skip;               /* the record is not sent anywhere */
    char *sobject;           /* target sObject */
    char *ext_field;         /* external-ID field */
    tf_template_t key;       /* external-ID value */
    tf_template_t match_key; /* shared-Account match value (tf_memory); count 0: none */
    tf_field_t *fields;      /* field rules, in output order */
    size_t field_count;      /* number of rules */
    bool may_be_alias;       /* some route with a match key targets this sObject, so the
                                record's key may be an alias (tf_memory resolve) */
    bool may_be_parent;      /* the key has the shape of a parent reference's key, so
                                the memory remembers the record's sObject (the parent type
                                check); e.g. {tenant}:customer:{CustNum} */
} tf_route_t;

typedef struct {
    char *name;         /* source entity: "vendor", "customer", ... */
    tf_route_t *routes; /* tried in order */
    size_t route_count; /* number of routes */
} tf_entity_t;

typedef struct tf_mapping_t tf_mapping_t;

/*  Loads and validates a mapping file. Returns the mapping, or NULL with one message in
    err naming the file, entity, route, field and problem, e.g.
    "mapping.json: entity 'vendor', field 'Name': unknown transform 'trimm'". */
tf_mapping_t *tf_mapping_load (const char *path, char *err, size_t err_cap);

/*  Same from JSON text (len bytes); `origin` names it in messages. */
tf_mapping_t *tf_mapping_parse (const char *text, size_t len, const char *origin, char *err,
                                size_t err_cap);

/*  Frees the mapping; sets *self_p to NULL. Accepts NULL. */
void tf_mapping_destroy (tf_mapping_t **self_p);

/*  The entity named `name`, or NULL. Borrowed. */
const tf_entity_t *tf_mapping_entity (const tf_mapping_t *self, const char *name);

/*  Number of entities and the i-th one (file order). Borrowed. */
size_t tf_mapping_entity_count (const tf_mapping_t *self);
const tf_entity_t *tf_mapping_entity_at (const tf_mapping_t *self, size_t index);

/*  True when some field uses "merge": "union" (the transformer then needs its memory). */
bool tf_mapping_uses_union (const tf_mapping_t *self);

/*  True when some field uses "merge": "union" or some route a match key: the transformer
    then opens its memory (tf_memory). */
bool tf_mapping_uses_memory (const tf_mapping_t *self);

/*  The source properties an entity refers to (from, templates, keys, conditions), as a
    malloc'd comma list without duplicates (caller frees), or NULL when entity is unknown. */
char *tf_mapping_properties (const tf_mapping_t *self, const char *entity);

/*  Name of a transform step as written in the file ("truncate", "number", ...). */
const char *tf_op_name (tf_op_kind_t kind);

#endif
