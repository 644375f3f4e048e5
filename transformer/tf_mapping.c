/*  tf_mapping: load and validate the declarative mapping file. See tf_mapping.h and
    docs/mapping.md for the language. Validation is complete and strict: an unknown key, a
    wrong type, an unknown transform, a bad template placeholder or a missing sObject is an
    error naming the entity, route and field, so a mapping that loads is one tf_transform
    can apply without further checks. */
#include "tf_mapping.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tf_mapping_t {
    tf_entity_t *entities; /* in file order */
    size_t entity_count;   /* number of entities */
    bool uses_union;       /* some field merges by union */
};

/*  Where we are, for error messages. */
typedef struct {
    const char *origin; /* file name */
    const char *entity; /* entity name or NULL */
    const char *route;  /* route name or NULL */
    const char *field;  /* target field or NULL */
    char *err;          /* message buffer */
    size_t err_cap;     /* its capacity */
} ctx_t;

static int fail (ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
fail (ctx_t *ctx, const char *fmt, ...)
{
    if (!ctx->err || ctx->err_cap == 0)
        return -1;
    char where[512] = "";
    size_t n = 0;
    if (ctx->entity)
        n += (size_t)snprintf (where + n, sizeof where - n, ", entity '%s'", ctx->entity);
    if (ctx->route && *ctx->route && n < sizeof where)
        n += (size_t)snprintf (where + n, sizeof where - n, ", route '%s'", ctx->route);
    if (ctx->field && n < sizeof where)
        snprintf (where + n, sizeof where - n, ", field '%s'", ctx->field);
    char msg[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    /*  ", entity 'x'" -> "origin: entity 'x': msg" */
    snprintf (ctx->err, ctx->err_cap, "%s%s%s: %s", ctx->origin, where[0] ? ":" : "",
              where[0] ? where + 1 : "", msg);
    return -1;
}

//  --------------------------------------------------------------------------
//  Freeing

static void
template_free (tf_template_t *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free (t->parts[i].text);
        free (t->parts[i].ops);
    }
    free (t->parts);
    free (t->source);
    memset (t, 0, sizeof *t);
}

static void
cond_free (tf_cond_t *c)
{
    free (c->field);
    for (size_t i = 0; i < c->value_count; i++)
        free (c->values[i]);
    free (c->values);
    for (size_t i = 0; i < c->kid_count; i++)
        cond_free (&c->kids[i]);
    free (c->kids);
}

static void
field_free (tf_field_t *f)
{
    free (f->to);
    free (f->from);
    template_free (&f->tmpl);
    free (f->const_text);
    free (f->ops);
    for (size_t i = 0; i < f->lookup_count; i++) {
        free (f->lookup_keys[i]);
        free (f->lookup_values[i]);
    }
    free (f->lookup_keys);
    free (f->lookup_values);
    free (f->default_text);
    free (f->parent_sobject);
    free (f->parent_field);
    for (size_t i = 0; i < f->parent_alt_count; i++) {
        free (f->parent_alts[i].sobject);
        free (f->parent_alts[i].to);
        free (f->parent_alts[i].field);
    }
    free (f->parent_alts);
}

static void
route_free (tf_route_t *r)
{
    free (r->name);
    if (r->when) {
        cond_free (r->when);
        free (r->when);
    }
    free (r->sobject);
    free (r->ext_field);
    template_free (&r->key);
    template_free (&r->match_key);
    for (size_t i = 0; i < r->field_count; i++)
        field_free (&r->fields[i]);
    free (r->fields);
}

void
tf_mapping_destroy (tf_mapping_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_mapping_t *self = *self_p;
    for (size_t i = 0; i < self->entity_count; i++) {
        tf_entity_t *e = &self->entities[i];
        for (size_t j = 0; j < e->route_count; j++)
            route_free (&e->routes[j]);
        free (e->routes);
        free (e->name);
    }
    free (self->entities);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Small checks

static bool
is_name (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > TF_MAX_NAME)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/*  Rejects keys outside `allowed` (NULL-terminated) and duplicate keys. */
static int
check_keys (ctx_t *ctx, const cJSON *obj, const char *what, const char *const *allowed)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp (it->string, allowed[i]) == 0)
                known = true;
        if (!known) {
            char list[512] = "";
            size_t n = 0;
            for (size_t i = 0; allowed[i] && n < sizeof list; i++)
                n +=
                    (size_t)snprintf (list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
            return fail (ctx, "unknown key '%.80s' in %s (allowed: %s)", it->string, what, list);
        }
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (strcmp (o->string, it->string) == 0)
                return fail (ctx, "duplicate key '%.80s' in %s", it->string, what);
    }
    return 0;
}

/*  Copies a string member; missing is fine when !required. */
static int
get_str (ctx_t *ctx, const cJSON *obj, const char *key, bool required, size_t max, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (obj, key);
    if (!v) {
        if (required)
            return fail (ctx, "missing '%s'", key);
        return 0;
    }
    if (!cJSON_IsString (v))
        return fail (ctx, "'%s' must be a string", key);
    if (strlen (v->valuestring) > max)
        return fail (ctx, "'%s' is longer than %zu characters", key, max);
    *out = strdup (v->valuestring);
    if (!*out)
        return fail (ctx, "out of memory");
    return 0;
}

static int
get_name (ctx_t *ctx, const cJSON *obj, const char *key, bool required, char **out)
{
    if (get_str (ctx, obj, key, required, TF_MAX_NAME, out))
        return -1;
    if (*out && !is_name (*out))
        return fail (ctx, "'%s' value '%s' is not a valid name (letters, digits, _)", key, *out);
    return 0;
}

static int
get_bool (ctx_t *ctx, const cJSON *obj, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool (v))
        return fail (ctx, "'%s' must be true or false", key);
    *out = cJSON_IsTrue (v);
    return 0;
}

//  --------------------------------------------------------------------------
//  Templates

static int op_parse (ctx_t *ctx, const char *text, tf_op_t *op);

static bool
is_builtin (const char *name)
{
    return strcmp (name, "tenant") == 0 || strcmp (name, "entity") == 0 ||
           strcmp (name, "key") == 0;
}

static int
template_add (ctx_t *ctx, tf_template_t *t, bool is_field, const char *text, size_t len)
{
    if (t->count >= 2 * TF_MAX_PLACEHOLDERS + 1)
        return fail (ctx, "template '%.200s' has more than %d placeholders", t->source,
                     TF_MAX_PLACEHOLDERS);
    tf_tpart_t *parts = realloc (t->parts, (t->count + 1) * sizeof *parts);
    if (!parts)
        return fail (ctx, "out of memory");
    t->parts = parts;
    memset (&t->parts[t->count], 0, sizeof t->parts[t->count]);
    t->parts[t->count].is_field = is_field;
    t->parts[t->count].text = strndup (text, len);
    if (!t->parts[t->count].text)
        return fail (ctx, "out of memory");
    t->count++;
    return 0;
}

/*  Parses the "|op|op" tail of a placeholder, from `text` up to `end`. */
static int
template_ops (ctx_t *ctx, const char *what, const char *src, tf_tpart_t *part, const char *text,
              const char *end)
{
    part->ops = calloc (TF_MAX_OPS, sizeof *part->ops);
    if (!part->ops)
        return fail (ctx, "out of memory");
    while (text <= end) {
        const char *bar = memchr (text, '|', (size_t)(end - text));
        const char *stop = bar ? bar : end;
        char op[40];
        size_t n = (size_t)(stop - text);
        if (n == 0 || n >= sizeof op)
            return fail (ctx,
                         "bad template placeholder in %s '%.200s': empty or unknown "
                         "transform after '|'",
                         what, src);
        if (part->op_count == TF_MAX_OPS)
            return fail (ctx,
                         "bad template placeholder in %s '%.200s': more than %d "
                         "transforms",
                         what, src, TF_MAX_OPS);
        memcpy (op, text, n);
        op[n] = 0;
        tf_op_t *o = &part->ops[part->op_count];
        if (op_parse (ctx, op, o))
            return -1;
        if (o->kind == TF_OP_LOOKUP)
            return fail (ctx,
                         "bad template placeholder in %s '%.200s': 'lookup' is for "
                         "fields, not placeholders",
                         what, src);
        part->op_count++;
        text = stop + 1;
    }
    return 0;
}

/*  Compiles "{A}\n{B|upper}" into parts. "{{" and "}}" are literal braces. */
static int
template_compile (ctx_t *ctx, const char *what, const char *src, tf_template_t *t)
{
    if (strlen (src) > TF_MAX_TEMPLATE)
        return fail (ctx, "%s is longer than %d characters", what, TF_MAX_TEMPLATE);
    t->source = strdup (src);
    if (!t->source)
        return fail (ctx, "out of memory");
    char *lit = malloc (strlen (src) + 1);
    if (!lit)
        return fail (ctx, "out of memory");
    size_t ll = 0;
    int rc = -1;
    const char *p = src;
    while (*p) {
        if (p[0] == '{' && p[1] == '{') {
            lit[ll++] = '{';
            p += 2;
        } else if (p[0] == '}' && p[1] == '}') {
            lit[ll++] = '}';
            p += 2;
        } else if (p[0] == '}') {
            fail (ctx,
                  "bad template placeholder in %s '%.200s': '}' without '{' (write '}}' "
                  "for a literal brace)",
                  what, src);
            goto out;
        } else if (p[0] == '{') {
            const char *end = strchr (p + 1, '}');
            if (!end) {
                fail (ctx, "bad template placeholder in %s '%.200s': '{' without '}'", what, src);
                goto out;
            }
            size_t whole = (size_t)(end - p - 1);
            const char *bar = memchr (p + 1, '|', whole);
            size_t nl = bar ? (size_t)(bar - p - 1) : whole;
            char name[TF_MAX_NAME + 1];
            if (nl == 0 || nl > TF_MAX_NAME) {
                fail (ctx, "bad template placeholder in %s '%.200s': empty or too long name", what,
                      src);
                goto out;
            }
            memcpy (name, p + 1, nl);
            name[nl] = 0;
            if (!is_name (name)) {
                fail (ctx, "bad template placeholder {%s} in %s '%.200s': not a property name",
                      name, what, src);
                goto out;
            }
            if (ll && template_add (ctx, t, false, lit, ll))
                goto out;
            ll = 0;
            if (template_add (ctx, t, true, name, nl))
                goto out;
            if (bar && template_ops (ctx, what, src, &t->parts[t->count - 1], bar + 1, end))
                goto out;
            p = end + 1;
        } else
            lit[ll++] = *p++;
    }
    if (ll && template_add (ctx, t, false, lit, ll))
        goto out;
    rc = 0;
out:
    free (lit);
    return rc;
}

static size_t
template_fields (const tf_template_t *t, bool record_only)
{
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++)
        if (t->parts[i].is_field && (!record_only || !is_builtin (t->parts[i].text)))
            n++;
    return n;
}

//  --------------------------------------------------------------------------
//  Conditions

static const char *const s_cond_ops[] = {"eq", "ne", "in", "empty", "gt", "ge", "lt", "le", NULL};

static int cond_parse (ctx_t *ctx, const cJSON *j, tf_cond_t *c, int depth);

static int
cond_list (ctx_t *ctx, const cJSON *arr, const char *op, tf_cond_t *c, int depth)
{
    if (!cJSON_IsArray (arr))
        return fail (ctx, "condition '%s' must be an array of conditions", op);
    int n = cJSON_GetArraySize (arr);
    if (n < 1 || n > TF_MAX_COND_ITEMS)
        return fail (ctx, "condition '%s' needs 1..%d items", op, TF_MAX_COND_ITEMS);
    c->kids = calloc ((size_t)n, sizeof *c->kids);
    if (!c->kids)
        return fail (ctx, "out of memory");
    for (const cJSON *it = arr->child; it; it = it->next) {
        if (cond_parse (ctx, it, &c->kids[c->kid_count++], depth + 1))
            return -1;
    }
    return 0;
}

static int
cond_parse (ctx_t *ctx, const cJSON *j, tf_cond_t *c, int depth)
{
    if (depth > TF_MAX_COND_DEPTH)
        return fail (ctx, "condition nested deeper than %d", TF_MAX_COND_DEPTH);
    if (!cJSON_IsObject (j))
        return fail (ctx, "a condition must be an object like {\"field\": \"CustSeq\", \"eq\": "
                          "\"0\"}");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive (j, "all");
    const cJSON *any = cJSON_GetObjectItemCaseSensitive (j, "any");
    const cJSON *not = cJSON_GetObjectItemCaseSensitive (j, "not");
    if (all || any || not ) {
        static const char *const logic[] = {"all", "any", "not", "comment", NULL};
        if (check_keys (ctx, j, "condition", logic))
            return -1;
        if (!!all + !!any + !!not != 1)
            return fail (ctx, "a condition takes one of 'all', 'any', 'not'");
        if (all) {
            c->kind = TF_COND_ALL;
            return cond_list (ctx, all, "all", c, depth);
        }
        if (any) {
            c->kind = TF_COND_ANY;
            return cond_list (ctx, any, "any", c, depth);
        }
        c->kind = TF_COND_NOT;
        c->kids = calloc (1, sizeof *c->kids);
        if (!c->kids)
            return fail (ctx, "out of memory");
        c->kid_count = 1;
        return cond_parse (ctx, not, &c->kids[0], depth + 1);
    }
    static const char *const cmp[] = {"field", "eq", "ne", "in",      "empty", "gt",
                                      "ge",    "lt", "le", "comment", NULL};
    if (check_keys (ctx, j, "condition", cmp))
        return -1;
    if (get_name (ctx, j, "field", true, &c->field))
        return -1;
    const cJSON *opv = NULL;
    int which = -1;
    for (int i = 0; s_cond_ops[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive (j, s_cond_ops[i]);
        if (v) {
            if (opv)
                return fail (ctx,
                             "condition on '%s' takes exactly one of eq, ne, in, empty, "
                             "gt, ge, lt, le",
                             c->field);
            opv = v;
            which = i;
        }
    }
    if (!opv)
        return fail (ctx, "condition on '%s' needs one of eq, ne, in, empty, gt, ge, lt, le",
                     c->field);
    const char *op = s_cond_ops[which];
    switch (which) {
    case 0:
    case 1:
        c->kind = which == 0 ? TF_COND_EQ : TF_COND_NE;
        if (!cJSON_IsString (opv) || strlen (opv->valuestring) > TF_MAX_TEXT)
            return fail (ctx, "condition '%s' on '%s' needs a string value (write \"0\", not 0)",
                         op, c->field);
        c->values = calloc (1, sizeof *c->values);
        if (!c->values || !(c->values[0] = strdup (opv->valuestring)))
            return fail (ctx, "out of memory");
        c->value_count = 1;
        return 0;
    case 2: {
        c->kind = TF_COND_IN;
        int n = cJSON_IsArray (opv) ? cJSON_GetArraySize (opv) : -1;
        if (n < 1 || n > TF_MAX_COND_ITEMS)
            return fail (ctx, "condition 'in' on '%s' needs an array of 1..%d strings", c->field,
                         TF_MAX_COND_ITEMS);
        c->values = calloc ((size_t)n, sizeof *c->values);
        if (!c->values)
            return fail (ctx, "out of memory");
        for (const cJSON *it = opv->child; it; it = it->next) {
            if (!cJSON_IsString (it) || strlen (it->valuestring) > TF_MAX_TEXT)
                return fail (ctx, "condition 'in' on '%s' needs an array of strings", c->field);
            if (!(c->values[c->value_count++] = strdup (it->valuestring)))
                return fail (ctx, "out of memory");
        }
        return 0;
    }
    case 3:
        c->kind = TF_COND_EMPTY;
        if (!cJSON_IsBool (opv))
            return fail (ctx, "condition 'empty' on '%s' needs true or false", c->field);
        c->flag = cJSON_IsTrue (opv);
        return 0;
    default:
        c->kind = which == 4   ? TF_COND_GT
                  : which == 5 ? TF_COND_GE
                  : which == 6 ? TF_COND_LT
                               : TF_COND_LE;
        if (!cJSON_IsNumber (opv))
            return fail (ctx, "condition '%s' on '%s' needs a number", op, c->field);
        c->number = opv->valuedouble;
        return 0;
    }
}

//  --------------------------------------------------------------------------
//  Transforms and fields

static const struct {
    const char *name;  /* as written */
    tf_op_kind_t kind; /* compiled */
} s_ops[] = {
    {"trim", TF_OP_TRIM},           {"upper", TF_OP_UPPER},
    {"lower", TF_OP_LOWER},         {"title", TF_OP_TITLE},
    {"truncate", TF_OP_TRUNCATE},   {"number", TF_OP_NUMBER},
    {"date", TF_OP_DATE},           {"datetime", TF_OP_DATETIME},
    {"boolean", TF_OP_BOOLEAN},     {"first_name", TF_OP_FIRST_NAME},
    {"last_name", TF_OP_LAST_NAME}, {"normalize", TF_OP_NORMALIZE},
    {"lookup", TF_OP_LOOKUP},
};
#define S_OP_COUNT (sizeof s_ops / sizeof s_ops[0])

const char *
tf_op_name (tf_op_kind_t kind)
{
    for (size_t i = 0; i < S_OP_COUNT; i++)
        if (s_ops[i].kind == kind)
            return s_ops[i].name;
    return "?";
}

/*  Parses a non-negative decimal integer argument in [lo, hi]. */
static int
parse_arg (const char *s, long lo, long hi, long *out)
{
    if (!*s || strlen (s) > 9)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    long v = strtol (s, NULL, 10);
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int
op_parse (ctx_t *ctx, const char *text, tf_op_t *op)
{
    char name[32];
    const char *colon = strchr (text, ':');
    size_t nl = colon ? (size_t)(colon - text) : strlen (text);
    if (nl >= sizeof name)
        return fail (ctx, "unknown transform '%.60s'", text);
    memcpy (name, text, nl);
    name[nl] = 0;
    const char *arg = colon ? colon + 1 : NULL;
    size_t i;
    for (i = 0; i < S_OP_COUNT; i++)
        if (strcmp (s_ops[i].name, name) == 0)
            break;
    if (i == S_OP_COUNT)
        return fail (ctx,
                     "unknown transform '%.60s' (known: trim, upper, lower, title, "
                     "truncate:N, number, number:D, date, date:dmy, date:mdy, datetime, "
                     "boolean, first_name, last_name, normalize, lookup)",
                     text);
    op->kind = s_ops[i].kind;
    op->arg = 0;
    long v = 0;
    switch (op->kind) {
    case TF_OP_TRUNCATE:
        if (!arg || parse_arg (arg, 1, TF_MAX_TRUNCATE, &v))
            return fail (ctx, "transform '%.60s' needs a length: truncate:N with N in 1..%d", text,
                         TF_MAX_TRUNCATE);
        op->arg = (int)v;
        return 0;
    case TF_OP_NUMBER:
        op->arg = -1;
        if (arg && parse_arg (arg, 0, TF_MAX_DECIMALS, &v))
            return fail (ctx, "transform '%.60s': decimals must be 0..%d (number:2)", text,
                         TF_MAX_DECIMALS);
        if (arg)
            op->arg = (int)v;
        return 0;
    case TF_OP_DATE:
        if (!arg)
            op->arg = TF_DATE_ISO;
        else if (strcmp (arg, "dmy") == 0)
            op->arg = TF_DATE_DMY;
        else if (strcmp (arg, "mdy") == 0)
            op->arg = TF_DATE_MDY;
        else
            return fail (ctx, "transform '%.60s': date takes no argument, 'dmy' or 'mdy'", text);
        return 0;
    default:
        if (arg)
            return fail (ctx, "transform '%s' takes no argument ('%.60s')", name, text);
        return 0;
    }
}

static int
lookup_parse (ctx_t *ctx, const cJSON *j, tf_field_t *f)
{
    if (!cJSON_IsObject (j))
        return fail (ctx, "'lookup' must be an object of \"code\": \"value\"");
    int n = cJSON_GetArraySize (j);
    if (n < 1 || n > TF_MAX_LOOKUP)
        return fail (ctx, "'lookup' needs 1..%d entries", TF_MAX_LOOKUP);
    f->lookup_keys = calloc ((size_t)n, sizeof (char *));
    f->lookup_values = calloc ((size_t)n, sizeof (char *));
    if (!f->lookup_keys || !f->lookup_values)
        return fail (ctx, "out of memory");
    for (const cJSON *it = j->child; it; it = it->next) {
        if (!cJSON_IsString (it) || strlen (it->valuestring) > TF_MAX_TEXT ||
            strlen (it->string) > TF_MAX_TEXT)
            return fail (ctx, "lookup entry '%.80s' must map to a string", it->string);
        for (size_t k = 0; k < f->lookup_count; k++)
            if (strcmp (f->lookup_keys[k], it->string) == 0)
                return fail (ctx, "duplicate lookup entry '%.80s'", it->string);
        f->lookup_keys[f->lookup_count] = strdup (it->string);
        f->lookup_values[f->lookup_count] = strdup (it->valuestring);
        f->lookup_count++;
        if (!f->lookup_keys[f->lookup_count - 1] || !f->lookup_values[f->lookup_count - 1])
            return fail (ctx, "out of memory");
    }
    return 0;
}

/*  True when text is a plain decimal number: -?digits[.digits]. */
static bool
is_decimal (const char *s)
{
    if (*s == '-')
        s++;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == 0;
}

/*  True when `to` is already written by a rule of the route (or one of its parent
    alternatives). */
static bool
to_taken (const tf_route_t *route, const char *to)
{
    for (size_t i = 0; i < route->field_count; i++) {
        const tf_field_t *f = &route->fields[i];
        if (strcmp (f->to, to) == 0)
            return true;
        for (size_t a = 0; a < f->parent_alt_count; a++)
            if (strcmp (f->parent_alts[a].to, to) == 0)
                return true;
    }
    return false;
}

/*  "alternatives": [{"sobject": "Contact", "to": "Contact__r"}, ...] of a parent. */
static int
alts_parse (ctx_t *ctx, const cJSON *j, tf_field_t *f, const tf_route_t *route)
{
    static const char *const keys[] = {"sobject", "to",      "external_id_field",
                                       "typed",   "comment", NULL};
    int n = cJSON_IsArray (j) ? cJSON_GetArraySize (j) : -1;
    if (n < 1 || n > TF_MAX_PARENT_ALTS)
        return fail (ctx, "parent 'alternatives' must be an array of 1 to %d objects",
                     TF_MAX_PARENT_ALTS);
    f->parent_alts = calloc ((size_t)n, sizeof *f->parent_alts);
    if (!f->parent_alts)
        return fail (ctx, "out of memory");
    for (const cJSON *it = j->child; it; it = it->next) {
        if (!cJSON_IsObject (it))
            return fail (ctx, "each parent alternative must be an object with sobject and to");
        tf_parent_alt_t *alt = &f->parent_alts[f->parent_alt_count++];
        if (check_keys (ctx, it, "parent alternative", keys) ||
            get_name (ctx, it, "sobject", true, &alt->sobject) ||
            get_name (ctx, it, "to", true, &alt->to) ||
            get_name (ctx, it, "external_id_field", false, &alt->field) ||
            get_bool (ctx, it, "typed", &alt->typed))
            return -1;
        if (!alt->field && !(alt->field = strdup (f->parent_field)))
            return fail (ctx, "out of memory");
        if (strcmp (alt->sobject, f->parent_sobject) == 0)
            return fail (ctx, "parent alternative sObject '%s' is the parent's own", alt->sobject);
        if (strcmp (alt->to, f->to) == 0 || to_taken (route, alt->to) ||
            (route->ext_field && strcmp (alt->to, route->ext_field) == 0))
            return fail (ctx, "parent alternative '%s' is mapped twice", alt->to);
        for (size_t i = 0; i + 1 < f->parent_alt_count; i++)
            if (strcmp (f->parent_alts[i].sobject, alt->sobject) == 0 ||
                strcmp (f->parent_alts[i].to, alt->to) == 0)
                return fail (ctx, "parent alternative '%s' (%s) is listed twice", alt->to,
                             alt->sobject);
    }
    return 0;
}

static int
parent_parse (ctx_t *ctx, const cJSON *j, tf_field_t *f, const tf_route_t *route)
{
    static const char *const keys[] = {
        "sobject", "external_id_field", "key_template", "typed", "alternatives", "comment", NULL};
    if (!cJSON_IsObject (j))
        return fail (ctx, "'parent' must be an object with sobject, external_id_field, "
                          "key_template");
    if (check_keys (ctx, j, "parent", keys))
        return -1;
    char *tmpl = NULL;
    if (get_name (ctx, j, "sobject", true, &f->parent_sobject) ||
        get_name (ctx, j, "external_id_field", true, &f->parent_field) ||
        get_bool (ctx, j, "typed", &f->parent_typed) ||
        get_str (ctx, j, "key_template", true, TF_MAX_TEMPLATE, &tmpl))
        return -1;
    int rc = template_compile (ctx, "parent key_template", tmpl, &f->tmpl);
    free (tmpl);
    if (rc)
        return -1;
    if (template_fields (&f->tmpl, true) == 0)
        return fail (ctx, "parent key_template '%.200s' has no record placeholder", f->tmpl.source);
    const cJSON *alts = cJSON_GetObjectItemCaseSensitive (j, "alternatives");
    if (alts && alts_parse (ctx, alts, f, route))
        return -1;
    return 0;
}

static int
field_parse (ctx_t *ctx, const cJSON *j, tf_field_t *f, const tf_route_t *route)
{
    static const char *const keys[] = {"to",          "from",    "from_target", "template",
                                       "const",       "parent",  "transforms",  "lookup",
                                       "lookup_miss", "default", "required",    "empty",
                                       "merge",       "comment", NULL};
    if (!cJSON_IsObject (j))
        return fail (ctx, "each entry of 'fields' must be an object");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive (j, "to");
    if (cJSON_IsString (to))
        ctx->field = to->valuestring;
    if (check_keys (ctx, j, "field", keys) || get_name (ctx, j, "to", true, &f->to))
        return -1;
    if (route->ext_field && strcmp (f->to, route->ext_field) == 0)
        return fail (ctx, "is the external-ID field, which key_template sets");
    if (to_taken (route, f->to))
        return fail (ctx, "mapped twice");

    const cJSON *from = cJSON_GetObjectItemCaseSensitive (j, "from");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive (j, "template");
    const cJSON *cnst = cJSON_GetObjectItemCaseSensitive (j, "const");
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive (j, "parent");
    const cJSON *target = cJSON_GetObjectItemCaseSensitive (j, "from_target");
    if (!!from + !!tmpl + !!cnst + !!parent + !!target != 1)
        return fail (ctx, "needs exactly one of 'from', 'template', 'const', 'parent', "
                          "'from_target'");
    f->kind = TF_KIND_STRING;
    if (from) {
        f->src = TF_SRC_FROM;
        if (get_name (ctx, j, "from", true, &f->from))
            return -1;
    } else if (target) {
        f->src = TF_SRC_TARGET;
        if (get_name (ctx, j, "from_target", true, &f->from))
            return -1;
        const tf_field_t *earlier = NULL;
        for (size_t i = 0; i < route->field_count; i++)
            if (strcmp (route->fields[i].to, f->from) == 0)
                earlier = &route->fields[i];
        if (!earlier || earlier->src == TF_SRC_PARENT || earlier->kind != TF_KIND_STRING)
            return fail (ctx,
                         "'from_target' '%s' must name an earlier text field of this "
                         "route",
                         f->from);
    } else if (tmpl) {
        f->src = TF_SRC_TEMPLATE;
        if (!cJSON_IsString (tmpl))
            return fail (ctx, "'template' must be a string");
        if (template_compile (ctx, "template", tmpl->valuestring, &f->tmpl))
            return -1;
        if (template_fields (&f->tmpl, false) == 0)
            return fail (ctx, "template '%.200s' has no placeholder (use 'const')", f->tmpl.source);
    } else if (cnst) {
        f->src = TF_SRC_CONST;
        char num[64];
        if (cJSON_IsString (cnst)) {
            if (strlen (cnst->valuestring) > TF_MAX_TEXT)
                return fail (ctx, "'const' is longer than %d characters", TF_MAX_TEXT);
            f->const_text = strdup (cnst->valuestring);
            f->const_kind = TF_KIND_STRING;
        } else if (cJSON_IsBool (cnst)) {
            f->const_text = strdup (cJSON_IsTrue (cnst) ? "true" : "false");
            f->const_kind = TF_KIND_BOOL;
        } else if (cJSON_IsNumber (cnst)) {
            snprintf (num, sizeof num, "%.15g", cnst->valuedouble);
            f->const_text = strdup (num);
            f->const_kind = TF_KIND_NUMBER;
        } else
            return fail (ctx, "'const' must be a string, number or boolean");
        if (!f->const_text)
            return fail (ctx, "out of memory");
        f->kind = f->const_kind;
    } else {
        f->src = TF_SRC_PARENT;
        if (parent_parse (ctx, parent, f, route))
            return -1;
        static const char *const no[] = {"transforms", "lookup", "default", "merge", "empty", NULL};
        for (size_t i = 0; no[i]; i++)
            if (cJSON_GetObjectItemCaseSensitive (j, no[i]))
                return fail (ctx, "a 'parent' reference takes no '%s'", no[i]);
    }

    const cJSON *lookup = cJSON_GetObjectItemCaseSensitive (j, "lookup");
    if (lookup && lookup_parse (ctx, lookup, f))
        return -1;

    const cJSON *ops = cJSON_GetObjectItemCaseSensitive (j, "transforms");
    bool has_lookup_op = false;
    if (ops) {
        int n = cJSON_IsArray (ops) ? cJSON_GetArraySize (ops) : -1;
        if (n < 0 || n > TF_MAX_OPS)
            return fail (ctx, "'transforms' must be an array of at most %d names", TF_MAX_OPS);
        f->ops = calloc ((size_t)n + 1, sizeof *f->ops);
        if (!f->ops)
            return fail (ctx, "out of memory");
        for (const cJSON *it = ops->child; it; it = it->next) {
            if (!cJSON_IsString (it))
                return fail (ctx, "'transforms' entries must be strings like \"trim\"");
            tf_op_t *op = &f->ops[f->op_count];
            if (op_parse (ctx, it->valuestring, op))
                return -1;
            if (op->kind == TF_OP_LOOKUP) {
                if (!lookup)
                    return fail (ctx, "transform 'lookup' needs a 'lookup' table");
                has_lookup_op = true;
            }
            f->op_count++;
        }
    }
    if (lookup && !has_lookup_op) {
        //  A table without an explicit step applies after the other transforms.
        tf_op_t *grown = realloc (f->ops, (f->op_count + 1) * sizeof *grown);
        if (!grown)
            return fail (ctx, "out of memory");
        f->ops = grown;
        f->ops[f->op_count].kind = TF_OP_LOOKUP;
        f->ops[f->op_count].arg = 0;
        f->op_count++;
    }
    //  The kind of the value along the steps: text steps need text.
    for (size_t i = 0; i < f->op_count; i++) {
        tf_op_kind_t k = f->ops[i].kind;
        if (f->kind != TF_KIND_STRING)
            return fail (ctx, "transform '%s' cannot follow a %s result", tf_op_name (k),
                         f->kind == TF_KIND_NUMBER ? "number" : "boolean");
        if (k == TF_OP_NUMBER)
            f->kind = TF_KIND_NUMBER;
        else if (k == TF_OP_BOOLEAN)
            f->kind = TF_KIND_BOOL;
    }

    const cJSON *miss = cJSON_GetObjectItemCaseSensitive (j, "lookup_miss");
    if (miss) {
        if (!lookup)
            return fail (ctx, "'lookup_miss' without a 'lookup' table");
        if (!cJSON_IsString (miss))
            return fail (ctx, "'lookup_miss' must be \"reject\", \"keep\" or \"empty\"");
        if (strcmp (miss->valuestring, "reject") == 0)
            f->lookup_miss = TF_MISS_REJECT;
        else if (strcmp (miss->valuestring, "keep") == 0)
            f->lookup_miss = TF_MISS_KEEP;
        else if (strcmp (miss->valuestring, "empty") == 0)
            f->lookup_miss = TF_MISS_EMPTY;
        else
            return fail (ctx, "'lookup_miss' must be \"reject\", \"keep\" or \"empty\"");
    }

    if (get_str (ctx, j, "default", false, TF_MAX_TEXT, &f->default_text))
        return -1;
    if (f->default_text) {
        if (f->kind == TF_KIND_NUMBER && !is_decimal (f->default_text))
            return fail (ctx, "'default' '%.60s' is not a number, and the field is a number",
                         f->default_text);
        if (f->kind == TF_KIND_BOOL && strcmp (f->default_text, "true") != 0 &&
            strcmp (f->default_text, "false") != 0)
            return fail (ctx, "'default' must be \"true\" or \"false\" for a boolean field");
    }
    if (get_bool (ctx, j, "required", &f->required))
        return -1;

    const cJSON *empty = cJSON_GetObjectItemCaseSensitive (j, "empty");
    if (empty) {
        if (cJSON_IsString (empty) && strcmp (empty->valuestring, "null") == 0)
            f->omit_empty = false;
        else if (cJSON_IsString (empty) && strcmp (empty->valuestring, "omit") == 0)
            f->omit_empty = true;
        else
            return fail (ctx, "'empty' must be \"null\" (clear the field) or \"omit\" (leave "
                              "it out)");
    }
    const cJSON *merge = cJSON_GetObjectItemCaseSensitive (j, "merge");
    if (merge) {
        if (!cJSON_IsString (merge) || strcmp (merge->valuestring, "union") != 0)
            return fail (ctx, "'merge' must be \"union\"");
        if (f->kind != TF_KIND_STRING)
            return fail (ctx, "'merge': \"union\" needs a text (multi-picklist) value");
        f->merge_union = true;
    }
    ctx->field = NULL;
    return 0;
}

//  --------------------------------------------------------------------------
//  Routes and entities

static const char *const s_spec_keys[] = {
    "sobject", "external_id_field", "key_template", "match_key_template", "fields", NULL};

static int
route_parse (ctx_t *ctx, const cJSON *j, tf_route_t *r, bool in_routes)
{
    static const char *const route_keys[] = {"name",
                                             "when",
                                             "skip",
                                             "sobject",
                                             "external_id_field",
                                             "key_template",
                                             "match_key_template",
                                             "fields",
                                             "comment",
                                             NULL};
    static const char *const entity_keys[] = {"sobject",      "external_id_field",
                                              "key_template", "match_key_template",
                                              "fields",       "routes",
                                              "comment",      NULL};
    if (in_routes && !cJSON_IsObject (j))
        return fail (ctx, "each entry of 'routes' must be an object");
    if (check_keys (ctx, j, in_routes ? "route" : "entity", in_routes ? route_keys : entity_keys))
        return -1;
    if (in_routes) {
        if (get_name (ctx, j, "name", true, &r->name))
            return -1;
        ctx->route = r->name;
        const cJSON *when = cJSON_GetObjectItemCaseSensitive (j, "when");
        if (when) {
            r->when = calloc (1, sizeof *r->when);
            if (!r->when)
                return fail (ctx, "out of memory");
            if (cond_parse (ctx, when, r->when, 0))
                return -1;
        }
        if (get_bool (ctx, j, "skip", &r->skip))
            return -1;
    } else if (!(r->name = strdup ("")))
        return fail (ctx, "out of memory");
    if (r->skip) {
        for (size_t i = 0; s_spec_keys[i]; i++)
            if (cJSON_GetObjectItemCaseSensitive (j, s_spec_keys[i]))
                return fail (ctx, "a skip route takes no '%s'", s_spec_keys[i]);
        return 0;
    }
    char *key = NULL, *match = NULL;
    if (get_name (ctx, j, "sobject", true, &r->sobject) ||
        get_name (ctx, j, "external_id_field", true, &r->ext_field) ||
        get_str (ctx, j, "key_template", true, TF_MAX_TEMPLATE, &key) ||
        get_str (ctx, j, "match_key_template", false, TF_MAX_TEMPLATE, &match)) {
        free (key);
        free (match);
        return -1;
    }
    int rc = template_compile (ctx, "key_template", key, &r->key);
    if (!rc && template_fields (&r->key, true) == 0)
        rc = fail (ctx, "key_template '%.200s' has no record placeholder such as {VendNum}", key);
    if (!rc && match) {
        rc = template_compile (ctx, "match_key_template", match, &r->match_key);
        if (!rc && template_fields (&r->match_key, true) == 0)
            rc = fail (ctx, "match_key_template '%.200s' has no record placeholder", match);
    }
    free (key);
    free (match);
    if (rc)
        return -1;
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive (j, "fields");
    int n = cJSON_IsArray (fields) ? cJSON_GetArraySize (fields) : -1;
    if (!fields)
        return fail (ctx, "missing 'fields'");
    if (n < 0 || n > TF_MAX_FIELDS)
        return fail (ctx, "'fields' must be an array of at most %d field rules", TF_MAX_FIELDS);
    r->fields = calloc ((size_t)n + 1, sizeof *r->fields);
    if (!r->fields)
        return fail (ctx, "out of memory");
    int index = 0;
    for (const cJSON *it = fields->child; it; it = it->next, index++) {
        char label[32];
        snprintf (label, sizeof label, "#%d", index + 1);
        ctx->field = label;
        tf_field_t *f = &r->fields[r->field_count];
        int frc = field_parse (ctx, it, f, r);
        r->field_count++; //  counted even on failure, so it is freed
        if (frc)
            return -1;
    }
    ctx->field = NULL;
    return 0;
}

static int
entity_parse (ctx_t *ctx, const cJSON *j, tf_entity_t *e)
{
    if (!cJSON_IsObject (j))
        return fail (ctx, "must be an object");
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive (j, "routes");
    if (!routes) {
        if (!cJSON_GetObjectItemCaseSensitive (j, "sobject"))
            return fail (ctx, "missing 'sobject' (or 'routes')");
        e->routes = calloc (1, sizeof *e->routes);
        if (!e->routes)
            return fail (ctx, "out of memory");
        e->route_count = 1;
        return route_parse (ctx, j, &e->routes[0], false);
    }
    static const char *const keys[] = {"routes", "comment", NULL};
    for (const cJSON *it = j->child; it; it = it->next)
        for (size_t i = 0; s_spec_keys[i]; i++)
            if (strcmp (it->string, s_spec_keys[i]) == 0)
                return fail (ctx, "'%s' belongs inside each route when 'routes' is used",
                             it->string);
    if (check_keys (ctx, j, "entity", keys))
        return -1;
    int n = cJSON_IsArray (routes) ? cJSON_GetArraySize (routes) : -1;
    if (n < 1 || n > TF_MAX_ROUTES)
        return fail (ctx, "'routes' must be an array of 1..%d routes", TF_MAX_ROUTES);
    e->routes = calloc ((size_t)n, sizeof *e->routes);
    if (!e->routes)
        return fail (ctx, "out of memory");
    for (const cJSON *it = routes->child; it; it = it->next) {
        tf_route_t *r = &e->routes[e->route_count++];
        ctx->route = NULL;
        if (route_parse (ctx, it, r, true))
            return -1;
        for (size_t i = 0; i + 1 < e->route_count; i++) {
            if (strcmp (e->routes[i].name, r->name) == 0)
                return fail (ctx, "duplicate route name");
            if (!e->routes[i].when)
                return fail (ctx, "unreachable: route '%s' before it has no 'when'",
                             e->routes[i].name);
        }
    }
    ctx->route = NULL;
    return 0;
}

/*  True when some route with a match key targets sobject. */
static bool
is_match_target (const tf_mapping_t *self, const char *sobject)
{
    for (size_t i = 0; i < self->entity_count; i++)
        for (size_t r = 0; r < self->entities[i].route_count; r++) {
            const tf_route_t *route = &self->entities[i].routes[r];
            if (!route->skip && route->match_key.count && strcmp (route->sobject, sobject) == 0)
                return true;
        }
    return false;
}

/*  True when two templates have the same literal text and placeholders in the same
    places ("{tenant}:customer:{CustNum}" and "{tenant}:customer:{Cust}"). */
static bool
same_shape (const tf_template_t *a, const tf_template_t *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (a->parts[i].is_field != b->parts[i].is_field ||
            (!a->parts[i].is_field && strcmp (a->parts[i].text, b->parts[i].text) != 0))
            return false;
    return true;
}

/*  Tells tf_transform which keys the memory must look at, so records that can be neither
    an alias nor a parent cost no memory look-up or write: a key can be an alias only when
    a route with a match key targets its sObject; a record's sObject is worth remembering
    only when its key has the shape of some parent reference's key. */
static void
link_routes (tf_mapping_t *self)
{
    for (size_t i = 0; i < self->entity_count; i++)
        for (size_t r = 0; r < self->entities[i].route_count; r++) {
            tf_route_t *route = &self->entities[i].routes[r];
            if (route->skip)
                continue;
            route->may_be_alias = is_match_target (self, route->sobject);
            for (size_t f = 0; f < route->field_count; f++) {
                tf_field_t *field = &route->fields[f];
                if (field->src != TF_SRC_PARENT)
                    continue;
                field->parent_may_be_alias = is_match_target (self, field->parent_sobject);
                for (size_t j = 0; j < self->entity_count; j++)
                    for (size_t q = 0; q < self->entities[j].route_count; q++) {
                        tf_route_t *other = &self->entities[j].routes[q];
                        if (!other->skip && same_shape (&other->key, &field->tmpl))
                            other->may_be_parent = true;
                    }
            }
        }
}

tf_mapping_t *
tf_mapping_parse (const char *text, size_t len, const char *origin, char *err, size_t err_cap)
{
    ctx_t ctx = {origin ? origin : "mapping", NULL, NULL, NULL, err, err_cap};
    if (err && err_cap)
        err[0] = 0;
    tf_mapping_t *self = NULL;
    cJSON *root = NULL;
    if (len > TF_MAX_FILE_BYTES) {
        fail (&ctx, "larger than %d bytes", TF_MAX_FILE_BYTES);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts (text, len, &end, false);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off && i < len; i++)
            line += text[i] == '\n';
        fail (&ctx, "not valid JSON (near line %zu)", line);
        goto fail;
    }
    if (end && (size_t)(end - text) < len) {
        for (const char *p = end; p < text + len; p++)
            if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
                fail (&ctx, "trailing text after the JSON object");
                goto fail;
            }
    }
    if (!cJSON_IsObject (root)) {
        fail (&ctx, "must be a JSON object with \"version\" and \"entities\"");
        goto fail;
    }
    static const char *const top[] = {"version", "entities", "comment", NULL};
    if (check_keys (&ctx, root, "the top level", top))
        goto fail;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive (root, "version");
    if (!cJSON_IsNumber (version) || version->valuedouble != 1) {
        fail (&ctx, "'version' must be 1");
        goto fail;
    }
    const cJSON *entities = cJSON_GetObjectItemCaseSensitive (root, "entities");
    int n = cJSON_IsObject (entities) ? cJSON_GetArraySize (entities) : -1;
    if (n < 1 || n > TF_MAX_ENTITIES) {
        fail (&ctx, "'entities' must be an object with 1..%d entities", TF_MAX_ENTITIES);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self || !(self->entities = calloc ((size_t)n, sizeof *self->entities))) {
        fail (&ctx, "out of memory");
        goto fail;
    }
    for (const cJSON *it = entities->child; it; it = it->next) {
        ctx.entity = it->string;
        if (!is_name (it->string)) {
            fail (&ctx, "entity name is not a valid name");
            goto fail;
        }
        for (size_t i = 0; i < self->entity_count; i++)
            if (strcmp (self->entities[i].name, it->string) == 0) {
                fail (&ctx, "entity defined twice");
                goto fail;
            }
        tf_entity_t *e = &self->entities[self->entity_count++];
        if (!(e->name = strdup (it->string))) {
            fail (&ctx, "out of memory");
            goto fail;
        }
        if (entity_parse (&ctx, it, e))
            goto fail;
        for (size_t r = 0; r < e->route_count; r++)
            for (size_t f = 0; f < e->routes[r].field_count; f++)
                if (e->routes[r].fields[f].merge_union)
                    self->uses_union = true;
    }
    link_routes (self);
    cJSON_Delete (root);
    return self;
fail:
    cJSON_Delete (root);
    tf_mapping_destroy (&self);
    return NULL;
}

tf_mapping_t *
tf_mapping_load (const char *path, char *err, size_t err_cap)
{
    ctx_t ctx = {path, NULL, NULL, NULL, err, err_cap};
    tf_mapping_t *self = NULL;
    char *buf = NULL;
    FILE *file = fopen (path, "rb");
    if (!file) {
        fail (&ctx, "cannot open: %s", strerror (errno));
        goto out;
    }
    buf = malloc (TF_MAX_FILE_BYTES + 1);
    if (!buf) {
        fail (&ctx, "out of memory");
        goto out;
    }
    size_t len = fread (buf, 1, TF_MAX_FILE_BYTES + 1, file);
    if (ferror (file)) {
        fail (&ctx, "read error: %s", strerror (errno));
        goto out;
    }
    if (len > TF_MAX_FILE_BYTES) {
        fail (&ctx, "larger than %d bytes", TF_MAX_FILE_BYTES);
        goto out;
    }
    self = tf_mapping_parse (buf, len, path, err, err_cap);
out:
    if (file)
        fclose (file);
    free (buf);
    return self;
}

const tf_entity_t *
tf_mapping_entity (const tf_mapping_t *self, const char *name)
{
    if (!self || !name)
        return NULL;
    for (size_t i = 0; i < self->entity_count; i++)
        if (strcmp (self->entities[i].name, name) == 0)
            return &self->entities[i];
    return NULL;
}

size_t
tf_mapping_entity_count (const tf_mapping_t *self)
{
    return self ? self->entity_count : 0;
}

const tf_entity_t *
tf_mapping_entity_at (const tf_mapping_t *self, size_t index)
{
    return self && index < self->entity_count ? &self->entities[index] : NULL;
}

bool
tf_mapping_uses_union (const tf_mapping_t *self)
{
    return self && self->uses_union;
}

bool
tf_mapping_uses_memory (const tf_mapping_t *self)
{
    if (tf_mapping_uses_union (self))
        return true;
    for (size_t i = 0; self && i < self->entity_count; i++)
        for (size_t r = 0; r < self->entities[i].route_count; r++)
            if (self->entities[i].routes[r].match_key.count)
                return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Referenced properties

typedef struct {
    char *buf;  /* comma list */
    size_t len; /* used */
    size_t cap; /* allocated */
    bool oom;   /* an allocation failed */
} plist_t;

static void
plist_add (plist_t *l, const char *name)
{
    if (l->oom || is_builtin (name))
        return;
    size_t nl = strlen (name);
    //  Already there? Match whole items only.
    for (const char *p = l->buf; p && *p;) {
        const char *c = strchr (p, ',');
        size_t il = c ? (size_t)(c - p) : strlen (p);
        if (il == nl && memcmp (p, name, nl) == 0)
            return;
        p = c ? c + 1 : p + il;
    }
    if (l->len + nl + 2 > l->cap) {
        size_t cap = (l->cap + nl + 2) * 2;
        char *grown = realloc (l->buf, cap);
        if (!grown) {
            l->oom = true;
            return;
        }
        l->buf = grown;
        l->cap = cap;
    }
    if (l->len)
        l->buf[l->len++] = ',';
    memcpy (l->buf + l->len, name, nl);
    l->len += nl;
    l->buf[l->len] = 0;
}

static void
plist_template (plist_t *l, const tf_template_t *t)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->parts[i].is_field)
            plist_add (l, t->parts[i].text);
}

static void
plist_cond (plist_t *l, const tf_cond_t *c)
{
    if (c->field)
        plist_add (l, c->field);
    for (size_t i = 0; i < c->kid_count; i++)
        plist_cond (l, &c->kids[i]);
}

char *
tf_mapping_properties (const tf_mapping_t *self, const char *entity)
{
    const tf_entity_t *e = tf_mapping_entity (self, entity);
    if (!e)
        return NULL;
    plist_t l = {NULL, 0, 0, false};
    for (size_t r = 0; r < e->route_count; r++) {
        const tf_route_t *route = &e->routes[r];
        if (route->when)
            plist_cond (&l, route->when);
        plist_template (&l, &route->key);
        plist_template (&l, &route->match_key);
        for (size_t f = 0; f < route->field_count; f++) {
            const tf_field_t *field = &route->fields[f];
            if (field->from && field->src == TF_SRC_FROM)
                plist_add (&l, field->from);
            plist_template (&l, &field->tmpl);
        }
    }
    if (l.oom) {
        free (l.buf);
        return NULL;
    }
    return l.buf ? l.buf : strdup ("");
}
