/*  sf_collections: the sObject Collections upsert (PATCH
    /services/data/vXX.X/composite/sobjects/{SObject}/{ExtIdField}), as pure functions:
    build the request body from the transformer's payloads, parse the per-record results,
    classify record errors as retryable or permanent. No HTTP here (sf_org does the call),
    so the unit tests feed real-shaped bodies directly.

    Body: {"allOrNone":false,"records":[{"attributes":{"type":"Account"},<payload fields>}]}.
    Each payload is a JSON object text holding the fields, the external-ID field included;
    it is spliced after {"attributes":{...}, rather than re-serialised. allOrNone is false so
    one bad record never fails its batch-mates. */
#ifndef SF_COLLECTIONS_H
#define SF_COLLECTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "cm_event.h"
#include "sf_org.h"

#define SF_COLLECTIONS_MAX         200    /* records per call (Salesforce's limit) */
#define SF_COLLECTIONS_MAX_PAYLOAD 131072 /* a payload longer than this is refused */

/*  The outcome of one record of a call. */
typedef struct {
    bool success;         /* upserted */
    bool created;         /* success: created (true) or updated (false) */
    char id[32];          /* success: Salesforce Id (15 or 18 chars) */
    cm_error_class_t cls; /* failure: retryable or permanent */
    char code[64];        /* failure: statusCode of the first error */
    char message[512];    /* failure: its message, capped */
    char fields[256];     /* failure: its fields, comma-separated, capped */
} sf_record_result_t;

/*  True when name is a usable sObject or field API name (letters, digits, '_', at most 80
    chars, starting with a letter): it goes into the URL and the body unescaped. */
bool sf_collections_name_ok (const char *name);

/*  Checks one payload: a JSON object (first non-space char '{', well-formed, at most
    SF_COLLECTIONS_MAX_PAYLOAD bytes) without its own "attributes". Returns 0, or -1 with
    the reason in err. */
int sf_collections_payload_check (const char *payload, char *err, size_t err_cap);

/*  Like sf_collections_payload_check (one pass, no tree, no allocation but parent's), and
    when parent is not NULL also finds the payload's first parent reference: the first member
    whose value is an object holding a string member other than "attributes", e.g.
    "Account":{"CloudSuite_Key__c":"X"}. Sets *parent to a malloc'd "Account\x1fX" (the
    name and value as written, escapes kept; the caller frees) or NULL when there is none
    (or no memory). Returns 0, or -1 with the reason in err (*parent NULL). */
int sf_collections_payload_scan (const char *payload, char **parent, char *err, size_t err_cap);

/*  Builds the upsert body for n (1..SF_COLLECTIONS_MAX) payloads of sobject. Returns 0 with
    a malloc'd NUL-terminated body (caller frees) and its length, or -1 with the reason in
    err (bad sObject name, a payload that fails sf_collections_payload_check, bad n). */
int sf_collections_build (const char *sobject, const char *const *payloads, size_t n, char **body,
                          size_t *body_len, char *err, size_t err_cap);

/*  Like sf_collections_build for payloads that already passed sf_collections_payload_check
    (the loader checks each on arrival): they are spliced without a second check. */
int sf_collections_build_checked (const char *sobject, const char *const *payloads, size_t n,
                                  char **body, size_t *body_len, char *err, size_t err_cap);

/*  The path of the call under /services/data/vXX.X into out: "/composite/sobjects/S/F".
    Returns 0, or -1 for a bad name or small buffer. */
int sf_collections_path (const char *sobject, const char *ext_id_field, char *out, size_t cap);

/*  Reads the answer to a call of n records. A 2xx answer must be a JSON array of exactly n
    results in request order: returns SF_CALL_OK with results[0..n-1] filled; a count
    mismatch or malformed JSON is SF_CALL_RETRY for the whole batch (upsert by external ID
    is safe to repeat). Any other status is classified by sf_call_classify (400/404 error
    array: PERMANENT; 401: REAUTH; 403 REQUEST_LIMIT_EXCEEDED: PAUSED for TotalRequests,
    RETRY for ConcurrentRequests; 429/5xx: RETRY). err is filled when not OK. */
sf_call_result_t sf_collections_parse (long status, const char *body, size_t body_len, size_t n,
                                       sf_record_result_t *results, sf_error_t *err);

/*  Classifies a record error: retryable for UNABLE_TO_LOCK_ROW, an INVALID_FIELD whose
    message says "Foreign key external ID" (the parent is not there yet),
    ALL_OR_NONE_OPERATION_ROLLED_BACK, UNKNOWN_EXCEPTION and SERVER_UNAVAILABLE; permanent
    for everything else (REQUIRED_FIELD_MISSING, STRING_TOO_LONG, DUPLICATES_DETECTED,
    DUPLICATE_VALUE, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, ...). */
cm_error_class_t sf_collections_classify (const char *code, const char *message);

/*  True when id looks like a Salesforce record Id: 15 or 18 letters and digits. */
bool sf_id_is_valid (const char *id);

#endif
