/*  sf_auth: the Salesforce access token of one org, by the OAuth 2.0 client-credentials
    flow against the org's My Domain URL.

    Salesforce's token response has no expires_in: the token lives for the org's session
    timeout, which the caller configures (session_ttl_s); sf_auth renews it margin_s before
    that, and at once after sf_auth_invalidate (a 401 INVALID_SESSION_ID). The API base is
    the response's instance_url (the configured URL when absent).

    Rejected credentials put the org in a stopped state: no request is made for
    SF_AUTH_REJECT_BACKOFF_MS (minutes), so a wrong secret never becomes a retry storm
    against the login service. An unreachable token endpoint backs off for a shorter,
    growing delay. The secret and the token never appear in logs or error texts. */
#ifndef SF_AUTH_H
#define SF_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_http.h"

#define SF_AUTH_REJECT_BACKOFF_MS (5 * 60 * 1000) /* wait after rejected credentials */

typedef struct sf_auth_t sf_auth_t;

typedef enum {
    SF_AUTH_OK,         /* a fresh token is available */
    SF_AUTH_REJECTED,   /* credentials refused: the org is stopped until retry_at */
    SF_AUTH_UNAVAILABLE /* token endpoint unreachable or malformed: try after retry_at */
} sf_auth_result_t;

/*  Creates the token holder for the org at url (the My Domain URL, https; http only to a
    loopback host when allow_http). Copies the strings. Returns NULL with the reason in err
    (bad URL, missing client id or secret). Makes no request. */
sf_auth_t *sf_auth_new (const char *url, const char *client_id, const char *client_secret,
                        bool allow_http, int64_t session_ttl_s, int64_t margin_s, char *err,
                        size_t err_cap);

/*  Frees the holder (wiping the secret and token); sets *self_p to NULL. Accepts NULL. */
void sf_auth_destroy (sf_auth_t **self_p);

/*  Returns SF_AUTH_OK with a fresh token, requesting one through http when the cached one
    is absent, invalidated or within the margin of its end. While the org is stopped or
    backing off returns the previous failure without a request. *token and *instance_url
    are borrowed and valid until the next call that changes the token. On failure writes
    the server's error (never a secret) into err. */
sf_auth_result_t sf_auth_get (sf_auth_t *self, cm_http_t *http, const char **token,
                              const char **instance_url, char *err, size_t err_cap);

/*  Drops the cached token (after a 401): the next sf_auth_get requests a new one at once. */
void sf_auth_invalidate (sf_auth_t *self);

/*  Drops the cached token only while it is still `token` (the one a 401 answered): a
    token that another thread renewed meanwhile is kept. */
void sf_auth_invalidate_token (sf_auth_t *self, const char *token);

/*  Monotonic ms before which sf_auth_get will not try again after a failure; 0 when not
    backing off. */
int64_t sf_auth_retry_at_ms (const sf_auth_t *self);

/*  Sets the wait after rejected credentials (tests use a short one). */
void sf_auth_set_reject_backoff_ms (sf_auth_t *self, int64_t ms);

/*  Number of token requests made (each is one login, which Salesforce rate-limits). */
uint64_t sf_auth_token_requests (const sf_auth_t *self);

/*  The configured My Domain URL without a trailing '/'. Borrowed. */
const char *sf_auth_url (const sf_auth_t *self);

#endif
