/*  cm_confirm: delivery confirmations and their msgpack codec. See cm_confirm.h. */
#include "cm_confirm.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_msgpack.h"

enum { C_V, C_TENANT, C_ENTITY, C_KEY, C_HASH, C_OUT, C_COUNT };
static const char *s_members[C_COUNT] = {"v", "tenant", "entity", "key", "hash", "out"};

bool
cm_confirm_is_final (cm_outcome_t outcome)
{
    return outcome == CM_OUTCOME_LOADED || outcome == CM_OUTCOME_FAILED ||
           outcome == CM_OUTCOME_REJECTED || outcome == CM_OUTCOME_SKIPPED;
}

static bool
s_ok_str (const char *s)
{
    return s && strlen (s) <= CM_CONFIRM_MAX_STR;
}

int
cm_confirm_encode_event (const cm_event_t *ev, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (!ev || !s_ok_str (ev->tenant) || !s_ok_str (ev->entity) || !s_ok_str (ev->key) ||
        !s_ok_str (ev->hash) || (unsigned)ev->outcome >= CM_OUTCOME_COUNT)
        return -1;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    int rc = msgpack_pack_map (&pk, C_COUNT);
    rc |= cm_msgpack_pack_cstr (&pk, "v") | msgpack_pack_uint32 (&pk, CM_CONFIRM_VERSION);
    rc |= cm_msgpack_pack_cstr (&pk, "tenant") | cm_msgpack_pack_cstr (&pk, ev->tenant);
    rc |= cm_msgpack_pack_cstr (&pk, "entity") | cm_msgpack_pack_cstr (&pk, ev->entity);
    rc |= cm_msgpack_pack_cstr (&pk, "key") | cm_msgpack_pack_cstr (&pk, ev->key);
    rc |= cm_msgpack_pack_cstr (&pk, "hash") | cm_msgpack_pack_cstr (&pk, ev->hash);
    rc |= cm_msgpack_pack_cstr (&pk, "out") |
          cm_msgpack_pack_cstr (&pk, cm_outcome_name (ev->outcome));
    if (rc != 0 || !sbuf.data) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    *data = sbuf.data;
    *size = sbuf.size;
    return 0;
}

void
cm_confirm_destroy (cm_confirm_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_confirm_t *self = *self_p;
    free (self->tenant);
    free (self->entity);
    free (self->key);
    free (self->hash);
    free (self);
    *self_p = NULL;
}

cm_confirm_t *
cm_confirm_decode (const void *data, size_t size, char *err, size_t err_cap)
{
    cm_confirm_t *self = NULL;
    char *out = NULL;
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    if (!data || size == 0 || size > CM_CONFIRM_MAX_BYTES) {
        snprintf (err, err_cap, "confirmation of %zu bytes (1..%d allowed)", size,
                  CM_CONFIRM_MAX_BYTES);
        goto fail;
    }
    if (cm_msgpack_check (data, size, 2, err, err_cap) != 0 ||
        cm_msgpack_unpack_map (data, size, &result, err, err_cap) != 0)
        goto fail;
    const msgpack_object_map *map = &result.data.via.map;
    const msgpack_object *m[C_COUNT] = {0};
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        for (int f = 0; f < C_COUNT; f++)
            if (cm_msgpack_str_is (k, s_members[f])) {
                if (m[f]) {
                    snprintf (err, err_cap, "field '%s': duplicate", s_members[f]);
                    goto fail;
                }
                m[f] = &map->ptr[i].val;
            }
    }
    for (int f = 0; f < C_COUNT; f++)
        if (!m[f]) {
            snprintf (err, err_cap, "missing required field '%s'", s_members[f]);
            goto fail;
        }
    uint64_t v;
    if (cm_msgpack_uint (m[C_V], "v", UINT32_MAX, &v, err, err_cap) != 0)
        goto fail;
    if (v != CM_CONFIRM_VERSION) {
        snprintf (err, err_cap, "field 'v': version %llu, expected %d", (unsigned long long)v,
                  CM_CONFIRM_VERSION);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    if (!(self->tenant =
              cm_msgpack_strdup (m[C_TENANT], "tenant", CM_CONFIRM_MAX_STR, err, err_cap)) ||
        !(self->entity =
              cm_msgpack_strdup (m[C_ENTITY], "entity", CM_CONFIRM_MAX_STR, err, err_cap)) ||
        !(self->key = cm_msgpack_strdup (m[C_KEY], "key", CM_CONFIRM_MAX_STR, err, err_cap)) ||
        !(self->hash = cm_msgpack_strdup (m[C_HASH], "hash", CM_CONFIRM_MAX_STR, err, err_cap)) ||
        !(out = cm_msgpack_strdup (m[C_OUT], "out", 32, err, err_cap)))
        goto fail;
    int found = -1;
    for (int o = 0; o < CM_OUTCOME_COUNT; o++)
        if (strcmp (out, cm_outcome_name ((cm_outcome_t)o)) == 0)
            found = o;
    if (found < 0 || !cm_confirm_is_final ((cm_outcome_t)found)) {
        snprintf (err, err_cap, "field 'out': \"%.32s\" is not a final outcome", out);
        goto fail;
    }
    self->outcome = (cm_outcome_t)found;
    free (out);
    msgpack_unpacked_destroy (&result);
    return self;
fail:
    free (out);
    cm_confirm_destroy (&self);
    msgpack_unpacked_destroy (&result);
    return NULL;
}
