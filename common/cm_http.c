/*  cm_http: HTTP client on a reused libcurl easy handle. See cm_http.h.
    TLS verification is always on. Response bodies are capped in the write callback;
    Retry-After, Sforce-Limit-Info, WWW-Authenticate and Content-Type are captured in the
    header callback. Bodies are never logged (token requests carry secrets). */
#include "cm_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cm_log.h"
#include "cm_time.h"

#define CM_HTTP_HEADER_MAX      1024  /* captured header values are cut at this length */
#define CM_HTTP_RETRY_AFTER_MAX 86400 /* a Retry-After beyond a day is taken as a day */

struct cm_http_t {
    CURL *curl;      /* easy handle, reused so connections stay alive */
    size_t max_body; /* response body cap in bytes */
    long timeout_ms; /* per-request timeout */
};

/*  State of one transfer, shared with the callbacks. */
typedef struct {
    cm_http_response_t *resp; /* where headers and body go */
    size_t max_body;          /* cap */
    size_t cap;               /* allocated body bytes */
} transfer_t;

static pthread_once_t s_global_once = PTHREAD_ONCE_INIT;
static int s_global_rc = 0;

static void
global_init (void)
{
    s_global_rc = curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
    if (sodium_init () < 0)
        s_global_rc = -1;
}

cm_http_t *
cm_http_new (size_t max_body, long timeout_ms)
{
    pthread_once (&s_global_once, global_init);
    if (s_global_rc != 0)
        return NULL;
    cm_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->curl = curl_easy_init ();
    if (!self->curl) {
        free (self);
        return NULL;
    }
    /*  Bounded so that max_body + 1 (the NUL) can never overflow. */
    self->max_body = max_body == 0 ? 1 : max_body > SIZE_MAX / 2 ? SIZE_MAX / 2 : max_body;
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    return self;
}

void
cm_http_destroy (cm_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    curl_easy_cleanup ((*self_p)->curl);
    free (*self_p);
    *self_p = NULL;
}

void
cm_http_response_clear (cm_http_response_t *resp)
{
    if (!resp)
        return;
    free (resp->body);
    free (resp->content_type);
    free (resp->limit_info);
    free (resp->www_authenticate);
    memset (resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
}

static size_t
on_body (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *t = userdata;
    cm_http_response_t *resp = t->resp;
    size_t n = size * nmemb;
    if (n > t->max_body - resp->body_len) {
        resp->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (resp->body_len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 16384;
        while (cap < resp->body_len + n + 1)
            cap *= 2;
        if (cap > t->max_body + 1)
            cap = t->max_body + 1;
        char *grown = realloc (resp->body, cap);
        if (!grown)
            return 0;
        resp->body = grown;
        t->cap = cap;
    }
    memcpy (resp->body + resp->body_len, ptr, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    return n;
}

/*  Copies a header value without surrounding whitespace, capped. */
static char *
header_value (const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && isspace ((unsigned char)v[len - 1]))
        len--;
    if (len > CM_HTTP_HEADER_MAX)
        len = CM_HTTP_HEADER_MAX;
    char *out = malloc (len + 1);
    if (out) {
        memcpy (out, v, len);
        out[len] = '\0';
    }
    return out;
}

/*  Retry-After: delta-seconds, or an HTTP-date turned into seconds from now. */
static long
parse_retry_after (const char *text)
{
    if (!text || !*text)
        return -1;
    const char *p = text;
    if (isdigit ((unsigned char)*p)) {
        long v = 0;
        for (; isdigit ((unsigned char)*p); p++) {
            v = v * 10 + (*p - '0');
            if (v > CM_HTTP_RETRY_AFTER_MAX)
                v = CM_HTTP_RETRY_AFTER_MAX;
        }
        return *p == '\0' ? v : -1;
    }
    time_t when = curl_getdate (text, NULL);
    if (when < 0)
        return -1;
    long delta = (long)(when - time (NULL));
    if (delta < 0)
        delta = 0;
    return delta > CM_HTTP_RETRY_AFTER_MAX ? CM_HTTP_RETRY_AFTER_MAX : delta;
}

static void
replace (char **slot, char *value)
{
    free (*slot);
    *slot = value;
}

static size_t
on_header (char *buffer, size_t size, size_t nitems, void *userdata)
{
    transfer_t *t = userdata;
    cm_http_response_t *resp = t->resp;
    size_t n = size * nitems;
    /*  A new status line (after 100 Continue or an informational response) starts over. */
    if (n >= 5 && strncasecmp (buffer, "HTTP/", 5) == 0) {
        replace (&resp->content_type, NULL);
        replace (&resp->limit_info, NULL);
        replace (&resp->www_authenticate, NULL);
        resp->retry_after_s = -1;
        return n;
    }
    const char *colon = memchr (buffer, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - buffer);
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
#define IS(name) (nlen == strlen (name) && strncasecmp (buffer, name, nlen) == 0)
    if (IS ("Content-Type"))
        replace (&resp->content_type, header_value (v, vlen));
    else if (IS ("Sforce-Limit-Info"))
        replace (&resp->limit_info, header_value (v, vlen));
    else if (IS ("WWW-Authenticate"))
        replace (&resp->www_authenticate, header_value (v, vlen));
    else if (IS ("Retry-After")) {
        char *text = header_value (v, vlen);
        resp->retry_after_s = parse_retry_after (text);
        free (text);
    }
#undef IS
    return n;
}

/*  Writes "scheme://host/path" of url (no query, no fragment, no userinfo) for logs. */
static void
url_for_log (const char *url, char *out, size_t cap)
{
    size_t len = strcspn (url, "?#");
    const char *auth = strstr (url, "://");
    if (auth && (size_t)(auth - url) < len) {
        auth += 3;
        size_t alen = strcspn (auth, "/?#");
        const char *host = auth;
        for (size_t i = 0; i < alen; i++)
            if (auth[i] == '@')
                host = auth + i + 1;
        snprintf (out, cap, "%.*s%.*s", (int)(auth - url), url, (int)(len - (size_t)(host - url)),
                  host);
    } else
        snprintf (out, cap, "%.*s", (int)len, url);
}

int
cm_http_perform (cm_http_t *self, const cm_http_request_t *req, cm_http_response_t *resp)
{
    memset (resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    CURL *c = self->curl;
    struct curl_slist *headers = NULL;
    int rc = -1;
    char curl_err[CURL_ERROR_SIZE] = "";
    transfer_t t = {.resp = resp, .max_body = self->max_body};
    const char *method = req->method ? req->method : "GET";
    char shown[256];
    url_for_log (req->url ? req->url : "", shown, sizeof shown);

    /*  Reset drops the previous request's options but keeps live connections. */
    curl_easy_reset (c);
    bool ok = curl_easy_setopt (c, CURLOPT_URL, req->url ? req->url : "") == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, self->timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS,
                            self->timeout_ms < 10000 ? self->timeout_ms : 10000L) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)self->max_body) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_ERRORBUFFER, curl_err) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_WRITEDATA, &t) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt (c, CURLOPT_HEADERDATA, &t) == CURLE_OK;
    if (strcmp (method, "GET") == 0)
        ok &= curl_easy_setopt (c, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    else if (strcmp (method, "HEAD") == 0)
        ok &= curl_easy_setopt (c, CURLOPT_NOBODY, 1L) == CURLE_OK;
    else {
        if (strcmp (method, "POST") == 0)
            ok &= curl_easy_setopt (c, CURLOPT_POST, 1L) == CURLE_OK;
        else
            ok &= curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
        if (req->body || strcmp (method, "DELETE") != 0) {
            ok &= curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE,
                                    (curl_off_t)(req->body ? req->body_len : 0)) == CURLE_OK;
            ok &= curl_easy_setopt (c, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK;
        }
    }
    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *next = curl_slist_append (headers, *h);
        if (!next) {
            ok = false;
            break;
        }
        headers = next;
    }
    /*  No "Expect: 100-continue" round trip for large bodies. */
    struct curl_slist *next = curl_slist_append (headers, "Expect:");
    if (next)
        headers = next;
    else
        ok = false;
    ok &= curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    if (req->basic_user) {
        ok &= curl_easy_setopt (c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK;
        ok &= curl_easy_setopt (c, CURLOPT_USERNAME, req->basic_user) == CURLE_OK;
        ok &= curl_easy_setopt (c, CURLOPT_PASSWORD, req->basic_pass ? req->basic_pass : "") ==
              CURLE_OK;
    }
    if (!ok) {
        snprintf (resp->error, sizeof resp->error, "cannot set up %.16s %.160s", method, shown);
        goto out;
    }
    int64_t started = cm_mono_ms ();
    CURLcode cc = curl_easy_perform (c);
    long elapsed = (long)(cm_mono_ms () - started);
    if (cc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        if (!resp->body) {
            resp->body = calloc (1, 1);
            if (!resp->body) {
                resp->status = 0;
                snprintf (resp->error, sizeof resp->error, "out of memory");
                goto out;
            }
        }
        cm_debug ("HTTP_DONE", "method=%s url=%s status=%ld bytes=%zu ms=%ld", method, shown,
                  status, resp->body_len, elapsed);
        rc = 0;
        goto out;
    }
    resp->status = 0;
    if (resp->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        resp->too_big = true;
        snprintf (resp->error, sizeof resp->error, "response body larger than %zu bytes",
                  self->max_body);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        resp->timed_out = true;
        snprintf (resp->error, sizeof resp->error, "timed out after %ld ms", elapsed);
    } else
        /*  curl's error buffer is the more specific text; it already names the failure. */
        snprintf (resp->error, sizeof resp->error, "%s",
                  *curl_err ? curl_err : curl_easy_strerror (cc));
    /*  A failed transfer's partial body is not a response. */
    free (resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    cm_debug ("HTTP_FAILED", "method=%s url=%s ms=%ld error=\"%s\"", method, shown, elapsed,
              resp->error);
out:
    curl_slist_free_all (headers);
    /*  The handle must not keep pointers into this call's stack. */
    curl_easy_setopt (c, CURLOPT_ERRORBUFFER, NULL);
    return rc;
}

bool
cm_http_retryable (int rc, const cm_http_response_t *resp)
{
    if (rc != 0)
        return !resp->too_big;
    switch (resp->status) {
    case 408:
    case 420:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return false;
    }
}

long
cm_backoff_ms (const cm_retry_policy_t *policy, int attempt, long retry_after_s)
{
    long base = policy->base_ms > 0 ? policy->base_ms : 1;
    long max = policy->max_ms > 0 ? policy->max_ms : base;
    if (max > INT32_MAX)
        max = INT32_MAX;
    long cap = base < max ? base : max;
    for (int i = 1; i < attempt && cap < max; i++)
        cap = cap > max / 2 ? max : cap * 2;
    if (cap > max)
        cap = max;
    long delay = (long)randombytes_uniform ((uint32_t)cap + 1);
    if (retry_after_s >= 0) {
        long ra =
            (retry_after_s > CM_HTTP_RETRY_AFTER_MAX ? CM_HTTP_RETRY_AFTER_MAX : retry_after_s) *
            1000;
        if (delay < ra)
            delay = ra;
        long hard = max > ra ? max : ra;
        if (delay > hard)
            delay = hard;
    }
    return delay;
}

int
cm_http_perform_retry (cm_http_t *self, const cm_http_request_t *req, cm_http_response_t *resp,
                       const cm_retry_policy_t *policy, const char *what)
{
    int max_attempts = policy && policy->max_attempts > 0 ? policy->max_attempts : 1;
    cm_retry_policy_t fallback = {.max_attempts = 1, .base_ms = 200, .max_ms = 30000};
    if (!policy)
        policy = &fallback;
    for (int attempt = 1;; attempt++) {
        int rc = cm_http_perform (self, req, resp);
        if (attempt >= max_attempts || !cm_http_retryable (rc, resp))
            return rc;
        long delay = cm_backoff_ms (policy, attempt, resp->retry_after_s);
        if (resp->status == 0) {
            char reason[160];
            cm_log_excerpt (resp->error, strlen (resp->error), 120, reason, sizeof reason);
            cm_warn ("HTTP_RETRY", "what=%s attempt=%d status=0 delay_ms=%ld error=\"%s\"",
                     what ? what : "http", attempt, delay, reason);
        } else
            cm_warn ("HTTP_RETRY", "what=%s attempt=%d status=%ld delay_ms=%ld",
                     what ? what : "http", attempt, resp->status, delay);
        /*  A stop request ends the wait; the last response stays for the caller. */
        if (cm_sleep_ms (delay) != 0)
            return rc;
        cm_http_response_clear (resp);
    }
}

char *
cm_http_form_encode (const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen (s);
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc (len * 3 + 1);
    if (!out)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum (*p) || *p == '-' || *p == '.' || *p == '_')
            out[o++] = (char)*p;
        else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 0x0f];
        }
    }
    out[o] = '\0';
    return out;
}

/*  Splits url into scheme (lower-cased) and host; 0 or -1 when it is not a usable URL. */
static int
url_host (const char *url, char *scheme, size_t scap, char *host, size_t hcap)
{
    if (!url)
        return -1;
    const char *sep = strstr (url, "://");
    if (!sep || (size_t)(sep - url) >= scap || sep == url)
        return -1;
    for (size_t i = 0; i < (size_t)(sep - url); i++)
        scheme[i] = (char)tolower ((unsigned char)url[i]);
    scheme[sep - url] = '\0';
    const char *auth = sep + 3;
    size_t alen = strcspn (auth, "/?#");
    /*  The host follows the last '@' of the authority (userinfo can hide a host name). */
    const char *h = auth;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            h = auth + i + 1;
    size_t hlen = alen - (size_t)(h - auth);
    if (hlen == 0)
        return -1;
    if (*h == '[') {
        const char *close = memchr (h, ']', hlen);
        if (!close)
            return -1;
        size_t inner = (size_t)(close - h - 1);
        if (inner == 0 || inner >= hcap)
            return -1;
        memcpy (host, h + 1, inner);
        host[inner] = '\0';
        const char *rest = close + 1;
        if (rest < h + hlen && *rest != ':')
            return -1;
        /*  The port after "]:" is digits, as for a plain host below. */
        for (const char *p = rest + 1; p < h + hlen; p++)
            if (!isdigit ((unsigned char)*p))
                return -1;
        return 0;
    }
    const char *colon = memchr (h, ':', hlen);
    size_t name_len = colon ? (size_t)(colon - h) : hlen;
    if (colon)
        for (const char *p = colon + 1; p < h + hlen; p++)
            if (!isdigit ((unsigned char)*p))
                return -1;
    if (name_len == 0 || name_len >= hcap)
        return -1;
    memcpy (host, h, name_len);
    host[name_len] = '\0';
    return 0;
}

bool
cm_http_url_is_loopback (const char *url)
{
    char scheme[16], host[256];
    if (url_host (url, scheme, sizeof scheme, host, sizeof host) != 0)
        return false;
    if (strcmp (scheme, "http") != 0 && strcmp (scheme, "https") != 0)
        return false;
    if (strcasecmp (host, "localhost") == 0 || strcasecmp (host, "localhost.") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton (AF_INET, host, &a4) == 1)
        return (ntohl (a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton (AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&a6);
    return false;
}

static char s_insecure_hosts[1024]; /* ",host1,host2," or "" */

void
cm_http_allow_insecure_hosts (const char *comma_list)
{
    s_insecure_hosts[0] = '\0';
    if (comma_list && *comma_list)
        snprintf (s_insecure_hosts, sizeof s_insecure_hosts, ",%s,", comma_list);
}

static bool
host_allowed_insecure (const char *host)
{
    if (!s_insecure_hosts[0] || !*host || strlen (host) > 250)
        return false;
    char needle[256];
    snprintf (needle, sizeof needle, ",%s,", host);
    return strstr (s_insecure_hosts, needle) != NULL;
}

int
cm_http_check_url (const char *url, bool allow_http, char *err, size_t err_cap)
{
    char scheme[16], host[256], shown[160];
    cm_log_excerpt (url ? url : "", url ? strlen (url) : 0, 120, shown, sizeof shown);
    if (!url || !*url) {
        snprintf (err, err_cap, "empty URL");
        return -1;
    }
    if (url_host (url, scheme, sizeof scheme, host, sizeof host) != 0) {
        snprintf (err, err_cap, "URL '%s': expected scheme://host[:port]/...", shown);
        return -1;
    }
    if (strcmp (scheme, "https") == 0)
        return 0;
    if (strcmp (scheme, "http") != 0) {
        snprintf (err, err_cap, "URL '%s': scheme must be https", shown);
        return -1;
    }
    if (!allow_http) {
        snprintf (err, err_cap,
                  "URL '%s': plain http is not allowed (use https, or set "
                  "allow_http for a loopback test server)",
                  shown);
        return -1;
    }
    if (!cm_http_url_is_loopback (url) && !host_allowed_insecure (host)) {
        snprintf (err, err_cap,
                  "URL '%s': plain http is allowed only to a loopback host or one named in "
                  "http.insecure_hosts",
                  shown);
        return -1;
    }
    return 0;
}
