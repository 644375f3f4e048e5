/*  ld_orgs: tenant -> org map. See ld_orgs.h. */
#include "ld_orgs.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

typedef struct {
    char *tenant; /* tenant id */
    size_t org;   /* index into orgs */
} route_t;

struct ld_orgs_t {
    sf_org_t **orgs;    /* distinct orgs */
    char **urls;        /* their URLs (sharing key, with ids) */
    char **ids;         /* their client ids */
    char **secrets;     /* their secrets, to detect a conflict (wiped on destroy) */
    size_t count;       /* orgs used */
    route_t *routes;    /* tenants of the file, sorted by tenant */
    size_t route_count; /* their number */
    long default_org;   /* index of the default org, -1 when none */
};

static void
s_wipe (char **s)
{
    if (*s) {
        sodium_memzero (*s, strlen (*s));
        free (*s);
        *s = NULL;
    }
}

void
ld_orgs_destroy (ld_orgs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ld_orgs_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        sf_org_destroy (&self->orgs[i]);
        free (self->urls[i]);
        free (self->ids[i]);
        s_wipe (&self->secrets[i]);
    }
    for (size_t i = 0; i < self->route_count; i++)
        free (self->routes[i].tenant);
    free (self->orgs);
    free (self->urls);
    free (self->ids);
    free (self->secrets);
    free (self->routes);
    free (self);
    *self_p = NULL;
}

//  Same org: same URL (ignoring a trailing '/') and client id.
static bool
s_same_url (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncasecmp (a, b, la) == 0;
}

//  Adds (or finds) the org of c. Returns its index, or -1 with err set.
static long
s_org_add (ld_orgs_t *self, const sf_org_config_t *c, size_t cap, char *err, size_t err_cap)
{
    for (size_t i = 0; i < self->count; i++)
        if (s_same_url (self->urls[i], c->url) && strcmp (self->ids[i], c->client_id) == 0) {
            if (strcmp (self->secrets[i], c->client_secret) != 0) {
                snprintf (err, err_cap,
                          "two different client secrets for the org %s and client id %.40s", c->url,
                          c->client_id);
                return -1;
            }
            return (long)i;
        }
    assert (self->count < cap);
    sf_org_t *org = sf_org_new (c, err, err_cap);
    if (!org)
        return -1;
    size_t i = self->count;
    self->orgs[i] = org;
    self->urls[i] = strdup (c->url);
    self->ids[i] = strdup (c->client_id);
    self->secrets[i] = strdup (c->client_secret);
    self->count++;
    if (!self->urls[i] || !self->ids[i] || !self->secrets[i]) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    return (long)i;
}

static int
s_route_cmp (const void *a, const void *b)
{
    return strcmp (((const route_t *)a)->tenant, ((const route_t *)b)->tenant);
}

static bool
s_tenant_ok (const char *t)
{
    size_t len = strlen (t);
    if (len == 0 || len > LD_ORGS_MAX_TENANT)
        return false;
    for (const char *p = t; *p; p++)
        if (!isalnum ((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

//  A string member of one tenant's entry, or NULL. -1 when present but not a string.
static int
s_member (const cJSON *entry, const char *name, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (entry, name);
    *out = NULL;
    if (!item)
        return 0;
    if (!cJSON_IsString (item) || !*item->valuestring)
        return -1;
    *out = item->valuestring;
    return 0;
}

ld_orgs_t *
ld_orgs_parse (const sf_org_config_t *base, bool have_default, const char *text, size_t len,
               const char *origin, ld_secret_fn *resolve, void *resolve_arg, char *err,
               size_t err_cap)
{
    assert (base && origin);
    ld_orgs_t *self = calloc (1, sizeof *self);
    cJSON *json = NULL;
    char *secret = NULL;
    if (!self)
        goto oom;
    self->default_org = -1;
    size_t tenants = 0;
    if (text) {
        if (len > LD_ORGS_MAX_FILE) {
            snprintf (err, err_cap, "%s: larger than %d bytes", origin, LD_ORGS_MAX_FILE);
            goto fail;
        }
        const char *end = NULL;
        json = cJSON_ParseWithLengthOpts (text, len, &end, false);
        if (!json) {
            snprintf (err, err_cap, "%s: not well-formed JSON (near byte %zu)", origin,
                      end && end >= text ? (size_t)(end - text) : (size_t)0);
            goto fail;
        }
        if (!cJSON_IsObject (json)) {
            snprintf (err, err_cap, "%s: expected an object of tenant -> org settings", origin);
            goto fail;
        }
        tenants = (size_t)cJSON_GetArraySize (json);
        if (tenants > LD_ORGS_MAX_TENANTS) {
            snprintf (err, err_cap, "%s: more than %d tenants", origin, LD_ORGS_MAX_TENANTS);
            goto fail;
        }
    }
    size_t cap = tenants + 1;
    self->orgs = calloc (cap, sizeof *self->orgs);
    self->urls = calloc (cap, sizeof *self->urls);
    self->ids = calloc (cap, sizeof *self->ids);
    self->secrets = calloc (cap, sizeof *self->secrets);
    self->routes = calloc (tenants ? tenants : 1, sizeof *self->routes);
    if (!self->orgs || !self->urls || !self->ids || !self->secrets || !self->routes)
        goto oom;
    if (have_default) {
        char why[400];
        self->default_org = s_org_add (self, base, cap, why, sizeof why);
        if (self->default_org < 0) {
            snprintf (err, err_cap, "default org (salesforce.*): %s", why);
            goto fail;
        }
    }
    const cJSON *entry;
    cJSON_ArrayForEach (entry, json)
    {
        const char *tenant = entry->string;
        if (!tenant || !s_tenant_ok (tenant)) {
            snprintf (err, err_cap,
                      "%s: tenant '%.64s' is not a tenant id (1..%d letters, digits, _ - .)",
                      origin, tenant ? tenant : "", LD_ORGS_MAX_TENANT);
            goto fail;
        }
        if (!cJSON_IsObject (entry)) {
            snprintf (err, err_cap, "%s: tenant %s: expected an object", origin, tenant);
            goto fail;
        }
        static const char *const known[] = {"url", "client_id", "client_secret",
                                            "client_secret_env", "api_version"};
        const cJSON *kv;
        cJSON_ArrayForEach (kv, entry)
        {
            bool ok = false;
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                ok |= kv->string && strcmp (kv->string, known[k]) == 0;
            if (!ok) {
                snprintf (err, err_cap,
                          "%s: tenant %s: unknown key '%.64s' (known: url, "
                          "client_id, client_secret, client_secret_env, api_version)",
                          origin, tenant, kv->string ? kv->string : "");
                goto fail;
            }
        }
        const char *url, *id, *sec, *env, *version;
        const char *bad = s_member (entry, "url", &url)                 ? "url"
                          : s_member (entry, "client_id", &id)          ? "client_id"
                          : s_member (entry, "client_secret", &sec)     ? "client_secret"
                          : s_member (entry, "client_secret_env", &env) ? "client_secret_env"
                          : s_member (entry, "api_version", &version)   ? "api_version"
                                                                        : NULL;
        if (bad) {
            snprintf (err, err_cap, "%s: tenant %s: %s must be a non-empty string", origin, tenant,
                      bad);
            goto fail;
        }
        if (!url || !id) {
            snprintf (err, err_cap, "%s: tenant %s: %s is required", origin, tenant,
                      !url ? "url" : "client_id");
            goto fail;
        }
        if ((sec != NULL) == (env != NULL)) {
            snprintf (err, err_cap,
                      "%s: tenant %s: give exactly one of client_secret and client_secret_env",
                      origin, tenant);
            goto fail;
        }
        if (env) {
            const char *value = getenv (env);
            if (!value || !*value) {
                snprintf (err, err_cap,
                          "%s: tenant %s: client_secret_env names %.64s, which is not set", origin,
                          tenant, env);
                goto fail;
            }
            secret = strdup (value);
        } else if (strncmp (sec, "secret:", 7) == 0) {
            char why[256] = "no secret store is configured";
            if (!resolve || resolve (resolve_arg, sec, &secret, why, sizeof why) != 0) {
                secret = NULL;
                snprintf (err, err_cap, "%s: tenant %s: client_secret %.80s: %s", origin, tenant,
                          sec, why);
                goto fail;
            }
        } else
            secret = strdup (sec);
        if (!secret)
            goto oom;
        sf_org_config_t c = *base;
        c.name = tenant;
        c.url = url;
        c.client_id = id;
        c.client_secret = secret;
        if (version)
            c.api_version = version;
        char why[400];
        long index = s_org_add (self, &c, cap, why, sizeof why);
        s_wipe (&secret);
        if (index < 0) {
            snprintf (err, err_cap, "%s: tenant %s: %s", origin, tenant, why);
            goto fail;
        }
        for (size_t r = 0; r < self->route_count; r++)
            if (strcmp (self->routes[r].tenant, tenant) == 0) {
                snprintf (err, err_cap, "%s: tenant %s is listed twice", origin, tenant);
                goto fail;
            }
        self->routes[self->route_count].tenant = strdup (tenant);
        if (!self->routes[self->route_count].tenant)
            goto oom;
        self->routes[self->route_count++].org = (size_t)index;
    }
    if (self->count == 0) {
        snprintf (err, err_cap,
                  "no Salesforce org: set salesforce.url, salesforce.client_id "
                  "and salesforce.client_secret, or salesforce.orgs_file");
        goto fail;
    }
    qsort (self->routes, self->route_count, sizeof *self->routes, s_route_cmp);
    cJSON_Delete (json);
    return self;
oom:
    snprintf (err, err_cap, "out of memory");
fail:
    s_wipe (&secret);
    cJSON_Delete (json);
    ld_orgs_destroy (&self);
    return NULL;
}

ld_orgs_t *
ld_orgs_new (const sf_org_config_t *base, bool have_default, const char *orgs_file,
             ld_secret_fn *resolve, void *resolve_arg, char *err, size_t err_cap)
{
    if (!orgs_file || !*orgs_file)
        return ld_orgs_parse (base, have_default, NULL, 0, "salesforce.orgs_file", resolve,
                              resolve_arg, err, err_cap);
    FILE *f = fopen (orgs_file, "rb");
    if (!f) {
        snprintf (err, err_cap, "salesforce.orgs_file %s: %s", orgs_file, strerror (errno));
        return NULL;
    }
    char *text = malloc (LD_ORGS_MAX_FILE + 1);
    size_t len = text ? fread (text, 1, LD_ORGS_MAX_FILE + 1, f) : 0;
    bool read_error = ferror (f);
    fclose (f);
    if (!text || read_error) {
        free (text);
        snprintf (err, err_cap, "salesforce.orgs_file %s: %s", orgs_file,
                  text ? "read error" : "out of memory");
        return NULL;
    }
    ld_orgs_t *self = ld_orgs_parse (base, have_default, text, len, orgs_file, resolve, resolve_arg,
                                     err, err_cap);
    free (text);
    return self;
}

long
ld_orgs_index (const ld_orgs_t *self, const char *tenant)
{
    assert (self);
    if (tenant && self->route_count) {
        route_t key = {.tenant = (char *)tenant};
        const route_t *r =
            bsearch (&key, self->routes, self->route_count, sizeof *self->routes, s_route_cmp);
        if (r)
            return (long)r->org;
    }
    return self->default_org;
}

sf_org_t *
ld_orgs_find (const ld_orgs_t *self, const char *tenant)
{
    long i = ld_orgs_index (self, tenant);
    return i < 0 ? NULL : self->orgs[i];
}

size_t
ld_orgs_count (const ld_orgs_t *self)
{
    assert (self);
    return self->count;
}

sf_org_t *
ld_orgs_at (const ld_orgs_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->orgs[index];
}
