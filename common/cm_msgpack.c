/*  cm_msgpack: bounded msgpack helpers for the codecs. See cm_msgpack.h. */
#include "cm_msgpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CM_MSGPACK_DEPTH_LIMIT 32 /* hard limit regardless of the caller's max_depth */

static uint64_t
be (const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int
cm_msgpack_check (const void *data, size_t size, int max_depth, char *err, size_t err_cap)
{
    const unsigned char *p = data;
    if (max_depth > CM_MSGPACK_DEPTH_LIMIT)
        max_depth = CM_MSGPACK_DEPTH_LIMIT;
    if (!p || size == 0) {
        snprintf (err, err_cap, "empty message");
        return -1;
    }
    /*  pending[d] = elements still to read at nesting depth d. */
    uint64_t pending[CM_MSGPACK_DEPTH_LIMIT + 2];
    int depth = 0;
    pending[0] = 1;
    size_t pos = 0;
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        if (pos >= size) {
            snprintf (err, err_cap, "truncated message (%zu bytes)", size);
            return -1;
        }
        unsigned char b = p[pos++];
        uint64_t skip = 0;     /* payload bytes after the header */
        uint64_t elements = 0; /* container elements (map: 2 per entry) */
        bool container = false;
        int lenbytes = 0; /* size of a length field that follows */
        int kind = 0;     /* 0 scalar/bytes, 1 array, 2 map, 3 ext */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            skip = 0;
        else if (b >= 0x80 && b <= 0x8f) {
            container = true;
            elements = 2u * (b & 0x0fu);
        } else if (b >= 0x90 && b <= 0x9f) {
            container = true;
            elements = b & 0x0fu;
        } else if (b >= 0xa0 && b <= 0xbf)
            skip = b & 0x1fu;
        else
            switch (b) {
            case 0xc4:
                lenbytes = 1;
                break;
            case 0xc5:
                lenbytes = 2;
                break;
            case 0xc6:
                lenbytes = 4;
                break;
            case 0xc7:
                lenbytes = 1;
                kind = 3;
                break;
            case 0xc8:
                lenbytes = 2;
                kind = 3;
                break;
            case 0xc9:
                lenbytes = 4;
                kind = 3;
                break;
            case 0xca:
                skip = 4;
                break;
            case 0xcb:
                skip = 8;
                break;
            case 0xcc:
                skip = 1;
                break;
            case 0xcd:
                skip = 2;
                break;
            case 0xce:
                skip = 4;
                break;
            case 0xcf:
                skip = 8;
                break;
            case 0xd0:
                skip = 1;
                break;
            case 0xd1:
                skip = 2;
                break;
            case 0xd2:
                skip = 4;
                break;
            case 0xd3:
                skip = 8;
                break;
            case 0xd4:
                skip = 2;
                break;
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xd9:
                lenbytes = 1;
                break;
            case 0xda:
                lenbytes = 2;
                break;
            case 0xdb:
                lenbytes = 4;
                break;
            case 0xdc:
                lenbytes = 2;
                kind = 1;
                break;
            case 0xdd:
                lenbytes = 4;
                kind = 1;
                break;
            case 0xde:
                lenbytes = 2;
                kind = 2;
                break;
            case 0xdf:
                lenbytes = 4;
                kind = 2;
                break;
            default:
                snprintf (err, err_cap, "invalid msgpack byte 0x%02x at offset %zu", b, pos - 1);
                return -1;
            }
        if (lenbytes) {
            if (size - pos < (size_t)lenbytes) {
                snprintf (err, err_cap, "truncated message (%zu bytes)", size);
                return -1;
            }
            uint64_t n = be (p + pos, lenbytes);
            pos += (size_t)lenbytes;
            if (kind == 1) {
                container = true;
                elements = n;
            } else if (kind == 2) {
                container = true;
                elements = 2 * n;
            } else if (kind == 3)
                skip = n + 1; /* the ext type byte, then the data */
            else
                skip = n;
        }
        if (container) {
            /*  Every element takes at least one byte. */
            if (elements > size - pos) {
                snprintf (err, err_cap,
                          "container at offset %zu claims %llu elements, only %zu bytes left", pos,
                          (unsigned long long)elements, size - pos);
                return -1;
            }
            if (elements > 0) {
                if (depth + 1 > max_depth) {
                    snprintf (err, err_cap, "nested deeper than %d levels", max_depth);
                    return -1;
                }
                pending[++depth] = elements;
            }
        } else {
            if (skip > size - pos) {
                snprintf (err, err_cap, "truncated message (%zu bytes)", size);
                return -1;
            }
            pos += (size_t)skip;
        }
    }
    if (pos != size) {
        snprintf (err, err_cap, "%zu trailing bytes after the message", size - pos);
        return -1;
    }
    return 0;
}

int
cm_msgpack_unpack_map (const void *data, size_t size, msgpack_unpacked *result, char *err,
                       size_t err_cap)
{
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next (result, data, size, &off);
    if (ret != MSGPACK_UNPACK_SUCCESS) {
        snprintf (err, err_cap, "msgpack decode failed (%s)",
                  ret == MSGPACK_UNPACK_CONTINUE      ? "truncated"
                  : ret == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory"
                                                      : "parse error");
        return -1;
    }
    if (off != size) {
        snprintf (err, err_cap, "%zu trailing bytes after the message", size - off);
        return -1;
    }
    if (result->data.type != MSGPACK_OBJECT_MAP) {
        snprintf (err, err_cap, "expected a map, got %s", cm_msgpack_type_name (&result->data));
        return -1;
    }
    return 0;
}

const char *
cm_msgpack_type_name (const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return "int";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "int";
    case MSGPACK_OBJECT_FLOAT32:
        return "float";
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "str";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_BIN:
        return "bin";
    case MSGPACK_OBJECT_EXT:
        return "ext";
    }
    return "unknown";
}

bool
cm_msgpack_str_is (const msgpack_object *o, const char *name)
{
    size_t len = strlen (name);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
           memcmp (o->via.str.ptr, name, len) == 0;
}

char *
cm_msgpack_strdup (const msgpack_object *o, const char *field, size_t max, char *err,
                   size_t err_cap)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        snprintf (err, err_cap, "field '%s': expected str, got %s", field,
                  cm_msgpack_type_name (o));
        return NULL;
    }
    size_t len = o->via.str.size;
    if (len > max) {
        snprintf (err, err_cap, "field '%s': %zu bytes, longer than %zu", field, len, max);
        return NULL;
    }
    if (len > 0 && memchr (o->via.str.ptr, '\0', len)) {
        snprintf (err, err_cap, "field '%s': contains a NUL byte", field);
        return NULL;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        snprintf (err, err_cap, "field '%s': out of memory", field);
        return NULL;
    }
    if (len > 0)
        memcpy (copy, o->via.str.ptr, len);
    copy[len] = '\0';
    return copy;
}

int
cm_msgpack_uint (const msgpack_object *o, const char *field, uint64_t max, uint64_t *out, char *err,
                 size_t err_cap)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf (err, err_cap, "field '%s': expected uint, got %s", field,
                  o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "negative int"
                                                             : cm_msgpack_type_name (o));
        return -1;
    }
    if (o->via.u64 > max) {
        snprintf (err, err_cap, "field '%s': %llu larger than %llu", field,
                  (unsigned long long)o->via.u64, (unsigned long long)max);
        return -1;
    }
    *out = o->via.u64;
    return 0;
}

int
cm_msgpack_int (const msgpack_object *o, const char *field, int64_t *out, char *err, size_t err_cap)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) {
            snprintf (err, err_cap, "field '%s': integer out of range", field);
            return -1;
        }
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    snprintf (err, err_cap, "field '%s': expected int, got %s", field, cm_msgpack_type_name (o));
    return -1;
}

int
cm_msgpack_pack_cstr (msgpack_packer *pk, const char *text)
{
    size_t len = text ? strlen (text) : 0;
    int rc = msgpack_pack_str (pk, len);
    if (rc == 0 && len > 0)
        rc = msgpack_pack_str_body (pk, text, len);
    return rc;
}
