/*  cssim_query: IDO LoadCollection. See cssim_query.h. */
#include "cssim_query.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cssim_filter.h"

#define MAX_TUPLE (CSSIM_MAX_SORT + CSSIM_MAX_KEYS)

/* ---------------------------------------------------------------- text buffer */

void
cssim_buf_add (cssim_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc (b->data, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy (b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
cssim_buf_str (cssim_buf_t *b, const char *s)
{
    cssim_buf_add (b, s, strlen (s));
}

void
cssim_buf_json (cssim_buf_t *b, const char *s)
{
    cssim_buf_add (b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        cssim_buf_add (b, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"':
            cssim_buf_add (b, "\\\"", 2);
            break;
        case '\\':
            cssim_buf_add (b, "\\\\", 2);
            break;
        case '\n':
            cssim_buf_add (b, "\\n", 2);
            break;
        case '\r':
            cssim_buf_add (b, "\\r", 2);
            break;
        case '\t':
            cssim_buf_add (b, "\\t", 2);
            break;
        default:
            snprintf (esc, sizeof esc, "\\u%04x", c);
            cssim_buf_add (b, esc, 6);
        }
        run = s + 1;
    }
    cssim_buf_add (b, run, (size_t)(s - run));
    cssim_buf_add (b, "\"", 1);
}

void
cssim_buf_row (cssim_buf_t *b, const cssim_ido_t *ido, const cssim_row_t *row)
{
    cssim_buf_add (b, "{", 1);
    for (int i = 0; i < ido->nprops; i++) {
        if (i)
            cssim_buf_add (b, ",", 1);
        cssim_buf_json (b, ido->props[i].name);
        cssim_buf_add (b, ":", 1);
        cssim_buf_json (b, cssim_row_value (row, i));
    }
    cssim_buf_add (b, "}", 1);
}

char *
cssim_query_error_body (const char *message, size_t *len)
{
    cssim_buf_t b = {0};
    cssim_buf_str (&b, "{\"Items\":null,\"Bookmark\":null,\"MoreRowsExist\":false,"
                       "\"Success\":false,\"Message\":");
    cssim_buf_json (&b, message);
    cssim_buf_str (&b, "}");
    if (b.oom) {
        free (b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

/* ---------------------------------------------------------------- parameters */

static const char *
trim (const char *s, const char *end, size_t *len)
{
    while (s < end && isspace ((unsigned char)*s))
        s++;
    while (end > s && isspace ((unsigned char)end[-1]))
        end--;
    *len = (size_t)(end - s);
    return s;
}

/*  Parses the property list into out (deduplicated). Returns the count, or -1. */
static int
parse_properties (const cssim_ido_t *ido, const char *text, int *out, char *err, size_t cap)
{
    size_t tl;
    const char *t = text ? trim (text, text + strlen (text), &tl) : NULL;
    if (!t || tl == 0 || (tl == 1 && *t == '*')) {
        for (int i = 0; i < ido->nprops; i++)
            out[i] = i;
        return ido->nprops;
    }
    int n = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr (p, ',');
        const char *end = comma ? comma : p + strlen (p);
        size_t len;
        const char *name = trim (p, end, &len);
        if (len == 1 && *name == '*') {
            for (int i = 0; i < ido->nprops; i++)
                out[i] = i;
            return ido->nprops;
        }
        if (len > 0) {
            int idx = cssim_ido_prop (ido, name, len);
            if (idx < 0) {
                snprintf (err, cap, "Property '%.*s' not found in IDO '%s'.",
                          (int)(len > 64 ? 64 : len), name, ido->name);
                return -1;
            }
            int dup = 0;
            for (int i = 0; i < n; i++)
                dup |= out[i] == idx;
            if (!dup)
                out[n++] = idx;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

/*  Parses orderby and appends the key properties. Returns 0 or -1. */
static int
parse_orderby (const cssim_ido_t *ido, const char *text, cssim_sort_t *sort, char *err, size_t cap)
{
    sort->n = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *comma = strchr (p, ',');
        const char *end = comma ? comma : p + strlen (p);
        size_t len;
        const char *item = trim (p, end, &len);
        if (len > 0) {
            const char *sp = item;
            while (sp < item + len && !isspace ((unsigned char)*sp))
                sp++;
            size_t dlen;
            const char *dir = trim (sp, item + len, &dlen);
            int desc = 0;
            if (dlen == 4 && strncasecmp (dir, "DESC", 4) == 0)
                desc = 1;
            else if (dlen != 0 && !(dlen == 3 && strncasecmp (dir, "ASC", 3) == 0)) {
                snprintf (err, cap, "Invalid orderby: expected ASC or DESC after '%.*s'.",
                          (int)((size_t)(sp - item) > 64 ? 64 : sp - item), item);
                return -1;
            }
            int idx = cssim_ido_prop (ido, item, (size_t)(sp - item));
            if (idx < 0) {
                snprintf (err, cap, "Invalid orderby: property '%.*s' not found in IDO '%s'.",
                          (int)((size_t)(sp - item) > 64 ? 64 : sp - item), item, ido->name);
                return -1;
            }
            if (sort->n >= CSSIM_MAX_SORT) {
                snprintf (err, cap, "Invalid orderby: more than %d properties.", CSSIM_MAX_SORT);
                return -1;
            }
            int dup = 0;
            for (int i = 0; i < sort->n; i++)
                dup |= sort->prop[i] == idx;
            if (!dup) {
                sort->prop[sort->n] = idx;
                sort->desc[sort->n] = desc;
                sort->n++;
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    for (int k = 0; k < ido->nkeys; k++) {
        int dup = 0;
        for (int i = 0; i < sort->n; i++)
            dup |= sort->prop[i] == ido->keys[k];
        if (!dup) {
            sort->prop[sort->n] = ido->keys[k];
            sort->desc[sort->n] = 0;
            sort->n++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- bookmarks */

static void
xml_escape (cssim_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            cssim_buf_str (b, "&lt;");
            break;
        case '>':
            cssim_buf_str (b, "&gt;");
            break;
        case '&':
            cssim_buf_str (b, "&amp;");
            break;
        default:
            cssim_buf_add (b, s, 1);
        }
    }
}

static void
bookmark_values (cssim_buf_t *b, const char *tag, const cssim_sort_t *sort, const cssim_row_t *row,
                 char *const *values, int nvalues)
{
    cssim_buf_str (b, "<");
    cssim_buf_str (b, tag);
    cssim_buf_str (b, ">");
    for (int i = 0; i < sort->n; i++) {
        const char *v = row ? cssim_row_value (row, sort->prop[i]) : i < nvalues ? values[i] : NULL;
        if (!v)
            break;
        cssim_buf_str (b, "<v>");
        xml_escape (b, v);
        cssim_buf_str (b, "</v>");
    }
    cssim_buf_str (b, "</");
    cssim_buf_str (b, tag);
    cssim_buf_str (b, ">");
}

/*  A parsed bookmark. */
typedef struct {
    int nprops;             /* entries in P */
    char *props[MAX_TUPLE]; /* P names */
    int desc[MAX_TUPLE];    /* D flags */
    int ndesc;              /* entries in D */
    int nfirst;             /* values in F */
    char *first[MAX_TUPLE]; /* F values */
    int nlast;              /* values in L */
    char *last[MAX_TUPLE];  /* L values */
} bookmark_t;

static void
bookmark_free (bookmark_t *bm)
{
    for (int i = 0; i < bm->nprops; i++)
        free (bm->props[i]);
    for (int i = 0; i < bm->nfirst; i++)
        free (bm->first[i]);
    for (int i = 0; i < bm->nlast; i++)
        free (bm->last[i]);
}

static char *
xml_unescape (const char *s, size_t n)
{
    char *out = malloc (n + 1);
    if (!out)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        static const struct {
            const char *ent;
            char c;
        } ents[] = {
            {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
        int done = 0;
        if (s[i] == '&')
            for (size_t e = 0; e < sizeof ents / sizeof ents[0] && !done; e++) {
                size_t el = strlen (ents[e].ent);
                if (i + el <= n && strncmp (s + i, ents[e].ent, el) == 0) {
                    out[at++] = ents[e].c;
                    i += el - 1;
                    done = 1;
                }
            }
        if (!done)
            out[at++] = s[i];
    }
    out[at] = '\0';
    return out;
}

/*  Finds <tag>...</tag> inside [s, end). Returns 0 with the inner span, -1 when absent. */
static int
xml_section (const char *s, const char *end, const char *tag, const char **in, const char **in_end)
{
    char open[16], close[16];
    snprintf (open, sizeof open, "<%s>", tag);
    snprintf (close, sizeof close, "</%s>", tag);
    const char *a = memmem (s, (size_t)(end - s), open, strlen (open));
    if (!a)
        return -1;
    a += strlen (open);
    const char *b = memmem (a, (size_t)(end - a), close, strlen (close));
    if (!b)
        return -1;
    *in = a;
    *in_end = b;
    return 0;
}

/*  Reads every <item>..</item> of a section into out (malloc'd). Returns count or -1. */
static int
xml_items (const char *s, const char *end, const char *item, char **out, int max)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *in, *in_end;
        if (xml_section (p, end, item, &in, &in_end))
            break;
        if (n >= max || !(out[n] = xml_unescape (in, (size_t)(in_end - in)))) {
            while (n > 0)
                free (out[--n]);
            return -1;
        }
        n++;
        p = in_end + strlen (item) + 3;
    }
    return n;
}

/*  Parses and checks a bookmark against the request's order. Returns 0, or -1 with err. */
static int
bookmark_parse (const char *text, const cssim_ido_t *ido, const cssim_sort_t *sort, bookmark_t *bm,
                char *err, size_t cap)
{
    memset (bm, 0, sizeof *bm);
    size_t n = strlen (text);
    const char *end = text + n, *b, *b_end, *s, *s_end;
    if (n > CSSIM_BOOKMARK_MAX || xml_section (text, end, "B", &b, &b_end) ||
        xml_section (b, b_end, "P", &s, &s_end))
        goto bad;
    char *flags[MAX_TUPLE] = {0};
    bm->nprops = xml_items (s, s_end, "p", bm->props, MAX_TUPLE);
    if (bm->nprops < 0) {
        bm->nprops = 0;
        goto bad;
    }
    if (xml_section (b, b_end, "D", &s, &s_end) == 0) {
        bm->ndesc = xml_items (s, s_end, "f", flags, MAX_TUPLE);
        if (bm->ndesc < 0)
            goto bad;
        for (int i = 0; i < bm->ndesc; i++) {
            bm->desc[i] = strcasecmp (flags[i], "true") == 0;
            free (flags[i]);
        }
    }
    if (xml_section (b, b_end, "F", &s, &s_end) == 0) {
        bm->nfirst = xml_items (s, s_end, "v", bm->first, MAX_TUPLE);
        if (bm->nfirst < 0) {
            bm->nfirst = 0;
            goto bad;
        }
    }
    if (xml_section (b, b_end, "L", &s, &s_end) == 0) {
        bm->nlast = xml_items (s, s_end, "v", bm->last, MAX_TUPLE);
        if (bm->nlast < 0) {
            bm->nlast = 0;
            goto bad;
        }
    }
    if (bm->nprops != sort->n || (bm->ndesc && bm->ndesc != sort->n)) {
        snprintf (err, cap, "Invalid bookmark: it does not match the orderby of this request.");
        bookmark_free (bm);
        return -1;
    }
    for (int i = 0; i < sort->n; i++) {
        if (strcasecmp (bm->props[i], ido->props[sort->prop[i]].name) != 0 ||
            (bm->ndesc && bm->desc[i] != sort->desc[i])) {
            snprintf (err, cap, "Invalid bookmark: it does not match the orderby of this request.");
            bookmark_free (bm);
            return -1;
        }
    }
    if ((bm->nfirst && bm->nfirst != sort->n) || (bm->nlast && bm->nlast != sort->n))
        goto bad;
    return 0;
bad:
    bookmark_free (bm);
    snprintf (err, cap, "Invalid bookmark.");
    return -1;
}

/* ---------------------------------------------------------------- the load */

/*  First index whose tuple is > values (strict) or >= values. */
static size_t
view_bound (const cssim_ido_t *ido, const cssim_sort_t *sort, const cssim_row_t *const *rows,
            size_t n, char *const *values, int strict)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cssim_sort_cmp_values (ido, sort, rows[mid], values);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
parse_recordcap (const char *text, long *cap)
{
    if (!text || !*text) {
        *cap = CSSIM_PAGE_DEFAULT;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || *end || end == text || v < -1 || v > 100000000)
        return -1;
    *cap = v == -1 ? CSSIM_PAGE_DEFAULT : v;
    return 0;
}

typedef enum { LOAD_FIRST, LOAD_NEXT, LOAD_PREV, LOAD_LAST } loadtype_t;

int
cssim_query_load (cssim_table_t *table, const cssim_load_args_t *args, char **body, size_t *len,
                  int *success, size_t *rows_out)
{
    const cssim_ido_t *ido = cssim_table_ido (table);
    char err[512] = "";
    int props[CSSIM_MAX_PROPS];
    cssim_sort_t sort;
    bookmark_t bm;
    int have_bm = 0;
    cssim_filter_t *filter = NULL;
    size_t *hits = NULL, nhits = 0, hits_cap = 0;
    cssim_buf_t b = {0};
    long cap;
    loadtype_t lt = LOAD_FIRST;
    int rc = -1;

    *body = NULL;
    *success = 0;
    *rows_out = 0;
    int nprops = parse_properties (ido, args->properties, props, err, sizeof err);
    if (nprops < 0)
        goto fail;
    filter = cssim_filter_new (ido, args->filter, err, sizeof err);
    if (!filter)
        goto fail;
    if (parse_orderby (ido, args->orderby, &sort, err, sizeof err))
        goto fail;
    if (parse_recordcap (args->recordcap, &cap)) {
        snprintf (err, sizeof err,
                  "Invalid recordcap '%.32s': expected -1, 0 or a positive number.",
                  args->recordcap);
        goto fail;
    }
    if (args->loadtype && *args->loadtype) {
        if (strcasecmp (args->loadtype, "FIRST") == 0)
            lt = LOAD_FIRST;
        else if (strcasecmp (args->loadtype, "NEXT") == 0)
            lt = LOAD_NEXT;
        else if (strcasecmp (args->loadtype, "PREV") == 0)
            lt = LOAD_PREV;
        else if (strcasecmp (args->loadtype, "LAST") == 0)
            lt = LOAD_LAST;
        else {
            snprintf (err, sizeof err,
                      "Invalid loadtype '%.32s': expected FIRST, NEXT, PREV or LAST.",
                      args->loadtype);
            goto fail;
        }
    }
    if ((lt == LOAD_NEXT || lt == LOAD_PREV) && args->bookmark && *args->bookmark) {
        if (bookmark_parse (args->bookmark, ido, &sort, &bm, err, sizeof err))
            goto fail;
        have_bm = 1;
    } else if (lt == LOAD_NEXT)
        lt = LOAD_FIRST; /* NEXT without a bookmark starts at the beginning */
    else if (lt == LOAD_PREV)
        lt = LOAD_LAST;

    const cssim_row_t *const *view = cssim_table_view (table, &sort);
    if (!view)
        goto oom;
    size_t n = cssim_table_count (table);
    int more = 0;
    int forward = lt == LOAD_FIRST || lt == LOAD_NEXT;
    if (forward) {
        size_t i = 0;
        if (lt == LOAD_NEXT && bm.nlast)
            i = view_bound (ido, &sort, view, n, bm.last, 1);
        for (; i < n; i++) {
            if (!cssim_filter_match (filter, view[i]))
                continue;
            if (cap > 0 && nhits == (size_t)cap) {
                more = 1;
                break;
            }
            if (nhits == hits_cap) {
                size_t nc = hits_cap ? hits_cap * 2 : 256;
                size_t *grown = realloc (hits, nc * sizeof *hits);
                if (!grown)
                    goto oom;
                hits = grown;
                hits_cap = nc;
            }
            hits[nhits++] = i;
        }
    } else {
        size_t i = n;
        if (lt == LOAD_PREV && bm.nfirst)
            i = view_bound (ido, &sort, view, n, bm.first, 0);
        while (i-- > 0) {
            if (!cssim_filter_match (filter, view[i]))
                continue;
            if (cap > 0 && nhits == (size_t)cap) {
                more = 1;
                break;
            }
            if (nhits == hits_cap) {
                size_t nc = hits_cap ? hits_cap * 2 : 256;
                size_t *grown = realloc (hits, nc * sizeof *hits);
                if (!grown)
                    goto oom;
                hits = grown;
                hits_cap = nc;
            }
            hits[nhits++] = i;
        }
        for (size_t a = 0, z = nhits ? nhits - 1 : 0; a < z; a++, z--) {
            size_t t = hits[a];
            hits[a] = hits[z];
            hits[z] = t;
        }
    }

    int readonly = args->readonly &&
                   (strcasecmp (args->readonly, "true") == 0 || strcmp (args->readonly, "1") == 0);
    int rd = ido->record_date, rp = ido->row_pointer;
    cssim_buf_str (&b, "{\"Items\":[");
    for (size_t h = 0; h < nhits; h++) {
        const cssim_row_t *row = view[hits[h]];
        cssim_buf_str (&b, h ? ",{" : "{");
        for (int j = 0; j < nprops; j++) {
            if (j)
                cssim_buf_add (&b, ",", 1);
            cssim_buf_json (&b, ido->props[props[j]].name);
            cssim_buf_add (&b, ":", 1);
            cssim_buf_json (&b, cssim_row_value (row, props[j]));
        }
        if (!readonly) {
            cssim_buf_str (&b, nprops ? ",\"_ItemId\":\"PBT=[" : "\"_ItemId\":\"PBT=[");
            cssim_buf_str (&b, ido->pbt);
            cssim_buf_str (&b, "] ");
            cssim_buf_str (&b, ido->alias);
            cssim_buf_str (&b, ".DT=[");
            cssim_buf_str (&b, cssim_row_value (row, rd));
            cssim_buf_str (&b, "] ");
            cssim_buf_str (&b, ido->alias);
            cssim_buf_str (&b, ".ID=[");
            cssim_buf_str (&b, cssim_row_value (row, rp));
            cssim_buf_str (&b, "]\"");
        }
        cssim_buf_add (&b, "}", 1);
    }
    cssim_buf_str (&b, "],\"Bookmark\":");
    {
        cssim_buf_t bk = {0};
        cssim_buf_str (&bk, "<B><P>");
        for (int i = 0; i < sort.n; i++) {
            cssim_buf_str (&bk, "<p>");
            cssim_buf_str (&bk, ido->props[sort.prop[i]].name);
            cssim_buf_str (&bk, "</p>");
        }
        cssim_buf_str (&bk, "</P><D>");
        for (int i = 0; i < sort.n; i++)
            cssim_buf_str (&bk, sort.desc[i] ? "<f>true</f>" : "<f>false</f>");
        cssim_buf_str (&bk, "</D>");
        if (nhits) {
            bookmark_values (&bk, "F", &sort, view[hits[0]], NULL, 0);
            bookmark_values (&bk, "L", &sort, view[hits[nhits - 1]], NULL, 0);
        } else if (have_bm) {
            /* An empty page keeps the position, so polling NEXT again stays correct. */
            char *const *pos = lt == LOAD_NEXT ? bm.last : bm.first;
            int npos = lt == LOAD_NEXT ? bm.nlast : bm.nfirst;
            bookmark_values (&bk, "F", &sort, NULL, pos, npos);
            bookmark_values (&bk, "L", &sort, NULL, pos, npos);
        } else {
            cssim_buf_str (&bk, "<F></F><L></L>");
        }
        cssim_buf_str (&bk, "</B>");
        if (bk.oom) {
            free (bk.data);
            goto oom;
        }
        cssim_buf_json (&b, bk.data);
        free (bk.data);
    }
    cssim_buf_str (&b, more ? ",\"MoreRowsExist\":true" : ",\"MoreRowsExist\":false");
    cssim_buf_str (&b, ",\"Success\":true,\"Message\":null}");
    if (b.oom)
        goto oom;
    *body = b.data;
    *len = b.len;
    *success = 1;
    *rows_out = nhits;
    b.data = NULL;
    rc = 0;
    goto out;

fail:
    *body = cssim_query_error_body (err, len);
    rc = *body ? 0 : -1;
    goto out;
oom:
    rc = -1;
out:
    if (have_bm)
        bookmark_free (&bm);
    cssim_filter_destroy (&filter);
    free (hits);
    free (b.data);
    return rc;
}
