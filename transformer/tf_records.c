/*  tf_records: records files (IDO LoadCollection JSON) as envelopes. See tf_records.h. */
#include "tf_records.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_RECORDS_MAX_KEYS 8 /* key properties of one entity */

struct tf_records_t {
    cm_envelope_t **envs; /* one per record, file order */
    size_t count;         /* number of records */
};

static void errf (char *err, size_t cap, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
errf (char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, cap, fmt, ap);
    va_end (ap);
}

void
tf_records_destroy (tf_records_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_records_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        cm_envelope_destroy (&self->envs[i]);
    free (self->envs);
    free (self);
    *self_p = NULL;
}

size_t
tf_records_count (const tf_records_t *self)
{
    return self ? self->count : 0;
}

cm_envelope_t *
tf_records_at (tf_records_t *self, size_t index)
{
    return self && index < self->count ? self->envs[index] : NULL;
}

/*  The text of a property value: strings as they are, null as "", numbers and booleans
    as JSON text. Returns a malloc'd string, or NULL (with *bad set) for arrays/objects. */
static char *
value_text (const cJSON *v, bool *bad)
{
    *bad = false;
    if (cJSON_IsString (v))
        return strdup (v->valuestring);
    if (cJSON_IsNull (v))
        return strdup ("");
    if (cJSON_IsBool (v))
        return strdup (cJSON_IsTrue (v) ? "1" : "0");
    if (cJSON_IsNumber (v))
        return cJSON_PrintUnformatted (v);
    *bad = true;
    return NULL;
}

/*  Builds one envelope from an item. Returns it, or NULL with the reason in err. */
static cm_envelope_t *
item_envelope (const cJSON *item, size_t index, const char *origin, const char *tenant,
               const char *entity, char keys[][256], size_t key_count, char *err, size_t err_cap)
{
    cm_envelope_t *env = NULL;
    char *key = NULL;
    if (!cJSON_IsObject (item)) {
        errf (err, err_cap, "%s: record %zu: not a JSON object", origin, index);
        return NULL;
    }
    //  The key first: every key property must be present and non-empty.
    size_t key_len = 0;
    for (size_t k = 0; k < key_count; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive (item, keys[k]);
        if (!cJSON_IsString (v) && !cJSON_IsNumber (v)) {
            errf (err, err_cap, "%s: record %zu: key property '%s' is missing or not text", origin,
                  index, keys[k]);
            goto fail;
        }
        bool bad;
        char *text = value_text (v, &bad);
        if (!text) {
            errf (err, err_cap, "out of memory");
            goto fail;
        }
        size_t n = strlen (text);
        char *grown = realloc (key, key_len + n + 2);
        if (!grown || n == 0) {
            errf (err, err_cap, n ? "out of memory" : "%s: record %zu: key property '%s' is empty",
                  origin, index, keys[k]);
            free (text);
            if (grown)
                key = grown;
            goto fail;
        }
        key = grown;
        if (k)
            key[key_len++] = '/';
        memcpy (key + key_len, text, n + 1);
        key_len += n;
        free (text);
    }
    env = cm_envelope_new (tenant, entity, key);
    if (!env) {
        errf (err, err_cap, "out of memory");
        goto fail;
    }
    for (const cJSON *v = item->child; v; v = v->next) {
        if (!v->string || strcmp (v->string, "_ItemId") == 0)
            continue;
        bool bad;
        char *text = value_text (v, &bad);
        if (!text) {
            if (bad)
                errf (err, err_cap, "%s: record %zu: property '%.80s' is not a text value", origin,
                      index, v->string);
            else
                errf (err, err_cap, "out of memory");
            goto fail;
        }
        if (strlen (text) > CM_ENVELOPE_MAX_STR || strlen (v->string) > 256) {
            errf (err, err_cap, "%s: record %zu: property '%.80s' is too long", origin, index,
                  v->string);
            free (text);
            goto fail;
        }
        int rc = cm_envelope_add_field (env, v->string, text);
        free (text);
        if (rc) {
            errf (err, err_cap, "%s: record %zu: more than %d properties", origin, index,
                  CM_ENVELOPE_MAX_FIELDS);
            goto fail;
        }
    }
    cm_envelope_compute_hash (env);
    free (key);
    return env;
fail:
    free (key);
    cm_envelope_destroy (&env);
    return NULL;
}

tf_records_t *
tf_records_parse (const char *text, size_t len, const char *origin, const char *tenant,
                  const char *entity, const char *key_props, char *err, size_t err_cap)
{
    tf_records_t *self = NULL;
    cJSON *root = NULL;
    char keys[TF_RECORDS_MAX_KEYS][256];
    size_t key_count = 0;
    //  Key properties: a comma list of names.
    for (const char *p = key_props ? key_props : ""; *p;) {
        const char *c = strchr (p, ',');
        size_t n = c ? (size_t)(c - p) : strlen (p);
        if (n == 0 || n >= sizeof keys[0] || key_count == TF_RECORDS_MAX_KEYS) {
            errf (err, err_cap, "key properties '%.100s': bad list", key_props);
            return NULL;
        }
        memcpy (keys[key_count], p, n);
        keys[key_count++][n] = 0;
        p = c ? c + 1 : p + n;
    }
    if (key_count == 0) {
        errf (err, err_cap, "no key properties for entity '%s'", entity);
        return NULL;
    }
    if (len > (size_t)TF_RECORDS_MAX_BYTES) {
        errf (err, err_cap, "%s: larger than %ld bytes", origin, TF_RECORDS_MAX_BYTES);
        return NULL;
    }
    root = cJSON_ParseWithLength (text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr ();
        long pos = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        errf (err, err_cap, "%s: not valid JSON (near byte %ld)", origin, pos);
        goto fail;
    }
    const cJSON *items = root;
    if (cJSON_IsObject (root)) {
        items = cJSON_GetObjectItemCaseSensitive (root, "Items");
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive (root, "Success");
        if (cJSON_IsFalse (ok)) {
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive (root, "Message");
            errf (err, err_cap, "%s: the response failed: %.200s", origin,
                  cJSON_IsString (msg) ? msg->valuestring : "(no message)");
            goto fail;
        }
    }
    if (!cJSON_IsArray (items)) {
        errf (err, err_cap,
              "%s: expected an array of records or a LoadCollection response "
              "with \"Items\"",
              origin);
        goto fail;
    }
    size_t count = (size_t)cJSON_GetArraySize (items);
    if (count > TF_RECORDS_MAX_COUNT) {
        errf (err, err_cap, "%s: more than %d records", origin, TF_RECORDS_MAX_COUNT);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self || !(self->envs = calloc (count ? count : 1, sizeof *self->envs))) {
        errf (err, err_cap, "out of memory");
        goto fail;
    }
    size_t index = 0;
    for (const cJSON *item = items->child; item; item = item->next, index++) {
        cm_envelope_t *env =
            item_envelope (item, index, origin, tenant, entity, keys, key_count, err, err_cap);
        if (!env)
            goto fail;
        self->envs[self->count++] = env;
    }
    cJSON_Delete (root);
    return self;
fail:
    cJSON_Delete (root);
    tf_records_destroy (&self);
    return NULL;
}

tf_records_t *
tf_records_load (const char *path, const char *tenant, const char *entity, const char *key_props,
                 char *err, size_t err_cap)
{
    tf_records_t *self = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    //  "-" is standard input; pipes have no size, so read in growing chunks up to the cap.
    bool is_stdin = strcmp (path, "-") == 0;
    FILE *file = is_stdin ? stdin : fopen (path, "rb");
    if (!file) {
        errf (err, err_cap, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            if (cap > (size_t)TF_RECORDS_MAX_BYTES) {
                errf (err, err_cap, "%s: larger than %ld bytes", path, TF_RECORDS_MAX_BYTES);
                goto out;
            }
            cap = cap ? cap * 2 : 1 << 20;
            char *grown = realloc (buf, cap);
            if (!grown) {
                errf (err, err_cap, "out of memory");
                goto out;
            }
            buf = grown;
        }
        size_t n = fread (buf + len, 1, cap - len, file);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror (file)) {
        errf (err, err_cap, "%s: read error: %s", path, strerror (errno));
        goto out;
    }
    self = tf_records_parse (buf, len, path, tenant, entity, key_props, err, err_cap);
out:
    if (!is_stdin)
        fclose (file);
    free (buf);
    return self;
}
