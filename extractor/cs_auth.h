/*  cs_auth: the bearer token of one CloudSuite tenant, cached and renewed.

    A token is obtained with the ION API password grant (service account saak/sask plus
    client id/secret), reused until a margin before it expires, then renewed with the
    refresh_token grant when the server issued a refresh token (falling back to a new
    password grant when the refresh is refused). After a 401 the caller invalidates the
    token so the next cs_auth_token gets a fresh one. Token requests are counted so the
    documented limit (20 per minute) can be watched. */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "cm_http.h"
#include "cm_oauth.h"
#include "cs_ionapi.h"

typedef struct cs_auth_t cs_auth_t;

/*  Creates the token cache for one tenant. Borrows ionapi, http and policy: they must
    outlive the object. margin_s: renew this long before expiry (clamped to half the
    token's lifetime so short-lived tokens are not re-requested on every call). */
cs_auth_t *cs_auth_new (const cs_ionapi_t *ionapi, cm_http_t *http, const cm_retry_policy_t *policy,
                        int64_t margin_s);

/*  Wipes the token, frees the object and sets *self_p to NULL. Accepts NULL. */
void cs_auth_destroy (cs_auth_t **self_p);

/*  Returns a current access token in *token (borrowed, valid until the next cs_auth call),
    requesting or renewing it when needed. CM_OAUTH_OK, or another result with a message
    in err (CM_OAUTH_REJECTED: the credentials were refused, fix the .ionapi file). */
cm_oauth_result_t cs_auth_token (cs_auth_t *self, const char **token, char *err, size_t err_cap);

/*  Forgets the current access token (after a 401); the refresh token is kept. */
void cs_auth_invalidate (cs_auth_t *self);

/*  Number of token requests sent so far (password and refresh grants). */
uint64_t cs_auth_requests (const cs_auth_t *self);

/*  Builds the password-grant form body, every value form-encoded. Returns a malloc'd
    string (caller wipes and frees) or NULL. Exposed for tests. */
char *cs_auth_password_form (const cs_ionapi_t *ionapi);

#endif
