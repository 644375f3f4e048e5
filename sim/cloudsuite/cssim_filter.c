/*  cssim_filter: SQL WHERE subset for the IDO filter parameter. See cssim_filter.h. */
#include "cssim_filter.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { N_TRUE, N_AND, N_OR, N_NOT, N_CMP, N_LIKE, N_IN, N_NULL, N_BETWEEN } node_kind_t;
typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } op_t;

typedef struct {
    node_kind_t kind; /* what the node tests */
    op_t op;          /* N_CMP: the comparison */
    int prop;         /* tested property index */
    int a, b;         /* children (AND/OR: a, b; NOT: a) */
    int lit;          /* first literal index */
    int nlit;         /* number of literals (IN) */
} node_t;

struct cssim_filter_t {
    const cssim_ido_t *ido;               /* schema */
    node_t nodes[CSSIM_FILTER_MAX_NODES]; /* node pool */
    int nnodes;                           /* nodes used */
    char *lits[CSSIM_FILTER_MAX_NODES];   /* normalized literals (malloc'd) */
    int nlits;                            /* literals used */
    int root;                             /* root node */
};

typedef enum { T_END, T_IDENT, T_STRING, T_NUMBER, T_OP, T_LP, T_RP, T_COMMA } tok_kind_t;

typedef struct {
    const char *text;  /* the whole filter */
    const char *p;     /* scan position */
    tok_kind_t kind;   /* current token */
    const char *start; /* its first byte */
    size_t len;        /* its length (for T_STRING: of the raw quoted text) */
    op_t op;           /* T_OP: which */
    char *err;         /* error buffer */
    size_t err_cap;    /* its capacity */
    int failed;        /* an error was recorded */
    int depth;         /* parenthesis nesting */
    cssim_filter_t *f; /* filter being built */
} parser_t;

static void
fail (parser_t *ps, const char *what)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    size_t pos = (size_t)(ps->start - ps->text);
    char near[48];
    size_t n = strnlen (ps->start, 40);
    memcpy (near, ps->start, n);
    near[n] = '\0';
    snprintf (ps->err, ps->err_cap, "Invalid filter: %s at position %zu near '%s'.", what, pos + 1,
              near);
}

static void
next (parser_t *ps)
{
    const char *p = ps->p;
    while (*p && isspace ((unsigned char)*p))
        p++;
    ps->start = p;
    if (!*p) {
        ps->kind = T_END;
        ps->len = 0;
        ps->p = p;
        return;
    }
    if ((*p == 'N' || *p == 'n') && p[1] == '\'')
        p++; /* N'unicode text' */
    if (*p == '\'') {
        const char *q = p + 1;
        for (;;) {
            if (!*q) {
                fail (ps, "unterminated string literal");
                ps->kind = T_END;
                return;
            }
            if (*q == '\'') {
                if (q[1] == '\'') {
                    q += 2;
                    continue;
                }
                break;
            }
            q++;
        }
        ps->kind = T_STRING;
        ps->start = p; /* at the opening quote */
        ps->len = (size_t)(q + 1 - p);
        ps->p = q + 1;
        return;
    }
    if (isdigit ((unsigned char)*p) ||
        ((*p == '-' || *p == '.') && isdigit ((unsigned char)p[1]))) {
        const char *q = p + 1;
        while (isdigit ((unsigned char)*q) || *q == '.')
            q++;
        ps->kind = T_NUMBER;
        ps->len = (size_t)(q - p);
        ps->p = q;
        return;
    }
    if (isalpha ((unsigned char)*p) || *p == '_' || *p == '[') {
        int bracket = *p == '[';
        const char *q = p + bracket;
        ps->start = q;
        while (isalnum ((unsigned char)*q) || *q == '_')
            q++;
        ps->kind = T_IDENT;
        ps->len = (size_t)(q - ps->start);
        if (bracket) {
            if (*q != ']' || ps->len == 0) {
                fail (ps, "bad bracketed name");
                ps->kind = T_END;
                return;
            }
            q++;
        }
        ps->p = q;
        return;
    }
    ps->p = p + 1;
    ps->len = 1;
    switch (*p) {
    case '(':
        ps->kind = T_LP;
        return;
    case ')':
        ps->kind = T_RP;
        return;
    case ',':
        ps->kind = T_COMMA;
        return;
    case '=':
        ps->kind = T_OP;
        ps->op = OP_EQ;
        return;
    case '!':
        if (p[1] == '=') {
            ps->kind = T_OP;
            ps->op = OP_NE;
            ps->p = p + 2;
            ps->len = 2;
            return;
        }
        break;
    case '<':
        ps->kind = T_OP;
        ps->op = OP_LT;
        if (p[1] == '=' || p[1] == '>') {
            ps->op = p[1] == '=' ? OP_LE : OP_NE;
            ps->p = p + 2;
            ps->len = 2;
        }
        return;
    case '>':
        ps->kind = T_OP;
        ps->op = OP_GT;
        if (p[1] == '=') {
            ps->op = OP_GE;
            ps->p = p + 2;
            ps->len = 2;
        }
        return;
    default:
        break;
    }
    fail (ps, "unexpected character");
    ps->kind = T_END;
}

static int
is_kw (const parser_t *ps, const char *kw)
{
    return ps->kind == T_IDENT && strlen (kw) == ps->len &&
           strncasecmp (ps->start, kw, ps->len) == 0;
}

static int
new_node (parser_t *ps, node_kind_t kind)
{
    cssim_filter_t *f = ps->f;
    if (f->nnodes >= CSSIM_FILTER_MAX_NODES) {
        fail (ps, "too many conditions");
        return -1;
    }
    node_t *n = &f->nodes[f->nnodes];
    memset (n, 0, sizeof *n);
    n->kind = kind;
    return f->nnodes++;
}

/*  Reads the current literal token for property `prop`, normalized to its type; appends it
    to the literal pool. Returns its index or -1. */
static int
literal (parser_t *ps, int prop)
{
    cssim_filter_t *f = ps->f;
    cssim_type_t type = f->ido->props[prop].type;
    if (ps->kind != T_STRING && ps->kind != T_NUMBER) {
        fail (ps, "expected a literal value");
        return -1;
    }
    if (f->nlits >= CSSIM_FILTER_MAX_NODES) {
        fail (ps, "too many values");
        return -1;
    }
    char *text;
    if (ps->kind == T_STRING) {
        /* Strip the quotes and undo '' escapes. */
        text = malloc (ps->len);
        if (!text) {
            fail (ps, "out of memory");
            return -1;
        }
        size_t at = 0;
        for (size_t i = 1; i + 1 < ps->len; i++) {
            text[at++] = ps->start[i];
            if (ps->start[i] == '\'')
                i++;
        }
        text[at] = '\0';
    } else {
        text = strndup (ps->start, ps->len);
        if (!text) {
            fail (ps, "out of memory");
            return -1;
        }
    }
    if (type == CSSIM_DATE) {
        char norm[CSSIM_DATETIME_LEN + 1];
        if (ps->kind != T_STRING || cssim_datetime_norm (text, norm)) {
            free (text);
            fail (ps, "conversion failed when converting date and/or time from character string");
            return -1;
        }
        free (text);
        text = strdup (norm);
        if (!text) {
            fail (ps, "out of memory");
            return -1;
        }
    } else if (type == CSSIM_INT || type == CSSIM_DEC) {
        char *end;
        const char *s = text;
        while (*s == ' ')
            s++;
        strtod (s, &end);
        while (*end == ' ')
            end++;
        if (end == s || *end) {
            free (text);
            fail (ps, "conversion failed when converting a value to a number");
            return -1;
        }
    }
    f->lits[f->nlits] = text;
    return f->nlits++;
}

static int parse_expr (parser_t *ps);

static int
parse_condition (parser_t *ps)
{
    if (ps->kind != T_IDENT) {
        fail (ps, "expected a property name");
        return -1;
    }
    const char *after = ps->p;
    while (isspace ((unsigned char)*after))
        after++;
    if (*after == '(') {
        fail (ps, "SQL functions are not supported in this filter");
        return -1;
    }
    int prop = cssim_ido_prop (ps->f->ido, ps->start, ps->len);
    if (prop < 0) {
        if (!ps->failed) {
            ps->failed = 1;
            snprintf (ps->err, ps->err_cap, "Invalid column name '%.*s'.",
                      (int)(ps->len > 64 ? 64 : ps->len), ps->start);
        }
        return -1;
    }
    next (ps);
    int negate = 0;
    int id;
    if (is_kw (ps, "IS")) {
        next (ps);
        if (is_kw (ps, "NOT")) {
            negate = 1;
            next (ps);
        }
        if (!is_kw (ps, "NULL")) {
            fail (ps, "expected NULL");
            return -1;
        }
        next (ps);
        id = new_node (ps, N_NULL);
        if (id < 0)
            return -1;
        ps->f->nodes[id].prop = prop;
    } else {
        if (is_kw (ps, "NOT")) {
            negate = 1;
            next (ps);
        }
        if (ps->kind == T_OP && !negate) {
            op_t op = ps->op;
            next (ps);
            int lit = literal (ps, prop);
            if (lit < 0)
                return -1;
            next (ps);
            id = new_node (ps, N_CMP);
            if (id < 0)
                return -1;
            ps->f->nodes[id].op = op;
            ps->f->nodes[id].lit = lit;
        } else if (is_kw (ps, "LIKE")) {
            next (ps);
            if (ps->kind != T_STRING) {
                fail (ps, "expected a pattern string after LIKE");
                return -1;
            }
            int lit = literal (ps, prop);
            if (lit < 0)
                return -1;
            next (ps);
            id = new_node (ps, N_LIKE);
            if (id < 0)
                return -1;
            ps->f->nodes[id].lit = lit;
        } else if (is_kw (ps, "IN")) {
            next (ps);
            if (ps->kind != T_LP) {
                fail (ps, "expected '(' after IN");
                return -1;
            }
            next (ps);
            int first = -1, count = 0;
            for (;;) {
                int lit = literal (ps, prop);
                if (lit < 0)
                    return -1;
                if (first < 0)
                    first = lit;
                count++;
                next (ps);
                if (ps->kind == T_COMMA) {
                    next (ps);
                    continue;
                }
                if (ps->kind != T_RP) {
                    fail (ps, "expected ',' or ')' in IN list");
                    return -1;
                }
                next (ps);
                break;
            }
            id = new_node (ps, N_IN);
            if (id < 0)
                return -1;
            ps->f->nodes[id].lit = first;
            ps->f->nodes[id].nlit = count;
        } else if (is_kw (ps, "BETWEEN")) {
            next (ps);
            int lo = literal (ps, prop);
            if (lo < 0)
                return -1;
            next (ps);
            if (!is_kw (ps, "AND")) {
                fail (ps, "expected AND in BETWEEN");
                return -1;
            }
            next (ps);
            int hi = literal (ps, prop);
            if (hi < 0)
                return -1;
            next (ps);
            id = new_node (ps, N_BETWEEN);
            if (id < 0)
                return -1;
            ps->f->nodes[id].lit = lo; /* hi == lo + 1 */
            (void)hi;
        } else {
            fail (ps, "expected a comparison operator");
            return -1;
        }
        ps->f->nodes[id].prop = prop;
    }
    if (negate) {
        int n = new_node (ps, N_NOT);
        if (n < 0)
            return -1;
        ps->f->nodes[n].a = id;
        id = n;
    }
    return id;
}

static int
parse_factor (parser_t *ps)
{
    if (ps->failed)
        return -1;
    if (is_kw (ps, "NOT")) {
        next (ps);
        int a = parse_factor (ps);
        if (a < 0)
            return -1;
        int id = new_node (ps, N_NOT);
        if (id >= 0)
            ps->f->nodes[id].a = a;
        return id;
    }
    if (ps->kind == T_LP) {
        if (++ps->depth > 32) {
            fail (ps, "nested too deeply");
            return -1;
        }
        next (ps);
        int id = parse_expr (ps);
        if (id < 0)
            return -1;
        if (ps->kind != T_RP) {
            fail (ps, "expected ')'");
            return -1;
        }
        ps->depth--;
        next (ps);
        return id;
    }
    return parse_condition (ps);
}

static int
parse_term (parser_t *ps)
{
    int left = parse_factor (ps);
    while (left >= 0 && is_kw (ps, "AND")) {
        next (ps);
        int right = parse_factor (ps);
        if (right < 0)
            return -1;
        int id = new_node (ps, N_AND);
        if (id < 0)
            return -1;
        ps->f->nodes[id].a = left;
        ps->f->nodes[id].b = right;
        left = id;
    }
    return left;
}

static int
parse_expr (parser_t *ps)
{
    int left = parse_term (ps);
    while (left >= 0 && is_kw (ps, "OR")) {
        next (ps);
        int right = parse_term (ps);
        if (right < 0)
            return -1;
        int id = new_node (ps, N_OR);
        if (id < 0)
            return -1;
        ps->f->nodes[id].a = left;
        ps->f->nodes[id].b = right;
        left = id;
    }
    return left;
}

cssim_filter_t *
cssim_filter_new (const cssim_ido_t *ido, const char *text, char *err, size_t err_cap)
{
    if (text && strlen (text) > CSSIM_FILTER_MAX_LEN) {
        snprintf (err, err_cap, "Invalid filter: longer than %d characters.", CSSIM_FILTER_MAX_LEN);
        return NULL;
    }
    cssim_filter_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->ido = ido;
    parser_t ps = {.text = text ? text : "", .err = err, .err_cap = err_cap, .f = self};
    ps.p = ps.text;
    next (&ps);
    if (ps.kind == T_END && !ps.failed) {
        self->root = new_node (&ps, N_TRUE);
        return self;
    }
    self->root = parse_expr (&ps);
    if (!ps.failed && ps.kind != T_END)
        fail (&ps, "unexpected text after the condition");
    if (ps.failed || self->root < 0) {
        if (!ps.failed)
            snprintf (err, err_cap, "Invalid filter.");
        cssim_filter_destroy (&self);
        return NULL;
    }
    return self;
}

void
cssim_filter_destroy (cssim_filter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cssim_filter_t *self = *self_p;
    for (int i = 0; i < self->nlits; i++)
        free (self->lits[i]);
    free (self);
    *self_p = NULL;
}

int
cssim_filter_is_empty (const cssim_filter_t *self)
{
    return self->nodes[self->root].kind == N_TRUE;
}

/*  SQL LIKE, case-insensitive: % any run, _ one character. */
static int
like (const char *s, const char *pat)
{
    while (*pat) {
        if (*pat == '%') {
            while (*pat == '%')
                pat++;
            if (!*pat)
                return 1;
            for (; *s; s++)
                if (like (s, pat))
                    return 1;
            return 0;
        }
        if (!*s)
            return 0;
        if (*pat != '_' && tolower ((unsigned char)*pat) != tolower ((unsigned char)*s))
            return 0;
        pat++;
        s++;
    }
    return *s == '\0';
}

enum { F_FALSE = 0, F_TRUE = 1, F_UNKNOWN = 2 };

static int
eval (const cssim_filter_t *f, int id, const cssim_row_t *row)
{
    const node_t *n = &f->nodes[id];
    switch (n->kind) {
    case N_TRUE:
        return F_TRUE;
    case N_AND: {
        int a = eval (f, n->a, row);
        if (a == F_FALSE)
            return F_FALSE;
        int b = eval (f, n->b, row);
        if (b == F_FALSE)
            return F_FALSE;
        return a == F_TRUE && b == F_TRUE ? F_TRUE : F_UNKNOWN;
    }
    case N_OR: {
        int a = eval (f, n->a, row);
        if (a == F_TRUE)
            return F_TRUE;
        int b = eval (f, n->b, row);
        if (b == F_TRUE)
            return F_TRUE;
        return a == F_FALSE && b == F_FALSE ? F_FALSE : F_UNKNOWN;
    }
    case N_NOT: {
        int a = eval (f, n->a, row);
        return a == F_UNKNOWN ? F_UNKNOWN : !a;
    }
    case N_NULL:
        return *cssim_row_value (row, n->prop) ? F_FALSE : F_TRUE;
    default:
        break;
    }
    const char *v = cssim_row_value (row, n->prop);
    if (!*v)
        return F_UNKNOWN;
    cssim_type_t type = f->ido->props[n->prop].type;
    switch (n->kind) {
    case N_CMP: {
        int c = cssim_value_cmp (type, v, f->lits[n->lit]);
        switch (n->op) {
        case OP_EQ:
            return c == 0;
        case OP_NE:
            return c != 0;
        case OP_LT:
            return c < 0;
        case OP_LE:
            return c <= 0;
        case OP_GT:
            return c > 0;
        case OP_GE:
            return c >= 0;
        }
        return F_FALSE;
    }
    case N_LIKE:
        return like (v, f->lits[n->lit]);
    case N_IN:
        for (int i = 0; i < n->nlit; i++)
            if (cssim_value_cmp (type, v, f->lits[n->lit + i]) == 0)
                return F_TRUE;
        return F_FALSE;
    case N_BETWEEN:
        return cssim_value_cmp (type, v, f->lits[n->lit]) >= 0 &&
               cssim_value_cmp (type, v, f->lits[n->lit + 1]) <= 0;
    default:
        return F_FALSE;
    }
}

int
cssim_filter_match (const cssim_filter_t *self, const cssim_row_t *row)
{
    return eval (self, self->root, row) == F_TRUE;
}
