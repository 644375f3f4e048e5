/*  mlc-badhttp: a hostile HTTP server for tests. It answers every request with one chosen
    kind of garbage, so the extractor (token and IDO endpoints, through a .ionapi file
    whose pu and iu point here) and the loader (salesforce.url here: token, sObject
    Collections and Bulk API 2.0 endpoints) can be checked to survive it, say why, and
    lose nothing.

    mlc-badhttp --listen 127.0.0.1:0 --mode MODE [--where all|api] [--status N]
                [--huge-bytes N] [--slow-ms N] [--seed N]
      --mode      html            a login page (text/html), as a proxy or SSO redirect gives
                  truncated-json  the real-shaped answer cut in the middle
                  not-json        text under a JSON content type (a gateway's error text)
                  wrong-types     the right keys with the wrong JSON types, and hostile
                                  Sforce-Limit-Info and Retry-After headers
                  huge            a body of --huge-bytes (default 4 MiB) that never ends
                  empty           200 with an empty body
                  random          random bytes (1..4096, from --seed and the request count)
                  slow            waits --slow-ms (default 10000), then a 504 page
                  v1-shape        IDO items in the old v1 Name/Value shape
                  success-false   IDO "Success": false; Collections: every record failed
                                  without errors; token: an OAuth error with status 200
                  bad-token-json  a token answer without a usable access_token
                  csv-garbage     Bulk API: a job that completes, whose result files are
                                  malformed CSV; any other request: CSV instead of JSON
                  duplicate-keys  a well-formed IDO page whose item repeats a property
                                  name and has an empty one (JSON allows both)
                  long-instance-url  a valid token whose instance_url (this server) is
                                  padded to 3 KB
      --where     all (default): every request gets the garbage; api: token requests get a
                  valid token, so the garbage reaches the data endpoints
      --status    the HTTP status of garbage answers (default 200, the most hostile)
    GET /__bad/stats answers {"requests":N,"token":N,"ido":N,"collections":N,"bulk":N,
    "other":N} (always valid JSON, not counted). Prints "listening on http://HOST:PORT" when
    ready; exits 0 on SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sim_http.h"

#define BAD_MAX_HUGE (256L * 1024 * 1024) /* --huge-bytes at most */

typedef enum {
    M_HTML,
    M_TRUNCATED,
    M_NOT_JSON,
    M_WRONG_TYPES,
    M_HUGE,
    M_EMPTY,
    M_RANDOM,
    M_SLOW,
    M_V1,
    M_SUCCESS_FALSE,
    M_BAD_TOKEN,
    M_CSV,
    M_DUP_KEYS,
    M_LONG_URL,
    M_COUNT
} bad_mode_t;

static const char *s_mode_names[M_COUNT] = {
    "html",           "truncated-json", "not-json",       "wrong-types",      "huge",
    "empty",          "random",         "slow",           "v1-shape",         "success-false",
    "bad-token-json", "csv-garbage",    "duplicate-keys", "long-instance-url"};

/*  What a request is for, from its path. */
typedef enum { K_TOKEN, K_IDO, K_COLLECTIONS, K_BULK, K_OTHER, K_COUNT } bad_kind_t;

static const char *s_kind_names[K_COUNT] = {"token", "ido", "collections", "bulk", "other"};

typedef struct {
    bad_mode_t mode;                /* the garbage */
    bool api_only;                  /* --where api: token requests get a valid token */
    int status;                     /* status of garbage answers */
    long huge_bytes;                /* body size of the huge mode */
    long slow_ms;                   /* delay of the slow mode */
    unsigned seed;                  /* random mode seed */
    pthread_mutex_t lock;           /* guards the counters (handlers run concurrently) */
    unsigned long requests;         /* requests answered (stats excluded) */
    unsigned long by_kind[K_COUNT]; /* the same by kind */
} bad_server_t;

static bad_kind_t
s_kind (const sim_request_t *req)
{
    const char *p = req->path;
    size_t len = strlen (p);
    if (strstr (p, "/services/oauth2/token") ||
        (len >= 12 && strcmp (p + len - 12, "token.oauth2") == 0))
        return K_TOKEN;
    if (strstr (p, "/IDORequestService/"))
        return K_IDO;
    if (strstr (p, "/composite/sobjects/"))
        return K_COLLECTIONS;
    if (strstr (p, "/jobs/ingest"))
        return K_BULK;
    return K_OTHER;
}

/*  The number of records of a Collections request (its "records" array), at least 1. */
static int
s_record_count (const sim_request_t *req)
{
    cJSON *body = cJSON_ParseWithLength (req->body, req->body_len);
    int n = cJSON_GetArraySize (cJSON_GetObjectItemCaseSensitive (body, "records"));
    cJSON_Delete (body);
    return n > 0 ? n : 1;
}

static void
s_text (sim_response_t *resp, int status, const char *type, const char *text)
{
    sim_response_body (resp, status, type, text, strlen (text));
}

#define JSON_TYPE "application/json;charset=UTF-8"

static const char s_token_ok[] =
    "{\"access_token\":\"badhttp-token-0123456789\",\"token_type\":\"Bearer\","
    "\"expires_in\":7200,\"scope\":\"api\"}";
static const char s_ido_page[] =
    "{\"Items\":[{\"VendNum\":\"V000001\",\"Name\":\"Keystone Filtration\",\"RecordDate\":"
    "\"2025-12-02 22:42:24.969\"},{\"VendNum\":\"V000002\",\"Name\":\"Bayview Instruments\","
    "\"RecordDate\":\"2026-03-07 14:26:15.758\"}],\"Bookmark\":\"<B><P><p>VendNum</p></P></B>\","
    "\"MoreRowsExist\":false,\"Success\":true,\"Message\":null}";
static const char s_results[] =
    "[{\"id\":\"001xx0000004GxDAAU\",\"success\":true,\"errors\":[],\"created\":true},"
    "{\"id\":\"001xx0000004GxEAAU\",\"success\":true,\"errors\":[],\"created\":false}]";

/*  The real-shaped answer for a kind (what truncated-json cuts). */
static const char *
s_real_shape (bad_kind_t kind)
{
    switch (kind) {
    case K_TOKEN:
        return s_token_ok;
    case K_IDO:
        return s_ido_page;
    case K_COLLECTIONS:
        return s_results;
    default:
        return "{\"id\":\"7505e000000AbCdAAK\",\"state\":\"Open\",\"object\":\"Account\"}";
    }
}

/*  Bulk API 2.0 answered well enough to reach the result files, which are garbage. */
static void
s_csv_bulk (const sim_request_t *req, sim_response_t *resp)
{
    static const char garbage[] = "sf__Id,sf__Created,CloudSuite_Key__c\n"
                                  "\"001xx0000004GxDAAU,true,\"ACME\"PRD\"\n"
                                  "001xx0000004GxEAAU,\"yes\"no,x\r\r\n"
                                  "\"unterminated";
    const char *p = req->path;
    if (strstr (p, "Results") || strstr (p, "unprocessedrecords")) {
        s_text (resp, 200, "text/csv", garbage);
        return;
    }
    if (strcmp (req->method, "PUT") == 0) {
        sim_response_body (resp, 201, "text/plain", "", 0);
        return;
    }
    //  create, close, poll: a job that completes at once
    const char *job = "{\"id\":\"7505e000000AbCdAAK\",\"operation\":\"upsert\","
                      "\"object\":\"Account\",\"state\":\"%s\",\"contentUrl\":"
                      "\"services/data/v62.0/jobs/ingest/7505e000000AbCdAAK/batches\","
                      "\"numberRecordsProcessed\":2,\"numberRecordsFailed\":1}";
    char body[512];
    const char *state = strcmp (req->method, "POST") == 0    ? "Open"
                        : strcmp (req->method, "PATCH") == 0 ? "UploadComplete"
                                                             : "JobComplete";
    snprintf (body, sizeof body, job, state);
    s_text (resp, 200, JSON_TYPE, body);
}

/*  A body of self->huge_bytes: a JSON page that never closes. */
static void
s_huge (bad_server_t *self, sim_response_t *resp)
{
    size_t n = (size_t)self->huge_bytes;
    char *body = malloc (n + 1);
    if (!body) {
        s_text (resp, 500, "text/plain", "out of memory");
        return;
    }
    static const char head[] = "{\"Items\":[";
    static const char item[] = "{\"VendNum\":\"V000001\",\"Name\":\"xxxxxxxxxxxxxxxxxxxx\"},";
    size_t pos = 0;
    memcpy (body, head, n < sizeof head - 1 ? n : sizeof head - 1);
    pos = n < sizeof head - 1 ? n : sizeof head - 1;
    while (pos < n) {
        size_t k = sizeof item - 1 < n - pos ? sizeof item - 1 : n - pos;
        memcpy (body + pos, item, k);
        pos += k;
    }
    body[n] = '\0';
    free (resp->body);
    resp->status = self->status;
    snprintf (resp->content_type, sizeof resp->content_type, JSON_TYPE);
    resp->body = body;
    resp->body_len = n;
}

static void
s_handle (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    bad_server_t *self = arg;
    if (strcmp (req->path, "/__bad/stats") == 0) {
        cJSON *o = cJSON_CreateObject ();
        pthread_mutex_lock (&self->lock);
        cJSON_AddNumberToObject (o, "requests", (double)self->requests);
        for (int k = 0; k < K_COUNT; k++)
            cJSON_AddNumberToObject (o, s_kind_names[k], (double)self->by_kind[k]);
        pthread_mutex_unlock (&self->lock);
        cJSON_AddStringToObject (o, "mode", s_mode_names[self->mode]);
        sim_response_json (resp, 200, o);
        return;
    }
    bad_kind_t kind = s_kind (req);
    pthread_mutex_lock (&self->lock);
    unsigned long count = ++self->requests;
    self->by_kind[kind]++;
    pthread_mutex_unlock (&self->lock);
    fprintf (stderr, "badhttp: %s %s kind=%s mode=%s\n", req->method, req->path, s_kind_names[kind],
             s_mode_names[self->mode]);

    if (kind == K_TOKEN && self->api_only) {
        s_text (resp, 200, JSON_TYPE, s_token_ok);
        return;
    }
    int st = self->status;
    switch (self->mode) {
    case M_HTML:
        s_text (resp, st, "text/html;charset=UTF-8",
                "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>"
                "<form method=\"post\" action=\"/login\"><input name=\"username\">"
                "<input type=\"password\" name=\"password\"></form></body></html>\n");
        return;
    case M_TRUNCATED: {
        const char *real = s_real_shape (kind);
        sim_response_body (resp, st, JSON_TYPE, real, strlen (real) * 3 / 5);
        return;
    }
    case M_NOT_JSON:
        s_text (resp, st, JSON_TYPE,
                "upstream connect error or disconnect/reset before headers. reset reason: "
                "connection termination");
        return;
    case M_WRONG_TYPES:
        sim_response_header (resp, "Sforce-Limit-Info", "api-usage=9223372036854775807/15000");
        sim_response_header (resp, "Retry-After", "-5");
        if (kind == K_TOKEN)
            s_text (resp, st, JSON_TYPE,
                    "{\"access_token\":12345,\"token_type\":[\"Bearer\"],\"expires_in\":\"soon\","
                    "\"instance_url\":7,\"refresh_token\":{}}");
        else if (kind == K_IDO)
            s_text (resp, st, JSON_TYPE,
                    "{\"Items\":{\"VendNum\":\"V000001\"},\"Bookmark\":5,\"MoreRowsExist\":"
                    "\"maybe\",\"Success\":\"yes\",\"Message\":[]}");
        else if (kind == K_COLLECTIONS) {
            int n = s_record_count (req);
            cJSON *a = cJSON_CreateArray ();
            for (int i = 0; i < n; i++) {
                cJSON *r = cJSON_CreateObject ();
                cJSON_AddStringToObject (r, "success", "true");
                cJSON_AddNumberToObject (r, "id", 42);
                cJSON_AddStringToObject (r, "created", "yes");
                cJSON_AddItemToArray (a, r);
            }
            sim_response_json (resp, st, a);
        } else
            s_text (resp, st, JSON_TYPE, "{\"id\":7,\"state\":true,\"errors\":\"none\"}");
        return;
    case M_HUGE:
        s_huge (self, resp);
        return;
    case M_EMPTY:
        sim_response_body (resp, st, JSON_TYPE, "", 0);
        return;
    case M_RANDOM: {
        unsigned state = self->seed * 2654435761u + (unsigned)count;
        size_t n = 1 + rand_r (&state) % 4096;
        char *b = malloc (n);
        if (!b) {
            s_text (resp, 500, "text/plain", "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++)
            b[i] = (char)(rand_r (&state) & 0xff);
        sim_response_body (resp, st, JSON_TYPE, b, n);
        free (b);
        return;
    }
    case M_SLOW: {
        struct timespec ts = {self->slow_ms / 1000, (self->slow_ms % 1000) * 1000000L};
        while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
            ;
        s_text (resp, 504, "text/html", "<html><body><h1>504 Gateway Time-out</h1></body></html>");
        return;
    }
    case M_V1:
        s_text (resp, st, JSON_TYPE,
                "{\"Items\":[[{\"Name\":\"VendNum\",\"Value\":\"V000001\"},{\"Name\":\"Name\","
                "\"Value\":\"Keystone Filtration\"},{\"Name\":\"RecordDate\",\"Value\":"
                "\"2025-12-02 22:42:24.969\"}]],\"Bookmark\":null,\"MoreRowsExist\":false,"
                "\"Success\":true,\"Message\":null}");
        return;
    case M_SUCCESS_FALSE:
        if (kind == K_COLLECTIONS) {
            int n = s_record_count (req);
            cJSON *a = cJSON_CreateArray ();
            for (int i = 0; i < n; i++) {
                cJSON *r = cJSON_CreateObject ();
                cJSON_AddBoolToObject (r, "success", false);
                cJSON_AddArrayToObject (r, "errors");
                cJSON_AddItemToArray (a, r);
            }
            sim_response_json (resp, st, a);
        } else if (kind == K_TOKEN)
            s_text (
                resp, st, JSON_TYPE,
                "{\"error\":\"invalid_grant\",\"error_description\":\"authentication failure\"}");
        else
            s_text (resp, st, JSON_TYPE,
                    "{\"Items\":null,\"Bookmark\":null,\"MoreRowsExist\":false,\"Success\":false,"
                    "\"Message\":\"Property VendNum is not valid for IDO SLVendors\"}");
        return;
    case M_BAD_TOKEN:
        s_text (resp, st, JSON_TYPE,
                "{\"token_type\":\"Bearer\",\"access_token\":\"\",\"instance_url\":"
                "\"ftp://evil.example\",\"expires_in\":-1}");
        return;
    case M_CSV:
        if (kind == K_BULK)
            s_csv_bulk (req, resp);
        else
            s_text (resp, st, "text/csv", "sf__Id,sf__Error\n\"001,\"oops\n\"\"\"\n");
        return;
    case M_DUP_KEYS:
        s_text (resp, st, JSON_TYPE,
                "{\"Items\":[{\"VendNum\":\"V000001\",\"Name\":\"Keystone Filtration\","
                "\"Name\":\"Shadow Name\",\"\":\"no name\",\"VendNum\":\"V999999\","
                "\"RecordDate\":\"2025-12-02 22:42:24.969\"}],\"Bookmark\":null,"
                "\"MoreRowsExist\":false,\"Success\":true,\"Message\":null}");
        return;
    case M_LONG_URL: {
        const char *host = sim_request_header (req, "Host");
        char pad[3001];
        memset (pad, 'a', sizeof pad - 1);
        pad[sizeof pad - 1] = '\0';
        char body[4096];
        snprintf (body, sizeof body,
                  "{\"access_token\":\"badhttp-token-0123456789\",\"token_type\":\"Bearer\","
                  "\"instance_url\":\"http://%.200s/%s\"}",
                  host ? host : "127.0.0.1", pad);
        s_text (resp, st, JSON_TYPE, body);
        return;
    }
    case M_COUNT:
        break;
    }
    s_text (resp, 500, "text/plain", "unknown mode");
}

static int
s_long (const char *name, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = text ? strtol (text, &end, 10) : 0;
    if (!text || errno || *end || end == text || v < min || v > max) {
        fprintf (stderr, "mlc-badhttp: %s needs an integer %ld..%ld\n", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: mlc-badhttp --listen HOST:PORT --mode MODE [--where all|api]\n"
                     "                   [--status N] [--huge-bytes N] [--slow-ms N] [--seed N]\n"
                     "modes:");
    for (int m = 0; m < M_COUNT; m++)
        fprintf (stderr, " %s", s_mode_names[m]);
    fprintf (stderr, "\n");
    return 2;
}

int
main (int argc, char **argv)
{
    const char *listen = NULL, *mode = NULL;
    bad_server_t self = {
        .status = 200, .huge_bytes = 4L * 1024 * 1024, .slow_ms = 10000, .seed = 42};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (strcmp (a, "--listen") == 0 && v)
            listen = argv[++i];
        else if (strcmp (a, "--mode") == 0 && v)
            mode = argv[++i];
        else if (strcmp (a, "--where") == 0 && v &&
                 (strcmp (v, "all") == 0 || strcmp (v, "api") == 0)) {
            self.api_only = strcmp (v, "api") == 0;
            i++;
        } else if (strcmp (a, "--status") == 0) {
            if (s_long (a, v, 100, 599, &n))
                return 2;
            self.status = (int)n;
            i++;
        } else if (strcmp (a, "--huge-bytes") == 0) {
            if (s_long (a, v, 1, BAD_MAX_HUGE, &self.huge_bytes))
                return 2;
            i++;
        } else if (strcmp (a, "--slow-ms") == 0) {
            if (s_long (a, v, 0, 3600000, &self.slow_ms))
                return 2;
            i++;
        } else if (strcmp (a, "--seed") == 0) {
            if (s_long (a, v, 0, 2147483647, &n))
                return 2;
            self.seed = (unsigned)n;
            i++;
        } else
            return s_usage ();
    }
    if (!listen || !mode)
        return s_usage ();
    self.mode = M_COUNT;
    for (int m = 0; m < M_COUNT; m++)
        if (strcmp (mode, s_mode_names[m]) == 0)
            self.mode = (bad_mode_t)m;
    if (self.mode == M_COUNT) {
        fprintf (stderr, "mlc-badhttp: unknown mode '%s'\n", mode);
        return s_usage ();
    }
    pthread_mutex_init (&self.lock, NULL);
    char err[256];
    sim_server_t *server = sim_server_new (listen, s_handle, &self, err, sizeof err);
    if (!server) {
        fprintf (stderr, "mlc-badhttp: %s\n", err);
        return 1;
    }
    sim_server_run (server);
    sim_server_destroy (&server);
    pthread_mutex_destroy (&self.lock);
    return 0;
}
