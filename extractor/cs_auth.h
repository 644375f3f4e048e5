/*  cs_auth: the bearer token of one CloudSuite tenant, cached and renewed.

    A token is obtained with the ION API password grant (service account saak/sask plus
    client id/secret), reused until a margin before it expires, then renewed with the
    refresh_token grant when the server issued a refresh token (falling back to a new
    password grant when the refresh is refused). After a 401 the caller invalidates the
    token so the next cs_auth_token gets a fresh one. Token requests are counted so the
    documented limits (20 per minute, 1,000 per day) can be watched, and two guards keep a
    broken setup from spending them: after the service account credentials were refused, no
    new password grant is sent for a cool-down (60 s, doubling up to an hour, reset by a
    success), and a token is thrown away after a 401 at most once per
    CS_AUTH_RENEW_GUARD_MS. */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_http.h"
#include "cm_oauth.h"
#include "cs_ionapi.h"

#define CS_AUTH_REFUSED_MIN_MS 60000   /* first cool-down after refused credentials */
#define CS_AUTH_REFUSED_MAX_MS 3600000 /* longest cool-down */
#define CS_AUTH_RENEW_GUARD_MS 30000   /* a 401 renews the token at most this often */
#define CS_AUTH_MAX_ERROR      512     /* longest remembered token error */

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

/*  Forgets the current access token after a 401 (the refresh token is kept) so the next
    cs_auth_token gets a new one. Returns true when it did; false when a 401 already renewed
    the token less than CS_AUTH_RENEW_GUARD_MS ago (a new token would not help: the gateway
    refuses this client, and renewing on every call would exhaust the token limits). */
bool cs_auth_invalidate (cs_auth_t *self);

/*  Number of token requests sent so far (password and refresh grants). Safe to call from
    another thread (e.g. a metrics sampler). */
uint64_t cs_auth_requests (const cs_auth_t *self);

/*  Tokens obtained after the first one (a refresh, or a new grant after expiry or a 401).
    Safe to call from another thread. */
uint64_t cs_auth_renewals (const cs_auth_t *self);

/*  What an operator may see of the token (never the token itself). */
typedef struct {
    bool cached;                        /* a token is held */
    int64_t expires_at_ms;              /* wall clock when it expires (when cached) */
    int64_t last_renewal_ms;            /* wall clock of the last token obtained, 0 = never */
    int64_t last_error_ms;              /* wall clock of the last failed request, 0 = never */
    char last_error[CS_AUTH_MAX_ERROR]; /* its reason (no credentials), "" when none */
    uint64_t requests;                  /* token requests sent */
    uint64_t renewals;                  /* cs_auth_renewals */
} cs_auth_status_t;

/*  Fills out (call from the thread that uses the cache). */
void cs_auth_status (const cs_auth_t *self, cs_auth_status_t *out);

/*  Builds the password-grant form body, every value form-encoded. Returns a malloc'd
    string (caller wipes and frees) or NULL. Exposed for tests. */
char *cs_auth_password_form (const cs_ionapi_t *ionapi);

#endif
