/*  sfsim_schema: objects, fields, describe and per-field value checks. See sfsim_schema.h. */
#include "sfsim_schema.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sfsim_schema_t {
    sfsim_object_t *objects; /* objects in schema order */
    int object_count;        /* their number */
    sfsim_map_t *by_name;    /* object name (any case) -> object */
    cJSON *source;           /* the schema JSON it was built from (for patches) */
};

static const struct {
    const char *name;   /* Salesforce type name */
    sfsim_type_t type;  /* our enum */
    int default_length; /* length when the schema gives none */
} s_types[] = {
    {"id", SFSIM_T_ID, 18},
    {"string", SFSIM_T_STRING, 255},
    {"textarea", SFSIM_T_TEXTAREA, 255},
    {"picklist", SFSIM_T_PICKLIST, 255},
    {"multipicklist", SFSIM_T_MULTIPICKLIST, 4099},
    {"reference", SFSIM_T_REFERENCE, 18},
    {"date", SFSIM_T_DATE, 0},
    {"datetime", SFSIM_T_DATETIME, 0},
    {"currency", SFSIM_T_CURRENCY, 0},
    {"double", SFSIM_T_DOUBLE, 0},
    {"percent", SFSIM_T_PERCENT, 0},
    {"int", SFSIM_T_INT, 0},
    {"boolean", SFSIM_T_BOOLEAN, 0},
    {"email", SFSIM_T_EMAIL, 80},
    {"phone", SFSIM_T_PHONE, 40},
    {"url", SFSIM_T_URL, 255},
};

#define TYPE_COUNT (sizeof s_types / sizeof s_types[0])
#define MAX_LENGTH 131072

const char *
sfsim_type_name (sfsim_type_t type)
{
    for (size_t i = 0; i < TYPE_COUNT; i++)
        if (s_types[i].type == type)
            return s_types[i].name;
    return "string";
}

static int
s_is_text (sfsim_type_t t)
{
    return t == SFSIM_T_STRING || t == SFSIM_T_TEXTAREA || t == SFSIM_T_PICKLIST ||
           t == SFSIM_T_MULTIPICKLIST || t == SFSIM_T_EMAIL || t == SFSIM_T_PHONE ||
           t == SFSIM_T_URL;
}

size_t
sfsim_utf8_chars (const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

void
sfsim_error_set (sfsim_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    snprintf (err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->message, sizeof err->message, fmt, ap);
    va_end (ap);
    err->field_count = 0;
    if (field) {
        snprintf (err->fields[0], sizeof err->fields[0], "%s", field);
        err->field_count = 1;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Building from JSON */

static void
s_field_free (sfsim_field_t *f)
{
    free (f->name);
    free (f->label);
    for (int i = 0; i < f->value_count; i++)
        free (f->values[i]);
    free (f->values);
    free (f->default_value);
    for (int i = 0; i < f->reference_count; i++)
        free (f->reference_to[i]);
    free (f->reference_to);
    free (f->relationship);
}

static void
s_object_free (sfsim_object_t *o)
{
    free (o->name);
    free (o->label);
    free (o->label_plural);
    for (int i = 0; i < o->field_count; i++)
        s_field_free (&o->fields[i]);
    free (o->fields);
    sfsim_map_destroy (&o->by_name);
    sfsim_map_destroy (&o->by_relationship);
}

void
sfsim_schema_destroy (sfsim_schema_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_schema_t *self = *self_p;
    for (int i = 0; i < self->object_count; i++)
        s_object_free (&self->objects[i]);
    free (self->objects);
    sfsim_map_destroy (&self->by_name);
    cJSON_Delete (self->source);
    free (self);
    *self_p = NULL;
}

/* An API name: letters, digits and underscores, starting with a letter. */
static int
s_valid_name (const char *s)
{
    if (!s || !isalpha ((unsigned char)s[0]) || strlen (s) > 80)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum ((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

static int
s_allowed (const cJSON *obj, const char *const *names, const char **bad)
{
    const cJSON *item;
    cJSON_ArrayForEach (item, obj)
    {
        int ok = 0;
        for (const char *const *n = names; *n; n++)
            if (strcmp (item->string, *n) == 0)
                ok = 1;
        if (!ok) {
            *bad = item->string;
            return 0;
        }
    }
    return 1;
}

static int
s_bool (const cJSON *obj, const char *name, int *out, char *err, size_t err_cap, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (!cJSON_IsBool (v)) {
        snprintf (err, err_cap, "%s: '%s' must be true or false", where, name);
        return -1;
    }
    *out = cJSON_IsTrue (v);
    return 0;
}

/* Copies a JSON array of non-empty strings. */
static int
s_strings (const cJSON *arr, char ***out, int *count, char *err, size_t err_cap, const char *where,
           const char *name)
{
    if (!cJSON_IsArray (arr) || cJSON_GetArraySize (arr) == 0 || cJSON_GetArraySize (arr) > 1000) {
        snprintf (err, err_cap, "%s: '%s' must be an array of 1 to 1000 strings", where, name);
        return -1;
    }
    int n = cJSON_GetArraySize (arr);
    *out = calloc ((size_t)n, sizeof (char *));
    if (!*out) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach (item, arr)
    {
        if (!cJSON_IsString (item) || !item->valuestring[0] || strlen (item->valuestring) > 255) {
            snprintf (err, err_cap, "%s: '%s' must hold non-empty strings (max 255)", where, name);
            return -1;
        }
        (*out)[*count] = strdup (item->valuestring);
        if (!(*out)[*count]) {
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        (*count)++;
    }
    return 0;
}

static int
s_add_system_fields (sfsim_object_t *o)
{
    static const char *names[] = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp"};
    static const char *labels[] = {"Record ID", "Created Date", "Last Modified Date",
                                   "System Modstamp"};
    for (int i = 0; i < 4; i++) {
        sfsim_field_t *f = &o->fields[o->field_count++];
        f->name = strdup (names[i]);
        f->label = strdup (labels[i]);
        if (!f->name || !f->label)
            return -1;
        f->type = i == 0 ? SFSIM_T_ID : SFSIM_T_DATETIME;
        f->length = i == 0 ? 18 : 0;
        f->system = 1;
        f->id_lookup = i == 0;
        f->unique = 0;
    }
    return 0;
}

static int
s_build_field (sfsim_field_t *f, const cJSON *fj, char *err, size_t err_cap, const char *where)
{
    static const char *const props[] = {
        "name",     "label",  "type",       "length",  "required",    "externalId",       "unique",
        "idLookup", "values", "restricted", "default", "referenceTo", "relationshipName", "comment",
        NULL};
    const char *bad = NULL;
    if (!cJSON_IsObject (fj)) {
        snprintf (err, err_cap, "%s: must be an object", where);
        return -1;
    }
    if (!s_allowed (fj, props, &bad)) {
        snprintf (err, err_cap, "%s: unknown property '%s'", where, bad);
        return -1;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive (fj, "name");
    if (!cJSON_IsString (name) || !s_valid_name (name->valuestring)) {
        snprintf (err, err_cap, "%s: 'name' must be an API name (letters, digits, _)", where);
        return -1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive (fj, "type");
    const char *tname = cJSON_IsString (type) ? type->valuestring : "string";
    if (type && !cJSON_IsString (type)) {
        snprintf (err, err_cap, "%s (%s): 'type' must be a string", where, name->valuestring);
        return -1;
    }
    size_t ti = 0;
    while (ti < TYPE_COUNT && strcmp (s_types[ti].name, tname) != 0)
        ti++;
    if (ti == TYPE_COUNT || s_types[ti].type == SFSIM_T_ID) {
        snprintf (err, err_cap, "%s (%s): unknown type '%s'", where, name->valuestring, tname);
        return -1;
    }
    f->type = s_types[ti].type;
    f->name = strdup (name->valuestring);
    const cJSON *label = cJSON_GetObjectItemCaseSensitive (fj, "label");
    f->label = strdup (cJSON_IsString (label) ? label->valuestring : name->valuestring);
    if (!f->name || !f->label) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    f->length = s_types[ti].default_length;
    const cJSON *len = cJSON_GetObjectItemCaseSensitive (fj, "length");
    if (len) {
        if (!cJSON_IsNumber (len) || len->valuedouble < 1 || len->valuedouble > MAX_LENGTH ||
            len->valuedouble != floor (len->valuedouble) || !s_is_text (f->type)) {
            snprintf (err, err_cap, "%s (%s): 'length' must be an integer 1..%d on a text field",
                      where, f->name, MAX_LENGTH);
            return -1;
        }
        f->length = (int)len->valuedouble;
    }
    if (s_bool (fj, "required", &f->required, err, err_cap, where) ||
        s_bool (fj, "externalId", &f->external_id, err, err_cap, where) ||
        s_bool (fj, "unique", &f->unique, err, err_cap, where) ||
        s_bool (fj, "idLookup", &f->id_lookup, err, err_cap, where) ||
        s_bool (fj, "restricted", &f->restricted, err, err_cap, where))
        return -1;
    if (f->external_id)
        f->id_lookup = 1;
    const cJSON *values = cJSON_GetObjectItemCaseSensitive (fj, "values");
    if (f->type == SFSIM_T_PICKLIST || f->type == SFSIM_T_MULTIPICKLIST) {
        if (s_strings (values, &f->values, &f->value_count, err, err_cap, where, "values"))
            return -1;
    } else if (values) {
        snprintf (err, err_cap, "%s (%s): 'values' only on picklists", where, f->name);
        return -1;
    }
    const cJSON *def = cJSON_GetObjectItemCaseSensitive (fj, "default");
    if (def) {
        if (!cJSON_IsString (def)) {
            snprintf (err, err_cap, "%s (%s): 'default' must be a string", where, f->name);
            return -1;
        }
        f->default_value = strdup (def->valuestring);
    }
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive (fj, "referenceTo");
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive (fj, "relationshipName");
    if (f->type == SFSIM_T_REFERENCE) {
        if (s_strings (refs, &f->reference_to, &f->reference_count, err, err_cap, where,
                       "referenceTo"))
            return -1;
        if (!cJSON_IsString (rel) || !s_valid_name (rel->valuestring)) {
            snprintf (err, err_cap, "%s (%s): a reference needs 'relationshipName'", where,
                      f->name);
            return -1;
        }
        f->relationship = strdup (rel->valuestring);
    } else if (refs || rel) {
        snprintf (err, err_cap, "%s (%s): 'referenceTo'/'relationshipName' only on references",
                  where, f->name);
        return -1;
    }
    if ((f->external_id || f->unique) &&
        !(f->type == SFSIM_T_STRING || f->type == SFSIM_T_EMAIL || f->type == SFSIM_T_INT ||
          f->type == SFSIM_T_DOUBLE || f->type == SFSIM_T_PHONE)) {
        snprintf (err, err_cap, "%s (%s): an external ID or unique field must be text or number",
                  where, f->name);
        return -1;
    }
    return 0;
}

static int
s_build_object (sfsim_object_t *o, const cJSON *oj, int index, char *err, size_t err_cap)
{
    static const char *const props[] = {"name",   "label",   "labelPlural", "keyPrefix",
                                        "fields", "comment", NULL};
    char where[160];
    const char *bad = NULL;
    snprintf (where, sizeof where, "objects[%d]", index);
    if (!cJSON_IsObject (oj)) {
        snprintf (err, err_cap, "%s: must be an object", where);
        return -1;
    }
    if (!s_allowed (oj, props, &bad)) {
        snprintf (err, err_cap, "%s: unknown property '%s'", where, bad);
        return -1;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive (oj, "name");
    if (!cJSON_IsString (name) || !s_valid_name (name->valuestring)) {
        snprintf (err, err_cap, "%s: 'name' must be an API name", where);
        return -1;
    }
    snprintf (where, sizeof where, "objects[%d] (%s)", index, name->valuestring);
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive (oj, "keyPrefix");
    if (!cJSON_IsString (prefix) || strlen (prefix->valuestring) != 3 ||
        !isalnum ((unsigned char)prefix->valuestring[0]) ||
        !isalnum ((unsigned char)prefix->valuestring[1]) ||
        !isalnum ((unsigned char)prefix->valuestring[2])) {
        snprintf (err, err_cap, "%s: 'keyPrefix' must be 3 letters or digits", where);
        return -1;
    }
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive (oj, "fields");
    if (!cJSON_IsArray (fields) || cJSON_GetArraySize (fields) > 800) {
        snprintf (err, err_cap, "%s: 'fields' must be an array (max 800)", where);
        return -1;
    }
    const cJSON *label = cJSON_GetObjectItemCaseSensitive (oj, "label");
    const cJSON *plural = cJSON_GetObjectItemCaseSensitive (oj, "labelPlural");
    o->name = strdup (name->valuestring);
    o->label = strdup (cJSON_IsString (label) ? label->valuestring : name->valuestring);
    o->label_plural = strdup (cJSON_IsString (plural) ? plural->valuestring : o->label);
    memcpy (o->key_prefix, prefix->valuestring, 4);
    size_t nlen = strlen (o->name);
    o->custom = nlen > 3 && strcmp (o->name + nlen - 3, "__c") == 0;
    o->fields = calloc ((size_t)cJSON_GetArraySize (fields) + 4, sizeof (sfsim_field_t));
    o->by_name = sfsim_map_new (1);
    o->by_relationship = sfsim_map_new (1);
    if (!o->name || !o->label || !o->label_plural || !o->fields || !o->by_name ||
        !o->by_relationship || s_add_system_fields (o)) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    int fi = 0;
    const cJSON *fj;
    cJSON_ArrayForEach (fj, fields)
    {
        char fwhere[200];
        snprintf (fwhere, sizeof fwhere, "%s.fields[%d]", where, fi++);
        sfsim_field_t *f = &o->fields[o->field_count++];
        if (s_build_field (f, fj, err, err_cap, fwhere))
            return -1;
    }
    for (int i = 0; i < o->field_count; i++) {
        sfsim_field_t *f = &o->fields[i];
        if (sfsim_map_get (o->by_name, f->name)) {
            snprintf (err, err_cap, "%s: field '%s' defined twice", where, f->name);
            return -1;
        }
        if (sfsim_map_put (o->by_name, f->name, f)) {
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        if (f->relationship) {
            if (sfsim_map_get (o->by_relationship, f->relationship)) {
                snprintf (err, err_cap, "%s: relationship '%s' defined twice", where,
                          f->relationship);
                return -1;
            }
            if (sfsim_map_put (o->by_relationship, f->relationship, f)) {
                snprintf (err, err_cap, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

/* Builds from a parsed schema; takes ownership of root. */
static sfsim_schema_t *
s_build (cJSON *root, char *err, size_t err_cap)
{
    static const char *const props[] = {"objects", "comment", NULL};
    const char *bad = NULL;
    sfsim_schema_t *self = calloc (1, sizeof *self);
    if (!self) {
        cJSON_Delete (root);
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->source = root;
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive (root, "objects");
    if (!cJSON_IsObject (root) || !s_allowed (root, props, &bad)) {
        snprintf (err, err_cap, "schema: unknown top-level property '%s'",
                  bad ? bad : "(not an object)");
        goto fail;
    }
    if (!cJSON_IsArray (objects) || cJSON_GetArraySize (objects) == 0 ||
        cJSON_GetArraySize (objects) > 500) {
        snprintf (err, err_cap, "schema: 'objects' must be an array of 1 to 500 objects");
        goto fail;
    }
    self->objects = calloc ((size_t)cJSON_GetArraySize (objects), sizeof (sfsim_object_t));
    self->by_name = sfsim_map_new (1);
    if (!self->objects || !self->by_name) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    const cJSON *oj;
    cJSON_ArrayForEach (oj, objects)
    {
        sfsim_object_t *o = &self->objects[self->object_count];
        int rc = s_build_object (o, oj, self->object_count, err, err_cap);
        self->object_count++;
        if (rc)
            goto fail;
        if (sfsim_map_get (self->by_name, o->name)) {
            snprintf (err, err_cap, "schema: object '%s' defined twice", o->name);
            goto fail;
        }
        if (sfsim_map_put (self->by_name, o->name, o)) {
            snprintf (err, err_cap, "out of memory");
            goto fail;
        }
    }
    /* Key prefixes unique, references name known objects. */
    for (int i = 0; i < self->object_count; i++) {
        sfsim_object_t *o = &self->objects[i];
        for (int j = 0; j < i; j++)
            if (strcmp (self->objects[j].key_prefix, o->key_prefix) == 0) {
                snprintf (err, err_cap, "schema: keyPrefix '%s' used by %s and %s", o->key_prefix,
                          self->objects[j].name, o->name);
                goto fail;
            }
        for (int k = 0; k < o->field_count; k++)
            for (int r = 0; r < o->fields[k].reference_count; r++)
                if (!sfsim_map_get (self->by_name, o->fields[k].reference_to[r])) {
                    snprintf (err, err_cap, "schema: %s.%s references unknown object '%s'", o->name,
                              o->fields[k].name, o->fields[k].reference_to[r]);
                    goto fail;
                }
    }
    return self;
fail:
    sfsim_schema_destroy (&self);
    return NULL;
}

sfsim_schema_t *
sfsim_schema_new (const char *json, char *err, size_t err_cap)
{
    cJSON *root = cJSON_Parse (json);
    if (!root) {
        snprintf (err, err_cap, "schema: not valid JSON");
        return NULL;
    }
    return s_build (root, err, err_cap);
}

static cJSON *
s_find_named (const cJSON *array, const char *name)
{
    cJSON *item;
    cJSON_ArrayForEach (item, array)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive (item, "name");
        if (cJSON_IsString (n) && strcasecmp (n->valuestring, name) == 0)
            return item;
    }
    return NULL;
}

sfsim_schema_t *
sfsim_schema_patched (const sfsim_schema_t *self, const cJSON *patch, char *err, size_t err_cap)
{
    if (!cJSON_IsObject (patch)) {
        snprintf (err, err_cap, "schema patch: must be a JSON object");
        return NULL;
    }
    if (cJSON_GetObjectItemCaseSensitive (patch, "objects"))
        return s_build (cJSON_Duplicate (patch, 1), err, err_cap);
    cJSON *root = cJSON_Duplicate (self->source, 1);
    if (!root) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    cJSON *objects = cJSON_GetObjectItemCaseSensitive (root, "objects");
    const cJSON *op;
    cJSON_ArrayForEach (op, patch)
    {
        cJSON *oj = s_find_named (objects, op->string);
        if (!oj) {
            snprintf (err, err_cap, "schema patch: unknown object '%s'", op->string);
            goto fail;
        }
        if (!cJSON_IsObject (op)) {
            snprintf (err, err_cap, "schema patch: '%s' must map field names to properties",
                      op->string);
            goto fail;
        }
        cJSON *fields = cJSON_GetObjectItemCaseSensitive (oj, "fields");
        const cJSON *fp;
        cJSON_ArrayForEach (fp, op)
        {
            if (!cJSON_IsObject (fp)) {
                snprintf (err, err_cap, "schema patch: %s.%s must be an object of properties",
                          op->string, fp->string);
                goto fail;
            }
            cJSON *fj = s_find_named (fields, fp->string);
            if (!fj) {
                fj = cJSON_CreateObject ();
                cJSON_AddStringToObject (fj, "name", fp->string);
                cJSON_AddItemToArray (fields, fj);
            }
            const cJSON *prop;
            cJSON_ArrayForEach (prop, fp)
            {
                if (strcmp (prop->string, "name") == 0)
                    continue;
                cJSON_DeleteItemFromObjectCaseSensitive (fj, prop->string);
                if (!cJSON_IsNull (prop))
                    cJSON_AddItemToObject (fj, prop->string, cJSON_Duplicate (prop, 1));
            }
        }
    }
    return s_build (root, err, err_cap);
fail:
    cJSON_Delete (root);
    return NULL;
}

const sfsim_object_t *
sfsim_schema_object (const sfsim_schema_t *self, const char *name)
{
    return sfsim_map_get (self->by_name, name);
}

int
sfsim_schema_object_count (const sfsim_schema_t *self)
{
    return self->object_count;
}

const sfsim_object_t *
sfsim_schema_object_at (const sfsim_schema_t *self, int i)
{
    return i >= 0 && i < self->object_count ? &self->objects[i] : NULL;
}

const sfsim_field_t *
sfsim_object_field (const sfsim_object_t *obj, const char *name)
{
    return sfsim_map_get (obj->by_name, name);
}

const sfsim_field_t *
sfsim_object_relationship (const sfsim_object_t *obj, const char *rel)
{
    return sfsim_map_get (obj->by_relationship, rel);
}

/* ---------------------------------------------------------------------------------------- */
/* Describe */

static cJSON *
s_describe_field (const sfsim_field_t *f)
{
    cJSON *j = cJSON_CreateObject ();
    size_t nlen = strlen (f->name);
    int custom = nlen > 3 && strcmp (f->name + nlen - 3, "__c") == 0;
    int numeric =
        f->type == SFSIM_T_CURRENCY || f->type == SFSIM_T_DOUBLE || f->type == SFSIM_T_PERCENT;
    cJSON_AddBoolToObject (j, "autoNumber", 0);
    cJSON_AddNumberToObject (j, "byteLength",
                             s_is_text (f->type) || f->type == SFSIM_T_ID ||
                                     f->type == SFSIM_T_REFERENCE
                                 ? (double)f->length * 3
                                 : 0);
    cJSON_AddBoolToObject (j, "calculated", 0);
    cJSON_AddBoolToObject (j, "caseSensitive", 0);
    cJSON_AddBoolToObject (j, "createable", !f->system);
    cJSON_AddBoolToObject (j, "custom", custom);
    if (f->default_value)
        cJSON_AddStringToObject (j, "defaultValue", f->default_value);
    else
        cJSON_AddNullToObject (j, "defaultValue");
    cJSON_AddBoolToObject (j, "defaultedOnCreate", f->system || f->default_value != NULL);
    cJSON_AddNumberToObject (j, "digits", f->type == SFSIM_T_INT ? 18 : 0);
    cJSON_AddBoolToObject (j, "externalId", f->external_id);
    cJSON_AddBoolToObject (j, "filterable", 1);
    cJSON_AddBoolToObject (j, "idLookup", f->id_lookup);
    cJSON_AddStringToObject (j, "label", f->label);
    cJSON_AddNumberToObject (j, "length", f->length);
    cJSON_AddStringToObject (j, "name", f->name);
    cJSON_AddBoolToObject (j, "nillable", !f->required && !f->system);
    cJSON *pv = cJSON_AddArrayToObject (j, "picklistValues");
    for (int i = 0; i < f->value_count; i++) {
        cJSON *v = cJSON_CreateObject ();
        cJSON_AddBoolToObject (v, "active", 1);
        cJSON_AddBoolToObject (v, "defaultValue",
                               f->default_value && strcmp (f->default_value, f->values[i]) == 0);
        cJSON_AddStringToObject (v, "label", f->values[i]);
        cJSON_AddNullToObject (v, "validFor");
        cJSON_AddStringToObject (v, "value", f->values[i]);
        cJSON_AddItemToArray (pv, v);
    }
    cJSON_AddBoolToObject (j, "polymorphicForeignKey", f->reference_count > 1);
    cJSON_AddNumberToObject (j, "precision", numeric ? 18 : 0);
    cJSON *refs = cJSON_AddArrayToObject (j, "referenceTo");
    for (int i = 0; i < f->reference_count; i++)
        cJSON_AddItemToArray (refs, cJSON_CreateString (f->reference_to[i]));
    if (f->relationship)
        cJSON_AddStringToObject (j, "relationshipName", f->relationship);
    else
        cJSON_AddNullToObject (j, "relationshipName");
    cJSON_AddBoolToObject (j, "restrictedPicklist", f->restricted);
    cJSON_AddNumberToObject (j, "scale", numeric ? 2 : 0);
    cJSON_AddStringToObject (j, "soapType",
                             f->type == SFSIM_T_ID || f->type == SFSIM_T_REFERENCE ? "tns:ID"
                             : numeric                                             ? "xsd:double"
                             : f->type == SFSIM_T_INT                              ? "xsd:int"
                             : f->type == SFSIM_T_BOOLEAN                          ? "xsd:boolean"
                             : f->type == SFSIM_T_DATE                             ? "xsd:date"
                             : f->type == SFSIM_T_DATETIME                         ? "xsd:dateTime"
                                                                                   : "xsd:string");
    cJSON_AddStringToObject (j, "type", sfsim_type_name (f->type));
    cJSON_AddBoolToObject (j, "unique", f->unique);
    cJSON_AddBoolToObject (j, "updateable", !f->system);
    return j;
}

cJSON *
sfsim_object_describe (const sfsim_object_t *obj, const char *version)
{
    char url[256];
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddArrayToObject (j, "childRelationships");
    cJSON_AddBoolToObject (j, "createable", 1);
    cJSON_AddBoolToObject (j, "custom", obj->custom);
    cJSON_AddBoolToObject (j, "deletable", 1);
    cJSON *fields = cJSON_AddArrayToObject (j, "fields");
    for (int i = 0; i < obj->field_count; i++)
        cJSON_AddItemToArray (fields, s_describe_field (&obj->fields[i]));
    cJSON_AddStringToObject (j, "keyPrefix", obj->key_prefix);
    cJSON_AddStringToObject (j, "label", obj->label);
    cJSON_AddStringToObject (j, "labelPlural", obj->label_plural);
    cJSON_AddStringToObject (j, "name", obj->name);
    cJSON_AddBoolToObject (j, "queryable", 1);
    cJSON_AddArrayToObject (j, "recordTypeInfos");
    cJSON_AddBoolToObject (j, "updateable", 1);
    cJSON *urls = cJSON_AddObjectToObject (j, "urls");
    snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s/{ID}", version, obj->name);
    cJSON_AddStringToObject (urls, "rowTemplate", url);
    snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s/describe", version, obj->name);
    cJSON_AddStringToObject (urls, "describe", url);
    snprintf (url, sizeof url, "/services/data/v%s/sobjects/%s", version, obj->name);
    cJSON_AddStringToObject (urls, "sobject", url);
    return j;
}

/* ---------------------------------------------------------------------------------------- */
/* Value checks */

/* The value as text for text fields (numbers and booleans are accepted and converted, as
   Salesforce's JSON reader does). Returns a malloc'd string or NULL when not scalar. */
static char *
s_text (const cJSON *value)
{
    char buf[64];
    if (cJSON_IsString (value))
        return strdup (value->valuestring);
    if (cJSON_IsBool (value))
        return strdup (cJSON_IsTrue (value) ? "true" : "false");
    if (cJSON_IsNumber (value)) {
        double d = value->valuedouble;
        if (d == floor (d) && fabs (d) < 1e15)
            snprintf (buf, sizeof buf, "%.0f", d);
        else
            snprintf (buf, sizeof buf, "%.15g", d);
        return strdup (buf);
    }
    return NULL;
}

/* Cuts s to at most max bytes at a character boundary, for messages. */
static void
s_excerpt (const char *s, char *out, size_t cap)
{
    size_t n = strlen (s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy (out, s, n);
    out[n] = '\0';
}

static int
s_digits (const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit ((unsigned char)s[i]))
            return 0;
    return 1;
}

static int
s_valid_date (const char *s)
{
    if (strlen (s) < 10 || !s_digits (s, 4) || s[4] != '-' || !s_digits (s + 5, 2) || s[7] != '-' ||
        !s_digits (s + 8, 2))
        return 0;
    int y = atoi (s), m = atoi (s + 5), d = atoi (s + 8);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1700 || y > 4000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

static int
s_valid_datetime (const char *s)
{
    if (!s_valid_date (s) || (s[10] != 'T' && s[10] != ' ') || !s_digits (s + 11, 2) ||
        s[13] != ':' || !s_digits (s + 14, 2))
        return 0;
    const char *p = s + 16;
    if (*p == ':') {
        if (!s_digits (p + 1, 2))
            return 0;
        p += 3;
        if (*p == '.') {
            p++;
            int n = 0;
            while (isdigit ((unsigned char)*p))
                p++, n++;
            if (n == 0)
                return 0;
        }
    }
    if (atoi (s + 11) > 23 || atoi (s + 14) > 59)
        return 0;
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-') {
        p++;
        if (!s_digits (p, 2))
            return 0;
        p += 2;
        if (*p == ':')
            p++;
        return s_digits (p, 2) && p[2] == '\0';
    }
    return *p == '\0';
}

static int
s_valid_email (const char *s)
{
    const char *at = strchr (s, '@');
    if (!at || at == s || strchr (at + 1, '@'))
        return 0;
    const char *dot = strrchr (at + 1, '.');
    if (!dot || dot == at + 1 || !dot[1])
        return 0;
    for (const char *p = s; *p; p++)
        if (isspace ((unsigned char)*p) || *p == ',' || *p == '<' || *p == '>')
            return 0;
    return 1;
}

static int
s_picklist_has (const sfsim_field_t *f, const char *v, size_t len)
{
    for (int i = 0; i < f->value_count; i++)
        if (strlen (f->values[i]) == len && strncmp (f->values[i], v, len) == 0)
            return 1;
    return 0;
}

/* A Salesforce Id: 15 or 18 letters and digits. */
static int
s_valid_id (const char *s)
{
    size_t n = strlen (s);
    if (n != 15 && n != 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char)s[i]))
            return 0;
    return 1;
}

static void
s_bad_type (const sfsim_field_t *f, const char *text, sfsim_error_t *err)
{
    char ex[1024];
    s_excerpt (text, ex, sizeof ex);
    sfsim_error_set (err, "INVALID_TYPE_ON_FIELD_IN_RECORD", f->name,
                     "%s: value not of required type: %s", f->label, ex);
}

cJSON *
sfsim_field_check (const sfsim_field_t *f, const cJSON *value, sfsim_error_t *err)
{
    char ex[1024];
    /* a JSON number for a number field, the common case: valid without its text */
    if (cJSON_IsNumber (value) && (f->type == SFSIM_T_CURRENCY || f->type == SFSIM_T_DOUBLE ||
                                   f->type == SFSIM_T_PERCENT || f->type == SFSIM_T_INT)) {
        double d = value->valuedouble;
        if (isfinite (d) && fabs (d) < 1e18 && (f->type != SFSIM_T_INT || d == floor (d)))
            return cJSON_CreateNumber (d);
    }
    char *text = s_text (value);
    cJSON *out = NULL;
    if (!text) {
        sfsim_error_set (err, "INVALID_TYPE_ON_FIELD_IN_RECORD", f->name,
                         "%s: value not of required type: (%s)", f->label,
                         cJSON_IsArray (value) ? "array" : "object");
        return NULL;
    }
    switch (f->type) {
    case SFSIM_T_ID:
        sfsim_error_set (err, "INVALID_FIELD_FOR_INSERT_UPDATE", f->name,
                         "Unable to create/update fields: %s. Please check the security settings "
                         "of this field and verify that it is read/write for your user profile "
                         "or permission set.",
                         f->name);
        break;
    case SFSIM_T_REFERENCE:
        if (!s_valid_id (text)) {
            s_excerpt (text, ex, sizeof ex);
            sfsim_error_set (err, "MALFORMED_ID", f->name, "%s: id value of incorrect type: %s",
                             f->label, ex);
            break;
        }
        out = cJSON_CreateString (text);
        break;
    case SFSIM_T_DATE:
        if (!s_valid_date (text) || text[10] != '\0') {
            s_bad_type (f, text, err);
            break;
        }
        out = cJSON_CreateString (text);
        break;
    case SFSIM_T_DATETIME:
        if (!s_valid_datetime (text)) {
            s_bad_type (f, text, err);
            break;
        }
        out = cJSON_CreateString (text);
        break;
    case SFSIM_T_CURRENCY:
    case SFSIM_T_DOUBLE:
    case SFSIM_T_PERCENT:
    case SFSIM_T_INT: {
        char *end = NULL;
        double d = cJSON_IsNumber (value) ? value->valuedouble : strtod (text, &end);
        if ((end && (end == text || *end)) || !isfinite (d) || fabs (d) >= 1e18 ||
            (f->type == SFSIM_T_INT && d != floor (d))) {
            s_bad_type (f, text, err);
            break;
        }
        out = cJSON_CreateNumber (d);
        break;
    }
    case SFSIM_T_BOOLEAN:
        if (strcasecmp (text, "true") == 0 || strcmp (text, "1") == 0)
            out = cJSON_CreateTrue ();
        else if (strcasecmp (text, "false") == 0 || strcmp (text, "0") == 0)
            out = cJSON_CreateFalse ();
        else
            s_bad_type (f, text, err);
        break;
    default: /* text types */
        if (sfsim_utf8_chars (text) > (size_t)f->length) {
            s_excerpt (text, ex, sizeof ex);
            sfsim_error_set (err, "STRING_TOO_LONG", f->name,
                             "%s: data value too large: %s (max length=%d)", f->label, ex,
                             f->length);
            break;
        }
        if (f->type == SFSIM_T_EMAIL && !s_valid_email (text)) {
            s_excerpt (text, ex, sizeof ex);
            sfsim_error_set (err, "INVALID_EMAIL_ADDRESS", f->name, "%s: invalid email address: %s",
                             f->label, ex);
            break;
        }
        if (f->restricted && f->type == SFSIM_T_PICKLIST &&
            !s_picklist_has (f, text, strlen (text))) {
            s_excerpt (text, ex, sizeof ex);
            sfsim_error_set (err, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f->name,
                             "bad value for restricted picklist field: %s", ex);
            break;
        }
        if (f->restricted && f->type == SFSIM_T_MULTIPICKLIST) {
            const char *p = text;
            int bad = 0;
            while (!bad) {
                const char *semi = strchr (p, ';');
                size_t len = semi ? (size_t)(semi - p) : strlen (p);
                if (!s_picklist_has (f, p, len)) {
                    char one[256];
                    snprintf (one, sizeof one, "%.*s", (int)(len < 255 ? len : 255), p);
                    sfsim_error_set (err, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f->name,
                                     "bad value for restricted picklist field: %s", one);
                    bad = 1;
                }
                if (!semi)
                    break;
                p = semi + 1;
            }
            if (bad)
                break;
        }
        out = cJSON_CreateString (text);
        break;
    }
    free (text);
    return out;
}
