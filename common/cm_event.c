/*  cm_event: stage outcome events and their msgpack codec. See cm_event.h. */
#include "cm_event.h"

#include <assert.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_msgpack.h"
#include "cm_time.h"

#define CM_EVENT_MAX_DEPTH 4

static const char *s_stage_names[] = {"extract", "transform", "load", "replay"};
static const char *s_outcome_names[] = {"extracted", "transformed", "rejected", "loaded",
                                        "failed",    "retrying",    "skipped"};
static const char *s_class_names[] = {"none", "retryable", "permanent"};

const char *
cm_stage_name (cm_stage_t stage)
{
    return (unsigned)stage < 4 ? s_stage_names[stage] : "unknown";
}

const char *
cm_outcome_name (cm_outcome_t outcome)
{
    return (unsigned)outcome < CM_OUTCOME_COUNT ? s_outcome_names[outcome] : "unknown";
}

const char *
cm_error_class_name (cm_error_class_t cls)
{
    return (unsigned)cls < 3 ? s_class_names[cls] : "unknown";
}

int
cm_event_set_str (cm_event_t *self, char **member, const char *value)
{
    char *copy = NULL;
    if (value) {
        copy = strdup (value);
        if (!copy)
            return -1;
    }
    free (*member);
    *member = copy;
    return 0;
}

cm_event_t *
cm_event_new (cm_stage_t stage, cm_outcome_t outcome, const cm_envelope_t *env)
{
    assert (env);
    cm_event_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->stage = stage;
    self->outcome = outcome;
    self->attempt = env->attempt;
    self->at_ms = cm_now_ms ();
    if (cm_event_set_str (self, &self->envelope_id, env->id) ||
        cm_event_set_str (self, &self->tenant, env->tenant ? env->tenant : "") ||
        cm_event_set_str (self, &self->entity, env->entity ? env->entity : "") ||
        cm_event_set_str (self, &self->key, env->key ? env->key : "") ||
        cm_event_set_str (self, &self->hash, env->hash) ||
        cm_event_set_str (self, &self->sobject, env->sobject) ||
        cm_event_set_str (self, &self->ext_id, env->ext_id))
        cm_event_destroy (&self);
    return self;
}

void
cm_event_destroy (cm_event_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_event_t *self = *self_p;
    free (self->envelope_id);
    free (self->tenant);
    free (self->entity);
    free (self->key);
    free (self->hash);
    free (self->sobject);
    free (self->ext_id);
    free (self->sf_id);
    free (self->error_code);
    free (self->message);
    free (self->error_fields);
    free (self->envelope);
    free (self);
    *self_p = NULL;
}

int
cm_event_set_error (cm_event_t *self, cm_error_class_t cls, const char *code, const char *message,
                    const char *fields, int http_status)
{
    char *c = code ? strdup (code) : NULL, *m = message ? strdup (message) : NULL,
         *f = fields ? strdup (fields) : NULL;
    if ((code && !c) || (message && !m) || (fields && !f)) {
        free (c);
        free (m);
        free (f);
        return -1;
    }
    free (self->error_code);
    free (self->message);
    free (self->error_fields);
    self->error_class = cls;
    self->error_code = c;
    self->message = m;
    self->error_fields = f;
    self->http_status = http_status;
    return 0;
}

int
cm_event_set_envelope (cm_event_t *self, const void *data, size_t size)
{
    if (size > CM_ENVELOPE_MAX_BYTES || (!data && size > 0))
        return -1;
    char *copy = malloc (size ? size : 1);
    if (!copy)
        return -1;
    if (size)
        memcpy (copy, data, size);
    free (self->envelope);
    self->envelope = copy;
    self->envelope_size = size;
    return 0;
}

/*  Cuts a message-like string to CM_EVENT_MAX_STR when packing: an over-long error text
    from an API must not make the whole event unencodable. */
static int
pack_capped (msgpack_packer *pk, const char *text)
{
    size_t len = text ? strlen (text) : 0;
    if (len > CM_EVENT_MAX_STR)
        len = CM_EVENT_MAX_STR;
    int rc = msgpack_pack_str (pk, len);
    if (rc == 0 && len > 0)
        rc = msgpack_pack_str_body (pk, text, len);
    return rc;
}

static int
pack_kv (msgpack_packer *pk, const char *key, const char *value)
{
    return cm_msgpack_pack_cstr (pk, key) | pack_capped (pk, value);
}

int
cm_event_encode (const cm_event_t *self, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (self->envelope_size > CM_ENVELOPE_MAX_BYTES || (unsigned)self->stage > 3 ||
        (unsigned)self->outcome >= CM_OUTCOME_COUNT || (unsigned)self->error_class > 2)
        return -1;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    bool is_loaded = self->outcome == CM_OUTCOME_LOADED;
    int n = 10 + (self->sobject != NULL) + (self->ext_id != NULL) + (self->sf_id != NULL) +
            is_loaded + (self->error_class != CM_ERR_NONE) + (self->error_code != NULL) +
            (self->message != NULL) + (self->error_fields != NULL) + (self->http_status > 0) +
            (self->envelope != NULL);
    int rc = msgpack_pack_map (&pk, (size_t)n);
    rc |= cm_msgpack_pack_cstr (&pk, "v");
    rc |= msgpack_pack_uint32 (&pk, CM_EVENT_VERSION);
    rc |= pack_kv (&pk, "stage", cm_stage_name (self->stage));
    rc |= pack_kv (&pk, "out", cm_outcome_name (self->outcome));
    rc |= pack_kv (&pk, "eid", self->envelope_id);
    rc |= pack_kv (&pk, "tenant", self->tenant);
    rc |= pack_kv (&pk, "entity", self->entity);
    rc |= pack_kv (&pk, "key", self->key);
    rc |= pack_kv (&pk, "hash", self->hash);
    rc |= cm_msgpack_pack_cstr (&pk, "attempt");
    rc |= msgpack_pack_uint32 (&pk, self->attempt);
    rc |= cm_msgpack_pack_cstr (&pk, "at");
    rc |= msgpack_pack_int64 (&pk, self->at_ms);
    if (self->sobject)
        rc |= pack_kv (&pk, "sobj", self->sobject);
    if (self->ext_id)
        rc |= pack_kv (&pk, "extid", self->ext_id);
    if (self->sf_id)
        rc |= pack_kv (&pk, "sfid", self->sf_id);
    if (is_loaded) {
        rc |= cm_msgpack_pack_cstr (&pk, "created");
        rc |= self->created ? msgpack_pack_true (&pk) : msgpack_pack_false (&pk);
    }
    if (self->error_class != CM_ERR_NONE)
        rc |= pack_kv (&pk, "class", cm_error_class_name (self->error_class));
    if (self->error_code)
        rc |= pack_kv (&pk, "code", self->error_code);
    if (self->message)
        rc |= pack_kv (&pk, "msg", self->message);
    if (self->error_fields)
        rc |= pack_kv (&pk, "fields", self->error_fields);
    if (self->http_status > 0) {
        rc |= cm_msgpack_pack_cstr (&pk, "http");
        rc |= msgpack_pack_uint32 (&pk, (uint32_t)self->http_status);
    }
    if (self->envelope) {
        rc |= cm_msgpack_pack_cstr (&pk, "env");
        rc |= msgpack_pack_bin (&pk, self->envelope_size);
        if (self->envelope_size > 0)
            rc |= msgpack_pack_bin_body (&pk, self->envelope, self->envelope_size);
    }
    if (rc != 0 || sbuf.size > CM_EVENT_MAX_BYTES) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    *size = sbuf.size;
    *data = msgpack_sbuffer_release (&sbuf);
    msgpack_sbuffer_destroy (&sbuf);
    return *data ? 0 : -1;
}

static int
read_enum (const msgpack_object *o, const char *field, const char *const *names, int count,
           int *out, char *err, size_t err_cap)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        snprintf (err, err_cap, "field '%s': expected str, got %s", field,
                  cm_msgpack_type_name (o));
        return -1;
    }
    for (int i = 0; i < count; i++)
        if (cm_msgpack_str_is (o, names[i])) {
            *out = i;
            return 0;
        }
    snprintf (err, err_cap, "field '%s': unknown value", field);
    return -1;
}

static int
read_str (const msgpack_object *o, const char *field, bool allow_empty, char **out, char *err,
          size_t err_cap)
{
    char *s = cm_msgpack_strdup (o, field, CM_EVENT_MAX_STR, err, err_cap);
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
    E_V,
    E_STAGE,
    E_OUT,
    E_EID,
    E_TENANT,
    E_ENTITY,
    E_KEY,
    E_HASH,
    E_ATTEMPT,
    E_AT,
    E_SOBJ,
    E_EXTID,
    E_SFID,
    E_CREATED,
    E_CLASS,
    E_CODE,
    E_MSG,
    E_FIELDS,
    E_HTTP,
    E_ENV,
    E_COUNT
};
static const char *s_members[E_COUNT] = {
    "v",    "stage", "out",  "eid",     "tenant", "entity", "key", "hash",   "attempt", "at",
    "sobj", "extid", "sfid", "created", "class",  "code",   "msg", "fields", "http",    "env"};
#define E_REQUIRED E_SOBJ /* members before this one are required */

/*  The member a map key names, or -1: one switch on the length and the first byte, then
    one compare (the decoder sees every key of every event). */
static int
member_of (const msgpack_object *k)
{
    const char *p = k->via.str.ptr;
    uint32_t n = k->via.str.size;
    int f = -1;
    if (n == 0 || n > 7)
        return -1;
    switch (n) {
    case 1:
        f = p[0] == 'v' ? E_V : -1;
        break;
    case 2:
        f = p[0] == 'a' ? E_AT : -1;
        break;
    case 3:
        f = p[0] == 'o'   ? E_OUT
            : p[0] == 'e' ? (p[1] == 'i' ? E_EID : E_ENV)
            : p[0] == 'k' ? E_KEY
            : p[0] == 'm' ? E_MSG
                          : -1;
        break;
    case 4:
        f = p[0] == 'h'   ? (p[1] == 'a' ? E_HASH : E_HTTP)
            : p[0] == 's' ? (p[1] == 'o' ? E_SOBJ : E_SFID)
            : p[0] == 'c' ? E_CODE
                          : -1;
        break;
    case 5:
        f = p[0] == 's' ? E_STAGE : p[0] == 'e' ? E_EXTID : p[0] == 'c' ? E_CLASS : -1;
        break;
    case 6:
        f = p[0] == 't' ? E_TENANT : p[0] == 'e' ? E_ENTITY : p[0] == 'f' ? E_FIELDS : -1;
        break;
    case 7:
        f = p[0] == 'a' ? E_ATTEMPT : p[0] == 'c' ? E_CREATED : -1;
        break;
    }
    return f >= 0 && memcmp (p, s_members[f], n) == 0 && s_members[f][n] == '\0' ? f : -1;
}

cm_event_t *
cm_event_decode (const void *data, size_t size, char *err, size_t err_cap)
{
    cm_event_t *self = NULL;
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    if (!data || size == 0) {
        snprintf (err, err_cap, "empty event");
        goto fail;
    }
    if (size > CM_EVENT_MAX_BYTES) {
        snprintf (err, err_cap, "event of %zu bytes exceeds %d", size, CM_EVENT_MAX_BYTES);
        goto fail;
    }
    if (cm_msgpack_check (data, size, CM_EVENT_MAX_DEPTH, err, err_cap) != 0 ||
        cm_msgpack_unpack_map (data, size, &result, err, err_cap) != 0)
        goto fail;
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    const msgpack_object_map *map = &result.data.via.map;
    const msgpack_object *m[E_COUNT] = {0};
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) {
            snprintf (err, err_cap, "event key %u: expected str, got %s", i,
                      cm_msgpack_type_name (k));
            goto fail;
        }
        int f = member_of (k);
        if (f >= 0) {
            if (m[f]) {
                snprintf (err, err_cap, "field '%s': duplicate", s_members[f]);
                goto fail;
            }
            m[f] = &map->ptr[i].val;
        }
    }
    for (int f = 0; f < E_REQUIRED; f++)
        if (!m[f]) {
            snprintf (err, err_cap, "missing required field '%s'", s_members[f]);
            goto fail;
        }
    uint64_t u;
    if (cm_msgpack_uint (m[E_V], "v", UINT32_MAX, &u, err, err_cap) != 0)
        goto fail;
    if (u != CM_EVENT_VERSION) {
        snprintf (err, err_cap, "field 'v': version %llu, expected %d", (unsigned long long)u,
                  CM_EVENT_VERSION);
        goto fail;
    }
    int e;
    if (read_enum (m[E_STAGE], "stage", s_stage_names, 4, &e, err, err_cap) != 0)
        goto fail;
    self->stage = (cm_stage_t)e;
    if (read_enum (m[E_OUT], "out", s_outcome_names, CM_OUTCOME_COUNT, &e, err, err_cap) != 0)
        goto fail;
    self->outcome = (cm_outcome_t)e;
    if (read_str (m[E_EID], "eid", false, &self->envelope_id, err, err_cap) != 0 ||
        read_str (m[E_TENANT], "tenant", false, &self->tenant, err, err_cap) != 0 ||
        read_str (m[E_ENTITY], "entity", false, &self->entity, err, err_cap) != 0 ||
        read_str (m[E_KEY], "key", false, &self->key, err, err_cap) != 0 ||
        read_str (m[E_HASH], "hash", true, &self->hash, err, err_cap) != 0)
        goto fail;
    if (cm_msgpack_uint (m[E_ATTEMPT], "attempt", UINT32_MAX, &u, err, err_cap) != 0)
        goto fail;
    self->attempt = (uint32_t)u;
    if (cm_msgpack_int (m[E_AT], "at", &self->at_ms, err, err_cap) != 0)
        goto fail;
    if ((m[E_SOBJ] && read_str (m[E_SOBJ], "sobj", false, &self->sobject, err, err_cap) != 0) ||
        (m[E_EXTID] && read_str (m[E_EXTID], "extid", true, &self->ext_id, err, err_cap) != 0) ||
        (m[E_SFID] && read_str (m[E_SFID], "sfid", false, &self->sf_id, err, err_cap) != 0) ||
        (m[E_CODE] && read_str (m[E_CODE], "code", true, &self->error_code, err, err_cap) != 0) ||
        (m[E_MSG] && read_str (m[E_MSG], "msg", true, &self->message, err, err_cap) != 0) ||
        (m[E_FIELDS] &&
         read_str (m[E_FIELDS], "fields", true, &self->error_fields, err, err_cap) != 0))
        goto fail;
    if (m[E_CREATED]) {
        if (m[E_CREATED]->type != MSGPACK_OBJECT_BOOLEAN) {
            snprintf (err, err_cap, "field 'created': expected bool, got %s",
                      cm_msgpack_type_name (m[E_CREATED]));
            goto fail;
        }
        self->created = m[E_CREATED]->via.boolean;
    }
    if (m[E_CLASS]) {
        /*  "none" is never encoded: an explicit class must be a real one. */
        if (read_enum (m[E_CLASS], "class", s_class_names + 1, 2, &e, err, err_cap) != 0)
            goto fail;
        self->error_class = (cm_error_class_t)(e + 1);
    }
    if (m[E_HTTP]) {
        if (cm_msgpack_uint (m[E_HTTP], "http", 999, &u, err, err_cap) != 0)
            goto fail;
        self->http_status = (int)u;
    }
    if (m[E_ENV]) {
        const msgpack_object *o = m[E_ENV];
        if (o->type != MSGPACK_OBJECT_BIN) {
            snprintf (err, err_cap, "field 'env': expected bin, got %s", cm_msgpack_type_name (o));
            goto fail;
        }
        if (o->via.bin.size > CM_ENVELOPE_MAX_BYTES) {
            snprintf (err, err_cap, "field 'env': %u bytes, more than %d", o->via.bin.size,
                      CM_ENVELOPE_MAX_BYTES);
            goto fail;
        }
        if (cm_event_set_envelope (self, o->via.bin.ptr, o->via.bin.size) != 0) {
            snprintf (err, err_cap, "field 'env': out of memory");
            goto fail;
        }
    }
    msgpack_unpacked_destroy (&result);
    return self;
fail:
    msgpack_unpacked_destroy (&result);
    cm_event_destroy (&self);
    return NULL;
}
