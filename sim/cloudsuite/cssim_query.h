/*  cssim_query: one Mongoose IDO REST v2 LoadCollection against a table: the properties,
    filter, orderby, recordcap, loadtype/bookmark and readonly parameters, and the v2
    response body {"Items":[...],"Bookmark":...,"MoreRowsExist":...,"Success":...,
    "Message":...}.

    Paging: rows are visited in the requested order with the key properties appended as
    tie-break, so the order is total. The bookmark carries the order (P, D) and the first
    (F) and last (L) row of the page in the documented form
    <B><P><p>Prop</p>..</P><D><f>false</f>..</D><F><v>..</v>..</F><L><v>..</v>..</L></B>;
    NEXT resumes strictly after L by binary search, so rows added between pages are never
    skipped before L nor repeated. */
#ifndef CSSIM_QUERY_H
#define CSSIM_QUERY_H

#include <stddef.h>

#include "cssim_data.h"

#define CSSIM_BOOKMARK_MAX 16384 /* longest accepted bookmark */
#define CSSIM_PAGE_DEFAULT 200   /* recordcap -1 or absent */

/*  The request's query parameters (each NULL when absent; borrowed). */
typedef struct {
    const char *properties; /* comma list or "*" */
    const char *filter;     /* SQL WHERE subset (cssim_filter.h) */
    const char *orderby;    /* "Prop [DESC], ..." */
    const char *recordcap;  /* N, -1 = 200, 0 = all */
    const char *loadtype;   /* FIRST, NEXT, PREV, LAST */
    const char *bookmark;   /* from a previous response */
    const char *readonly;   /* "true" drops _ItemId */
} cssim_load_args_t;

/*  Runs the load. On return *body (malloc'd, the caller frees) holds the v2 JSON, and
    *success tells whether it says "Success": true; a bad request (unknown property, bad
    filter, orderby, recordcap, loadtype or bookmark) is a Success:false body with a
    Message naming the problem. *rows gets the number of items. Returns 0, or -1 when out
    of memory (nothing to free). */
int cssim_query_load (cssim_table_t *table, const cssim_load_args_t *args, char **body, size_t *len,
                      int *success, size_t *rows);

/*  A Success:false body with `message` (malloc'd; NULL when out of memory). */
char *cssim_query_error_body (const char *message, size_t *len);

/*  Appends a JSON string literal for s (quoted, escaped) to a malloc'd text buffer.
    Helpers for the server's bodies. */
typedef struct {
    char *data; /* text (NUL-terminated when non-NULL) */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* an allocation failed */
} cssim_buf_t;

/*  Appends n bytes. */
void cssim_buf_add (cssim_buf_t *b, const char *s, size_t n);

/*  Appends a NUL-terminated string. */
void cssim_buf_str (cssim_buf_t *b, const char *s);

/*  Appends s as a quoted, escaped JSON string. */
void cssim_buf_json (cssim_buf_t *b, const char *s);

/*  Appends a row as a JSON object of all its properties (values as strings). */
void cssim_buf_row (cssim_buf_t *b, const cssim_ido_t *ido, const cssim_row_t *row);

#endif
