/*  sf_org: one Salesforce org as the loader sees it: its token (sf_auth), its HTTP client,
    its API usage (Sforce-Limit-Info) and whether it is paused.

    sf_org_call makes one authenticated REST call under /services/data/vXX.X: the
    Authorization header is built from the current token for every call, a 401
    INVALID_SESSION_ID renews the token and repeats the call once, every response's
    Sforce-Limit-Info is recorded, and the outcome is classified for the caller:
    read the body, retry later, wait for a paused or stopped org, or give up.

    The classification of a non-2xx response (sf_call_classify) and the Sforce-Limit-Info
    parser are pure functions, so their unit tests need no HTTP. One loader serves many
    orgs by holding one sf_org_t per org.

    Limits: every response's api-usage is compared with the daily allowance. At or above
    slowdown_pct percent the org is "slowed": calls are spaced slowdown_ms apart (and the
    loader sends one at a time). At or above pause_pct percent, or on a TotalRequests
    refusal, the org is paused for pause_ms: calls return SF_CALL_PAUSED without a
    request. The first call after a pause measures the usage again.

    Thread safety: an org may be shared by several threads when each passes its own
    cm_http_t to sf_org_request (the token is fetched once, under the org's lock, and the
    counters are locked). sf_org_call uses the org's own client: one thread at a time. */
#ifndef SF_ORG_H
#define SF_ORG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_http.h"
#include "sf_auth.h"

#define SF_ORG_PAUSE_MS (15 * 60 * 1000) /* default pause after a TotalRequests refusal */

typedef struct sf_org_t sf_org_t;

typedef enum {
    SF_CALL_OK,       /* a 2xx response: the caller reads the body */
    SF_CALL_RETRY,    /* retryable: transport error, timeout, 408/420/429/5xx,
                         ConcurrentRequests, a malformed success body */
    SF_CALL_REAUTH,   /* 401: the token is invalid (sf_org_call renews and repeats) */
    SF_CALL_PAUSED,   /* the org's daily allowance is spent (TotalRequests): wait */
    SF_CALL_STOPPED,  /* no token (credentials refused, or the token endpoint down):
                         wait until sf_org_blocked_until_ms, do not count attempts */
    SF_CALL_PERMANENT /* the request itself is wrong (400, 404, 403 other than limits) */
} sf_call_result_t;

/*  A call-level error: what Salesforce (or the transport) said. */
typedef struct {
    int http_status;    /* 0 when no response */
    char code[64];      /* errorCode, e.g. "REQUEST_LIMIT_EXCEEDED", or a local code */
    char message[512];  /* the message, capped */
    long retry_after_s; /* Retry-After in seconds, -1 when absent */
} sf_error_t;

/*  The settings of one org. Strings are copied by sf_org_new. */
typedef struct {
    const char *name;          /* for logs, e.g. the connection or tenant id */
    const char *url;           /* My Domain URL */
    const char *client_id;     /* connected app consumer key */
    const char *client_secret; /* consumer secret */
    const char *api_version;   /* "62.0" */
    bool allow_http;           /* plain http to loopback (simulators) */
    int64_t session_ttl_s;     /* token lifetime */
    int64_t token_margin_s;    /* renew this long before it ends */
    long timeout_ms;           /* per request */
    size_t max_body;           /* response cap */
    int64_t pause_ms;          /* pause after a refusal or above pause_pct; 0: SF_ORG_PAUSE_MS */
    int slowdown_pct;          /* share of the allowance (percent) that slows calls; 0: never */
    int pause_pct;             /* share of the allowance (percent) that pauses; 0: never */
    int64_t slowdown_ms;       /* spacing of calls while slowed */
} sf_org_config_t;

/*  One request under /services/data/vXX.X. */
typedef struct {
    const char *method;       /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *path;         /* starts with '/', e.g. "/limits" */
    const char *body;         /* request body or NULL */
    size_t body_len;          /* its length */
    const char *content_type; /* NULL: application/json */
    const char *accept;       /* NULL: application/json */
} sf_request_t;

/*  What the org has done so far: counters for logs and metrics. */
typedef struct {
    uint64_t api_calls;       /* REST calls made (token requests excluded) */
    uint64_t token_requests;  /* logins */
    uint64_t reauths;         /* tokens renewed after a 401 */
    uint64_t limit_refusals;  /* TotalRequests refusals */
    uint64_t pauses;          /* times the org was paused (refusal or pause_pct) */
    uint64_t slowdowns;       /* times the org entered the slowed state */
    uint64_t delayed_calls;   /* calls that waited for the slowdown spacing */
    long usage_used;          /* last api-usage calls used, -1 unknown */
    long usage_max;           /* last api-usage allowance, -1 unknown */
    bool slowed;              /* now above slowdown_pct */
    int64_t blocked_until_ms; /* mono ms of the end of a pause or stop, 0 when open */
} sf_org_stats_t;

/*  Creates the org (no request yet). NULL with the reason in err for a bad setting. */
sf_org_t *sf_org_new (const sf_org_config_t *config, char *err, size_t err_cap);

/*  Frees the org; sets *self_p to NULL. Accepts NULL. */
void sf_org_destroy (sf_org_t **self_p);

/*  One authenticated call: method on /services/data/v{api_version}{path} (path starts with
    '/') with an optional JSON body. Returns SF_CALL_OK with the response in resp (the
    caller reads it, then calls cm_http_response_clear, as in every case), or another
    result with err filled. SF_CALL_REAUTH is never returned (a second 401 is RETRY). When
    the org is paused or stopped, returns at once without a request. */
sf_call_result_t sf_org_call (sf_org_t *self, const char *method, const char *path,
                              const char *body, size_t body_len, cm_http_response_t *resp,
                              sf_error_t *err);

/*  Like sf_org_call with any content types, through the caller's client http (one per
    thread), so several threads can call one org at once. While the org is slowed, waits
    for its turn (the spacing) before the request; a stop request cuts the wait short. */
sf_call_result_t sf_org_request (sf_org_t *self, cm_http_t *http, const sf_request_t *req,
                                 cm_http_response_t *resp, sf_error_t *err);

/*  True while the last known usage is at or above slowdown_pct of the allowance. */
bool sf_org_slowed (const sf_org_t *self);

/*  A snapshot of the counters. */
void sf_org_stats (const sf_org_t *self, sf_org_stats_t *stats);

/*  The org's API version, e.g. "62.0" (borrowed). */
const char *sf_org_api_version (const sf_org_t *self);

/*  The configured My Domain URL (borrowed). */
const char *sf_org_url (const sf_org_t *self);

/*  Monotonic ms until which calls are refused (paused or stopped org), 0 when open. */
int64_t sf_org_blocked_until_ms (const sf_org_t *self);

/*  True while the org is stopped: its last token request failed (credentials refused or
    the token endpoint down). For health checks. */
bool sf_org_stopped (const sf_org_t *self);

/*  The org's name (borrowed). */
const char *sf_org_name (const sf_org_t *self);

/*  Counters: API calls made (token requests excluded), token requests. */
uint64_t sf_org_api_calls (const sf_org_t *self);
uint64_t sf_org_token_requests (const sf_org_t *self);

/*  The last Sforce-Limit-Info seen: calls used and daily allowance (both -1 when none). */
void sf_org_api_usage (const sf_org_t *self, long *used, long *max);

/*  Sets how long a TotalRequests refusal pauses the org, and the wait after refused
    credentials (tests use short ones). */
void sf_org_set_pause_ms (sf_org_t *self, int64_t pause_ms, int64_t reject_backoff_ms);

/*  Classifies a response that is not 2xx from its status and body (the top-level error
    array [{"message":..., "errorCode":...}]); fills err. status 0 means no response
    (transport error or timeout): RETRY. Pure. */
sf_call_result_t sf_call_classify (long status, const char *body, size_t body_len, sf_error_t *err);

/*  Parses a Sforce-Limit-Info value "api-usage=18/15000" into used and max. Returns 0, or
    -1 when the value has no well-formed api-usage (or a number over 10^12). Pure. */
int sf_limit_info_parse (const char *value, long *used, long *max);

/*  Name of a result for logs: "ok", "retry", "reauth", "paused", "stopped", "permanent". */
const char *sf_call_result_name (sf_call_result_t result);

#endif
