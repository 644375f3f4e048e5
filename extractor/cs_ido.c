/*  cs_ido: Mongoose IDO REST v2 LoadCollection client. See cs_ido.h. */
#include "cs_ido.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_time.h"

#define CS_IDO_EXCERPT    200          /* bytes of a bad body quoted in an error */
#define CS_IDO_MAX_VALUE  (256 * 1024) /* a longer property value is refused */
#define CS_IDO_MAX_HEADER 8192         /* Authorization header capacity */

typedef struct {
    const char *name;  /* property name (borrowed from the page's JSON tree) */
    const char *value; /* value as text, never NULL (borrowed, or owned when `owned`) */
    bool owned;        /* value was allocated (a number or nested JSON printed as text) */
} s_prop_t;

typedef struct {
    s_prop_t *props; /* the item's properties, in response order */
    size_t count;    /* number of properties */
    bool repeats;    /* some name appears twice (the first one counts) */
} s_item_t;

struct cs_ido_page_t {
    cJSON *root;     /* the parsed response: names and string values point into it */
    s_item_t *items; /* the page's items */
    size_t count;    /* number of items */
    char *bookmark;  /* Bookmark, or NULL */
    bool more;       /* MoreRowsExist */
};

struct cs_ido_t {
    char *api_base;                  /* iu + "/" + ti */
    char *mongoose_config;           /* X-Infor-MongooseConfig value */
    cm_http_t *http;                 /* HTTP client (borrowed) */
    cs_auth_t *auth;                 /* token cache (borrowed) */
    const cm_retry_policy_t *policy; /* retries (borrowed) */
    uint64_t requests;               /* IDO requests sent (atomic: metrics thread) */
};

/*  Appends "&name=<encoded value>" (no '&' when first) to a growing buffer. */
static int
s_append_param (char **buf, size_t *len, size_t *cap, const char *name, const char *value)
{
    char *enc = cm_http_form_encode (value);
    if (!enc)
        return -1;
    size_t need = *len + strlen (name) + strlen (enc) + 3;
    if (need > *cap) {
        size_t ncap = need * 2;
        char *nbuf = realloc (*buf, ncap);
        if (!nbuf) {
            free (enc);
            return -1;
        }
        *buf = nbuf;
        *cap = ncap;
    }
    *len += (size_t)snprintf (*buf + *len, *cap - *len, "%s%s=%s",
                              (*buf)[*len - 1] == '?' ? "" : "&", name, enc);
    free (enc);
    return 0;
}

char *
cs_ido_load_url (const char *api_base, const cs_ido_query_t *q)
{
    if (!q->ido || !*q->ido)
        return NULL;
    char *ido = cm_http_form_encode (q->ido);
    if (!ido)
        return NULL;
    size_t cap = strlen (api_base) + strlen (ido) + 64;
    size_t len = 0;
    char *buf = malloc (cap);
    if (!buf)
        goto fail;
    len = (size_t)snprintf (buf, cap, "%s/CSI/IDORequestService/ido/load/%s?", api_base, ido);
    char num[32];
    snprintf (num, sizeof num, "%d", q->recordcap);
    if (s_append_param (&buf, &len, &cap, "properties",
                        q->properties && *q->properties ? q->properties : "*") ||
        (q->filter && *q->filter && s_append_param (&buf, &len, &cap, "filter", q->filter)) ||
        (q->orderby && *q->orderby && s_append_param (&buf, &len, &cap, "orderby", q->orderby)) ||
        (q->recordcap != 0 && s_append_param (&buf, &len, &cap, "recordcap", num)) ||
        (q->bookmark && *q->bookmark &&
         (s_append_param (&buf, &len, &cap, "loadtype", "NEXT") ||
          s_append_param (&buf, &len, &cap, "bookmark", q->bookmark))))
        goto fail;
    free (ido);
    return buf;
fail:
    free (ido);
    free (buf);
    return NULL;
}

void
cs_ido_page_destroy (cs_ido_page_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_ido_page_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        for (size_t j = 0; j < self->items[i].count; j++)
            if (self->items[i].props[j].owned)
                free ((char *)self->items[i].props[j].value);
        free (self->items[i].props);
    }
    free (self->items);
    free (self->bookmark);
    cJSON_Delete (self->root);
    free (self);
    *self_p = NULL;
}

/*  Writes "<what>: body=\"<excerpt>\"" into err. */
static void
s_body_error (const char *what, const char *body, size_t len, char *err, size_t err_cap)
{
    char ex[CS_IDO_EXCERPT * 4 + 8];
    cm_log_excerpt (body ? body : "", body ? len : 0, CS_IDO_EXCERPT, ex, sizeof ex);
    snprintf (err, err_cap, "%s; body: %s", what, ex);
}

/*  The text form of a JSON value: strings as they are, numbers as printed, null as "",
    booleans as "1"/"0", objects and arrays as compact JSON. Strings and constants are
    borrowed (from the tree, or static); *owned is set when the text was allocated. NULL on
    OOM. */
static const char *
s_value_text (const cJSON *v, bool *owned)
{
    *owned = false;
    if (cJSON_IsString (v))
        return v->valuestring ? v->valuestring : "";
    if (cJSON_IsNull (v))
        return "";
    if (cJSON_IsTrue (v))
        return "1";
    if (cJSON_IsFalse (v))
        return "0";
    *owned = true;
    if (cJSON_IsNumber (v)) {
        char num[64];
        double d = v->valuedouble;
        /*  Range first: converting a double outside int64_t (1e300) is undefined. */
        if (d > -9e15 && d < 9e15 && d == (double)(int64_t)d)
            snprintf (num, sizeof num, "%" PRId64, (int64_t)d);
        else
            snprintf (num, sizeof num, "%.17g", d);
        return strdup (num);
    }
    return cJSON_PrintUnformatted (v);
}

/*  Fills one item from a JSON object. Returns 0 or -1 with a message. */
static int
s_parse_item (const cJSON *obj, size_t index, s_item_t *item, char *err, size_t err_cap)
{
    size_t n = (size_t)cJSON_GetArraySize (obj);
    if (n > CS_IDO_MAX_PROPS) {
        snprintf (err, err_cap, "Items[%zu] has %zu properties, more than %d", index, n,
                  CS_IDO_MAX_PROPS);
        return -1;
    }
    item->props = calloc (n ? n : 1, sizeof *item->props);
    if (!item->props) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    uint32_t hashes[CS_IDO_MAX_PROPS]; /* of the names, to find a repeated one */
    const cJSON *v;
    cJSON_ArrayForEach (v, obj)
    {
        s_prop_t *p = &item->props[item->count];
        p->name = v->string ? v->string : "";
        p->value = s_value_text (v, &p->owned);
        uint32_t h = 2166136261u;
        for (const unsigned char *c = (const unsigned char *)p->name; *c; c++)
            h = (h ^ *c) * 16777619u;
        for (size_t k = 0; k < item->count && !item->repeats; k++)
            item->repeats = hashes[k] == h && strcmp (item->props[k].name, p->name) == 0;
        hashes[item->count] = h;
        item->count++;
        if (!p->value) {
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        if (strlen (p->value) > CS_IDO_MAX_VALUE) {
            snprintf (err, err_cap, "Items[%zu].%.64s is longer than %d bytes", index, p->name,
                      CS_IDO_MAX_VALUE);
            return -1;
        }
    }
    return 0;
}

cs_ido_page_t *
cs_ido_parse (const char *body, size_t len, char *err, size_t err_cap)
{
    cs_ido_page_t *self = NULL;
    cJSON *root = NULL;
    char why[160];

    if (!body || len == 0) {
        snprintf (err, err_cap, "IDO response is empty");
        goto fail;
    }
    root = cJSON_ParseWithLength (body, len);
    if (!root) {
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
            i++;
        s_body_error (i < len && body[i] == '<'
                          ? "IDO response is HTML, not JSON (gateway or login page?)"
                          : "IDO response is not valid JSON (truncated or not JSON)",
                      body, len, err, err_cap);
        goto fail;
    }
    if (!cJSON_IsObject (root)) {
        s_body_error ("IDO response is not a JSON object", body, len, err, err_cap);
        goto fail;
    }
    const cJSON *success = cJSON_GetObjectItemCaseSensitive (root, "Success");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive (root, "Message");
    /* some gateways and older releases send the flag as text */
    if (cJSON_IsFalse (success) || (cJSON_IsString (success) && success->valuestring &&
                                    strcasecmp (success->valuestring, "false") == 0)) {
        char ex[CS_IDO_EXCERPT * 4 + 8];
        const char *m = cJSON_IsString (message) && message->valuestring ? message->valuestring
                                                                         : "(no Message)";
        cm_log_excerpt (m, strlen (m), CS_IDO_EXCERPT, ex, sizeof ex);
        snprintf (err, err_cap, "IDO request failed (Success=false): %s", ex);
        goto fail;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive (root, "Items");
    if (!items || (!cJSON_IsArray (items) && !cJSON_IsNull (items))) {
        s_body_error (items ? "IDO response: Items is not an array"
                            : "IDO response has no Items (not a LoadCollection v2 response)",
                      body, len, err, err_cap);
        goto fail;
    }
    size_t n = cJSON_IsArray (items) ? (size_t)cJSON_GetArraySize (items) : 0;
    if (n > CS_IDO_MAX_ITEMS) {
        snprintf (err, err_cap, "IDO response has %zu items, more than %d", n, CS_IDO_MAX_ITEMS);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self || !(self->items = calloc (n ? n : 1, sizeof *self->items))) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    size_t index = 0;
    const cJSON *it;
    cJSON_ArrayForEach (it, items)
    {
        if (cJSON_IsArray (it)) {
            snprintf (err, err_cap,
                      "IDO response Items[%zu] is an array of Name/Value pairs: that is the "
                      "old v1 MGRESTService shape, configure the IDO REST v2 endpoint",
                      index);
            goto fail;
        }
        if (!cJSON_IsObject (it)) {
            snprintf (why, sizeof why, "IDO response Items[%zu] is not an object", index);
            s_body_error (why, body, len, err, err_cap);
            goto fail;
        }
        self->count++;
        if (s_parse_item (it, index, &self->items[index], err, err_cap))
            goto fail;
        index++;
    }
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive (root, "Bookmark");
    if (cJSON_IsString (bm) && bm->valuestring && *bm->valuestring) {
        if (strlen (bm->valuestring) > CS_IDO_MAX_VALUE) {
            snprintf (err, err_cap, "IDO response Bookmark is longer than %d bytes",
                      CS_IDO_MAX_VALUE);
            goto fail;
        }
        self->bookmark = strdup (bm->valuestring);
        if (!self->bookmark) {
            snprintf (err, err_cap, "out of memory");
            goto fail;
        }
    }
    const cJSON *more = cJSON_GetObjectItemCaseSensitive (root, "MoreRowsExist");
    self->more = cJSON_IsTrue (more) || (cJSON_IsString (more) && more->valuestring &&
                                         strcasecmp (more->valuestring, "true") == 0);
    self->root = root; /* the items' names and values point into it */
    return self;

fail:
    cJSON_Delete (root);
    cs_ido_page_destroy (&self);
    return NULL;
}

size_t
cs_ido_page_size (const cs_ido_page_t *self)
{
    return self->count;
}

const char *
cs_ido_page_get (const cs_ido_page_t *self, size_t i, const char *name)
{
    if (i >= self->count)
        return NULL;
    const s_item_t *item = &self->items[i];
    for (size_t j = 0; j < item->count; j++)
        if (strcmp (item->props[j].name, name) == 0)
            return item->props[j].value;
    return NULL;
}

const char *
cs_ido_page_get_next (const cs_ido_page_t *self, size_t i, const char *name, size_t *next)
{
    if (i >= self->count)
        return NULL;
    const s_item_t *item = &self->items[i];
    size_t j = *next;
    /* with a repeated name the first one counts, as in _get: then no shortcut */
    if (j < item->count && !item->repeats && strcmp (item->props[j].name, name) == 0) {
        *next = j + 1;
        return item->props[j].value;
    }
    for (j = 0; j < item->count; j++)
        if (strcmp (item->props[j].name, name) == 0) {
            *next = j + 1;
            return item->props[j].value;
        }
    return NULL;
}

size_t
cs_ido_page_prop_count (const cs_ido_page_t *self, size_t i)
{
    return i < self->count ? self->items[i].count : 0;
}

const char *
cs_ido_page_prop_name (const cs_ido_page_t *self, size_t i, size_t j)
{
    return i < self->count && j < self->items[i].count ? self->items[i].props[j].name : NULL;
}

const char *
cs_ido_page_prop_value (const cs_ido_page_t *self, size_t i, size_t j)
{
    return i < self->count && j < self->items[i].count ? self->items[i].props[j].value : NULL;
}

const char *
cs_ido_page_bookmark (const cs_ido_page_t *self)
{
    return self->bookmark;
}

bool
cs_ido_page_more (const cs_ido_page_t *self)
{
    return self->more;
}

cs_ido_t *
cs_ido_new (const char *api_base, const char *mongoose_config, cm_http_t *http, cs_auth_t *auth,
            const cm_retry_policy_t *policy)
{
    cs_ido_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->api_base = strdup (api_base);
    self->mongoose_config = strdup (mongoose_config);
    self->http = http;
    self->auth = auth;
    self->policy = policy;
    if (!self->api_base || !self->mongoose_config)
        cs_ido_destroy (&self);
    return self;
}

void
cs_ido_destroy (cs_ido_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->api_base);
    free ((*self_p)->mongoose_config);
    free (*self_p);
    *self_p = NULL;
}

int
cs_ido_load (cs_ido_t *self, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
             size_t err_cap)
{
    int rc = -1;
    char *url = NULL;
    char *auth_hdr = NULL;
    char *cfg_hdr = NULL;
    cm_http_response_t resp = {0};
    bool renewed = false;
    char what[128];

    *page = NULL;
    const char *ti = strrchr (self->api_base, '/');
    snprintf (what, sizeof what, "tenant=%.40s ido=%.64s", ti ? ti + 1 : "",
              query->ido ? query->ido : "");
    url = cs_ido_load_url (self->api_base, query);
    auth_hdr = malloc (CS_IDO_MAX_HEADER);
    size_t clen = strlen (self->mongoose_config) + 32;
    cfg_hdr = malloc (clen);
    if (!url || !auth_hdr || !cfg_hdr) {
        snprintf (err, err_cap, "%s: out of memory or empty IDO name", what);
        goto out;
    }
    snprintf (cfg_hdr, clen, "X-Infor-MongooseConfig: %s", self->mongoose_config);

    /* Our own retry loop rather than cm_http_perform_retry: every attempt takes the
       current token, so a backoff longer than the token's life cannot cause a 401. */
    int max_attempts = self->policy->max_attempts > 0 ? self->policy->max_attempts : 1;
    for (int attempt = 1;; attempt++) {
        const char *token = NULL;
        cm_oauth_result_t orc = cs_auth_token (self->auth, &token, err, err_cap);
        if (orc != CM_OAUTH_OK)
            goto out;
        if (strlen (token) + 32 > CS_IDO_MAX_HEADER) {
            snprintf (err, err_cap, "%s: access token is implausibly long", what);
            goto out;
        }
        snprintf (auth_hdr, CS_IDO_MAX_HEADER, "Authorization: Bearer %s", token);
        const char *headers[] = {auth_hdr, cfg_hdr, "Accept: application/json", NULL};
        cm_http_request_t req = {.method = "GET", .url = url, .headers = headers};
        __atomic_add_fetch (&self->requests, 1, __ATOMIC_RELAXED);
        int hrc = cm_http_perform (self->http, &req, &resp);
        sodium_memzero (auth_hdr, CS_IDO_MAX_HEADER);

        if (hrc == 0 && resp.status == 401 && !renewed && cs_auth_invalidate (self->auth)) {
            /* expired or revoked token: renew once and retry, not counted as an attempt */
            cm_warn ("EXT_TOKEN_REJECTED", "%s status=401 action=renew", what);
            renewed = true;
            attempt--;
            cm_http_response_clear (&resp);
            continue;
        }
        if (cm_http_retryable (hrc, &resp) && attempt < max_attempts) {
            long delay = cm_backoff_ms (self->policy, attempt, hrc == 0 ? resp.retry_after_s : -1);
            cm_warn ("EXT_RETRY", "%s attempt=%d status=%ld error=\"%s\" delay_ms=%ld", what,
                     attempt, resp.status, hrc ? resp.error : "", delay);
            cm_http_response_clear (&resp);
            if (cm_sleep_ms (delay)) {
                snprintf (err, err_cap, "%s: stopped while waiting to retry", what);
                goto out;
            }
            continue;
        }
        break;
    }
    if (resp.status == 0) {
        snprintf (err, err_cap, "%s: request failed: %s", what, resp.error);
        goto out;
    }
    if (resp.status == 401) {
        char head[320];
        snprintf (head, sizeof head,
                  "%s: refused with 401 even with a new token (the ION API client may lack "
                  "access to this API)",
                  what);
        s_body_error (head, resp.body, resp.body_len, err, err_cap);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        char head[320];
        snprintf (head, sizeof head, "%s: HTTP %ld", what, resp.status);
        s_body_error (head, resp.body, resp.body_len, err, err_cap);
        goto out;
    }
    char perr[512];
    *page = cs_ido_parse (resp.body, resp.body_len, perr, sizeof perr);
    if (!*page) {
        snprintf (err, err_cap, "%s: %s", what, perr);
        goto out;
    }
    rc = 0;
out:
    cm_http_response_clear (&resp);
    if (auth_hdr) {
        sodium_memzero (auth_hdr, CS_IDO_MAX_HEADER);
        free (auth_hdr);
    }
    free (cfg_hdr);
    free (url);
    return rc;
}

int
cs_ido_load_fn (void *self, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                size_t err_cap)
{
    return cs_ido_load ((cs_ido_t *)self, query, page, err, err_cap);
}

uint64_t
cs_ido_requests (const cs_ido_t *self)
{
    return __atomic_load_n (&self->requests, __ATOMIC_RELAXED);
}
