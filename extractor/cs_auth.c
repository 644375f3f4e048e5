/*  cs_auth: cached ION API bearer token per tenant. See cs_auth.h. */
#include "cs_auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_time.h"

#define CS_AUTH_DEFAULT_TTL_S 7200 /* when the server omits expires_in (Infor default) */

struct cs_auth_t {
    const cs_ionapi_t *ionapi;          /* credentials (borrowed) */
    cm_http_t *http;                    /* HTTP client (borrowed) */
    const cm_retry_policy_t *policy;    /* retry policy for token calls (borrowed) */
    int64_t margin_ms;                  /* renew this long before expiry */
    cm_token_t token;                   /* current token, if any */
    uint64_t requests;                  /* token requests sent */
    int64_t refused_until_ms;           /* no password grant before this (mono ms) */
    int64_t refused_wait_ms;            /* the current cool-down after a refusal */
    char refused[512];                  /* why the credentials were refused */
    int64_t renewed_at_ms;              /* when a 401 last threw the token away (mono ms) */
    uint64_t granted;                   /* token requests that succeeded */
    uint64_t renewals;                  /* ... after the first one (atomic: metrics thread) */
    int64_t granted_at_ms;              /* wall clock of the last success, 0 = never */
    int64_t failed_at_ms;               /* wall clock of the last failure, 0 = never */
    char last_error[CS_AUTH_MAX_ERROR]; /* its reason */
};

cs_auth_t *
cs_auth_new (const cs_ionapi_t *ionapi, cm_http_t *http, const cm_retry_policy_t *policy,
             int64_t margin_s)
{
    cs_auth_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ionapi = ionapi;
    self->http = http;
    self->policy = policy;
    self->margin_ms = margin_s > 0 ? margin_s * 1000 : 0;
    return self;
}

void
cs_auth_destroy (cs_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_token_clear (&(*self_p)->token);
    free (*self_p);
    *self_p = NULL;
}

/*  Frees a string holding a secret after wiping it. */
static void
s_wipe_free (char *s)
{
    if (s) {
        sodium_memzero (s, strlen (s));
        free (s);
    }
}

/*  Joins "name=<encoded value>" pairs with '&'. pairs is NULL-terminated name, value, ...
    Returns a malloc'd string or NULL. */
static char *
s_form (const char *const *pairs)
{
    size_t cap = 1, len = 0;
    char *out = NULL;
    char *enc[16] = {0};
    size_t n = 0;
    for (; pairs[2 * n] && n < 8; n++) {
        enc[n] = cm_http_form_encode (pairs[2 * n + 1]);
        if (!enc[n])
            goto out;
        cap += strlen (pairs[2 * n]) + strlen (enc[n]) + 2;
    }
    out = malloc (cap);
    if (!out)
        goto out;
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf (out + len, cap - len, "%s%s=%s", i ? "&" : "", pairs[2 * i], enc[i]);
out:
    for (size_t i = 0; i < n; i++)
        s_wipe_free (enc[i]);
    return out;
}

char *
cs_auth_password_form (const cs_ionapi_t *ionapi)
{
    const char *pairs[] = {"grant_type",
                           "password",
                           "username",
                           cs_ionapi_saak (ionapi),
                           "password",
                           cs_ionapi_sask (ionapi),
                           "client_id",
                           cs_ionapi_client_id (ionapi),
                           "client_secret",
                           cs_ionapi_client_secret (ionapi),
                           NULL};
    return s_form (pairs);
}

/*  Sends one token request with form as body; counts it and logs the outcome. */
static cm_oauth_result_t
s_request (cs_auth_t *self, const char *grant, char *form, char *err, size_t err_cap)
{
    if (!form) {
        snprintf (err, err_cap, "out of memory building the token request");
        return CM_OAUTH_UNAVAILABLE;
    }
    /* relaxed atomics: a metrics thread may read the counter (cs_auth_requests) */
    __atomic_add_fetch (&self->requests, 1, __ATOMIC_RELAXED);
    cm_token_t fresh = {0};
    cm_oauth_result_t rc =
        cm_oauth_request (self->http, self->policy, cs_ionapi_token_url (self->ionapi), form, NULL,
                          NULL, CS_AUTH_DEFAULT_TTL_S, &fresh, err, err_cap);
    s_wipe_free (form);
    if (rc == CM_OAUTH_OK) {
        /* a refresh response may omit refresh_token: keep the one we have */
        if (!fresh.refresh_token && self->token.refresh_token) {
            fresh.refresh_token = self->token.refresh_token;
            self->token.refresh_token = NULL;
        }
        cm_token_clear (&self->token);
        self->token = fresh;
        if (self->granted++ > 0)
            __atomic_add_fetch (&self->renewals, 1, __ATOMIC_RELAXED);
        self->granted_at_ms = cm_now_ms ();
        cm_info ("EXT_TOKEN", "tenant=%s grant=%s ttl_s=%lld requests=%llu",
                 cs_ionapi_tenant (self->ionapi), grant,
                 (long long)((fresh.expires_at_ms - fresh.issued_at_ms) / 1000),
                 (unsigned long long)cs_auth_requests (self));
    } else {
        cm_token_clear (&fresh);
        self->failed_at_ms = cm_now_ms ();
        snprintf (self->last_error, sizeof self->last_error, "%s", err);
    }
    return rc;
}

cm_oauth_result_t
cs_auth_token (cs_auth_t *self, const char **token, char *err, size_t err_cap)
{
    *token = NULL;
    if (self->token.access_token) {
        int64_t life = self->token.expires_at_ms - self->token.issued_at_ms;
        int64_t margin = self->margin_ms < life / 2 ? self->margin_ms : life / 2;
        if (cm_token_fresh (&self->token, margin)) {
            *token = self->token.access_token;
            return CM_OAUTH_OK;
        }
    }
    cm_oauth_result_t rc;
    if (self->token.refresh_token) {
        const char *pairs[] = {"grant_type",
                               "refresh_token",
                               "refresh_token",
                               self->token.refresh_token,
                               "client_id",
                               cs_ionapi_client_id (self->ionapi),
                               "client_secret",
                               cs_ionapi_client_secret (self->ionapi),
                               NULL};
        rc = s_request (self, "refresh_token", s_form (pairs), err, err_cap);
        if (rc == CM_OAUTH_OK) {
            *token = self->token.access_token;
            return rc;
        }
        /* a refused or expired refresh token: start over with the service account */
        char why[512];
        cm_log_excerpt (err, strlen (err), 300, why, sizeof why);
        cm_warn ("EXT_TOKEN_REFRESH_FAILED", "tenant=%s reason=\"%s\" fallback=password",
                 cs_ionapi_tenant (self->ionapi), why);
        cm_token_clear (&self->token);
    }
    int64_t now = cm_mono_ms ();
    if (self->refused_until_ms > now) {
        /* the same credentials were refused a moment ago: do not spend the token limit */
        snprintf (err, err_cap, "%s (not retried for another %lld s)", self->refused,
                  (long long)((self->refused_until_ms - now + 999) / 1000));
        return CM_OAUTH_REJECTED;
    }
    rc = s_request (self, "password", cs_auth_password_form (self->ionapi), err, err_cap);
    if (rc == CM_OAUTH_OK) {
        self->refused_until_ms = 0;
        self->refused_wait_ms = 0;
        *token = self->token.access_token;
        return rc;
    }
    if (rc == CM_OAUTH_REJECTED) {
        char detail[512];
        snprintf (detail, sizeof detail, "%s", err);
        snprintf (err, err_cap,
                  "tenant %s: the token endpoint refused the service account credentials "
                  "(check ci/cs/saak/sask in the .ionapi file): %s",
                  cs_ionapi_tenant (self->ionapi), detail);
        snprintf (self->refused, sizeof self->refused, "%s", err);
        self->refused_wait_ms =
            self->refused_wait_ms ? self->refused_wait_ms * 2 : CS_AUTH_REFUSED_MIN_MS;
        if (self->refused_wait_ms > CS_AUTH_REFUSED_MAX_MS)
            self->refused_wait_ms = CS_AUTH_REFUSED_MAX_MS;
        self->refused_until_ms = cm_mono_ms () + self->refused_wait_ms;
    }
    return rc;
}

bool
cs_auth_invalidate (cs_auth_t *self)
{
    int64_t now = cm_mono_ms ();
    if (self->renewed_at_ms && now - self->renewed_at_ms < CS_AUTH_RENEW_GUARD_MS)
        return false;
    self->renewed_at_ms = now;
    if (self->token.access_token) {
        sodium_memzero (self->token.access_token, strlen (self->token.access_token));
        free (self->token.access_token);
        self->token.access_token = NULL;
    }
    self->token.expires_at_ms = 0;
    return true;
}

uint64_t
cs_auth_requests (const cs_auth_t *self)
{
    return __atomic_load_n (&self->requests, __ATOMIC_RELAXED);
}

uint64_t
cs_auth_renewals (const cs_auth_t *self)
{
    return __atomic_load_n (&self->renewals, __ATOMIC_RELAXED);
}

void
cs_auth_status (const cs_auth_t *self, cs_auth_status_t *out)
{
    memset (out, 0, sizeof *out);
    out->cached = self->token.access_token != NULL;
    if (out->cached) {
        int64_t left = self->token.expires_at_ms - cm_mono_ms ();
        out->expires_at_ms = cm_now_ms () + (left > 0 ? left : 0);
    }
    out->last_renewal_ms = self->granted_at_ms;
    out->last_error_ms = self->failed_at_ms;
    snprintf (out->last_error, sizeof out->last_error, "%s", self->last_error);
    out->requests = cs_auth_requests (self);
    out->renewals = cs_auth_renewals (self);
}
