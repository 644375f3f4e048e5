/*  cssim_server: simulated ION API Gateway + CSI Mongoose. See cssim_server.h. */
#include "cssim_server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cm_log.h"
#include "cssim_data.h"
#include "cssim_query.h"

#define SECRET_LEN     64     /* random part of ci/cs/saak/sask */
#define TOKEN_LEN      40     /* access/refresh token length */
#define MAX_TOKENS     100000 /* tokens kept per tenant (oldest dropped) */
#define REFRESH_TTL_MS (86400LL * 1000)
#define MAX_FORM_BODY  65536       /* token/revoke request bodies */
#define MAX_ADMIN_BODY (64u << 20) /* admin record bodies */
#define MAX_SEGMENTS   8           /* path segments we route on */
#define MAX_SEGMENT    256         /* bytes per path segment */

typedef struct {
    char value[TOKEN_LEN + 1]; /* the token text */
    int refresh;               /* 1 = refresh token, 0 = access token */
    int64_t expires_ms;        /* monotonic expiry */
    uint32_t family;           /* grant family: revoking a refresh token ends its access tokens */
} token_t;

typedef struct {
    char ti[65];                            /* tenant id */
    char ci[128];                           /* OAuth client id */
    char cs[128];                           /* OAuth client secret */
    char saak[160];                         /* service account access key */
    char sask[128];                         /* service account secret key */
    cssim_table_t *tables[CSSIM_IDO_COUNT]; /* data per IDO */
    token_t *tokens;                        /* live tokens (unordered) */
    size_t ntokens;                         /* used */
    size_t tokens_cap;                      /* allocated */
    uint32_t next_family;                   /* next grant family id */
    long token_requests;                    /* requests to the token endpoint */
    long tokens_issued;                     /* access tokens issued */
    long data_requests;                     /* requests to the IDO endpoint */
    long throttled;                         /* answered 429 */
    long faults_5xx;                        /* answered 500/503/504 */
    long unauthorized;                      /* answered 401 on the IDO endpoint */
    long bad_bodies;                        /* answered 200 with a broken body */
    long denied;                            /* answered "no permission" */
    long revocations;                       /* requests to the revoke endpoint */
} tenant_t;

struct cssim_server_t {
    pthread_mutex_t lock; /* guards everything below */
    tenant_t *tenants;    /* one per --tenant */
    int ntenants;         /* their number */
    double fault_429;     /* rate of 429 answers */
    double fault_5xx;     /* rate of 5xx answers */
    double fault_bad;     /* rate of broken 200 bodies on IDO loads */
    char deny_ido[512];   /* comma list of IDOs the service account may not read */
    int latency_ms;       /* sleep per IDO request */
    int retry_after;      /* Retry-After seconds on 429, -1 = none */
    int token_ttl;        /* seconds for new access tokens */
    char mongoose[128];   /* the one valid X-Infor-MongooseConfig */
    char public_url[201]; /* base URL for .ionapi files, "" = http://127.0.0.1:PORT */
    uint64_t fault_state; /* deterministic fault PRNG */
    uint64_t token_state; /* token PRNG (seeded from the OS) */
};

/* ---------------------------------------------------------------- helpers */

static int64_t
mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
hash_text (const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static uint64_t
prng_next (uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;
    return cssim_mix64 (*state);
}

static void
random_text (uint64_t *state, char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[prng_next (state) % 64];
    out[len] = '\0';
}

static void
json_error (sim_response_t *resp, int status, const char *error, const char *description)
{
    cJSON *o = cJSON_CreateObject ();
    cJSON_AddStringToObject (o, "error", error);
    cJSON_AddStringToObject (o, "error_description", description);
    sim_response_json (resp, status, o);
}

static void
set_body (sim_response_t *resp, int status, char *body, size_t len)
{
    free (resp->body);
    resp->status = status;
    resp->body = body;
    resp->body_len = len;
    snprintf (resp->content_type, sizeof resp->content_type, "application/json;charset=UTF-8");
}

static void
ido_error (sim_response_t *resp, int status, const char *message)
{
    size_t len;
    char *body = cssim_query_error_body (message, &len);
    if (body)
        set_body (resp, status, body, len);
    else
        sim_response_body (resp, 500, "text/plain", "out of memory", 13);
}

static tenant_t *
find_tenant (cssim_server_t *self, const char *ti)
{
    for (int i = 0; i < self->ntenants; i++)
        if (strcmp (self->tenants[i].ti, ti) == 0)
            return &self->tenants[i];
    return NULL;
}

/*  Decodes application/x-www-form-urlencoded text in place ('+' = space). Returns 0 or -1. */
static int
form_decode (char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (*s == '+')
            *out++ = ' ';
        else if (*s == '%') {
            if (!isxdigit ((unsigned char)s[1]) || !isxdigit ((unsigned char)s[2]))
                return -1;
            char hex[3] = {s[1], s[2], 0};
            *out++ = (char)strtol (hex, NULL, 16);
            s += 2;
        } else
            *out++ = *s;
    }
    *out = '\0';
    return 0;
}

#define FORM_FIELDS 16

typedef struct {
    char *copy;                      /* decoded copy of the body */
    const char *names[FORM_FIELDS];  /* field names */
    const char *values[FORM_FIELDS]; /* field values */
    int n;                           /* fields */
} form_t;

static int
form_parse (const char *body, form_t *form)
{
    memset (form, 0, sizeof *form);
    form->copy = strdup (body);
    if (!form->copy)
        return -1;
    char *save = NULL;
    for (char *pair = strtok_r (form->copy, "&", &save); pair; pair = strtok_r (NULL, "&", &save)) {
        if (form->n >= FORM_FIELDS)
            return -1;
        char *eq = strchr (pair, '=');
        char *value = eq ? eq + 1 : pair + strlen (pair);
        if (eq)
            *eq = '\0';
        if (form_decode (pair) || form_decode (value))
            return -1;
        form->names[form->n] = pair;
        form->values[form->n] = value;
        form->n++;
    }
    return 0;
}

static const char *
form_get (const form_t *form, const char *name)
{
    for (int i = 0; i < form->n; i++)
        if (strcmp (form->names[i], name) == 0)
            return form->values[i];
    return NULL;
}

static int
b64_value (int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/*  Decodes base64 text into out (cap bytes, NUL-terminated). Returns 0 or -1. */
static int
b64_decode (const char *in, char *out, size_t cap)
{
    size_t at = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value ((unsigned char)*in);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (at + 1 >= cap)
                return -1;
            out[at++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[at] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- faults */

#define FAULT_BAD_BODY 200 /* draw_fault: a 200 answer with a broken body */

/*  Draws the injected fault for one request: 0 (none), 429, 500, 503, 504, or (IDO loads
    only) FAULT_BAD_BODY. Locked. */
static int
draw_fault (cssim_server_t *self, int ido)
{
    double u = (double)(prng_next (&self->fault_state) >> 11) / 9007199254740992.0;
    if (u < self->fault_429)
        return 429;
    if (u < self->fault_429 + self->fault_5xx) {
        static const int codes[] = {500, 503, 504};
        return codes[prng_next (&self->fault_state) % 3];
    }
    if (ido && u < self->fault_429 + self->fault_5xx + self->fault_bad)
        return FAULT_BAD_BODY;
    return 0;
}

/*  A 200 whose body is not a LoadCollection response, as proxies, sign-in redirects and
    cut connections produce: an HTML sign-in page, JSON cut in the middle, or plain text. */
static void
bad_body_response (cssim_server_t *self, tenant_t *t, sim_response_t *resp)
{
    t->bad_bodies++;
    static const char *html = "<!DOCTYPE html>\n<html><head><title>Sign In - Infor OS</title>"
                              "</head>\n<body><form method=\"post\" action=\"/sso/login\">"
                              "<h1>Sign in to Infor OS</h1><input name=\"username\">"
                              "<input name=\"password\" type=\"password\"></form></body></html>\n";
    static const char *cut = "{\"Items\":[{\"_ItemId\":\"PBT=[ven] ven.DT=[2026-02-01 08:15:02.117]"
                             "\",\"Name\":\"Northwind Me";
    static const char *text = "upstream connect error or disconnect/reset before headers";
    switch (prng_next (&self->fault_state) % 3) {
    case 0:
        sim_response_body (resp, 200, "text/html; charset=utf-8", html, strlen (html));
        break;
    case 1:
        sim_response_body (resp, 200, "application/json;charset=UTF-8", cut, strlen (cut));
        break;
    default:
        sim_response_body (resp, 200, "text/plain", text, strlen (text));
    }
}

/*  True when ido is in the --deny-ido list. Locked. */
static int
ido_denied (const cssim_server_t *self, const char *ido)
{
    size_t n = strlen (ido);
    for (const char *p = self->deny_ido; *p;) {
        const char *e = strchr (p, ',');
        size_t len = e ? (size_t)(e - p) : strlen (p);
        if (len == n && strncmp (p, ido, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static void
fault_response (cssim_server_t *self, tenant_t *t, int code, sim_response_t *resp)
{
    if (code == 429) {
        t->throttled++;
        const char *body = "{\"error\":\"too_many_requests\",\"error_description\":"
                           "\"Rate limit exceeded: the spike arrest policy allows fewer "
                           "requests per second for this client.\"}";
        sim_response_body (resp, 429, "application/json;charset=UTF-8", body, strlen (body));
        if (self->retry_after >= 0) {
            char ra[16];
            snprintf (ra, sizeof ra, "%d", self->retry_after);
            sim_response_header (resp, "Retry-After", ra);
        }
        return;
    }
    t->faults_5xx++;
    const char *title = code == 500   ? "500 Internal Server Error"
                        : code == 503 ? "503 Service Unavailable"
                                      : "504 Gateway Time-out";
    const char *text = code == 504 ? "The ION API Gateway did not receive a timely response "
                                     "from the upstream server."
                                   : "The server encountered an error processing the request.";
    char html[512];
    int n = snprintf (html, sizeof html,
                      "<!DOCTYPE html>\n<html><head><title>%s</title></head>\n<body><h1>%s</h1>"
                      "<p>%s</p><hr><address>ION API Gateway</address></body></html>\n",
                      title, title, text);
    sim_response_body (resp, code, "text/html; charset=iso-8859-1", html, (size_t)n);
}

/* ---------------------------------------------------------------- tokens */

static void
tokens_purge (tenant_t *t, int64_t now)
{
    size_t w = 0;
    for (size_t i = 0; i < t->ntokens; i++)
        if (t->tokens[i].expires_ms > now)
            t->tokens[w++] = t->tokens[i];
    t->ntokens = w;
}

static token_t *
token_find (tenant_t *t, const char *value, int refresh, int64_t now)
{
    if (strlen (value) != TOKEN_LEN)
        return NULL;
    for (size_t i = 0; i < t->ntokens; i++) {
        token_t *k = &t->tokens[i];
        if (k->refresh == refresh && k->expires_ms > now &&
            memcmp (k->value, value, TOKEN_LEN) == 0)
            return k;
    }
    return NULL;
}

static token_t *
token_add (cssim_server_t *self, tenant_t *t, int refresh, uint32_t family, int64_t ttl_ms,
           int64_t now)
{
    if (t->ntokens >= MAX_TOKENS) {
        memmove (t->tokens, t->tokens + 1, (t->ntokens - 1) * sizeof *t->tokens);
        t->ntokens--;
    }
    if (t->ntokens == t->tokens_cap) {
        size_t cap = t->tokens_cap ? t->tokens_cap * 2 : 64;
        token_t *grown = realloc (t->tokens, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->tokens = grown;
        t->tokens_cap = cap;
    }
    token_t *k = &t->tokens[t->ntokens++];
    random_text (&self->token_state, k->value, TOKEN_LEN);
    k->refresh = refresh;
    k->family = family;
    k->expires_ms = now + ttl_ms;
    return k;
}

/*  Checks client authentication (HTTP Basic or form fields). Returns 0 when it matches,
    -1 when absent or wrong. */
static int
client_auth (const tenant_t *t, const sim_request_t *req, const form_t *form)
{
    const char *id = form_get (form, "client_id");
    const char *secret = form_get (form, "client_secret");
    char basic[512];
    const char *auth = sim_request_header (req, "Authorization");
    if (auth && strncasecmp (auth, "Basic ", 6) == 0) {
        if (b64_decode (auth + 6, basic, sizeof basic))
            return -1;
        char *colon = strchr (basic, ':');
        if (!colon)
            return -1;
        *colon = '\0';
        if (form_decode (basic) || form_decode (colon + 1))
            return -1;
        id = basic;
        secret = colon + 1;
    }
    if (!id || !secret)
        return -1;
    return strcmp (id, t->ci) == 0 && strcmp (secret, t->cs) == 0 ? 0 : -1;
}

static void
handle_token (cssim_server_t *self, tenant_t *t, const sim_request_t *req, sim_response_t *resp)
{
    form_t form = {0};
    t->token_requests++;
    int fault = draw_fault (self, 0);
    if (fault) {
        fault_response (self, t, fault, resp);
        goto out;
    }
    if (strcmp (req->method, "POST") != 0) {
        json_error (resp, 405, "invalid_request", "The token endpoint accepts POST only.");
        goto out;
    }
    if (req->body_len > MAX_FORM_BODY || form_parse (req->body, &form)) {
        json_error (resp, 400, "invalid_request",
                    "Malformed application/x-www-form-urlencoded body.");
        goto out;
    }
    if (client_auth (t, req, &form)) {
        cm_warn ("CSSIM_TOKEN_REFUSED", "tenant=%s reason=invalid_client", t->ti);
        json_error (resp, 401, "invalid_client", "Client authentication failed.");
        sim_response_header (resp, "WWW-Authenticate", "Basic realm=\"ION API\"");
        goto out;
    }
    const char *grant = form_get (&form, "grant_type");
    int64_t now = mono_ms ();
    uint32_t family;
    token_t *refresh = NULL;
    if (!grant) {
        json_error (resp, 400, "invalid_request", "Missing grant_type parameter.");
        goto out;
    } else if (strcmp (grant, "password") == 0) {
        const char *user = form_get (&form, "username");
        const char *pass = form_get (&form, "password");
        if (!user || !pass) {
            json_error (resp, 400, "invalid_request", "Missing username or password parameter.");
            goto out;
        }
        if (strcmp (user, t->saak) != 0 || strcmp (pass, t->sask) != 0) {
            cm_warn ("CSSIM_TOKEN_REFUSED", "tenant=%s reason=invalid_grant", t->ti);
            json_error (resp, 400, "invalid_grant",
                        "The service account access key or secret key is invalid.");
            goto out;
        }
        tokens_purge (t, now);
        family = ++t->next_family;
        refresh = token_add (self, t, 1, family, REFRESH_TTL_MS, now);
    } else if (strcmp (grant, "refresh_token") == 0) {
        const char *value = form_get (&form, "refresh_token");
        if (!value) {
            json_error (resp, 400, "invalid_request", "Missing refresh_token parameter.");
            goto out;
        }
        refresh = token_find (t, value, 1, now);
        if (!refresh) {
            json_error (resp, 400, "invalid_grant", "The refresh token is invalid or expired.");
            goto out;
        }
        family = refresh->family;
        tokens_purge (t, now);
        refresh = token_find (t, value, 1, now); /* purge moved it */
    } else {
        json_error (resp, 400, "unsupported_grant_type",
                    "Supported grant types: password, refresh_token.");
        goto out;
    }
    if (!refresh) {
        json_error (resp, 500, "server_error", "Out of memory.");
        goto out;
    }
    char refresh_value[TOKEN_LEN + 1];
    memcpy (refresh_value, refresh->value, sizeof refresh_value); /* token_add may move it */
    token_t *access = token_add (self, t, 0, family, (int64_t)self->token_ttl * 1000, now);
    if (!access) {
        json_error (resp, 500, "server_error", "Out of memory.");
        goto out;
    }
    t->tokens_issued++;
    cJSON *o = cJSON_CreateObject ();
    cJSON_AddStringToObject (o, "access_token", access->value);
    cJSON_AddStringToObject (o, "token_type", "Bearer");
    cJSON_AddNumberToObject (o, "expires_in", self->token_ttl);
    cJSON_AddStringToObject (o, "refresh_token", refresh_value);
    sim_response_json (resp, 200, o);
    sim_response_header (resp, "Cache-Control", "no-store");
    sim_response_header (resp, "Pragma", "no-cache");
    cm_debug ("CSSIM_TOKEN_ISSUED", "tenant=%s grant=%s expires_in=%d", t->ti, grant,
              self->token_ttl);
out:
    free (form.copy);
}

static void
handle_revoke (cssim_server_t *self, tenant_t *t, const sim_request_t *req, sim_response_t *resp)
{
    form_t form = {0};
    t->revocations++;
    if (strcmp (req->method, "POST") != 0) {
        json_error (resp, 405, "invalid_request", "The revoke endpoint accepts POST only.");
        goto out;
    }
    if (req->body_len > MAX_FORM_BODY || form_parse (req->body, &form)) {
        json_error (resp, 400, "invalid_request",
                    "Malformed application/x-www-form-urlencoded body.");
        goto out;
    }
    int has_client = form_get (&form, "client_id") || sim_request_header (req, "Authorization");
    if (has_client && client_auth (t, req, &form)) {
        json_error (resp, 401, "invalid_client", "Client authentication failed.");
        goto out;
    }
    const char *value = form_get (&form, "token");
    if (!value) {
        json_error (resp, 400, "invalid_request", "Missing token parameter.");
        goto out;
    }
    int64_t now = mono_ms ();
    token_t *k = token_find (t, value, 1, now);
    if (!k)
        k = token_find (t, value, 0, now);
    if (k) {
        if (k->refresh) {
            /* Revoking a refresh token ends the whole grant. */
            uint32_t family = k->family;
            for (size_t i = 0; i < t->ntokens; i++)
                if (t->tokens[i].family == family)
                    t->tokens[i].expires_ms = 0;
        } else
            k->expires_ms = 0;
        tokens_purge (t, now);
    }
    /* RFC 7009: 200 whether or not the token was known. */
    sim_response_body (resp, 200, "application/json;charset=UTF-8", "{}", 2);
out:
    free (form.copy);
}

/* ---------------------------------------------------------------- IDO requests */

static void
handle_load (cssim_server_t *self, tenant_t *t, const char *ido_name, const sim_request_t *req,
             sim_response_t *resp)
{
    t->data_requests++;
    if (strcmp (req->method, "GET") != 0) {
        ido_error (resp, 405, "LoadCollection accepts GET only.");
        return;
    }
    const char *auth = sim_request_header (req, "Authorization");
    int64_t now = mono_ms ();
    if (!auth || strncasecmp (auth, "Bearer ", 7) != 0 || !token_find (t, auth + 7, 0, now)) {
        t->unauthorized++;
        json_error (resp, 401, "invalid_token", "The access token is missing, invalid or expired.");
        sim_response_header (resp, "WWW-Authenticate",
                             "Bearer realm=\"ION API\", error=\"invalid_token\"");
        return;
    }
    int fault = draw_fault (self, 1);
    if (fault == FAULT_BAD_BODY) {
        bad_body_response (self, t, resp);
        return;
    }
    if (fault) {
        fault_response (self, t, fault, resp);
        return;
    }
    if (self->latency_ms > 0) {
        /* Sleep without the lock so other clients are not held up. */
        struct timespec ts = {self->latency_ms / 1000, (long)(self->latency_ms % 1000) * 1000000};
        pthread_mutex_unlock (&self->lock);
        while (nanosleep (&ts, &ts) && errno == EINTR)
            ;
        pthread_mutex_lock (&self->lock);
    }
    const char *config = sim_request_header (req, "X-Infor-MongooseConfig");
    if (!config || !*config) {
        ido_error (resp, 400,
                   "No Mongoose configuration specified: the X-Infor-MongooseConfig header is "
                   "required when calling through ION API.");
        return;
    }
    if (strcmp (config, self->mongoose) != 0) {
        char msg[256];
        snprintf (msg, sizeof msg, "Configuration '%.64s' not found on the application server.",
                  config);
        ido_error (resp, 200, msg);
        return;
    }
    const cssim_ido_t *ido = cssim_ido_find (ido_name);
    if (!ido) {
        char msg[256];
        snprintf (msg, sizeof msg, "IDO '%.64s' does not exist.", ido_name);
        ido_error (resp, 200, msg);
        return;
    }
    if (ido_denied (self, ido->name)) {
        char msg[256];
        t->denied++;
        snprintf (msg, sizeof msg, "User does not have Read permission for IDO '%s'.", ido->name);
        ido_error (resp, 200, msg);
        return;
    }
    cssim_load_args_t args = {
        .properties = sim_request_arg (req, "properties"),
        .filter = sim_request_arg (req, "filter"),
        .orderby = sim_request_arg (req, "orderby"),
        .recordcap = sim_request_arg (req, "recordcap"),
        .loadtype = sim_request_arg (req, "loadtype"),
        .bookmark = sim_request_arg (req, "bookmark"),
        .readonly = sim_request_arg (req, "readonly"),
    };
    char *body;
    size_t len, rows;
    int success;
    if (cssim_query_load (t->tables[ido - cssim_ido (0)], &args, &body, &len, &success, &rows)) {
        sim_response_body (resp, 500, "text/plain", "out of memory", 13);
        return;
    }
    set_body (resp, 200, body, len);
    cm_debug ("CSSIM_LOAD", "tenant=%s ido=%s success=%d rows=%zu", t->ti, ido->name, success,
              rows);
}

/* ---------------------------------------------------------------- admin */

/*  Converts one JSON value for property p into text (out, cap). Returns 0 or -1. */
static int
admin_value (const cssim_prop_t *p, const cJSON *v, char *out, size_t cap, char *err,
             size_t err_cap)
{
    if (cJSON_IsNull (v)) {
        out[0] = '\0';
        return 0;
    }
    if (cJSON_IsBool (v)) {
        snprintf (out, cap, "%d", cJSON_IsTrue (v) ? 1 : 0);
        return 0;
    }
    if (cJSON_IsNumber (v)) {
        double d = v->valuedouble;
        if (p->type == CSSIM_DEC)
            snprintf (out, cap, "%.2f", d);
        else if (p->type == CSSIM_DATE) {
            snprintf (err, err_cap, "'%s' needs a datetime string", p->name);
            return -1;
        } else if (d == floor (d) && fabs (d) < 1e15)
            snprintf (out, cap, "%.0f", d);
        else
            snprintf (out, cap, "%.15g", d);
        return 0;
    }
    if (!cJSON_IsString (v)) {
        snprintf (err, err_cap, "'%s' must be a string, number, boolean or null", p->name);
        return -1;
    }
    const char *s = v->valuestring;
    if (strlen (s) > CSSIM_MAX_VALUE) {
        snprintf (err, err_cap, "'%s' is longer than %d characters", p->name, CSSIM_MAX_VALUE);
        return -1;
    }
    if (p->type == CSSIM_DATE && *s) {
        if (cssim_datetime_norm (s, out)) {
            snprintf (err, err_cap, "'%s' is not a datetime (YYYY-MM-DD HH:MM:SS.fff)", p->name);
            return -1;
        }
        return 0;
    }
    if ((p->type == CSSIM_INT || p->type == CSSIM_DEC) && *s) {
        char *end;
        strtod (s, &end);
        if (end == s || *end || (p->type == CSSIM_INT && strpbrk (s, ".eE"))) {
            snprintf (err, err_cap, "'%s' is not a %s", p->name,
                      p->type == CSSIM_INT ? "whole number" : "number");
            return -1;
        }
    }
    snprintf (out, cap, "%s", s);
    return 0;
}

/*  Puts one record object. Returns 0, or -1 with err. *row_out gets the stored row. */
static int
admin_put_one (cssim_table_t *table, const cJSON *obj, const char *now_text, int *inserted,
               const cssim_row_t **row_out, char *err, size_t err_cap)
{
    const cssim_ido_t *ido = cssim_table_ido (table);
    char *texts[CSSIM_MAX_PROPS] = {0};
    const char *values[CSSIM_MAX_PROPS] = {0};
    int rc = -1;
    if (!cJSON_IsObject (obj)) {
        snprintf (err, err_cap, "a record must be a JSON object");
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach (item, obj)
    {
        int p = cssim_ido_prop (ido, item->string, strlen (item->string));
        if (p < 0) {
            snprintf (err, err_cap, "unknown property '%.64s' for %s", item->string, ido->name);
            goto out;
        }
        free (texts[p]);
        texts[p] = malloc (CSSIM_MAX_VALUE + 1);
        if (!texts[p]) {
            snprintf (err, err_cap, "out of memory");
            goto out;
        }
        if (admin_value (&ido->props[p], item, texts[p], CSSIM_MAX_VALUE + 1, err, err_cap))
            goto out;
        values[p] = texts[p];
    }
    rc = cssim_table_put (table, values, now_text, inserted, row_out, err, err_cap);
out:
    for (int i = 0; i < CSSIM_MAX_PROPS; i++)
        free (texts[i]);
    return rc;
}

static void
admin_records (cssim_server_t *self, tenant_t *t, const char *ido_name, const sim_request_t *req,
               sim_response_t *resp)
{
    char err[256];
    const cssim_ido_t *ido = cssim_ido_find (ido_name);
    if (!ido) {
        snprintf (err, sizeof err, "unknown IDO '%.64s'", ido_name);
        json_error (resp, 404, "not_found", err);
        return;
    }
    if (strcmp (req->method, "POST") != 0) {
        json_error (resp, 405, "invalid_request", "POST a JSON object or array of objects");
        return;
    }
    if (req->body_len > MAX_ADMIN_BODY) {
        json_error (resp, 413, "invalid_request", "body too large");
        return;
    }
    cJSON *json = cJSON_ParseWithLength (req->body, req->body_len);
    if (!json || !(cJSON_IsObject (json) || cJSON_IsArray (json))) {
        cJSON_Delete (json);
        json_error (resp, 400, "invalid_request", "body must be a JSON object or array of objects");
        return;
    }
    cssim_table_t *table = t->tables[ido - cssim_ido (0)];
    char now_text[CSSIM_DATETIME_LEN + 1];
    cssim_datetime_format (wall_ms (), now_text);
    int inserted = 0, n_ins = 0, n_upd = 0;
    const cssim_row_t *row = NULL;
    cssim_buf_t b = {0};
    if (cJSON_IsObject (json)) {
        if (admin_put_one (table, json, now_text, &inserted, &row, err, sizeof err))
            goto bad;
        cssim_buf_str (&b, inserted ? "{\"action\":\"inserted\",\"record\":"
                                    : "{\"action\":\"updated\",\"record\":");
        cssim_buf_row (&b, ido, row);
        cssim_buf_str (&b, "}");
        n_ins = inserted;
        n_upd = !inserted;
    } else {
        const cJSON *item;
        cJSON_ArrayForEach (item, json)
        {
            if (admin_put_one (table, item, now_text, &inserted, &row, err, sizeof err))
                goto bad;
            n_ins += inserted;
            n_upd += !inserted;
        }
        char text[96];
        snprintf (text, sizeof text, "{\"inserted\":%d,\"updated\":%d}", n_ins, n_upd);
        cssim_buf_str (&b, text);
    }
    cJSON_Delete (json);
    if (b.oom) {
        free (b.data);
        sim_response_body (resp, 500, "text/plain", "out of memory", 13);
        return;
    }
    set_body (resp, 200, b.data, b.len);
    cm_info ("CSSIM_ADMIN_RECORDS", "tenant=%s ido=%s inserted=%d updated=%d", t->ti, ido->name,
             n_ins, n_upd);
    return;
bad:
    /* Records before the bad one in an array stay applied, like separate requests. */
    free (b.data);
    cJSON_Delete (json);
    json_error (resp, 400, "invalid_record", err);
}

static void
admin_stats (cssim_server_t *self, sim_response_t *resp)
{
    cJSON *root = cJSON_CreateObject ();
    cJSON *tenants = cJSON_AddObjectToObject (root, "tenants");
    for (int i = 0; i < self->ntenants; i++) {
        tenant_t *t = &self->tenants[i];
        cJSON *o = cJSON_AddObjectToObject (tenants, t->ti);
        cJSON_AddNumberToObject (o, "token_requests", (double)t->token_requests);
        cJSON_AddNumberToObject (o, "tokens_issued", (double)t->tokens_issued);
        cJSON_AddNumberToObject (o, "revocations", (double)t->revocations);
        cJSON_AddNumberToObject (o, "data_requests", (double)t->data_requests);
        cJSON_AddNumberToObject (o, "throttled", (double)t->throttled);
        cJSON_AddNumberToObject (o, "faults_5xx", (double)t->faults_5xx);
        cJSON_AddNumberToObject (o, "unauthorized", (double)t->unauthorized);
        cJSON_AddNumberToObject (o, "bad_bodies", (double)t->bad_bodies);
        cJSON_AddNumberToObject (o, "denied", (double)t->denied);
        cJSON *rec = cJSON_AddObjectToObject (o, "records");
        for (int k = 0; k < CSSIM_IDO_COUNT; k++)
            cJSON_AddNumberToObject (rec, cssim_ido (k)->name,
                                     (double)cssim_table_count (t->tables[k]));
    }
    cJSON *f = cJSON_AddObjectToObject (root, "faults");
    cJSON_AddNumberToObject (f, "fault_429", self->fault_429);
    cJSON_AddNumberToObject (f, "fault_5xx", self->fault_5xx);
    cJSON_AddNumberToObject (f, "fault_bad_body", self->fault_bad);
    cJSON_AddStringToObject (f, "deny_ido", self->deny_ido);
    cJSON_AddNumberToObject (f, "latency_ms", self->latency_ms);
    cJSON_AddNumberToObject (f, "token_ttl", self->token_ttl);
    if (self->retry_after >= 0)
        cJSON_AddNumberToObject (f, "retry_after", self->retry_after);
    else
        cJSON_AddNullToObject (f, "retry_after");
    sim_response_json (resp, 200, root);
}

static int
number_in (const cJSON *v, double lo, double hi, double *out)
{
    if (!cJSON_IsNumber (v) || isnan (v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return -1;
    *out = v->valuedouble;
    return 0;
}

static void
admin_faults (cssim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    if (strcmp (req->method, "POST") != 0) {
        json_error (resp, 405, "invalid_request", "POST a JSON object");
        return;
    }
    cJSON *json =
        req->body_len <= MAX_FORM_BODY ? cJSON_ParseWithLength (req->body, req->body_len) : NULL;
    char err[160] = "";
    double f429 = self->fault_429, f5xx = self->fault_5xx, fbad = self->fault_bad;
    double lat = self->latency_ms;
    char deny[sizeof self->deny_ido];
    snprintf (deny, sizeof deny, "%s", self->deny_ido);
    double ttl = self->token_ttl, ra = self->retry_after;
    if (!cJSON_IsObject (json))
        snprintf (err, sizeof err, "body must be a JSON object");
    const cJSON *item;
    if (!*err)
        cJSON_ArrayForEach (item, json)
        {
            const char *k = item->string;
            int bad;
            if (strcmp (k, "fault_429") == 0)
                bad = number_in (item, 0, 1, &f429);
            else if (strcmp (k, "fault_5xx") == 0)
                bad = number_in (item, 0, 1, &f5xx);
            else if (strcmp (k, "fault_bad_body") == 0)
                bad = number_in (item, 0, 1, &fbad);
            else if (strcmp (k, "deny_ido") == 0) {
                bad = !cJSON_IsString (item) || strlen (item->valuestring) >= sizeof deny;
                if (!bad)
                    snprintf (deny, sizeof deny, "%s", item->valuestring);
            } else if (strcmp (k, "latency_ms") == 0)
                bad = number_in (item, 0, 600000, &lat);
            else if (strcmp (k, "token_ttl") == 0)
                bad = number_in (item, 1, 86400 * 30, &ttl);
            else if (strcmp (k, "retry_after") == 0) {
                bad = 0;
                if (cJSON_IsNull (item))
                    ra = -1;
                else
                    bad = number_in (item, -1, 86400, &ra);
            } else {
                snprintf (err, sizeof err, "unknown key '%.64s'", k);
                break;
            }
            if (bad) {
                snprintf (err, sizeof err, "'%.64s' out of range or not a number", k);
                break;
            }
        }
    cJSON_Delete (json);
    if (!*err && f429 + f5xx + fbad > 1)
        snprintf (err, sizeof err, "fault_429 + fault_5xx + fault_bad_body must not exceed 1");
    if (*err) {
        json_error (resp, 400, "invalid_request", err);
        return;
    }
    self->fault_429 = f429;
    self->fault_5xx = f5xx;
    self->fault_bad = fbad;
    snprintf (self->deny_ido, sizeof self->deny_ido, "%s", deny);
    self->latency_ms = (int)lat;
    self->token_ttl = (int)ttl;
    self->retry_after = (int)ra;
    cm_info ("CSSIM_FAULTS",
             "fault_429=%.3f fault_5xx=%.3f fault_bad_body=%.3f deny_ido=%s latency_ms=%d "
             "token_ttl=%d retry_after=%d",
             f429, f5xx, fbad, self->deny_ido, self->latency_ms, self->token_ttl,
             self->retry_after);
    admin_stats (self, resp);
}

/* ---------------------------------------------------------------- routing */

/*  Splits a path into segments (copies). Returns their number, or -1 when too long. */
static int
split_path (const char *path, char seg[MAX_SEGMENTS][MAX_SEGMENT])
{
    int n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr (p, '/');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        if (n >= MAX_SEGMENTS || len >= MAX_SEGMENT)
            return -1;
        memcpy (seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        p += len;
    }
    return n;
}

void
cssim_server_handle (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    cssim_server_t *self = arg;
    char seg[MAX_SEGMENTS][MAX_SEGMENT];
    int n = split_path (req->path, seg);
    pthread_mutex_lock (&self->lock);
    if (n >= 2 && strcmp (seg[0], "__sim") == 0) {
        if (n == 2 && strcmp (seg[1], "stats") == 0) {
            admin_stats (self, resp);
            goto out;
        }
        if (n == 2 && strcmp (seg[1], "faults") == 0) {
            admin_faults (self, req, resp);
            goto out;
        }
        tenant_t *t = find_tenant (self, seg[1]);
        if (t && n == 4 && strcmp (seg[2], "records") == 0) {
            admin_records (self, t, seg[3], req, resp);
            goto out;
        }
        if (t && n == 3 && strcmp (seg[2], "expire-tokens") == 0) {
            size_t count = t->ntokens;
            t->ntokens = 0;
            char body[64];
            snprintf (body, sizeof body, "{\"expired\":%zu}", count);
            sim_response_body (resp, 200, "application/json;charset=UTF-8", body, strlen (body));
            cm_info ("CSSIM_TOKENS_EXPIRED", "tenant=%s tokens=%zu", t->ti, count);
            goto out;
        }
        json_error (resp, 404, "not_found", "unknown admin endpoint or tenant");
        goto out;
    }
    tenant_t *t = n >= 1 ? find_tenant (self, seg[0]) : NULL;
    if (t && n == 3 && strcmp (seg[1], "as") == 0 && strcmp (seg[2], "token.oauth2") == 0)
        handle_token (self, t, req, resp);
    else if (t && n == 3 && strcmp (seg[1], "as") == 0 &&
             strcmp (seg[2], "revoke_token.oauth2") == 0)
        handle_revoke (self, t, req, resp);
    else if (t && n == 6 && strcmp (seg[1], "CSI") == 0 &&
             strcmp (seg[2], "IDORequestService") == 0 && strcmp (seg[3], "ido") == 0 &&
             strcmp (seg[4], "load") == 0)
        handle_load (self, t, seg[5], req, resp);
    else
        json_error (resp, 404, "not_found", "No API is published at this path for this tenant.");
out:
    pthread_mutex_unlock (&self->lock);
}

/* ---------------------------------------------------------------- life cycle */

static int
valid_tenant (const char *ti)
{
    size_t n = strlen (ti);
    if (n == 0 || n > 64 || strcmp (ti, "__sim") == 0)
        return 0;
    for (const char *p = ti; *p; p++)
        if (!isalnum ((unsigned char)*p) && *p != '_' && *p != '-')
            return 0;
    return 1;
}

cssim_server_t *
cssim_server_new (const cssim_config_t *cfg, char *err, size_t err_cap)
{
    cssim_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    self->fault_429 = cfg->fault_429;
    self->fault_5xx = cfg->fault_5xx;
    self->fault_bad = cfg->fault_bad_body;
    if (cfg->deny_ido && strlen (cfg->deny_ido) >= sizeof self->deny_ido) {
        snprintf (err, err_cap, "--deny-ido: longer than %zu characters",
                  sizeof self->deny_ido - 1);
        goto fail;
    }
    snprintf (self->deny_ido, sizeof self->deny_ido, "%s", cfg->deny_ido ? cfg->deny_ido : "");
    self->latency_ms = cfg->latency_ms;
    self->retry_after = cfg->retry_after;
    self->token_ttl = cfg->token_ttl;
    snprintf (self->mongoose, sizeof self->mongoose, "%s", cfg->mongoose_config);
    if (cfg->public_url) {
        size_t n = strlen (cfg->public_url);
        while (n > 0 && cfg->public_url[n - 1] == '/')
            n--;
        if ((strncmp (cfg->public_url, "http://", 7) != 0 &&
             strncmp (cfg->public_url, "https://", 8) != 0) ||
            n <= 8 || n >= sizeof self->public_url || strpbrk (cfg->public_url, " \t\r\n?#")) {
            snprintf (err, err_cap,
                      "--public-url '%.80s': expected http[s]://host[:port], at most %zu "
                      "characters",
                      cfg->public_url, sizeof self->public_url - 1);
            goto fail;
        }
        memcpy (self->public_url, cfg->public_url, n);
        self->public_url[n] = '\0';
    }
    self->fault_state = cssim_mix64 (cfg->seed ^ 0xFA17FA17ULL);
    if (getrandom (&self->token_state, sizeof self->token_state, 0) != sizeof self->token_state)
        self->token_state = (uint64_t)wall_ms () ^ (uint64_t)getpid ();
    self->tenants = calloc ((size_t)cfg->ntenants, sizeof *self->tenants);
    if (!self->tenants) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    int64_t now = wall_ms ();
    /* Seeded RecordDates end at a fixed instant so data is the same on every run (and
       before "now", so records added at run time are always newer). */
    int64_t end = 1793491200000LL; /* 2026-11-01 00:00:00 UTC */
    if (end > now - 86400000LL)
        end = now - 86400000LL;
    for (int i = 0; i < cfg->ntenants; i++) {
        const char *ti = cfg->tenants[i];
        if (!valid_tenant (ti)) {
            snprintf (err, err_cap, "--tenant '%.80s': use 1-64 letters, digits, '_' or '-'", ti);
            goto fail;
        }
        if (find_tenant (self, ti)) {
            snprintf (err, err_cap, "--tenant '%s' given twice", ti);
            goto fail;
        }
        tenant_t *t = &self->tenants[self->ntenants++];
        snprintf (t->ti, sizeof t->ti, "%s", ti);
        uint64_t tseed = cssim_mix64 (cfg->seed ^ hash_text (ti));
        uint64_t cred = tseed ^ 0xC4ED5ULL;
        char part[SECRET_LEN + 1];
        random_text (&cred, part, 22);
        snprintf (t->ci, sizeof t->ci, "%s~%s", ti, part);
        random_text (&cred, part, SECRET_LEN);
        snprintf (t->cs, sizeof t->cs, "%s", part);
        random_text (&cred, part, SECRET_LEN);
        snprintf (t->saak, sizeof t->saak, "%s#%s", ti, part);
        random_text (&cred, part, SECRET_LEN);
        snprintf (t->sask, sizeof t->sask, "%s", part);
        for (int k = 0; k < CSSIM_IDO_COUNT; k++) {
            t->tables[k] = cssim_table_new (cssim_ido (k));
            if (!t->tables[k]) {
                snprintf (err, err_cap, "out of memory");
                goto fail;
            }
        }
        cssim_seed_t seed = {.seed = tseed,
                             .vendors = cfg->vendors,
                             .customers = cfg->customers,
                             .invoices = cfg->invoices,
                             .pos = cfg->pos,
                             .end_ms = end};
        if (cssim_data_seed (t->tables, &seed)) {
            snprintf (err, err_cap, "out of memory while seeding tenant %s", ti);
            goto fail;
        }
        cm_info ("CSSIM_TENANT", "tenant=%s vendors=%zu customers=%zu invoices=%zu pos=%zu", ti,
                 cssim_table_count (t->tables[CSSIM_VENDORS]),
                 cssim_table_count (t->tables[CSSIM_CUSTOMERS]),
                 cssim_table_count (t->tables[CSSIM_ARINVS]),
                 cssim_table_count (t->tables[CSSIM_POS]));
    }
    return self;
fail:
    cssim_server_destroy (&self);
    return NULL;
}

void
cssim_server_destroy (cssim_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cssim_server_t *self = *self_p;
    for (int i = 0; i < self->ntenants; i++) {
        tenant_t *t = &self->tenants[i];
        for (int k = 0; k < CSSIM_IDO_COUNT; k++)
            cssim_table_destroy (&t->tables[k]);
        free (t->tokens);
    }
    free (self->tenants);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
cssim_server_write_ionapi (cssim_server_t *self, const char *dir, int port, char *err,
                           size_t err_cap)
{
    if (mkdir (dir, 0700) && errno != EEXIST) {
        snprintf (err, err_cap, "cannot create --ionapi-dir %s: %s", dir, strerror (errno));
        return -1;
    }
    for (int i = 0; i < self->ntenants; i++) {
        tenant_t *t = &self->tenants[i];
        char iu[256], pu[352], path[4096], tmp[4200], ev[16];
        if (self->public_url[0])
            snprintf (iu, sizeof iu, "%s", self->public_url);
        else
            snprintf (iu, sizeof iu, "http://127.0.0.1:%d", port);
        snprintf (pu, sizeof pu, "%s/%s/as/", iu, t->ti);
        snprintf (ev, sizeof ev, "U%08u", (unsigned)(hash_text (t->ti) % 100000000u));
        if ((size_t)snprintf (path, sizeof path, "%s/%s.ionapi", dir, t->ti) >= sizeof path) {
            snprintf (err, err_cap, "--ionapi-dir path too long");
            return -1;
        }
        snprintf (tmp, sizeof tmp, "%s.tmp", path);
        cJSON *o = cJSON_CreateObject ();
        cJSON_AddStringToObject (o, "ti", t->ti);
        cJSON_AddStringToObject (o, "cn", "ml-connector (cloudsuite-sim)");
        cJSON_AddStringToObject (o, "dt", "12");
        cJSON_AddStringToObject (o, "ci", t->ci);
        cJSON_AddStringToObject (o, "cs", t->cs);
        cJSON_AddStringToObject (o, "iu", iu);
        cJSON_AddStringToObject (o, "pu", pu);
        cJSON_AddStringToObject (o, "oa", "authorization.oauth2");
        cJSON_AddStringToObject (o, "ot", "token.oauth2");
        cJSON_AddStringToObject (o, "or", "revoke_token.oauth2");
        cJSON_AddStringToObject (o, "ev", ev);
        cJSON_AddStringToObject (o, "v", "1.0");
        cJSON_AddStringToObject (o, "saak", t->saak);
        cJSON_AddStringToObject (o, "sask", t->sask);
        char *text = cJSON_Print (o);
        cJSON_Delete (o);
        if (!text) {
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t len = strlen (text);
        int ok = fd >= 0 && fchmod (fd, 0600) == 0 && write (fd, text, len) == (ssize_t)len &&
                 write (fd, "\n", 1) == 1;
        int saved = errno;
        if (fd >= 0 && close (fd) != 0)
            ok = 0;
        free (text);
        if (!ok || rename (tmp, path) != 0) {
            snprintf (err, err_cap, "cannot write %s: %s", path, strerror (ok ? errno : saved));
            unlink (tmp);
            return -1;
        }
        cm_info ("CSSIM_IONAPI_WRITTEN", "tenant=%s file=%s", t->ti, path);
    }
    return 0;
}
