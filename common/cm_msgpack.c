/*  cm_msgpack: bounded msgpack helpers for the codecs. See cm_msgpack.h. */
#include "cm_msgpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CM_MSGPACK_DEPTH_LIMIT 32 /* hard limit regardless of the caller's max_depth */

uint64_t
cm_msgpack_be (const unsigned char *p, int n)
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
        /*  Fast path for the common short str (a source record is all strings). */
        if (pos < size && p[pos] >= 0xa0 && p[pos] <= 0xbf) {
            size_t len = p[pos] & 0x1fu;
            if (size - pos - 1 < len) {
                snprintf (err, err_cap, "truncated message (%zu bytes)", size);
                return -1;
            }
            pos += 1 + len;
            continue;
        }
        msgpack_object o;
        size_t at = pos;
        if (cm_msgpack_read (p, size, &at, &o) != 0) {
            if (pos < size && p[pos] == 0xc1)
                snprintf (err, err_cap, "invalid msgpack byte 0x%02x at offset %zu", p[pos], pos);
            else
                snprintf (err, err_cap, "truncated message (%zu bytes)", size);
            return -1;
        }
        pos = at;
        if (o.type != MSGPACK_OBJECT_ARRAY && o.type != MSGPACK_OBJECT_MAP)
            continue;
        /*  A container's elements (a map's: 2 per entry) each take at least one byte. */
        uint64_t elements =
            o.type == MSGPACK_OBJECT_ARRAY ? o.via.array.size : 2 * (uint64_t)o.via.map.size;
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

/*  A big-endian length of n bytes at p[*pos]. */
static int
read_len (const unsigned char *p, size_t size, size_t *pos, int n, uint64_t *len)
{
    if (size - *pos < (size_t)n)
        return -1;
    *len = cm_msgpack_be (p + *pos, n);
    *pos += (size_t)n;
    return 0;
}

int
cm_msgpack_read (const void *data, size_t size, size_t *pos, msgpack_object *o)
{
    const unsigned char *p = data;
    size_t at = *pos;
    if (!p || at >= size)
        return -1;
    unsigned char b = p[at++];
    uint64_t len = 0;
    int lenbytes = 0; /* a length field follows (str, bin, ext, array, map) */
    int width = 0;    /* a fixed-size number follows */
    memset (o, 0, sizeof *o);
    if (b <= 0x7f) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = b;
    } else if (b >= 0xe0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = (int8_t)b;
    } else if (b <= 0x8f) {
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = b & 0x0fu;
    } else if (b <= 0x9f) {
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = b & 0x0fu;
    } else if (b <= 0xbf) {
        o->type = MSGPACK_OBJECT_STR;
        len = b & 0x1fu;
    } else
        switch (b) {
        case 0xc0:
            o->type = MSGPACK_OBJECT_NIL;
            break;
        case 0xc2:
        case 0xc3:
            o->type = MSGPACK_OBJECT_BOOLEAN;
            o->via.boolean = b == 0xc3;
            break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            o->type = MSGPACK_OBJECT_BIN;
            lenbytes = 1 << (b - 0xc4);
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            o->type = MSGPACK_OBJECT_EXT;
            lenbytes = 1 << (b - 0xc7);
            break;
        case 0xca:
            o->type = MSGPACK_OBJECT_FLOAT32;
            width = 4;
            break;
        case 0xcb:
            o->type = MSGPACK_OBJECT_FLOAT64;
            width = 8;
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            width = 1 << (b - 0xcc);
            break;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
            width = 1 << (b - 0xd0);
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            o->type = MSGPACK_OBJECT_EXT;
            len = 1u << (b - 0xd4);
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            o->type = MSGPACK_OBJECT_STR;
            lenbytes = 1 << (b - 0xd9);
            break;
        case 0xdc:
        case 0xdd:
            o->type = MSGPACK_OBJECT_ARRAY;
            lenbytes = b == 0xdc ? 2 : 4;
            break;
        case 0xde:
        case 0xdf:
            o->type = MSGPACK_OBJECT_MAP;
            lenbytes = b == 0xde ? 2 : 4;
            break;
        default: /* 0xc1, never used */
            return -1;
        }
    if (lenbytes && read_len (p, size, &at, lenbytes, &len) != 0)
        return -1;
    if (width) {
        if (size - at < (size_t)width)
            return -1;
        uint64_t v = cm_msgpack_be (p + at, width);
        at += (size_t)width;
        if (o->type == MSGPACK_OBJECT_FLOAT32) {
            uint32_t bits = (uint32_t)v;
            float f;
            memcpy (&f, &bits, sizeof f);
            o->via.f64 = f;
        } else if (o->type == MSGPACK_OBJECT_FLOAT64)
            memcpy (&o->via.f64, &v, sizeof v);
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            /*  Signed types: as in msgpack-c, a value >= 0 is a positive integer. */
            int64_t sv = width == 1   ? (int8_t)v
                         : width == 2 ? (int16_t)v
                         : width == 4 ? (int32_t)v
                                      : (int64_t)v;
            if (sv >= 0) {
                o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
                o->via.u64 = (uint64_t)sv;
            } else
                o->via.i64 = sv;
        } else
            o->via.u64 = v;
    } else if (o->type == MSGPACK_OBJECT_ARRAY && lenbytes)
        o->via.array.size = (uint32_t)len;
    else if (o->type == MSGPACK_OBJECT_MAP && lenbytes)
        o->via.map.size = (uint32_t)len;
    else if (o->type == MSGPACK_OBJECT_EXT) {
        /*  The ext type byte, then len bytes of data. */
        if (size - at < 1 || size - at - 1 < len)
            return -1;
        o->via.ext.type = (int8_t)p[at];
        o->via.ext.size = (uint32_t)len;
        o->via.ext.ptr = (const char *)p + at + 1;
        at += 1 + (size_t)len;
    } else if (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN) {
        if (size - at < len)
            return -1;
        if (o->type == MSGPACK_OBJECT_STR) {
            o->via.str.size = (uint32_t)len;
            o->via.str.ptr = (const char *)p + at;
        } else {
            o->via.bin.size = (uint32_t)len;
            o->via.bin.ptr = (const char *)p + at;
        }
        at += (size_t)len;
    }
    *pos = at;
    return 0;
}

int
cm_msgpack_skip (const void *data, size_t size, size_t *pos)
{
    size_t at = *pos;
    uint64_t pending = 1; /* objects still to skip, nested elements included */
    const unsigned char *p = data;
    while (pending > 0) {
        /*  Fast path for the common short str (a source record is all strings). */
        if (p && at < size && p[at] >= 0xa0 && p[at] <= 0xbf) {
            size_t len = p[at] & 0x1fu;
            if (size - at - 1 < len)
                return -1;
            at += 1 + len;
            pending--;
            if (pending > size - at)
                return -1;
            continue;
        }
        msgpack_object o;
        if (cm_msgpack_read (data, size, &at, &o) != 0)
            return -1;
        pending--;
        if (o.type == MSGPACK_OBJECT_ARRAY)
            pending += o.via.array.size;
        else if (o.type == MSGPACK_OBJECT_MAP)
            pending += 2 * (uint64_t)o.via.map.size;
        /*  Every element takes at least one byte: a count beyond the bytes left is a lie. */
        if (pending > size - at)
            return -1;
    }
    *pos = at;
    return 0;
}

int
cm_msgpack_str_check (const msgpack_object *o, const char *field, size_t max, char *err,
                      size_t err_cap)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        snprintf (err, err_cap, "field '%s': expected str, got %s", field,
                  cm_msgpack_type_name (o));
        return -1;
    }
    size_t len = o->via.str.size;
    if (len > max) {
        snprintf (err, err_cap, "field '%s': %zu bytes, longer than %zu", field, len, max);
        return -1;
    }
    if (len > 0 && memchr (o->via.str.ptr, '\0', len)) {
        snprintf (err, err_cap, "field '%s': contains a NUL byte", field);
        return -1;
    }
    return 0;
}

char *
cm_msgpack_strdup (const msgpack_object *o, const char *field, size_t max, char *err,
                   size_t err_cap)
{
    if (cm_msgpack_str_check (o, field, max, err, err_cap) != 0)
        return NULL;
    size_t len = o->via.str.size;
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
