/*  mlc-extractor: polls the enabled CloudSuite entities of one tenant (one connection per
    process) and PUSHes one envelope per new or changed record to the transformer.

    mlc-extractor [--config FILE] [--once] [--full]
    mlc-extractor [--config FILE] ping
    mlc-extractor [--config FILE] health   probes metrics.listen: exit 0 healthy, 1 not
    Exit status: 0 on success or after SIGTERM (ping: the connection works); 1 on
    configuration, credential or state errors (also a state store that fails while running,
    e.g. a full disk: EXT_STATE_FAILED names the path and the cause), when a poll failed in
    --once mode, or when ping found a problem; 2 on bad arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "cm_config.h"
#include "cm_daemon.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "ex_lease.h"
#include "ex_ops.h"
#include "ex_output.h"
#include "ex_ping.h"
#include "ex_tenant.h"

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: mlc-extractor [--config FILE] [--once] [--full]\n"
                "       mlc-extractor [--config FILE] ping\n"
                "  --config FILE  configuration file (default: $MLC_CONFIG, else none)\n"
                "  --once         poll every enabled entity once, deliver, and exit\n"
                "  --full         with --once: a full reconciliation pass (every record is\n"
                "                 read; only changed ones are sent)\n"
                "  ping           check the connection end to end and say what is wrong\n"
                "  health         probe the running extractor's /health (metrics.listen)\n");
}

int
main (int argc, char **argv)
{
    const char *path = getenv ("MLC_CONFIG");
    bool once = false, full = false, ping = false, health = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp (argv[i], "--once") == 0)
            once = true;
        else if (strcmp (argv[i], "--full") == 0)
            full = true;
        else if (strcmp (argv[i], "ping") == 0)
            ping = true;
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
    if ((full && !once) || (ping && (once || full)) || (health && (ping || once))) {
        s_usage (stderr);
        return 2;
    }
    cm_signal_install ();
    cm_daemon_tune_memory ();
    cm_log_init ("extractor", CM_LOG_INFO);

    int rc = 1;
    char err[1024];
    cm_config_t *cfg = NULL;
    ex_tenant_t *tenant = NULL;
    void *ctx = NULL;
    cm_daemon_t *ops = NULL;
    ex_ops_t *ex_ops = NULL;
    ex_output_t *out = NULL;
    ex_output_t *lease_out = NULL; /* the lease thread's own sockets */
    ex_lease_t *lease = NULL;      /* pending entries, confirmations, re-emission */

    cfg = cm_config_load (path, err, sizeof err);
    if (!cfg)
        goto fail_msg;
    cm_log_level_t level = CM_LOG_INFO;
    cm_log_level_parse (cm_config_str (cfg, "log.level"), &level);
    cm_log_init ("extractor", ping ? CM_LOG_ERROR : level);
    cm_http_allow_insecure_hosts (cm_config_str (cfg, "http.insecure_hosts"));
    if (health) {
        rc = cm_daemon_health_command (cfg, "extractor");
        goto out;
    }
    if (ping) {
        printf ("mlc-extractor ping (config %s)\n", path ? path : "(none: environment only)");
        rc = ex_ping (cfg, stdout);
        goto out;
    }
    const char *confirm = cm_config_str (cfg, "zmq.confirm_endpoint");
    if (!confirm || !*confirm) {
        snprintf (err, sizeof err,
                  "zmq.confirm_endpoint is empty: the extractor keeps every record it emits "
                  "until the replayer confirms it there, so without it no record would ever "
                  "be confirmed (every one re-emitted after its lease); set it (env "
                  "MLC_ZMQ_CONFIRM_ENDPOINT) to the replayer's confirm endpoint, e.g. "
                  "tcp://replayer:5556");
        goto fail_msg;
    }
    /* The source yields to the stages after it: on a busy host the transformer, loaders
       and replayer drain what is in flight before more is extracted, so less waits in
       their queues (docs/benchmarks.md, "Memory"). Before any thread starts: Linux keeps
       the nice value per thread, and new threads inherit it. */
    int nice_value = (int)cm_config_int (cfg, "cloudsuite.nice");
    errno = 0;
    int nice_now = getpriority (PRIO_PROCESS, 0); /* started niced already: never raise it */
    if (errno == 0 && nice_value > nice_now && setpriority (PRIO_PROCESS, 0, nice_value) != 0)
        cm_warn ("EXT_NICE", "nice=%d error=\"%s\" (the extractor keeps its priority)", nice_value,
                 strerror (errno));
    tenant = ex_tenant_new (cfg, err, sizeof err);
    if (!tenant)
        goto fail_msg;
    ctx = zmq_ctx_new ();
    if (!ctx) {
        snprintf (err, sizeof err, "cannot create the ZeroMQ context");
        goto fail_msg;
    }
    ops = cm_daemon_new ("extractor", ctx, cfg, err, sizeof err);
    if (!ops)
        goto fail_msg;
    out = ex_output_new (ctx, cm_config_str (cfg, "zmq.extract_endpoint"),
                         cm_config_str (cfg, "zmq.events_endpoint"),
                         (int)cm_config_int (cfg, "zmq.hwm"), err, sizeof err);
    if (!out)
        goto fail_msg;
    if (!(ex_ops =
              ex_ops_new (ops, tenant, out, (int)cm_config_int (cfg, "cloudsuite.peer_grace_s")))) {
        snprintf (err, sizeof err, "out of memory");
        goto fail_msg;
    }
    cm_info (
        "EXT_READY", "tenant=%s config=%s extract_endpoint=%s events_endpoint=%s mode=%s nice=%d",
        ex_tenant_name (tenant), path ? path : "(environment)",
        cm_config_str (cfg, "zmq.extract_endpoint"), cm_config_str (cfg, "zmq.events_endpoint"),
        once ? (full ? "once-full" : "once") : "schedule", getpriority (PRIO_PROCESS, 0));

    /* Confirmations are read in both modes: they free the window of records in flight
       (ex_flow) and store the confirmed hashes; only a daemon re-emits expired leases (a
       --once run leaves them to the next daemon run). */
    if (!once &&
        !(lease_out = ex_output_new (ctx, cm_config_str (cfg, "zmq.extract_endpoint"),
                                     cm_config_str (cfg, "zmq.events_endpoint"),
                                     (int)cm_config_int (cfg, "zmq.hwm"), err, sizeof err)))
        goto fail_msg;
    ex_lease_config_t lc = {
        .tenant = ex_tenant_name (tenant),
        .confirm_endpoint = cm_config_str (cfg, "zmq.confirm_endpoint"),
        .lease_ms = cm_config_int (cfg, "cloudsuite.lease_s") * 1000,
        .quiet_ms = cm_config_int (cfg, "cloudsuite.lease_quiet_s") * 1000,
        .emit = once ? NULL : ex_output_emit,
        .emit_arg = lease_out,
        .flow = ex_tenant_flow (tenant),
    };
    if (!(lease = ex_lease_new (ctx, ex_tenant_state (tenant), &lc, err, sizeof err)))
        goto fail_msg;
    if (ex_lease_start (lease)) {
        snprintf (err, sizeof err, "cannot start the lease thread");
        goto fail_msg;
    }
    rc = ex_tenant_run (tenant, once, full, ex_ops_emit, ex_ops, err, sizeof err) ? 1 : 0;
    ex_flow_t *flow = ex_tenant_flow (tenant);
    /* A --once run stays while its last records are being confirmed, so it leaves no
       pending entries behind for a daemon run to re-send; with a replayer connected also
       for the first confirmation, which a short poll ends before */
    int64_t quiet = cm_config_int (cfg, "cloudsuite.lease_quiet_s") * 1000;
    if (once && rc == 0)
        ex_flow_drain (flow, quiet < EX_FLOW_DRAIN_MAX_MS ? quiet : EX_FLOW_DRAIN_MAX_MS,
                       ex_lease_publishers (lease) > 0);
    cm_info ("EXT_SENT",
             "tenant=%s sent=%llu events_dropped=%llu token_requests=%llu in_flight=%lld "
             "peak_in_flight=%lld window=%lld flow_waits=%llu flow_waited_ms=%llu "
             "flow_stalls=%llu",
             ex_tenant_name (tenant), (unsigned long long)ex_output_sent (out),
             (unsigned long long)ex_output_events_dropped (out),
             (unsigned long long)ex_tenant_token_requests (tenant),
             (long long)ex_flow_in_flight (flow), (long long)ex_flow_peak (flow),
             (long long)ex_flow_window (flow), (unsigned long long)ex_flow_waits (flow),
             (unsigned long long)ex_flow_waited_ms (flow),
             (unsigned long long)ex_flow_stalls (flow));
    if (rc && ex_state_failed (ex_tenant_state (tenant))) {
        cm_error ("EXT_FATAL", "tenant=%s reason=\"%s\"", ex_tenant_name (tenant), err);
        fprintf (stderr, "mlc-extractor: %s\n", err);
    } else if (rc)
        fprintf (stderr, "mlc-extractor: a poll failed: %s\n", err);
    goto out;

fail_msg : {
    char why[1200];
    cm_log_excerpt (err, strlen (err), 800, why, sizeof why);
    cm_error ("EXT_FATAL", "reason=\"%s\"", why);
}
    fprintf (stderr, "mlc-extractor: %s\n", err);
out:
    /* closing the sockets and terminating the context waits (linger) for queued
       envelopes to leave */
    cm_daemon_stop (ops); //  no sampler reads out any more
    ex_lease_destroy (&lease);
    if (rc == 0 && tenant && ex_state_failed (ex_tenant_state (tenant))) {
        /* the lease thread's store write failed while the poller was stopping */
        ex_state_failure (ex_tenant_state (tenant), err, sizeof err);
        cm_error ("EXT_FATAL", "tenant=%s reason=\"state store failed, stopping: %s\"",
                  ex_tenant_name (tenant), err);
        fprintf (stderr, "mlc-extractor: state store failed, stopping: %s\n", err);
        rc = 1;
    }
    ex_output_destroy (&lease_out);
    ex_output_destroy (&out);
    cm_daemon_destroy (&ops);
    ex_ops_destroy (&ex_ops);
    if (ctx)
        zmq_ctx_term (ctx);
    ex_tenant_destroy (&tenant);
    cm_config_destroy (&cfg);
    if (!ping && !health)
        cm_info ("EXT_STOP", "rc=%d", rc);
    return rc;
}
