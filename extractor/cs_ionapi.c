/*  cs_ionapi: loads and validates an Infor ION API credentials file. See cs_ionapi.h. */
#include "cs_ionapi.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_http.h"

struct cs_ionapi_t {
    char *ti;        /* tenant id */
    char *ci;        /* OAuth client id */
    char *cs;        /* OAuth client secret (wiped on destroy) */
    char *iu;        /* ION API gateway base URL */
    char *pu;        /* authorization server base URL, ends in '/' */
    char *ot;        /* token path */
    char *saak;      /* service account access key (wiped on destroy) */
    char *sask;      /* service account secret key (wiped on destroy) */
    char *token_url; /* pu + ot */
    char *api_base;  /* iu + "/" + ti */
};

/*  Frees a string after wiping it. */
static void
s_wipe_free (char **s_p)
{
    if (*s_p) {
        sodium_memzero (*s_p, strlen (*s_p));
        free (*s_p);
        *s_p = NULL;
    }
}

/*  Wipes every string value of a parsed tree before it is freed (the tree holds secrets). */
static void
s_json_wipe (cJSON *node)
{
    for (; node; node = node->next) {
        if (cJSON_IsString (node) && node->valuestring)
            sodium_memzero (node->valuestring, strlen (node->valuestring));
        if (node->child)
            s_json_wipe (node->child);
    }
}

void
cs_ionapi_destroy (cs_ionapi_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_ionapi_t *self = *self_p;
    s_wipe_free (&self->ti);
    s_wipe_free (&self->ci);
    s_wipe_free (&self->cs);
    s_wipe_free (&self->iu);
    s_wipe_free (&self->pu);
    s_wipe_free (&self->ot);
    s_wipe_free (&self->saak);
    s_wipe_free (&self->sask);
    s_wipe_free (&self->token_url);
    s_wipe_free (&self->api_base);
    free (self);
    *self_p = NULL;
}

/*  Copies the required string field `field` of root into *out. Returns 0, or -1 with a
    message naming the file and field. Never quotes the value (it may be a secret). */
static int
s_take (const char *name, const cJSON *root, const char *field, char **out, char *err,
        size_t err_cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (root, field);
    if (!item) {
        snprintf (err, err_cap, "%s: required field '%s' is missing", name, field);
        return -1;
    }
    if (!cJSON_IsString (item) || !item->valuestring) {
        snprintf (err, err_cap, "%s: field '%s' must be a string", name, field);
        return -1;
    }
    size_t len = strlen (item->valuestring);
    if (len == 0) {
        snprintf (err, err_cap, "%s: field '%s' is empty", name, field);
        return -1;
    }
    if (len > CS_IONAPI_MAX_FIELD) {
        snprintf (err, err_cap, "%s: field '%s' is longer than %d bytes", name, field,
                  CS_IONAPI_MAX_FIELD);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)item->valuestring[i] < 0x20) {
            snprintf (err, err_cap, "%s: field '%s' contains a control character", name, field);
            return -1;
        }
    }
    *out = strdup (item->valuestring);
    if (!*out) {
        snprintf (err, err_cap, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

/*  The tenant id becomes a URL path segment and a state directory name: keep it plain. */
static int
s_tenant_ok (const char *ti)
{
    if (strcmp (ti, ".") == 0 || strcmp (ti, "..") == 0)
        return 0;
    for (const char *p = ti; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

cs_ionapi_t *
cs_ionapi_parse (const char *name, const char *text, size_t len, bool allow_http, char *err,
                 size_t err_cap)
{
    cs_ionapi_t *self = NULL;
    cJSON *root = NULL;
    char why[256];

    if (len > CS_IONAPI_MAX_BYTES) {
        snprintf (err, err_cap, "%s: file is larger than %d bytes, not an .ionapi file", name,
                  CS_IONAPI_MAX_BYTES);
        goto fail;
    }
    /* a file saved by a Windows editor may start with a UTF-8 byte order mark */
    if (len >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    root = cJSON_ParseWithLength (text, len);
    if (!root) {
        snprintf (err, err_cap, "%s: invalid JSON (near byte %ld)", name,
                  cJSON_GetErrorPtr () ? (long)(cJSON_GetErrorPtr () - text) : -1L);
        goto fail;
    }
    if (!cJSON_IsObject (root)) {
        snprintf (err, err_cap, "%s: expected a JSON object", name);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "%s: out of memory", name);
        goto fail;
    }
    if (s_take (name, root, "ti", &self->ti, err, err_cap) ||
        s_take (name, root, "ci", &self->ci, err, err_cap) ||
        s_take (name, root, "cs", &self->cs, err, err_cap) ||
        s_take (name, root, "iu", &self->iu, err, err_cap) ||
        s_take (name, root, "pu", &self->pu, err, err_cap) ||
        s_take (name, root, "ot", &self->ot, err, err_cap) ||
        s_take (name, root, "saak", &self->saak, err, err_cap) ||
        s_take (name, root, "sask", &self->sask, err, err_cap))
        goto fail;

    if (!s_tenant_ok (self->ti)) {
        snprintf (err, err_cap,
                  "%s: field 'ti': tenant id may contain only letters, digits, '_', '-', '.'",
                  name);
        goto fail;
    }
    if (self->pu[strlen (self->pu) - 1] != '/') {
        snprintf (err, err_cap, "%s: field 'pu' must end in '/' (e.g. .../TENANT/as/)", name);
        goto fail;
    }
    if (cm_http_check_url (self->iu, allow_http, why, sizeof why)) {
        snprintf (err, err_cap, "%s: field 'iu': %s", name, why);
        goto fail;
    }
    if (cm_http_check_url (self->pu, allow_http, why, sizeof why)) {
        snprintf (err, err_cap, "%s: field 'pu': %s", name, why);
        goto fail;
    }
    if (self->ot[0] == '/') {
        snprintf (err, err_cap, "%s: field 'ot' must be a path relative to 'pu' (no leading '/')",
                  name);
        goto fail;
    }

    size_t tlen = strlen (self->pu) + strlen (self->ot) + 1;
    self->token_url = malloc (tlen);
    /* iu may carry a trailing '/'; the base never has one, so paths join cleanly */
    size_t iulen = strlen (self->iu);
    while (iulen > 0 && self->iu[iulen - 1] == '/')
        iulen--;
    size_t blen = iulen + 1 + strlen (self->ti) + 1;
    self->api_base = malloc (blen);
    if (!self->token_url || !self->api_base) {
        snprintf (err, err_cap, "%s: out of memory", name);
        goto fail;
    }
    snprintf (self->token_url, tlen, "%s%s", self->pu, self->ot);
    snprintf (self->api_base, blen, "%.*s/%s", (int)iulen, self->iu, self->ti);

    s_json_wipe (root);
    cJSON_Delete (root);
    return self;

fail:
    if (root) {
        s_json_wipe (root);
        cJSON_Delete (root);
    }
    cs_ionapi_destroy (&self);
    return NULL;
}

cs_ionapi_t *
cs_ionapi_load (const char *path, bool allow_http, char *err, size_t err_cap)
{
    cs_ionapi_t *self = NULL;
    char *buf = NULL;
    size_t len = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (err, err_cap, "%s: cannot open .ionapi file: %s", path, strerror (errno));
        goto out;
    }
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        snprintf (err, err_cap, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size > CS_IONAPI_MAX_BYTES) {
        snprintf (err, err_cap, "%s: file is larger than %d bytes, not an .ionapi file", path,
                  CS_IONAPI_MAX_BYTES);
        goto out;
    }
    /* read up to one byte over the cap so a file that grew since fstat is still refused */
    buf = malloc (CS_IONAPI_MAX_BYTES + 2);
    if (!buf) {
        snprintf (err, err_cap, "%s: out of memory", path);
        goto out;
    }
    while (len < CS_IONAPI_MAX_BYTES + 1) {
        ssize_t n = read (fd, buf + len, CS_IONAPI_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf (err, err_cap, "%s: read failed: %s", path, strerror (errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    self = cs_ionapi_parse (path, buf, len, allow_http, err, err_cap);

out:
    if (buf) {
        sodium_memzero (buf, len);
        free (buf);
    }
    if (fd >= 0)
        close (fd);
    return self;
}

const char *
cs_ionapi_tenant (const cs_ionapi_t *self)
{
    return self->ti;
}

const char *
cs_ionapi_client_id (const cs_ionapi_t *self)
{
    return self->ci;
}

const char *
cs_ionapi_client_secret (const cs_ionapi_t *self)
{
    return self->cs;
}

const char *
cs_ionapi_saak (const cs_ionapi_t *self)
{
    return self->saak;
}

const char *
cs_ionapi_sask (const cs_ionapi_t *self)
{
    return self->sask;
}

const char *
cs_ionapi_token_url (const cs_ionapi_t *self)
{
    return self->token_url;
}

const char *
cs_ionapi_api_base (const cs_ionapi_t *self)
{
    return self->api_base;
}
