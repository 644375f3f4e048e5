/*  cm_config: the configuration schema, the JSON file loader and the MLC_ environment
    overrides. See cm_config.h. The schema table below is the single source of truth for
    every key (docs/architecture.md mirrors it). */
#include "cm_config.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <strings.h>

#include "cm_log.h"
#include "cm_secrets.h"

#define CM_CONFIG_MAX_FILE  (1024 * 1024) /* a larger config file is refused */
#define CM_CONFIG_MAX_STR   (64 * 1024)   /* no string value is longer */
#define CM_CONFIG_MAX_DEPTH 8             /* nesting deeper than this is refused */

extern char **environ;

typedef enum { T_STR, T_INT, T_BOOL } cm_type_t;

typedef struct {
    const char *key;     /* dotted key */
    cm_type_t type;      /* value type */
    const char *def_str; /* string default or NULL */
    int64_t def_int;     /* integer default (or bool default, 0/1) */
    int64_t min;         /* integer range, inclusive */
    int64_t max;
} cm_key_t;

#define S(k, d)                                                                                    \
    {                                                                                              \
        k, T_STR, d, 0, 0, 0                                                                       \
    }
#define I(k, d, lo, hi)                                                                            \
    {                                                                                              \
        k, T_INT, NULL, d, lo, hi                                                                  \
    }
#define B(k, d)                                                                                    \
    {                                                                                              \
        k, T_BOOL, NULL, d, 0, 1                                                                   \
    }
#define ENTITY(e, on, ido, props, keyprops)                                                        \
    B ("cloudsuite." e ".enabled", on), S ("cloudsuite." e ".ido", ido),                           \
        S ("cloudsuite." e ".properties", props), S ("cloudsuite." e ".key", keyprops),            \
        S ("cloudsuite." e ".watermark", "RecordDate"),                                            \
        I ("cloudsuite." e ".poll_interval_s", 0, 0, 604800)

static const cm_key_t s_schema[] = {
    S ("log.level", "info"),
    S ("data_dir", "./data"),
    S ("secrets.file", NULL),
    S ("zmq.extract_endpoint", "tcp://127.0.0.1:5551"),
    S ("zmq.load_endpoint", "tcp://127.0.0.1:5552"),
    S ("zmq.events_endpoint", "tcp://127.0.0.1:5553"),
    S ("zmq.replay_endpoint", "tcp://127.0.0.1:5554"),
    S ("zmq.control_endpoint", "tcp://127.0.0.1:5555"),
    S ("zmq.confirm_endpoint", "tcp://127.0.0.1:5556"),
    I ("zmq.hwm", 10000, 1, 10000000),
    S ("zmq.curve_secret_key", ""),
    S ("zmq.curve_server_key", ""),
    S ("zmq.curve_clients", ""),
    B ("zmq.allow_plaintext", 0),
    S ("metrics.listen", ""),
    I ("http.timeout_ms", 30000, 100, 3600000),
    I ("http.max_attempts", 8, 1, 100),
    I ("http.backoff_base_ms", 200, 1, 600000),
    I ("http.backoff_max_ms", 30000, 1, 3600000),
    I ("http.max_body_bytes", 67108864, 1024, 1073741824),
    S ("http.insecure_hosts", ""),
    S ("cloudsuite.tenant", NULL),
    S ("cloudsuite.ionapi_file", NULL),
    S ("cloudsuite.ionapi", NULL),
    S ("cloudsuite.mongoose_config", NULL),
    B ("cloudsuite.allow_http", 0),
    I ("cloudsuite.page_size", 200, 1, 10000),
    I ("cloudsuite.poll_interval_s", 300, 1, 604800),
    I ("cloudsuite.overlap_s", 300, 0, 2592000),
    I ("cloudsuite.token_margin_s", 60, 0, 86400),
    I ("cloudsuite.full_sync_interval_s", 86400, 0, 31536000),
    I ("cloudsuite.lease_s", 120, 1, 86400),
    I ("cloudsuite.lease_quiet_s", 30, 0, 86400),
    I ("cloudsuite.progress_interval_s", 10, 0, 86400),
    I ("cloudsuite.peer_grace_s", 120, 0, 86400),
    I ("cloudsuite.nice", 10, 0, 19),
    I ("cloudsuite.max_in_flight", 4000, 0, 10000000),
    ENTITY ("vendor", 1, "SLVendors",
            "VendNum,Name,Phone,Stat,CurrCode,TermsCode,VadAddr_1,VadAddr_2,VadAddr_3,"
            "VadAddr_4,VadCity,VadState,VadZip,VadCountry,ExternalEmailAddr,RecordDate,"
            "RowPointer",
            "VendNum"),
    ENTITY ("customer", 0, "SLCustomers",
            "CustNum,CustSeq,Name,CustType,Addr_1,Addr_2,Addr_3,Addr_4,City,State,Zip,Country,"
            "Phone,ExternalEmailAddr,CurrCode,TermsCode,CreditLimit,CreditHold,CreateDate,"
            "RecordDate,RowPointer",
            "CustNum,CustSeq"),
    ENTITY ("invoice", 0, "SLArinvs",
            "InvNum,InvSeq,CustNum,InvDate,DueDate,Amount,SalesTax,Freight,MiscCharges,Type,"
            "CoNum,TermsCode,AmountPaid,PaidInFull,RecordDate,RowPointer",
            "InvNum,InvSeq"),
    ENTITY ("po", 0, "SLPos",
            "PoNum,VendNum,OrderDate,Stat,Whse,TermsCode,VenCurrCode,RecordDate,RowPointer",
            "PoNum"),
    S ("transformer.mapping_file", "config/mapping.json"),
    I ("transformer.peer_grace_s", 120, 0, 86400),
    S ("salesforce.url", NULL),
    S ("salesforce.client_id", NULL),
    S ("salesforce.client_secret", NULL),
    S ("salesforce.api_version", "62.0"),
    B ("salesforce.allow_http", 0),
    I ("salesforce.batch_size", 200, 1, 200),
    I ("salesforce.flush_ms", 200, 0, 600000),
    I ("salesforce.max_batch_wait_ms", 2000, 0, 600000),
    I ("salesforce.session_ttl_s", 7200, 1, 2592000),
    I ("salesforce.token_margin_s", 300, 0, 86400),
    I ("salesforce.max_attempts", 10, 1, 1000),
    S ("salesforce.orgs_file", ""),
    I ("salesforce.max_in_flight", 4, 1, 64),
    I ("salesforce.max_held", 5000, 200, 1000000),
    I ("salesforce.bulk_threshold", 2000, 0, 1000000),
    I ("salesforce.bulk_timeout_s", 600, 10, 86400),
    I ("salesforce.slowdown_pct", 80, 0, 100),
    I ("salesforce.slowdown_ms", 1000, 0, 600000),
    I ("salesforce.pause_pct", 95, 0, 100),
    I ("salesforce.pause_s", 900, 1, 86400),
    I ("salesforce.drain_ms", 15000, 0, 3600000),
    I ("replayer.replay_rate", 50, 1, 100000),
    I ("replayer.redrive_base_s", 30, 0, 86400),
    I ("replayer.redrive_max_s", 3600, 1, 604800),
    I ("replayer.redrive_max_attempts", 8, 1, 1000),
    I ("replayer.audit_retention_days", 30, 0, 36500),
};

#define SCHEMA_COUNT (sizeof s_schema / sizeof s_schema[0])

/*  MLC_ variables that configure something other than a key. */
static const char *s_env_not_keys[] = {"MLC_CONFIG", "MLC_MASTER_KEY", "MLC_MASTER_KEY_FILE"};

struct cm_config_t {
    char *str[SCHEMA_COUNT];   /* string values (malloc'd) or NULL */
    int64_t num[SCHEMA_COUNT]; /* integer and boolean values */
    char *ref[SCHEMA_COUNT];   /* secret name a value was resolved from, or NULL */
};

static int
schema_find (const char *key)
{
    for (size_t i = 0; i < SCHEMA_COUNT; i++)
        if (strcmp (s_schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

/*  MLC_ + key in upper case with '.' as '_'. */
static void
env_name (const char *key, char *out, size_t cap)
{
    size_t o = 0;
    const char *prefix = "MLC_";
    for (const char *p = prefix; *p && o + 1 < cap; p++)
        out[o++] = *p;
    for (const char *p = key; *p && o + 1 < cap; p++)
        out[o++] = *p == '.' ? '_' : (char)toupper ((unsigned char)*p);
    out[o] = '\0';
}

bool
cm_config_is_secret (const char *key)
{
    if (!key)
        return false;
    const char *last = strrchr (key, '.');
    last = last ? last + 1 : key;
    size_t len = strlen (last);
    static const char *suffixes[] = {"secret",     "password",    "passwd",     "passphrase",
                                     "token",      "private_key", "master_key", "api_key",
                                     "secret_key", "saak",        "sask",       "ionapi"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t slen = strlen (suffixes[i]);
        if (len >= slen && strcasecmp (last + len - slen, suffixes[i]) == 0)
            return true;
    }
    return false;
}

static const char *
json_type_name (const cJSON *item)
{
    if (cJSON_IsString (item))
        return "string";
    if (cJSON_IsNumber (item))
        return "number";
    if (cJSON_IsBool (item))
        return "boolean";
    if (cJSON_IsNull (item))
        return "null";
    if (cJSON_IsArray (item))
        return "array";
    if (cJSON_IsObject (item))
        return "object";
    return "invalid";
}

static int
set_str (cm_config_t *self, int idx, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return -1;
    free (self->str[idx]);
    self->str[idx] = copy;
    return 0;
}

/*  Extra checks of values whose meaning the schema types do not capture. */
static int
check_value (cm_config_t *self, int idx, const char *origin, char *err, size_t err_cap)
{
    const cm_key_t *k = &s_schema[idx];
    if (strcmp (k->key, "log.level") == 0) {
        cm_log_level_t level;
        if (cm_log_level_parse (self->str[idx], &level) != 0) {
            snprintf (err, err_cap, "%s: '%s' must be debug, info, warn or error", origin, k->key);
            return -1;
        }
    }
    return 0;
}

/*  Applies one JSON leaf to the key at idx. */
static int
apply_json (cm_config_t *self, int idx, const cJSON *item, const char *path, char *err,
            size_t err_cap)
{
    const cm_key_t *k = &s_schema[idx];
    if (k->type == T_STR) {
        if (!cJSON_IsString (item) || !item->valuestring) {
            snprintf (err, err_cap, "config %s: key '%s': expected string, got %s", path, k->key,
                      json_type_name (item));
            return -1;
        }
        if (strlen (item->valuestring) > CM_CONFIG_MAX_STR) {
            snprintf (err, err_cap, "config %s: key '%s': value longer than %d bytes", path, k->key,
                      CM_CONFIG_MAX_STR);
            return -1;
        }
        if (set_str (self, idx, item->valuestring) != 0) {
            snprintf (err, err_cap, "config %s: out of memory", path);
            return -1;
        }
        return 0;
    }
    if (k->type == T_BOOL) {
        if (!cJSON_IsBool (item)) {
            snprintf (err, err_cap, "config %s: key '%s': expected boolean, got %s", path, k->key,
                      json_type_name (item));
            return -1;
        }
        self->num[idx] = cJSON_IsTrue (item) ? 1 : 0;
        return 0;
    }
    if (!cJSON_IsNumber (item)) {
        snprintf (err, err_cap, "config %s: key '%s': expected integer, got %s", path, k->key,
                  json_type_name (item));
        return -1;
    }
    double d = item->valuedouble;
    if (!isfinite (d) || d != floor (d)) {
        snprintf (err, err_cap, "config %s: key '%s': expected integer, got %g", path, k->key, d);
        return -1;
    }
    if (d < (double)k->min || d > (double)k->max) {
        snprintf (err, err_cap, "config %s: key '%s': %.0f out of range %lld..%lld", path, k->key,
                  d, (long long)k->min, (long long)k->max);
        return -1;
    }
    self->num[idx] = (int64_t)d;
    return 0;
}

static int
apply_object (cm_config_t *self, const cJSON *obj, const char *prefix, int depth, const char *path,
              char *err, size_t err_cap)
{
    if (depth > CM_CONFIG_MAX_DEPTH) {
        snprintf (err, err_cap, "config %s: nested deeper than %d levels at '%s'", path,
                  CM_CONFIG_MAX_DEPTH, prefix);
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach (item, obj)
    {
        char name[512];
        const char *member = item->string ? item->string : "";
        int n = *prefix ? snprintf (name, sizeof name, "%s.%s", prefix, member)
                        : snprintf (name, sizeof name, "%s", member);
        if (n < 0 || (size_t)n >= sizeof name) {
            snprintf (err, err_cap, "config %s: key name too long under '%.64s'", path, prefix);
            return -1;
        }
        int idx = schema_find (name);
        if (idx >= 0) {
            if (apply_json (self, idx, item, path, err, err_cap) != 0)
                return -1;
        } else if (cJSON_IsObject (item)) {
            if (apply_object (self, item, name, depth + 1, path, err, err_cap) != 0)
                return -1;
        } else {
            char shown[128];
            cm_log_excerpt (name, strlen (name), 100, shown, sizeof shown);
            snprintf (err, err_cap, "config %s: unknown key '%s'", path, shown);
            return -1;
        }
    }
    return 0;
}

static int
load_file (cm_config_t *self, const char *path, char *err, size_t err_cap)
{
    int rc = -1;
    char *text = NULL;
    cJSON *root = NULL;
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, err_cap, "config %s: cannot open: %s", path, strerror (errno));
        goto out;
    }
    text = malloc (CM_CONFIG_MAX_FILE + 1);
    if (!text) {
        snprintf (err, err_cap, "config %s: out of memory", path);
        goto out;
    }
    size_t len = fread (text, 1, CM_CONFIG_MAX_FILE + 1, f);
    if (ferror (f)) {
        snprintf (err, err_cap, "config %s: read error: %s", path, strerror (errno));
        goto out;
    }
    if (len > CM_CONFIG_MAX_FILE) {
        snprintf (err, err_cap, "config %s: larger than %d bytes", path, CM_CONFIG_MAX_FILE);
        goto out;
    }
    text[len] = '\0';
    if (memchr (text, '\0', len)) {
        snprintf (err, err_cap, "config %s: contains a NUL byte", path);
        goto out;
    }
    const char *end = NULL;
    root = cJSON_ParseWithOpts (text, &end, true);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        snprintf (err, err_cap, "config %s: invalid JSON near byte %zu", path, off);
        goto out;
    }
    if (!cJSON_IsObject (root)) {
        snprintf (err, err_cap, "config %s: expected a JSON object at the top level", path);
        goto out;
    }
    rc = apply_object (self, root, "", 0, path, err, err_cap);
out:
    if (f)
        fclose (f);
    cJSON_Delete (root);
    free (text);
    return rc;
}

static int
parse_env_bool (const char *v, int64_t *out)
{
    static const char *yes[] = {"true", "1", "yes"};
    static const char *no[] = {"false", "0", "no"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp (v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp (v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int
apply_env (cm_config_t *self, int idx, const char *var, const char *value, char *err,
           size_t err_cap)
{
    const cm_key_t *k = &s_schema[idx];
    bool secret = cm_config_is_secret (k->key);
    char shown[96];
    cm_log_excerpt (value, strlen (value), 64, shown, sizeof shown);
    if (secret)
        snprintf (shown, sizeof shown, "(secret)");
    if (k->type == T_STR) {
        if (strlen (value) > CM_CONFIG_MAX_STR) {
            snprintf (err, err_cap, "env %s: value longer than %d bytes", var, CM_CONFIG_MAX_STR);
            return -1;
        }
        if (set_str (self, idx, value) != 0) {
            snprintf (err, err_cap, "env %s: out of memory", var);
            return -1;
        }
        return 0;
    }
    if (k->type == T_BOOL) {
        if (parse_env_bool (value, &self->num[idx]) != 0) {
            snprintf (err, err_cap,
                      "env %s (key '%s'): '%s' is not a boolean (true/false/1/0/yes/no)", var,
                      k->key, shown);
            return -1;
        }
        return 0;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll (value, &end, 10);
    if (!*value || errno == ERANGE || !end || *end != '\0' || isspace ((unsigned char)*value)) {
        snprintf (err, err_cap, "env %s (key '%s'): '%s' is not an integer", var, k->key, shown);
        return -1;
    }
    if (v < k->min || v > k->max) {
        snprintf (err, err_cap, "env %s (key '%s'): %lld out of range %lld..%lld", var, k->key, v,
                  (long long)k->min, (long long)k->max);
        return -1;
    }
    self->num[idx] = v;
    return 0;
}

static int
load_env (cm_config_t *self, char *err, size_t err_cap)
{
    for (char **e = environ; e && *e; e++) {
        const char *entry = *e;
        if (strncmp (entry, "MLC_", 4) != 0)
            continue;
        const char *eq = strchr (entry, '=');
        if (!eq)
            continue;
        char var[256];
        size_t vlen = (size_t)(eq - entry);
        if (vlen >= sizeof var) {
            snprintf (err, err_cap, "env %.64s...: unknown MLC_ variable (no such setting)", entry);
            return -1;
        }
        memcpy (var, entry, vlen);
        var[vlen] = '\0';
        bool skip = false;
        for (size_t i = 0; i < sizeof s_env_not_keys / sizeof s_env_not_keys[0]; i++)
            if (strcmp (var, s_env_not_keys[i]) == 0)
                skip = true;
        if (skip)
            continue;
        int idx = -1;
        for (size_t i = 0; i < SCHEMA_COUNT && idx < 0; i++) {
            char name[256];
            env_name (s_schema[i].key, name, sizeof name);
            if (strcmp (name, var) == 0)
                idx = (int)i;
        }
        if (idx < 0) {
            char shown[128];
            cm_log_excerpt (var, strlen (var), 100, shown, sizeof shown);
            snprintf (err, err_cap, "env %s: unknown MLC_ variable (no such setting)", shown);
            return -1;
        }
        if (apply_env (self, idx, var, eq + 1, err, err_cap) != 0)
            return -1;
    }
    return 0;
}

/*  Replaces every "secret:NAME" value with the secret NAME from the encrypted store
    (secrets.file, default <data_dir>/secrets.enc), opened once with the master key. The
    errors name the key and the secret, never a value. */
static int
resolve_secrets (cm_config_t *self, char *err, size_t err_cap)
{
    int rc = -1;
    unsigned char *key = NULL;
    cm_secrets_t *store = NULL;
    char path[4096];
    int file_idx = schema_find ("secrets.file");
    for (size_t i = 0; i < SCHEMA_COUNT; i++) {
        const char *name = s_schema[i].type == T_STR ? cm_secrets_ref (self->str[i]) : NULL;
        if (!name)
            continue;
        if ((int)i == file_idx) {
            snprintf (err, err_cap, "config key 'secrets.file' cannot itself be a secret");
            goto out;
        }
        if (!cm_secrets_name_ok (name)) {
            snprintf (err, err_cap, "config key '%s': '%.140s' is not a valid secret name",
                      s_schema[i].key, name);
            goto out;
        }
        if (!store) {
            const char *file = self->str[file_idx];
            const char *dir = self->str[schema_find ("data_dir")];
            if (file && *file)
                snprintf (path, sizeof path, "%s", file);
            else
                snprintf (path, sizeof path, "%s/secrets.enc", dir ? dir : ".");
            char why[600];
            key = cm_secrets_master_key (why, sizeof why);
            store = key ? cm_secrets_open (path, key, false, why, sizeof why) : NULL;
            if (!store) {
                snprintf (err, err_cap, "config key '%s' = secret '%s': %s", s_schema[i].key, name,
                          why);
                goto out;
            }
        }
        char *value = NULL;
        size_t len = 0;
        char why[600] = "";
        int found = cm_secrets_get (store, name, &value, &len, why, sizeof why);
        if (found <= 0) {
            if (found == 0)
                snprintf (err, err_cap,
                          "config key '%s': secret '%s' is not in the secret store %s (add it "
                          "with mlc-secrets)",
                          s_schema[i].key, name, path);
            else
                snprintf (err, err_cap, "config key '%s' = secret '%s': %s", s_schema[i].key, name,
                          why);
            goto out;
        }
        char *ref = strdup (name);
        char *copy = malloc (len + 1);
        if (!ref || !copy) {
            free (ref);
            free (copy);
            cm_secrets_value_free (&value);
            snprintf (err, err_cap, "out of memory");
            goto out;
        }
        memcpy (copy, value, len + 1);
        cm_secrets_value_free (&value);
        sodium_memzero (self->str[i], strlen (self->str[i]));
        free (self->str[i]);
        self->str[i] = copy;
        free (self->ref[i]);
        self->ref[i] = ref;
    }
    rc = 0;
out:
    cm_secrets_destroy (&store);
    cm_secrets_key_free (&key);
    return rc;
}

static cm_config_t *
load_config (const char *path, bool resolve, char *err, size_t err_cap)
{
    cm_config_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < SCHEMA_COUNT; i++) {
        const cm_key_t *k = &s_schema[i];
        if (k->type == T_STR) {
            if (k->def_str && set_str (self, (int)i, k->def_str) != 0) {
                snprintf (err, err_cap, "out of memory");
                goto fail;
            }
        } else
            self->num[i] = k->def_int;
    }
    if (path && load_file (self, path, err, err_cap) != 0)
        goto fail;
    if (load_env (self, err, err_cap) != 0)
        goto fail;
    if (resolve && resolve_secrets (self, err, err_cap) != 0)
        goto fail;
    for (size_t i = 0; i < SCHEMA_COUNT; i++)
        if (s_schema[i].type == T_STR && self->str[i] &&
            check_value (self, (int)i, path ? path : "config", err, err_cap) != 0)
            goto fail;
    return self;
fail:
    cm_config_destroy (&self);
    return NULL;
}

cm_config_t *
cm_config_load (const char *path, char *err, size_t err_cap)
{
    return load_config (path, true, err, err_cap);
}

cm_config_t *
cm_config_load_unresolved (const char *path, char *err, size_t err_cap)
{
    return load_config (path, false, err, err_cap);
}

const char *
cm_config_secret_ref (const cm_config_t *self, const char *key)
{
    int idx = schema_find (key);
    assert (idx >= 0 && "config key not in the schema");
    return idx >= 0 ? self->ref[idx] : NULL;
}

void
cm_config_destroy (cm_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_config_t *self = *self_p;
    for (size_t i = 0; i < SCHEMA_COUNT; i++) {
        if (self->str[i]) {
            /*  Wipe values so secrets do not linger in freed memory. */
            sodium_memzero (self->str[i], strlen (self->str[i]));
            free (self->str[i]);
        }
        free (self->ref[i]);
    }
    free (self);
    *self_p = NULL;
}

static int
lookup (const char *key, cm_type_t type)
{
    int idx = schema_find (key);
    assert (idx >= 0 && "config key not in the schema");
    assert (s_schema[idx].type == type && "config key has another type");
    return idx;
}

const char *
cm_config_str (const cm_config_t *self, const char *key)
{
    int idx = lookup (key, T_STR);
    if (idx < 0)
        return NULL;
    return self->str[idx];
}

int64_t
cm_config_int (const cm_config_t *self, const char *key)
{
    int idx = lookup (key, T_INT);
    if (idx < 0)
        return 0;
    return self->num[idx];
}

bool
cm_config_bool (const cm_config_t *self, const char *key)
{
    int idx = lookup (key, T_BOOL);
    if (idx < 0)
        return false;
    return self->num[idx] != 0;
}

int
cm_config_require (const cm_config_t *self, const char *const *keys, char *err, size_t err_cap)
{
    for (size_t i = 0; keys && keys[i]; i++) {
        int idx = schema_find (keys[i]);
        assert (idx >= 0 && "config key not in the schema");
        if (idx < 0)
            continue;
        if (s_schema[idx].type != T_STR)
            continue; /* integers and booleans always have a value */
        const char *v = self->str[idx];
        if (!v || !*v) {
            char var[256];
            env_name (keys[i], var, sizeof var);
            snprintf (err, err_cap,
                      "missing required setting %s: set %s or %s in the config file%s", keys[i],
                      var, keys[i],
                      cm_config_is_secret (keys[i])
                          ? " (as secret:NAME from the encrypted store, see mlc-secrets)"
                          : "");
            return -1;
        }
    }
    return 0;
}
