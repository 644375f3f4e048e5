/*  mlc-loader: upserts transformed records into Salesforce.

    mlc-loader [--config FILE] [run]
        Reads the configuration (FILE, or MLC_CONFIG, then MLC_ environment variables),
        connects to the transformer and the replayer, and runs until SIGTERM or SIGINT, then
        flushes what it holds and exits 0.
    mlc-loader [--config FILE] ping
        Checks the Salesforce side before a single record is sent: for every org, a token,
        GET /limits (the daily allowance left) and a describe of every object of the
        mapping file (transformer.mapping_file), naming each field, external ID or parent
        relationship the mapping needs that the org lacks. Exit 0 when all is well, 1 when
        something is missing or an org does not answer.
    mlc-loader [--config FILE] health
        Probes the running loader's /health (metrics.listen): exit 0 healthy, 1 not.
    Exit 2: bad arguments or configuration; 1: a runtime failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cm_config.h"
#include "cm_daemon.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_secrets.h"
#include "cm_signal.h"
#include "ld_loader.h"
#include "ld_metrics.h"
#include "ld_orgs.h"
#include "ld_ping.h"

static int
s_usage (void)
{
    fprintf (stderr, "usage: mlc-loader [--config FILE] [run | ping | health]\n");
    return 2;
}

//  The encrypted secret store, opened on the first "secret:NAME" of salesforce.orgs_file.
typedef struct {
    char path[4096];     /* secrets.file, or <data_dir>/secrets.enc */
    unsigned char *key;  /* master key, once needed */
    cm_secrets_t *store; /* the store, once needed */
} store_t;

static int
s_resolve (void *arg, const char *ref, char **secret, char *err, size_t err_cap)
{
    store_t *st = arg;
    const char *name = cm_secrets_ref (ref);
    if (!name || !cm_secrets_name_ok (name)) {
        snprintf (err, err_cap, "not a valid secret name");
        return -1;
    }
    if (!st->store) {
        if (!st->key)
            st->key = cm_secrets_master_key (err, err_cap);
        st->store = st->key ? cm_secrets_open (st->path, st->key, false, err, err_cap) : NULL;
        if (!st->store)
            return -1;
    }
    char *value = NULL;
    int found = cm_secrets_get (st->store, name, &value, NULL, err, err_cap);
    if (found == 0)
        snprintf (err, err_cap, "no secret '%.128s' in %s", name, st->path);
    if (found != 1)
        return -1;
    *secret = strdup (value);
    cm_secrets_value_free (&value);
    if (!*secret) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    return 0;
}

static void
s_store_close (store_t *st)
{
    cm_secrets_destroy (&st->store);
    cm_secrets_key_free (&st->key);
}

static int
s_ping (const cm_config_t *cfg, const ld_loader_config_t *config)
{
    char err[512];
    const char *mapping = cm_config_str (cfg, "transformer.mapping_file");
    ld_needs_t *needs = ld_needs_load (mapping, err, sizeof err);
    if (!needs) {
        cm_error ("LDR_PING", "reason=\"%s\"", err);
        return 2;
    }
    ld_orgs_t *orgs = ld_orgs_new (&config->org, config->have_default_org, config->orgs_file,
                                   config->resolve, config->resolve_arg, err, sizeof err);
    if (!orgs) {
        cm_error ("LDR_PING", "reason=\"%s\"", err);
        ld_needs_destroy (&needs);
        return 2;
    }
    printf ("mlc-loader ping: %zu org%s, %zu objects from %s\n", ld_orgs_count (orgs),
            ld_orgs_count (orgs) == 1 ? "" : "s", ld_needs_count (needs), mapping);
    int rc = ld_ping_run (orgs, needs, stdout);
    fflush (stdout);
    ld_orgs_destroy (&orgs);
    ld_needs_destroy (&needs);
    return rc;
}

int
main (int argc, char **argv)
{
    const char *path = getenv ("MLC_CONFIG");
    const char *command = "run";
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp (argv[i], "run") == 0 || strcmp (argv[i], "ping") == 0 ||
                 strcmp (argv[i], "health") == 0)
            command = argv[i];
        else
            return s_usage ();
    }
    cm_daemon_tune_memory ();
    cm_log_init ("loader", CM_LOG_INFO);
    char err[512];
    cm_config_t *cfg = cm_config_load (path, err, sizeof err);
    if (!cfg) {
        cm_error ("LDR_CONFIG", "reason=\"%s\"", err);
        return 2;
    }
    cm_log_level_t level = CM_LOG_INFO;
    cm_log_level_parse (cm_config_str (cfg, "log.level"), &level);
    cm_log_init ("loader", level);
    cm_http_allow_insecure_hosts (cm_config_str (cfg, "http.insecure_hosts"));

    int rc = 2;
    void *ctx = NULL;
    cm_daemon_t *daemon = NULL;
    ld_metrics_t *metrics = NULL;
    ld_loader_t *loader = NULL;
    ld_loader_config_t config;
    store_t store = {.key = NULL};
    if (ld_loader_config_from (cfg, &config, err, sizeof err) != 0) {
        cm_error ("LDR_CONFIG", "reason=\"%s\"", err);
        goto out;
    }
    const char *secrets_file = cm_config_str (cfg, "secrets.file");
    const char *data_dir = cm_config_str (cfg, "data_dir");
    if (secrets_file && *secrets_file)
        snprintf (store.path, sizeof store.path, "%s", secrets_file);
    else
        snprintf (store.path, sizeof store.path, "%s/secrets.enc", data_dir ? data_dir : ".");
    config.resolve = s_resolve;
    config.resolve_arg = &store;
    if (strcmp (command, "health") == 0) {
        rc = cm_daemon_health_command (cfg, "loader");
        goto out;
    }
    if (strcmp (command, "ping") == 0) {
        rc = s_ping (cfg, &config);
        s_store_close (&store);
        goto out;
    }
    cm_signal_install ();
    ctx = zmq_ctx_new ();
    if (!ctx) {
        cm_error ("LDR_ZMQ", "reason=\"%s\"", zmq_strerror (zmq_errno ()));
        rc = 1;
        goto out;
    }
    daemon = cm_daemon_new ("loader", ctx, cfg, err, sizeof err);
    loader = daemon ? ld_loader_new (ctx, &config, err, sizeof err) : NULL;
    s_store_close (&store); //  every secret is resolved by now
    if (!loader) {
        cm_error ("LDR_START_FAILED", "reason=\"%s\"", err);
        goto out;
    }
    metrics = ld_metrics_new (daemon, loader);
    {
        const char *url = cm_config_str (cfg, "salesforce.url");
        const char *orgs_file = cm_config_str (cfg, "salesforce.orgs_file");
        cm_info ("LDR_READY",
                 "config=%s salesforce_url=%s client_id=%s orgs_file=%s load_endpoint=%s "
                 "events_endpoint=%s check=\"mlc-loader ping tests the credentials and the "
                 "endpoint\"",
                 path ? path : "(environment)", url && *url ? url : "(none)",
                 url && *url ? cm_config_str (cfg, "salesforce.client_id") : "(none)",
                 orgs_file && *orgs_file ? orgs_file : "(none)",
                 cm_config_str (cfg, "zmq.load_endpoint"),
                 cm_config_str (cfg, "zmq.events_endpoint"));
    }
    rc = ld_loader_run (loader) == 0 ? 0 : 1;
out:
    ld_loader_destroy (&loader);
    cm_daemon_destroy (&daemon);
    ld_metrics_destroy (&metrics);
    if (ctx)
        zmq_ctx_term (ctx);
    cm_config_destroy (&cfg);
    return rc;
}
