/*  sf_org: one Salesforce org: token, HTTP client, API usage, pause state. See sf_org.h. */
#include "sf_org.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "cm_log.h"
#include "cm_time.h"

#define SF_ORG_MAX_URL         2048  /* longest request URL we build */
#define SF_ORG_USAGE_WARN_PCT  90    /* warn once usage passes this share of the allowance */
#define SF_ORG_ERROR_PARSE_MAX 65536 /* error bodies longer than this are not parsed */

struct sf_org_t {
    char *name;              /* for logs */
    char *api_version;       /* "62.0" */
    sf_auth_t *auth;         /* the org's token */
    cm_http_t *http;         /* keeps the connection to the org alive */
    int64_t paused_until_ms; /* mono ms: TotalRequests refusal, 0 = not paused */
    int64_t pause_ms;        /* how long such a refusal pauses */
    long usage_used;         /* last api-usage calls used, -1 unknown */
    long usage_max;          /* last api-usage allowance, -1 unknown */
    bool usage_warned;       /* the high-usage warning was logged */
    uint64_t api_calls;      /* REST calls made */
};

sf_org_t *
sf_org_new (const sf_org_config_t *config, char *err, size_t err_cap)
{
    assert (config);
    sf_org_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    const char *version = config->api_version ? config->api_version : "";
    //  The version goes into every URL: digits and one dot only, e.g. "62.0"
    bool version_ok = *version && strlen (version) < 8;
    for (const char *p = version; *p; p++)
        if (!isdigit ((unsigned char)*p) && *p != '.')
            version_ok = false;
    if (!version_ok) {
        snprintf (err, err_cap, "salesforce.api_version '%.16s' is not like 62.0", version);
        goto fail;
    }
    self->name = strdup (config->name ? config->name : "default");
    self->api_version = strdup (version);
    if (!self->name || !self->api_version) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->auth =
        sf_auth_new (config->url, config->client_id, config->client_secret, config->allow_http,
                     config->session_ttl_s, config->token_margin_s, err, err_cap);
    if (!self->auth)
        goto fail;
    self->http = cm_http_new (config->max_body, config->timeout_ms);
    if (!self->http) {
        snprintf (err, err_cap, "cannot create the HTTP client");
        goto fail;
    }
    self->pause_ms = SF_ORG_PAUSE_MS;
    self->usage_used = -1;
    self->usage_max = -1;
    return self;
fail:
    sf_org_destroy (&self);
    return NULL;
}

void
sf_org_destroy (sf_org_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sf_org_t *self = *self_p;
    cm_http_destroy (&self->http);
    sf_auth_destroy (&self->auth);
    free (self->api_version);
    free (self->name);
    free (self);
    *self_p = NULL;
}

const char *
sf_call_result_name (sf_call_result_t result)
{
    switch (result) {
    case SF_CALL_OK:
        return "ok";
    case SF_CALL_RETRY:
        return "retry";
    case SF_CALL_REAUTH:
        return "reauth";
    case SF_CALL_PAUSED:
        return "paused";
    case SF_CALL_STOPPED:
        return "stopped";
    case SF_CALL_PERMANENT:
        return "permanent";
    }
    return "?";
}

//  Copies a JSON string member into out (capped); "" when absent or not a string.
static void
s_json_str (const cJSON *obj, const char *name, char *out, size_t cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    snprintf (out, cap, "%s", cJSON_IsString (item) ? item->valuestring : "");
}

//  Reads Salesforce's top-level error: [{"message":..,"errorCode":..}] or the OAuth shape
//  {"error":..,"error_description":..}. Leaves err untouched when the body is neither.
static void
s_parse_error_body (const char *body, size_t len, sf_error_t *err)
{
    if (!body || len == 0 || len > SF_ORG_ERROR_PARSE_MAX)
        return;
    cJSON *json = cJSON_ParseWithLength (body, len);
    if (!json)
        return;
    const cJSON *first = cJSON_IsArray (json) ? cJSON_GetArrayItem (json, 0) : json;
    if (cJSON_IsObject (first)) {
        char code[sizeof err->code] = "";
        char message[sizeof err->message] = "";
        s_json_str (first, "errorCode", code, sizeof code);
        if (!*code)
            s_json_str (first, "error", code, sizeof code);
        s_json_str (first, "message", message, sizeof message);
        if (!*message)
            s_json_str (first, "error_description", message, sizeof message);
        if (*code)
            snprintf (err->code, sizeof err->code, "%s", code);
        if (*message)
            snprintf (err->message, sizeof err->message, "%s", message);
    }
    cJSON_Delete (json);
}

sf_call_result_t
sf_call_classify (long status, const char *body, size_t body_len, sf_error_t *err)
{
    assert (err);
    err->http_status = (int)status;
    if (status == 0) {
        if (!*err->code)
            snprintf (err->code, sizeof err->code, "HTTP_TRANSPORT");
        return SF_CALL_RETRY;
    }
    if (status >= 200 && status < 300)
        return SF_CALL_OK;
    snprintf (err->code, sizeof err->code, "HTTP_%ld", status);
    if (body && body_len)
        cm_log_excerpt (body, body_len, 300, err->message, sizeof err->message);
    else
        err->message[0] = '\0';
    s_parse_error_body (body, body_len, err);

    if (status == 401)
        return SF_CALL_REAUTH;
    if (status == 403 && strcmp (err->code, "REQUEST_LIMIT_EXCEEDED") == 0)
        //  TotalRequests is the rolling 24-hour allowance: waiting minutes does not help.
        //  ConcurrentRequests (and anything else) clears with a backoff.
        return strstr (err->message, "TotalRequests") ? SF_CALL_PAUSED : SF_CALL_RETRY;
    if (status == 408 || status == 420 || status == 429 || status >= 500)
        return SF_CALL_RETRY;
    return SF_CALL_PERMANENT;
}

int
sf_limit_info_parse (const char *value, long *used, long *max)
{
    assert (used && max);
    if (!value)
        return -1;
    //  "api-usage=18/15000", possibly among other parts ("per-app-api-usage=..."), so
    //  the match must start the value or follow a separator
    const char *key = "api-usage=";
    for (const char *p = strstr (value, key); p; p = strstr (p + 1, key)) {
        if (p != value && p[-1] != ' ' && p[-1] != ',' && p[-1] != ';')
            continue;
        const char *s = p + strlen (key);
        if (!isdigit ((unsigned char)*s))
            return -1;
        char *end;
        errno = 0;
        long u = strtol (s, &end, 10);
        if (errno || *end != '/' || !isdigit ((unsigned char)end[1]))
            return -1;
        s = end + 1;
        long m = strtol (s, &end, 10);
        if (errno || (*end && *end != ' ' && *end != ',' && *end != ';'))
            return -1;
        *used = u;
        *max = m;
        return 0;
    }
    return -1;
}

static void
s_record_usage (sf_org_t *self, const char *limit_info)
{
    long used, max;
    if (sf_limit_info_parse (limit_info, &used, &max) != 0)
        return;
    self->usage_used = used;
    self->usage_max = max;
    bool high = max > 0 && used * 100 >= max * SF_ORG_USAGE_WARN_PCT;
    if (high && !self->usage_warned)
        cm_warn ("LDR_API_USAGE_HIGH", "org=%s used=%ld max=%ld", self->name, used, max);
    self->usage_warned = high;
}

sf_call_result_t
sf_org_call (sf_org_t *self, const char *method, const char *path, const char *body,
             size_t body_len, cm_http_response_t *resp, sf_error_t *err)
{
    assert (self && method && path && *path == '/' && resp && err);
    memset (err, 0, sizeof *err);
    err->retry_after_s = -1;
    memset (resp, 0, sizeof *resp);
    resp->retry_after_s = -1;

    int64_t now = cm_mono_ms ();
    if (self->paused_until_ms > now) {
        snprintf (err->code, sizeof err->code, "REQUEST_LIMIT_EXCEEDED");
        snprintf (err->message, sizeof err->message,
                  "org paused after TotalRequests refusal for another %lld s",
                  (long long)((self->paused_until_ms - now + 999) / 1000));
        return SF_CALL_PAUSED;
    }
    for (int round = 0; round < 2; round++) {
        const char *token, *instance;
        char why[sizeof err->message];
        sf_auth_result_t auth =
            sf_auth_get (self->auth, self->http, &token, &instance, why, sizeof why);
        if (auth != SF_AUTH_OK) {
            snprintf (err->code, sizeof err->code, "%s",
                      auth == SF_AUTH_REJECTED ? "AUTH_REJECTED" : "AUTH_UNAVAILABLE");
            snprintf (err->message, sizeof err->message, "%s", why);
            //  No data call was made: the records wait for the org without spending attempts
            return SF_CALL_STOPPED;
        }
        char url[SF_ORG_MAX_URL];
        int n =
            snprintf (url, sizeof url, "%s/services/data/v%s%s", instance, self->api_version, path);
        if (n < 0 || (size_t)n >= sizeof url) {
            snprintf (err->code, sizeof err->code, "URL_TOO_LONG");
            snprintf (err->message, sizeof err->message, "request URL over %d bytes",
                      SF_ORG_MAX_URL);
            return SF_CALL_PERMANENT;
        }
        //  Built from the current token on every call: a token captured once goes stale
        char *authz = NULL;
        if (asprintf (&authz, "Authorization: Bearer %s", token) < 0) {
            snprintf (err->code, sizeof err->code, "OUT_OF_MEMORY");
            return SF_CALL_RETRY;
        }
        const char *headers[] = {authz, "Content-Type: application/json",
                                 "Accept: application/json", NULL};
        cm_http_request_t req = {.method = method,
                                 .url = url,
                                 .headers = headers,
                                 .body = body,
                                 .body_len = body ? body_len : 0};
        if (round > 0)
            cm_http_response_clear (resp);
        int rc = cm_http_perform (self->http, &req, resp);
        sodium_memzero (authz, strlen (authz));
        free (authz);
        self->api_calls++;
        s_record_usage (self, resp->limit_info);
        err->retry_after_s = resp->retry_after_s;
        if (rc != 0) {
            snprintf (err->code, sizeof err->code, "%s",
                      resp->timed_out ? "HTTP_TIMEOUT"
                      : resp->too_big ? "HTTP_TOO_BIG"
                                      : "HTTP_TRANSPORT");
            snprintf (err->message, sizeof err->message, "%s", resp->error);
            sf_call_classify (0, NULL, 0, err);
            //  An oversized answer will be oversized again, but the records are fine and
            //  upsert is idempotent: retry, then dead-letter as retryable
            return SF_CALL_RETRY;
        }
        sf_call_result_t result = sf_call_classify (resp->status, resp->body, resp->body_len, err);
        if (result == SF_CALL_REAUTH) {
            sf_auth_invalidate (self->auth);
            if (round == 0) {
                cm_info ("LDR_REAUTH", "org=%s code=%s", self->name, err->code);
                continue;
            }
            return SF_CALL_RETRY;
        }
        if (result == SF_CALL_PAUSED) {
            self->paused_until_ms = cm_mono_ms () + self->pause_ms;
            cm_error ("LDR_ORG_PAUSED", "org=%s code=%s resume_in_s=%lld used=%ld max=%ld",
                      self->name, err->code, (long long)(self->pause_ms / 1000), self->usage_used,
                      self->usage_max);
        }
        return result;
    }
    return SF_CALL_RETRY; //  not reached
}

int64_t
sf_org_blocked_until_ms (const sf_org_t *self)
{
    assert (self);
    int64_t until = self->paused_until_ms;
    int64_t auth = sf_auth_retry_at_ms (self->auth);
    if (auth > until)
        until = auth;
    return until > cm_mono_ms () ? until : 0;
}

const char *
sf_org_name (const sf_org_t *self)
{
    assert (self);
    return self->name;
}

uint64_t
sf_org_api_calls (const sf_org_t *self)
{
    assert (self);
    return self->api_calls;
}

uint64_t
sf_org_token_requests (const sf_org_t *self)
{
    assert (self);
    return sf_auth_token_requests (self->auth);
}

void
sf_org_api_usage (const sf_org_t *self, long *used, long *max)
{
    assert (self && used && max);
    *used = self->usage_used;
    *max = self->usage_max;
}

void
sf_org_set_pause_ms (sf_org_t *self, int64_t pause_ms, int64_t reject_backoff_ms)
{
    assert (self);
    self->pause_ms = pause_ms;
    sf_auth_set_reject_backoff_ms (self->auth, reject_backoff_ms);
}
