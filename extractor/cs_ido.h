/*  cs_ido: a client for CloudSuite Industrial (CSI/SyteLine) Mongoose IDO REST v2
    LoadCollection through the ION API gateway.

    Three parts a test can use separately: building the LoadCollection URL, parsing a v2
    response into a page of items (every value a string), and the request itself (GET with
    the current bearer token and X-Infor-MongooseConfig, retries of transport errors, 429
    and 5xx, one token renewal after a 401). */
#ifndef CS_IDO_H
#define CS_IDO_H

#include <stdbool.h>
#include <stddef.h>

#include "cm_http.h"
#include "cs_auth.h"

#define CS_IDO_MAX_ITEMS 100000 /* a page with more items is refused */
#define CS_IDO_MAX_PROPS 512    /* an item with more properties is refused */

/*  One LoadCollection request. Strings are borrowed; NULL/0 leaves a parameter out. */
typedef struct {
    const char *ido;        /* IDO name, e.g. "SLVendors" (case-sensitive) */
    const char *properties; /* comma list, or "*" */
    const char *filter;     /* SQL WHERE text, or NULL */
    const char *orderby;    /* comma list, or NULL */
    int recordcap;          /* rows per page; 0 leaves it out */
    const char *bookmark;   /* bookmark of the previous page, or NULL for the first */
} cs_ido_query_t;

typedef struct cs_ido_page_t cs_ido_page_t;
typedef struct cs_ido_t cs_ido_t;

/*  Builds {api_base}/CSI/IDORequestService/ido/load/{ido}?properties=..&filter=..
    &orderby=..&recordcap=N[&loadtype=NEXT&bookmark=..] with every query value encoded.
    Returns a malloc'd URL (caller frees), or NULL when ido is empty or out of memory. */
char *cs_ido_load_url (const char *api_base, const cs_ido_query_t *query);

/*  Parses a LoadCollection response body (untrusted). Returns the page, or NULL with a
    specific reason and a short excerpt of the body in err: not JSON or truncated, the v1
    shape, "Success": false with its Message, missing Items, too many items. Numbers are
    converted to text, null to "", booleans to "1"/"0"; nested values to compact JSON. */
cs_ido_page_t *cs_ido_parse (const char *body, size_t len, char *err, size_t err_cap);

/*  Frees the page and sets *self_p to NULL. Accepts NULL. */
void cs_ido_page_destroy (cs_ido_page_t **self_p);

/*  Number of items in the page. */
size_t cs_ido_page_size (const cs_ido_page_t *self);

/*  The value of property `name` in item i, or NULL when the item lacks it. Borrowed. */
const char *cs_ido_page_get (const cs_ido_page_t *self, size_t i, const char *name);

/*  cs_ido_page_get for properties asked in the order the answer holds them: looks at
    property *next of the item first, then at all of them, and sets *next past the one
    found. Start each item with *next = 0: asking for an IDO's properties in the order the
    request listed them costs one comparison each, not a scan. Same result as _get. */
const char *cs_ido_page_get_next (const cs_ido_page_t *self, size_t i, const char *name,
                                  size_t *next);

/*  Number of properties of item i, and the name/value of property j. Borrowed. */
size_t cs_ido_page_prop_count (const cs_ido_page_t *self, size_t i);
const char *cs_ido_page_prop_name (const cs_ido_page_t *self, size_t i, size_t j);
const char *cs_ido_page_prop_value (const cs_ido_page_t *self, size_t i, size_t j);

/*  The page's Bookmark (NULL when absent or null) and MoreRowsExist. */
const char *cs_ido_page_bookmark (const cs_ido_page_t *self);
bool cs_ido_page_more (const cs_ido_page_t *self);

/*  Creates a client for one tenant. Borrows http, auth and policy; copies the strings. */
cs_ido_t *cs_ido_new (const char *api_base, const char *mongoose_config, cm_http_t *http,
                      cs_auth_t *auth, const cm_retry_policy_t *policy);

/*  Frees the client; sets *self_p to NULL. Accepts NULL. */
void cs_ido_destroy (cs_ido_t **self_p);

/*  Loads one page: GET the LoadCollection URL with the current token, retrying retryable
    failures per the policy; on a 401 the token is invalidated and renewed and the call is
    retried once. Returns 0 with the page in *page (caller destroys), or -1 with a message
    (HTTP status, excerpt of the body, never the token) in err. */
int cs_ido_load (cs_ido_t *self, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                 size_t err_cap);

/*  IDO requests sent so far (every HTTP attempt of cs_ido_load). Any thread. */
uint64_t cs_ido_requests (const cs_ido_t *self);

/*  Same as cs_ido_load with a void * client, so it can be used as a page loader callback. */
int cs_ido_load_fn (void *self, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                    size_t err_cap);

#endif
