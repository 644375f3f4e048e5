/*  mlc-extractor: polls the enabled CloudSuite entities of one tenant and PUSHes one
    envelope per new or changed record to the transformer.

    mlc-extractor [--config FILE] [--once]
    Exit status: 0 on success or after SIGTERM; 1 on configuration, .ionapi or state
    errors, or when a poll failed in --once mode; 2 on bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cm_config.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cs_auth.h"
#include "cs_ido.h"
#include "cs_ionapi.h"
#include "ex_output.h"
#include "ex_poller.h"
#include "ex_state.h"

static const char *const s_entities[] = {"vendor", "customer", "invoice", "po"};
#define S_ENTITY_COUNT (sizeof s_entities / sizeof s_entities[0])

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: mlc-extractor [--config FILE] [--once]\n"
                "  --config FILE  configuration file (default: $MLC_CONFIG, else none)\n"
                "  --once         poll every enabled entity once, deliver, and exit\n");
}

int
main (int argc, char **argv)
{
    const char *path = getenv ("MLC_CONFIG");
    bool once = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp (argv[i], "--once") == 0)
            once = true;
        else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        } else {
            s_usage (stderr);
            return 2;
        }
    }
    cm_signal_install ();
    cm_log_init ("extractor", CM_LOG_INFO);

    int rc = 1;
    char err[1024];
    cm_config_t *cfg = NULL;
    cs_ionapi_t *ionapi = NULL;
    ex_state_t *state = NULL;
    cm_http_t *http = NULL;
    cs_auth_t *auth = NULL;
    cs_ido_t *ido = NULL;
    ex_poller_t *pollers[S_ENTITY_COUNT] = {0};
    size_t poller_count = 0;
    void *ctx = NULL;
    ex_output_t *out = NULL;

    cfg = cm_config_load (path, err, sizeof err);
    if (!cfg) {
        goto fail_msg;
    }
    cm_log_level_t level = CM_LOG_INFO;
    cm_log_level_parse (cm_config_str (cfg, "log.level"), &level);
    cm_log_init ("extractor", level);
    cm_http_allow_insecure_hosts (cm_config_str (cfg, "http.insecure_hosts"));
    static const char *const required[] = {"cloudsuite.ionapi_file", "cloudsuite.mongoose_config",
                                           NULL};
    if (cm_config_require (cfg, required, err, sizeof err))
        goto fail_msg;
    ionapi = cs_ionapi_load (cm_config_str (cfg, "cloudsuite.ionapi_file"),
                             cm_config_bool (cfg, "cloudsuite.allow_http"), err, sizeof err);
    if (!ionapi)
        goto fail_msg;
    const char *tenant = cm_config_str (cfg, "cloudsuite.tenant");
    if (!tenant || !*tenant)
        tenant = cs_ionapi_tenant (ionapi);
    state = ex_state_open (cm_config_str (cfg, "data_dir"), tenant, err, sizeof err);
    if (!state)
        goto fail_msg;

    cm_retry_policy_t policy = {.max_attempts = (int)cm_config_int (cfg, "http.max_attempts"),
                                .base_ms = (long)cm_config_int (cfg, "http.backoff_base_ms"),
                                .max_ms = (long)cm_config_int (cfg, "http.backoff_max_ms")};
    http = cm_http_new ((size_t)cm_config_int (cfg, "http.max_body_bytes"),
                        (long)cm_config_int (cfg, "http.timeout_ms"));
    auth =
        http ? cs_auth_new (ionapi, http, &policy, cm_config_int (cfg, "cloudsuite.token_margin_s"))
             : NULL;
    ido = auth ? cs_ido_new (cs_ionapi_api_base (ionapi),
                             cm_config_str (cfg, "cloudsuite.mongoose_config"), http, auth, &policy)
               : NULL;
    if (!ido) {
        snprintf (err, sizeof err, "cannot create the HTTP client");
        goto fail_msg;
    }
    for (size_t i = 0; i < S_ENTITY_COUNT; i++) {
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", s_entities[i]);
        if (!cm_config_bool (cfg, key))
            continue;
        ex_entity_t ent;
        ex_entity_from_config (cfg, s_entities[i], &ent);
        pollers[poller_count] =
            ex_poller_new (tenant, &ent, state, cs_ido_load_fn, ido, err, sizeof err);
        if (!pollers[poller_count])
            goto fail_msg;
        poller_count++;
    }
    if (poller_count == 0) {
        snprintf (err, sizeof err, "no entity is enabled (cloudsuite.<entity>.enabled)");
        goto fail_msg;
    }
    ctx = zmq_ctx_new ();
    if (!ctx) {
        snprintf (err, sizeof err, "cannot create the ZeroMQ context");
        goto fail_msg;
    }
    out = ex_output_new (ctx, cm_config_str (cfg, "zmq.extract_endpoint"),
                         cm_config_str (cfg, "zmq.events_endpoint"),
                         (int)cm_config_int (cfg, "zmq.hwm"), err, sizeof err);
    if (!out)
        goto fail_msg;
    cm_info ("EXT_START", "tenant=%s entities=%zu once=%d api_base=%s", tenant, poller_count, once,
             cs_ionapi_api_base (ionapi));

    bool failed = false;
    while (!cm_signal_stop_requested ()) {
        for (size_t i = 0; i < poller_count && !cm_signal_stop_requested (); i++) {
            ex_poll_stats_t stats;
            if (ex_poller_poll (pollers[i], false, ex_output_emit, out, &stats, err, sizeof err) <
                0)
                failed = true;
        }
        cm_info ("EXT_CYCLE_DONE", "tenant=%s sent=%llu events_dropped=%llu token_requests=%llu",
                 tenant, (unsigned long long)ex_output_sent (out),
                 (unsigned long long)ex_output_events_dropped (out),
                 (unsigned long long)cs_auth_requests (auth));
        if (once)
            break;
        cm_sleep_ms (cm_config_int (cfg, "cloudsuite.poll_interval_s") * 1000);
    }
    rc = once && failed && !cm_signal_stop_requested () ? 1 : 0;
    if (rc)
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
    ex_output_destroy (&out);
    if (ctx)
        zmq_ctx_term (ctx);
    for (size_t i = 0; i < poller_count; i++)
        ex_poller_destroy (&pollers[i]);
    cs_ido_destroy (&ido);
    cs_auth_destroy (&auth);
    cm_http_destroy (&http);
    ex_state_destroy (&state);
    cs_ionapi_destroy (&ionapi);
    cm_config_destroy (&cfg);
    cm_info ("EXT_STOP", "rc=%d", rc);
    return rc;
}
