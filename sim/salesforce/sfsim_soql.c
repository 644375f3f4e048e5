/*  sfsim_soql: a small SOQL parser and evaluator. See sfsim_soql.h. */
#include "sfsim_soql.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ITEMS 200 /* fields, conditions, IN values, order keys */

typedef enum { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_LIKE, OP_IN } op_t;

typedef enum { LIT_STRING, LIT_NUMBER, LIT_BOOL, LIT_NULL } lit_kind_t;

typedef struct {
    lit_kind_t kind; /* literal kind */
    char *text;      /* string form (strings, numbers, dates) */
    double number;   /* numeric value (numbers) */
    int boolean;     /* value (booleans) */
} literal_t;

typedef struct {
    char *field;       /* field name as written */
    op_t op;           /* operator */
    literal_t *values; /* one literal, or the IN list */
    int value_count;   /* their number */
} cond_t;

typedef struct {
    char *field;    /* field name as written */
    int desc;       /* descending */
    int nulls_last; /* nulls sort after values */
} order_t;

struct sfsim_soql_t {
    int count_only;  /* SELECT COUNT() */
    char **fields;   /* selected fields */
    int field_count; /* their number */
    char *object;    /* FROM */
    cond_t *conds;   /* WHERE conditions, ANDed */
    int cond_count;  /* their number */
    order_t *orders; /* ORDER BY keys */
    int order_count; /* their number */
    long limit;      /* LIMIT, -1 when none */
    long offset;     /* OFFSET, 0 when none */
};

/* ---------------------------------------------------------------------------------------- */
/* Tokens */

typedef enum { TK_END, TK_IDENT, TK_STRING, TK_NUMBER, TK_PUNCT } tk_kind_t;

typedef struct {
    const char *src; /* query text */
    size_t pos;      /* next byte */
    tk_kind_t kind;  /* current token kind */
    char text[1024]; /* current token text (strings unescaped) */
    int bad;         /* a lexical error happened */
} lexer_t;

static void
s_next (lexer_t *lx)
{
    const char *s = lx->src;
    while (isspace ((unsigned char)s[lx->pos]))
        lx->pos++;
    char c = s[lx->pos];
    size_t n = 0;
    lx->text[0] = '\0';
    if (!c) {
        lx->kind = TK_END;
        return;
    }
    if (isalpha ((unsigned char)c) || c == '_') {
        while (isalnum ((unsigned char)s[lx->pos]) || s[lx->pos] == '_' || s[lx->pos] == '.') {
            if (n + 1 < sizeof lx->text)
                lx->text[n++] = s[lx->pos];
            lx->pos++;
        }
        lx->text[n] = '\0';
        lx->kind = TK_IDENT;
        return;
    }
    if (isdigit ((unsigned char)c) ||
        ((c == '-' || c == '+' || c == '.') && isdigit ((unsigned char)s[lx->pos + 1]))) {
        /* Numbers and unquoted date / datetime literals. */
        while (isalnum ((unsigned char)s[lx->pos]) || strchr ("-+.:", s[lx->pos])) {
            if (!s[lx->pos])
                break;
            if (n + 1 < sizeof lx->text)
                lx->text[n++] = s[lx->pos];
            lx->pos++;
        }
        lx->text[n] = '\0';
        lx->kind = TK_NUMBER;
        return;
    }
    if (c == '\'') {
        lx->pos++;
        while (s[lx->pos] && s[lx->pos] != '\'') {
            char ch = s[lx->pos];
            if (ch == '\\' && s[lx->pos + 1]) {
                lx->pos++;
                ch = s[lx->pos];
                if (ch == 'n')
                    ch = '\n';
                else if (ch == 't')
                    ch = '\t';
            }
            if (n + 1 < sizeof lx->text)
                lx->text[n++] = ch;
            lx->pos++;
        }
        if (s[lx->pos] != '\'') {
            lx->bad = 1;
            lx->kind = TK_END;
            return;
        }
        lx->pos++;
        lx->text[n] = '\0';
        lx->kind = TK_STRING;
        return;
    }
    static const char *puncts[] = {"!=", "<>", "<=", ">=", "=", "<", ">", ",", "(", ")", NULL};
    for (const char **p = puncts; *p; p++) {
        size_t len = strlen (*p);
        if (strncmp (s + lx->pos, *p, len) == 0) {
            memcpy (lx->text, *p, len + 1);
            lx->pos += len;
            lx->kind = TK_PUNCT;
            return;
        }
    }
    lx->text[0] = c;
    lx->text[1] = '\0';
    lx->kind = TK_PUNCT;
    lx->bad = 1;
}

static int
s_is_kw (const lexer_t *lx, const char *kw)
{
    return lx->kind == TK_IDENT && strcasecmp (lx->text, kw) == 0;
}

static int
s_is_punct (const lexer_t *lx, const char *p)
{
    return lx->kind == TK_PUNCT && strcmp (lx->text, p) == 0;
}

static void
s_malformed (sfsim_error_t *err, const lexer_t *lx, const char *expected)
{
    if (lx->kind == TK_END)
        sfsim_error_set (err, "MALFORMED_QUERY", NULL, "unexpected end of query: expected %s",
                         expected);
    else
        sfsim_error_set (err, "MALFORMED_QUERY", NULL, "unexpected token: '%s'", lx->text);
}

/* ---------------------------------------------------------------------------------------- */

void
sfsim_soql_destroy (sfsim_soql_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_soql_t *self = *self_p;
    for (int i = 0; i < self->field_count; i++)
        free (self->fields[i]);
    free (self->fields);
    free (self->object);
    for (int i = 0; i < self->cond_count; i++) {
        free (self->conds[i].field);
        for (int j = 0; j < self->conds[i].value_count; j++)
            free (self->conds[i].values[j].text);
        free (self->conds[i].values);
    }
    free (self->conds);
    for (int i = 0; i < self->order_count; i++)
        free (self->orders[i].field);
    free (self->orders);
    free (self);
    *self_p = NULL;
}

static int
s_literal (lexer_t *lx, literal_t *lit, sfsim_error_t *err)
{
    memset (lit, 0, sizeof *lit);
    if (lx->kind == TK_STRING) {
        lit->kind = LIT_STRING;
    } else if (lx->kind == TK_NUMBER) {
        char *end;
        lit->number = strtod (lx->text, &end);
        lit->kind = *end ? LIT_STRING : LIT_NUMBER; /* dates compare as text */
    } else if (s_is_kw (lx, "null")) {
        lit->kind = LIT_NULL;
    } else if (s_is_kw (lx, "true") || s_is_kw (lx, "false")) {
        lit->kind = LIT_BOOL;
        lit->boolean = s_is_kw (lx, "true");
    } else {
        s_malformed (err, lx, "a value");
        return -1;
    }
    lit->text = strdup (lx->text);
    if (!lit->text) {
        sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
        return -1;
    }
    s_next (lx);
    return 0;
}

static int
s_condition (lexer_t *lx, cond_t *c, sfsim_error_t *err)
{
    if (lx->kind != TK_IDENT) {
        s_malformed (err, lx, "a field name");
        return -1;
    }
    c->field = strdup (lx->text);
    c->values = calloc (MAX_ITEMS, sizeof (literal_t));
    if (!c->field || !c->values) {
        sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
        return -1;
    }
    s_next (lx);
    static const struct {
        const char *text;
        op_t op;
    } ops[] = {{"=", OP_EQ}, {"!=", OP_NE}, {"<>", OP_NE}, {"<", OP_LT},
               {">", OP_GT}, {"<=", OP_LE}, {">=", OP_GE}};
    int found = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (s_is_punct (lx, ops[i].text)) {
            c->op = ops[i].op;
            found = 1;
        }
    if (s_is_kw (lx, "LIKE")) {
        c->op = OP_LIKE;
        found = 1;
    } else if (s_is_kw (lx, "IN")) {
        c->op = OP_IN;
        found = 1;
    }
    if (!found) {
        s_malformed (err, lx, "an operator");
        return -1;
    }
    s_next (lx);
    if (c->op != OP_IN) {
        if (s_literal (lx, &c->values[0], err))
            return -1;
        c->value_count = 1;
        if (c->op == OP_LIKE && c->values[0].kind != LIT_STRING) {
            sfsim_error_set (err, "MALFORMED_QUERY", NULL, "LIKE needs a quoted string");
            return -1;
        }
        return 0;
    }
    if (!s_is_punct (lx, "(")) {
        s_malformed (err, lx, "'('");
        return -1;
    }
    s_next (lx);
    while (1) {
        if (c->value_count >= MAX_ITEMS) {
            sfsim_error_set (err, "MALFORMED_QUERY", NULL, "too many values in IN (max %d)",
                             MAX_ITEMS);
            return -1;
        }
        if (s_literal (lx, &c->values[c->value_count], err))
            return -1;
        c->value_count++;
        if (s_is_punct (lx, ")"))
            break;
        if (!s_is_punct (lx, ",")) {
            s_malformed (err, lx, "',' or ')'");
            return -1;
        }
        s_next (lx);
    }
    s_next (lx);
    return 0;
}

static int
s_count (lexer_t *lx, long *out, sfsim_error_t *err, const char *what)
{
    char *end;
    long v = lx->kind == TK_NUMBER ? strtol (lx->text, &end, 10) : -1;
    if (lx->kind != TK_NUMBER || *end || v < 0 || v > 2000000000) {
        sfsim_error_set (err, "MALFORMED_QUERY", NULL, "%s needs a non-negative integer", what);
        return -1;
    }
    *out = v;
    s_next (lx);
    return 0;
}

sfsim_soql_t *
sfsim_soql_parse (const char *text, sfsim_error_t *err)
{
    if (strlen (text) > SFSIM_SOQL_MAX_LEN) {
        sfsim_error_set (err, "MALFORMED_QUERY", NULL, "query is longer than %d characters",
                         SFSIM_SOQL_MAX_LEN);
        return NULL;
    }
    sfsim_soql_t *self = calloc (1, sizeof *self);
    lexer_t lx = {.src = text};
    if (!self)
        goto oom;
    self->limit = -1;
    self->fields = calloc (MAX_ITEMS, sizeof (char *));
    self->conds = calloc (MAX_ITEMS, sizeof (cond_t));
    self->orders = calloc (MAX_ITEMS, sizeof (order_t));
    if (!self->fields || !self->conds || !self->orders)
        goto oom;
    s_next (&lx);
    if (!s_is_kw (&lx, "SELECT")) {
        s_malformed (err, &lx, "SELECT");
        goto fail;
    }
    s_next (&lx);
    if (s_is_kw (&lx, "COUNT")) {
        s_next (&lx);
        if (!s_is_punct (&lx, "(")) {
            s_malformed (err, &lx, "'('");
            goto fail;
        }
        s_next (&lx);
        if (!s_is_punct (&lx, ")")) {
            sfsim_error_set (err, "MALFORMED_QUERY", NULL,
                             "only COUNT() without a field is supported");
            goto fail;
        }
        s_next (&lx);
        self->count_only = 1;
    } else {
        while (1) {
            if (lx.kind != TK_IDENT || s_is_kw (&lx, "FROM")) {
                s_malformed (err, &lx, "a field name");
                goto fail;
            }
            if (self->field_count >= MAX_ITEMS) {
                sfsim_error_set (err, "MALFORMED_QUERY", NULL, "too many fields (max %d)",
                                 MAX_ITEMS);
                goto fail;
            }
            if (!(self->fields[self->field_count++] = strdup (lx.text)))
                goto oom;
            s_next (&lx);
            if (!s_is_punct (&lx, ","))
                break;
            s_next (&lx);
        }
    }
    if (!s_is_kw (&lx, "FROM")) {
        s_malformed (err, &lx, "FROM");
        goto fail;
    }
    s_next (&lx);
    if (lx.kind != TK_IDENT || strchr (lx.text, '.')) {
        s_malformed (err, &lx, "an object name");
        goto fail;
    }
    if (!(self->object = strdup (lx.text)))
        goto oom;
    s_next (&lx);
    if (s_is_kw (&lx, "WHERE")) {
        s_next (&lx);
        while (1) {
            if (self->cond_count >= MAX_ITEMS) {
                sfsim_error_set (err, "MALFORMED_QUERY", NULL, "too many conditions");
                goto fail;
            }
            if (s_condition (&lx, &self->conds[self->cond_count++], err))
                goto fail;
            if (s_is_kw (&lx, "OR")) {
                sfsim_error_set (err, "MALFORMED_QUERY", NULL,
                                 "OR is not supported by this simulator");
                goto fail;
            }
            if (!s_is_kw (&lx, "AND"))
                break;
            s_next (&lx);
        }
    }
    if (s_is_kw (&lx, "ORDER")) {
        s_next (&lx);
        if (!s_is_kw (&lx, "BY")) {
            s_malformed (err, &lx, "BY");
            goto fail;
        }
        s_next (&lx);
        while (1) {
            if (lx.kind != TK_IDENT || self->order_count >= MAX_ITEMS) {
                s_malformed (err, &lx, "a field name");
                goto fail;
            }
            order_t *o = &self->orders[self->order_count++];
            if (!(o->field = strdup (lx.text)))
                goto oom;
            s_next (&lx);
            if (s_is_kw (&lx, "ASC") || s_is_kw (&lx, "DESC")) {
                o->desc = s_is_kw (&lx, "DESC");
                s_next (&lx);
            }
            o->nulls_last = o->desc;
            if (s_is_kw (&lx, "NULLS")) {
                s_next (&lx);
                if (!s_is_kw (&lx, "FIRST") && !s_is_kw (&lx, "LAST")) {
                    s_malformed (err, &lx, "FIRST or LAST");
                    goto fail;
                }
                o->nulls_last = s_is_kw (&lx, "LAST");
                s_next (&lx);
            }
            if (!s_is_punct (&lx, ","))
                break;
            s_next (&lx);
        }
    }
    if (s_is_kw (&lx, "LIMIT")) {
        s_next (&lx);
        if (s_count (&lx, &self->limit, err, "LIMIT"))
            goto fail;
    }
    if (s_is_kw (&lx, "OFFSET")) {
        s_next (&lx);
        if (s_count (&lx, &self->offset, err, "OFFSET"))
            goto fail;
    }
    if (lx.bad) {
        sfsim_error_set (err, "MALFORMED_QUERY", NULL,
                         "unexpected character or unterminated string");
        goto fail;
    }
    if (lx.kind != TK_END) {
        s_malformed (err, &lx, "the end of the query");
        goto fail;
    }
    return self;
oom:
    sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
fail:
    sfsim_soql_destroy (&self);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Evaluation */

static int
s_like (const char *s, const char *p)
{
    while (*p) {
        if (*p == '%') {
            while (*p == '%')
                p++;
            if (!*p)
                return 1;
            for (; *s; s++)
                if (s_like (s, p))
                    return 1;
            return 0;
        }
        if (!*s)
            return 0;
        if (*p != '_' && tolower ((unsigned char)*p) != tolower ((unsigned char)*s))
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

/* Compares a stored value with a literal: <0, 0, >0; 2 when not comparable. */
static int
s_compare (const cJSON *v, const literal_t *lit)
{
    if (cJSON_IsNumber (v) && lit->kind == LIT_NUMBER)
        return v->valuedouble < lit->number ? -1 : v->valuedouble > lit->number ? 1 : 0;
    if (cJSON_IsBool (v) && lit->kind == LIT_BOOL)
        return cJSON_IsTrue (v) == lit->boolean ? 0 : 2;
    if (cJSON_IsString (v) && (lit->kind == LIT_STRING || lit->kind == LIT_NUMBER)) {
        int c = strcasecmp (v->valuestring, lit->text);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (cJSON_IsNumber (v) && lit->kind == LIT_STRING) {
        char *end;
        double d = strtod (lit->text, &end);
        if (*end)
            return 2;
        return v->valuedouble < d ? -1 : v->valuedouble > d ? 1 : 0;
    }
    return 2;
}

static int
s_match (const cond_t *c, const cJSON *fields, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (fields, name);
    int is_null = !v || cJSON_IsNull (v);
    if (c->op == OP_IN) {
        for (int i = 0; i < c->value_count; i++) {
            if (c->values[i].kind == LIT_NULL ? is_null
                                              : (!is_null && s_compare (v, &c->values[i]) == 0))
                return 1;
        }
        return 0;
    }
    const literal_t *lit = &c->values[0];
    if (lit->kind == LIT_NULL) {
        if (c->op == OP_EQ)
            return is_null;
        if (c->op == OP_NE)
            return !is_null;
        return 0;
    }
    if (is_null)
        return c->op == OP_NE;
    if (c->op == OP_LIKE)
        return cJSON_IsString (v) && s_like (v->valuestring, lit->text);
    int cmp = s_compare (v, lit);
    switch (c->op) {
    case OP_EQ:
        return cmp == 0;
    case OP_NE:
        return cmp != 0;
    case OP_LT:
        return cmp == -1;
    case OP_GT:
        return cmp == 1;
    case OP_LE:
        return cmp == -1 || cmp == 0;
    case OP_GE:
        return cmp == 1 || cmp == 0;
    default:
        return 0;
    }
}

typedef struct {
    const sfsim_soql_t *q;    /* the query */
    const char **order_names; /* canonical order field names */
} sort_ctx_t;

static int
s_value_cmp (const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber (a) && cJSON_IsNumber (b))
        return a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
    if (cJSON_IsString (a) && cJSON_IsString (b))
        return strcasecmp (a->valuestring, b->valuestring);
    if (cJSON_IsBool (a) && cJSON_IsBool (b))
        return cJSON_IsTrue (a) - cJSON_IsTrue (b);
    return 0;
}

static int
s_sort (const void *pa, const void *pb, void *arg)
{
    const sort_ctx_t *ctx = arg;
    const sfsim_record_t *a = *(const sfsim_record_t *const *)pa;
    const sfsim_record_t *b = *(const sfsim_record_t *const *)pb;
    for (int i = 0; i < ctx->q->order_count; i++) {
        const order_t *o = &ctx->q->orders[i];
        const cJSON *va = cJSON_GetObjectItemCaseSensitive (a->fields, ctx->order_names[i]);
        const cJSON *vb = cJSON_GetObjectItemCaseSensitive (b->fields, ctx->order_names[i]);
        int na = !va || cJSON_IsNull (va), nb = !vb || cJSON_IsNull (vb);
        int c;
        if (na || nb)
            c = na == nb ? 0 : (na ? -1 : 1) * (o->nulls_last ? -1 : 1);
        else
            c = s_value_cmp (va, vb) * (o->desc ? -1 : 1);
        if (c)
            return c;
    }
    return a->index < b->index ? -1 : a->index > b->index;
}

static const sfsim_field_t *
s_field (const sfsim_object_t *obj, const char *name, sfsim_error_t *err)
{
    const sfsim_field_t *f = sfsim_object_field (obj, name);
    if (!f)
        sfsim_error_set (err, "INVALID_FIELD", NULL,
                         "No such column '%s' on entity '%s'. If you are attempting to use a "
                         "custom field, be sure to append the '__c' after the custom field name. "
                         "Please reference your WSDL or the describe call for the appropriate "
                         "names.",
                         name, obj->name);
    return f;
}

cJSON *
sfsim_soql_run (const sfsim_soql_t *self, const sfsim_store_t *store, const char *version,
                sfsim_error_t *err)
{
    const sfsim_object_t *obj = sfsim_schema_object (sfsim_store_schema (store), self->object);
    if (!obj) {
        sfsim_error_set (err, "INVALID_TYPE", NULL,
                         "sObject type '%s' is not supported. If you are attempting to use a "
                         "custom object, be sure to append the '__c' after the entity name. "
                         "Please reference your WSDL or the describe call for the appropriate "
                         "names.",
                         self->object);
        return NULL;
    }
    const char *select[MAX_ITEMS];
    const char *where[MAX_ITEMS];
    const char *order[MAX_ITEMS];
    const sfsim_field_t *f;
    for (int i = 0; i < self->field_count; i++) {
        if (!(f = s_field (obj, self->fields[i], err)))
            return NULL;
        select[i] = f->name;
    }
    for (int i = 0; i < self->cond_count; i++) {
        if (!(f = s_field (obj, self->conds[i].field, err)))
            return NULL;
        where[i] = f->name;
    }
    for (int i = 0; i < self->order_count; i++) {
        if (!(f = s_field (obj, self->orders[i].field, err)))
            return NULL;
        order[i] = f->name;
    }
    sfsim_record_t *const *records;
    size_t n = sfsim_store_records (store, obj->name, &records);
    const sfsim_record_t **hits = malloc ((n ? n : 1) * sizeof *hits);
    if (!hits) {
        sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
        return NULL;
    }
    size_t count = 0;
    for (size_t r = 0; r < n; r++) {
        int ok = 1;
        for (int i = 0; ok && i < self->cond_count; i++)
            ok = s_match (&self->conds[i], records[r]->fields, where[i]);
        if (ok)
            hits[count++] = records[r];
    }
    if (self->order_count > 0) {
        sort_ctx_t ctx = {.q = self, .order_names = order};
        qsort_r (hits, count, sizeof *hits, s_sort, &ctx);
    }
    size_t first = (size_t)self->offset < count ? (size_t)self->offset : count;
    size_t last = count;
    if (self->limit >= 0 && first + (size_t)self->limit < last)
        last = first + (size_t)self->limit;
    cJSON *resp = cJSON_CreateObject ();
    cJSON_AddNumberToObject (resp, "totalSize", (double)(last - first));
    cJSON_AddBoolToObject (resp, "done", 1);
    cJSON *arr = cJSON_AddArrayToObject (resp, "records");
    for (size_t i = first; !self->count_only && i < last; i++) {
        char url[256];
        cJSON *rec = cJSON_CreateObject ();
        cJSON *attrs = cJSON_AddObjectToObject (rec, "attributes");
        cJSON_AddStringToObject (attrs, "type", obj->name);
        snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s/%s", version, obj->name,
                  hits[i]->id);
        cJSON_AddStringToObject (attrs, "url", url);
        for (int k = 0; k < self->field_count; k++) {
            if (cJSON_GetObjectItemCaseSensitive (rec, select[k]))
                continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive (hits[i]->fields, select[k]);
            cJSON_AddItemToObject (rec, select[k],
                                   v ? cJSON_Duplicate (v, 1) : cJSON_CreateNull ());
        }
        cJSON_AddItemToArray (arr, rec);
    }
    free (hits);
    return resp;
}
