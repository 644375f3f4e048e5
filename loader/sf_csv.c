/*  sf_csv: RFC 4180 writer and bounded reader. See sf_csv.h. */
#include "sf_csv.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sf_csv_reader_t {
    const char *data; /* input (borrowed) */
    size_t len;       /* its length */
    size_t pos;       /* next byte to read */
    size_t max_cells; /* cells per record at most */
    size_t max_cell;  /* bytes per cell at most */
    char *scratch;    /* decoded cells of the current record, NUL-separated */
    char **cells;     /* pointers into scratch */
    bool failed;      /* a malformed record was met: nothing more is read */
};

//  Makes room for n more bytes (plus the NUL). -1 over the cap or out of memory.
static int
s_reserve (sf_csv_buf_t *buf, size_t n)
{
    if (n > SIZE_MAX / 4 || buf->len > SIZE_MAX / 4)
        return -1;
    size_t need = buf->len + n + 1;
    if (buf->max && need > buf->max + 1)
        return -1;
    if (need <= buf->cap)
        return 0;
    size_t cap = buf->cap ? buf->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *grown = realloc (buf->data, cap);
    if (!grown)
        return -1;
    buf->data = grown;
    buf->cap = cap;
    return 0;
}

int
sf_csv_put (sf_csv_buf_t *buf, const char *text, size_t len, bool first)
{
    assert (buf && (text || len == 0));
    size_t quotes = 0;
    for (size_t i = 0; i < len; i++)
        quotes += text[i] == '"';
    //  separator, two quotes, the text with each quote doubled
    size_t need = (first ? 0 : 1) + (len ? len + quotes + 2 : 0);
    if (s_reserve (buf, need) != 0)
        return -1;
    char *out = buf->data + buf->len;
    if (!first)
        *out++ = ',';
    if (len) {
        *out++ = '"';
        for (size_t i = 0; i < len; i++) {
            if (text[i] == '"')
                *out++ = '"';
            *out++ = text[i];
        }
        *out++ = '"';
    }
    buf->len = (size_t)(out - buf->data);
    buf->data[buf->len] = '\0';
    return 0;
}

int
sf_csv_end_row (sf_csv_buf_t *buf)
{
    assert (buf);
    if (s_reserve (buf, 1) != 0)
        return -1;
    buf->data[buf->len++] = '\n';
    buf->data[buf->len] = '\0';
    return 0;
}

void
sf_csv_buf_clear (sf_csv_buf_t *buf)
{
    assert (buf);
    free (buf->data);
    size_t max = buf->max;
    memset (buf, 0, sizeof *buf);
    buf->max = max;
}

sf_csv_reader_t *
sf_csv_reader_new (const char *data, size_t len, size_t max_cells, size_t max_cell)
{
    sf_csv_reader_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->data = data;
    self->len = data ? len : 0;
    self->max_cells = max_cells ? max_cells : 1;
    self->max_cell = max_cell;
    //  Decoding only shrinks text, so the input size bounds one record's cells
    self->scratch = malloc (self->len + 1);
    self->cells = calloc (self->max_cells, sizeof *self->cells);
    if (!self->scratch || !self->cells)
        sf_csv_reader_destroy (&self);
    return self;
}

void
sf_csv_reader_destroy (sf_csv_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sf_csv_reader_t *self = *self_p;
    free (self->scratch);
    free (self->cells);
    free (self);
    *self_p = NULL;
}

//  True when the bytes at p end a line (LF or CRLF).
static bool
s_line_end (const sf_csv_reader_t *self, size_t p)
{
    return p < self->len && (self->data[p] == '\n' || (self->data[p] == '\r' && p + 1 < self->len &&
                                                       self->data[p + 1] == '\n'));
}

int
sf_csv_reader_next (sf_csv_reader_t *self, char ***cells, size_t *count, char *err, size_t err_cap)
{
    assert (self && cells && count);
    *cells = NULL;
    *count = 0;
    if (self->failed) {
        snprintf (err, err_cap, "the CSV is malformed before byte %zu", self->pos);
        return -1;
    }
    if (self->pos >= self->len)
        return 0;
    const char *d = self->data;
    size_t p = self->pos;
    size_t out = 0; //  write offset in scratch
    size_t n = 0;
    const char *why = NULL;
    while (true) {
        if (n >= self->max_cells) {
            why = "too many cells in a record";
            goto bad;
        }
        size_t start = out;
        if (p < self->len && d[p] == '"') {
            p++;
            while (true) {
                if (p >= self->len) {
                    why = "unterminated quoted cell";
                    goto bad;
                }
                if (d[p] == '"') {
                    if (p + 1 < self->len && d[p + 1] == '"') {
                        self->scratch[out++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (d[p] == '\0') {
                    why = "NUL byte in a cell";
                    goto bad;
                }
                self->scratch[out++] = d[p++];
            }
            if (p < self->len && d[p] != ',' && !s_line_end (self, p)) {
                why = "text after a closing quote";
                goto bad;
            }
        } else {
            while (p < self->len && d[p] != ',' && !s_line_end (self, p)) {
                if (d[p] == '"') {
                    why = "quote inside a bare cell";
                    goto bad;
                }
                if (d[p] == '\0') {
                    why = "NUL byte in a cell";
                    goto bad;
                }
                self->scratch[out++] = d[p++];
            }
        }
        if (out - start > self->max_cell) {
            why = "cell too long";
            goto bad;
        }
        self->scratch[out++] = '\0';
        self->cells[n++] = self->scratch + start;
        if (p < self->len && d[p] == ',') {
            p++;
            continue;
        }
        //  End of line or of data
        if (p < self->len && d[p] == '\r')
            p++;
        if (p < self->len && d[p] == '\n')
            p++;
        break;
    }
    self->pos = p;
    *cells = self->cells;
    *count = n;
    return 1;
bad:
    self->failed = true;
    self->pos = p;
    snprintf (err, err_cap, "%s at byte %zu", why, p);
    return -1;
}
