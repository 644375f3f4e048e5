/*  cm_event_batch: several events in one message. See cm_event_batch.h. */
#include "cm_event_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_msgpack.h"

#define S_HEAD 5 /* array 32 and bin 32 headers: a type byte and a big-endian length */

struct cm_event_batch_t {
    unsigned char *buf; /* S_HEAD bytes of array header, then the items */
    size_t len, cap;    /* bytes used (with the header) and allocated */
    uint32_t count;     /* items */
};

static void
s_put_be32 (unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

cm_event_batch_t *
cm_event_batch_new (void)
{
    cm_event_batch_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 64 * 1024;
    self->buf = malloc (self->cap);
    if (!self->buf) {
        free (self);
        return NULL;
    }
    self->len = S_HEAD;
    return self;
}

void
cm_event_batch_destroy (cm_event_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

int
cm_event_batch_add (cm_event_batch_t *self, const cm_event_t *ev)
{
    char *data = NULL;
    size_t size = 0;
    if (cm_event_encode (ev, &data, &size) != 0 || size > UINT32_MAX)
        goto fail;
    if (self->len + S_HEAD + size > self->cap) {
        size_t cap = self->cap * 2;
        while (cap < self->len + S_HEAD + size)
            cap *= 2;
        unsigned char *p = realloc (self->buf, cap);
        if (!p)
            goto fail;
        self->buf = p;
        self->cap = cap;
    }
    unsigned char *at = self->buf + self->len;
    at[0] = 0xc6; /* bin 32 */
    s_put_be32 (at + 1, (uint32_t)size);
    memcpy (at + S_HEAD, data, size);
    self->len += S_HEAD + size;
    self->count++;
    free (data);
    return 0;
fail:
    free (data);
    return -1;
}

size_t
cm_event_batch_count (const cm_event_batch_t *self)
{
    return self->count;
}

bool
cm_event_batch_full (const cm_event_batch_t *self)
{
    return self->count >= CM_EVENT_BATCH_MAX_EVENTS || self->len >= CM_EVENT_BATCH_MAX_BYTES;
}

const void *
cm_event_batch_frame (cm_event_batch_t *self, size_t *size)
{
    *size = 0;
    if (self->count == 0)
        return NULL;
    self->buf[0] = 0xdd; /* array 32 */
    s_put_be32 (self->buf + 1, self->count);
    *size = self->len;
    return self->buf;
}

void
cm_event_batch_clear (cm_event_batch_t *self)
{
    self->len = S_HEAD;
    self->count = 0;
}

void
cm_event_frame_init (cm_event_frame_t *self, const void *data, size_t size)
{
    *self = (cm_event_frame_t){.p = data, .size = size};
}

/*  Reads a header at p (n bytes left): the length it announces for the types of the
    family (array or bin) and the header's own size. -1 when it is not one of them or is
    cut short. */
static int
s_header (const unsigned char *p, size_t n, bool array, uint32_t *value, size_t *hlen)
{
    if (n < 1)
        return -1;
    unsigned char t = p[0];
    int width = 0;
    if (array && t >= 0x90 && t <= 0x9f) {
        *value = t & 0x0f;
        *hlen = 1;
        return 0;
    }
    if (array)
        width = t == 0xdc ? 2 : t == 0xdd ? 4 : 0;
    else
        width = t == 0xc4 ? 1 : t == 0xc5 ? 2 : t == 0xc6 ? 4 : 0;
    if (!width || n < (size_t)width + 1)
        return -1;
    *value = (uint32_t)cm_msgpack_be (p + 1, width);
    *hlen = (size_t)width + 1;
    return 0;
}

int
cm_event_frame_next (cm_event_frame_t *self, const void **item, size_t *item_size, char *err,
                     size_t err_cap)
{
    *item = NULL;
    *item_size = 0;
    if (self->state == 2)
        return 0;
    if (self->state == 0) {
        unsigned char t = self->size ? self->p[0] : 0;
        bool batch = (t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd;
        if (!batch) { /* one event (or nothing): cm_event_decode judges it */
            self->state = 2;
            *item = self->p;
            *item_size = self->size;
            return 1;
        }
        uint32_t n;
        size_t hlen;
        if (s_header (self->p, self->size, true, &n, &hlen) != 0) {
            self->state = 2;
            snprintf (err, err_cap, "event batch: truncated array header");
            return -1;
        }
        self->left = n;
        self->off = hlen;
        self->state = 1;
    }
    if (self->left == 0) {
        self->state = 2;
        if (self->off != self->size) {
            snprintf (err, err_cap, "event batch: %zu bytes after the last event",
                      self->size - self->off);
            return -1;
        }
        return 0;
    }
    uint32_t len;
    size_t hlen;
    size_t rest = self->size - self->off;
    if (s_header (self->p + self->off, rest, false, &len, &hlen) != 0 || len > rest - hlen) {
        self->state = 2;
        snprintf (err, err_cap, "event batch: item %s at byte %zu (%u more announced)",
                  rest && s_header (self->p + self->off, rest, false, &len, &hlen) == 0
                      ? "longer than the message"
                      : "is not bin",
                  self->off, self->left);
        return -1;
    }
    *item = self->p + self->off + hlen;
    *item_size = len;
    self->off += hlen + len;
    self->left--;
    return 1;
}
