/*  sf_auth: the Salesforce access token of one org (client credentials). See sf_auth.h. */
#include "sf_auth.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cm_log.h"
#include "cm_oauth.h"
#include "cm_time.h"

#define SF_AUTH_UNAVAILABLE_BASE_MS 1000  /* first wait after an unreachable endpoint */
#define SF_AUTH_UNAVAILABLE_MAX_MS  60000 /* cap of that wait */
#define SF_AUTH_MAX_INSTANCE_URL    1024  /* longer is refused (call URLs are capped at 2 KB) */

struct sf_auth_t {
    char *url;                 /* My Domain URL, no trailing '/' */
    char *token_url;           /* url + /services/oauth2/token */
    char *client_id;           /* connected app consumer key */
    char *client_secret;       /* consumer secret: never logged */
    int64_t session_ttl_s;     /* token lifetime (no expires_in from Salesforce) */
    int64_t margin_ms;         /* renew this long before the end */
    bool allow_http;           /* plain http to loopback allowed (simulators) */
    cm_token_t token;          /* cached token, empty when none */
    sf_auth_result_t last;     /* result of the last request */
    char last_err[256];        /* its message, repeated while backing off */
    int64_t retry_at_ms;       /* mono ms: no request before this; 0 = none */
    int64_t reject_backoff_ms; /* wait after rejected credentials */
    int failures;              /* consecutive unavailable results */
    uint64_t token_requests;   /* requests made */
};

static void
s_free_secret (char **s)
{
    if (*s) {
        sodium_memzero (*s, strlen (*s));
        free (*s);
        *s = NULL;
    }
}

sf_auth_t *
sf_auth_new (const char *url, const char *client_id, const char *client_secret, bool allow_http,
             int64_t session_ttl_s, int64_t margin_s, char *err, size_t err_cap)
{
    sf_auth_t *self = NULL;
    if (!url || !*url) {
        snprintf (err, err_cap, "salesforce.url is empty");
        goto fail;
    }
    if (!client_id || !*client_id || !client_secret || !*client_secret) {
        snprintf (err, err_cap, "salesforce client id and secret are required");
        goto fail;
    }
    char why[200];
    if (cm_http_check_url (url, allow_http, why, sizeof why) != 0) {
        snprintf (err, err_cap, "salesforce.url: %s", why);
        goto fail;
    }
    if (session_ttl_s <= 0 || margin_s < 0) {
        snprintf (err, err_cap, "salesforce.session_ttl_s must be > 0");
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        goto oom;
    self->url = strdup (url);
    if (!self->url)
        goto oom;
    size_t len = strlen (self->url);
    while (len > 0 && self->url[len - 1] == '/')
        self->url[--len] = '\0';
    if (asprintf (&self->token_url, "%s/services/oauth2/token", self->url) < 0) {
        self->token_url = NULL;
        goto oom;
    }
    self->client_id = strdup (client_id);
    self->client_secret = strdup (client_secret);
    if (!self->client_id || !self->client_secret)
        goto oom;
    self->session_ttl_s = session_ttl_s;
    self->allow_http = allow_http;
    //  A margin at least as long as the session would renew on every call
    self->margin_ms = margin_s < session_ttl_s ? margin_s * 1000 : session_ttl_s * 500;
    self->reject_backoff_ms = SF_AUTH_REJECT_BACKOFF_MS;
    self->last = SF_AUTH_OK;
    return self;
oom:
    snprintf (err, err_cap, "out of memory");
fail:
    sf_auth_destroy (&self);
    return NULL;
}

void
sf_auth_destroy (sf_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sf_auth_t *self = *self_p;
    cm_token_clear (&self->token);
    s_free_secret (&self->client_secret);
    free (self->client_id);
    free (self->token_url);
    free (self->url);
    free (self);
    *self_p = NULL;
}

//  Builds the client-credentials form; caller frees (and wipes: it holds the secret).
static char *
s_form (const sf_auth_t *self)
{
    char *id = cm_http_form_encode (self->client_id);
    char *secret = cm_http_form_encode (self->client_secret);
    char *form = NULL;
    if (id && secret &&
        asprintf (&form, "grant_type=client_credentials&client_id=%s&client_secret=%s", id,
                  secret) < 0)
        form = NULL;
    free (id);
    s_free_secret (&secret);
    return form;
}

sf_auth_result_t
sf_auth_get (sf_auth_t *self, cm_http_t *http, const char **token, const char **instance_url,
             char *err, size_t err_cap)
{
    assert (self && http && token && instance_url);
    *token = NULL;
    *instance_url = NULL;
    if (cm_token_fresh (&self->token, self->margin_ms)) {
        *token = self->token.access_token;
        *instance_url = self->token.instance_url ? self->token.instance_url : self->url;
        return SF_AUTH_OK;
    }
    int64_t now = cm_mono_ms ();
    if (self->retry_at_ms && now < self->retry_at_ms) {
        snprintf (err, err_cap, "%s (next token request in %lld s)", self->last_err,
                  (long long)((self->retry_at_ms - now + 999) / 1000));
        return self->last;
    }
    char *form = s_form (self);
    if (!form) {
        snprintf (err, err_cap, "out of memory");
        return SF_AUTH_UNAVAILABLE;
    }
    //  A few quick retries for a flaky endpoint; longer waits are the caller's backoff
    cm_retry_policy_t policy = {.max_attempts = 3, .base_ms = 500, .max_ms = 4000};
    cm_token_t fresh = {0};
    char why[256] = "";
    self->token_requests++;
    cm_oauth_result_t rc = cm_oauth_request (http, &policy, self->token_url, form, NULL, NULL,
                                             self->session_ttl_s, &fresh, why, sizeof why);
    s_free_secret (&form);

    if (rc == CM_OAUTH_OK && fresh.instance_url) {
        char bad[200];
        //  The API base comes from the response: hold it to the same rule as the config
        if (cm_http_check_url (fresh.instance_url, self->allow_http, bad, sizeof bad) != 0) {
            snprintf (why, sizeof why, "token response instance_url refused: %s", bad);
            rc = CM_OAUTH_MALFORMED;
        } else if (strlen (fresh.instance_url) > SF_AUTH_MAX_INSTANCE_URL) {
            //  Refused here (the org waits), not by every call (URL_TOO_LONG is permanent
            //  and would dead-letter every record)
            snprintf (why, sizeof why, "token response instance_url longer than %d bytes",
                      SF_AUTH_MAX_INSTANCE_URL);
            rc = CM_OAUTH_MALFORMED;
        }
    }
    if (rc == CM_OAUTH_OK && (!fresh.access_token || !*fresh.access_token)) {
        snprintf (why, sizeof why, "token response without access_token");
        rc = CM_OAUTH_MALFORMED;
    }
    if (rc == CM_OAUTH_OK) {
        cm_token_clear (&self->token);
        self->token = fresh;
        self->last = SF_AUTH_OK;
        self->last_err[0] = '\0';
        self->retry_at_ms = 0;
        self->failures = 0;
        cm_info ("LDR_TOKEN", "org=%s instance=%s ttl_s=%lld", self->url,
                 self->token.instance_url ? self->token.instance_url : self->url,
                 (long long)self->session_ttl_s);
        *token = self->token.access_token;
        *instance_url = self->token.instance_url ? self->token.instance_url : self->url;
        return SF_AUTH_OK;
    }
    cm_token_clear (&fresh);
    cm_token_clear (&self->token);
    char excerpt[420];
    snprintf (self->last_err, sizeof self->last_err, "token request to %s failed: %s",
              self->token_url, why);
    if (rc == CM_OAUTH_REJECTED) {
        self->last = SF_AUTH_REJECTED;
        self->retry_at_ms = now + self->reject_backoff_ms;
        cm_error ("LDR_AUTH_REJECTED", "org=%s retry_in_s=%lld reason=\"%s\"", self->url,
                  (long long)(self->reject_backoff_ms / 1000),
                  cm_log_excerpt (why, strlen (why), 200, excerpt, sizeof excerpt));
    } else {
        self->last = SF_AUTH_UNAVAILABLE;
        self->failures++;
        int64_t wait = SF_AUTH_UNAVAILABLE_BASE_MS;
        for (int i = 1; i < self->failures && wait < SF_AUTH_UNAVAILABLE_MAX_MS; i++)
            wait *= 2;
        if (wait > SF_AUTH_UNAVAILABLE_MAX_MS)
            wait = SF_AUTH_UNAVAILABLE_MAX_MS;
        self->retry_at_ms = now + wait;
        cm_warn ("LDR_AUTH_UNAVAILABLE", "org=%s retry_in_ms=%lld reason=\"%s\"", self->url,
                 (long long)wait, cm_log_excerpt (why, strlen (why), 200, excerpt, sizeof excerpt));
    }
    snprintf (err, err_cap, "%s", self->last_err);
    return self->last;
}

void
sf_auth_invalidate (sf_auth_t *self)
{
    assert (self);
    cm_token_clear (&self->token);
}

void
sf_auth_invalidate_token (sf_auth_t *self, const char *token)
{
    assert (self && token);
    if (self->token.access_token && strcmp (self->token.access_token, token) == 0)
        cm_token_clear (&self->token);
}

int64_t
sf_auth_retry_at_ms (const sf_auth_t *self)
{
    assert (self);
    return self->last == SF_AUTH_OK ? 0 : self->retry_at_ms;
}

void
sf_auth_set_reject_backoff_ms (sf_auth_t *self, int64_t ms)
{
    assert (self);
    self->reject_backoff_ms = ms;
}

uint64_t
sf_auth_token_requests (const sf_auth_t *self)
{
    assert (self);
    return self->token_requests;
}

const char *
sf_auth_url (const sf_auth_t *self)
{
    assert (self);
    return self->url;
}
