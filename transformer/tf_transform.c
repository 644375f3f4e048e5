/*  tf_transform: apply a compiled mapping to one envelope. See tf_transform.h. */
#include "tf_transform.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_utf8.h"

//  --------------------------------------------------------------------------
//  Growing strings, capped at CM_ENVELOPE_MAX_STR

typedef struct {
    char *buf;  /* NUL-terminated text */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool bad;   /* out of memory or over the cap */
} sbuf_t;

static void
sbuf_add (sbuf_t *s, const char *text, size_t n)
{
    if (s->bad)
        return;
    if (s->len + n > CM_ENVELOPE_MAX_STR) {
        s->bad = true;
        return;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *grown = realloc (s->buf, cap);
        if (!grown) {
            s->bad = true;
            return;
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy (s->buf + s->len, text, n);
    s->len += n;
    s->buf[s->len] = 0;
}

/*  Returns the built string (caller frees), or NULL when it went bad. */
static char *
sbuf_take (sbuf_t *s)
{
    if (s->bad) {
        free (s->buf);
        return NULL;
    }
    return s->buf ? s->buf : strdup ("");
}

//  --------------------------------------------------------------------------
//  Text helpers

static bool
is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*  Trimmed view of s: start and length. */
static const char *
trimmed (const char *s, size_t *len)
{
    while (is_space (*s))
        s++;
    size_t n = strlen (s);
    while (n && is_space (s[n - 1]))
        n--;
    *len = n;
    return s;
}

static char *errf (char *err, size_t cap, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static char *
errf (char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err, cap, fmt, ap);
        va_end (ap);
    }
    return NULL;
}

/*  A short, safe quote of an untrusted value for a reason message. */
static const char *
quote (const char *value, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = value; *p && n + 5 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == '\'' || c == '\\')
            n += (size_t)snprintf (out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = 0;
    if (strlen (value) > n && n + 4 <= cap && n >= 3)
        memcpy (out + n - 3, "...", 4);
    return out;
}

//  --------------------------------------------------------------------------
//  Transform steps

static char *
op_case (const char *v, int mode)
{
    char *out = strdup (v);
    if (!out)
        return NULL;
    bool start = true;
    for (char *p = out; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        bool digit = c >= '0' && c <= '9';
        if (mode == 0 && c >= 'a' && c <= 'z')
            *p = (char)(c - 32);
        else if (mode == 1 && c >= 'A' && c <= 'Z')
            *p = (char)(c + 32);
        else if (mode == 2) {
            if (alpha)
                *p = (char)(start ? (c >= 'a' ? c - 32 : c) : (c <= 'Z' ? c + 32 : c));
            //  Words start after anything but letters, digits, apostrophes and UTF-8.
            start = !(alpha || digit || c == '\'' || (unsigned char)c >= 0x80);
        }
    }
    return out;
}

static char *
op_truncate (const char *v, int max)
{
    size_t chars = 0, i = 0;
    const unsigned char *p = (const unsigned char *)v;
    while (p[i]) {
        if ((p[i] & 0xC0) != 0x80) {
            if (chars == (size_t)max)
                break;
            chars++;
        }
        i++;
    }
    return strndup (v, i);
}

/*  Decimal text -> canonical decimal text rounded to `decimals` (-1: as given). */
static char *
op_number (const char *v, int decimals, char *err, size_t cap)
{
    char q[64];
    size_t n;
    const char *s = trimmed (v, &n);
    if (n == 0)
        return strdup ("");
    if (n > 60)
        return errf (err, cap, "number: '%s' is too long", quote (v, q, sizeof q));
    bool neg = false;
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    char ip[64] = "", fp[64] = "";
    size_t il = 0, fl = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        ip[il++] = s[i++];
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            fp[fl++] = s[i++];
    }
    if (i != n || il + fl == 0)
        return errf (err, cap, "number: '%s' is not a decimal number", quote (v, q, sizeof q));
    if (il == 0)
        ip[il++] = '0';
    //  Digits as one string "ipfp", rounded half away from zero at `decimals`.
    char digits[130];
    memcpy (digits, ip, il);
    size_t keep_frac = decimals < 0 ? fl : (size_t)decimals;
    for (size_t k = 0; k < keep_frac; k++)
        digits[il + k] = k < fl ? fp[k] : '0';
    size_t dl = il + keep_frac;
    if (decimals >= 0 && fl > keep_frac && fp[keep_frac] >= '5') {
        size_t k = dl;
        while (k > 0) {
            k--;
            if (digits[k] == '9')
                digits[k] = '0';
            else {
                digits[k]++;
                break;
            }
            if (k == 0) {
                memmove (digits + 1, digits, dl);
                digits[0] = '1';
                dl++;
                il++;
            }
        }
    }
    //  Strip leading zeros of the integer part, keep one.
    size_t lead = 0;
    while (lead + 1 < il && digits[lead] == '0')
        lead++;
    bool zero = true;
    for (size_t k = lead; k < dl; k++)
        if (digits[k] != '0')
            zero = false;
    char out[140];
    size_t o = 0;
    if (neg && !zero)
        out[o++] = '-';
    memcpy (out + o, digits + lead, il - lead);
    o += il - lead;
    if (dl > il) {
        out[o++] = '.';
        memcpy (out + o, digits + il, dl - il);
        o += dl - il;
    }
    out[o] = 0;
    return strdup (out);
}

static bool
leap (int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
read_int (const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/*  Parses a date (+ optional time) in the given order. Fills y m d and the time part
    (hh mm ss ms, 0 when absent). Returns 0 or -1. */
static int
parse_when (const char *s, size_t n, int order, int *y, int *m, int *d, int *hh, int *mi, int *ss,
            int *ms)
{
    size_t used = 0;
    *hh = *mi = *ss = *ms = 0;
    if (order == TF_DATE_ISO) {
        if (n >= 10 && (s[4] == '-' || s[4] == '/') && s[7] == s[4]) {
            if (read_int (s, 4, y) || read_int (s + 5, 2, m) || read_int (s + 8, 2, d))
                return -1;
            used = 10;
        } else if (n >= 8) {
            if (read_int (s, 4, y) || read_int (s + 4, 2, m) || read_int (s + 6, 2, d))
                return -1;
            used = 8;
        } else
            return -1;
    } else {
        //  D/M/YYYY or M/D/YYYY with 1 or 2 digit day and month, separators / . -
        int a, b;
        size_t i = 0, start = 0;
        while (i < n && i - start < 3 && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || i - start > 2 || read_int (s + start, i - start, &a) || i >= n)
            return -1;
        char sep = s[i];
        if (sep != '/' && sep != '.' && sep != '-')
            return -1;
        start = ++i;
        while (i < n && i - start < 3 && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || i - start > 2 || read_int (s + start, i - start, &b) || i >= n ||
            s[i] != sep)
            return -1;
        start = ++i;
        if (n - start < 4 || read_int (s + start, 4, y))
            return -1;
        used = start + 4;
        *d = order == TF_DATE_DMY ? a : b;
        *m = order == TF_DATE_DMY ? b : a;
    }
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*y < 1700 || *y > 4000 || *m < 1 || *m > 12 || *d < 1 ||
        *d > days[*m - 1] + (*m == 2 && leap (*y)))
        return -1;
    if (used == n)
        return 0;
    if (s[used] != ' ' && s[used] != 'T')
        return -1;
    const char *t = s + used + 1;
    size_t tn = n - used - 1;
    if (tn > 0 && t[tn - 1] == 'Z')
        tn--;
    //  HH:MM[:SS[.f...]]
    if (tn < 5 || t[2] != ':' || read_int (t, 2, hh) || read_int (t + 3, 2, mi))
        return -1;
    size_t k = 5;
    if (tn > k) {
        if (t[k] != ':' || tn < k + 3 || read_int (t + k + 1, 2, ss))
            return -1;
        k += 3;
        if (tn > k) {
            if (t[k] != '.' || tn == k + 1)
                return -1;
            int frac = 0, digits = 0;
            for (size_t j = k + 1; j < tn; j++) {
                if (t[j] < '0' || t[j] > '9')
                    return -1;
                if (digits < 3) {
                    frac = frac * 10 + (t[j] - '0');
                    digits++;
                }
            }
            while (digits++ < 3)
                frac *= 10;
            *ms = frac;
        }
    }
    if (*hh > 23 || *mi > 59 || *ss > 59)
        return -1;
    return 0;
}

static char *
op_date (const char *v, int order, bool with_time, char *err, size_t cap)
{
    char q[64];
    size_t n;
    const char *s = trimmed (v, &n);
    if (n == 0)
        return strdup ("");
    int y, m, d, hh, mi, ss, ms;
    if (n > 40 || parse_when (s, n, order, &y, &m, &d, &hh, &mi, &ss, &ms))
        return errf (err, cap, "%s: '%s' is not a valid %s", with_time ? "datetime" : "date",
                     quote (v, q, sizeof q),
                     order == TF_DATE_DMY   ? "DD/MM/YYYY date"
                     : order == TF_DATE_MDY ? "MM/DD/YYYY date"
                                            : "date (YYYY-MM-DD[ HH:MM:SS[.fff]])");
    char out[96];
    if (with_time)
        snprintf (out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, hh, mi, ss, ms);
    else
        snprintf (out, sizeof out, "%04d-%02d-%02d", y, m, d);
    return strdup (out);
}

static char *
op_boolean (const char *v, char *err, size_t cap)
{
    static const char *const yes[] = {"1", "y", "yes", "t", "true", NULL};
    static const char *const no[] = {"0", "n", "no", "f", "false", NULL};
    char q[64];
    size_t n;
    const char *s = trimmed (v, &n);
    if (n == 0)
        return strdup ("");
    for (size_t i = 0; yes[i]; i++)
        if (strlen (yes[i]) == n && strncasecmp (s, yes[i], n) == 0)
            return strdup ("true");
    for (size_t i = 0; no[i]; i++)
        if (strlen (no[i]) == n && strncasecmp (s, no[i], n) == 0)
            return strdup ("false");
    return errf (err, cap, "boolean: '%s' is not one of 1/0, Y/N, T/F, true/false, yes/no",
                 quote (v, q, sizeof q));
}

static char *
op_name_part (const char *v, bool first)
{
    size_t n;
    const char *s = trimmed (v, &n);
    size_t cut = n;
    while (cut > 0 && !is_space (s[cut - 1]))
        cut--;
    if (!first)
        return strndup (s + cut, n - cut);
    //  All words but the last, trailing space removed.
    size_t end = cut;
    while (end > 0 && is_space (s[end - 1]))
        end--;
    return strndup (s, end);
}

static char *
op_normalize (const char *v)
{
    char *out = malloc (strlen (v) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    bool gap = false;
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool keep =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
        if (!keep) {
            gap = true;
            continue;
        }
        if (gap && n)
            out[n++] = ' ';
        gap = false;
        out[n++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    out[n] = 0;
    return out;
}

char *
tf_transform_op (const tf_op_t *op, const tf_field_t *field, const char *value, char *err,
                 size_t err_cap)
{
    char q[64];
    size_t n;
    const char *s;
    switch (op->kind) {
    case TF_OP_TRIM:
        s = trimmed (value, &n);
        return strndup (s, n);
    case TF_OP_UPPER:
        return op_case (value, 0);
    case TF_OP_LOWER:
        return op_case (value, 1);
    case TF_OP_TITLE:
        return op_case (value, 2);
    case TF_OP_TRUNCATE:
        return op_truncate (value, op->arg);
    case TF_OP_NUMBER:
        return op_number (value, op->arg, err, err_cap);
    case TF_OP_DATE:
        return op_date (value, op->arg, false, err, err_cap);
    case TF_OP_DATETIME:
        return op_date (value, TF_DATE_ISO, true, err, err_cap);
    case TF_OP_BOOLEAN:
        return op_boolean (value, err, err_cap);
    case TF_OP_FIRST_NAME:
        return op_name_part (value, true);
    case TF_OP_LAST_NAME:
        return op_name_part (value, false);
    case TF_OP_NORMALIZE:
        return op_normalize (value);
    case TF_OP_LOOKUP:
        if (!field)
            return errf (err, err_cap, "lookup: no table");
        for (size_t i = 0; i < field->lookup_count; i++)
            if (strcmp (field->lookup_keys[i], value) == 0)
                return strdup (field->lookup_values[i]);
        if (*value == 0 || field->lookup_miss == TF_MISS_KEEP)
            return strdup (value);
        if (field->lookup_miss == TF_MISS_EMPTY)
            return strdup ("");
        return errf (err, err_cap, "lookup has no entry for '%s'", quote (value, q, sizeof q));
    }
    return errf (err, err_cap, "unknown transform");
}

//  --------------------------------------------------------------------------
//  Templates and conditions

/*  The value of a placeholder: tenant, entity, key, or a source property ("" if absent). */
static const char *
placeholder (const cm_envelope_t *env, const char *name)
{
    if (strcmp (name, "tenant") == 0)
        return env->tenant ? env->tenant : "";
    if (strcmp (name, "entity") == 0)
        return env->entity ? env->entity : "";
    if (strcmp (name, "key") == 0)
        return env->key ? env->key : "";
    const char *v = cm_envelope_field (env, name);
    return v ? v : "";
}

/*  The value of placeholder part p: the trimmed source value through the placeholder's
    transforms. Returns a malloc'd string, or NULL with a reason in err ("" = out of
    memory). */
static char *
part_value (const tf_tpart_t *p, const cm_envelope_t *env, char *err, size_t err_cap)
{
    size_t n;
    const char *v = trimmed (placeholder (env, p->text), &n);
    char *value = strndup (v, n);
    err[0] = 0;
    for (size_t i = 0; value && i < p->op_count; i++) {
        char *next = tf_transform_op (&p->ops[i], NULL, value, err, err_cap);
        free (value);
        value = next;
    }
    return value;
}

/*  Renders a value template: placeholders trimmed and transformed; empty ones dropped
    together with the separator after them, so "{A}\n{B}" with A empty is just B. The text
    before the first and after the last placeholder appears when any placeholder has a
    value. Returns a malloc'd string, or NULL with a reason in err ("" = out of memory or
    too long). */
static char *
render_value (const tf_template_t *t, const cm_envelope_t *env, char *err, size_t err_cap)
{
    sbuf_t body = {0};
    size_t first = t->count, last = 0;
    for (size_t i = 0; i < t->count; i++)
        if (t->parts[i].is_field) {
            if (first == t->count)
                first = i;
            last = i;
        }
    bool any = false;
    const char *sep = ""; //  literal after the last emitted value
    for (size_t i = first; i <= last && i < t->count; i++) {
        const tf_tpart_t *p = &t->parts[i];
        if (!p->is_field)
            continue;
        char *v = part_value (p, env, err, err_cap);
        if (!v) {
            free (body.buf);
            return NULL;
        }
        if (*v) {
            if (any)
                sbuf_add (&body, sep, strlen (sep));
            sbuf_add (&body, v, strlen (v));
            any = true;
            sep = i + 1 < t->count && !t->parts[i + 1].is_field ? t->parts[i + 1].text : "";
        }
        free (v);
    }
    err[0] = 0;
    if (!any) {
        free (body.buf);
        return body.bad ? NULL : strdup ("");
    }
    sbuf_t out = {0};
    if (first > 0)
        sbuf_add (&out, t->parts[0].text, strlen (t->parts[0].text));
    sbuf_add (&out, body.buf, body.len);
    if (last + 1 < t->count)
        sbuf_add (&out, t->parts[last + 1].text, strlen (t->parts[last + 1].text));
    free (body.buf);
    if (body.bad)
        out.bad = true;
    return sbuf_take (&out);
}

/*  Renders a key template strictly: every placeholder must have a value. Returns 0 with a
    malloc'd key; 1 with the first empty placeholder in *missing; 2 with a transform
    failure in err; -1 when out of memory. */
static int
render_key (const tf_template_t *t, const cm_envelope_t *env, char **key, const char **missing,
            char *err, size_t err_cap)
{
    sbuf_t out = {0};
    *key = NULL;
    for (size_t i = 0; i < t->count; i++) {
        const tf_tpart_t *p = &t->parts[i];
        if (!p->is_field) {
            sbuf_add (&out, p->text, strlen (p->text));
            continue;
        }
        char *v = part_value (p, env, err, err_cap);
        if (!v || !*v) {
            free (out.buf);
            if (v) {
                free (v);
                *missing = p->text;
                return 1;
            }
            return err[0] ? 2 : -1;
        }
        sbuf_add (&out, v, strlen (v));
        free (v);
    }
    *key = sbuf_take (&out);
    return *key ? 0 : -1;
}

static bool
parse_double (const char *s, double *out)
{
    size_t n;
    const char *t = trimmed (s, &n);
    if (n == 0 || n > 60)
        return false;
    char buf[64];
    memcpy (buf, t, n);
    buf[n] = 0;
    char *end = NULL;
    *out = strtod (buf, &end);
    return end && *end == 0;
}

static bool
cond_eval (const tf_cond_t *c, const cm_envelope_t *env)
{
    size_t n = 0;
    const char *v = c->field ? trimmed (placeholder (env, c->field), &n) : "";
    double x;
    switch (c->kind) {
    case TF_COND_EQ:
    case TF_COND_NE: {
        bool eq = strlen (c->values[0]) == n && memcmp (c->values[0], v, n) == 0;
        return c->kind == TF_COND_EQ ? eq : !eq;
    }
    case TF_COND_IN:
        for (size_t i = 0; i < c->value_count; i++)
            if (strlen (c->values[i]) == n && memcmp (c->values[i], v, n) == 0)
                return true;
        return false;
    case TF_COND_EMPTY:
        return (n == 0) == c->flag;
    case TF_COND_GT:
        return parse_double (v, &x) && x > c->number;
    case TF_COND_GE:
        return parse_double (v, &x) && x >= c->number;
    case TF_COND_LT:
        return parse_double (v, &x) && x < c->number;
    case TF_COND_LE:
        return parse_double (v, &x) && x <= c->number;
    case TF_COND_ALL:
        for (size_t i = 0; i < c->kid_count; i++)
            if (!cond_eval (&c->kids[i], env))
                return false;
        return true;
    case TF_COND_ANY:
        for (size_t i = 0; i < c->kid_count; i++)
            if (cond_eval (&c->kids[i], env))
                return true;
        return false;
    case TF_COND_NOT:
        return !cond_eval (&c->kids[0], env);
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Applying a route

static tf_status_t reject (tf_result_t *r, const char *code, const char *field, const char *fmt,
                           ...) __attribute__ ((format (printf, 4, 5)));

static tf_status_t
reject (tf_result_t *r, const char *code, const char *field, const char *fmt, ...)
{
    snprintf (r->code, sizeof r->code, "%s", code);
    snprintf (r->field, sizeof r->field, "%s", field ? field : "");
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (r->reason, sizeof r->reason, fmt, ap);
    va_end (ap);
    r->retryable = strcmp (code, "MAPPING_INTERNAL") == 0;
    return TF_REJECT;
}

static tf_status_t
oom (tf_result_t *r)
{
    return reject (r, "MAPPING_INTERNAL", NULL, "out of memory or value over %d bytes",
                   CM_ENVELOPE_MAX_STR);
}

/*  "source Name", "template '{A} {B}'", "const", for reasons. */
static const char *
source_label (const tf_field_t *f, char *out, size_t cap)
{
    switch (f->src) {
    case TF_SRC_FROM:
        snprintf (out, cap, "source %s", f->from);
        break;
    case TF_SRC_TARGET:
        snprintf (out, cap, "target %s", f->from);
        break;
    case TF_SRC_TEMPLATE:
    case TF_SRC_PARENT:
        snprintf (out, cap, "template '%.100s'", f->tmpl.source);
        break;
    case TF_SRC_CONST:
        snprintf (out, cap, "const");
        break;
    }
    return out;
}

/*  Everything one route application needs. */
typedef struct {
    const tf_route_t *route;    /* the route taken */
    const cm_envelope_t *env;   /* the source record */
    const tf_memory_ops_t *mem; /* memory or NULL */
    const char *ext_id;         /* the record's external ID */
    cJSON *obj;                 /* the payload being built */
    tf_result_t *r;             /* outcome */
} run_t;

static tf_status_t
apply_parent (run_t *run, const tf_field_t *f)
{
    char label[160], err[256];
    tf_result_t *r = run->r;
    char *key = NULL;
    const char *missing = NULL;
    int rc = render_key (&f->tmpl, run->env, &key, &missing, err, sizeof err);
    if (rc < 0)
        return oom (r);
    if (rc == 2)
        return reject (r, "MAPPING_TRANSFORM_FAILED", f->to, "field %s: %s (%s)", f->to, err,
                       source_label (f, label, sizeof label));
    if (rc == 1) {
        if (!f->required)
            return TF_OK;
        return reject (r, "MAPPING_REQUIRED_FIELD", f->to,
                       "field %s: parent key incomplete, {%s} is empty (%s)", f->to, missing,
                       source_label (f, label, sizeof label));
    }
    if (run->mem && run->mem->resolve && f->parent_may_be_alias) {
        char *alias = NULL;
        if (run->mem->resolve (run->mem->arg, f->parent_sobject, key, &alias)) {
            free (key);
            return reject (r, "MAPPING_INTERNAL", f->to, "field %s: the memory failed", f->to);
        }
        if (alias) {
            free (key);
            key = alias;
        }
    }
    if (strlen (key) > TF_MAX_KEY || !cm_utf8_valid (key, strlen (key))) {
        free (key);
        return reject (r, "MAPPING_TRANSFORM_FAILED", f->to,
                       "field %s: parent key is over %d characters or not UTF-8", f->to,
                       TF_MAX_KEY);
    }
    //  The relationship, sObject and external-ID field the reference is written with: the
    //  rule's own, or an alternative's when the memory knows the parent was sent as that
    //  sObject (an individual customer sent as a Contact: Contact__r instead of Account__r).
    const char *to = f->to, *sobject = f->parent_sobject, *field = f->parent_field;
    bool typed = f->parent_typed;
    if (run->mem && run->mem->sobject_of) {
        char *kind = NULL;
        if (run->mem->sobject_of (run->mem->arg, key, &kind)) {
            free (key);
            return reject (r, "MAPPING_INTERNAL", f->to, "field %s: the memory failed", f->to);
        }
        if (!kind && f->parent_alt_count && run->env->attempt < TF_DEFER_ATTEMPTS) {
            //  Which relationship holds the reference depends on what the parent was sent
            //  as, and its record has not been mapped yet (it was lost with a stopped
            //  transformer, or is still queued): wait for the lease to deliver this record
            //  again rather than guess.
            snprintf (r->code, sizeof r->code, "TRF_PARENT_PENDING");
            snprintf (r->field, sizeof r->field, "%s", f->to);
            snprintf (r->reason, sizeof r->reason,
                      "field %s: parent %s has not been mapped yet (attempt %u of %d)", f->to, key,
                      (unsigned)run->env->attempt, TF_DEFER_ATTEMPTS);
            free (key);
            return TF_DEFER;
        }
        if (kind && strcmp (kind, f->parent_sobject) != 0) {
            const tf_parent_alt_t *alt = NULL;
            for (size_t i = 0; i < f->parent_alt_count && !alt; i++)
                if (strcmp (kind, f->parent_alts[i].sobject) == 0)
                    alt = &f->parent_alts[i];
            if (!alt) {
                //  A parent known to be a type this rule cannot refer to can never be
                //  found: reject here with the reason instead of failing at Salesforce.
                char also[160] = "";
                size_t n = 0;
                for (size_t i = 0; i < f->parent_alt_count && n < sizeof also; i++)
                    n += (size_t)snprintf (also + n, sizeof also - n, " or %s",
                                           f->parent_alts[i].sobject);
                tf_status_t st =
                    reject (r, "MAPPING_PARENT_TYPE", f->to,
                            "field %s: parent %s was sent as sObject %s, not %s%s (%s)", f->to, key,
                            kind, f->parent_sobject, also, source_label (f, label, sizeof label));
                free (kind);
                free (key);
                return st;
            }
            to = alt->to;
            sobject = alt->sobject;
            field = alt->field;
            typed = alt->typed;
        }
        free (kind);
    }
    cJSON *ref = cJSON_AddObjectToObject (run->obj, to);
    cJSON *attrs = ref && typed ? cJSON_AddObjectToObject (ref, "attributes") : NULL;
    bool ok = ref && (!typed || (attrs && cJSON_AddStringToObject (attrs, "type", sobject))) &&
              cJSON_AddStringToObject (ref, field, key);
    free (key);
    return ok ? TF_OK : oom (r);
}

/*  Computes one field into the payload. */
static tf_status_t
apply_field (run_t *run, const tf_field_t *f)
{
    char label[160], err[256];
    tf_result_t *r = run->r;
    if (f->src == TF_SRC_PARENT)
        return apply_parent (run, f);

    char *value = NULL;
    err[0] = 0;
    switch (f->src) {
    case TF_SRC_FROM: {
        const char *v = cm_envelope_field (run->env, f->from);
        value = strdup (v ? v : "");
        break;
    }
    case TF_SRC_TARGET: {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive (run->obj, f->from);
        value = strdup (cJSON_IsString (v) ? v->valuestring : "");
        break;
    }
    case TF_SRC_TEMPLATE:
        value = render_value (&f->tmpl, run->env, err, sizeof err);
        break;
    default:
        value = strdup (f->const_text);
        break;
    }
    if (!value) {
        if (!err[0])
            return oom (r);
        return reject (r, "MAPPING_TRANSFORM_FAILED", f->to, "field %s: %s (%s)", f->to, err,
                       source_label (f, label, sizeof label));
    }
    if (!cm_utf8_valid (value, strlen (value))) {
        free (value);
        return reject (r, "MAPPING_TRANSFORM_FAILED", f->to, "field %s: not valid UTF-8 (%s)",
                       f->to, source_label (f, label, sizeof label));
    }
    for (size_t i = 0; i < f->op_count; i++) {
        err[0] = 0;
        char *next = tf_transform_op (&f->ops[i], f, value, err, sizeof err);
        free (value);
        value = next;
        if (!value) {
            if (!err[0])
                return oom (r);
            return reject (r, "MAPPING_TRANSFORM_FAILED", f->to, "field %s: %s (%s)", f->to, err,
                           source_label (f, label, sizeof label));
        }
    }
    if (*value == 0 && f->default_text) {
        free (value);
        if (!(value = strdup (f->default_text)))
            return oom (r);
    }
    if (*value && f->merge_union && run->mem && run->mem->merge_union) {
        char *merged = NULL;
        int rc = run->mem->merge_union (run->mem->arg, run->route->sobject, run->ext_id, f->to,
                                        value, &merged);
        free (value);
        if (rc || !merged) {
            free (merged);
            return reject (r, "MAPPING_INTERNAL", f->to, "field %s: the memory failed", f->to);
        }
        value = merged;
    }
    if (*value == 0) {
        free (value);
        if (f->required)
            return reject (r, "MAPPING_REQUIRED_FIELD", f->to, "field %s: required but empty (%s)",
                           f->to, source_label (f, label, sizeof label));
        if (f->omit_empty)
            return TF_OK;
        return cJSON_AddNullToObject (run->obj, f->to) ? TF_OK : oom (r);
    }
    //  Lookup tables, defaults and consts come from the mapping file: check them too.
    if (!cm_utf8_valid (value, strlen (value))) {
        free (value);
        return reject (r, "MAPPING_TRANSFORM_FAILED", f->to, "field %s: not valid UTF-8", f->to);
    }
    cJSON *item;
    if (f->kind == TF_KIND_NUMBER)
        item = cJSON_CreateRaw (value);
    else if (f->kind == TF_KIND_BOOL)
        item = cJSON_CreateBool (strcmp (value, "true") == 0);
    else
        item = cJSON_CreateString (value);
    free (value);
    if (!item || !cJSON_AddItemToObject (run->obj, f->to, item)) {
        cJSON_Delete (item);
        return oom (r);
    }
    return TF_OK;
}

/*  The record's external ID: an alias remembered before, else the owner of its match
    value, else its own key. 0 with a malloc'd *ext_id, or a status to return. */
static int
compute_ext_id (const tf_route_t *route, const cm_envelope_t *env, const tf_memory_ops_t *mem,
                char **ext_id, tf_result_t *r, tf_status_t *status)
{
    char err[256];
    const char *missing = NULL;
    char *own = NULL;
    int rc = render_key (&route->key, env, &own, &missing, err, sizeof err);
    if (rc < 0)
        goto oom;
    if (rc == 2) {
        *status = reject (r, "MAPPING_TRANSFORM_FAILED", route->ext_field,
                          "field %s: key_template: %s", route->ext_field, err);
        return -1;
    }
    if (rc == 1) {
        *status = reject (r, "MAPPING_REQUIRED_FIELD", route->ext_field,
                          "field %s: key incomplete, {%s} is empty (key_template '%.100s')",
                          route->ext_field, missing, route->key.source);
        return -1;
    }
    if (strlen (own) > TF_MAX_KEY || !cm_utf8_valid (own, strlen (own))) {
        free (own);
        *status = reject (r, "MAPPING_TRANSFORM_FAILED", route->ext_field,
                          "field %s: key is over %d characters or not UTF-8", route->ext_field,
                          TF_MAX_KEY);
        return -1;
    }
    if (mem && mem->resolve && route->may_be_alias) {
        char *alias = NULL;
        if (mem->resolve (mem->arg, route->sobject, own, &alias))
            goto memfail;
        if (alias) {
            free (own);
            *ext_id = alias;
            return 0;
        }
    }
    if (mem && mem->match && route->match_key.count) {
        char *match = NULL;
        rc = render_key (&route->match_key, env, &match, &missing, err, sizeof err);
        if (rc < 0)
            goto oom;
        if (rc == 0) {
            char *owner = NULL;
            rc = mem->match (mem->arg, route->sobject, match, env->entity, own, &owner);
            free (match);
            if (rc || !owner) {
                free (owner);
                goto memfail;
            }
            free (own);
            *ext_id = owner;
            return 0;
        }
        //  An incomplete match key (or one whose transform fails) means "no match".
    }
    *ext_id = own;
    return 0;
memfail:
    free (own);
    *status = reject (r, "MAPPING_INTERNAL", route->ext_field, "field %s: the memory failed",
                      route->ext_field);
    return -1;
oom:
    free (own);
    *status = oom (r);
    return -1;
}

tf_status_t
tf_transform_apply (const tf_mapping_t *mapping, cm_envelope_t *env, const tf_memory_ops_t *mem,
                    tf_result_t *result)
{
    memset (result, 0, sizeof *result);
    const tf_entity_t *entity = tf_mapping_entity (mapping, env->entity);
    if (!entity)
        return reject (result, "MAPPING_NO_ENTITY", NULL, "entity '%.60s' is not in the mapping",
                       env->entity ? env->entity : "");
    const tf_route_t *route = NULL;
    for (size_t i = 0; i < entity->route_count && !route; i++)
        if (!entity->routes[i].when || cond_eval (entity->routes[i].when, env))
            route = &entity->routes[i];
    if (!route)
        return reject (result, "MAPPING_NO_ROUTE", NULL, "entity %s: no route matches the record",
                       entity->name);
    snprintf (result->route, sizeof result->route, "%s", route->name);
    if (route->skip)
        return TF_SKIP;

    tf_status_t status = TF_REJECT;
    char *ext_id = NULL, *payload = NULL;
    cJSON *obj = NULL;
    if (compute_ext_id (route, env, mem, &ext_id, result, &status))
        goto out;
    obj = cJSON_CreateObject ();
    if (!obj || !cJSON_AddStringToObject (obj, route->ext_field, ext_id)) {
        status = oom (result);
        goto out;
    }
    run_t run = {route, env, mem, ext_id, obj, result};
    for (size_t i = 0; i < route->field_count; i++) {
        status = apply_field (&run, &route->fields[i]);
        if (status != TF_OK)
            goto out;
    }
    payload = cJSON_PrintUnformatted (obj);
    if (!payload ||
        cm_envelope_set_target (env, route->sobject, route->ext_field, ext_id, payload)) {
        status = oom (result);
        goto out;
    }
    if (mem && mem->remember && route->may_be_parent &&
        mem->remember (mem->arg, ext_id, route->sobject)) {
        status = reject (result, "MAPPING_INTERNAL", route->ext_field,
                         "field %s: the memory failed", route->ext_field);
        result->retryable = true;
        goto out;
    }
    status = TF_OK;
out:
    //  The memory's writes of this record become durable before the record leaves, also
    //  when it is rejected (a claimed match value stays claimed, as without batching).
    if (mem && mem->commit && mem->commit (mem->arg) && status != TF_REJECT) {
        status = reject (result, "MAPPING_INTERNAL", route->ext_field,
                         "field %s: the memory failed", route->ext_field);
        result->retryable = true;
    }
    cJSON_Delete (obj);
    free (payload);
    free (ext_id);
    return status;
}
