/*  mlc-transformer: maps CloudSuite records to Salesforce records (config/mapping.json)
    between the extractors and the loaders.

    mlc-transformer [--config FILE]
    mlc-transformer [--config FILE] health   probes metrics.listen: exit 0 healthy, 1 not
    mlc-transformer --check-mapping FILE [--config FILE]
    mlc-transformer --map-records|--bench [OPTIONS] ENTITY=FILE...   (tf_cli.h)
    Exit status: 0 on success, after SIGTERM, or when the checked mapping is valid; 1 on a
    configuration or mapping error, or an invalid checked mapping; 2 on bad arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "cm_config.h"
#include "cm_daemon.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "tf_cli.h"
#include "tf_loop.h"
#include "tf_mapping.h"
#include "tf_memory.h"
#include "tf_ops.h"

#define TF_DRAIN_MS 2000 /* time to finish queued work after SIGTERM */

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: mlc-transformer [--config FILE]\n"
                "       mlc-transformer --check-mapping FILE [--config FILE]\n"
                "       mlc-transformer --map-records [OPTIONS] ENTITY=FILE...\n"
                "       mlc-transformer --bench [OPTIONS] [--passes N] ENTITY=FILE...\n"
                "  --config FILE         configuration file (default: $MLC_CONFIG, else none)\n"
                "  --check-mapping FILE  validate a mapping file, print what it maps, exit 0\n"
                "                        when valid, 1 when not; with a configuration, also\n"
                "                        check that every property it uses is extracted\n"
                "  --map-records         dry run: map records (IDO LoadCollection JSON, one file\n"
                "                        per entity, in order) and print one JSON line each\n"
                "                        with the exact payload, or the rejection and reason\n"
                "  --bench               throughput of the transformer on one core\n"
                "  OPTIONS: --mapping FILE (default transformer.mapping_file), --tenant T\n"
                "           (default cloudsuite.tenant), --memory DIR (default: a fresh\n"
                "           temporary memory), --no-memory\n"
                "  ENTITY: vendor, customer, invoice, po; FILE '-' is standard input\n");
}

/*  Options of --map-records and --bench after the command word. Returns 0, or 2 with a
    message on stderr. */
static int
s_parse_tool (int argc, char **argv, int i, tf_cli_options_t *o)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp (a, "--mapping") == 0 && has)
            o->mapping_file = argv[++i];
        else if (strcmp (a, "--config") == 0 && has)
            o->config_file = argv[++i];
        else if (strcmp (a, "--tenant") == 0 && has)
            o->tenant = argv[++i];
        else if (strcmp (a, "--memory") == 0 && has)
            o->memory_dir = argv[++i];
        else if (strcmp (a, "--no-memory") == 0)
            o->no_memory = true;
        else if (strcmp (a, "--passes") == 0 && has) {
            char *end = NULL;
            long n = strtol (argv[++i], &end, 10);
            if (!end || *end || n < 1 || n > 1000) {
                fprintf (stderr, "--passes: give 1..1000\n");
                return 2;
            }
            o->passes = (int)n;
        } else if (a[0] != '-' && strchr (a, '=')) {
            if (o->input_count == TF_CLI_MAX_INPUTS) {
                fprintf (stderr, "at most %d ENTITY=FILE arguments\n", TF_CLI_MAX_INPUTS);
                return 2;
            }
            char *eq = strchr (a, '=');
            *eq = 0;
            o->entities[o->input_count] = a;
            o->files[o->input_count++] = eq + 1;
        } else {
            fprintf (stderr, "unknown or incomplete argument '%.80s'\n", a);
            s_usage (stderr);
            return 2;
        }
    }
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc > 1 && (strcmp (argv[1], "--map-records") == 0 || strcmp (argv[1], "--bench") == 0)) {
        tf_cli_options_t opts;
        memset (&opts, 0, sizeof opts);
        opts.config_file = getenv ("MLC_CONFIG");
        int rc = s_parse_tool (argc, argv, 2, &opts);
        if (rc)
            return rc;
        return strcmp (argv[1], "--bench") == 0 ? tf_cli_bench (&opts) : tf_cli_map_records (&opts);
    }
    const char *path = getenv ("MLC_CONFIG");
    const char *check = NULL;
    bool explicit_config = false, health = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
            explicit_config = true;
        } else if (strcmp (argv[i], "--check-mapping") == 0 && i + 1 < argc)
            check = argv[++i];
        else if (strcmp (argv[i], "health") == 0)
            health = true;
        else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        } else {
            s_usage (stderr);
            return 2;
        }
    }
    if (check)
        return tf_cli_check_mapping (check, explicit_config ? path : NULL);

    cm_signal_install ();
    cm_daemon_tune_memory ();
    cm_log_init ("transformer", CM_LOG_INFO);
    int rc = 1;
    char err[1024];
    cm_config_t *cfg = NULL;
    tf_mapping_t *mapping = NULL;
    tf_memory_t *memory = NULL;
    tf_memory_ops_t mem_ops;
    void *ctx = NULL;
    cm_daemon_t *ops = NULL;
    tf_ops_t *tf_ops = NULL;
    tf_loop_t *loop = NULL;

    cfg = cm_config_load (path, err, sizeof err);
    if (!cfg)
        goto fail_msg;
    if (health) {
        rc = cm_daemon_health_command (cfg, "transformer");
        goto out;
    }
    cm_log_level_t level = CM_LOG_INFO;
    cm_log_level_parse (cm_config_str (cfg, "log.level"), &level);
    cm_log_init ("transformer", level);
    const char *mapping_file = cm_config_str (cfg, "transformer.mapping_file");
    mapping = tf_mapping_load (mapping_file ? mapping_file : "", err, sizeof err);
    if (!mapping) {
        char why[sizeof err];
        snprintf (why, sizeof why, "%s", err);
        snprintf (err, sizeof err,
                  "mapping (transformer.mapping_file): %.400s; fix the file, or point "
                  "transformer.mapping_file (env MLC_TRANSFORMER_MAPPING_FILE) at a valid "
                  "mapping (docs/mapping.md)",
                  why);
        goto fail_msg;
    }
    tf_cli_missing_properties (mapping, cfg, true);
    if (tf_mapping_uses_memory (mapping)) {
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
                           (int)cm_config_int (cfg, "zmq.hwm"), TF_DRAIN_MS,
                           //  Whole batches to the loaders (issue 8): tf_loop.h
                           (int)cm_config_int (cfg, "salesforce.batch_size"),
                           (int)cm_config_int (cfg, "salesforce.flush_ms"),
                           (int)cm_config_int (cfg, "salesforce.max_batch_wait_ms")};
    ops = cm_daemon_new ("transformer", ctx, cfg, err, sizeof err);
    if (!ops)
        goto fail_msg;
    loop = tf_loop_new (ctx, &lc, mapping, memory ? &mem_ops : NULL, err, sizeof err);
    if (!loop)
        goto fail_msg;
    tf_ops = tf_ops_new (ops, loop, memory ? &mem_ops : NULL,
                         (int)cm_config_int (cfg, "transformer.peer_grace_s"));
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
    cm_daemon_stop (ops); //  no sampler reads the loop any more
    tf_loop_destroy (&loop);
    cm_daemon_destroy (&ops);
    tf_ops_destroy (&tf_ops);
    if (ctx)
        zmq_ctx_term (ctx);
    tf_memory_destroy (&memory);
    tf_mapping_destroy (&mapping);
    cm_config_destroy (&cfg);
    return rc;
}
