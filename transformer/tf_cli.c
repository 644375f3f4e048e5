/*  tf_cli: mlc-transformer's operator commands. See tf_cli.h. */
#include "tf_cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cm_envelope.h"
#include "cm_log.h"
#include "cm_time.h"
#include "cm_zsock.h"
#include "tf_loop.h"
#include "tf_memory.h"
#include "tf_records.h"
#include "tf_transform.h"

static const char *const s_entities[] = {"vendor", "customer", "invoice", "po"};
#define S_ENTITY_COUNT (sizeof s_entities / sizeof s_entities[0])

static bool
known_entity (const char *name)
{
    for (size_t i = 0; i < S_ENTITY_COUNT; i++)
        if (strcmp (s_entities[i], name) == 0)
            return true;
    return false;
}

int
tf_cli_missing_properties (const tf_mapping_t *mapping, const cm_config_t *cfg, bool log)
{
    int missing = 0;
    for (size_t i = 0; i < S_ENTITY_COUNT; i++) {
        const char *entity = s_entities[i];
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", entity);
        bool enabled = cm_config_bool (cfg, key);
        if (log && !enabled)
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
            if (log)
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

//  --------------------------------------------------------------------------
//  --check-mapping

static const char *
src_name (const tf_field_t *f)
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

int
tf_cli_check_mapping (const char *file, const char *config_file)
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
                printf ("    %-32s %-11s%s%s%s", field->to, src_name (field),
                        field->required ? " required" : "", field->merge_union ? " union" : "",
                        field->src == TF_SRC_PARENT ? " (parent reference" : "");
                for (size_t a = 0; a < field->parent_alt_count; a++)
                    printf ("; %s when the parent is a %s", field->parent_alts[a].to,
                            field->parent_alts[a].sobject);
                printf ("%s\n", field->src == TF_SRC_PARENT ? ")" : "");
            }
        }
        char *props = tf_mapping_properties (mapping, e->name);
        printf ("  source properties used: %s\n", props ? props : "");
        free (props);
    }
    int rc = 0;
    if (config_file) {
        cm_config_t *cfg = cm_config_load (config_file, err, sizeof err);
        if (!cfg) {
            printf ("error: %s\n", err);
            rc = 1;
        } else {
            if (tf_cli_missing_properties (mapping, cfg, false) > 0)
                rc = 1;
            cm_config_destroy (&cfg);
        }
    }
    if (tf_mapping_uses_memory (mapping))
        printf ("note: match keys and union fields use the memory in data_dir/transformer\n");
    printf ("mapping %s: %zu entities, %zu routes, %zu fields\n", rc ? "INVALID" : "OK",
            tf_mapping_entity_count (mapping), routes, fields);
    tf_mapping_destroy (&mapping);
    return rc;
}

//  --------------------------------------------------------------------------
//  Shared set-up of --map-records and --bench: configuration, mapping, memory, records

typedef struct {
    cm_config_t *cfg;                         /* configuration (defaults + file + env) */
    tf_mapping_t *mapping;                    /* the mapping */
    const char *mapping_file;                 /* its path */
    tf_memory_t *memory;                      /* or NULL */
    tf_memory_ops_t mem_ops;                  /* callbacks on memory */
    char tmp_dir[4096];                       /* temporary memory to remove, or "" */
    const char *memory_desc;                  /* how the memory is used, for output */
    tf_records_t *records[TF_CLI_MAX_INPUTS]; /* one per input */
    int input_count;                          /* number of inputs */
    size_t total;                             /* records over all inputs */
} session_t;

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

static void
session_close (session_t *s)
{
    for (int i = 0; i < s->input_count; i++)
        tf_records_destroy (&s->records[i]);
    tf_memory_destroy (&s->memory);
    if (s->tmp_dir[0])
        nftw (s->tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tf_mapping_destroy (&s->mapping);
    cm_config_destroy (&s->cfg);
}

/*  Returns 0, or the exit status to return (the reason printed on stderr). */
static int
session_open (session_t *s, const tf_cli_options_t *o, const char *cmd)
{
    memset (s, 0, sizeof *s);
    char err[1024];
    if (o->input_count == 0) {
        fprintf (stderr,
                 "%s: give at least one ENTITY=FILE (entities: vendor, customer, "
                 "invoice, po)\n",
                 cmd);
        return 2;
    }
    if (o->no_memory && o->memory_dir) {
        fprintf (stderr, "%s: --memory and --no-memory exclude each other\n", cmd);
        return 2;
    }
    for (int i = 0; i < o->input_count; i++)
        if (!known_entity (o->entities[i])) {
            fprintf (stderr, "%s: unknown entity '%.60s' (vendor, customer, invoice, po)\n", cmd,
                     o->entities[i]);
            return 2;
        }
    s->cfg = cm_config_load (o->config_file, err, sizeof err);
    if (!s->cfg)
        goto fail;
    s->mapping_file =
        o->mapping_file ? o->mapping_file : cm_config_str (s->cfg, "transformer.mapping_file");
    s->mapping = tf_mapping_load (s->mapping_file ? s->mapping_file : "", err, sizeof err);
    if (!s->mapping)
        goto fail;
    const char *tenant = o->tenant ? o->tenant : cm_config_str (s->cfg, "cloudsuite.tenant");
    if (!tenant || !*tenant)
        tenant = "TENANT";
    s->memory_desc = "off";
    if (!o->no_memory && tf_mapping_uses_memory (s->mapping)) {
        const char *dir = o->memory_dir;
        if (!dir) {
            //  A dry run never touches the running transformer's memory unless told to.
            const char *tmp = getenv ("TMPDIR");
            snprintf (s->tmp_dir, sizeof s->tmp_dir, "%s/mlc-transformer.XXXXXX",
                      tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp (s->tmp_dir)) {
                snprintf (err, sizeof err, "%.900s: cannot create: %s", s->tmp_dir,
                          strerror (errno));
                s->tmp_dir[0] = 0;
                goto fail;
            }
            dir = s->tmp_dir;
            s->memory_desc = "on (fresh, temporary)";
        } else
            s->memory_desc = "on (--memory)";
        s->memory = tf_memory_open (dir, err, sizeof err);
        if (!s->memory)
            goto fail;
        tf_memory_ops (s->memory, &s->mem_ops);
    }
    for (int i = 0; i < o->input_count; i++) {
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.key", o->entities[i]);
        s->records[i] = tf_records_load (o->files[i], tenant, o->entities[i],
                                         cm_config_str (s->cfg, key), err, sizeof err);
        if (!s->records[i])
            goto fail;
        s->input_count++;
        s->total += tf_records_count (s->records[i]);
    }
    return 0;
fail:
    fprintf (stderr, "%s: %s\n", cmd, err);
    session_close (s);
    return 1;
}

//  --------------------------------------------------------------------------
//  --map-records

/*  One output line for a record. Returns 0 or -1 (out of memory). */
static int
print_result (const cm_envelope_t *env, tf_status_t st, const tf_result_t *res)
{
    static const char *const names[] = {"ok", "skip", "rejected", "deferred"};
    cJSON *o = cJSON_CreateObject ();
    bool ok = o && cJSON_AddStringToObject (o, "entity", env->entity) &&
              cJSON_AddStringToObject (o, "key", env->key) &&
              cJSON_AddStringToObject (o, "result", names[st]) &&
              cJSON_AddStringToObject (o, "route", res->route);
    if (ok && st == TF_OK) {
        //  The payload exactly as it goes to the loader (raw, not re-printed).
        cJSON *payload = cJSON_CreateRaw (env->payload);
        ok = cJSON_AddStringToObject (o, "sobject", env->sobject) &&
             cJSON_AddStringToObject (o, "extf", env->ext_id_field) &&
             cJSON_AddStringToObject (o, "extid", env->ext_id) && payload &&
             cJSON_AddItemToObject (o, "payload", payload);
        if (!ok && payload && !cJSON_GetObjectItemCaseSensitive (o, "payload"))
            cJSON_Delete (payload);
    } else if (ok && (st == TF_REJECT || st == TF_DEFER))
        ok = cJSON_AddStringToObject (o, "code", res->code) &&
             cJSON_AddStringToObject (o, "field", res->field) &&
             cJSON_AddStringToObject (o, "reason", res->reason);
    char *line = ok ? cJSON_PrintUnformatted (o) : NULL;
    cJSON_Delete (o);
    if (!line)
        return -1;
    puts (line);
    free (line);
    return 0;
}

int
tf_cli_map_records (const tf_cli_options_t *opts)
{
    session_t s;
    int rc = session_open (&s, opts, "--map-records");
    if (rc)
        return rc;
    //  Matches and rejections are reported in the output, not as log lines.
    cm_log_init ("transformer", CM_LOG_ERROR);
    size_t counts[4] = {0, 0, 0, 0};
    for (int i = 0; i < s.input_count && rc == 0; i++) {
        for (size_t r = 0; r < tf_records_count (s.records[i]); r++) {
            cm_envelope_t *env = tf_records_at (s.records[i], r);
            tf_result_t res;
            tf_status_t st =
                tf_transform_apply (s.mapping, env, s.memory ? &s.mem_ops : NULL, &res);
            counts[st]++;
            if (print_result (env, st, &res)) {
                fprintf (stderr, "--map-records: out of memory\n");
                rc = 1;
                break;
            }
            if (st == TF_REJECT && res.retryable) {
                fprintf (stderr, "--map-records: %s: %s\n", res.code, res.reason);
                rc = 1;
                break;
            }
        }
    }
    fflush (stdout);
    fprintf (stderr, "mapped %zu records with %s (memory %s): %zu ok, %zu skipped, %zu rejected",
             counts[0] + counts[1] + counts[2] + counts[3], s.mapping_file, s.memory_desc,
             counts[0], counts[1], counts[2]);
    //  Deferred: a parent with alternatives that is not in the input (list its entity
    //  first); the pipeline would deliver the record again, then use the rule's own.
    if (counts[3])
        fprintf (stderr, ", %zu deferred (parent not mapped yet)", counts[3]);
    fputc ('\n', stderr);
    session_close (&s);
    return rc;
}

//  --------------------------------------------------------------------------
//  --bench

#define BENCH_EXTRACT_EP "inproc://tf-bench-extract"
#define BENCH_LOAD_EP    "inproc://tf-bench-load"
#define BENCH_EVENTS_EP  "inproc://tf-bench-events"

typedef struct {
    void *ctx;                   /* shared ZeroMQ context */
    atomic_int ready;            /* 1 when the sockets exist, -1 when they failed */
    atomic_bool stop;            /* set by the main thread when everything arrived */
    atomic_uint_fast64_t loads;  /* envelopes read from the load socket */
    atomic_uint_fast64_t events; /* events read from the events socket */
} sink_t;

/*  Plays the extractor: pushes every encoded record, `passes` times. */
typedef struct {
    void *ctx;         /* shared ZeroMQ context */
    char **msgs;       /* encoded records */
    size_t *sizes;     /* their sizes */
    size_t count;      /* number of records */
    int passes;        /* times to send them all */
    atomic_bool stop;  /* give up (the main thread failed) */
    atomic_int failed; /* the feeder could not send */
} feeder_t;

static void *
feeder_run (void *arg)
{
    feeder_t *f = arg;
    char err[256];
    void *push =
        cm_zsock_new (f->ctx, ZMQ_PUSH, BENCH_EXTRACT_EP, false, 10000, 0, err, sizeof err);
    if (!push) {
        fprintf (stderr, "--bench: %s\n", err);
        atomic_store (&f->failed, 1);
        return NULL;
    }
    for (int p = 0; p < f->passes; p++)
        for (size_t i = 0; i < f->count; i++)
            while (cm_zsock_send (push, f->msgs[i], f->sizes[i], 100) != 0)
                if (atomic_load (&f->stop) || errno != EAGAIN) {
                    atomic_store (&f->failed, 1);
                    cm_zsock_destroy (&push);
                    return NULL;
                }
    cm_zsock_destroy (&push);
    return NULL;
}

/*  Reads and drops everything the loop sends, like a fast loader and replayer. */
static void *
sink_run (void *arg)
{
    sink_t *sink = arg;
    char err[256];
    void *events =
        cm_zsock_new (sink->ctx, ZMQ_PULL, BENCH_EVENTS_EP, true, 10000, 0, err, sizeof err);
    void *load =
        events ? cm_zsock_new (sink->ctx, ZMQ_PULL, BENCH_LOAD_EP, false, 10000, 0, err, sizeof err)
               : NULL;
    if (!load) {
        fprintf (stderr, "--bench: %s\n", err);
        cm_zsock_destroy (&events);
        atomic_store (&sink->ready, -1);
        return NULL;
    }
    atomic_store (&sink->ready, 1);
    zmq_pollitem_t items[] = {{load, 0, ZMQ_POLLIN, 0}, {events, 0, ZMQ_POLLIN, 0}};
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (!atomic_load (&sink->stop)) {
        if (zmq_poll (items, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++)
            while (zmq_msg_recv (&msg, items[i].socket, ZMQ_DONTWAIT) >= 0)
                atomic_fetch_add (i == 0 ? &sink->loads : &sink->events, 1);
    }
    zmq_msg_close (&msg);
    cm_zsock_destroy (&load);
    cm_zsock_destroy (&events);
    return NULL;
}

static double
clock_s (clockid_t id)
{
    struct timespec ts;
    clock_gettime (id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
tf_cli_bench (const tf_cli_options_t *opts)
{
    session_t s;
    int rc = session_open (&s, opts, "--bench");
    if (rc)
        return rc;
    cm_log_init ("transformer", CM_LOG_ERROR);
    int passes = opts->passes > 0 ? opts->passes : 1;
    char err[512];
    char **msgs = NULL;
    size_t *sizes = NULL;
    void *ctx = NULL;
    tf_loop_t *loop = NULL;
    pthread_t thread, feeder_thread;
    bool started = false, feeding = false;
    sink_t sink;
    memset (&sink, 0, sizeof sink);
    feeder_t feeder;
    memset (&feeder, 0, sizeof feeder);
    rc = 1;

    //  Encode every record first, as the extractor sends it: that is not the
    //  transformer's work.
    msgs = calloc (s.total ? s.total : 1, sizeof *msgs);
    sizes = calloc (s.total ? s.total : 1, sizeof *sizes);
    if (!msgs || !sizes) {
        fprintf (stderr, "--bench: out of memory\n");
        goto out;
    }
    size_t n = 0;
    for (int i = 0; i < s.input_count; i++)
        for (size_t r = 0; r < tf_records_count (s.records[i]); r++, n++)
            if (cm_envelope_encode (tf_records_at (s.records[i], r), &msgs[n], &sizes[n])) {
                fprintf (stderr, "--bench: record %zu does not encode\n", n);
                goto out;
            }
    ctx = zmq_ctx_new ();
    if (!ctx) {
        fprintf (stderr, "--bench: cannot create a ZeroMQ context\n");
        goto out;
    }
    sink.ctx = ctx;
    if (pthread_create (&thread, NULL, sink_run, &sink) != 0) {
        fprintf (stderr, "--bench: cannot start the sink thread\n");
        goto out;
    }
    started = true;
    pthread_setname_np (thread, "tf-bench-sink"); //  apart in perf and top
    while (atomic_load (&sink.ready) == 0)
        cm_sleep_ms (1);
    if (atomic_load (&sink.ready) < 0)
        goto out;
    tf_loop_config_t lc = {BENCH_EXTRACT_EP, BENCH_LOAD_EP, BENCH_EVENTS_EP, 10000, 100, 0, 0, 0};
    loop = tf_loop_new (ctx, &lc, s.mapping, s.memory ? &s.mem_ops : NULL, err, sizeof err);
    if (!loop) {
        fprintf (stderr, "--bench: %s\n", err);
        goto out;
    }
    printf ("transformer bench: %zu records (%d input%s), mapping %s, memory %s, %d pass%s\n",
            s.total, s.input_count, s.input_count == 1 ? "" : "s", s.mapping_file, s.memory_desc,
            passes, passes == 1 ? "" : "es");
    feeder.ctx = ctx;
    feeder.msgs = msgs;
    feeder.sizes = sizes;
    feeder.count = s.total;
    feeder.passes = passes;
    if (pthread_create (&feeder_thread, NULL, feeder_run, &feeder) != 0) {
        fprintf (stderr, "--bench: cannot start the feeder thread\n");
        goto out;
    }
    feeding = true;
    pthread_setname_np (feeder_thread, "tf-bench-feed");
    double cpu_all = 0, wall_all = 0;
    for (int p = 0; p < passes; p++) {
        double cpu0 = clock_s (CLOCK_THREAD_CPUTIME_ID), wall0 = clock_s (CLOCK_MONOTONIC);
        //  The loop as mlc-transformer runs it: receive, handle in groups, send on.
        tf_stats_t now;
        do {
            if (tf_loop_poll (loop, 200) < 0) {
                fprintf (stderr, "--bench: a socket failed\n");
                goto out;
            }
            if (atomic_load (&feeder.failed))
                goto out;
            tf_loop_stats (loop, &now);
        } while (now.received < (uint64_t)(p + 1) * s.total);
        double cpu = clock_s (CLOCK_THREAD_CPUTIME_ID) - cpu0;
        double wall = clock_s (CLOCK_MONOTONIC) - wall0;
        cpu_all += cpu;
        wall_all += wall;
        printf ("pass %d%s: %.3f s CPU, %.3f s wall: %.0f records/s on one core (%.0f "
                "records/s wall)\n",
                p + 1, p == 0 ? " (new keys)" : " (known keys)", cpu, wall,
                cpu > 0 ? (double)s.total / cpu : 0, wall > 0 ? (double)s.total / wall : 0);
    }
    tf_stats_t st;
    tf_loop_stats (loop, &st);
    //  Everything sent must arrive before the numbers count.
    int64_t deadline = cm_mono_ms () + 30000;
    while ((atomic_load (&sink.loads) < st.transformed ||
            atomic_load (&sink.events) < st.transformed + st.rejected) &&
           cm_mono_ms () < deadline)
        cm_sleep_ms (5);
    printf ("records: %llu transformed, %llu skipped, %llu rejected, %llu bad; sink got %llu "
            "envelopes, %llu events\n",
            (unsigned long long)st.transformed, (unsigned long long)st.skipped,
            (unsigned long long)st.rejected, (unsigned long long)st.bad,
            (unsigned long long)atomic_load (&sink.loads),
            (unsigned long long)atomic_load (&sink.events));
    if (s.memory) {
        tf_memory_stats_t ms;
        tf_memory_stats (s.memory, &ms);
        printf ("memory: cache %llu hits, %llu misses (RocksDB reads), %llu new keys answered by "
                "the filter, %llu evictions, %llu resets; %llu keys "
                "written, %llu unchanged writes skipped, %llu batch commits; cache and filter "
                "%.1f MiB\n",
                (unsigned long long)ms.hits, (unsigned long long)ms.misses,
                (unsigned long long)ms.filtered, (unsigned long long)ms.evictions,
                (unsigned long long)ms.resets, (unsigned long long)ms.writes,
                (unsigned long long)ms.writes_skipped, (unsigned long long)ms.commits,
                (double)ms.bytes / (1024.0 * 1024.0));
    }
    if (atomic_load (&sink.loads) != st.transformed || st.bad || st.unsent) {
        fprintf (stderr, "--bench: messages were lost\n");
        goto out;
    }
    double total = (double)s.total * passes;
    printf ("RESULT memory=%s records=%.0f cpu_s=%.3f wall_s=%.3f records_per_s_core=%.0f "
            "records_per_s_wall=%.0f\n",
            s.memory ? "on" : "off", total, cpu_all, wall_all, cpu_all > 0 ? total / cpu_all : 0,
            wall_all > 0 ? total / wall_all : 0);
    rc = 0;
out:
    if (feeding) {
        atomic_store (&feeder.stop, true);
        pthread_join (feeder_thread, NULL);
    }
    tf_loop_destroy (&loop);
    if (started) {
        atomic_store (&sink.stop, true);
        pthread_join (thread, NULL);
    }
    if (ctx)
        zmq_ctx_term (ctx);
    for (size_t i = 0; msgs && i < s.total; i++)
        free (msgs[i]);
    free (msgs);
    free (sizes);
    session_close (&s);
    return rc;
}
