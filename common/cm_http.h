/*  cm_http: an HTTP client on libcurl with timeouts, a capped response size, and retries
    with capped exponential backoff and full jitter that honour Retry-After. One cm_http_t
    per thread (it owns a curl easy handle that keeps connections alive). */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cm_http_t cm_http_t;

typedef struct {
    const char *method;         /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *url;            /* full URL */
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const char *body;           /* request body or NULL */
    size_t body_len;            /* its length */
    const char *basic_user;     /* HTTP Basic user (with basic_pass) or NULL */
    const char *basic_pass;     /* HTTP Basic password or NULL */
} cm_http_request_t;

typedef struct {
    long status;            /* HTTP status, 0 when no response (see error) */
    char *body;             /* response body, NUL-terminated, or NULL */
    size_t body_len;        /* its length */
    char *content_type;     /* Content-Type or NULL */
    long retry_after_s;     /* Retry-After in seconds, -1 when absent */
    char *limit_info;       /* Sforce-Limit-Info value or NULL */
    char *www_authenticate; /* WWW-Authenticate value or NULL */
    char error[256];        /* transport error text when status is 0 */
    bool too_big;           /* the body exceeded the cap (status 0, error says so) */
    bool timed_out;         /* the request timed out */
} cm_http_response_t;

typedef struct {
    int max_attempts; /* total attempts, >= 1 */
    long base_ms;     /* first backoff */
    long max_ms;      /* backoff cap */
} cm_retry_policy_t;

/*  Creates a client. max_body caps every response body; timeout_ms bounds each request.
    Returns NULL on failure. */
cm_http_t *cm_http_new (size_t max_body, long timeout_ms);

/*  Frees the client; sets *self_p to NULL. Accepts NULL. */
void cm_http_destroy (cm_http_t **self_p);

/*  Performs one request. Returns 0 when a response arrived (any status), -1 on a transport
    error, timeout or oversized body (resp->error says which). resp is cleared first; the
    caller calls cm_http_response_clear afterwards in both cases. */
int cm_http_perform (cm_http_t *self, const cm_http_request_t *req, cm_http_response_t *resp);

/*  Frees the response's buffers and zeroes it. */
void cm_http_response_clear (cm_http_response_t *resp);

/*  True for outcomes worth retrying: transport errors and timeouts (not too_big), 408,
    420, 429, 500, 502, 503, 504. */
bool cm_http_retryable (int rc, const cm_http_response_t *resp);

/*  Delay before retry number `attempt` (1-based): full jitter over
    min(max_ms, base_ms * 2^(attempt-1)); when retry_after_s >= 0, at least that many
    seconds (still capped at max(max_ms, retry_after)). */
long cm_backoff_ms (const cm_retry_policy_t *policy, int attempt, long retry_after_s);

/*  cm_http_perform with retries of retryable outcomes, sleeping cm_backoff_ms between
    attempts (interrupted by a stop request) and logging HTTP_RETRY with `what` as context.
    Returns like cm_http_perform for the last attempt. */
int cm_http_perform_retry (cm_http_t *self, const cm_http_request_t *req, cm_http_response_t *resp,
                           const cm_retry_policy_t *policy, const char *what);

/*  application/x-www-form-urlencoded encoding of s (space as %20; '#', '~' etc. encoded
    safely). Returns a malloc'd string (caller frees) or NULL. */
char *cm_http_form_encode (const char *s);

/*  True if url is http(s) to a loopback host (127.0.0.0/8, localhost, [::1]). */
bool cm_http_url_is_loopback (const char *url);

/*  Names hosts (comma list, e.g. "cloudsuite-sim,salesforce-sim": the simulators on a
    compose network) to which plain http is allowed like to loopback. Process-wide; call
    once at start-up from the http.insecure_hosts setting. NULL or "" allows none. */
void cm_http_allow_insecure_hosts (const char *comma_list);

/*  Checks a configured URL: https is always fine; http only when allow_http is set and the
    host is loopback or named by cm_http_allow_insecure_hosts. Returns 0, or -1 with the
    reason in err. */
int cm_http_check_url (const char *url, bool allow_http, char *err, size_t err_cap);

#endif
