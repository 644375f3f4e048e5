/*  sfsim_soql: the SOQL subset the simulator answers, enough for tests and tools:

      SELECT f1, f2, ... | COUNT() FROM Object
        [WHERE cond [AND cond ...]]  cond: field op literal, op one of = != <> < > <= >=
                                     LIKE, or field IN ('a', 'b'); literals: 'text'
                                     (backslash escapes), numbers, true, false, null,
                                     unquoted dates (2025-01-31)
        [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

    String comparisons are case-insensitive, as in SOQL. No OR, no relationship paths, no
    aggregates other than COUNT(); all rows come in one response (done is always true). */
#ifndef SFSIM_SOQL_H
#define SFSIM_SOQL_H

#include <cjson/cJSON.h>

#include "sfsim_schema.h"
#include "sfsim_store.h"

typedef struct sfsim_soql_t sfsim_soql_t;

#define SFSIM_SOQL_MAX_LEN 100000 /* longer queries are refused (Salesforce's limit) */

/*  Parses a query. Returns NULL with MALFORMED_QUERY in err. */
sfsim_soql_t *sfsim_soql_parse (const char *text, sfsim_error_t *err);

/*  Frees a query. Accepts NULL. */
void sfsim_soql_destroy (sfsim_soql_t **self_p);

/*  Runs the query against the store (lock held) and returns the REST response
    {"totalSize","done","records":[{"attributes":{"type","url"},...}]} (caller deletes), or
    NULL with INVALID_TYPE (unknown object) / INVALID_FIELD (unknown field) in err.
    version ("62.0") goes into the record urls. */
cJSON *sfsim_soql_run (const sfsim_soql_t *self, const sfsim_store_t *store, const char *version,
                       sfsim_error_t *err);

#endif
