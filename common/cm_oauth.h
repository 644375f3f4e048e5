/*  cm_oauth: OAuth 2.0 token requests and a cached token with its expiry. Used by the
    extractor (Infor password grant) and the loader (Salesforce client credentials). */
#ifndef CM_OAUTH_H
#define CM_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_http.h"

typedef struct {
    char *access_token;    /* bearer token or NULL */
    char *refresh_token;   /* refresh token or NULL */
    char *instance_url;    /* Salesforce instance_url or NULL */
    int64_t issued_at_ms;  /* when it was obtained (mono clock) */
    int64_t expires_at_ms; /* mono clock ms when it stops being valid */
} cm_token_t;

typedef enum {
    CM_OAUTH_OK,          /* token filled */
    CM_OAUTH_REJECTED,    /* the server refused the credentials (400/401): do not retry */
    CM_OAUTH_UNAVAILABLE, /* transport error, 429 or 5xx after retries: try later */
    CM_OAUTH_MALFORMED    /* a response that is not a token response */
} cm_oauth_result_t;

/*  POSTs the x-www-form-urlencoded form_body to token_url (with HTTP Basic when
    basic_user is set) and parses the token response (access_token, token_type,
    expires_in, refresh_token, instance_url). When expires_in is absent the token lives
    default_ttl_s. On success replaces *token. On failure writes a message with the
    server's error and error_description, never a secret, into err. */
cm_oauth_result_t cm_oauth_request (cm_http_t *http, const cm_retry_policy_t *policy,
                                    const char *token_url, const char *form_body,
                                    const char *basic_user, const char *basic_pass,
                                    int64_t default_ttl_s, cm_token_t *token, char *err,
                                    size_t err_cap);

/*  True when the token is set and at least margin_ms away from its expiry. */
bool cm_token_fresh (const cm_token_t *token, int64_t margin_ms);

/*  Frees the token's strings and zeroes it (secrets are wiped first). */
void cm_token_clear (cm_token_t *token);

#endif
