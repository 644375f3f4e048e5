/*  cm_envelope: the record envelope and its msgpack codec. See cm_envelope.h. */
#include "cm_envelope.h"

#include <msgpack.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_msgpack.h"
#include "cm_time.h"

#define CM_ENVELOPE_MAX_DEPTH 4    /* root map -> src map: anything deeper is ignored data */
#define CM_ENVELOPE_ID_POOL   1024 /* random bytes fetched at a time for envelope ids */
#define CM_ENVELOPE_HASH_BUF  4096 /* fields hashed in one call when they fit */

/*  Envelope ids are 16 random bytes. Fetching them 16 at a time cost a getrandom system
    call per record (3.6 % of the extractor); each thread now takes them from its own pool
    of CM_ENVELOPE_ID_POOL bytes. A forked child forgets the pool it inherited, so parent
    and child never hand out the same bytes. */
static _Thread_local unsigned char s_id_pool[CM_ENVELOPE_ID_POOL];
static _Thread_local size_t s_id_left; /* unused bytes at the end of s_id_pool */
static pthread_once_t s_id_once = PTHREAD_ONCE_INIT;

static void
s_id_forget (void)
{
    s_id_left = 0;
}

static void
s_id_at_fork (void)
{
    pthread_atfork (NULL, NULL, s_id_forget);
}

static void
s_random_id (unsigned char raw[16])
{
    pthread_once (&s_id_once, s_id_at_fork);
    if (s_id_left < 16) {
        randombytes_buf (s_id_pool, sizeof s_id_pool);
        s_id_left = sizeof s_id_pool;
    }
    memcpy (raw, s_id_pool + sizeof s_id_pool - s_id_left, 16);
    s_id_left -= 16;
}

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
    s_random_id (raw);
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

/*  True when p lies in the decode allocation (which starts at self): freed with it. */
static bool
in_arena (const cm_envelope_t *self, const void *p)
{
    uintptr_t at = (uintptr_t)p, base = (uintptr_t)self;
    return self->arena_size > 0 && at >= base && at - base < self->arena_size;
}

/*  Frees a string or array of the envelope unless it lives in the decode allocation. */
static void
release (const cm_envelope_t *self, void *p)
{
    if (p && !in_arena (self, p))
        free (p);
}

static void
clear_target (cm_envelope_t *self)
{
    release (self, self->sobject);
    release (self, self->ext_id_field);
    release (self, self->ext_id);
    release (self, self->payload);
    self->sobject = self->ext_id_field = self->ext_id = self->payload = NULL;
}

void
cm_envelope_destroy (cm_envelope_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_envelope_t *self = *self_p;
    release (self, self->tenant);
    release (self, self->entity);
    release (self, self->key);
    for (size_t i = 0; i < self->field_count; i++) {
        release (self, self->fields[i].name);
        release (self, self->fields[i].value);
    }
    release (self, self->fields);
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
        cm_field_t *grown;
        if (in_arena (self, self->fields)) {
            /*  A decoded envelope's fields sit in its one allocation: move them out. */
            grown = malloc (cap * sizeof *grown);
            if (grown && self->field_count > 0)
                memcpy (grown, self->fields, self->field_count * sizeof *grown);
        } else
            grown = realloc (self->fields, cap * sizeof *grown);
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
    /*  add_field keeps field_count within CM_ENVELOPE_MAX_FIELDS: the stack will do. */
    const cm_field_t *stack_order[CM_ENVELOPE_MAX_FIELDS];
    const cm_field_t **order = stack_order;
    if (self->field_count > CM_ENVELOPE_MAX_FIELDS &&
        !(order = malloc (self->field_count * sizeof *order)))
        return;
    for (size_t i = 0; i < self->field_count; i++)
        order[i] = &self->fields[i];
    if (self->field_count > 1)
        qsort (order, self->field_count, sizeof *order, field_cmp);
    /*  The hash of name\0value\0 of every field in order. Including the terminating NULs
        keeps ("ab","c") apart from ("a","bc"). Gathered into one buffer and hashed in one
        call when they fit (the same digest as hashing them piece by piece, which larger
        records still do: fewer calls, same stored hashes). */
    unsigned char gather[CM_ENVELOPE_HASH_BUF];
    size_t used = 0;
    crypto_generichash_state st;
    unsigned char digest[16];
    crypto_generichash_init (&st, NULL, 0, sizeof digest);
    for (size_t i = 0; i < self->field_count; i++) {
        const char *part[2] = {order[i]->name, order[i]->value};
        for (int j = 0; j < 2; j++) {
            size_t n = strlen (part[j]) + 1;
            if (used + n > sizeof gather) {
                crypto_generichash_update (&st, gather, used);
                used = 0;
            }
            if (n > sizeof gather)
                crypto_generichash_update (&st, (const unsigned char *)part[j], n);
            else {
                memcpy (gather + used, part[j], n);
                used += n;
            }
        }
    }
    if (used)
        crypto_generichash_update (&st, gather, used);
    crypto_generichash_final (&st, digest, sizeof digest);
    sodium_bin2hex (self->hash, sizeof self->hash, digest, sizeof digest);
    if (order != stack_order)
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

/*  ---- encoding ---- */

/*  Bytes of the msgpack str header for a body of len bytes (fixstr, str8, str16, str32). */
static size_t
str_head (size_t len)
{
    return len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5;
}

/*  Length of a string member (NULL packs ""), or SIZE_MAX when over CM_ENVELOPE_MAX_STR. */
static size_t
str_len (const char *s)
{
    size_t len = s ? strnlen (s, CM_ENVELOPE_MAX_STR + 1) : 0;
    return len > CM_ENVELOPE_MAX_STR ? SIZE_MAX : len;
}

/*  A packer target of fixed capacity: the encoder sizes it exactly up front, so an
    envelope costs one malloc of its own size (an sbuffer starts at 8 KiB and reallocs). */
typedef struct {
    char *data;  /* the buffer */
    size_t size; /* bytes written */
    size_t cap;  /* bytes allocated */
} fixed_buf_t;

static int
fixed_write (void *data, const char *buf, size_t len)
{
    fixed_buf_t *fb = data;
    if (len > fb->cap - fb->size)
        return -1;
    memcpy (fb->data + fb->size, buf, len);
    fb->size += len;
    return 0;
}

static int
pack_str (msgpack_packer *pk, const char *text, size_t len)
{
    int rc = msgpack_pack_str (pk, len);
    if (rc == 0 && len > 0)
        rc = msgpack_pack_str_body (pk, text, len);
    return rc;
}

#define PACK_KEY(pk, k) pack_str (pk, k, sizeof k - 1)

/*  Room for the member names, the map headers and four integers (at most 9 bytes each). */
#define ENCODE_FIXED_BYTES 128

int
cm_envelope_encode (const cm_envelope_t *self, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (self->field_count > CM_ENVELOPE_MAX_FIELDS)
        return -1;
    /*  Every length once: the members, then the source fields. */
    enum { L_TENANT, L_ENTITY, L_KEY, L_SOBJECT, L_EXTF, L_EXTID, L_PAYLOAD, L_ID, L_HASH, L_N };
    size_t len[L_N] = {str_len (self->tenant),
                       str_len (self->entity),
                       str_len (self->key),
                       str_len (self->sobject),
                       str_len (self->ext_id_field),
                       str_len (self->ext_id),
                       str_len (self->payload),
                       strnlen (self->id, sizeof self->id),
                       strnlen (self->hash, sizeof self->hash)};
    size_t need = ENCODE_FIXED_BYTES;
    for (int i = 0; i < L_N; i++) {
        if (len[i] == SIZE_MAX)
            return -1;
        need += str_head (len[i]) + len[i];
    }
    uint32_t flen[2 * CM_ENVELOPE_MAX_FIELDS];
    for (size_t i = 0; i < self->field_count; i++) {
        size_t n = str_len (self->fields[i].name), v = str_len (self->fields[i].value);
        if (n == SIZE_MAX || v == SIZE_MAX)
            return -1;
        flen[2 * i] = (uint32_t)n;
        flen[2 * i + 1] = (uint32_t)v;
        need += str_head (n) + n + str_head (v) + v;
        /*  The strings alone are over the cap: refuse before allocating. */
        if (need - ENCODE_FIXED_BYTES > CM_ENVELOPE_MAX_BYTES)
            return -1;
    }
    if (need - ENCODE_FIXED_BYTES > CM_ENVELOPE_MAX_BYTES)
        return -1;
    fixed_buf_t fb = {malloc (need), 0, need};
    if (!fb.data)
        return -1;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fb, fixed_write);
    int n = 10 + (self->sobject != NULL) + (self->ext_id_field != NULL) + (self->ext_id != NULL) +
            (self->payload != NULL);
    int rc = msgpack_pack_map (&pk, (size_t)n);
    rc |= PACK_KEY (&pk, "v");
    rc |= msgpack_pack_uint32 (&pk, self->version);
    rc |= PACK_KEY (&pk, "id");
    rc |= pack_str (&pk, self->id, len[L_ID]);
    rc |= PACK_KEY (&pk, "tenant");
    rc |= pack_str (&pk, self->tenant, len[L_TENANT]);
    rc |= PACK_KEY (&pk, "entity");
    rc |= pack_str (&pk, self->entity, len[L_ENTITY]);
    rc |= PACK_KEY (&pk, "key");
    rc |= pack_str (&pk, self->key, len[L_KEY]);
    rc |= PACK_KEY (&pk, "hash");
    rc |= pack_str (&pk, self->hash, len[L_HASH]);
    rc |= PACK_KEY (&pk, "attempt");
    rc |= msgpack_pack_uint32 (&pk, self->attempt);
    rc |= PACK_KEY (&pk, "ts_ex");
    rc |= msgpack_pack_int64 (&pk, self->extracted_at_ms);
    rc |= PACK_KEY (&pk, "ts");
    rc |= msgpack_pack_int64 (&pk, self->sent_at_ms);
    rc |= PACK_KEY (&pk, "src");
    rc |= msgpack_pack_map (&pk, self->field_count);
    for (size_t i = 0; i < self->field_count && rc == 0; i++) {
        rc |= pack_str (&pk, self->fields[i].name, flen[2 * i]);
        rc |= pack_str (&pk, self->fields[i].value, flen[2 * i + 1]);
    }
    if (self->sobject) {
        rc |= PACK_KEY (&pk, "sobject");
        rc |= pack_str (&pk, self->sobject, len[L_SOBJECT]);
    }
    if (self->ext_id_field) {
        rc |= PACK_KEY (&pk, "extf");
        rc |= pack_str (&pk, self->ext_id_field, len[L_EXTF]);
    }
    if (self->ext_id) {
        rc |= PACK_KEY (&pk, "extid");
        rc |= pack_str (&pk, self->ext_id, len[L_EXTID]);
    }
    if (self->payload) {
        rc |= PACK_KEY (&pk, "payload");
        rc |= pack_str (&pk, self->payload, len[L_PAYLOAD]);
    }
    if (rc != 0 || fb.size > CM_ENVELOPE_MAX_BYTES) {
        free (fb.data);
        return -1;
    }
    *data = fb.data;
    *size = fb.size;
    return 0;
}

/*  ---- decoding ---- */

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

/*  The member a key names, or -1. The length and one byte pick the only candidate, so
    each key costs one memcmp. */
static int
member_of (const char *k, uint32_t len)
{
    int f;
    switch (len) {
    case 1:
        f = F_V;
        break;
    case 2:
        f = k[0] == 'i' ? F_ID : F_TS;
        break;
    case 3:
        f = k[0] == 'k' ? F_KEY : F_SRC;
        break;
    case 4:
        f = k[0] == 'h' ? F_HASH : F_EXTF;
        break;
    case 5:
        f = k[0] == 't' ? F_TS_EX : F_EXTID;
        break;
    case 6:
        f = k[0] == 't' ? F_TENANT : F_ENTITY;
        break;
    case 7:
        f = k[0] == 'a' ? F_ATTEMPT : k[0] == 's' ? F_SOBJECT : F_PAYLOAD;
        break;
    default:
        return -1;
    }
    return memcmp (k, s_names[f], len) == 0 ? f : -1;
}

/*  Checks a string member; required members must not be empty. */
static int
check_str (const msgpack_object *o, const char *field, size_t max, bool allow_empty, char *err,
           size_t err_cap)
{
    if (cm_msgpack_str_check (o, field, max, err, err_cap) != 0)
        return -1;
    if (!allow_empty && o->via.str.size == 0) {
        snprintf (err, err_cap, "field '%s': empty", field);
        return -1;
    }
    return 0;
}

/*  Reads a 32-character lowercase hex member (or "" when allowed) into a 33-byte slot. */
static int
read_hex (const msgpack_object *o, const char *field, bool allow_empty, char out[33], char *err,
          size_t err_cap)
{
    if (cm_msgpack_str_check (o, field, 32, err, err_cap) != 0)
        return -1;
    uint32_t len = o->via.str.size;
    const char *p = o->via.str.ptr;
    bool ok = len == 32 || (allow_empty && len == 0);
    for (uint32_t i = 0; ok && i < len; i++)
        ok = (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f');
    if (!ok) {
        snprintf (err, err_cap, "field '%s': expected 32 lowercase hex characters", field);
        return -1;
    }
    memcpy (out, p, len);
    out[len] = '\0';
    return 0;
}

/*  Copies a checked str into the arena at *cursor. */
static char *
put_str (char **cursor, const msgpack_object *o)
{
    char *s = *cursor;
    uint32_t len = o->via.str.size;
    if (len > 0)
        memcpy (s, o->via.str.ptr, len);
    s[len] = '\0';
    *cursor += (size_t)len + 1;
    return s;
}

static uint32_t
name_hash (const char *p, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/*  Decodes the n source entries at data[*pos] into self->fields (room for n reserved in the
    arena), copying the strings to *cursor. Names are unique: an open-addressing table of
    field indexes finds a repeat in one probe or so, whatever n is. */
static int
read_src (cm_envelope_t *self, const void *data, size_t size, size_t *pos, uint32_t n,
          char **cursor, char *err, size_t err_cap)
{
    uint16_t slot[4 * CM_ENVELOPE_MAX_FIELDS]; /* field index + 1, 0 = free */
    uint32_t mask = 15;
    while (mask + 1 < 2 * n)
        mask = 2 * mask + 1;
    memset (slot, 0, (mask + 1) * sizeof slot[0]);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_object name, value;
        if (cm_msgpack_read (data, size, pos, &name) != 0) {
            snprintf (err, err_cap, "field 'src': corrupt entry %u", i);
            return -1;
        }
        if (cm_msgpack_str_check (&name, "src name", CM_ENVELOPE_MAX_STR, err, err_cap) != 0)
            return -1;
        uint32_t len = name.via.str.size;
        int show = len > 64 ? 64 : (int)len;
        if (len == 0) {
            snprintf (err, err_cap, "field 'src': empty field name");
            return -1;
        }
        uint32_t h = name_hash (name.via.str.ptr, len) & mask;
        for (; slot[h]; h = (h + 1) & mask) {
            const char *seen = self->fields[slot[h] - 1].name;
            if (strncmp (seen, name.via.str.ptr, len) == 0 && seen[len] == '\0') {
                snprintf (err, err_cap, "field 'src': duplicate field name '%.*s'", show,
                          name.via.str.ptr);
                return -1;
            }
        }
        if (cm_msgpack_read (data, size, pos, &value) != 0) {
            snprintf (err, err_cap, "field 'src': corrupt entry %u", i);
            return -1;
        }
        /*  The label of an error names the field: built only when there is one. */
        if (value.type != MSGPACK_OBJECT_STR || value.via.str.size > CM_ENVELOPE_MAX_STR ||
            (value.via.str.size > 0 && memchr (value.via.str.ptr, '\0', value.via.str.size))) {
            char label[96];
            snprintf (label, sizeof label, "src.%.*s", show, name.via.str.ptr);
            cm_msgpack_str_check (&value, label, CM_ENVELOPE_MAX_STR, err, err_cap);
            return -1;
        }
        cm_field_t *f = &self->fields[self->field_count++];
        f->name = put_str (cursor, &name);
        f->value = put_str (cursor, &value);
        slot[h] = (uint16_t)(i + 1);
    }
    return 0;
}

static cm_envelope_t *
decode (const void *data, size_t size, bool lean, char *err, size_t err_cap)
{
    cm_envelope_t *self = NULL;
    if (!data || size == 0) {
        snprintf (err, err_cap, "empty envelope");
        goto fail;
    }
    if (size > CM_ENVELOPE_MAX_BYTES) {
        snprintf (err, err_cap, "envelope of %zu bytes exceeds %d", size, CM_ENVELOPE_MAX_BYTES);
        goto fail;
    }
    /*  The whole input is well-formed and bounded before anything is read from it. */
    if (cm_msgpack_check (data, size, CM_ENVELOPE_MAX_DEPTH, err, err_cap) != 0)
        goto fail;
    size_t pos = 0;
    msgpack_object root;
    if (cm_msgpack_read (data, size, &pos, &root) != 0)
        goto corrupt;
    if (root.type != MSGPACK_OBJECT_MAP) {
        snprintf (err, err_cap, "expected a map, got %s", cm_msgpack_type_name (&root));
        goto fail;
    }
    /*  One pass over the members: the header of each known value, where src's entries
        start and end. Unknown members are skipped (forward compatibility). */
    msgpack_object member[F_COUNT];
    bool seen[F_COUNT] = {false};
    size_t src_at = 0, src_end = 0;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        msgpack_object k;
        if (cm_msgpack_read (data, size, &pos, &k) != 0)
            goto corrupt;
        if (k.type != MSGPACK_OBJECT_STR) {
            snprintf (err, err_cap, "envelope key %u: expected str, got %s", i,
                      cm_msgpack_type_name (&k));
            goto fail;
        }
        int f = member_of (k.via.str.ptr, k.via.str.size);
        if (f < 0) {
            if (cm_msgpack_skip (data, size, &pos) != 0)
                goto corrupt;
            continue;
        }
        if (seen[f]) {
            snprintf (err, err_cap, "field '%s': duplicate", s_names[f]);
            goto fail;
        }
        seen[f] = true;
        size_t at = pos;
        if (cm_msgpack_read (data, size, &at, &member[f]) != 0)
            goto corrupt;
        if (member[f].type == MSGPACK_OBJECT_MAP || member[f].type == MSGPACK_OBJECT_ARRAY) {
            if (f == F_SRC)
                src_at = at;
            if (cm_msgpack_skip (data, size, &pos) != 0)
                goto corrupt;
            if (f == F_SRC)
                src_end = pos;
        } else
            pos = at;
    }
    /*  The version first: a newer format explains every other difference. */
    for (int f = 0; f < F_REQUIRED; f++)
        if (!seen[f]) {
            snprintf (err, err_cap, "missing required field '%s'", s_names[f]);
            goto fail;
        }
    uint64_t version, attempt;
    if (cm_msgpack_uint (&member[F_V], "v", UINT32_MAX, &version, err, err_cap) != 0)
        goto fail;
    if (version != CM_ENVELOPE_VERSION) {
        snprintf (err, err_cap, "field 'v': version %llu, expected %d", (unsigned long long)version,
                  CM_ENVELOPE_VERSION);
        goto fail;
    }
    char id[33], hash[33];
    if (read_hex (&member[F_ID], "id", false, id, err, err_cap) != 0 ||
        check_str (&member[F_TENANT], "tenant", CM_ENVELOPE_MAX_STR, false, err, err_cap) != 0 ||
        check_str (&member[F_ENTITY], "entity", CM_ENVELOPE_MAX_STR, false, err, err_cap) != 0 ||
        check_str (&member[F_KEY], "key", CM_ENVELOPE_MAX_STR, false, err, err_cap) != 0 ||
        read_hex (&member[F_HASH], "hash", true, hash, err, err_cap) != 0)
        goto fail;
    if (cm_msgpack_uint (&member[F_ATTEMPT], "attempt", UINT32_MAX, &attempt, err, err_cap) != 0)
        goto fail;
    if (attempt == 0) {
        snprintf (err, err_cap, "field 'attempt': must be at least 1");
        goto fail;
    }
    int64_t ts_ex, ts;
    if (cm_msgpack_int (&member[F_TS_EX], "ts_ex", &ts_ex, err, err_cap) != 0 ||
        cm_msgpack_int (&member[F_TS], "ts", &ts, err, err_cap) != 0)
        goto fail;
    const msgpack_object *src = &member[F_SRC];
    if (src->type != MSGPACK_OBJECT_MAP) {
        snprintf (err, err_cap, "field 'src': expected map, got %s", cm_msgpack_type_name (src));
        goto fail;
    }
    if (src->via.map.size > CM_ENVELOPE_MAX_FIELDS) {
        snprintf (err, err_cap, "field 'src': %u fields, more than %d", src->via.map.size,
                  CM_ENVELOPE_MAX_FIELDS);
        goto fail;
    }
    uint32_t nfields = lean ? 0 : src->via.map.size;
    /*  One allocation: the envelope, its fields, then every string. A string needs its
        bytes and a NUL; in src each string also has a header byte or more in the input, so
        src's strings fit in the bytes src's entries span. */
    size_t arena = sizeof *self + (size_t)nfields * sizeof (cm_field_t);
    static const int strs[] = {F_TENANT, F_ENTITY, F_KEY, F_SOBJECT, F_EXTF, F_EXTID, F_PAYLOAD};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (seen[strs[i]] && member[strs[i]].type == MSGPACK_OBJECT_STR)
            arena += (size_t)member[strs[i]].via.str.size + 1;
    if (nfields > 0)
        arena += src_end - src_at;
    self = malloc (arena);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    memset (self, 0, sizeof *self);
    self->arena_size = arena;
    char *cursor = (char *)self + sizeof *self + (size_t)nfields * sizeof (cm_field_t);
    self->version = (uint32_t)version;
    memcpy (self->id, id, sizeof id);
    memcpy (self->hash, hash, sizeof hash);
    self->tenant = put_str (&cursor, &member[F_TENANT]);
    self->entity = put_str (&cursor, &member[F_ENTITY]);
    self->key = put_str (&cursor, &member[F_KEY]);
    self->attempt = (uint32_t)attempt;
    self->extracted_at_ms = ts_ex;
    self->sent_at_ms = ts;
    if (nfields > 0) {
        self->fields = (cm_field_t *)(self + 1);
        self->field_cap = nfields;
        size_t at = src_at;
        if (read_src (self, data, size, &at, nfields, &cursor, err, err_cap) != 0)
            goto fail;
    }
    if ((seen[F_SOBJECT] && check_str (&member[F_SOBJECT], "sobject", CM_ENVELOPE_MAX_STR, false,
                                       err, err_cap) != 0) ||
        (seen[F_EXTF] &&
         check_str (&member[F_EXTF], "extf", CM_ENVELOPE_MAX_STR, false, err, err_cap) != 0) ||
        (seen[F_EXTID] &&
         check_str (&member[F_EXTID], "extid", CM_ENVELOPE_MAX_STR, true, err, err_cap) != 0) ||
        (seen[F_PAYLOAD] &&
         check_str (&member[F_PAYLOAD], "payload", CM_ENVELOPE_MAX_STR, true, err, err_cap) != 0))
        goto fail;
    if (seen[F_SOBJECT])
        self->sobject = put_str (&cursor, &member[F_SOBJECT]);
    if (seen[F_EXTF])
        self->ext_id_field = put_str (&cursor, &member[F_EXTF]);
    if (seen[F_EXTID])
        self->ext_id = put_str (&cursor, &member[F_EXTID]);
    if (seen[F_PAYLOAD])
        self->payload = put_str (&cursor, &member[F_PAYLOAD]);
    return self;
corrupt:
    /*  Unreachable after cm_msgpack_check; kept so the decoder is total on its own. */
    snprintf (err, err_cap, "msgpack decode failed (parse error)");
fail:
    cm_envelope_destroy (&self);
    return NULL;
}

cm_envelope_t *
cm_envelope_decode (const void *data, size_t size, char *err, size_t err_cap)
{
    return decode (data, size, false, err, err_cap);
}

cm_envelope_t *
cm_envelope_decode_lean (const void *data, size_t size, char *err, size_t err_cap)
{
    return decode (data, size, true, err, err_cap);
}
