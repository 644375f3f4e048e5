/*  cm_oauth: OAuth 2.0 token requests. See cm_oauth.h.
    The request body carries credentials, so it is never logged or echoed; failures report
    the server's error and error_description only. Token text is wiped before it is freed. */
#include "cm_oauth.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_time.h"

#define CM_OAUTH_MAX_TOKEN (16 * 1024)          /* longer token strings are refused */
#define CM_OAUTH_MAX_TTL_S (10LL * 365 * 86400) /* expires_in beyond ten years is capped */

static void
wipe_free (char *s)
{
    if (s) {
        sodium_memzero (s, strlen (s));
        free (s);
    }
}

void
cm_token_clear (cm_token_t *token)
{
    if (!token)
        return;
    wipe_free (token->access_token);
    wipe_free (token->refresh_token);
    free (token->instance_url);
    memset (token, 0, sizeof *token);
}

bool
cm_token_fresh (const cm_token_t *token, int64_t margin_ms)
{
    return token && token->access_token && *token->access_token &&
           cm_mono_ms () + margin_ms < token->expires_at_ms;
}

/*  The URL without query or fragment, for messages. */
static void
url_path (const char *url, char *out, size_t cap)
{
    const char *auth = strstr (url, "://");
    const char *from = url;
    if (auth) {
        /*  Drop userinfo: keep scheme, then what follows the last '@' of the authority. */
        size_t alen = strcspn (auth + 3, "/?#");
        for (size_t i = 0; i < alen; i++)
            if (auth[3 + i] == '@')
                from = auth + 3 + i + 1;
    }
    size_t len = strcspn (from, "?#");
    if (from != url)
        snprintf (out, cap, "%.*s%.*s", (int)(auth + 3 - url), url, (int)len, from);
    else
        snprintf (out, cap, "%.*s", (int)len, url);
}

/*  Wipes a string member of a parsed token response (it may hold a token). */
static void
wipe_item (cJSON *root, const char *name)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive (root, name);
    if (cJSON_IsString (item) && item->valuestring)
        sodium_memzero (item->valuestring, strlen (item->valuestring));
}

/*  expires_in as a number or a numeric string. Returns 0, 1 when absent, -1 if invalid. */
static int
read_expires_in (const cJSON *root, int64_t *ttl_s)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (root, "expires_in");
    if (!item || cJSON_IsNull (item))
        return 1;
    double v;
    if (cJSON_IsNumber (item))
        v = item->valuedouble;
    else if (cJSON_IsString (item) && item->valuestring) {
        const char *s = item->valuestring;
        if (!*s || strlen (s) > 20)
            return -1;
        for (const char *p = s; *p; p++)
            if (!isdigit ((unsigned char)*p))
                return -1;
        errno = 0;
        v = (double)strtoll (s, NULL, 10);
        if (errno)
            return -1;
    } else
        return -1;
    if (!(v >= 0))
        return -1;
    *ttl_s = v > (double)CM_OAUTH_MAX_TTL_S ? CM_OAUTH_MAX_TTL_S : (int64_t)v;
    return 0;
}

/*  Copies an optional string member, capped. Returns 0 (absent: *out NULL) or -1. */
static int
read_opt_str (const cJSON *root, const char *name, char **out)
{
    *out = NULL;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (root, name);
    if (!item || cJSON_IsNull (item))
        return 0;
    if (!cJSON_IsString (item) || !item->valuestring ||
        strlen (item->valuestring) > CM_OAUTH_MAX_TOKEN)
        return -1;
    *out = strdup (item->valuestring);
    return *out ? 0 : -1;
}

/*  "error: error_description" from an OAuth error body, safely excerpted. */
static void
error_text (const cm_http_response_t *resp, char *out, size_t cap)
{
    out[0] = '\0';
    if (!resp->body || resp->body_len == 0)
        return;
    cJSON *root = cJSON_ParseWithLength (resp->body, resp->body_len);
    if (!cJSON_IsObject (root)) {
        cJSON_Delete (root);
        return;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive (root, "error");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive (root, "error_description");
    char es[128] = "", ds[256] = "";
    if (cJSON_IsString (e) && e->valuestring)
        cm_log_excerpt (e->valuestring, strlen (e->valuestring), 100, es, sizeof es);
    if (cJSON_IsString (d) && d->valuestring)
        cm_log_excerpt (d->valuestring, strlen (d->valuestring), 200, ds, sizeof ds);
    if (*es && *ds)
        snprintf (out, cap, "%s: %s", es, ds);
    else if (*es || *ds)
        snprintf (out, cap, "%s", *es ? es : ds);
    cJSON_Delete (root);
}

cm_oauth_result_t
cm_oauth_request (cm_http_t *http, const cm_retry_policy_t *policy, const char *token_url,
                  const char *form_body, const char *basic_user, const char *basic_pass,
                  int64_t default_ttl_s, cm_token_t *token, char *err, size_t err_cap)
{
    cm_oauth_result_t result = CM_OAUTH_MALFORMED;
    cm_http_response_t resp;
    cJSON *root = NULL;
    cm_token_t fresh = {0};
    char where[256];
    url_path (token_url ? token_url : "", where, sizeof where);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", NULL};
    cm_http_request_t req = {.method = "POST",
                             .url = token_url,
                             .headers = headers,
                             .body = form_body ? form_body : "",
                             .body_len = form_body ? strlen (form_body) : 0,
                             .basic_user = basic_user,
                             .basic_pass = basic_pass};
    int rc = cm_http_perform_retry (http, &req, &resp, policy, "oauth_token");
    if (rc != 0) {
        if (resp.too_big) {
            snprintf (err, err_cap, "token request to %s: %s", where, resp.error);
            result = CM_OAUTH_MALFORMED;
        } else {
            snprintf (err, err_cap, "token request to %s failed: %s", where, resp.error);
            result = CM_OAUTH_UNAVAILABLE;
        }
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        char detail[400];
        error_text (&resp, detail, sizeof detail);
        if (cm_http_retryable (rc, &resp)) {
            result = CM_OAUTH_UNAVAILABLE;
            snprintf (err, err_cap, "token endpoint %s unavailable (HTTP %ld)%s%s", where,
                      resp.status, *detail ? ": " : "", detail);
        } else {
            /*  400/401 is the documented refusal; any other final status (403, 404, ...)
                will not change by retrying either. */
            result = CM_OAUTH_REJECTED;
            snprintf (err, err_cap, "token request rejected by %s (HTTP %ld)%s%s", where,
                      resp.status, *detail ? ": " : "", *detail ? detail : "");
        }
        goto out;
    }
    root = cJSON_ParseWithLength (resp.body, resp.body_len);
    if (!cJSON_IsObject (root)) {
        snprintf (err, err_cap, "token response from %s (HTTP %ld) is not a JSON object", where,
                  resp.status);
        goto out;
    }
    const cJSON *at = cJSON_GetObjectItemCaseSensitive (root, "access_token");
    if (!cJSON_IsString (at) || !at->valuestring || !*at->valuestring) {
        snprintf (err, err_cap, "token response from %s has no access_token", where);
        goto out;
    }
    if (strlen (at->valuestring) > CM_OAUTH_MAX_TOKEN) {
        snprintf (err, err_cap, "token response from %s: access_token longer than %d bytes", where,
                  CM_OAUTH_MAX_TOKEN);
        goto out;
    }
    int64_t ttl_s = default_ttl_s;
    int erc = read_expires_in (root, &ttl_s);
    if (erc < 0) {
        snprintf (err, err_cap, "token response from %s: expires_in is not a number", where);
        goto out;
    }
    if (erc == 1)
        ttl_s = default_ttl_s;
    fresh.access_token = strdup (at->valuestring);
    if (!fresh.access_token || read_opt_str (root, "refresh_token", &fresh.refresh_token) != 0 ||
        read_opt_str (root, "instance_url", &fresh.instance_url) != 0) {
        snprintf (err, err_cap, "token response from %s: bad refresh_token or instance_url", where);
        goto out;
    }
    fresh.issued_at_ms = cm_mono_ms ();
    fresh.expires_at_ms = fresh.issued_at_ms + ttl_s * 1000;
    cm_token_clear (token);
    *token = fresh;
    memset (&fresh, 0, sizeof fresh);
    result = CM_OAUTH_OK;
out:
    if (root) {
        wipe_item (root, "access_token");
        wipe_item (root, "refresh_token");
        wipe_item (root, "id_token");
        cJSON_Delete (root);
    }
    if (resp.body)
        sodium_memzero (resp.body, resp.body_len);
    cm_http_response_clear (&resp);
    cm_token_clear (&fresh);
    return result;
}
