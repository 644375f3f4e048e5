/*  sfsim_server: routes, auth, limits, faults and admin endpoints of salesforce-sim.
    See sfsim_server.h. */
#include "sfsim_server.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "cm_log.h"
#include "sfsim_bulk.h"
#include "sfsim_map.h"
#include "sfsim_soql.h"
#include "sfsim_store.h"

#define ORG_ID          "00DHs0000000SimEAA"
#define USER_ID         "005Hs00000SimUserAAA"
#define MAX_TOKENS      100000 /* live tokens kept; expired ones are purged past this */
#define MAX_COLLECTION  200    /* records per sObject Collections call */
#define API_MIN_VERSION 31
#define API_MAX_VERSION 64

/* Counted endpoints (calls_by_endpoint). */
typedef enum {
    EP_LIMITS,
    EP_DESCRIBE,
    EP_DESCRIBE_GLOBAL,
    EP_SINGLE_UPSERT,
    EP_RECORD_GET,
    EP_COMPOSITE_UPSERT,
    EP_COMPOSITE_INSERT,
    EP_QUERY,
    EP_BULK,
    EP_OTHER,
    EP_COUNT
} endpoint_t;

static const char *s_endpoint_names[EP_COUNT] = {
    "limits",           "describe",         "describe_global", "single_upsert", "record_get",
    "composite_upsert", "composite_insert", "query",           "bulk",          "other"};

typedef struct {
    int64_t issued_ms; /* when the token was issued (realtime ms) */
} token_t;

#define MAX_OBJECT_STATS 64 /* sObjects with their own upsert counters */

/* Upsert counters of one sObject (upserts_by_object in /__sim/stats). */
typedef struct {
    char name[64]; /* the schema's name of the sObject */
    long calls;    /* counted upsert calls (Collections or single record) */
    long records;  /* records in those calls */
    long written;  /* records created or updated */
} object_stats_t;

struct sfsim_server_t {
    pthread_mutex_t mutex;                      /* guards everything below except store and bulk */
    char *client_id;                            /* expected client id */
    char *client_secret;                        /* expected secret (never logged) */
    char base_url[128];                         /* instance_url */
    long token_ttl_s;                           /* session timeout */
    long latency_ms;                            /* injected latency per API call */
    long daily_limit;                           /* daily allowance */
    long max_concurrent;                        /* concurrent-request limit */
    double fault_429;                           /* 429 fraction */
    double fault_503;                           /* 503 fraction */
    double fault_lock;                          /* UNABLE_TO_LOCK_ROW fraction per record */
    long retry_after_s;                         /* Retry-After on injected faults */
    uint64_t rng;                               /* xorshift state for faults */
    sfsim_map_t *tokens;                        /* access token -> token_t */
    long api_used;                              /* calls counted against the daily allowance */
    long api_calls;                             /* calls counted since start */
    long token_requests;                        /* token endpoint requests */
    long by_endpoint[EP_COUNT];                 /* counted calls per endpoint */
    object_stats_t by_object[MAX_OBJECT_STATS]; /* upsert counters per sObject */
    int object_count;                           /* by_object entries used */
    int64_t last_upsert_ms;                     /* realtime ms of the last upsert answer */
    long refused_limit;                         /* TotalRequests refusals */
    long refused_concurrent;                    /* ConcurrentRequests refusals */
    long refused_429;                           /* injected 429s */
    long refused_503;                           /* injected 503s */
    long invalid_session;                       /* 401 answers */
    long lock_faults;                           /* injected UNABLE_TO_LOCK_ROW records */
    long in_flight;                             /* API requests being served */
    int limit_logged;                           /* the exhausted allowance was logged */
    sfsim_store_t *store;                       /* records and schema (own lock) */
    sfsim_bulk_t *bulk;                         /* Bulk API 2.0 jobs */
};

/* ---------------------------------------------------------------------------------------- */
/* Small helpers */

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A uniform double in [0,1); state lock held. */
static double
s_random (sfsim_server_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int
s_lock_fault (void *arg)
{
    sfsim_server_t *self = arg;
    pthread_mutex_lock (&self->mutex);
    int hit = self->fault_lock > 0 && s_random (self) < self->fault_lock;
    if (hit)
        self->lock_faults++;
    pthread_mutex_unlock (&self->mutex);
    return hit;
}

/* Counts one upsert call on object (the schema's name): n records sent, ok written. Takes
   the state lock, so call it without the store lock. */
static void
s_count_upsert (sfsim_server_t *self, const char *object, long n, long ok)
{
    pthread_mutex_lock (&self->mutex);
    object_stats_t *st = NULL;
    for (int i = 0; i < self->object_count && !st; i++)
        if (strcmp (self->by_object[i].name, object) == 0)
            st = &self->by_object[i];
    if (!st && self->object_count < MAX_OBJECT_STATS) {
        st = &self->by_object[self->object_count++];
        snprintf (st->name, sizeof st->name, "%s", object);
    }
    if (st) {
        st->calls++;
        st->records += n;
        st->written += ok;
    }
    self->last_upsert_ms = s_now_ms ();
    pthread_mutex_unlock (&self->mutex);
}

/* Top-level REST error: [{"message":...,"errorCode":...}]. */
static void s_api_error (sim_response_t *resp, int status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_api_error (sim_response_t *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[1600];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    cJSON *arr = cJSON_CreateArray ();
    cJSON *e = cJSON_CreateObject ();
    cJSON_AddStringToObject (e, "message", msg);
    cJSON_AddStringToObject (e, "errorCode", code);
    cJSON_AddItemToArray (arr, e);
    sim_response_json (resp, status, arr);
}

/* A record error as a top-level REST error (with its fields). */
static void
s_record_error_response (sim_response_t *resp, int status, const sfsim_error_t *err)
{
    cJSON *arr = cJSON_CreateArray ();
    cJSON *e = cJSON_CreateObject ();
    cJSON_AddStringToObject (e, "message", err->message);
    cJSON_AddStringToObject (e, "errorCode", err->code);
    if (err->field_count > 0 || strcmp (err->code, "INVALID_FIELD") != 0) {
        cJSON *fields = cJSON_AddArrayToObject (e, "fields");
        for (int i = 0; i < err->field_count; i++)
            cJSON_AddItemToArray (fields, cJSON_CreateString (err->fields[i]));
    }
    cJSON_AddItemToArray (arr, e);
    sim_response_json (resp, status, arr);
}

static cJSON *
s_error_json (const sfsim_error_t *err)
{
    cJSON *e = cJSON_CreateObject ();
    cJSON_AddStringToObject (e, "statusCode", err->code);
    cJSON_AddStringToObject (e, "message", err->message);
    cJSON *fields = cJSON_AddArrayToObject (e, "fields");
    for (int i = 0; i < err->field_count; i++)
        cJSON_AddItemToArray (fields, cJSON_CreateString (err->fields[i]));
    return e;
}

static void
s_not_found (sim_response_t *resp)
{
    s_api_error (resp, 404, "NOT_FOUND", "The requested resource does not exist");
}

static void
s_method_not_allowed (sim_response_t *resp, const char *method, const char *allowed)
{
    s_api_error (resp, 405, "METHOD_NOT_ALLOWED", "HTTP Method '%s' not allowed. Allowed are %s",
                 method, allowed);
}

static void s_admin_json_error (sim_response_t *resp, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_admin_json_error (sim_response_t *resp, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddStringToObject (j, "error", msg);
    sim_response_json (resp, status, j);
}

/* Decodes %XX and '+' of a form value into out (cap bytes). Returns -1 when too long. */
static int
s_form_decode (const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < n && isxdigit ((unsigned char)s[i + 1]) &&
                 isxdigit ((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            c = (char)strtol (hex, NULL, 16);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Finds name in an application/x-www-form-urlencoded body. Returns 1 found, 0 absent,
   -1 too long. */
static int
s_form_get (const char *body, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen (name);
    const char *p = body;
    while (p && *p) {
        const char *amp = strchr (p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen (p);
        if (len > nlen && strncmp (p, name, nlen) == 0 && p[nlen] == '=')
            return s_form_decode (p + nlen + 1, len - nlen - 1, out, cap) == 0 ? 1 : -1;
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int
s_base64_value (char c)
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

/* Decodes base64 text into out (cap bytes, NUL-terminated). Returns -1 when invalid. */
static int
s_base64_decode (const char *in, char *out, size_t cap)
{
    size_t o = 0;
    int bits = 0;
    unsigned acc = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v = s_base64_value (*p);
        if (v < 0)
            return -1;
        acc = ((acc << 6) | (unsigned)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return 0;
}

static void
s_random_text (char *out, size_t n, const char *alphabet)
{
    unsigned char raw[256];
    size_t alen = strlen (alphabet);
    if (n > sizeof raw)
        n = sizeof raw;
    if (getrandom (raw, n, 0) != (ssize_t)n)
        for (size_t i = 0; i < n; i++)
            raw[i] = (unsigned char)rand ();
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[raw[i] % alen];
    out[n] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Token endpoint */

static void
s_oauth_error (sim_response_t *resp, int status, const char *error, const char *description)
{
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddStringToObject (j, "error", error);
    cJSON_AddStringToObject (j, "error_description", description);
    sim_response_json (resp, status, j);
}

static void
s_token (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    char grant[64] = "", id[512] = "", secret[512] = "";
    pthread_mutex_lock (&self->mutex);
    self->token_requests++;
    pthread_mutex_unlock (&self->mutex);
    if (strcmp (req->method, "POST") != 0) {
        s_oauth_error (resp, 400, "invalid_request", "must use HTTP POST");
        return;
    }
    /* Parameters from the form body, else the query string; credentials may also come
       as HTTP Basic. */
    const char *names[] = {"grant_type", "client_id", "client_secret"};
    char *outs[] = {grant, id, secret};
    size_t caps[] = {sizeof grant, sizeof id, sizeof secret};
    for (int i = 0; i < 3; i++) {
        int rc = s_form_get (req->body, names[i], outs[i], caps[i]);
        if (rc == 0) {
            const char *arg = sim_request_arg (req, names[i]);
            if (arg && strlen (arg) < caps[i])
                snprintf (outs[i], caps[i], "%s", arg);
        } else if (rc < 0) {
            s_oauth_error (resp, 400, "invalid_request", "parameter value too long");
            return;
        }
    }
    const char *auth = sim_request_header (req, "Authorization");
    if (auth && strncasecmp (auth, "Basic ", 6) == 0 && !id[0]) {
        char decoded[1024];
        char *colon;
        if (s_base64_decode (auth + 6, decoded, sizeof decoded) == 0 &&
            (colon = strchr (decoded, ':'))) {
            *colon = '\0';
            char *raw_id = decoded, *raw_secret = colon + 1;
            if (s_form_decode (raw_id, strlen (raw_id), id, sizeof id) ||
                s_form_decode (raw_secret, strlen (raw_secret), secret, sizeof secret)) {
                id[0] = secret[0] = '\0';
            }
        }
    }
    if (!grant[0] || strcmp (grant, "client_credentials") != 0) {
        s_oauth_error (resp, 400, "unsupported_grant_type", "grant type not supported");
        return;
    }
    if (!id[0] || strcmp (id, self->client_id) != 0) {
        cm_info ("SFSIM_TOKEN_REFUSED", "reason=invalid_client_id");
        s_oauth_error (resp, 400, "invalid_client_id", "client identifier invalid");
        return;
    }
    if (strcmp (secret, self->client_secret) != 0) {
        cm_info ("SFSIM_TOKEN_REFUSED", "reason=invalid_client");
        s_oauth_error (resp, 400, "invalid_client", "invalid client credentials");
        return;
    }
    char tail[112], sig_raw[44], token[160];
    s_random_text (tail, 94, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._");
    s_random_text (sig_raw, 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    snprintf (token, sizeof token, "%s!AQ%s", ORG_ID, tail);
    int64_t now = s_now_ms ();
    token_t *t = calloc (1, sizeof *t);
    if (!t) {
        s_oauth_error (resp, 500, "unknown_error", "out of memory");
        return;
    }
    t->issued_ms = now;
    char base_url[128];
    pthread_mutex_lock (&self->mutex);
    if (sfsim_map_size (self->tokens) >= MAX_TOKENS) {
        /* Past the cap every session ends at once, as if the org had expired them. */
        size_t pos = 0;
        void *v;
        while (sfsim_map_next (self->tokens, &pos, &v))
            free (v);
        sfsim_map_destroy (&self->tokens);
        self->tokens = sfsim_map_new (0);
        cm_warn ("SFSIM_TOKENS_DROPPED", "count=%d reason=cap", MAX_TOKENS);
    }
    if (!self->tokens || sfsim_map_put (self->tokens, token, t)) {
        free (t);
        pthread_mutex_unlock (&self->mutex);
        s_oauth_error (resp, 500, "unknown_error", "out of memory");
        return;
    }
    snprintf (base_url, sizeof base_url, "%s", self->base_url);
    pthread_mutex_unlock (&self->mutex);
    char sig[48], issued[32], idurl[256];
    snprintf (sig, sizeof sig, "%s=", sig_raw);
    snprintf (issued, sizeof issued, "%lld", (long long)now);
    snprintf (idurl, sizeof idurl, "%s/id/%s/%s", base_url, ORG_ID, USER_ID);
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddStringToObject (j, "access_token", token);
    cJSON_AddStringToObject (j, "signature", sig);
    cJSON_AddStringToObject (j, "scope", "api");
    cJSON_AddStringToObject (j, "instance_url", base_url);
    cJSON_AddStringToObject (j, "id", idurl);
    cJSON_AddStringToObject (j, "token_type", "Bearer");
    cJSON_AddStringToObject (j, "issued_at", issued);
    sim_response_json (resp, 200, j);
}

/* ---------------------------------------------------------------------------------------- */
/* REST API */

static void
s_versions (sim_response_t *resp)
{
    static const char *labels[] = {"Winter '21", "Spring '21", "Summer '21", "Winter '22",
                                   "Spring '22", "Summer '22", "Winter '23", "Spring '23",
                                   "Summer '23", "Winter '24", "Spring '24", "Summer '24",
                                   "Winter '25", "Spring '25", "Summer '25"};
    cJSON *arr = cJSON_CreateArray ();
    for (int v = 50; v <= API_MAX_VERSION; v++) {
        char url[64], version[16];
        cJSON *j = cJSON_CreateObject ();
        snprintf (version, sizeof version, "%d.0", v);
        snprintf (url, sizeof url, "/services/data/v%d.0", v);
        cJSON_AddStringToObject (j, "label", labels[v - 50]);
        cJSON_AddStringToObject (j, "url", url);
        cJSON_AddStringToObject (j, "version", version);
        cJSON_AddItemToArray (arr, j);
    }
    sim_response_json (resp, 200, arr);
}

static void
s_limits (sfsim_server_t *self, sim_response_t *resp)
{
    pthread_mutex_lock (&self->mutex);
    long max = self->daily_limit, used = self->api_used;
    pthread_mutex_unlock (&self->mutex);
    cJSON *j = cJSON_CreateObject ();
    cJSON *d = cJSON_AddObjectToObject (j, "DailyApiRequests");
    cJSON_AddNumberToObject (d, "Max", (double)max);
    cJSON_AddNumberToObject (d, "Remaining", (double)(max > used ? max - used : 0));
    d = cJSON_AddObjectToObject (j, "DailyBulkApiBatches");
    cJSON_AddNumberToObject (d, "Max", 15000);
    cJSON_AddNumberToObject (d, "Remaining", 15000);
    d = cJSON_AddObjectToObject (j, "DailyBulkV2QueryJobs");
    cJSON_AddNumberToObject (d, "Max", 10000);
    cJSON_AddNumberToObject (d, "Remaining", 10000);
    d = cJSON_AddObjectToObject (j, "DataStorageMB");
    cJSON_AddNumberToObject (d, "Max", 1024);
    cJSON_AddNumberToObject (d, "Remaining", 1024);
    sim_response_json (resp, 200, j);
}

static void
s_describe_global (sfsim_server_t *self, const char *version, sim_response_t *resp)
{
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddStringToObject (j, "encoding", "UTF-8");
    cJSON_AddNumberToObject (j, "maxBatchSize", 200);
    cJSON *arr = cJSON_AddArrayToObject (j, "sobjects");
    sfsim_store_lock (self->store);
    const sfsim_schema_t *schema = sfsim_store_schema (self->store);
    for (int i = 0; i < sfsim_schema_object_count (schema); i++) {
        const sfsim_object_t *o = sfsim_schema_object_at (schema, i);
        char url[256];
        cJSON *e = cJSON_CreateObject ();
        cJSON_AddBoolToObject (e, "createable", 1);
        cJSON_AddBoolToObject (e, "custom", o->custom);
        cJSON_AddStringToObject (e, "keyPrefix", o->key_prefix);
        cJSON_AddStringToObject (e, "label", o->label);
        cJSON_AddStringToObject (e, "labelPlural", o->label_plural);
        cJSON_AddStringToObject (e, "name", o->name);
        cJSON_AddBoolToObject (e, "queryable", 1);
        cJSON *urls = cJSON_AddObjectToObject (e, "urls");
        snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s/describe", version, o->name);
        cJSON_AddStringToObject (urls, "describe", url);
        snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s", version, o->name);
        cJSON_AddStringToObject (urls, "sobject", url);
        cJSON_AddItemToArray (arr, e);
    }
    sfsim_store_unlock (self->store);
    sim_response_json (resp, 200, j);
}

static void
s_describe (sfsim_server_t *self, const char *object, const char *version, sim_response_t *resp)
{
    sfsim_store_lock (self->store);
    const sfsim_object_t *o = sfsim_schema_object (sfsim_store_schema (self->store), object);
    cJSON *j = o ? sfsim_object_describe (o, version) : NULL;
    sfsim_store_unlock (self->store);
    if (!j)
        s_not_found (resp);
    else
        sim_response_json (resp, 200, j);
}

/* The record JSON served by GET sobjects/{Object}/{Id}: attributes, then every field. */
static cJSON *
s_record_json (const sfsim_object_t *o, const sfsim_record_t *rec, const char *version)
{
    char url[256];
    cJSON *j = cJSON_CreateObject ();
    cJSON *attrs = cJSON_AddObjectToObject (j, "attributes");
    cJSON_AddStringToObject (attrs, "type", o->name);
    snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s/%s", version, o->name, rec->id);
    cJSON_AddStringToObject (attrs, "url", url);
    for (int i = 0; i < o->field_count; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive (rec->fields, o->fields[i].name);
        cJSON_AddItemToObject (j, o->fields[i].name,
                               v ? cJSON_Duplicate (v, 1) : cJSON_CreateNull ());
    }
    return j;
}

static void
s_record_get (sfsim_server_t *self, const char *object, const char *field, const char *value,
              const char *version, sim_response_t *resp)
{
    sfsim_store_lock (self->store);
    const sfsim_object_t *o = sfsim_schema_object (sfsim_store_schema (self->store), object);
    const sfsim_field_t *f = o ? sfsim_object_field (o, field ? field : "Id") : NULL;
    const sfsim_record_t *rec = NULL;
    if (f && (f->type == SFSIM_T_ID || f->external_id || f->unique))
        rec = sfsim_store_find (self->store, o, f, value);
    cJSON *j = rec ? s_record_json (o, rec, version) : NULL;
    sfsim_store_unlock (self->store);
    if (!j)
        s_not_found (resp);
    else
        sim_response_json (resp, 200, j);
}

/* The external-ID field for an upsert URL, or NULL after a 404 answer. */
static const sfsim_field_t *
s_upsert_field (const sfsim_object_t *o, const char *field, sim_response_t *resp)
{
    const sfsim_field_t *f = o ? sfsim_object_field (o, field) : NULL;
    if (!o) {
        s_not_found (resp);
        return NULL;
    }
    if (!f || !f->external_id) {
        s_api_error (resp, 404, "NOT_FOUND",
                     "Provided external ID field does not exist or is not accessible: %s", field);
        return NULL;
    }
    return f;
}

static void
s_single_upsert (sfsim_server_t *self, const sim_request_t *req, const char *object,
                 const char *field, const char *value, sim_response_t *resp)
{
    cJSON *body = cJSON_ParseWithLength (req->body, req->body_len);
    if (!cJSON_IsObject (body)) {
        cJSON_Delete (body);
        s_api_error (resp, 400, "JSON_PARSER_ERROR",
                     "The request body must be a JSON object of field values");
        return;
    }
    int fault = s_lock_fault (self);
    sfsim_error_t err;
    sfsim_result_t res;
    char counted[64] = "";
    long written = 0;
    sfsim_store_lock (self->store);
    const sfsim_object_t *o = sfsim_schema_object (sfsim_store_schema (self->store), object);
    const sfsim_field_t *f = s_upsert_field (o, field, resp);
    if (!f)
        goto out;
    snprintf (counted, sizeof counted, "%s", o->name);
    if (sfsim_store_check_columns (o, body, &err)) {
        s_record_error_response (resp, 400, &err);
        goto out;
    }
    const cJSON *given = cJSON_GetObjectItem (body, f->name);
    if (given && !(cJSON_IsString (given) && strcasecmp (given->valuestring, value) == 0)) {
        s_api_error (resp, 400, "INVALID_FIELD",
                     "The external ID field %s in the request body does not match the value in "
                     "the URL",
                     f->name);
        goto out;
    }
    if (sfsim_store_write (self->store, o, SFSIM_WRITE_UPSERT, f, value, body, fault, NULL, &res)) {
        s_record_error_response (resp, 400, &res.error);
        goto out;
    }
    written = 1;
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddStringToObject (j, "id", res.id);
    cJSON_AddBoolToObject (j, "success", 1);
    cJSON_AddArrayToObject (j, "errors");
    cJSON_AddBoolToObject (j, "created", res.created);
    sim_response_json (resp, res.created ? 201 : 200, j);
out:
    sfsim_store_unlock (self->store);
    if (counted[0])
        s_count_upsert (self, counted, 1, written);
    cJSON_Delete (body);
}

/* Parses a Collections body: {"allOrNone":bool,"records":[...]}. Returns the records
   array (borrowed from *body) or NULL after answering 400. */
static const cJSON *
s_collection_body (const sim_request_t *req, cJSON **body, int *all_or_none, sim_response_t *resp)
{
    *body = cJSON_ParseWithLength (req->body, req->body_len);
    if (!cJSON_IsObject (*body)) {
        s_api_error (resp, 400, "JSON_PARSER_ERROR",
                     "The request body must be a JSON object with a records array");
        return NULL;
    }
    const cJSON *aon = cJSON_GetObjectItemCaseSensitive (*body, "allOrNone");
    if (aon && !cJSON_IsBool (aon)) {
        s_api_error (resp, 400, "JSON_PARSER_ERROR", "allOrNone must be true or false");
        return NULL;
    }
    *all_or_none = cJSON_IsTrue (aon);
    const cJSON *records = cJSON_GetObjectItemCaseSensitive (*body, "records");
    if (!cJSON_IsArray (records)) {
        s_api_error (resp, 400, "JSON_PARSER_ERROR", "The request body needs a records array");
        return NULL;
    }
    if (cJSON_GetArraySize (records) > MAX_COLLECTION) {
        s_api_error (resp, 400, "EXCEEDED_ID_LIMIT",
                     "record limit reached. cannot submit more than %d records into this call",
                     MAX_COLLECTION);
        return NULL;
    }
    int i = 0;
    const cJSON *rec;
    cJSON_ArrayForEach (rec, records)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive (
            cJSON_GetObjectItemCaseSensitive (rec, "attributes"), "type");
        if (!cJSON_IsObject (rec) || !cJSON_IsString (type)) {
            s_api_error (resp, 400, "INVALID_TYPE",
                         "Record %d: each record needs an attributes map with a type", i);
            return NULL;
        }
        i++;
    }
    return records;
}

/* Builds the per-record results array; rolls back when all-or-none failed. */
static cJSON *
s_collection_results (sfsim_server_t *self, sfsim_result_t *results, int n, int all_or_none,
                      int with_created, sfsim_undo_t *undo)
{
    int any_failed = 0;
    for (int i = 0; i < n; i++)
        if (!results[i].success)
            any_failed = 1;
    if (all_or_none && any_failed && undo)
        sfsim_store_rollback (self->store, undo);
    cJSON *arr = cJSON_CreateArray ();
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject ();
        if (results[i].success && !(all_or_none && any_failed)) {
            cJSON_AddStringToObject (r, "id", results[i].id);
            cJSON_AddBoolToObject (r, "success", 1);
            cJSON_AddArrayToObject (r, "errors");
            if (with_created)
                cJSON_AddBoolToObject (r, "created", results[i].created);
        } else {
            cJSON_AddBoolToObject (r, "success", 0);
            cJSON *errs = cJSON_AddArrayToObject (r, "errors");
            if (results[i].success) {
                sfsim_error_t rb = {.field_count = 0};
                sfsim_error_set (&rb, "ALL_OR_NONE_OPERATION_ROLLED_BACK", NULL,
                                 "Record rolled back because not all records were valid and the "
                                 "request was using AllOrNone header");
                cJSON_AddItemToArray (errs, s_error_json (&rb));
            } else {
                cJSON_AddItemToArray (errs, s_error_json (&results[i].error));
            }
        }
        cJSON_AddItemToArray (arr, r);
    }
    return arr;
}

static void
s_composite_upsert (sfsim_server_t *self, const sim_request_t *req, const char *object,
                    const char *field, sim_response_t *resp)
{
    cJSON *body = NULL;
    int all_or_none = 0;
    sfsim_result_t *results = NULL;
    sfsim_undo_t *undo = NULL;
    int faults[MAX_COLLECTION];
    char counted[64] = "";
    long written = 0;
    const cJSON *records = s_collection_body (req, &body, &all_or_none, resp);
    if (!records)
        goto done;
    int n = cJSON_GetArraySize (records);
    for (int i = 0; i < n; i++)
        faults[i] = s_lock_fault (self);
    results = calloc ((size_t)(n ? n : 1), sizeof *results);
    undo = all_or_none ? sfsim_undo_new () : NULL;
    if (!results || (all_or_none && !undo)) {
        s_api_error (resp, 500, "UNKNOWN_EXCEPTION", "out of memory");
        goto done;
    }
    sfsim_store_lock (self->store);
    const sfsim_object_t *o = sfsim_schema_object (sfsim_store_schema (self->store), object);
    const sfsim_field_t *f = s_upsert_field (o, field, resp);
    if (!f)
        goto out;
    snprintf (counted, sizeof counted, "%s", o->name);
    /* Whole-request checks: every record of the URL's type, every column known. */
    int i = 0;
    const cJSON *rec;
    cJSON_ArrayForEach (rec, records)
    {
        const char *type = cJSON_GetObjectItemCaseSensitive (
                               cJSON_GetObjectItemCaseSensitive (rec, "attributes"), "type")
                               ->valuestring;
        sfsim_error_t err;
        if (strcasecmp (type, o->name) != 0) {
            s_api_error (resp, 400, "INVALID_TYPE",
                         "Record %d: attributes.type %.80s does not match the sObject %s of the "
                         "request; all records must be of that type",
                         i, type, o->name);
            goto out;
        }
        if (sfsim_store_check_columns (o, rec, &err)) {
            s_record_error_response (resp, 400, &err);
            goto out;
        }
        i++;
    }
    /* Duplicate external IDs in one request fail every copy, as Salesforce does. */
    sfsim_map_t *seen = sfsim_map_new (1);
    const char *keys[MAX_COLLECTION];
    char keybufs[MAX_COLLECTION][32];
    i = 0;
    cJSON_ArrayForEach (rec, records)
    {
        const cJSON *k = cJSON_GetObjectItem (rec, f->name);
        keys[i] = NULL;
        if (cJSON_IsString (k) && k->valuestring[0])
            keys[i] = k->valuestring;
        else if (cJSON_IsNumber (k)) {
            snprintf (keybufs[i], sizeof keybufs[i], "%.15g", k->valuedouble);
            keys[i] = keybufs[i];
        }
        if (seen && keys[i])
            sfsim_map_put (seen, keys[i], (void *)((intptr_t)sfsim_map_get (seen, keys[i]) + 1));
        i++;
    }
    for (i = 0; seen && i < n; i++)
        if (keys[i] && (intptr_t)sfsim_map_get (seen, keys[i]) > 1) {
            sfsim_error_set (&results[i].error, "DUPLICATE_EXTERNAL_ID", f->name,
                             "Duplicate external id specified: %.200s", keys[i]);
            results[i].success = -1; /* marked: not written */
        }
    sfsim_map_destroy (&seen);
    i = 0;
    cJSON_ArrayForEach (rec, records)
    {
        if (results[i].success == -1) {
            results[i].success = 0;
        } else {
            sfsim_store_write (self->store, o, SFSIM_WRITE_UPSERT, f, NULL, rec, faults[i], undo,
                               &results[i]);
        }
        i++;
    }
    sim_response_json (resp, 200, s_collection_results (self, results, n, all_or_none, 1, undo));
    for (i = 0; i < n; i++)
        written += results[i].success > 0;
    if (all_or_none && written < n)
        written = 0; /* rolled back */
out:
    sfsim_store_unlock (self->store);
    if (counted[0])
        s_count_upsert (self, counted, n, written);
done:
    sfsim_undo_destroy (&undo);
    free (results);
    cJSON_Delete (body);
}

static void
s_composite_insert (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    cJSON *body = NULL;
    int all_or_none = 0;
    sfsim_result_t *results = NULL;
    sfsim_undo_t *undo = NULL;
    int faults[MAX_COLLECTION];
    const cJSON *records = s_collection_body (req, &body, &all_or_none, resp);
    if (!records)
        goto done;
    int n = cJSON_GetArraySize (records);
    for (int i = 0; i < n; i++)
        faults[i] = s_lock_fault (self);
    results = calloc ((size_t)(n ? n : 1), sizeof *results);
    undo = all_or_none ? sfsim_undo_new () : NULL;
    if (!results || (all_or_none && !undo)) {
        s_api_error (resp, 500, "UNKNOWN_EXCEPTION", "out of memory");
        goto done;
    }
    sfsim_store_lock (self->store);
    const sfsim_schema_t *schema = sfsim_store_schema (self->store);
    const cJSON *rec;
    cJSON_ArrayForEach (rec, records)
    {
        const char *type = cJSON_GetObjectItemCaseSensitive (
                               cJSON_GetObjectItemCaseSensitive (rec, "attributes"), "type")
                               ->valuestring;
        const sfsim_object_t *o = sfsim_schema_object (schema, type);
        sfsim_error_t err;
        if (!o) {
            s_api_error (resp, 400, "INVALID_TYPE", "sObject type '%.80s' is not supported.", type);
            goto out;
        }
        if (sfsim_store_check_columns (o, rec, &err)) {
            s_record_error_response (resp, 400, &err);
            goto out;
        }
    }
    int i = 0;
    cJSON_ArrayForEach (rec, records)
    {
        const char *type = cJSON_GetObjectItemCaseSensitive (
                               cJSON_GetObjectItemCaseSensitive (rec, "attributes"), "type")
                               ->valuestring;
        sfsim_store_write (self->store, sfsim_schema_object (schema, type), SFSIM_WRITE_INSERT,
                           NULL, NULL, rec, faults[i], undo, &results[i]);
        i++;
    }
    sim_response_json (resp, 200, s_collection_results (self, results, n, all_or_none, 0, undo));
out:
    sfsim_store_unlock (self->store);
done:
    sfsim_undo_destroy (&undo);
    free (results);
    cJSON_Delete (body);
}

static void
s_query (sfsim_server_t *self, const sim_request_t *req, const char *version, sim_response_t *resp)
{
    const char *q = sim_request_arg (req, "q");
    sfsim_error_t err;
    if (!q || !q[0]) {
        s_api_error (resp, 400, "MALFORMED_QUERY", "A query string must be given in q");
        return;
    }
    sfsim_soql_t *soql = sfsim_soql_parse (q, &err);
    if (!soql) {
        s_api_error (resp, 400, err.code, "%s", err.message);
        return;
    }
    sfsim_store_lock (self->store);
    cJSON *j = sfsim_soql_run (soql, self->store, version, &err);
    sfsim_store_unlock (self->store);
    sfsim_soql_destroy (&soql);
    if (!j)
        s_api_error (resp, 400, err.code, "%s", err.message);
    else
        sim_response_json (resp, 200, j);
}

static void
s_bulk_reply (sim_response_t *resp, sfsim_bulk_reply_t *r)
{
    if (r->json)
        sim_response_json (resp, r->status, r->json);
    else if (r->csv)
        sim_response_body (resp, r->status, "text/csv", r->csv, r->csv_len);
    else
        sim_response_body (resp, r->status, "application/json;charset=UTF-8", "", 0);
    free (r->csv);
}

/* /jobs/ingest[/{id}[/{what}]] */
static void
s_bulk (sfsim_server_t *self, const sim_request_t *req, const char *rest, const char *version,
        sim_response_t *resp)
{
    sfsim_bulk_reply_t r = {0};
    const char *m = req->method;
    if (!rest[0]) {
        if (strcmp (m, "POST") == 0) {
            cJSON *body = cJSON_ParseWithLength (req->body, req->body_len);
            sfsim_bulk_create (self->bulk, body, version, &r);
            cJSON_Delete (body);
        } else if (strcmp (m, "GET") == 0) {
            sfsim_bulk_list (self->bulk, &r);
        } else {
            s_method_not_allowed (resp, m, "GET,HEAD,POST");
            return;
        }
        s_bulk_reply (resp, &r);
        return;
    }
    char id[64];
    const char *slash = strchr (rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen (rest);
    if (idlen == 0 || idlen >= sizeof id) {
        s_not_found (resp);
        return;
    }
    memcpy (id, rest, idlen);
    id[idlen] = '\0';
    const char *what = slash ? slash + 1 : "";
    if (!what[0]) {
        if (strcmp (m, "GET") == 0) {
            sfsim_bulk_info (self->bulk, id, &r);
        } else if (strcmp (m, "PATCH") == 0) {
            cJSON *body = cJSON_ParseWithLength (req->body, req->body_len);
            sfsim_bulk_patch (self->bulk, id, body, &r);
            cJSON_Delete (body);
        } else if (strcmp (m, "DELETE") == 0) {
            sfsim_bulk_delete (self->bulk, id, &r);
        } else {
            s_method_not_allowed (resp, m, "GET,HEAD,PATCH,DELETE");
            return;
        }
    } else if (strcmp (what, "batches") == 0 || strcmp (what, "batches/") == 0) {
        if (strcmp (m, "PUT") != 0) {
            s_method_not_allowed (resp, m, "PUT");
            return;
        }
        sfsim_bulk_upload (self->bulk, id, sim_request_header (req, "Content-Type"), req->body,
                           req->body_len, &r);
    } else if (strcmp (what, "successfulResults") == 0 || strcmp (what, "failedResults") == 0 ||
               strcmp (what, "unprocessedrecords") == 0) {
        if (strcmp (m, "GET") != 0) {
            s_method_not_allowed (resp, m, "GET,HEAD");
            return;
        }
        sfsim_bulk_results (self->bulk, id,
                            what[0] == 's'   ? SFSIM_RESULTS_SUCCESS
                            : what[0] == 'f' ? SFSIM_RESULTS_FAILED
                                             : SFSIM_RESULTS_UNPROCESSED,
                            &r);
    } else {
        s_not_found (resp);
        return;
    }
    s_bulk_reply (resp, &r);
}

/* Splits "a/b/c" into at most max parts (the last keeps the rest, slashes included). */
static int
s_split (const char *path, char parts[][512], int max)
{
    int n = 0;
    const char *p = path;
    while (*p && n < max) {
        const char *slash = n == max - 1 ? NULL : strchr (p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen (p);
        if (len >= 512)
            return -1;
        memcpy (parts[n], p, len);
        parts[n][len] = '\0';
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    return n;
}

/* Dispatches an authenticated, counted API call. rest: the path after /vXX.X/. */
static endpoint_t
s_dispatch (sfsim_server_t *self, const sim_request_t *req, const char *rest, const char *version,
            sim_response_t *resp)
{
    const char *m = req->method;
    char parts[5][512];
    int n;
    if (!rest[0]) {
        /* The resources of this version. */
        static const char *names[] = {"sobjects", "query", "limits", "composite", "jobs"};
        cJSON *j = cJSON_CreateObject ();
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char url[96];
            snprintf (url, sizeof url, "/services/data/v%s/%s", version, names[i]);
            cJSON_AddStringToObject (j, names[i], url);
        }
        sim_response_json (resp, 200, j);
        return EP_OTHER;
    }
    if (strcmp (rest, "limits") == 0 || strcmp (rest, "limits/") == 0) {
        s_limits (self, resp);
        return EP_LIMITS;
    }
    if (strcmp (rest, "query") == 0 || strcmp (rest, "query/") == 0) {
        if (strcmp (m, "GET") != 0)
            s_method_not_allowed (resp, m, "GET,HEAD");
        else
            s_query (self, req, version, resp);
        return EP_QUERY;
    }
    if (strncmp (rest, "jobs/ingest", 11) == 0 && (rest[11] == '\0' || rest[11] == '/')) {
        s_bulk (self, req, rest[11] ? rest + 12 : "", version, resp);
        return EP_BULK;
    }
    if (strcmp (rest, "composite/sobjects") == 0) {
        if (strcmp (m, "POST") != 0)
            s_method_not_allowed (resp, m, "POST,PATCH");
        else
            s_composite_insert (self, req, resp);
        return EP_COMPOSITE_INSERT;
    }
    if (strncmp (rest, "composite/sobjects/", 19) == 0) {
        n = s_split (rest + 19, parts, 3);
        if (n != 2 || !parts[0][0] || !parts[1][0]) {
            s_not_found (resp);
            return EP_OTHER;
        }
        if (strcmp (m, "PATCH") != 0)
            s_method_not_allowed (resp, m, "PATCH");
        else
            s_composite_upsert (self, req, parts[0], parts[1], resp);
        return EP_COMPOSITE_UPSERT;
    }
    if (strcmp (rest, "sobjects") == 0 || strcmp (rest, "sobjects/") == 0) {
        s_describe_global (self, version, resp);
        return EP_DESCRIBE_GLOBAL;
    }
    if (strncmp (rest, "sobjects/", 9) == 0) {
        n = s_split (rest + 9, parts, 3);
        if (n >= 2 && strcmp (parts[1], "describe") == 0 &&
            (n == 2 || strcmp (parts[2], "") == 0)) {
            if (strcmp (m, "GET") != 0)
                s_method_not_allowed (resp, m, "GET,HEAD");
            else
                s_describe (self, parts[0], version, resp);
            return EP_DESCRIBE;
        }
        if (n == 3 && parts[2][0]) {
            if (strcmp (m, "PATCH") == 0) {
                s_single_upsert (self, req, parts[0], parts[1], parts[2], resp);
                return EP_SINGLE_UPSERT;
            }
            if (strcmp (m, "GET") == 0) {
                s_record_get (self, parts[0], parts[1], parts[2], version, resp);
                return EP_RECORD_GET;
            }
            s_method_not_allowed (resp, m, "GET,HEAD,PATCH");
            return EP_OTHER;
        }
        if (n == 2 && strcmp (m, "GET") == 0) {
            s_record_get (self, parts[0], NULL, parts[1], version, resp);
            return EP_RECORD_GET;
        }
    }
    s_not_found (resp);
    return EP_OTHER;
}

static void
s_limit_header (sfsim_server_t *self, sim_response_t *resp)
{
    char value[64];
    pthread_mutex_lock (&self->mutex);
    snprintf (value, sizeof value, "api-usage=%ld/%ld", self->api_used, self->daily_limit);
    pthread_mutex_unlock (&self->mutex);
    sim_response_header (resp, "Sforce-Limit-Info", value);
}

static int
s_token_valid (sfsim_server_t *self, const sim_request_t *req)
{
    const char *auth = sim_request_header (req, "Authorization");
    if (!auth)
        return 0;
    const char *token = NULL;
    if (strncasecmp (auth, "Bearer ", 7) == 0)
        token = auth + 7;
    else if (strncasecmp (auth, "OAuth ", 6) == 0)
        token = auth + 6;
    if (!token || strlen (token) > 512)
        return 0;
    while (*token == ' ')
        token++;
    pthread_mutex_lock (&self->mutex);
    token_t *t = self->tokens ? sfsim_map_get (self->tokens, token) : NULL;
    int ok = t && s_now_ms () - t->issued_ms < (int64_t)self->token_ttl_s * 1000;
    if (!ok)
        self->invalid_session++;
    pthread_mutex_unlock (&self->mutex);
    return ok;
}

static void
s_api (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    const char *p = req->path + strlen ("/services/data");
    if (!*p || strcmp (p, "/") == 0) {
        if (strcmp (req->method, "GET") != 0)
            s_method_not_allowed (resp, req->method, "GET,HEAD");
        else
            s_versions (resp);
        s_limit_header (self, resp);
        return;
    }
    /* /vNN.N/rest */
    int major = 0, minor = 0, used = 0;
    if (sscanf (p, "/v%d.%d%n", &major, &minor, &used) != 2 || minor != 0 ||
        major < API_MIN_VERSION || major > API_MAX_VERSION || (p[used] != '/' && p[used] != '\0')) {
        s_not_found (resp);
        s_limit_header (self, resp);
        return;
    }
    char version[16];
    snprintf (version, sizeof version, "%d.0", major);
    const char *rest = p[used] == '/' ? p + used + 1 : "";
    if (!s_token_valid (self, req)) {
        s_api_error (resp, 401, "INVALID_SESSION_ID", "Session expired or invalid");
        sim_response_header (resp, "WWW-Authenticate", "Token");
        s_limit_header (self, resp);
        return;
    }
    /* Admission: concurrency, daily allowance, injected faults. */
    pthread_mutex_lock (&self->mutex);
    int refused = 0;
    double roll = 0;
    if (self->in_flight >= self->max_concurrent) {
        self->refused_concurrent++;
        refused = 1;
    } else if (self->api_used >= self->daily_limit) {
        self->refused_limit++;
        refused = 2;
        if (!self->limit_logged) {
            self->limit_logged = 1;
            cm_warn ("SFSIM_LIMIT_EXHAUSTED", "daily_limit=%ld", self->daily_limit);
        }
    } else if (self->fault_429 > 0 || self->fault_503 > 0) {
        roll = s_random (self);
        if (roll < self->fault_429) {
            self->refused_429++;
            refused = 3;
        } else if (roll < self->fault_429 + self->fault_503) {
            self->refused_503++;
            refused = 4;
        }
    }
    if (!refused) {
        self->in_flight++;
        self->api_used++;
        self->api_calls++;
    }
    long latency = self->latency_ms, retry_after = self->retry_after_s;
    pthread_mutex_unlock (&self->mutex);
    if (refused) {
        if (refused == 1)
            s_api_error (resp, 403, "REQUEST_LIMIT_EXCEEDED",
                         "ConcurrentRequests (Concurrent API Requests) Limit exceeded.");
        else if (refused == 2)
            s_api_error (resp, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
        else if (refused == 3)
            s_api_error (resp, 429, "REQUEST_LIMIT_EXCEEDED",
                         "Too many requests (injected by salesforce-sim --fault-429)");
        else
            s_api_error (resp, 503, "SERVER_UNAVAILABLE",
                         "Server unavailable (injected by salesforce-sim --fault-503)");
        if (refused >= 3 && retry_after > 0) {
            char ra[32];
            snprintf (ra, sizeof ra, "%ld", retry_after);
            sim_response_header (resp, "Retry-After", ra);
        }
        s_limit_header (self, resp);
        return;
    }
    if (latency > 0) {
        struct timespec ts = {.tv_sec = latency / 1000, .tv_nsec = (latency % 1000) * 1000000L};
        while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    endpoint_t ep = s_dispatch (self, req, rest, version, resp);
    pthread_mutex_lock (&self->mutex);
    self->by_endpoint[ep]++;
    self->in_flight--;
    pthread_mutex_unlock (&self->mutex);
    s_limit_header (self, resp);
}

/* ---------------------------------------------------------------------------------------- */
/* Admin endpoints */

static void
s_stats (sfsim_server_t *self, sim_response_t *resp)
{
    cJSON *j = cJSON_CreateObject ();
    pthread_mutex_lock (&self->mutex);
    cJSON_AddNumberToObject (j, "api_calls", (double)self->api_calls);
    cJSON_AddNumberToObject (j, "api_usage", (double)self->api_used);
    cJSON_AddNumberToObject (j, "daily_limit", (double)self->daily_limit);
    cJSON_AddNumberToObject (j, "token_requests", (double)self->token_requests);
    cJSON_AddNumberToObject (j, "invalid_session", (double)self->invalid_session);
    cJSON_AddNumberToObject (j, "lock_faults", (double)self->lock_faults);
    cJSON_AddNumberToObject (j, "in_flight", (double)self->in_flight);
    cJSON *eps = cJSON_AddObjectToObject (j, "calls_by_endpoint");
    for (int i = 0; i < EP_COUNT; i++)
        cJSON_AddNumberToObject (eps, s_endpoint_names[i], (double)self->by_endpoint[i]);
    cJSON_AddNumberToObject (j, "last_upsert_ms", (double)self->last_upsert_ms);
    cJSON *objs = cJSON_AddObjectToObject (j, "upserts_by_object");
    for (int i = 0; i < self->object_count; i++) {
        cJSON *o = cJSON_AddObjectToObject (objs, self->by_object[i].name);
        cJSON_AddNumberToObject (o, "calls", (double)self->by_object[i].calls);
        cJSON_AddNumberToObject (o, "records", (double)self->by_object[i].records);
        cJSON_AddNumberToObject (o, "written", (double)self->by_object[i].written);
    }
    cJSON *ref = cJSON_AddObjectToObject (j, "refused");
    cJSON_AddNumberToObject (ref, "limit", (double)self->refused_limit);
    cJSON_AddNumberToObject (ref, "concurrent", (double)self->refused_concurrent);
    cJSON_AddNumberToObject (ref, "fault_429", (double)self->refused_429);
    cJSON_AddNumberToObject (ref, "fault_503", (double)self->refused_503);
    pthread_mutex_unlock (&self->mutex);
    sfsim_bulk_counts (self->bulk, cJSON_AddObjectToObject (j, "bulk_by_object"));
    cJSON *recs = cJSON_AddObjectToObject (j, "records");
    sfsim_store_lock (self->store);
    const sfsim_schema_t *schema = sfsim_store_schema (self->store);
    for (int i = 0; i < sfsim_schema_object_count (schema); i++) {
        const sfsim_object_t *o = sfsim_schema_object_at (schema, i);
        sfsim_record_t *const *records;
        cJSON_AddNumberToObject (recs, o->name,
                                 (double)sfsim_store_records (self->store, o->name, &records));
    }
    sfsim_store_unlock (self->store);
    sim_response_json (resp, 200, j);
}

static void
s_admin_records (sfsim_server_t *self, const char *object, sim_response_t *resp)
{
    sfsim_store_lock (self->store);
    const sfsim_object_t *o = sfsim_schema_object (sfsim_store_schema (self->store), object);
    if (!o) {
        sfsim_store_unlock (self->store);
        s_admin_json_error (resp, 404, "unknown object '%.80s'", object);
        return;
    }
    sfsim_record_t *const *records;
    size_t n = sfsim_store_records (self->store, o->name, &records);
    cJSON *arr = cJSON_CreateArray ();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray (arr, cJSON_Duplicate (records[i]->fields, 1));
    sfsim_store_unlock (self->store);
    sim_response_json (resp, 200, arr);
}

static cJSON *
s_faults_json (sfsim_server_t *self)
{
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddNumberToObject (j, "fault_429", self->fault_429);
    cJSON_AddNumberToObject (j, "fault_503", self->fault_503);
    cJSON_AddNumberToObject (j, "fault_lock", self->fault_lock);
    cJSON_AddNumberToObject (j, "latency_ms", (double)self->latency_ms);
    cJSON_AddNumberToObject (j, "token_ttl", (double)self->token_ttl_s);
    cJSON_AddNumberToObject (j, "daily_limit", (double)self->daily_limit);
    cJSON_AddNumberToObject (j, "max_concurrent", (double)self->max_concurrent);
    cJSON_AddNumberToObject (j, "retry_after", (double)self->retry_after_s);
    return j;
}

static void
s_admin_faults (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    cJSON *body = NULL;
    if (strcmp (req->method, "POST") == 0) {
        body = cJSON_ParseWithLength (req->body, req->body_len);
        if (!cJSON_IsObject (body)) {
            cJSON_Delete (body);
            s_admin_json_error (resp, 400, "body must be a JSON object");
            return;
        }
        static const struct {
            const char *name;
            double min, max;
        } keys[] = {{"fault_429", 0, 1},        {"fault_503", 0, 1},     {"fault_lock", 0, 1},
                    {"latency_ms", 0, 600000},  {"token_ttl", 1, 1e9},   {"daily_limit", 0, 1e15},
                    {"max_concurrent", 1, 1e6}, {"retry_after", 0, 3600}};
        const cJSON *item;
        cJSON_ArrayForEach (item, body)
        {
            size_t k = 0;
            while (k < sizeof keys / sizeof keys[0] && strcmp (keys[k].name, item->string) != 0)
                k++;
            if (k == sizeof keys / sizeof keys[0] || !cJSON_IsNumber (item) ||
                item->valuedouble < keys[k].min || item->valuedouble > keys[k].max) {
                s_admin_json_error (resp, 400, "'%.64s': unknown key or value out of range",
                                    item->string);
                cJSON_Delete (body);
                return;
            }
        }
    }
    pthread_mutex_lock (&self->mutex);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "fault_429")))
        self->fault_429 = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "fault_503")))
        self->fault_503 = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "fault_lock")))
        self->fault_lock = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "latency_ms")))
        self->latency_ms = (long)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "token_ttl")))
        self->token_ttl_s = (long)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "daily_limit"))) {
        self->daily_limit = (long)v->valuedouble;
        self->limit_logged = 0;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "max_concurrent")))
        self->max_concurrent = (long)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive (body, "retry_after")))
        self->retry_after_s = (long)v->valuedouble;
    cJSON *j = s_faults_json (self);
    if (body)
        cm_info ("SFSIM_FAULTS",
                 "fault_429=%g fault_503=%g fault_lock=%g latency_ms=%ld "
                 "token_ttl=%ld daily_limit=%ld max_concurrent=%ld",
                 self->fault_429, self->fault_503, self->fault_lock, self->latency_ms,
                 self->token_ttl_s, self->daily_limit, self->max_concurrent);
    pthread_mutex_unlock (&self->mutex);
    cJSON_Delete (body);
    sim_response_json (resp, 200, j);
}

static void
s_admin_reset_limits (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    cJSON *body = req->body_len ? cJSON_ParseWithLength (req->body, req->body_len) : NULL;
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive (body, "daily_limit");
    if ((req->body_len && !cJSON_IsObject (body)) ||
        (limit && (!cJSON_IsNumber (limit) || limit->valuedouble < 0))) {
        cJSON_Delete (body);
        s_admin_json_error (resp, 400, "body must be empty or {\"daily_limit\": N}");
        return;
    }
    pthread_mutex_lock (&self->mutex);
    self->api_used = 0;
    self->limit_logged = 0;
    if (limit)
        self->daily_limit = (long)limit->valuedouble;
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddBoolToObject (j, "ok", 1);
    cJSON_AddNumberToObject (j, "api_usage", 0);
    cJSON_AddNumberToObject (j, "daily_limit", (double)self->daily_limit);
    cm_info ("SFSIM_LIMITS_RESET", "daily_limit=%ld", self->daily_limit);
    pthread_mutex_unlock (&self->mutex);
    cJSON_Delete (body);
    sim_response_json (resp, 200, j);
}

static void
s_admin_schema (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    char err[512];
    cJSON *body = cJSON_ParseWithLength (req->body, req->body_len);
    if (!cJSON_IsObject (body)) {
        cJSON_Delete (body);
        s_admin_json_error (resp, 400, "body must be a JSON object (a schema or a patch)");
        return;
    }
    sfsim_store_lock (self->store);
    sfsim_schema_t *next =
        sfsim_schema_patched (sfsim_store_schema (self->store), body, err, sizeof err);
    int rc = next ? sfsim_store_set_schema (self->store, &next, err, sizeof err) : -1;
    sfsim_store_unlock (self->store);
    cJSON_Delete (body);
    if (rc) {
        s_admin_json_error (resp, 400, "%s", err);
        return;
    }
    cm_info ("SFSIM_SCHEMA_CHANGED", "bytes=%zu", req->body_len);
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddBoolToObject (j, "ok", 1);
    sim_response_json (resp, 200, j);
}

static void
s_admin_expire (sfsim_server_t *self, sim_response_t *resp)
{
    pthread_mutex_lock (&self->mutex);
    size_t n = sfsim_map_size (self->tokens);
    size_t pos = 0;
    void *v;
    while (sfsim_map_next (self->tokens, &pos, &v))
        free (v);
    sfsim_map_destroy (&self->tokens);
    self->tokens = sfsim_map_new (0);
    pthread_mutex_unlock (&self->mutex);
    cm_info ("SFSIM_TOKENS_EXPIRED", "count=%zu", n);
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddBoolToObject (j, "ok", 1);
    cJSON_AddNumberToObject (j, "expired", (double)n);
    sim_response_json (resp, 200, j);
}

static void
s_admin (sfsim_server_t *self, const sim_request_t *req, sim_response_t *resp)
{
    const char *what = req->path + strlen ("/__sim/");
    int get = strcmp (req->method, "GET") == 0, post = strcmp (req->method, "POST") == 0;
    if (strcmp (what, "stats") == 0 && get)
        s_stats (self, resp);
    else if (strncmp (what, "records/", 8) == 0 && what[8] && get)
        s_admin_records (self, what + 8, resp);
    else if (strcmp (what, "reset-limits") == 0 && post)
        s_admin_reset_limits (self, req, resp);
    else if (strcmp (what, "faults") == 0 && (post || get))
        s_admin_faults (self, req, resp);
    else if (strcmp (what, "schema") == 0 && post)
        s_admin_schema (self, req, resp);
    else if (strcmp (what, "expire-tokens") == 0 && post)
        s_admin_expire (self, resp);
    else
        s_admin_json_error (resp, 404, "no admin endpoint %s %.200s", req->method, req->path);
}

/* ---------------------------------------------------------------------------------------- */

void
sfsim_server_handle (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    sfsim_server_t *self = arg;
    if (strncmp (req->path, "/__sim/", 7) == 0)
        s_admin (self, req, resp);
    else if (strcmp (req->path, "/services/oauth2/token") == 0)
        s_token (self, req, resp);
    else if (strncmp (req->path, "/services/data", 14) == 0 &&
             (req->path[14] == '\0' || req->path[14] == '/'))
        s_api (self, req, resp);
    else
        s_not_found (resp);
}

sfsim_server_t *
sfsim_server_new (const sfsim_config_t *config, sfsim_schema_t **schema_p, char *err,
                  size_t err_cap)
{
    sfsim_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->mutex, NULL);
    self->client_id = strdup (config->client_id);
    self->client_secret = strdup (config->client_secret);
    self->token_ttl_s = config->token_ttl_s;
    self->latency_ms = config->latency_ms;
    self->daily_limit = config->daily_limit;
    self->max_concurrent = config->max_concurrent;
    self->fault_429 = config->fault_429;
    self->fault_503 = config->fault_503;
    self->fault_lock = config->fault_lock;
    self->retry_after_s = config->retry_after_s;
    self->rng = config->seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!self->rng)
        self->rng = 1;
    snprintf (self->base_url, sizeof self->base_url, "http://127.0.0.1");
    self->tokens = sfsim_map_new (0);
    self->store = sfsim_store_new (schema_p);
    if (self->store)
        self->bulk = sfsim_bulk_new (self->store, s_lock_fault, self);
    if (!self->client_id || !self->client_secret || !self->tokens || !self->store || !self->bulk) {
        snprintf (err, err_cap, "out of memory or cannot start the Bulk worker");
        sfsim_server_destroy (&self);
        return NULL;
    }
    return self;
}

void
sfsim_server_set_base_url (sfsim_server_t *self, const char *base_url)
{
    pthread_mutex_lock (&self->mutex);
    snprintf (self->base_url, sizeof self->base_url, "%s", base_url);
    pthread_mutex_unlock (&self->mutex);
}

void
sfsim_server_destroy (sfsim_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_server_t *self = *self_p;
    sfsim_bulk_destroy (&self->bulk);
    sfsim_store_destroy (&self->store);
    if (self->tokens) {
        size_t pos = 0;
        void *v;
        while (sfsim_map_next (self->tokens, &pos, &v))
            free (v);
        sfsim_map_destroy (&self->tokens);
    }
    free (self->client_id);
    free (self->client_secret);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}
