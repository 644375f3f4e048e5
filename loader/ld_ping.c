/*  ld_ping: token, limits and describe checks of every org. See ld_ping.h. */
#include "ld_ping.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cm_http.h"
#include "cm_log.h"
#include "sf_collections.h"

#define LD_PING_MAX_OBJECTS 256  /* distinct objects in a mapping */
#define LD_PING_MAX_NAMES   1000 /* fields or relationships of one object */

struct ld_needs_t {
    ld_need_t *objects; /* in first-seen order */
    size_t count;       /* used */
};

static void
s_strv_free (char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free (v[i]);
    free (v);
}

void
ld_needs_destroy (ld_needs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ld_needs_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        ld_need_t *o = &self->objects[i];
        free (o->sobject);
        free (o->ext_field);
        s_strv_free (o->fields, o->field_count);
        s_strv_free (o->rels, o->rel_count);
        s_strv_free (o->rel_parents, o->rel_count);
        s_strv_free (o->rel_keys, o->rel_count);
    }
    free (self->objects);
    free (self);
    *self_p = NULL;
}

size_t
ld_needs_count (const ld_needs_t *self)
{
    assert (self);
    return self->count;
}

const ld_need_t *
ld_needs_at (const ld_needs_t *self, size_t index)
{
    assert (self && index < self->count);
    return &self->objects[index];
}

//  The object's needs, created when new. NULL when over the bound or out of memory.
static ld_need_t *
s_object (ld_needs_t *self, const char *sobject)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->objects[i].sobject, sobject) == 0)
            return &self->objects[i];
    if (self->count >= LD_PING_MAX_OBJECTS)
        return NULL;
    ld_need_t *o = &self->objects[self->count];
    memset (o, 0, sizeof *o);
    o->sobject = strdup (sobject);
    if (!o->sobject)
        return NULL;
    self->count++;
    return o;
}

//  Appends name to a list unless present. -1 over the bound or out of memory.
static int
s_add_name (char ***v, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp ((*v)[i], name) == 0)
            return 0;
    if (*n >= LD_PING_MAX_NAMES)
        return -1;
    char **grown = realloc (*v, (*n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *v = grown;
    (*v)[*n] = strdup (name);
    if (!(*v)[*n])
        return -1;
    (*n)++;
    return 0;
}

//  A string member that must be an API name; NULL when absent. -1 when present but bad.
static int
s_name (const cJSON *obj, const char *member, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, member);
    *out = NULL;
    if (!item)
        return 0;
    if (!cJSON_IsString (item) || !sf_collections_name_ok (item->valuestring))
        return -1;
    *out = item->valuestring;
    return 0;
}

//  One route's needs. Returns 0, or -1 with err naming where.
static int
s_route (ld_needs_t *self, const cJSON *route, const char *where, char *err, size_t err_cap)
{
    if (!cJSON_IsObject (route)) {
        snprintf (err, err_cap, "%s: not an object", where);
        return -1;
    }
    if (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (route, "skip")))
        return 0;
    const char *sobject, *ext;
    if (s_name (route, "sobject", &sobject) || !sobject) {
        snprintf (err, err_cap, "%s: \"sobject\" must be an API name", where);
        return -1;
    }
    if (s_name (route, "external_id_field", &ext) || !ext) {
        snprintf (err, err_cap, "%s: \"external_id_field\" must be an API name", where);
        return -1;
    }
    ld_need_t *o = s_object (self, sobject);
    if (!o)
        goto bound;
    if (!o->ext_field && !(o->ext_field = strdup (ext)))
        goto bound;
    if (strcmp (o->ext_field, ext) != 0 && s_add_name (&o->fields, &o->field_count, ext) != 0)
        goto bound;
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive (route, "fields");
    if (fields && !cJSON_IsArray (fields)) {
        snprintf (err, err_cap, "%s: \"fields\" must be an array", where);
        return -1;
    }
    const cJSON *rule;
    size_t index = 0;
    cJSON_ArrayForEach (rule, fields)
    {
        const char *to;
        if (!cJSON_IsObject (rule) || s_name (rule, "to", &to) || !to) {
            snprintf (err, err_cap, "%s: field %zu: \"to\" must be an API name", where, index);
            return -1;
        }
        const cJSON *parent = cJSON_GetObjectItemCaseSensitive (rule, "parent");
        if (parent) {
            const char *psobject, *pext;
            if (!cJSON_IsObject (parent) || s_name (parent, "sobject", &psobject) || !psobject ||
                s_name (parent, "external_id_field", &pext) || !pext) {
                snprintf (err, err_cap,
                          "%s: field %s: \"parent\" needs \"sobject\" and \"external_id_field\"",
                          where, to);
                return -1;
            }
            bool known = false;
            for (size_t r = 0; r < o->rel_count; r++)
                known |= strcmp (o->rels[r], to) == 0;
            if (!known) {
                if (o->rel_count >= LD_PING_MAX_NAMES)
                    goto bound;
                char *rel = strdup (to), *ps = strdup (psobject), *pk = strdup (pext);
                bool grown = rel && ps && pk;
                char **g;
                //  A larger array than needed is harmless; the count says what is used
                if (grown && (g = realloc (o->rels, (o->rel_count + 1) * sizeof *g)))
                    o->rels = g;
                else
                    grown = false;
                if (grown && (g = realloc (o->rel_parents, (o->rel_count + 1) * sizeof *g)))
                    o->rel_parents = g;
                else
                    grown = false;
                if (grown && (g = realloc (o->rel_keys, (o->rel_count + 1) * sizeof *g)))
                    o->rel_keys = g;
                else
                    grown = false;
                if (!grown) {
                    free (rel);
                    free (ps);
                    free (pk);
                    goto bound;
                }
                o->rels[o->rel_count] = rel;
                o->rel_parents[o->rel_count] = ps;
                o->rel_keys[o->rel_count] = pk;
                o->rel_count++;
            }
            //  The parent object must have its external ID
            ld_need_t *p = s_object (self, psobject); //  the array never moves
            if (!p)
                goto bound;
            if (!p->ext_field) {
                if (!(p->ext_field = strdup (pext)))
                    goto bound;
            } else if (strcmp (p->ext_field, pext) != 0 &&
                       s_add_name (&p->fields, &p->field_count, pext) != 0)
                goto bound;
        } else if (strcmp (to, o->ext_field) != 0 &&
                   s_add_name (&o->fields, &o->field_count, to) != 0)
            goto bound;
        index++;
    }
    return 0;
bound:
    snprintf (err, err_cap, "%s: too many objects or fields (or out of memory)", where);
    return -1;
}

ld_needs_t *
ld_needs_parse (const char *text, size_t len, const char *origin, char *err, size_t err_cap)
{
    assert (origin);
    ld_needs_t *self = calloc (1, sizeof *self);
    cJSON *json = NULL;
    if (!self)
        goto oom;
    self->objects = calloc (LD_PING_MAX_OBJECTS, sizeof *self->objects);
    if (!self->objects)
        goto oom;
    if (!text || len > LD_PING_MAX_MAPPING) {
        snprintf (err, err_cap, "%s: empty or larger than %d bytes", origin, LD_PING_MAX_MAPPING);
        goto fail;
    }
    json = cJSON_ParseWithLength (text, len);
    const cJSON *entities = cJSON_GetObjectItemCaseSensitive (json, "entities");
    if (!cJSON_IsObject (json) || !cJSON_IsObject (entities)) {
        snprintf (err, err_cap, "%s: not a mapping (JSON object with \"entities\")", origin);
        goto fail;
    }
    const cJSON *entity;
    cJSON_ArrayForEach (entity, entities)
    {
        char where[256];
        const cJSON *routes = cJSON_GetObjectItemCaseSensitive (entity, "routes");
        if (!routes) {
            snprintf (where, sizeof where, "%s: entity '%.64s'", origin, entity->string);
            if (s_route (self, entity, where, err, err_cap) != 0)
                goto fail;
            continue;
        }
        if (!cJSON_IsArray (routes)) {
            snprintf (err, err_cap, "%s: entity '%.64s': \"routes\" must be an array", origin,
                      entity->string);
            goto fail;
        }
        const cJSON *route;
        size_t r = 0;
        cJSON_ArrayForEach (route, routes)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive (route, "name");
            char rname[80];
            if (cJSON_IsString (name))
                snprintf (rname, sizeof rname, "%.64s", name->valuestring);
            else
                snprintf (rname, sizeof rname, "%zu", r);
            snprintf (where, sizeof where, "%s: entity '%.64s', route '%s'", origin, entity->string,
                      rname);
            if (s_route (self, route, where, err, err_cap) != 0)
                goto fail;
            r++;
        }
    }
    cJSON_Delete (json);
    return self;
oom:
    snprintf (err, err_cap, "out of memory");
fail:
    cJSON_Delete (json);
    ld_needs_destroy (&self);
    return NULL;
}

ld_needs_t *
ld_needs_load (const char *path, char *err, size_t err_cap)
{
    FILE *f = path ? fopen (path, "rb") : NULL;
    if (!f) {
        snprintf (err, err_cap, "mapping file %s: %s", path ? path : "(none)",
                  path ? strerror (errno) : "transformer.mapping_file is not set");
        return NULL;
    }
    char *text = malloc (LD_PING_MAX_MAPPING + 1);
    size_t len = text ? fread (text, 1, LD_PING_MAX_MAPPING + 1, f) : 0;
    fclose (f);
    if (!text) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    ld_needs_t *self = ld_needs_parse (text, len, path, err, err_cap);
    free (text);
    return self;
}

/* ---------------------------------------------------------------------------------------- */
/* Describe check */

static void s_problem (ld_problem_fn *fn, void *arg, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_problem (ld_problem_fn *fn, void *arg, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    fn (arg, text);
}

//  The describe's field named name (case-insensitive), or NULL.
static const cJSON *
s_field (const cJSON *fields, const char *member, const char *name)
{
    const cJSON *f;
    cJSON_ArrayForEach (f, fields)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive (f, member);
        if (cJSON_IsString (n) && strcasecmp (n->valuestring, name) == 0)
            return f;
    }
    return NULL;
}

static bool
s_flag (const cJSON *field, const char *name)
{
    return cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (field, name));
}

long
ld_ping_check (const ld_need_t *need, const char *describe, size_t len, ld_problem_fn *fn,
               void *fn_arg)
{
    assert (need && fn);
    long problems = 0;
    cJSON *json =
        describe && len <= LD_PING_MAX_DESCRIBE ? cJSON_ParseWithLength (describe, len) : NULL;
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive (json, "fields");
    if (!cJSON_IsObject (json) || !cJSON_IsArray (fields)) {
        s_problem (fn, fn_arg, "%s: the describe answer is not an sObject describe", need->sobject);
        problems = 1;
        goto out;
    }
    if (need->ext_field) {
        const cJSON *f = s_field (fields, "name", need->ext_field);
        if (!f) {
            s_problem (fn, fn_arg, "%s: external ID field %s is missing", need->sobject,
                       need->ext_field);
            problems++;
        } else if (!s_flag (f, "externalId") && !s_flag (f, "idLookup")) {
            s_problem (fn, fn_arg, "%s: field %s is not an External ID field", need->sobject,
                       need->ext_field);
            problems++;
        } else if (!s_flag (f, "createable") && !s_flag (f, "updateable")) {
            s_problem (fn, fn_arg, "%s: external ID field %s is not writable", need->sobject,
                       need->ext_field);
            problems++;
        }
    }
    for (size_t i = 0; i < need->field_count; i++) {
        const cJSON *f = s_field (fields, "name", need->fields[i]);
        if (!f) {
            s_problem (fn, fn_arg, "%s: field %s is missing", need->sobject, need->fields[i]);
            problems++;
        } else if (!s_flag (f, "createable") && !s_flag (f, "updateable")) {
            s_problem (fn, fn_arg, "%s: field %s is not writable", need->sobject, need->fields[i]);
            problems++;
        }
    }
    for (size_t i = 0; i < need->rel_count; i++) {
        const cJSON *f = s_field (fields, "relationshipName", need->rels[i]);
        if (!f) {
            s_problem (fn, fn_arg, "%s: relationship %s (a lookup to %s) is missing", need->sobject,
                       need->rels[i], need->rel_parents[i]);
            problems++;
            continue;
        }
        const cJSON *refs = cJSON_GetObjectItemCaseSensitive (f, "referenceTo");
        bool points = false;
        const cJSON *ref;
        cJSON_ArrayForEach (ref, refs) points |=
            cJSON_IsString (ref) && strcasecmp (ref->valuestring, need->rel_parents[i]) == 0;
        if (!points) {
            s_problem (fn, fn_arg, "%s: relationship %s does not point to %s", need->sobject,
                       need->rels[i], need->rel_parents[i]);
            problems++;
        } else if (!s_flag (f, "createable") && !s_flag (f, "updateable")) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive (f, "name");
            s_problem (fn, fn_arg, "%s: lookup %s is not writable", need->sobject,
                       cJSON_IsString (name) ? name->valuestring : need->rels[i]);
            problems++;
        }
    }
out:
    cJSON_Delete (json);
    return problems;
}

/* ---------------------------------------------------------------------------------------- */
/* The run */

typedef struct {
    FILE *out;       /* report */
    const char *org; /* org name for each line */
} report_t;

static void
s_report_problem (void *arg, const char *problem)
{
    report_t *r = arg;
    fprintf (r->out, "  MISSING  org %s: %s\n", r->org, problem);
}

//  Reads DailyApiRequests from a /limits answer. -1 when absent.
static int
s_daily (const cm_http_response_t *resp, double *max, double *remaining)
{
    cJSON *json = resp->body && resp->body_len <= LD_PING_MAX_DESCRIBE
                      ? cJSON_ParseWithLength (resp->body, resp->body_len)
                      : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive (json, "DailyApiRequests");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive (d, "Max");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive (d, "Remaining");
    int rc = -1;
    if (cJSON_IsNumber (m) && cJSON_IsNumber (r)) {
        *max = m->valuedouble;
        *remaining = r->valuedouble;
        rc = 0;
    }
    cJSON_Delete (json);
    return rc;
}

int
ld_ping_run (ld_orgs_t *orgs, const ld_needs_t *needs, FILE *out)
{
    assert (orgs && needs && out);
    long problems = 0;
    for (size_t o = 0; o < ld_orgs_count (orgs); o++) {
        sf_org_t *org = ld_orgs_at (orgs, o);
        report_t report = {.out = out, .org = sf_org_name (org)};
        cm_http_response_t resp;
        sf_error_t err;
        //  The token comes with the first call
        sf_call_result_t r = sf_org_call (org, "GET", "/limits", NULL, 0, &resp, &err);
        if (r == SF_CALL_STOPPED) {
            fprintf (out, "  FAILED   org %s (%s): token: %s: %s\n", sf_org_name (org),
                     sf_org_url (org), err.code, err.message);
            cm_http_response_clear (&resp);
            problems++;
            continue;
        }
        fprintf (out, "  ok       org %s (%s): token (client credentials), API v%s\n",
                 sf_org_name (org), sf_org_url (org), sf_org_api_version (org));
        double max, remaining;
        if (r != SF_CALL_OK) {
            fprintf (out, "  FAILED   org %s: GET /limits: %s (HTTP %d): %s\n", sf_org_name (org),
                     err.code, err.http_status, err.message);
            problems++;
        } else if (s_daily (&resp, &max, &remaining) != 0) {
            fprintf (out, "  FAILED   org %s: GET /limits has no DailyApiRequests\n",
                     sf_org_name (org));
            problems++;
        } else
            fprintf (out, "  ok       org %s: daily API requests: %.0f of %.0f remaining\n",
                     sf_org_name (org), remaining, max);
        cm_http_response_clear (&resp);
        for (size_t i = 0; i < ld_needs_count (needs); i++) {
            const ld_need_t *need = ld_needs_at (needs, i);
            char path[160];
            snprintf (path, sizeof path, "/sobjects/%s/describe", need->sobject);
            r = sf_org_call (org, "GET", path, NULL, 0, &resp, &err);
            if (r == SF_CALL_OK) {
                long p = ld_ping_check (need, resp.body, resp.body_len, s_report_problem, &report);
                if (p == 0)
                    fprintf (out,
                             "  ok       org %s: %s: external ID %s, %zu fields, %zu parent "
                             "references\n",
                             sf_org_name (org), need->sobject,
                             need->ext_field ? need->ext_field : "-", need->field_count,
                             need->rel_count);
                problems += p;
            } else if (err.http_status == 404) {
                fprintf (out,
                         "  MISSING  org %s: object %s does not exist (or is not visible "
                         "to the connected app's user)\n",
                         sf_org_name (org), need->sobject);
                problems++;
            } else {
                fprintf (out, "  FAILED   org %s: describe %s: %s (HTTP %d): %s\n",
                         sf_org_name (org), need->sobject, err.code, err.http_status, err.message);
                problems++;
            }
            cm_http_response_clear (&resp);
        }
    }
    if (problems)
        fprintf (out, "ping: %ld problem%s\n", problems, problems == 1 ? "" : "s");
    else
        fprintf (out, "ping: ok\n");
    return problems ? 1 : 0;
}
