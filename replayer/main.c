/*  mlc-replayer: the audit trail and dead-letter store, and its operator commands.

      mlc-replayer [--config FILE] [run]       the daemon (default)
      mlc-replayer [--config FILE] COMMAND ... see rp_cli.h
      mlc-replayer [--config FILE] health      probes metrics.listen: exit 0 healthy, 1 not

    Operator commands reach the daemon on zmq.control_endpoint (REQ/REP). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_config.h"
#include "cm_daemon.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "rp_cli.h"
#include "rp_daemon.h"

int
main (int argc, char **argv)
{
    cm_daemon_tune_memory ();
    const char *config_path = getenv ("MLC_CONFIG");
    int i = 1;
    for (; i < argc && strncmp (argv[i], "--", 2) == 0; i++) {
        if (strcmp (argv[i], "--help") == 0) {
            rp_cli_usage (stdout);
            return 0;
        }
        if (i + 1 >= argc || strcmp (argv[i], "--config") != 0) {
            fprintf (stderr, "mlc-replayer: unknown option %s\n", argv[i]);
            rp_cli_usage (stderr);
            return 2;
        }
        config_path = argv[++i];
    }
    const char *cmd = i < argc ? argv[i] : "run";
    if (strcmp (cmd, "run") != 0 && strcmp (cmd, "health") != 0 && !rp_cli_is_command (cmd)) {
        fprintf (stderr, "mlc-replayer: unknown command '%s'\n", cmd);
        rp_cli_usage (stderr);
        return 2;
    }
    char err[1024];
    cm_config_t *cfg = cm_config_load (config_path, err, sizeof err);
    if (!cfg) {
        fprintf (stderr, "mlc-replayer: %s\n", err);
        return 1;
    }
    cm_log_level_t level = CM_LOG_INFO;
    cm_log_level_parse (cm_config_str (cfg, "log.level"), &level);
    cm_log_init ("replayer", level);
    const char *ctl = cm_config_str (cfg, "zmq.control_endpoint");

    int status = 0;
    if (strcmp (cmd, "health") == 0) {
        status = cm_daemon_health_command (cfg, "replayer");
        cm_config_destroy (&cfg);
        return status;
    }
    if (strcmp (cmd, "run") != 0) {
        rp_cli_config_t cc = {cm_config_str (cfg, "data_dir"), ctl, 0, cfg};
        status = rp_cli_run (&cc, argc - i, argv + i, stdout, stderr);
        cm_config_destroy (&cfg);
        return status;
    }
    cm_signal_install ();
    rp_daemon_config_t dc = {
        .data_dir = cm_config_str (cfg, "data_dir"),
        .events_endpoint = cm_config_str (cfg, "zmq.events_endpoint"),
        .replay_endpoint = cm_config_str (cfg, "zmq.replay_endpoint"),
        .control_endpoint = ctl,
        .confirm_endpoint = cm_config_str (cfg, "zmq.confirm_endpoint"),
        .hwm = (int)cm_config_int (cfg, "zmq.hwm"),
        .replay_rate = (int)cm_config_int (cfg, "replayer.replay_rate"),
        .redrive_base_ms = cm_config_int (cfg, "replayer.redrive_base_s") > 0
                               ? cm_config_int (cfg, "replayer.redrive_base_s") * 1000
                               : -1,
        .redrive_max_ms = cm_config_int (cfg, "replayer.redrive_max_s") * 1000,
        .redrive_max = (int)cm_config_int (cfg, "replayer.redrive_max_attempts"),
        .audit_retention_ms = cm_config_int (cfg, "replayer.audit_retention_days") * 86400000,
        .ops = cfg,
    };
    rp_daemon_t *daemon = rp_daemon_new (&dc, err, sizeof err);
    if (!daemon) {
        cm_error ("RPL_START_FAILED", "error=\"%s\"", err);
        cm_config_destroy (&cfg);
        return 1;
    }
    cm_info ("RPL_LISTENING", "config=%s store=%s/replayer events=%s replay=%s control=%s",
             config_path ? config_path : "(environment)", dc.data_dir, dc.events_endpoint,
             dc.replay_endpoint, ctl);
    if (rp_daemon_run (daemon) != 0)
        status = 1;
    rp_daemon_destroy (&daemon);
    cm_config_destroy (&cfg);
    return status;
}
