/*  mlc-loader: upserts transformed records into Salesforce.

    mlc-loader [--config FILE]
    Reads the configuration (FILE, or MLC_CONFIG, then MLC_ environment variables), connects
    to the transformer and the replayer, and runs until SIGTERM or SIGINT, then flushes what
    it holds and exits 0. Exit 2: bad arguments or configuration; 1: a runtime failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cm_config.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "ld_loader.h"

static int
s_usage (void)
{
    fprintf (stderr, "usage: mlc-loader [--config FILE]\n");
    return 2;
}

int
main (int argc, char **argv)
{
    const char *path = getenv ("MLC_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else
            return s_usage ();
    }
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
    ld_loader_t *loader = NULL;
    ld_loader_config_t config;
    if (ld_loader_config_from (cfg, &config, err, sizeof err) != 0) {
        cm_error ("LDR_CONFIG", "reason=\"%s\"", err);
        goto out;
    }
    cm_signal_install ();
    ctx = zmq_ctx_new ();
    if (!ctx) {
        cm_error ("LDR_ZMQ", "reason=\"%s\"", zmq_strerror (zmq_errno ()));
        rc = 1;
        goto out;
    }
    loader = ld_loader_new (ctx, &config, err, sizeof err);
    if (!loader) {
        cm_error ("LDR_START_FAILED", "reason=\"%s\"", err);
        goto out;
    }
    rc = ld_loader_run (loader) == 0 ? 0 : 1;
out:
    ld_loader_destroy (&loader);
    if (ctx)
        zmq_ctx_term (ctx);
    cm_config_destroy (&cfg);
    return rc;
}
