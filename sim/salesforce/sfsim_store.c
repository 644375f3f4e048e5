/*  sfsim_store: records by object, Ids, unique indexes, writes with Salesforce's
    validation and all-or-none rollback. See sfsim_store.h. */
#include "sfsim_store.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sfsim_map.h"

typedef struct {
    char *name;               /* object name (canonical case at creation) */
    char prefix[4];           /* key prefix */
    uint64_t next_seq;        /* next Id sequence number */
    sfsim_record_t **records; /* records in insertion order */
    size_t count;             /* number of records */
    size_t cap;               /* allocated slots */
    sfsim_map_t *by_id;       /* Id -> record */
    sfsim_map_t *unique;      /* unique field name (any case) -> sfsim_map_t (value -> record) */
} table_t;

struct sfsim_store_t {
    pthread_mutex_t mutex;    /* guards everything below */
    sfsim_schema_t *schema;   /* the schema (owned) */
    sfsim_schema_t **retired; /* schemas replaced by a patch, kept: records name their
                                 fields with the strings of the schema they were written
                                 under (owned) */
    size_t retired_count;     /* their number */
    sfsim_map_t *tables;      /* object name (any case) -> table_t */
};

typedef struct {
    table_t *table;         /* table written */
    sfsim_record_t *record; /* record written */
    cJSON *old_fields;      /* fields before an update, NULL for a create */
} undo_entry_t;

struct sfsim_undo_t {
    undo_entry_t *entries; /* log, oldest first */
    size_t count;          /* entries used */
    size_t cap;            /* allocated */
};

/* ---------------------------------------------------------------------------------------- */
/* Ids */

void
sfsim_id_suffix (const char *id15, char *id18)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    memcpy (id18, id15, 15);
    for (int chunk = 0; chunk < 3; chunk++) {
        int bits = 0;
        for (int i = 0; i < 5; i++) {
            char c = id15[chunk * 5 + i];
            if (c >= 'A' && c <= 'Z')
                bits |= 1 << i;
        }
        id18[15 + chunk] = alphabet[bits];
    }
    id18[18] = '\0';
}

static void
s_new_id (table_t *t, char *id18)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char id15[16];
    uint64_t seq = ++t->next_seq;
    memcpy (id15, t->prefix, 3);
    memcpy (id15 + 3, "Hs0", 3);
    for (int i = 14; i >= 6; i--) {
        id15[i] = b62[seq % 62];
        seq /= 62;
    }
    id15[15] = '\0';
    sfsim_id_suffix (id15, id18);
}

/* "2025-11-26T12:00:00.000+0000", as Salesforce writes datetimes. */
static void
s_now (char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime (CLOCK_REALTIME, &ts);
    gmtime_r (&ts.tv_sec, &tm);
    size_t n = strftime (buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf + n, cap - n, ".%03d+0000", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* ---------------------------------------------------------------------------------------- */
/* Tables and indexes */

static void
s_table_free (table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->count; i++) {
        cJSON_Delete (t->records[i]->fields);
        free (t->records[i]);
    }
    free (t->records);
    sfsim_map_destroy (&t->by_id);
    if (t->unique) {
        size_t pos = 0;
        void *v;
        while (sfsim_map_next (t->unique, &pos, &v)) {
            sfsim_map_t *m = v;
            sfsim_map_destroy (&m);
        }
        sfsim_map_destroy (&t->unique);
    }
    free (t->name);
    free (t);
}

/* The index key of a stored value (text form). */
static const char *
s_key (const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString (v))
        return v->valuestring;
    if (cJSON_IsNumber (v)) {
        double d = v->valuedouble;
        if (d == floor (d) && fabs (d) < 1e15)
            snprintf (buf, cap, "%.0f", d);
        else
            snprintf (buf, cap, "%.15g", d);
        return buf;
    }
    return NULL;
}

/* Builds the unique-index maps of t for obj; fills them from t's records. On a duplicate
   value returns -1 with err. */
static int
s_table_index (table_t *t, const sfsim_object_t *obj, char *err, size_t err_cap)
{
    sfsim_map_t *unique = sfsim_map_new (1);
    if (!unique)
        goto oom;
    for (int i = 0; obj && i < obj->field_count; i++) {
        const sfsim_field_t *f = &obj->fields[i];
        if (!f->unique && !f->external_id)
            continue;
        sfsim_map_t *m = sfsim_map_new (1);
        if (!m || sfsim_map_put (unique, f->name, m)) {
            sfsim_map_destroy (&m);
            goto oom;
        }
        for (size_t r = 0; r < t->count; r++) {
            char buf[64];
            const char *k = s_key (
                cJSON_GetObjectItemCaseSensitive (t->records[r]->fields, f->name), buf, sizeof buf);
            if (!k)
                continue;
            if (f->unique && sfsim_map_get (m, k)) {
                snprintf (err, err_cap, "%s.%s: records %s and %s share the value '%s'", obj->name,
                          f->name, ((sfsim_record_t *)sfsim_map_get (m, k))->id, t->records[r]->id,
                          k);
                goto fail;
            }
            if (!sfsim_map_get (m, k) && sfsim_map_put (m, k, t->records[r]))
                goto oom;
        }
    }
    if (t->unique) {
        size_t pos = 0;
        void *v;
        while (sfsim_map_next (t->unique, &pos, &v)) {
            sfsim_map_t *m = v;
            sfsim_map_destroy (&m);
        }
        sfsim_map_destroy (&t->unique);
    }
    t->unique = unique;
    return 0;
oom:
    snprintf (err, err_cap, "out of memory");
fail:
    if (unique) {
        size_t pos = 0;
        void *v;
        while (sfsim_map_next (unique, &pos, &v)) {
            sfsim_map_t *m = v;
            sfsim_map_destroy (&m);
        }
        sfsim_map_destroy (&unique);
    }
    return -1;
}

/* The table of obj, created on first use. NULL when out of memory. */
static table_t *
s_table (sfsim_store_t *self, const sfsim_object_t *obj)
{
    table_t *t = sfsim_map_get (self->tables, obj->name);
    if (t)
        return t;
    char err[256];
    t = calloc (1, sizeof *t);
    if (!t)
        return NULL;
    t->name = strdup (obj->name);
    memcpy (t->prefix, obj->key_prefix, 4);
    t->by_id = sfsim_map_new (0);
    if (!t->name || !t->by_id || s_table_index (t, obj, err, sizeof err) ||
        sfsim_map_put (self->tables, obj->name, t)) {
        s_table_free (t);
        return NULL;
    }
    return t;
}

static sfsim_map_t *
s_index (const table_t *t, const char *field)
{
    return t->unique ? sfsim_map_get (t->unique, field) : NULL;
}

/* Adds (add=1) or removes the index entries of rec's unique fields. */
static void
s_index_record (table_t *t, sfsim_record_t *rec, int add)
{
    size_t pos = 0;
    void *v;
    const char *field;
    while ((field = sfsim_map_next (t->unique, &pos, &v))) {
        char buf[64];
        const char *k =
            s_key (cJSON_GetObjectItemCaseSensitive (rec->fields, field), buf, sizeof buf);
        if (!k)
            continue;
        if (add) {
            if (!sfsim_map_get (v, k))
                sfsim_map_put (v, k, rec);
        } else if (sfsim_map_get (v, k) == rec) {
            sfsim_map_remove (v, k);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */

sfsim_store_t *
sfsim_store_new (sfsim_schema_t **schema_p)
{
    sfsim_store_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->mutex, NULL);
    self->tables = sfsim_map_new (1);
    if (!self->tables) {
        free (self);
        return NULL;
    }
    self->schema = *schema_p;
    *schema_p = NULL;
    return self;
}

void
sfsim_store_destroy (sfsim_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_store_t *self = *self_p;
    size_t pos = 0;
    void *v;
    while (sfsim_map_next (self->tables, &pos, &v))
        s_table_free (v);
    sfsim_map_destroy (&self->tables);
    sfsim_schema_destroy (&self->schema);
    for (size_t i = 0; i < self->retired_count; i++)
        sfsim_schema_destroy (&self->retired[i]);
    free (self->retired);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

void
sfsim_store_lock (sfsim_store_t *self)
{
    pthread_mutex_lock (&self->mutex);
}

void
sfsim_store_unlock (sfsim_store_t *self)
{
    pthread_mutex_unlock (&self->mutex);
}

const sfsim_schema_t *
sfsim_store_schema (const sfsim_store_t *self)
{
    return self->schema;
}

int
sfsim_store_set_schema (sfsim_store_t *self, sfsim_schema_t **schema_p, char *err, size_t err_cap)
{
    sfsim_schema_t *schema = *schema_p;
    *schema_p = NULL;
    sfsim_schema_t **retired =
        realloc (self->retired, (self->retired_count + 1) * sizeof *self->retired);
    if (!retired) {
        snprintf (err, err_cap, "out of memory");
        sfsim_schema_destroy (&schema);
        return -1;
    }
    self->retired = retired;
    /* Check every table against the new unique rules before changing anything. */
    size_t pos = 0;
    void *v;
    while (sfsim_map_next (self->tables, &pos, &v)) {
        table_t *t = v;
        table_t probe = {.records = t->records, .count = t->count};
        if (s_table_index (&probe, sfsim_schema_object (schema, t->name), err, err_cap)) {
            sfsim_schema_destroy (&schema);
            return -1;
        }
        size_t p2 = 0;
        void *m;
        while (sfsim_map_next (probe.unique, &p2, &m)) {
            sfsim_map_t *mm = m;
            sfsim_map_destroy (&mm);
        }
        sfsim_map_destroy (&probe.unique);
    }
    pos = 0;
    while (sfsim_map_next (self->tables, &pos, &v)) {
        table_t *t = v;
        if (s_table_index (t, sfsim_schema_object (schema, t->name), err, err_cap)) {
            sfsim_schema_destroy (&schema);
            return -1;
        }
    }
    self->retired[self->retired_count++] = self->schema;
    self->schema = schema;
    return 0;
}

size_t
sfsim_store_records (const sfsim_store_t *self, const char *name, sfsim_record_t *const **records)
{
    table_t *t = sfsim_map_get (self->tables, name);
    *records = t ? t->records : NULL;
    return t ? t->count : 0;
}

const sfsim_record_t *
sfsim_store_find (const sfsim_store_t *self, const sfsim_object_t *obj, const sfsim_field_t *field,
                  const char *value)
{
    table_t *t = sfsim_map_get (self->tables, obj->name);
    if (!t)
        return NULL;
    if (field->type == SFSIM_T_ID) {
        char id18[19];
        if (strlen (value) == 15) {
            sfsim_id_suffix (value, id18);
            value = id18;
        }
        return sfsim_map_get (t->by_id, value);
    }
    sfsim_map_t *idx = s_index (t, field->name);
    return idx ? sfsim_map_get (idx, value) : NULL;
}

int
sfsim_store_check_columns (const sfsim_object_t *obj, const cJSON *input, sfsim_error_t *err)
{
    const cJSON *item;
    cJSON_ArrayForEach (item, input)
    {
        if (strcmp (item->string, "attributes") == 0)
            continue;
        if (sfsim_object_field (obj, item->string))
            continue;
        if (sfsim_object_relationship (obj, item->string) && cJSON_IsObject (item))
            continue;
        sfsim_error_set (err, "INVALID_FIELD", NULL, "No such column '%s' on sobject of type %s",
                         item->string, obj->name);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Writes */

/* Resolves a parent reference {"[attributes":{"type":T},] "Field": value} given under
   relationship field f to the parent's Id. Returns 0 and fills id, or -1 with err. */
static int
s_resolve_parent (sfsim_store_t *self, const sfsim_field_t *f, const cJSON *ref, char *id,
                  sfsim_error_t *err)
{
    const char *type = NULL;
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive (ref, "attributes");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive (attrs, "type");
    if (cJSON_IsString (t))
        type = t->valuestring;
    else if (f->reference_count == 1)
        type = f->reference_to[0];
    if (!type) {
        sfsim_error_set (err, "INVALID_FIELD", NULL,
                         "The polymorphic relationship %s needs attributes.type naming one of "
                         "its referenced objects",
                         f->relationship);
        return -1;
    }
    int allowed = 0;
    for (int i = 0; i < f->reference_count; i++)
        if (strcasecmp (f->reference_to[i], type) == 0)
            allowed = 1;
    const sfsim_object_t *parent = sfsim_schema_object (self->schema, type);
    if (!allowed || !parent) {
        sfsim_error_set (err, "INVALID_FIELD", NULL, "Invalid type %s for the relationship %s",
                         type, f->relationship);
        return -1;
    }
    const cJSON *key = NULL;
    const cJSON *item;
    int keys = 0;
    cJSON_ArrayForEach (item, ref)
    {
        if (strcmp (item->string, "attributes") == 0)
            continue;
        key = item;
        keys++;
    }
    if (keys != 1) {
        sfsim_error_set (err, "INVALID_FIELD", NULL,
                         "The relationship %s must name exactly one indexed field of %s",
                         f->relationship, parent->name);
        return -1;
    }
    const sfsim_field_t *pf = sfsim_object_field (parent, key->string);
    if (!pf || !(pf->type == SFSIM_T_ID || pf->unique || pf->external_id)) {
        sfsim_error_set (err, "INVALID_FIELD", NULL,
                         "Field name provided, %s is not an External ID or indexed field for %s",
                         key->string, parent->name);
        return -1;
    }
    /* The key in its stored form (an Id as is, other values normalized by type). */
    sfsim_error_t verr;
    cJSON *norm = NULL;
    char buf[64];
    const char *k = NULL;
    if (pf->type == SFSIM_T_ID)
        k = cJSON_IsString (key) ? key->valuestring : NULL;
    else if (!cJSON_IsNull (key) && (norm = sfsim_field_check (pf, key, &verr)))
        k = s_key (norm, buf, sizeof buf);
    const sfsim_record_t *rec = k ? sfsim_store_find (self, parent, pf, k) : NULL;
    if (!rec) {
        char shown[1024];
        snprintf (shown, sizeof shown, "%s",
                  cJSON_IsString (key) ? key->valuestring
                  : k                  ? k
                                       : "null");
        sfsim_error_set (err, "INVALID_FIELD", NULL,
                         "Foreign key external ID: %s not found for field %s in entity %s", shown,
                         pf->name, parent->name);
        cJSON_Delete (norm);
        return -1;
    }
    cJSON_Delete (norm);
    memcpy (id, rec->id, 19);
    return 0;
}

/* Checks that Id value names an existing record of one of f's referenced objects. */
static int
s_check_reference (sfsim_store_t *self, const sfsim_field_t *f, const char *id, sfsim_error_t *err)
{
    char id18[19];
    if (strlen (id) == 15)
        sfsim_id_suffix (id, id18);
    else
        snprintf (id18, sizeof id18, "%s", id);
    for (int i = 0; i < f->reference_count; i++) {
        table_t *t = sfsim_map_get (self->tables, f->reference_to[i]);
        if (t && sfsim_map_get (t->by_id, id18))
            return 0;
    }
    sfsim_error_set (err, "INVALID_CROSS_REFERENCE_KEY", f->name, "invalid cross reference id");
    return -1;
}

static int
s_undo_log (sfsim_undo_t *undo, table_t *t, sfsim_record_t *rec, cJSON *old)
{
    if (undo->count == undo->cap) {
        size_t cap = undo->cap ? undo->cap * 2 : 64;
        undo_entry_t *e = realloc (undo->entries, cap * sizeof *e);
        if (!e)
            return -1;
        undo->entries = e;
        undo->cap = cap;
    }
    undo->entries[undo->count++] = (undo_entry_t){.table = t, .record = rec, .old_fields = old};
    return 0;
}

/*  Sets field f of the pending changes to value (owned), replacing an earlier value of the
    same field (an input may name a field twice, in any case). by_field[i] is the value of
    obj->fields[i] in changes, NULL when unset: a lookup by name would cost a string
    comparison per change, for every field of every record. The item's name is the
    schema's own string (a constant key: a schema replaced by a patch is kept until the
    store is destroyed), so a stored record holds no copy of its field names. */
static void
s_change_set (cJSON *changes, cJSON **by_field, const sfsim_object_t *obj, const sfsim_field_t *f,
              cJSON *value)
{
    ptrdiff_t i = f - obj->fields;
    assert (i >= 0 && i < obj->field_count);
    if (by_field[i])
        cJSON_Delete (cJSON_DetachItemViaPointer (changes, by_field[i]));
    by_field[i] = cJSON_AddItemToObjectCS (changes, f->name, value) ? value : NULL;
}

int
sfsim_store_write (sfsim_store_t *self, const sfsim_object_t *obj, sfsim_write_mode_t mode,
                   const sfsim_field_t *ext_field, const char *ext_value, const cJSON *input,
                   int lock_fault, sfsim_undo_t *undo, sfsim_result_t *res)
{
    memset (res, 0, sizeof *res);
    sfsim_error_t *err = &res->error;
    cJSON *changes = cJSON_CreateObject ();
    cJSON **by_field = calloc ((size_t)obj->field_count + 1, sizeof *by_field);
    char missing[16][80];
    int missing_count = 0;
    char parent_id[19] = "";
    char buf[64];
    int rc = -1;
    table_t *t = s_table (self, obj);
    if (!changes || !by_field || !t) {
        sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
        goto out;
    }
    if (!cJSON_IsObject (input)) {
        sfsim_error_set (err, "INVALID_TYPE", NULL, "The record must be a JSON object");
        goto out;
    }
    /* 1. Each value: type, length, picklist; parents resolved to Ids. */
    const cJSON *item;
    cJSON_ArrayForEach (item, input)
    {
        if (strcmp (item->string, "attributes") == 0)
            continue;
        const sfsim_field_t *f = sfsim_object_field (obj, item->string);
        if (!f) {
            const sfsim_field_t *rf = sfsim_object_relationship (obj, item->string);
            if (!rf || !cJSON_IsObject (item)) {
                sfsim_error_set (err, "INVALID_FIELD", NULL,
                                 "No such column '%s' on sobject of type %s", item->string,
                                 obj->name);
                goto out;
            }
            char id[19];
            if (s_resolve_parent (self, rf, item, id, err))
                goto out;
            memcpy (parent_id, id, 19);
            s_change_set (changes, by_field, obj, rf, cJSON_CreateString (id));
            continue;
        }
        if (f->system) {
            sfsim_error_set (err, "INVALID_FIELD_FOR_INSERT_UPDATE", f->name,
                             "Unable to create/update fields: %s. Please check the security "
                             "settings of this field and verify that it is read/write for your "
                             "user profile or permission set.",
                             f->name);
            goto out;
        }
        cJSON *value;
        if (cJSON_IsNull (item) || (cJSON_IsString (item) && !item->valuestring[0])) {
            /* Salesforce stores an empty string as null. */
            if (f->required && missing_count < 16)
                snprintf (missing[missing_count++], sizeof missing[0], "%s", f->name);
            value = cJSON_CreateNull ();
        } else {
            value = sfsim_field_check (f, item, err);
            if (!value)
                goto out;
            if (f->type == SFSIM_T_REFERENCE) {
                if (s_check_reference (self, f, value->valuestring, err)) {
                    cJSON_Delete (value);
                    goto out;
                }
                if (strlen (value->valuestring) == 15) {
                    char id18[19];
                    sfsim_id_suffix (value->valuestring, id18);
                    cJSON_SetValuestring (value, id18);
                }
                snprintf (parent_id, sizeof parent_id, "%s", value->valuestring);
            }
        }
        s_change_set (changes, by_field, obj, f, value);
    }
    /* 2. The record to update, by external ID. */
    sfsim_record_t *rec = NULL;
    if (mode == SFSIM_WRITE_UPSERT && ext_field) {
        const cJSON *key = by_field[ext_field - obj->fields];
        if (ext_value) {
            cJSON *given = cJSON_CreateString (ext_value);
            cJSON *norm = sfsim_field_check (ext_field, given, err);
            cJSON_Delete (given);
            if (!norm)
                goto out;
            s_change_set (changes, by_field, obj, ext_field, norm);
            key = norm;
        }
        const char *k = key ? s_key (key, buf, sizeof buf) : NULL;
        if (!k) {
            sfsim_error_set (err, "MISSING_ARGUMENT", NULL, "%s not specified", ext_field->name);
            goto out;
        }
        sfsim_map_t *idx = s_index (t, ext_field->name);
        rec = idx ? sfsim_map_get (idx, k) : NULL;
    }
    /* 3. Required fields: on create every one must be set (defaults first). */
    if (!rec) {
        for (int i = 0; i < obj->field_count; i++) {
            const sfsim_field_t *f = &obj->fields[i];
            if (f->system || by_field[i])
                continue;
            if (f->default_value)
                s_change_set (changes, by_field, obj, f, cJSON_CreateString (f->default_value));
            else if (f->required && missing_count < 16)
                snprintf (missing[missing_count++], sizeof missing[0], "%s", f->name);
        }
    }
    if (missing_count > 0) {
        char list[1300] = "";
        size_t used = 0;
        for (int i = 0; i < missing_count; i++)
            used += (size_t)snprintf (list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                      missing[i]);
        sfsim_error_set (err, "REQUIRED_FIELD_MISSING", NULL, "Required fields are missing: [%s]",
                         list);
        for (int i = 0; i < missing_count; i++)
            memcpy (err->fields[i], missing[i], sizeof missing[i]);
        err->field_count = missing_count;
        goto out;
    }
    /* 4. Unique fields. */
    cJSON_ArrayForEach (item, changes)
    {
        sfsim_map_t *idx = s_index (t, item->string);
        const char *k = idx ? s_key (item, buf, sizeof buf) : NULL;
        sfsim_record_t *other = k ? sfsim_map_get (idx, k) : NULL;
        if (other && other != rec) {
            sfsim_error_set (err, "DUPLICATE_VALUE", NULL,
                             "duplicate value found: %s duplicates value on record with id: %s",
                             item->string, other->id);
            goto out;
        }
    }
    /* 5. Lock contention (injected). */
    if (lock_fault) {
        sfsim_error_set (err, "UNABLE_TO_LOCK_ROW", NULL,
                         "unable to obtain exclusive access to this record or 1 records: %s",
                         rec            ? rec->id
                         : parent_id[0] ? parent_id
                                        : "");
        goto out;
    }
    /* 6. Apply. */
    char now[40];
    s_now (now, sizeof now);
    if (rec) {
        if (undo) {
            cJSON *old = cJSON_Duplicate (rec->fields, 1);
            if (!old || s_undo_log (undo, t, rec, old)) {
                cJSON_Delete (old);
                sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
                goto out;
            }
        }
        s_index_record (t, rec, 0);
        cJSON *c = changes->child;
        while (c) {
            cJSON *next = c->next;
            cJSON_DetachItemViaPointer (changes, c);
            cJSON_DeleteItemFromObjectCaseSensitive (rec->fields, c->string);
            if (cJSON_IsNull (c))
                cJSON_Delete (c);
            else
                cJSON_AddItemToObjectCS (rec->fields, c->string, c);
            c = next;
        }
        cJSON_ReplaceItemInObjectCaseSensitive (rec->fields, "LastModifiedDate",
                                                cJSON_CreateString (now));
        cJSON_ReplaceItemInObjectCaseSensitive (rec->fields, "SystemModstamp",
                                                cJSON_CreateString (now));
        s_index_record (t, rec, 1);
        res->created = 0;
    } else {
        if (t->count == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 256;
            sfsim_record_t **grown = realloc (t->records, cap * sizeof *grown);
            if (!grown) {
                sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
                goto out;
            }
            t->records = grown;
            t->cap = cap;
        }
        rec = calloc (1, sizeof *rec);
        cJSON *fields = cJSON_CreateObject ();
        if (!rec || !fields) {
            free (rec);
            cJSON_Delete (fields);
            sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
            goto out;
        }
        s_new_id (t, rec->id);
        cJSON_AddItemToObjectCS (fields, "Id", cJSON_CreateString (rec->id));
        cJSON *c = changes->child;
        while (c) {
            cJSON *next = c->next;
            cJSON_DetachItemViaPointer (changes, c);
            if (cJSON_IsNull (c))
                cJSON_Delete (c);
            else
                cJSON_AddItemToObjectCS (fields, c->string, c);
            c = next;
        }
        cJSON_AddItemToObjectCS (fields, "CreatedDate", cJSON_CreateString (now));
        cJSON_AddItemToObjectCS (fields, "LastModifiedDate", cJSON_CreateString (now));
        cJSON_AddItemToObjectCS (fields, "SystemModstamp", cJSON_CreateString (now));
        rec->fields = fields;
        rec->index = t->count;
        t->records[t->count++] = rec;
        sfsim_map_put (t->by_id, rec->id, rec);
        s_index_record (t, rec, 1);
        if (undo && s_undo_log (undo, t, rec, NULL)) {
            sfsim_error_set (err, "UNKNOWN_EXCEPTION", NULL, "out of memory");
            goto out;
        }
        res->created = 1;
    }
    res->success = 1;
    memcpy (res->id, rec->id, 19);
    rc = 0;
out:
    cJSON_Delete (changes);
    free (by_field);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Undo */

sfsim_undo_t *
sfsim_undo_new (void)
{
    return calloc (1, sizeof (sfsim_undo_t));
}

void
sfsim_undo_destroy (sfsim_undo_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_undo_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        cJSON_Delete (self->entries[i].old_fields);
    free (self->entries);
    free (self);
    *self_p = NULL;
}

void
sfsim_store_rollback (sfsim_store_t *self, sfsim_undo_t *undo)
{
    while (undo->count > 0) {
        undo_entry_t *e = &undo->entries[--undo->count];
        table_t *t = e->table;
        sfsim_record_t *rec = e->record;
        s_index_record (t, rec, 0);
        if (e->old_fields) {
            cJSON_Delete (rec->fields);
            rec->fields = e->old_fields;
            s_index_record (t, rec, 1);
            continue;
        }
        sfsim_map_remove (t->by_id, rec->id);
        /* Creates are undone newest first, so the record is normally the last one. */
        size_t i = rec->index;
        memmove (&t->records[i], &t->records[i + 1], (t->count - i - 1) * sizeof (void *));
        t->count--;
        for (size_t j = i; j < t->count; j++)
            t->records[j]->index = j;
        cJSON_Delete (rec->fields);
        free (rec);
    }
}
