/*  cm_envelope: the record envelope and its msgpack codec. See cm_envelope.h. */
#include "cm_envelope.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_msgpack.h"
#include "cm_time.h"

#define CM_ENVELOPE_MAX_DEPTH 4 /* root map -> src map: anything deeper is ignored data */

static char *
dup_or_null (const char *s)
{
    return s ? strdup (s) : NULL;
}

static int
sodium_ready (void)
{
    /*  sodium_init is thread-safe and idempotent: 0 first time, 1 afterwards. */
    return sodium_init () < 0 ? -1 : 0;
}

cm_envelope_t *
cm_envelope_new (const char *tenant, const char *entity, const char *key)
{
    if (sodium_ready () != 0)
        return NULL;
    cm_envelope_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->version = CM_ENVELOPE_VERSION;
    unsigned char raw[16];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (self->id, sizeof self->id, raw, sizeof raw);
    self->tenant = strdup (tenant ? tenant : "");
    self->entity = strdup (entity ? entity : "");
    self->key = strdup (key ? key : "");
    self->attempt = 1;
    self->extracted_at_ms = cm_now_ms ();
    self->sent_at_ms = self->extracted_at_ms;
    if (!self->tenant || !self->entity || !self->key)
        cm_envelope_destroy (&self);
    return self;
}

static void
clear_target (cm_envelope_t *self)
{
    free (self->sobject);
    free (self->ext_id_field);
    free (self->ext_id);
    free (self->payload);
    self->sobject = self->ext_id_field = self->ext_id = self->payload = NULL;
}

void
cm_envelope_destroy (cm_envelope_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_envelope_t *self = *self_p;
    free (self->tenant);
    free (self->entity);
    free (self->key);
    for (size_t i = 0; i < self->field_count; i++) {
        free (self->fields[i].name);
        free (self->fields[i].value);
    }
    free (self->fields);
    clear_target (self);
    free (self);
    *self_p = NULL;
}

/*  Appends taking ownership of name and value (freed on failure). */
static int
add_field_owned (cm_envelope_t *self, char *name, char *value)
{
    if (!name || !value || self->field_count >= CM_ENVELOPE_MAX_FIELDS)
        goto fail;
    if (self->field_count == self->field_cap) {
        size_t cap = self->field_cap ? self->field_cap * 2 : 16;
        if (cap > CM_ENVELOPE_MAX_FIELDS)
            cap = CM_ENVELOPE_MAX_FIELDS;
        cm_field_t *grown = realloc (self->fields, cap * sizeof *grown);
        if (!grown)
            goto fail;
        self->fields = grown;
        self->field_cap = cap;
    }
    self->fields[self->field_count].name = name;
    self->fields[self->field_count].value = value;
    self->field_count++;
    return 0;
fail:
    free (name);
    free (value);
    return -1;
}

int
cm_envelope_add_field (cm_envelope_t *self, const char *name, const char *value)
{
    if (!name || self->field_count >= CM_ENVELOPE_MAX_FIELDS)
        return -1;
    return add_field_owned (self, strdup (name), strdup (value ? value : ""));
}

const char *
cm_envelope_field (const cm_envelope_t *self, const char *name)
{
    for (size_t i = 0; i < self->field_count; i++)
        if (strcmp (self->fields[i].name, name) == 0)
            return self->fields[i].value;
    return NULL;
}

static int
field_cmp (const void *a, const void *b)
{
    const cm_field_t *fa = *(const cm_field_t *const *)a;
    const cm_field_t *fb = *(const cm_field_t *const *)b;
    int c = strcmp (fa->name, fb->name);
    return c ? c : strcmp (fa->value, fb->value);
}

void
cm_envelope_compute_hash (cm_envelope_t *self)
{
    self->hash[0] = '\0';
    if (sodium_ready () != 0)
        return;
    const cm_field_t **order = NULL;
    if (self->field_count > 0) {
        order = malloc (self->field_count * sizeof *order);
        if (!order)
            return;
        for (size_t i = 0; i < self->field_count; i++)
            order[i] = &self->fields[i];
        qsort (order, self->field_count, sizeof *order, field_cmp);
    }
    crypto_generichash_state st;
    unsigned char digest[16];
    crypto_generichash_init (&st, NULL, 0, sizeof digest);
    for (size_t i = 0; i < self->field_count; i++) {
        /*  Including the terminating NULs keeps ("ab","c") apart from ("a","bc"). */
        crypto_generichash_update (&st, (const unsigned char *)order[i]->name,
                                   strlen (order[i]->name) + 1);
        crypto_generichash_update (&st, (const unsigned char *)order[i]->value,
                                   strlen (order[i]->value) + 1);
    }
    crypto_generichash_final (&st, digest, sizeof digest);
    sodium_bin2hex (self->hash, sizeof self->hash, digest, sizeof digest);
    free (order);
}

int
cm_envelope_set_target (cm_envelope_t *self, const char *sobject, const char *ext_id_field,
                        const char *ext_id, const char *payload)
{
    char *a = dup_or_null (sobject), *b = dup_or_null (ext_id_field), *c = dup_or_null (ext_id),
         *d = dup_or_null (payload);
    if ((sobject && !a) || (ext_id_field && !b) || (ext_id && !c) || (payload && !d)) {
        free (a);
        free (b);
        free (c);
        free (d);
        return -1;
    }
    clear_target (self);
    self->sobject = a;
    self->ext_id_field = b;
    self->ext_id = c;
    self->payload = d;
    return 0;
}

static bool
str_ok (const char *s)
{
    return !s || strlen (s) <= CM_ENVELOPE_MAX_STR;
}

int
cm_envelope_encode (const cm_envelope_t *self, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (!str_ok (self->tenant) || !str_ok (self->entity) || !str_ok (self->key) ||
        !str_ok (self->sobject) || !str_ok (self->ext_id_field) || !str_ok (self->ext_id) ||
        !str_ok (self->payload) || self->field_count > CM_ENVELOPE_MAX_FIELDS)
        return -1;
    for (size_t i = 0; i < self->field_count; i++)
        if (!str_ok (self->fields[i].name) || !str_ok (self->fields[i].value))
            return -1;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    int n = 10 + (self->sobject != NULL) + (self->ext_id_field != NULL) + (self->ext_id != NULL) +
            (self->payload != NULL);
    int rc = msgpack_pack_map (&pk, (size_t)n);
    rc |= cm_msgpack_pack_cstr (&pk, "v");
    rc |= msgpack_pack_uint32 (&pk, self->version);
    rc |= cm_msgpack_pack_cstr (&pk, "id");
    rc |= cm_msgpack_pack_cstr (&pk, self->id);
    rc |= cm_msgpack_pack_cstr (&pk, "tenant");
    rc |= cm_msgpack_pack_cstr (&pk, self->tenant);
    rc |= cm_msgpack_pack_cstr (&pk, "entity");
    rc |= cm_msgpack_pack_cstr (&pk, self->entity);
    rc |= cm_msgpack_pack_cstr (&pk, "key");
    rc |= cm_msgpack_pack_cstr (&pk, self->key);
    rc |= cm_msgpack_pack_cstr (&pk, "hash");
    rc |= cm_msgpack_pack_cstr (&pk, self->hash);
    rc |= cm_msgpack_pack_cstr (&pk, "attempt");
    rc |= msgpack_pack_uint32 (&pk, self->attempt);
    rc |= cm_msgpack_pack_cstr (&pk, "ts_ex");
    rc |= msgpack_pack_int64 (&pk, self->extracted_at_ms);
    rc |= cm_msgpack_pack_cstr (&pk, "ts");
    rc |= msgpack_pack_int64 (&pk, self->sent_at_ms);
    rc |= cm_msgpack_pack_cstr (&pk, "src");
    rc |= msgpack_pack_map (&pk, self->field_count);
    for (size_t i = 0; i < self->field_count && rc == 0; i++) {
        rc |= cm_msgpack_pack_cstr (&pk, self->fields[i].name);
        rc |= cm_msgpack_pack_cstr (&pk, self->fields[i].value);
        if (sbuf.size > CM_ENVELOPE_MAX_BYTES)
            rc = -1;
    }
    if (self->sobject) {
        rc |= cm_msgpack_pack_cstr (&pk, "sobject");
        rc |= cm_msgpack_pack_cstr (&pk, self->sobject);
    }
    if (self->ext_id_field) {
        rc |= cm_msgpack_pack_cstr (&pk, "extf");
        rc |= cm_msgpack_pack_cstr (&pk, self->ext_id_field);
    }
    if (self->ext_id) {
        rc |= cm_msgpack_pack_cstr (&pk, "extid");
        rc |= cm_msgpack_pack_cstr (&pk, self->ext_id);
    }
    if (self->payload) {
        rc |= cm_msgpack_pack_cstr (&pk, "payload");
        rc |= cm_msgpack_pack_cstr (&pk, self->payload);
    }
    if (rc != 0 || sbuf.size > CM_ENVELOPE_MAX_BYTES) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    /*  The sbuffer's storage is malloc'd: hand it over. An empty map cannot happen. */
    *size = sbuf.size;
    *data = msgpack_sbuffer_release (&sbuf);
    msgpack_sbuffer_destroy (&sbuf);
    return *data ? 0 : -1;
}

static bool
is_hex32 (const char *s)
{
    if (strlen (s) != 32)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/*  Reads a str into a fixed 33-byte hex slot. */
static int
read_hex (const msgpack_object *o, const char *field, bool allow_empty, char out[33], char *err,
          size_t err_cap)
{
    char *s = cm_msgpack_strdup (o, field, 32, err, err_cap);
    if (!s)
        return -1;
    int rc = 0;
    if (!(allow_empty && *s == '\0') && !is_hex32 (s)) {
        snprintf (err, err_cap, "field '%s': expected 32 lowercase hex characters", field);
        rc = -1;
    } else
        snprintf (out, 33, "%s", s);
    free (s);
    return rc;
}

static int
read_src (cm_envelope_t *self, const msgpack_object *o, char *err, size_t err_cap)
{
    if (o->type != MSGPACK_OBJECT_MAP) {
        snprintf (err, err_cap, "field 'src': expected map, got %s", cm_msgpack_type_name (o));
        return -1;
    }
    if (o->via.map.size > CM_ENVELOPE_MAX_FIELDS) {
        snprintf (err, err_cap, "field 'src': %u fields, more than %d", o->via.map.size,
                  CM_ENVELOPE_MAX_FIELDS);
        return -1;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char *name = cm_msgpack_strdup (&kv->key, "src name", CM_ENVELOPE_MAX_STR, err, err_cap);
        if (!name)
            return -1;
        if (*name == '\0') {
            snprintf (err, err_cap, "field 'src': empty field name");
            free (name);
            return -1;
        }
        if (cm_envelope_field (self, name)) {
            snprintf (err, err_cap, "field 'src': duplicate field name '%.64s'", name);
            free (name);
            return -1;
        }
        char label[96];
        snprintf (label, sizeof label, "src.%.64s", name);
        char *value = cm_msgpack_strdup (&kv->val, label, CM_ENVELOPE_MAX_STR, err, err_cap);
        if (!value) {
            free (name);
            return -1;
        }
        if (add_field_owned (self, name, value) != 0) {
            snprintf (err, err_cap, "field 'src': out of memory");
            return -1;
        }
    }
    return 0;
}

/*  Reads a required or optional non-empty string member. */
static int
read_str (const msgpack_object *o, const char *field, bool allow_empty, char **out, char *err,
          size_t err_cap)
{
    char *s = cm_msgpack_strdup (o, field, CM_ENVELOPE_MAX_STR, err, err_cap);
    if (!s)
        return -1;
    if (!allow_empty && *s == '\0') {
        snprintf (err, err_cap, "field '%s': empty", field);
        free (s);
        return -1;
    }
    free (*out);
    *out = s;
    return 0;
}

enum {
    F_V,
    F_ID,
    F_TENANT,
    F_ENTITY,
    F_KEY,
    F_HASH,
    F_ATTEMPT,
    F_TS_EX,
    F_TS,
    F_SRC,
    F_SOBJECT,
    F_EXTF,
    F_EXTID,
    F_PAYLOAD,
    F_COUNT
};
static const char *s_names[F_COUNT] = {"v",       "id",      "tenant", "entity", "key",
                                       "hash",    "attempt", "ts_ex",  "ts",     "src",
                                       "sobject", "extf",    "extid",  "payload"};
#define F_REQUIRED F_SOBJECT /* members before this one are required */

cm_envelope_t *
cm_envelope_decode (const void *data, size_t size, char *err, size_t err_cap)
{
    cm_envelope_t *self = NULL;
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    if (!data || size == 0) {
        snprintf (err, err_cap, "empty envelope");
        goto fail;
    }
    if (size > CM_ENVELOPE_MAX_BYTES) {
        snprintf (err, err_cap, "envelope of %zu bytes exceeds %d", size, CM_ENVELOPE_MAX_BYTES);
        goto fail;
    }
    if (cm_msgpack_check (data, size, CM_ENVELOPE_MAX_DEPTH, err, err_cap) != 0)
        goto fail;
    if (cm_msgpack_unpack_map (data, size, &result, err, err_cap) != 0)
        goto fail;
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    const msgpack_object_map *map = &result.data.via.map;
    const msgpack_object *member[F_COUNT] = {0};
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) {
            snprintf (err, err_cap, "envelope key %u: expected str, got %s", i,
                      cm_msgpack_type_name (k));
            goto fail;
        }
        for (int f = 0; f < F_COUNT; f++)
            if (cm_msgpack_str_is (k, s_names[f])) {
                if (member[f]) {
                    snprintf (err, err_cap, "field '%s': duplicate", s_names[f]);
                    goto fail;
                }
                member[f] = &map->ptr[i].val;
            }
        /*  Unknown members are ignored for forward compatibility. */
    }
    /*  The version first: a newer format explains every other difference. */
    for (int f = 0; f < F_REQUIRED; f++)
        if (!member[f]) {
            snprintf (err, err_cap, "missing required field '%s'", s_names[f]);
            goto fail;
        }
    uint64_t u;
    if (cm_msgpack_uint (member[F_V], "v", UINT32_MAX, &u, err, err_cap) != 0)
        goto fail;
    if (u != CM_ENVELOPE_VERSION) {
        snprintf (err, err_cap, "field 'v': version %llu, expected %d", (unsigned long long)u,
                  CM_ENVELOPE_VERSION);
        goto fail;
    }
    self->version = (uint32_t)u;
    if (read_hex (member[F_ID], "id", false, self->id, err, err_cap) != 0 ||
        read_str (member[F_TENANT], "tenant", false, &self->tenant, err, err_cap) != 0 ||
        read_str (member[F_ENTITY], "entity", false, &self->entity, err, err_cap) != 0 ||
        read_str (member[F_KEY], "key", false, &self->key, err, err_cap) != 0 ||
        read_hex (member[F_HASH], "hash", true, self->hash, err, err_cap) != 0)
        goto fail;
    if (cm_msgpack_uint (member[F_ATTEMPT], "attempt", UINT32_MAX, &u, err, err_cap) != 0)
        goto fail;
    if (u == 0) {
        snprintf (err, err_cap, "field 'attempt': must be at least 1");
        goto fail;
    }
    self->attempt = (uint32_t)u;
    if (cm_msgpack_int (member[F_TS_EX], "ts_ex", &self->extracted_at_ms, err, err_cap) != 0 ||
        cm_msgpack_int (member[F_TS], "ts", &self->sent_at_ms, err, err_cap) != 0 ||
        read_src (self, member[F_SRC], err, err_cap) != 0)
        goto fail;
    if ((member[F_SOBJECT] &&
         read_str (member[F_SOBJECT], "sobject", false, &self->sobject, err, err_cap) != 0) ||
        (member[F_EXTF] &&
         read_str (member[F_EXTF], "extf", false, &self->ext_id_field, err, err_cap) != 0) ||
        (member[F_EXTID] &&
         read_str (member[F_EXTID], "extid", true, &self->ext_id, err, err_cap) != 0) ||
        (member[F_PAYLOAD] &&
         read_str (member[F_PAYLOAD], "payload", true, &self->payload, err, err_cap) != 0))
        goto fail;
    msgpack_unpacked_destroy (&result);
    return self;
fail:
    msgpack_unpacked_destroy (&result);
    cm_envelope_destroy (&self);
    return NULL;
}
