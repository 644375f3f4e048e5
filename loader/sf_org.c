/*  sf_org: one Salesforce org: token, HTTP client, API usage, pause state. See sf_org.h. */
#include "sf_org.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "cm_log.h"
#include "cm_time.h"

#define SF_ORG_MAX_URL         2048  /* longest request URL we build */
#define SF_ORG_ERROR_PARSE_MAX 65536 /* error bodies longer than this are not parsed */

struct sf_org_t {
    pthread_mutex_t lock;      /* guards the pause state, the counters, auth_retry_at_ms */
    pthread_mutex_t auth_lock; /* guards auth: held during a token request */
    char *name;                /* for logs */
    char *api_version;         /* "62.0" */
    sf_auth_t *auth;           /* the org's token */
    cm_http_t *http;           /* the org's own client, for sf_org_call */
    int64_t paused_until_ms;   /* mono ms: end of a pause, 0 = not paused */
    int64_t pause_ms;          /* how long a pause lasts */
    int slowdown_pct;          /* usage share that slows calls, 0 = never */
    int pause_pct;             /* usage share that pauses, 0 = never */
    int64_t slowdown_ms;       /* spacing of calls while slowed */
    int64_t next_turn_ms;      /* slowed: mono ms of the next call's turn */
    sf_org_stats_t stats;      /* counters and the last usage */
    int64_t auth_retry_at_ms;  /* sf_auth_retry_at_ms, copied under lock (0 = open) */
    bool auth_failed;          /* the last token request failed: the org is stopped */
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
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->auth_lock, NULL);
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
    self->pause_ms = config->pause_ms > 0 ? config->pause_ms : SF_ORG_PAUSE_MS;
    self->slowdown_pct = config->slowdown_pct > 0 ? config->slowdown_pct : 0;
    self->pause_pct = config->pause_pct > 0 ? config->pause_pct : 0;
    self->slowdown_ms = config->slowdown_ms > 0 ? config->slowdown_ms : 0;
    self->stats.usage_used = -1;
    self->stats.usage_max = -1;
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
    pthread_mutex_destroy (&self->lock);
    pthread_mutex_destroy (&self->auth_lock);
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

#define SF_LIMIT_INFO_MAX 1000000000000L /* larger api-usage numbers are refused */

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
        //  A real allowance is millions; a hostile value must not overflow used * 100
        if (u > SF_LIMIT_INFO_MAX || m > SF_LIMIT_INFO_MAX)
            return -1;
        *used = u;
        *max = m;
        return 0;
    }
    return -1;
}

//  Pauses the org (lock held) unless it already is; logs once per pause.
static void
s_pause (sf_org_t *self, int64_t now, const char *reason)
{
    if (self->paused_until_ms > now)
        return;
    self->paused_until_ms = now + self->pause_ms;
    self->stats.pauses++;
    cm_error ("LDR_ORG_PAUSED", "org=%s reason=%s resume_in_s=%lld used=%ld max=%ld pauses=%llu",
              self->name, reason, (long long)((self->pause_ms + 999) / 1000),
              self->stats.usage_used, self->stats.usage_max,
              (unsigned long long)self->stats.pauses);
}

//  Reads a response's Sforce-Limit-Info (lock held): slows or pauses the org.
static void
s_record_usage (sf_org_t *self, const char *limit_info, int64_t now)
{
    long used, max;
    if (sf_limit_info_parse (limit_info, &used, &max) != 0)
        return;
    self->stats.usage_used = used;
    self->stats.usage_max = max;
    if (max <= 0)
        return;
    long long scaled = (long long)used * 100;
    bool slowed = self->slowdown_pct > 0 && scaled >= (long long)max * self->slowdown_pct;
    if (slowed && !self->stats.slowed) {
        self->stats.slowdowns++;
        cm_warn ("LDR_ORG_SLOWDOWN", "org=%s used=%ld max=%ld share_pct=%d spacing_ms=%lld",
                 self->name, used, max, self->slowdown_pct, (long long)self->slowdown_ms);
    } else if (!slowed && self->stats.slowed)
        cm_info ("LDR_ORG_SLOWDOWN_END", "org=%s used=%ld max=%ld", self->name, used, max);
    self->stats.slowed = slowed;
    if (self->pause_pct > 0 && scaled >= (long long)max * self->pause_pct)
        s_pause (self, now, "usage");
}

//  Fills err for a call refused locally because the org is paused (lock held).
static sf_call_result_t
s_paused (const sf_org_t *self, int64_t now, sf_error_t *err)
{
    snprintf (err->code, sizeof err->code, "REQUEST_LIMIT_EXCEEDED");
    snprintf (err->message, sizeof err->message,
              "org %s paused near or at its daily API allowance for another %lld s", self->name,
              (long long)((self->paused_until_ms - now + 999) / 1000));
    return SF_CALL_PAUSED;
}

sf_call_result_t
sf_org_request (sf_org_t *self, cm_http_t *http, const sf_request_t *req, cm_http_response_t *resp,
                sf_error_t *err)
{
    assert (self && http && req && req->method && req->path && *req->path == '/' && resp && err);
    memset (err, 0, sizeof *err);
    err->retry_after_s = -1;
    memset (resp, 0, sizeof *resp);
    resp->retry_after_s = -1;

    for (int round = 0; round < 2; round++) {
        pthread_mutex_lock (&self->lock);
        int64_t now = cm_mono_ms ();
        if (self->paused_until_ms > now) {
            sf_call_result_t r = s_paused (self, now, err);
            pthread_mutex_unlock (&self->lock);
            return r;
        }
        pthread_mutex_unlock (&self->lock);

        //  Under the auth lock: one login per org however many threads need the token. The
        //  state lock stays free meanwhile, so the loader's thread never waits for a login.
        const char *token, *instance;
        char why[sizeof err->message];
        pthread_mutex_lock (&self->auth_lock);
        sf_auth_result_t auth = sf_auth_get (self->auth, http, &token, &instance, why, sizeof why);
        uint64_t logins = sf_auth_token_requests (self->auth);
        int64_t retry_at = sf_auth_retry_at_ms (self->auth);
        char url[SF_ORG_MAX_URL];
        int n = -1;
        //  Built from the current token on every call: a token captured once goes stale
        char *authz = NULL;
        if (auth == SF_AUTH_OK) {
            n = snprintf (url, sizeof url, "%s/services/data/v%s%s", instance, self->api_version,
                          req->path);
            if (asprintf (&authz, "Authorization: Bearer %s", token) < 0)
                authz = NULL;
        }
        pthread_mutex_unlock (&self->auth_lock);

        pthread_mutex_lock (&self->lock);
        self->stats.token_requests = logins;
        self->auth_retry_at_ms = retry_at;
        self->auth_failed = auth != SF_AUTH_OK;
        if (auth != SF_AUTH_OK) {
            pthread_mutex_unlock (&self->lock);
            snprintf (err->code, sizeof err->code, "%s",
                      auth == SF_AUTH_REJECTED ? "AUTH_REJECTED" : "AUTH_UNAVAILABLE");
            snprintf (err->message, sizeof err->message, "%s", why);
            //  No data call was made: the records wait for the org without spending attempts
            return SF_CALL_STOPPED;
        }
        now = cm_mono_ms ();
        int64_t wait = 0;
        if (self->stats.slowed && self->slowdown_ms > 0) {
            int64_t turn = self->next_turn_ms > now ? self->next_turn_ms : now;
            self->next_turn_ms = turn + self->slowdown_ms;
            wait = turn - now;
            if (wait > 0)
                self->stats.delayed_calls++;
        }
        pthread_mutex_unlock (&self->lock);
        if (n < 0 || (size_t)n >= sizeof url) {
            if (authz) {
                sodium_memzero (authz, strlen (authz));
                free (authz);
            }
            snprintf (err->code, sizeof err->code, "URL_TOO_LONG");
            snprintf (err->message, sizeof err->message, "request URL over %d bytes",
                      SF_ORG_MAX_URL);
            return SF_CALL_PERMANENT;
        }
        if (!authz) {
            snprintf (err->code, sizeof err->code, "OUT_OF_MEMORY");
            return SF_CALL_RETRY;
        }
        if (wait > 0)
            cm_sleep_ms (wait);
        char ctype[128], accept[128];
        snprintf (ctype, sizeof ctype, "Content-Type: %s",
                  req->content_type ? req->content_type : "application/json");
        snprintf (accept, sizeof accept, "Accept: %s",
                  req->accept ? req->accept : "application/json");
        const char *headers[] = {authz, ctype, accept, NULL};
        cm_http_request_t hreq = {.method = req->method,
                                  .url = url,
                                  .headers = headers,
                                  .body = req->body,
                                  .body_len = req->body ? req->body_len : 0};
        if (round > 0)
            cm_http_response_clear (resp);
        int rc = cm_http_perform (http, &hreq, resp);
        //  The token as sent, for a 401: only that token is dropped
        const char *sent = authz + strlen ("Authorization: Bearer ");

        pthread_mutex_lock (&self->lock);
        now = cm_mono_ms ();
        self->stats.api_calls++;
        err->retry_after_s = resp->retry_after_s;
        sf_call_result_t result;
        if (rc != 0) {
            snprintf (err->code, sizeof err->code, "%s",
                      resp->timed_out ? "HTTP_TIMEOUT"
                      : resp->too_big ? "HTTP_TOO_BIG"
                                      : "HTTP_TRANSPORT");
            snprintf (err->message, sizeof err->message, "%s", resp->error);
            sf_call_classify (0, NULL, 0, err);
            //  An oversized answer will be oversized again, but the records are fine and
            //  upsert is idempotent: retry, then dead-letter as retryable
            result = SF_CALL_RETRY;
        } else
            result = sf_call_classify (resp->status, resp->body, resp->body_len, err);
        if (result == SF_CALL_REAUTH)
            self->stats.reauths++;
        else if (result == SF_CALL_PAUSED) {
            self->stats.limit_refusals++;
            s_pause (self, now, "TotalRequests");
        }
        //  After the refusal's own pause, so the log says why
        s_record_usage (self, resp->limit_info, now);
        pthread_mutex_unlock (&self->lock);
        if (result == SF_CALL_REAUTH) {
            pthread_mutex_lock (&self->auth_lock);
            sf_auth_invalidate_token (self->auth, sent);
            pthread_mutex_unlock (&self->auth_lock);
        }
        sodium_memzero (authz, strlen (authz));
        free (authz);
        if (result == SF_CALL_REAUTH) {
            if (round == 0) {
                cm_info ("LDR_REAUTH", "org=%s code=%s", self->name, err->code);
                continue;
            }
            return SF_CALL_RETRY;
        }
        return result;
    }
    return SF_CALL_RETRY; //  not reached
}

sf_call_result_t
sf_org_call (sf_org_t *self, const char *method, const char *path, const char *body,
             size_t body_len, cm_http_response_t *resp, sf_error_t *err)
{
    assert (self);
    sf_request_t req = {.method = method, .path = path, .body = body, .body_len = body_len};
    return sf_org_request (self, self->http, &req, resp, err);
}

int64_t
sf_org_blocked_until_ms (const sf_org_t *self)
{
    assert (self);
    sf_org_t *org = (sf_org_t *)self; //  the lock is not part of the value
    pthread_mutex_lock (&org->lock);
    int64_t until = self->paused_until_ms;
    int64_t auth = self->auth_retry_at_ms;
    pthread_mutex_unlock (&org->lock);
    if (auth > until)
        until = auth;
    return until > cm_mono_ms () ? until : 0;
}

bool
sf_org_stopped (const sf_org_t *self)
{
    assert (self);
    sf_org_t *org = (sf_org_t *)self; //  the lock is not part of the value
    pthread_mutex_lock (&org->lock);
    bool stopped = self->auth_failed;
    pthread_mutex_unlock (&org->lock);
    return stopped;
}

const char *
sf_org_name (const sf_org_t *self)
{
    assert (self);
    return self->name;
}

const char *
sf_org_api_version (const sf_org_t *self)
{
    assert (self);
    return self->api_version;
}

const char *
sf_org_url (const sf_org_t *self)
{
    assert (self);
    return sf_auth_url (self->auth);
}

void
sf_org_stats (const sf_org_t *self, sf_org_stats_t *stats)
{
    assert (self && stats);
    sf_org_t *org = (sf_org_t *)self;
    pthread_mutex_lock (&org->lock);
    *stats = self->stats;
    pthread_mutex_unlock (&org->lock);
    stats->blocked_until_ms = sf_org_blocked_until_ms (self);
}

bool
sf_org_slowed (const sf_org_t *self)
{
    sf_org_stats_t st;
    sf_org_stats (self, &st);
    return st.slowed;
}

uint64_t
sf_org_api_calls (const sf_org_t *self)
{
    sf_org_stats_t st;
    sf_org_stats (self, &st);
    return st.api_calls;
}

uint64_t
sf_org_token_requests (const sf_org_t *self)
{
    sf_org_stats_t st;
    sf_org_stats (self, &st);
    return st.token_requests;
}

void
sf_org_api_usage (const sf_org_t *self, long *used, long *max)
{
    assert (self && used && max);
    sf_org_stats_t st;
    sf_org_stats (self, &st);
    *used = st.usage_used;
    *max = st.usage_max;
}

void
sf_org_set_pause_ms (sf_org_t *self, int64_t pause_ms, int64_t reject_backoff_ms)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    self->pause_ms = pause_ms;
    pthread_mutex_unlock (&self->lock);
    pthread_mutex_lock (&self->auth_lock);
    sf_auth_set_reject_backoff_ms (self->auth, reject_backoff_ms);
    pthread_mutex_unlock (&self->auth_lock);
}
