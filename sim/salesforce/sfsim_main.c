/*  salesforce-sim: a Salesforce REST API simulator for ml-connector's tests, demo and
    benchmarks. Parses the command line, loads the schema (compiled-in default or
    --schema FILE), serves until SIGTERM/SIGINT, exits 0. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "sfsim_schema.h"
#include "sfsim_server.h"
#include "sim_http.h"

#ifdef MLC_JEMALLOC
/*  jemalloc reads its options from this symbol. The simulator keeps every record it is
    sent (hundreds of MiB in the benchmark) and frees each request's trees: pages are kept
    instead of returned and faulted in again (madvise and page faults were a quarter of its
    CPU), and its arenas use transparent huge pages (fewer page faults while it grows).
    Share of the benchmark's CPU 13.0-13.6 -> 12.1-12.3 % (two pairs); its RSS 448 -> 563
    MiB for 155,004 records. */
const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,thp:always";
#endif

#define MAX_SCHEMA_BYTES (16 * 1024 * 1024)

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: salesforce-sim --listen HOST:PORT --client-id ID --client-secret SECRET\n"
                  "         [--schema FILE] [--token-ttl S] [--latency-ms MS] [--daily-limit N]\n"
                  "         [--max-concurrent N] [--fault-429 RATE] [--fault-503 RATE]\n"
                  "         [--fault-lock RATE] [--fault-retry-after S] [--seed N]\n"
                  "         [--log-level debug|info|warn|error] [--public-url URL]\n"
                  "  --listen          127.0.0.1:0 picks a free port; prints 'listening on URL'\n"
                  "  --public-url      instance_url of token responses, e.g.\n"
                  "                    http://salesforce-sim:8080 on a compose network\n"
                  "                    (default http://HOST:PORT of --listen)\n"
                  "  --client-secret   or the environment variable SFSIM_CLIENT_SECRET\n"
                  "  --schema          objects and fields (default: the compiled-in copy of\n"
                  "                    config/salesforce-schema.json)\n"
                  "  --token-ttl       session timeout in seconds (default 7200)\n"
                  "  --latency-ms      added to every accepted API call (default 0)\n"
                  "  --daily-limit     daily API allowance (default 1000000, so demos never\n"
                  "                    reach it; a real org has 15000 and more per licence)\n"
                  "  --max-concurrent  API requests served at once before 403 ConcurrentRequests\n"
                  "                    (default 25)\n"
                  "  --fault-429/503   fraction 0..1 of API calls (not token calls) refused\n"
                  "  --fault-lock      fraction 0..1 of records failing UNABLE_TO_LOCK_ROW\n"
                  "  --fault-retry-after  Retry-After seconds on injected 429/503 (default none)\n"
                  "  --seed            seed of the fault generator (default 42)\n");
}

static int
s_long (const char *name, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = text ? strtol (text, &end, 10) : 0;
    if (!text || errno || *end || end == text || v < min || v > max) {
        fprintf (stderr, "salesforce-sim: %s needs an integer %ld..%ld\n", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int
s_rate (const char *name, const char *text, double *out)
{
    char *end;
    double v = text ? strtod (text, &end) : -1;
    if (!text || *end || end == text || !(v >= 0 && v <= 1)) {
        fprintf (stderr, "salesforce-sim: %s needs a fraction 0..1\n", name);
        return -1;
    }
    *out = v;
    return 0;
}

static char *
s_read_file (const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, err_cap, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    char *buf = malloc (MAX_SCHEMA_BYTES + 1);
    size_t n = buf ? fread (buf, 1, MAX_SCHEMA_BYTES + 1, f) : 0;
    int bad = !buf || ferror (f) || n > MAX_SCHEMA_BYTES;
    fclose (f);
    if (bad) {
        snprintf (err, err_cap, "cannot read %s (unreadable or over %d bytes)", path,
                  MAX_SCHEMA_BYTES);
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int
main (int argc, char **argv)
{
    const char *listen = NULL, *schema_file = NULL, *log_level = "info", *public_url = NULL;
    sfsim_config_t cfg = {.token_ttl_s = 7200,
                          .daily_limit = 1000000,
                          .max_concurrent = 25,
                          .seed = 42,
                          .client_secret = getenv ("SFSIM_CLIENT_SECRET")};
    long seed = 42;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
            s_usage (stdout);
            return 0;
        } else if (strcmp (a, "--listen") == 0)
            listen = v;
        else if (strcmp (a, "--client-id") == 0)
            cfg.client_id = v;
        else if (strcmp (a, "--client-secret") == 0)
            cfg.client_secret = v;
        else if (strcmp (a, "--schema") == 0)
            schema_file = v;
        else if (strcmp (a, "--log-level") == 0)
            log_level = v;
        else if (strcmp (a, "--public-url") == 0)
            public_url = v;
        else if (strcmp (a, "--token-ttl") == 0)
            rc = s_long (a, v, 1, 1000000000, &cfg.token_ttl_s);
        else if (strcmp (a, "--latency-ms") == 0)
            rc = s_long (a, v, 0, 600000, &cfg.latency_ms);
        else if (strcmp (a, "--daily-limit") == 0)
            rc = s_long (a, v, 0, 1000000000000L, &cfg.daily_limit);
        else if (strcmp (a, "--max-concurrent") == 0)
            rc = s_long (a, v, 1, 1000000, &cfg.max_concurrent);
        else if (strcmp (a, "--fault-429") == 0)
            rc = s_rate (a, v, &cfg.fault_429);
        else if (strcmp (a, "--fault-503") == 0)
            rc = s_rate (a, v, &cfg.fault_503);
        else if (strcmp (a, "--fault-lock") == 0)
            rc = s_rate (a, v, &cfg.fault_lock);
        else if (strcmp (a, "--fault-retry-after") == 0)
            rc = s_long (a, v, 0, 3600, &cfg.retry_after_s);
        else if (strcmp (a, "--seed") == 0)
            rc = s_long (a, v, 0, 2147483647L, &seed);
        else {
            fprintf (stderr, "salesforce-sim: unknown argument '%s'\n", a);
            s_usage (stderr);
            return 2;
        }
        if (rc)
            return 2;
        if (!v) {
            fprintf (stderr, "salesforce-sim: %s needs a value\n", a);
            return 2;
        }
    }
    cfg.seed = (unsigned long long)seed;
    cm_log_level_t level;
    if (cm_log_level_parse (log_level, &level)) {
        fprintf (stderr, "salesforce-sim: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    cm_log_init ("salesforce-sim", level);
    if (!listen || !cfg.client_id || !cfg.client_secret || !cfg.client_id[0] ||
        !cfg.client_secret[0]) {
        fprintf (stderr,
                 "salesforce-sim: --listen, --client-id and --client-secret are required\n");
        s_usage (stderr);
        return 2;
    }
    if (cfg.fault_429 + cfg.fault_503 > 1) {
        fprintf (stderr, "salesforce-sim: --fault-429 plus --fault-503 must not exceed 1\n");
        return 2;
    }
    char base_url[128];
    size_t public_len = public_url ? strlen (public_url) : 0;
    while (public_len > 0 && public_url[public_len - 1] == '/')
        public_len--;
    if (public_url &&
        ((strncmp (public_url, "http://", 7) != 0 && strncmp (public_url, "https://", 8) != 0) ||
         public_len <= 8 || public_len >= sizeof base_url || strpbrk (public_url, " \t\r\n?#"))) {
        fprintf (stderr,
                 "salesforce-sim: --public-url '%.80s': expected http[s]://host[:port], at most "
                 "%zu characters\n",
                 public_url, sizeof base_url - 1);
        return 2;
    }
    char err[512];
    char *text = schema_file ? s_read_file (schema_file, err, sizeof err) : NULL;
    if (schema_file && !text) {
        fprintf (stderr, "salesforce-sim: --schema: %s\n", err);
        return 2;
    }
    sfsim_schema_t *schema =
        sfsim_schema_new (text ? text : sfsim_default_schema_json, err, sizeof err);
    free (text);
    if (!schema) {
        fprintf (stderr, "salesforce-sim: %s: %s\n", schema_file ? schema_file : "default schema",
                 err);
        return 2;
    }
    sfsim_server_t *server = sfsim_server_new (&cfg, &schema, err, sizeof err);
    sfsim_schema_destroy (&schema);
    if (!server) {
        fprintf (stderr, "salesforce-sim: %s\n", err);
        return 1;
    }
    sim_server_t *http = sim_server_new (listen, sfsim_server_handle, server, err, sizeof err);
    if (!http) {
        fprintf (stderr, "salesforce-sim: %s\n", err);
        sfsim_server_destroy (&server);
        return 1;
    }
    const char *colon = strrchr (listen, ':');
    if (public_url)
        snprintf (base_url, sizeof base_url, "%.*s", (int)public_len, public_url);
    else
        snprintf (base_url, sizeof base_url, "http://%.*s:%d", (int)(colon - listen), listen,
                  sim_server_port (http));
    sfsim_server_set_base_url (server, base_url);
    cm_info ("SFSIM_START",
             "url=%s token_ttl=%ld daily_limit=%ld max_concurrent=%ld latency_ms=%ld "
             "fault_429=%g fault_503=%g fault_lock=%g schema=%s",
             base_url, cfg.token_ttl_s, cfg.daily_limit, cfg.max_concurrent, cfg.latency_ms,
             cfg.fault_429, cfg.fault_503, cfg.fault_lock, schema_file ? schema_file : "default");
    sim_server_run (http);
    sim_server_destroy (&http);
    sfsim_server_destroy (&server);
    cm_info ("SFSIM_STOP", "reason=signal");
    return 0;
}
