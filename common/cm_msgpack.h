/*  cm_msgpack: bounded building blocks shared by the envelope and event codecs.

    msgpack-c allocates a container's slots from its header count before reading the
    elements, so a 5-byte input can ask for gigabytes. cm_msgpack_check walks the raw
    bytes first and refuses any container that claims more elements than bytes remain,
    nesting deeper than max_depth, truncation and trailing bytes; only input that passes is
    handed to msgpack_unpack_next, whose allocation is then bounded by the input size. */
#ifndef CM_MSGPACK_H
#define CM_MSGPACK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Checks that data holds exactly one well-formed msgpack object within the limits.
    Returns 0, or -1 with the reason in err. */
int cm_msgpack_check (const void *data, size_t size, int max_depth, char *err, size_t err_cap);

/*  Unpacks the single object of data (which must have passed cm_msgpack_check) into
    *result (initialised by the caller with msgpack_unpacked_init, destroyed by the caller).
    Requires the root to be a map. Returns 0, or -1 with the reason in err. */
int cm_msgpack_unpack_map (const void *data, size_t size, msgpack_unpacked *result, char *err,
                           size_t err_cap);

/*  A short name of an object's type for error messages: "str", "int", "map", ... */
const char *cm_msgpack_type_name (const msgpack_object *o);

/*  True when o is a str equal to name. */
bool cm_msgpack_str_is (const msgpack_object *o, const char *name);

/*  Reads the object that starts at data[*pos] without allocating, and advances *pos past
    what it read. Scalars, str, bin and ext are read whole (str/bin/ext point into data);
    for an array or a map only the header is read: o->via.array.size / o->via.map.size hold
    the element / entry count and ptr is NULL, and *pos is left at the first element. Total
    on any input: returns 0, or -1 when the bytes are truncated or invalid (*pos unchanged).
    A decoder walks data that passed cm_msgpack_check with this and cm_msgpack_skip, instead
    of building the whole tree with msgpack_unpack_next (one zone allocation per message). */
int cm_msgpack_read (const void *data, size_t size, size_t *pos, msgpack_object *o);

/*  The big-endian unsigned integer in the n (<= 8) bytes at p: a msgpack length or value. */
uint64_t cm_msgpack_be (const unsigned char *p, int n);

/*  Skips one whole object (with everything nested in it) that starts at data[*pos].
    Returns 0, or -1 when the bytes are truncated or invalid. Iterative: no recursion. */
int cm_msgpack_skip (const void *data, size_t size, size_t *pos);

/*  Checks that o is a str of at most max bytes without NUL bytes inside (so it can be
    copied into a C string). Returns 0, or -1 with "field 'F': ..." in err. */
int cm_msgpack_str_check (const msgpack_object *o, const char *field, size_t max, char *err,
                          size_t err_cap);

/*  Copies the str o (at most max bytes, no NUL bytes inside) into a malloc'd
    NUL-terminated string. Returns it, or NULL with "field 'F': ..." in err. */
char *cm_msgpack_strdup (const msgpack_object *o, const char *field, size_t max, char *err,
                         size_t err_cap);

/*  Reads an unsigned integer no larger than max. Returns 0, or -1 with the reason in err. */
int cm_msgpack_uint (const msgpack_object *o, const char *field, uint64_t max, uint64_t *out,
                     char *err, size_t err_cap);

/*  Reads a signed 64-bit integer. Returns 0, or -1 with the reason in err. */
int cm_msgpack_int (const msgpack_object *o, const char *field, int64_t *out, char *err,
                    size_t err_cap);

/*  Packs a str of the NUL-terminated text (NULL packs ""). Returns msgpack's rc. */
int cm_msgpack_pack_cstr (msgpack_packer *pk, const char *text);

#endif
