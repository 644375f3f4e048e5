/*  The shipped mappings, the simulator's default Salesforce schema and the org set-up
    guide agree:
    - every target field of config/mapping.json and config/mapping-tasks.json exists on
      its sObject in config/salesforce-schema.json with a compatible type: text no longer
      than the field (every text rule must be bounded by truncate:N, a lookup or a
      constant), numbers into number fields, dates into date fields, picklist values that
      the picklist has; external-ID fields are external IDs, unique and long enough for a
      key; parent references use a lookup's relationship name, to the right sObject, by
      its external ID, typed when the lookup is polymorphic; every required field is
      always written;
    - docs/salesforce-setup.md lists every custom field of the schema with its type,
      length, picklist values, lookup target and external-ID/unique flags, lists no field
      the schema lacks, and names every standard field the mappings write.
    The checkers are also run on broken inputs, so this test can fail. Run from the
    repository root (tests/run.sh does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../transformer/tf_mapping.h"
#include "../../transformer/tf_transform.h"

#define UNBOUNDED 1000000000L

//  --------------------------------------------------------------------------
//  Problems are collected as text, one per line

typedef struct {
    char text[16384]; /* the problems */
    size_t len;       /* bytes used */
    int count;        /* number of problems */
} problems_t;

static void problem (problems_t *p, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
problem (problems_t *p, const char *fmt, ...)
{
    p->count++;
    if (p->len + 2 >= sizeof p->text)
        return;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (p->text + p->len, sizeof p->text - p->len - 1, fmt, ap);
    va_end (ap);
    if (n > 0)
        p->len += (size_t)n < sizeof p->text - p->len - 1 ? (size_t)n : sizeof p->text - p->len - 2;
    p->text[p->len++] = '\n';
    p->text[p->len] = 0;
}

static char *
slurp (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        fail_msg ("cannot open %s", path);
    char *buf = malloc (1 << 20);
    assert_non_null (buf);
    size_t n = fread (buf, 1, (1 << 20) - 1, f);
    fclose (f);
    buf[n] = 0;
    return buf;
}

static cJSON *
load_schema (const char *path)
{
    char *text = slurp (path);
    cJSON *schema = cJSON_Parse (text);
    free (text);
    if (!schema)
        fail_msg ("%s: not valid JSON", path);
    return schema;
}

//  --------------------------------------------------------------------------
//  Schema look-ups

static const cJSON *
schema_object (const cJSON *schema, const char *name)
{
    const cJSON *o;
    cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive (schema, "objects"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive (o, "name");
        if (cJSON_IsString (n) && strcmp (n->valuestring, name) == 0)
            return o;
    }
    return NULL;
}

static const cJSON *
schema_field (const cJSON *object, const char *name, const char *by)
{
    const cJSON *f;
    cJSON_ArrayForEach (f, cJSON_GetObjectItemCaseSensitive (object, "fields"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive (f, by);
        if (cJSON_IsString (n) && strcmp (n->valuestring, name) == 0)
            return f;
    }
    return NULL;
}

static const char *
fstr (const cJSON *field, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (field, key);
    return cJSON_IsString (v) ? v->valuestring : "";
}

static bool
fbool (const cJSON *field, const char *key)
{
    return cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (field, key));
}

static long
flength (const cJSON *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (field, "length");
    return cJSON_IsNumber (v) ? (long)v->valuedouble : 0;
}

static bool
has_value (const cJSON *field, const char *key, const char *value)
{
    const cJSON *v;
    cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive (field, key))
    {
        if (cJSON_IsString (v) && strcmp (v->valuestring, value) == 0)
            return true;
    }
    return false;
}

static bool
is_text_type (const char *type)
{
    return !strcmp (type, "string") || !strcmp (type, "textarea") || !strcmp (type, "phone") ||
           !strcmp (type, "email") || !strcmp (type, "url");
}

static bool
is_number_type (const char *type)
{
    return !strcmp (type, "currency") || !strcmp (type, "double") || !strcmp (type, "percent") ||
           !strcmp (type, "int");
}

static long
utf8_chars (const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

//  --------------------------------------------------------------------------
//  What a field rule can produce

/*  The longest text the rule can produce (UNBOUNDED when nothing bounds it), and the
    kind of value the last shaping step gives: 'd' date, 't' datetime, 0 text. */
static long
rule_bound (const tf_field_t *f, char *shape)
{
    long bound = UNBOUNDED;
    *shape = 0;
    if (f->src == TF_SRC_CONST)
        bound = utf8_chars (f->const_text);
    long lookup_max = 0;
    for (size_t i = 0; i < f->lookup_count; i++)
        if (utf8_chars (f->lookup_values[i]) > lookup_max)
            lookup_max = utf8_chars (f->lookup_values[i]);
    bool lookup_done = false;
    for (size_t i = 0; i < f->op_count; i++) {
        switch (f->ops[i].kind) {
        case TF_OP_TRUNCATE:
            if (f->ops[i].arg < bound)
                bound = f->ops[i].arg;
            break;
        case TF_OP_DATE:
            bound = 10;
            *shape = 'd';
            break;
        case TF_OP_DATETIME:
            bound = 24;
            *shape = 't';
            break;
        case TF_OP_LOOKUP:
            bound = f->lookup_miss == TF_MISS_KEEP ? (bound > lookup_max ? bound : lookup_max)
                                                   : lookup_max;
            *shape = 0;
            lookup_done = true;
            break;
        default:
            //  trim, case, names and normalize never make text longer.
            break;
        }
    }
    if (f->lookup_count && !lookup_done) {
        bound =
            f->lookup_miss == TF_MISS_KEEP ? (bound > lookup_max ? bound : lookup_max) : lookup_max;
        *shape = 0;
    }
    if (f->default_text && utf8_chars (f->default_text) > bound)
        bound = utf8_chars (f->default_text);
    return bound;
}

/*  Every picklist value the rule can send must be one of the field's values. */
static void
check_picklist (problems_t *p, const char *where, const tf_field_t *f, const cJSON *sf)
{
    bool multi = strcmp (fstr (sf, "type"), "multipicklist") == 0;
    if (f->src == TF_SRC_CONST) {
        char *copy = strdup (f->const_text);
        char *save = NULL;
        for (char *v = strtok_r (copy, multi ? ";" : "", &save); v;
             v = strtok_r (NULL, multi ? ";" : "", &save))
            if (!has_value (sf, "values", v))
                problem (p, "%s: constant '%s' is not a value of the picklist", where, v);
        free (copy);
    } else if (f->lookup_count == 0)
        problem (p, "%s: free text into a picklist (map it with a lookup)", where);
    else if (f->lookup_miss == TF_MISS_KEEP)
        problem (p, "%s: lookup_miss keep can send values the picklist lacks", where);
    for (size_t i = 0; i < f->lookup_count; i++)
        if (!has_value (sf, "values", f->lookup_values[i]))
            problem (p, "%s: lookup value '%s' is not a value of the picklist", where,
                     f->lookup_values[i]);
    if (f->default_text && !has_value (sf, "values", f->default_text))
        problem (p, "%s: default '%s' is not a value of the picklist", where, f->default_text);
    if (f->merge_union && !multi)
        problem (p, "%s: merge union needs a multi-select picklist", where);
}

/*  One parent reference: relationship `to` refers to sobject by its external ID field. */
static void
check_ref (problems_t *p, const char *where, const char *to, const char *sobject, const char *field,
           bool typed, const cJSON *object, const cJSON *schema)
{
    const cJSON *ref = schema_field (object, to, "relationshipName");
    if (!ref || strcmp (fstr (ref, "type"), "reference") != 0) {
        problem (p, "%s: no lookup with relationship name '%s'", where, to);
        return;
    }
    if (!has_value (ref, "referenceTo", sobject))
        problem (p, "%s: lookup %s does not refer to %s", where, fstr (ref, "name"), sobject);
    bool polymorphic =
        cJSON_GetArraySize (cJSON_GetObjectItemCaseSensitive (ref, "referenceTo")) > 1;
    if (polymorphic && !typed)
        problem (p, "%s: lookup %s is polymorphic: the reference needs \"typed\": true", where,
                 fstr (ref, "name"));
    const cJSON *parent = schema_object (schema, sobject);
    const cJSON *pf = parent ? schema_field (parent, field, "name") : NULL;
    if (!pf || !fbool (pf, "externalId"))
        problem (p, "%s: %s.%s is not an external ID", where, sobject, field);
}

/*  A parent rule and each of its alternatives (Contact__r for an individual's invoice). */
static void
check_parent (problems_t *p, const char *where, const tf_field_t *f, const cJSON *object,
              const cJSON *schema)
{
    check_ref (p, where, f->to, f->parent_sobject, f->parent_field, f->parent_typed, object,
               schema);
    for (size_t i = 0; i < f->parent_alt_count; i++) {
        const tf_parent_alt_t *alt = &f->parent_alts[i];
        char w[512];
        snprintf (w, sizeof w, "%s (alternative %s)", where, alt->to);
        check_ref (p, w, alt->to, alt->sobject, alt->field, alt->typed, object, schema);
        //  The reference is one or the other: neither lookup may be required.
        const cJSON *a = schema_field (object, f->to, "relationshipName");
        const cJSON *b = schema_field (object, alt->to, "relationshipName");
        if ((a && fbool (a, "required")) || (b && fbool (b, "required")))
            problem (p,
                     "%s: lookups %s and %s hold one reference or the other, so neither may "
                     "be required",
                     where, f->to, alt->to);
    }
}

static void
check_rule (problems_t *p, const char *where, const tf_field_t *f, const cJSON *object,
            const cJSON *schema)
{
    if (f->src == TF_SRC_PARENT) {
        check_parent (p, where, f, object, schema);
        return;
    }
    const cJSON *sf = schema_field (object, f->to, "name");
    if (!sf) {
        problem (p, "%s: no such field in the schema", where);
        return;
    }
    const char *type = fstr (sf, "type");
    char shape;
    long bound = rule_bound (f, &shape);
    if (f->kind == TF_KIND_NUMBER) {
        if (!is_number_type (type))
            problem (p, "%s: a number into a %s field", where, type);
        return;
    }
    if (f->kind == TF_KIND_BOOL) {
        if (strcmp (type, "boolean") != 0)
            problem (p, "%s: a boolean into a %s field", where, type);
        return;
    }
    if (!strcmp (type, "date") || !strcmp (type, "datetime")) {
        char expected = strcmp (type, "date") == 0 ? 'd' : 't';
        if (shape != expected)
            problem (p, "%s: a %s field needs the %s transform last", where, type, type);
        return;
    }
    if (shape)
        problem (p, "%s: a date into a %s field", where, type);
    if (!strcmp (type, "picklist") || !strcmp (type, "multipicklist")) {
        check_picklist (p, where, f, sf);
        return;
    }
    if (!is_text_type (type)) {
        problem (p, "%s: text into a %s field", where, type);
        return;
    }
    if (bound == UNBOUNDED)
        problem (p, "%s: unbounded text into %s(%ld): add truncate:%ld", where, type, flength (sf),
                 flength (sf));
    else if (bound > flength (sf))
        problem (p, "%s: up to %ld characters into %s(%ld)", where, bound, type, flength (sf));
}

/*  Checks every route of the mapping against the schema. */
static void
check_mapping (problems_t *p, const char *name, const tf_mapping_t *m, const cJSON *schema)
{
    for (size_t e = 0; e < tf_mapping_entity_count (m); e++) {
        const tf_entity_t *ent = tf_mapping_entity_at (m, e);
        for (size_t r = 0; r < ent->route_count; r++) {
            const tf_route_t *route = &ent->routes[r];
            char where[256];
            if (route->skip)
                continue;
            snprintf (where, sizeof where, "%s: %s%s%s -> %s", name, ent->name,
                      route->name[0] ? "/" : "", route->name, route->sobject);
            const cJSON *object = schema_object (schema, route->sobject);
            if (!object) {
                problem (p, "%s: no such sObject in the schema", where);
                continue;
            }
            const cJSON *ext = schema_field (object, route->ext_field, "name");
            if (!ext || !fbool (ext, "externalId") || !fbool (ext, "unique") ||
                strcmp (fstr (ext, "type"), "string") != 0 || flength (ext) < TF_MAX_KEY)
                problem (p, "%s: %s must be a unique text external ID of %d characters", where,
                         route->ext_field, TF_MAX_KEY);
            for (size_t i = 0; i < route->field_count; i++) {
                char fw[400];
                snprintf (fw, sizeof fw, "%s.%s", where, route->fields[i].to);
                check_rule (p, fw, &route->fields[i], object, schema);
            }
            //  Every required field is always written.
            const cJSON *sf;
            cJSON_ArrayForEach (sf, cJSON_GetObjectItemCaseSensitive (object, "fields"))
            {
                if (!fbool (sf, "required"))
                    continue;
                bool is_ref = strcmp (fstr (sf, "type"), "reference") == 0;
                const char *to = is_ref ? fstr (sf, "relationshipName") : fstr (sf, "name");
                bool ok = false;
                for (size_t i = 0; i < route->field_count; i++) {
                    const tf_field_t *f = &route->fields[i];
                    if (strcmp (f->to, to) == 0 &&
                        (f->required || f->src == TF_SRC_CONST || f->default_text))
                        ok = true;
                }
                if (!ok)
                    problem (p,
                             "%s: required field %s is not always written (mark the rule "
                             "required)",
                             where, fstr (sf, "name"));
            }
        }
    }
}

//  --------------------------------------------------------------------------
//  The set-up guide

/*  The section of doc for object (from its "## " heading to the next one), as a malloc'd
    string, or NULL. A heading names the object as "## N. Object" or with "(`Object`)". */
static char *
doc_section (const char *doc, const char *object)
{
    char tick[128];
    snprintf (tick, sizeof tick, "(`%s`)", object);
    for (const char *line = doc; line && *line;) {
        const char *eol = strchr (line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen (line);
        if (n > 3 && strncmp (line, "## ", 3) == 0) {
            char head[256];
            snprintf (head, sizeof head, "%.*s", (int)(n < 255 ? n : 255), line);
            const char *title = strchr (head, '.');
            title = title ? title + 1 : head + 3;
            while (*title == ' ')
                title++;
            size_t ol = strlen (object);
            bool named =
                strstr (head, tick) || (strncmp (title, object, ol) == 0 &&
                                        (title[ol] == 0 || title[ol] == ' ' || title[ol] == '('));
            if (named) {
                const char *end = eol ? strstr (eol, "\n## ") : NULL;
                size_t len = end ? (size_t)(end - line) : strlen (line);
                return strndup (line, len);
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/*  The table row of field in section ("| `Field` | ..."), as a malloc'd line, or NULL. */
static char *
doc_row (const char *section, const char *field)
{
    char start[160];
    snprintf (start, sizeof start, "| `%s` |", field);
    for (const char *line = section; line && *line;) {
        const char *eol = strchr (line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen (line);
        if (strncmp (line, start, strlen (start)) == 0)
            return strndup (line, n);
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static void
need (problems_t *p, const char *where, const char *row, const char *text)
{
    if (!strstr (row, text))
        problem (p, "%s: the row lacks \"%s\"", where, text);
}

/*  Every custom field of the schema is documented as it is; nothing else is. */
static void
check_doc (problems_t *p, const char *doc, const cJSON *schema)
{
    const cJSON *o;
    cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive (schema, "objects"))
    {
        const char *oname = fstr (o, "name");
        char *section = doc_section (doc, oname);
        if (!section) {
            problem (p, "setup guide: no section for %s", oname);
            continue;
        }
        bool custom_object = strstr (oname, "__c") != NULL;
        const cJSON *sf;
        cJSON_ArrayForEach (sf, cJSON_GetObjectItemCaseSensitive (o, "fields"))
        {
            const char *fname = fstr (sf, "name");
            bool custom = strstr (fname, "__c") != NULL;
            if (!custom && !(custom_object && strcmp (fname, "Name") == 0))
                continue;
            char where[200], text[200];
            snprintf (where, sizeof where, "setup guide: %s.%s", oname, fname);
            char *row = doc_row (section, fname);
            if (!row) {
                problem (p, "%s: no table row", where);
                continue;
            }
            const char *type = fstr (sf, "type");
            if (!strcmp (type, "string")) {
                snprintf (text, sizeof text, "Text(%ld)", flength (sf));
                need (p, where, row, text);
            } else if (!strcmp (type, "picklist") || !strcmp (type, "multipicklist")) {
                need (p, where, row,
                      !strcmp (type, "picklist") ? "| Picklist |" : "| Picklist (Multi-Select) |");
                const cJSON *v;
                cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive (sf, "values"))
                {
                    snprintf (text, sizeof text, "`%s`", cJSON_IsString (v) ? v->valuestring : "");
                    need (p, where, row, text);
                }
                if (fbool (sf, "restricted"))
                    need (p, where, row, "Restrict");
            } else if (!strcmp (type, "reference")) {
                const cJSON *v;
                cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive (sf, "referenceTo"))
                {
                    snprintf (text, sizeof text, "Lookup Relationship(%s)",
                              cJSON_IsString (v) ? v->valuestring : "");
                    need (p, where, row, text);
                }
                snprintf (text, sizeof text, "`%s`", fstr (sf, "relationshipName"));
                need (p, where, row, text);
                if (fbool (sf, "required"))
                    need (p, where, row, "**Required**");
            } else if (!strcmp (type, "currency"))
                need (p, where, row, "| Currency(");
            else if (!strcmp (type, "date"))
                need (p, where, row, "| Date |");
            else
                problem (p, "%s: type %s has no documented form in this test", where, type);
            if (fbool (sf, "externalId"))
                need (p, where, row, "**External ID**");
            if (fbool (sf, "unique"))
                need (p, where, row, "**Unique**");
            free (row);
        }
        //  No documented custom field that the schema lacks.
        for (const char *line = section; line && *line;) {
            const char *eol = strchr (line, '\n');
            if (strncmp (line, "| `", 3) == 0) {
                const char *end = strchr (line + 3, '`');
                if (end && end - line - 3 < 100) {
                    char fname[128];
                    snprintf (fname, sizeof fname, "%.*s", (int)(end - line - 3), line + 3);
                    if (strstr (fname, "__c") && !schema_field (o, fname, "name"))
                        problem (p, "setup guide: %s.%s is documented but not in the schema", oname,
                                 fname);
                }
            }
            line = eol ? eol + 1 : NULL;
        }
        free (section);
    }
}

/*  Every field the mapping writes is named in its object's section of the guide, and
    every value a standard picklist gets from a lookup is listed there. */
static void
check_doc_names_mapping (problems_t *p, const char *doc, const char *name, const tf_mapping_t *m,
                         const cJSON *schema)
{
    for (size_t e = 0; e < tf_mapping_entity_count (m); e++) {
        const tf_entity_t *ent = tf_mapping_entity_at (m, e);
        for (size_t r = 0; r < ent->route_count; r++) {
            const tf_route_t *route = &ent->routes[r];
            if (route->skip)
                continue;
            char *section = doc_section (doc, route->sobject);
            if (!section) {
                problem (p, "setup guide: no section for %s (%s)", route->sobject, name);
                continue;
            }
            const cJSON *object = schema_object (schema, route->sobject);
            for (size_t i = 0; i < route->field_count; i++) {
                const tf_field_t *f = &route->fields[i];
                char text[160];
                const char *fname = f->to;
                if (f->src == TF_SRC_PARENT && object) {
                    const cJSON *ref = schema_field (object, f->to, "relationshipName");
                    if (ref && !strstr (fstr (ref, "name"), "__c"))
                        fname = fstr (ref, "name"); //  AccountId, WhatId
                }
                snprintf (text, sizeof text, "`%s`", fname);
                if (!strstr (section, text))
                    problem (p, "setup guide: %s.%s (written by %s) is not named", route->sobject,
                             fname, name);
                for (size_t a = 0; f->src == TF_SRC_PARENT && object && a < f->parent_alt_count;
                     a++) {
                    const cJSON *ref =
                        schema_field (object, f->parent_alts[a].to, "relationshipName");
                    snprintf (text, sizeof text, "`%s`",
                              ref ? fstr (ref, "name") : f->parent_alts[a].to);
                    if (!strstr (section, text))
                        problem (p, "setup guide: %s.%s (written by %s) is not named",
                                 route->sobject, text, name);
                }
                if (!strstr (f->to, "__c") && f->lookup_count) {
                    const cJSON *sf = object ? schema_field (object, f->to, "name") : NULL;
                    if (sf && !strcmp (fstr (sf, "type"), "picklist"))
                        for (size_t k = 0; k < f->lookup_count; k++) {
                            snprintf (text, sizeof text, "`%s`", f->lookup_values[k]);
                            if (!strstr (section, text))
                                problem (p, "setup guide: %s.%s value %s (from %s) is not named",
                                         route->sobject, f->to, text, name);
                        }
                }
            }
            free (section);
        }
    }
}

//  --------------------------------------------------------------------------
//  Tests

/*  A malloc'd copy of text with the first `from` replaced by `to` (which must occur). */
static char *
replace_once (const char *text, const char *from, const char *to)
{
    const char *at = strstr (text, from);
    if (!at)
        fail_msg ("'%s' is not in the text", from);
    size_t head = (size_t)(at - text);
    char *out = malloc (strlen (text) - strlen (from) + strlen (to) + 1);
    assert_non_null (out);
    memcpy (out, text, head);
    strcpy (out + head, to);
    strcat (out, at + strlen (from));
    return out;
}

static tf_mapping_t *
load_mapping (const char *path)
{
    char err[512];
    tf_mapping_t *m = tf_mapping_load (path, err, sizeof err);
    if (!m)
        fail_msg ("%s: %s", path, err);
    return m;
}

static void
test_mappings_match_schema (void **state)
{
    cJSON *schema = load_schema ("config/salesforce-schema.json");
    const char *files[] = {"config/mapping.json", "config/mapping-tasks.json"};
    for (size_t i = 0; i < 2; i++) {
        tf_mapping_t *m = load_mapping (files[i]);
        problems_t p = {.len = 0, .count = 0};
        p.text[0] = 0;
        check_mapping (&p, files[i], m, schema);
        if (p.count)
            fail_msg ("%d problems:\n%s", p.count, p.text);
        tf_mapping_destroy (&m);
    }
    cJSON_Delete (schema);
}

static void
test_setup_guide_matches (void **state)
{
    cJSON *schema = load_schema ("config/salesforce-schema.json");
    char *doc = slurp ("docs/salesforce-setup.md");
    problems_t p = {.len = 0, .count = 0};
    p.text[0] = 0;
    check_doc (&p, doc, schema);
    const char *files[] = {"config/mapping.json", "config/mapping-tasks.json"};
    for (size_t i = 0; i < 2; i++) {
        tf_mapping_t *m = load_mapping (files[i]);
        check_doc_names_mapping (&p, doc, files[i], m, schema);
        tf_mapping_destroy (&m);
    }
    if (p.count)
        fail_msg ("%d problems:\n%s", p.count, p.text);
    free (doc);
    cJSON_Delete (schema);
}

/*  The checkers find what they are meant to find. */
typedef struct {
    const char *fields;  /* field rules of an Account route */
    const char *problem; /* a part of the expected problem */
} bad_rule_t;

static const bad_rule_t s_bad_rules[] = {
    {"{\"to\":\"Nmae\",\"from\":\"Name\",\"transforms\":[\"truncate:255\"],\"required\":true}",
     "Account.Nmae: no such field in the schema"},
    {"{\"to\":\"Name\",\"from\":\"Name\",\"required\":true}",
     "Account.Name: unbounded text into string(255): add truncate:255"},
    {"{\"to\":\"Name\",\"from\":\"Name\",\"transforms\":[\"truncate:300\"],\"required\":true}",
     "Account.Name: up to 300 characters into string(255)"},
    {"{\"to\":\"Name\",\"from\":\"Name\",\"transforms\":[\"truncate:20\"]}",
     "required field Name is not always written"},
    {"{\"to\":\"Name\",\"from\":\"N\",\"transforms\":[\"truncate:9\"],\"required\":true},"
     "{\"to\":\"CloudSuite_Status__c\",\"from\":\"Stat\",\"lookup\":{\"A\":\"Actve\"}}",
     "lookup value 'Actve' is not a value of the picklist"},
    {"{\"to\":\"Name\",\"from\":\"N\",\"transforms\":[\"truncate:9\"],\"required\":true},"
     "{\"to\":\"CloudSuite_Status__c\",\"from\":\"Stat\",\"transforms\":[\"truncate:9\"]}",
     "free text into a picklist"},
    {"{\"to\":\"Name\",\"from\":\"N\",\"transforms\":[\"truncate:9\"],\"required\":true},"
     "{\"to\":\"CloudSuite_Roles__c\",\"const\":\"Supplier;Partner\",\"merge\":\"union\"}",
     "constant 'Partner' is not a value of the picklist"},
    {"{\"to\":\"Name\",\"from\":\"N\",\"transforms\":[\"truncate:9\"],\"required\":true},"
     "{\"to\":\"Phone\",\"from\":\"P\",\"transforms\":[\"number:2\"]}",
     "Account.Phone: a number into a phone field"},
    {"{\"to\":\"Name\",\"from\":\"N\",\"transforms\":[\"date\"],\"required\":true}",
     "Account.Name: a date into a string field"},
};

static void
test_checkers_fail_on_broken_inputs (void **state)
{
    cJSON *schema = load_schema ("config/salesforce-schema.json");
    char text[4096], err[512];
    for (size_t i = 0; i < sizeof s_bad_rules / sizeof s_bad_rules[0]; i++) {
        snprintf (text, sizeof text,
                  "{\"version\":1,\"entities\":{\"vendor\":{\"sobject\":\"Account\","
                  "\"external_id_field\":\"CloudSuite_Key__c\",\"key_template\":\"{VendNum}\","
                  "\"fields\":[%s]}}}",
                  s_bad_rules[i].fields);
        tf_mapping_t *m = tf_mapping_parse (text, strlen (text), "bad", err, sizeof err);
        if (!m)
            fail_msg ("case %zu does not load: %s", i, err);
        problems_t p = {.len = 0, .count = 0};
        p.text[0] = 0;
        check_mapping (&p, "bad", m, schema);
        if (!strstr (p.text, s_bad_rules[i].problem))
            fail_msg ("case %zu: expected \"%s\", got:\n%s", i, s_bad_rules[i].problem, p.text);
        tf_mapping_destroy (&m);
    }

    //  Parent references: wrong relationship, untyped polymorphic lookup, non-external ID.
    const char *tasks =
        "{\"version\":1,\"entities\":{\"po\":{\"sobject\":\"Task\","
        "\"external_id_field\":\"CloudSuite_Key__c\",\"key_template\":\"{PoNum}\",\"fields\":["
        "{\"to\":\"Subject\",\"const\":\"x\",\"required\":true},"
        "{\"to\":\"What\",\"parent\":{\"sobject\":\"Account\",\"external_id_field\":\"Name\","
        "\"key_template\":\"{VendNum}\"}},"
        "{\"to\":\"Whom\",\"parent\":{\"sobject\":\"Contact\",\"external_id_field\":"
        "\"CloudSuite_Key__c\",\"key_template\":\"{VendNum}\",\"alternatives\":[{\"sobject\":"
        "\"Account\",\"to\":\"Who\"}]}}]}}}";
    tf_mapping_t *m = tf_mapping_parse (tasks, strlen (tasks), "bad", err, sizeof err);
    if (!m)
        fail_msg ("%s", err);
    problems_t p = {.len = 0, .count = 0};
    p.text[0] = 0;
    check_mapping (&p, "bad", m, schema);
    assert_non_null (strstr (p.text, "the reference needs \"typed\": true"));
    assert_non_null (strstr (p.text, "Account.Name is not an external ID"));
    assert_non_null (strstr (p.text, "no lookup with relationship name 'Whom'"));
    assert_non_null (strstr (p.text, "(alternative Who): lookup WhoId does not refer to Account"));
    tf_mapping_destroy (&m);

    //  The guide: a row with the wrong length, a missing row, an extra row.
    char *doc = slurp ("docs/salesforce-setup.md");
    char *step = replace_once (doc, "| `CloudSuite_Terms__c` | CloudSuite Terms | Text(20)",
                               "| `CloudSuite_Terms__c` | CloudSuite Terms | Text(21)");
    char *broken = replace_once (step, "| `Warehouse__c` |", "| `Warehouse_X__c` |");
    free (step);
    p.len = 0;
    p.count = 0;
    p.text[0] = 0;
    check_doc (&p, broken, schema);
    assert_non_null (strstr (p.text, "Account.CloudSuite_Terms__c: the row lacks \"Text(20)\""));
    assert_non_null (strstr (p.text, "CloudSuite_Purchase_Order__c.Warehouse__c: no table row"));
    assert_non_null (strstr (p.text, "CloudSuite_Purchase_Order__c.Warehouse_X__c is documented "
                                     "but not in the schema"));
    free (broken);
    free (doc);
    cJSON_Delete (schema);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_mappings_match_schema),
        cmocka_unit_test (test_setup_guide_matches),
        cmocka_unit_test (test_checkers_fail_on_broken_inputs),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
