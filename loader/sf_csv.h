/*  sf_csv: RFC 4180 CSV for Bulk API 2.0: a writer that builds the upload into a capped
    buffer, and a reader of the result files Salesforce serves (successfulResults,
    failedResults, unprocessedrecords).

    The writer quotes every non-empty cell ("a""b" for a"b) and writes LF line endings, so
    commas, quotes and line breaks inside values survive. An empty cell is written bare.

    The reader is bounded and total: it accepts any bytes, never reads past the buffer,
    caps the number of cells per record and the length of a cell, and reports a malformed
    record (an unterminated quote, text after a closing quote, a quote inside a bare cell,
    a NUL byte) as an error with its position. Line endings LF or CRLF. */
#ifndef SF_CSV_H
#define SF_CSV_H

#include <stdbool.h>
#include <stddef.h>

/*  A growing output buffer that refuses to pass max bytes. Zero-initialise, set max. */
typedef struct {
    char *data; /* bytes, NUL-terminated when not NULL */
    size_t len; /* used */
    size_t cap; /* allocated */
    size_t max; /* the most it may hold (0: no cap) */
} sf_csv_buf_t;

/*  Appends one cell (len bytes of text), preceded by a comma unless first. Returns 0, or
    -1 when the cap would be passed or memory runs out (the buffer is then unchanged). */
int sf_csv_put (sf_csv_buf_t *buf, const char *text, size_t len, bool first);

/*  Ends the current row with LF. Returns 0 or -1 like sf_csv_put. */
int sf_csv_end_row (sf_csv_buf_t *buf);

/*  Frees the buffer's bytes and zeroes it (max is kept). */
void sf_csv_buf_clear (sf_csv_buf_t *buf);

typedef struct sf_csv_reader_t sf_csv_reader_t;

/*  A reader over data (len bytes, borrowed, must outlive the reader): at most max_cells
    cells per record and max_cell bytes per cell. NULL when out of memory. */
sf_csv_reader_t *sf_csv_reader_new (const char *data, size_t len, size_t max_cells,
                                    size_t max_cell);

/*  Frees the reader; sets *self_p to NULL. Accepts NULL. */
void sf_csv_reader_destroy (sf_csv_reader_t **self_p);

/*  Reads the next record. Returns 1 with *cells (NUL-terminated strings) and *count,
    valid until the next call; 0 at the end of the data; -1 on a malformed record, with
    the reason and byte offset in err (reading stops there). */
int sf_csv_reader_next (sf_csv_reader_t *self, char ***cells, size_t *count, char *err,
                        size_t err_cap);

#endif
