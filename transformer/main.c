/*  mlc-transformer: maps CloudSuite records to Salesforce records (config/mapping.json)
    between the extractors and the loaders.

    mlc-transformer [--config FILE]
    mlc-transformer --check-mapping FILE [--config FILE]
    Exit status: 0 on success, after SIGTERM, or when the checked mapping is valid; 1 on a
    configuration or mapping error, or an invalid checked mapping; 2 on bad arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "cm_config.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "tf_loop.h"
#include "tf_mapping.h"
#include "tf_memory.h"

#define TF_DRAIN_MS 2000 /* time to finish queued work after SIGTERM */

static const char *const s_entities[] = {"vendor", "customer", "invoice", "po"};
#define S_ENTITY_COUNT (sizeof s_entities / sizeof s_entities[0])

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: mlc-transformer [--config FILE]\n"
                "       mlc-transformer --check-mapping FILE [--config FILE]\n"
                "  --config FILE         configuration file (default: $MLC_CONFIG, else none)\n"
                "  --check-mapping FILE  validate a mapping file, print what it maps, exit 0\n"
                "                        when valid, 1 when not; with a configuration, also\n"
                "                        check that every property it uses is extracted\n");
}

/*  Properties the mapping uses for an entity that cloudsuite.<entity>.properties does not
    extract: one log warning each (warn_log), or one printed line each (an error for an
    enabled entity, a note for a disabled one). Returns how many for enabled entities. */
static int
s_missing_properties (const tf_mapping_t *mapping, const cm_config_t *cfg, bool warn_log,
                      bool enabled_only)
{
    int missing = 0;
    for (size_t i = 0; i < S_ENTITY_COUNT; i++) {
        const char *entity = s_entities[i];
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", entity);
        bool enabled = cm_config_bool (cfg, key);
        if (enabled_only && !enabled)
            continue;
        char *used = tf_mapping_properties (mapping, entity);
        if (!used)
            continue;
        snprintf (key, sizeof key, "cloudsuite.%s.properties", entity);
        const char *have = cm_config_str (cfg, key);
        char *save = NULL;
        for (char *p = strtok_r (used, ",", &save); p; p = strtok_r (NULL, ",", &save)) {
            bool found = false;
            size_t pl = strlen (p);
            for (const char *h = have ? have : ""; *h;) {
                const char *c = strchr (h, ',');
                size_t hl = c ? (size_t)(c - h) : strlen (h);
                if (hl == pl && strncmp (h, p, pl) == 0)
                    found = true;
                h = c ? c + 1 : h + hl;
            }
            if (found)
                continue;
            missing += enabled;
            if (warn_log)
                cm_warn ("TRF_PROPERTY_NOT_EXTRACTED", "entity=%s property=%s setting=%s", entity,
                         p, key);
            else
                printf ("%s: entity '%s' uses property '%s', which %s does not extract%s\n",
                        enabled ? "error" : "note", entity, p, key,
                        enabled ? "" : " (entity disabled)");
        }
        free (used);
    }
    return missing;
}

static const char *
s_src_name (const tf_field_t *f)
{
    switch (f->src) {
    case TF_SRC_FROM:
        return "from";
    case TF_SRC_TEMPLATE:
        return "template";
    case TF_SRC_CONST:
        return "const";
    case TF_SRC_PARENT:
        return "parent";
    case TF_SRC_TARGET:
        return "from_target";
    }
    return "?";
}

/*  The operator command: validate and describe a mapping. */
static int
s_check_mapping (const char *file, const char *config_path)
{
    char err[1024];
    tf_mapping_t *mapping = tf_mapping_load (file, err, sizeof err);
    if (!mapping) {
        printf ("error: %s\n", err);
        printf ("mapping INVALID\n");
        return 1;
    }
    size_t routes = 0, fields = 0;
    for (size_t i = 0; i < tf_mapping_entity_count (mapping); i++) {
        const tf_entity_t *e = tf_mapping_entity_at (mapping, i);
        printf ("entity %s: %zu route%s\n", e->name, e->route_count,
                e->route_count == 1 ? "" : "s");
        for (size_t r = 0; r < e->route_count; r++) {
            const tf_route_t *route = &e->routes[r];
            routes++;
            const char *name = route->name[0] ? route->name : "(always)";
            if (route->skip) {
                printf ("  route %s%s: skip\n", name, route->when ? " (conditional)" : "");
                continue;
            }
            printf ("  route %s%s -> %s by %s = %s%s%s, %zu fields\n", name,
                    route->when ? " (conditional)" : "", route->sobject, route->ext_field,
                    route->key.source, route->match_key.count ? ", match key " : "",
                    route->match_key.count ? route->match_key.source : "", route->field_count);
            for (size_t f = 0; f < route->field_count; f++) {
                const tf_field_t *field = &route->fields[f];
                fields++;
                printf ("    %-32s %-11s%s%s%s\n", field->to, s_src_name (field),
                        field->required ? " required" : "", field->merge_union ? " union" : "",
                        field->src == TF_SRC_PARENT ? " (parent reference)" : "");
            }
        }
        char *props = tf_mapping_properties (mapping, e->name);
        printf ("  source properties used: %s\n", props ? props : "");
        free (props);
    }
    int rc = 0;
    if (config_path) {
        cm_config_t *cfg = cm_config_load (config_path, err, sizeof err);
        if (!cfg) {
            printf ("error: %s\n", err);
            rc = 1;
        } else {
            if (s_missing_properties (mapping, cfg, false, false) > 0)
                rc = 1;
            cm_config_destroy (&cfg);
        }
    }
    if (tf_mapping_uses_union (mapping))
        printf ("note: union fields keep their values in data_dir/transformer\n");
    printf ("mapping %s: %zu entities, %zu routes, %zu fields\n", rc ? "INVALID" : "OK",
            tf_mapping_entity_count (mapping), routes, fields);
    tf_mapping_destroy (&mapping);
    return rc;
}

static bool
s_uses_memory (const tf_mapping_t *mapping)
{
    if (tf_mapping_uses_union (mapping))
        return true;
    for (size_t i = 0; i < tf_mapping_entity_count (mapping); i++) {
        const tf_entity_t *e = tf_mapping_entity_at (mapping, i);
        for (size_t r = 0; r < e->route_count; r++)
            if (e->routes[r].match_key.count)
                return true;
    }
    return false;
}

int
main (int argc, char **argv)
{
    const char *path = getenv ("MLC_CONFIG");
    const char *check = NULL;
    bool explicit_config = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
            explicit_config = true;
        } else if (strcmp (argv[i], "--check-mapping") == 0 && i + 1 < argc)
            check = argv[++i];
        else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        } else {
            s_usage (stderr);
            return 2;
        }
    }
    if (check)
        return s_check_mapping (check, explicit_config ? path : NULL);

    cm_signal_install ();
    cm_log_init ("transformer", CM_LOG_INFO);
    int rc = 1;
    char err[1024];
    cm_config_t *cfg = NULL;
    tf_mapping_t *mapping = NULL;
    tf_memory_t *memory = NULL;
    tf_memory_ops_t mem_ops;
    void *ctx = NULL;
    tf_loop_t *loop = NULL;

    cfg = cm_config_load (path, err, sizeof err);
    if (!cfg)
        goto fail_msg;
    cm_log_level_t level = CM_LOG_INFO;
    cm_log_level_parse (cm_config_str (cfg, "log.level"), &level);
    cm_log_init ("transformer", level);
    const char *mapping_file = cm_config_str (cfg, "transformer.mapping_file");
    mapping = tf_mapping_load (mapping_file ? mapping_file : "", err, sizeof err);
    if (!mapping)
        goto fail_msg;
    s_missing_properties (mapping, cfg, true, true);
    if (s_uses_memory (mapping)) {
        const char *data_dir = cm_config_str (cfg, "data_dir");
        char dir[4096];
        if (mkdir (data_dir, 0700) != 0 && errno != EEXIST) {
            snprintf (err, sizeof err, "data_dir %s: cannot create: %s", data_dir,
                      strerror (errno));
            goto fail_msg;
        }
        snprintf (dir, sizeof dir, "%s/transformer", data_dir);
        memory = tf_memory_open (dir, err, sizeof err);
        if (!memory)
            goto fail_msg;
        tf_memory_ops (memory, &mem_ops);
    }
    ctx = zmq_ctx_new ();
    if (!ctx) {
        snprintf (err, sizeof err, "cannot create the ZeroMQ context");
        goto fail_msg;
    }
    tf_loop_config_t lc = {cm_config_str (cfg, "zmq.extract_endpoint"),
                           cm_config_str (cfg, "zmq.load_endpoint"),
                           cm_config_str (cfg, "zmq.events_endpoint"),
                           (int)cm_config_int (cfg, "zmq.hwm"), TF_DRAIN_MS};
    loop = tf_loop_new (ctx, &lc, mapping, memory ? &mem_ops : NULL, err, sizeof err);
    if (!loop)
        goto fail_msg;
    cm_info ("TRF_START", "mapping=%s entities=%zu memory=%s extract=%s load=%s events=%s",
             mapping_file, tf_mapping_entity_count (mapping), memory ? "on" : "off",
             lc.extract_endpoint, lc.load_endpoint, lc.events_endpoint);
    rc = tf_loop_run (loop, 0) == 0 ? 0 : 1;
    goto out;

fail_msg:;
    char msg[1200];
    cm_log_excerpt (err, strlen (err), 1000, msg, sizeof msg);
    cm_error ("TRF_FATAL", "reason=\"%s\"", msg);
    rc = 1;
out:
    tf_loop_destroy (&loop);
    if (ctx)
        zmq_ctx_term (ctx);
    tf_memory_destroy (&memory);
    tf_mapping_destroy (&mapping);
    cm_config_destroy (&cfg);
    return rc;
}
