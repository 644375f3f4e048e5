/*  cloudsuite-sim: a simulated Infor CloudSuite (ION API Gateway + CSI Mongoose IDO REST
    v2) for tests and benchmarks. Parses the command line, seeds the tenants, starts the
    HTTP server, writes one .ionapi file per tenant, serves until SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cssim_server.h"
#include "sim_http.h"

static void
usage (FILE *out)
{
    fprintf (out,
             "usage: cloudsuite-sim --listen 127.0.0.1:PORT --tenant TI [--tenant TI2 ...]\n"
             "         --ionapi-dir DIR [--seed-suppliers N] [--seed-customers N]\n"
             "         [--seed-invoices N] [--seed-pos N] [--seed 42] [--token-ttl S]\n"
             "         [--latency-ms MS] [--fault-429 RATE] [--retry-after S]\n"
             "         [--fault-5xx RATE] [--fault-bad-body RATE] [--deny-ido IDO,...]\n"
             "         [--mongoose-config NAME] [--log-level LEVEL]\n"
             "         [--public-url URL]\n"
             "PORT 0 picks a free port; prints 'listening on http://127.0.0.1:PORT' when ready.\n"
             "--public-url: the base URL written into .ionapi files (iu, pu), e.g.\n"
             "  http://cloudsuite-sim:8080 on a compose network; default http://127.0.0.1:PORT.\n");
}

static int
parse_long (const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf (stderr, "cloudsuite-sim: %s '%s': expected a whole number %ld..%ld\n", opt, text,
                 lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int
parse_rate (const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !(v >= 0 && v <= 1)) {
        fprintf (stderr, "cloudsuite-sim: %s '%s': expected a rate 0..1\n", opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

int
main (int argc, char **argv)
{
    enum {
        O_LISTEN = 1,
        O_TENANT,
        O_DIR,
        O_SUP,
        O_CUS,
        O_INV,
        O_POS,
        O_SEED,
        O_TTL,
        O_LAT,
        O_429,
        O_RA,
        O_5XX,
        O_CONFIG,
        O_LOG,
        O_PUBLIC,
        O_BAD,
        O_DENY,
        O_HELP
    };
    static const struct option opts[] = {{"listen", required_argument, 0, O_LISTEN},
                                         {"tenant", required_argument, 0, O_TENANT},
                                         {"ionapi-dir", required_argument, 0, O_DIR},
                                         {"seed-suppliers", required_argument, 0, O_SUP},
                                         {"seed-customers", required_argument, 0, O_CUS},
                                         {"seed-invoices", required_argument, 0, O_INV},
                                         {"seed-pos", required_argument, 0, O_POS},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"token-ttl", required_argument, 0, O_TTL},
                                         {"latency-ms", required_argument, 0, O_LAT},
                                         {"fault-429", required_argument, 0, O_429},
                                         {"retry-after", required_argument, 0, O_RA},
                                         {"fault-5xx", required_argument, 0, O_5XX},
                                         {"mongoose-config", required_argument, 0, O_CONFIG},
                                         {"log-level", required_argument, 0, O_LOG},
                                         {"public-url", required_argument, 0, O_PUBLIC},
                                         {"fault-bad-body", required_argument, 0, O_BAD},
                                         {"deny-ido", required_argument, 0, O_DENY},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};
    cssim_config_t cfg = {
        .seed = 42, .token_ttl = 7200, .retry_after = -1, .mongoose_config = "CSI_DEMO"};
    const char *listen = NULL, *dir = NULL;
    cm_log_level_t level = CM_LOG_INFO;
    long v;
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            listen = optarg;
            break;
        case O_TENANT:
            if (cfg.ntenants >= CSSIM_MAX_TENANTS) {
                fprintf (stderr, "cloudsuite-sim: at most %d tenants\n", CSSIM_MAX_TENANTS);
                return 2;
            }
            cfg.tenants[cfg.ntenants++] = optarg;
            break;
        case O_DIR:
            dir = optarg;
            break;
        case O_SUP:
            if (parse_long ("--seed-suppliers", optarg, 0, 10000000, &cfg.vendors))
                return 2;
            break;
        case O_CUS:
            if (parse_long ("--seed-customers", optarg, 0, 10000000, &cfg.customers))
                return 2;
            break;
        case O_INV:
            if (parse_long ("--seed-invoices", optarg, 0, 10000000, &cfg.invoices))
                return 2;
            break;
        case O_POS:
            if (parse_long ("--seed-pos", optarg, 0, 10000000, &cfg.pos))
                return 2;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull (optarg, &end, 10);
            if (errno || end == optarg || *end) {
                fprintf (stderr, "cloudsuite-sim: --seed '%s': expected a whole number\n", optarg);
                return 2;
            }
            cfg.seed = s;
            break;
        }
        case O_TTL:
            if (parse_long ("--token-ttl", optarg, 1, 86400L * 30, &v))
                return 2;
            cfg.token_ttl = (int)v;
            break;
        case O_LAT:
            if (parse_long ("--latency-ms", optarg, 0, 600000, &v))
                return 2;
            cfg.latency_ms = (int)v;
            break;
        case O_429:
            if (parse_rate ("--fault-429", optarg, &cfg.fault_429))
                return 2;
            break;
        case O_RA:
            if (parse_long ("--retry-after", optarg, 0, 86400, &v))
                return 2;
            cfg.retry_after = (int)v;
            break;
        case O_5XX:
            if (parse_rate ("--fault-5xx", optarg, &cfg.fault_5xx))
                return 2;
            break;
        case O_CONFIG:
            cfg.mongoose_config = optarg;
            break;
        case O_LOG:
            if (cm_log_level_parse (optarg, &level)) {
                fprintf (stderr, "cloudsuite-sim: --log-level '%s': debug, info, warn or error\n",
                         optarg);
                return 2;
            }
            break;
        case O_PUBLIC:
            cfg.public_url = optarg;
            break;
        case O_BAD:
            if (parse_rate ("--fault-bad-body", optarg, &cfg.fault_bad_body))
                return 2;
            break;
        case O_DENY:
            cfg.deny_ido = optarg;
            break;
        case O_HELP:
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 2;
        }
    }
    if (optind < argc || !listen || !dir || cfg.ntenants == 0) {
        fprintf (stderr, "cloudsuite-sim: --listen, --ionapi-dir and at least one --tenant are "
                         "required\n");
        usage (stderr);
        return 2;
    }
    if (cfg.fault_429 + cfg.fault_5xx + cfg.fault_bad_body > 1) {
        fprintf (stderr, "cloudsuite-sim: --fault-429 + --fault-5xx + --fault-bad-body must not "
                         "exceed 1\n");
        return 2;
    }
    if (cfg.invoices > 0 && cfg.customers == 0) {
        fprintf (stderr, "cloudsuite-sim: --seed-invoices needs --seed-customers > 0\n");
        return 2;
    }
    if (cfg.pos > 0 && cfg.vendors == 0) {
        fprintf (stderr, "cloudsuite-sim: --seed-pos needs --seed-suppliers > 0\n");
        return 2;
    }
    cm_log_init ("cloudsuite-sim", level);

    char err[512];
    int rc = 1;
    sim_server_t *http = NULL;
    cssim_server_t *sim = cssim_server_new (&cfg, err, sizeof err);
    if (!sim) {
        cm_error ("CSSIM_START_FAILED", "reason=\"%s\"", err);
        goto out;
    }
    http = sim_server_new (listen, cssim_server_handle, sim, err, sizeof err);
    if (!http) {
        cm_error ("CSSIM_START_FAILED", "reason=\"%s\"", err);
        goto out;
    }
    if (cssim_server_write_ionapi (sim, dir, sim_server_port (http), err, sizeof err)) {
        cm_error ("CSSIM_START_FAILED", "reason=\"%s\"", err);
        goto out;
    }
    cm_info ("CSSIM_READY", "port=%d tenants=%d mongoose_config=%s", sim_server_port (http),
             cfg.ntenants, cfg.mongoose_config);
    sim_server_run (http);
    cm_info ("CSSIM_STOPPED", "port=%d", sim_server_port (http));
    rc = 0;
out:
    sim_server_destroy (&http);
    cssim_server_destroy (&sim);
    return rc;
}
