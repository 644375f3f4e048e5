/*  ld_ping: `mlc-loader ping`, the operator's check of the Salesforce side before a single
    record is sent. For every org the loader would use: a token (client credentials),
    GET /limits (the daily API allowance left), and GET /sobjects/{Object}/describe for
    every target object of the mapping file, naming each field, external ID or parent
    relationship the mapping needs that the org lacks or does not let the loader write.

    The mapping is read here from its JSON (the loader does not link the transformer):
    for each entity and route, "sobject", "external_id_field" and the "to" of every field
    rule; a rule with "parent" names a relationship whose parent object and external-ID
    field are checked too. Routes with "skip" have no target. The file is bounded
    (LD_PING_MAX_MAPPING); anything unexpected in it is an error naming the place.

    The parsers and the describe check are pure functions, tested without HTTP. */
#ifndef LD_PING_H
#define LD_PING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ld_orgs.h"

#define LD_PING_MAX_MAPPING  (1024 * 1024) /* mapping file size */
#define LD_PING_MAX_DESCRIBE (16u << 20)   /* a describe answer larger than this is refused */

/*  What the mapping needs of one object. */
typedef struct {
    char *sobject;      /* target object */
    char *ext_field;    /* its external-ID field, or NULL when only a parent */
    char **fields;      /* plain fields written */
    size_t field_count; /* their number */
    char **rels;        /* relationship names written (parent references) */
    char **rel_parents; /* the parent object of each relationship */
    char **rel_keys;    /* the parent's external-ID field of each relationship */
    size_t rel_count;   /* their number */
} ld_need_t;

typedef struct ld_needs_t ld_needs_t;

/*  Reads a mapping file's text (len bytes; origin names it in messages). Returns the needs
    per object (objects in first-seen order; a parent object that is no target appears
    with only its external-ID field), or NULL with the reason in err. */
ld_needs_t *ld_needs_parse (const char *text, size_t len, const char *origin, char *err,
                            size_t err_cap);

/*  Reads the mapping file at path. NULL with the reason in err. */
ld_needs_t *ld_needs_load (const char *path, char *err, size_t err_cap);

/*  Frees the needs; sets *self_p to NULL. Accepts NULL. */
void ld_needs_destroy (ld_needs_t **self_p);

/*  Number of objects, and the i-th one's needs (borrowed). */
size_t ld_needs_count (const ld_needs_t *self);
const ld_need_t *ld_needs_at (const ld_needs_t *self, size_t index);

/*  Called once per problem found: a one-line text naming the object and the field. */
typedef void (ld_problem_fn) (void *arg, const char *problem);

/*  Checks one object's describe answer (JSON text) against what the mapping needs of it.
    A parent reference needs a lookup field with that relationshipName whose referenceTo
    holds the parent object (the parent's external-ID field is checked with the parent's
    own needs). Field names compare case-insensitively, as Salesforce's do. Reports each
    problem through fn. Returns the number of problems; a describe that is not one counts
    as one problem. */
long ld_ping_check (const ld_need_t *need, const char *describe, size_t len, ld_problem_fn *fn,
                    void *fn_arg);

/*  Runs the whole ping against every org of orgs with the mapping needs, writing a report
    to out. Returns 0 when every org answered and lacks nothing, 1 otherwise. */
int ld_ping_run (ld_orgs_t *orgs, const ld_needs_t *needs, FILE *out);

#endif
