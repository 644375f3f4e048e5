/*  rp_cli: the replayer's operator commands. See rp_cli.h. */
#include "rp_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cm_daemon.h"
#include "cm_envelope.h"
#include "cm_log.h"
#include "cm_time.h"
#include "cm_zsock.h"
#include "rp_store.h"

#define RP_CLI_MAX_IDS 1000 /* ids on one replay command line */

static const char *s_commands[] = {"list",   "show",   "history", "stats",
                                   "export", "replay", "purge",   NULL};

bool
rp_cli_is_command (const char *name)
{
    for (int i = 0; name && s_commands[i]; i++)
        if (strcmp (name, s_commands[i]) == 0)
            return true;
    return false;
}

void
rp_cli_usage (FILE *f)
{
    fputs ("usage: mlc-replayer [--config FILE] [COMMAND]\n"
           "  run                                   the daemon (default)\n"
           "  list [--tenant T] [--entity E] [--code C] [--text S] [--since TIME]\n"
           "       [--until TIME] [--limit N] [--json]   dead letters\n"
           "  show ID [--json]                      one dead letter\n"
           "  history KEY [--json]                  a record's audit trail; KEY is\n"
           "                                        tenant:entity:key or a Salesforce Id\n"
           "  stats [--json]                        counters\n"
           "  export [--audit] [list filters]       JSON lines\n"
           "  replay ID... | --all [list filters]   re-feed dead letters (daemon, rate-limited)\n"
           "  purge ID --reason TEXT                remove a dead letter (audited)\n"
           "TIME: \"YYYY-MM-DD HH:MM:SS\" (UTC) or ms since the epoch.\n",
           f);
}

/* ---- arguments --------------------------------------------------------------------- */

typedef struct {
    rp_filter_t filter;        /* list filters */
    bool json;                 /* --json */
    bool all;                  /* --all */
    bool audit;                /* --audit */
    long limit;                /* --limit, 0 = none */
    const char *reason;        /* --reason */
    char *pos[RP_CLI_MAX_IDS]; /* positional arguments (borrowed from argv) */
    int npos;                  /* their count */
} args_t;

static int
parse_time (const char *text, int64_t *ms)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno == 0 && end != text && *end == '\0' && v >= 0) {
        *ms = v;
        return 0;
    }
    return cm_time_parse_sql (text, ms);
}

/*  Parses argv[1..]. Returns 0, or 2 with a message on err. */
static int
parse_args (int argc, char **argv, args_t *a, FILE *err)
{
    memset (a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp (arg, "--json") == 0)
            a->json = true, takes = false;
        else if (strcmp (arg, "--all") == 0)
            a->all = true, takes = false;
        else if (strcmp (arg, "--audit") == 0)
            a->audit = true, takes = false;
        else if (strncmp (arg, "--", 2) != 0) {
            if (a->npos >= RP_CLI_MAX_IDS) {
                fprintf (err, "mlc-replayer: at most %d arguments\n", RP_CLI_MAX_IDS);
                return 2;
            }
            a->pos[a->npos++] = argv[i];
            takes = false;
        }
        if (!takes)
            continue;
        if (!val) {
            fprintf (err, "mlc-replayer: %s needs a value (or is unknown)\n", arg);
            return 2;
        }
        if (strcmp (arg, "--tenant") == 0)
            a->filter.tenant = val;
        else if (strcmp (arg, "--entity") == 0)
            a->filter.entity = val;
        else if (strcmp (arg, "--code") == 0)
            a->filter.code = val;
        else if (strcmp (arg, "--text") == 0)
            a->filter.text = val;
        else if (strcmp (arg, "--reason") == 0)
            a->reason = val;
        else if (strcmp (arg, "--since") == 0 || strcmp (arg, "--until") == 0) {
            int64_t *dst = arg[2] == 's' ? &a->filter.since_ms : &a->filter.until_ms;
            if (parse_time (val, dst) != 0) {
                fprintf (err,
                         "mlc-replayer: %s: bad time '%s' (want \"YYYY-MM-DD HH:MM:SS\" "
                         "or ms since the epoch)\n",
                         arg, val);
                return 2;
            }
        } else if (strcmp (arg, "--limit") == 0) {
            char *end = NULL;
            a->limit = strtol (val, &end, 10);
            if (*val == '\0' || *end != '\0' || a->limit < 0) {
                fprintf (err, "mlc-replayer: --limit: bad number '%s'\n", val);
                return 2;
            }
        } else {
            fprintf (err, "mlc-replayer: unknown option %s\n", arg);
            return 2;
        }
        i++;
    }
    return 0;
}

static rp_store_t *
open_store (const rp_cli_config_t *cfg, bool read_only, FILE *err)
{
    char path[4096];
    char msg[512];
    snprintf (path, sizeof path, "%s/replayer", cfg->data_dir ? cfg->data_dir : ".");
    rp_store_t *store = rp_store_open (path, read_only, msg, sizeof msg);
    if (!store)
        fprintf (err, "mlc-replayer: cannot open the replayer store %s: %s\n", path, msg);
    return store;
}

static void
print_json (FILE *out, const cJSON *o, bool pretty)
{
    char *text = pretty ? cJSON_Print (o) : cJSON_PrintUnformatted (o);
    if (text) {
        fputs (text, out);
        fputc ('\n', out);
    }
    free (text);
}

static const char *
fmt_time (int64_t ms, char *buf)
{
    if (ms <= 0)
        return strcpy (buf, "-");
    return cm_time_format_sql (ms, buf);
}

/* ---- list -------------------------------------------------------------------------- */

typedef struct {
    FILE *out;    /* where to write */
    bool json;    /* JSON array instead of a table */
    cJSON *array; /* the JSON array being built */
    long limit;   /* 0 = all */
    long count;   /* rows so far */
} list_ctx_t;

static int
list_one (const rp_dead_letter_t *dl, void *arg)
{
    list_ctx_t *c = arg;
    if (c->limit && c->count >= c->limit)
        return 1;
    c->count++;
    if (c->json) {
        cJSON *o = rp_dead_letter_to_json (dl);
        if (o)
            cJSON_AddItemToArray (c->array, o);
        return 0;
    }
    char when[32], msg[128], key[64];
    cm_log_excerpt (dl->message, strlen (dl->message), 50, msg, sizeof msg);
    cm_log_excerpt (dl->key, strlen (dl->key), 24, key, sizeof key);
    fprintf (c->out, "%-32s  %-12s  %-8s  %-24s  %-26s  %-9s  %3" PRIu32 "  %-23s  %s\n", dl->id,
             dl->tenant, dl->entity, key, *dl->code ? dl->code : "-", dl->error_class, dl->attempts,
             fmt_time (dl->last_failure_ms, when), msg);
    return 0;
}

static int
cmd_list (rp_store_t *store, const args_t *a, FILE *out, FILE *err)
{
    list_ctx_t c = {out, a->json, NULL, a->limit, 0};
    if (a->json) {
        c.array = cJSON_CreateArray ();
        if (!c.array)
            return 1;
    } else
        fprintf (out, "%-32s  %-12s  %-8s  %-24s  %-26s  %-9s  %3s  %-23s  %s\n", "ID", "TENANT",
                 "ENTITY", "KEY", "CODE", "CLASS", "ATT", "LAST FAILURE (UTC)", "MESSAGE");
    int rc = rp_store_dead_letters (store, &a->filter, list_one, &c);
    if (rc != 0) {
        fprintf (err, "mlc-replayer: list: %s\n", rp_store_error (store));
        cJSON_Delete (c.array);
        return 1;
    }
    if (a->json)
        print_json (out, c.array, true);
    else
        fprintf (out, "%ld dead letter%s\n", c.count, c.count == 1 ? "" : "s");
    cJSON_Delete (c.array);
    return 0;
}

/* ---- show -------------------------------------------------------------------------- */

static int
cmd_show (rp_store_t *store, const args_t *a, FILE *out, FILE *err)
{
    if (a->npos != 1) {
        fprintf (err, "mlc-replayer: show needs exactly one dead-letter id\n");
        return 2;
    }
    const char *id = a->pos[0];
    rp_dead_letter_t *dl = NULL;
    char *env = NULL;
    size_t env_size = 0;
    cm_envelope_t *e = NULL;
    cJSON *o = NULL;
    int status = 1;
    int rc = rp_store_dead_letter (store, id, &dl);
    if (rc < 0) {
        fprintf (err, "mlc-replayer: show %s: %s\n", id, rp_store_error (store));
        goto out;
    }
    if (rc == 0) {
        fprintf (err, "mlc-replayer: no dead letter with id %s (see `mlc-replayer list`)\n", id);
        goto out;
    }
    if (rp_store_envelope (store, id, &env, &env_size) < 0) {
        fprintf (err, "mlc-replayer: show %s: %s\n", id, rp_store_error (store));
        goto out;
    }
    char why[256] = "";
    if (env)
        e = cm_envelope_decode (env, env_size, why, sizeof why);
    if (a->json) {
        o = rp_dead_letter_to_json (dl);
        if (!o)
            goto out;
        if (e) {
            cJSON *src = cJSON_AddObjectToObject (o, "source");
            for (size_t i = 0; src && i < e->field_count; i++)
                cJSON_AddStringToObject (src, e->fields[i].name, e->fields[i].value);
            if (e->payload)
                cJSON_AddStringToObject (o, "payload", e->payload);
        } else if (env)
            cJSON_AddStringToObject (o, "envelope_error", why);
        print_json (out, o, true);
        status = 0;
        goto out;
    }
    char t1[32], t2[32], t3[32];
    fprintf (out,
             "id:             %s\nrecord:         %s:%s:%s\nhash:           %s\n"
             "stage:          %s (%s)\nerror:          %s %s\nhttp status:    %d\n"
             "message:        %s\nfields:         %s\ntarget:         %s %s\n"
             "attempts:       %" PRIu32 " (envelope attempt %" PRIu32 ")\n"
             "first failure:  %s\nlast failure:   %s\nreplays:        %" PRIu32
             " (last %s; unanswered %" PRIu32 ")\nenvelope:       %zu bytes%s\n",
             dl->id, dl->tenant, dl->entity, dl->key, dl->hash, dl->stage, dl->outcome,
             dl->error_class, dl->code, dl->http_status, dl->message, dl->fields, dl->sobject,
             dl->ext_id, dl->attempts, dl->env_attempt, fmt_time (dl->first_failure_ms, t1),
             fmt_time (dl->last_failure_ms, t2), dl->replays, fmt_time (dl->last_replay_ms, t3),
             dl->unanswered, env_size, env ? "" : " (none stored: not replayable)");
    if (e) {
        fprintf (out, "source:\n");
        for (size_t i = 0; i < e->field_count; i++)
            fprintf (out, "  %s = %s\n", e->fields[i].name, e->fields[i].value);
        if (e->payload)
            fprintf (out, "payload:        %s\n", e->payload);
    } else if (env)
        fprintf (out, "envelope does not decode: %s\n", why);
    status = 0;
out:
    cJSON_Delete (o);
    cm_envelope_destroy (&e);
    free (env);
    rp_dead_letter_destroy (&dl);
    return status;
}

/* ---- history ----------------------------------------------------------------------- */

typedef struct {
    FILE *out;    /* where to write */
    bool json;    /* JSON array */
    cJSON *array; /* the array being built */
    long count;   /* entries */
} hist_ctx_t;

static const char *
jstr (const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive (o, name);
    return cJSON_IsString (it) ? it->valuestring : "";
}

static int
hist_one (const cJSON *entry, void *arg)
{
    hist_ctx_t *c = arg;
    c->count++;
    if (c->json) {
        cJSON_AddItemToArray (c->array, cJSON_Duplicate (entry, true));
        return 0;
    }
    const cJSON *at = cJSON_GetObjectItemCaseSensitive (entry, "at");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive (entry, "attempt");
    char when[32];
    fmt_time (cJSON_IsNumber (at) ? (int64_t)at->valuedouble : 0, when);
    fprintf (c->out, "%-23s  %-9s  %-11s  %-32s  %2d", when, jstr (entry, "stage"),
             jstr (entry, "out"), jstr (entry, "eid"), cJSON_IsNumber (att) ? att->valueint : 0);
    if (*jstr (entry, "sfid")) {
        const cJSON *cr = cJSON_GetObjectItemCaseSensitive (entry, "created");
        fprintf (c->out, "  sfid=%s %s", jstr (entry, "sfid"),
                 cJSON_IsTrue (cr) ? "created" : "updated");
    }
    if (*jstr (entry, "code"))
        fprintf (c->out, "  %s %s", jstr (entry, "class"), jstr (entry, "code"));
    const cJSON *http = cJSON_GetObjectItemCaseSensitive (entry, "http");
    if (cJSON_IsNumber (http))
        fprintf (c->out, "  http=%d", http->valueint);
    if (*jstr (entry, "msg")) {
        char msg[160];
        const char *m = jstr (entry, "msg");
        fprintf (c->out, "  \"%s\"", cm_log_excerpt (m, strlen (m), 100, msg, sizeof msg));
    }
    if (*jstr (entry, "reason"))
        fprintf (c->out, "  reason=\"%s\"", jstr (entry, "reason"));
    fputc ('\n', c->out);
    return 0;
}

static int
cmd_history (rp_store_t *store, const args_t *a, FILE *out, FILE *err)
{
    if (a->npos != 1) {
        fprintf (err, "mlc-replayer: history needs one KEY (tenant:entity:key or a "
                      "Salesforce Id)\n");
        return 2;
    }
    const char *arg = a->pos[0];
    char *tenant = NULL, *entity = NULL, *key = NULL;
    int status = 1;
    const char *c1 = strchr (arg, ':');
    const char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
    if (c1 && c2) {
        tenant = strndup (arg, (size_t)(c1 - arg));
        entity = strndup (c1 + 1, (size_t)(c2 - c1 - 1));
        key = strdup (c2 + 1);
        if (!tenant || !entity || !key)
            goto out;
    } else {
        int rc = rp_store_lookup_sf_id (store, arg, &tenant, &entity, &key);
        if (rc < 0) {
            fprintf (err, "mlc-replayer: history %s: %s\n", arg, rp_store_error (store));
            goto out;
        }
        if (rc == 0) {
            fprintf (err,
                     "mlc-replayer: history: %s is not tenant:entity:key and no record "
                     "was loaded as Salesforce Id %s\n",
                     arg, arg);
            goto out;
        }
    }
    hist_ctx_t c = {out, a->json, NULL, 0};
    if (a->json && !(c.array = cJSON_CreateArray ()))
        goto out;
    if (!a->json)
        fprintf (out, "record %s:%s:%s\n", tenant, entity, key);
    if (rp_store_history (store, tenant, entity, key, hist_one, &c) != 0) {
        fprintf (err, "mlc-replayer: history: %s\n", rp_store_error (store));
        cJSON_Delete (c.array);
        goto out;
    }
    if (a->json)
        print_json (out, c.array, true);
    cJSON_Delete (c.array);
    if (c.count == 0) {
        fprintf (err, "mlc-replayer: no audit entries for %s:%s:%s\n", tenant, entity, key);
        goto out;
    }
    status = 0;
out:
    free (tenant);
    free (entity);
    free (key);
    return status;
}

/* ---- stats ------------------------------------------------------------------------- */

static int
cmd_stats (rp_store_t *store, const args_t *a, FILE *out, FILE *err)
{
    rp_stats_t st;
    rp_store_stats (store, &st);
    cJSON *o = rp_stats_to_json (&st);
    if (!o) {
        fprintf (err, "mlc-replayer: out of memory\n");
        return 1;
    }
    if (a->json)
        print_json (out, o, true);
    else {
        const cJSON *it;
        cJSON_ArrayForEach (it, o) fprintf (out, "%-12s %.0f\n", it->string, it->valuedouble);
    }
    cJSON_Delete (o);
    return 0;
}

/* ---- export ------------------------------------------------------------------------ */

typedef struct {
    rp_store_t *store; /* to read envelopes */
    FILE *out;         /* where to write */
    int rc;            /* 0, or -1 after an error */
} export_ctx_t;

static int
export_dl (const rp_dead_letter_t *dl, void *arg)
{
    export_ctx_t *c = arg;
    cJSON *o = rp_dead_letter_to_json (dl);
    char *env = NULL, *b64 = NULL;
    size_t size = 0;
    if (!o)
        goto fail;
    int rc = rp_store_envelope (c->store, dl->id, &env, &size);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        size_t cap = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL);
        b64 = malloc (cap);
        if (!b64)
            goto fail;
        sodium_bin2base64 (b64, cap, (const unsigned char *)env, size,
                           sodium_base64_VARIANT_ORIGINAL);
        cJSON_AddStringToObject (o, "envelope_b64", b64);
    }
    print_json (c->out, o, false);
    cJSON_Delete (o);
    free (env);
    free (b64);
    return 0;
fail:
    cJSON_Delete (o);
    free (env);
    free (b64);
    c->rc = -1;
    return 1;
}

static int
export_audit (const cJSON *entry, void *arg)
{
    export_ctx_t *c = arg;
    print_json (c->out, entry, false);
    return 0;
}

static int
cmd_export (rp_store_t *store, const args_t *a, FILE *out, FILE *err)
{
    export_ctx_t c = {store, out, 0};
    int rc = a->audit ? rp_store_audit_all (store, export_audit, &c)
                      : rp_store_dead_letters (store, &a->filter, export_dl, &c);
    if (rc != 0 || c.rc != 0) {
        fprintf (err, "mlc-replayer: export: %s\n",
                 *rp_store_error (store) ? rp_store_error (store) : "out of memory");
        return 1;
    }
    return 0;
}

/* ---- daemon requests --------------------------------------------------------------- */

/*  Sends one JSON request to the daemon; returns its parsed reply, or NULL with a message
    on err when no daemon answered in time. */
static cJSON *
daemon_request (const rp_cli_config_t *cfg, const cJSON *req, FILE *err, bool quiet)
{
    const char *ep = cfg->control_endpoint;
    int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 3000;
    void *ctx = NULL, *sock = NULL;
    cm_daemon_t *auth = NULL;
    char *text = NULL, *data = NULL;
    size_t size = 0;
    cJSON *reply = NULL;
    char msg[512] = "";
    if (!ep || !*ep) {
        snprintf (msg, sizeof msg, "no control endpoint configured");
        goto out;
    }
    text = cJSON_PrintUnformatted (req);
    ctx = zmq_ctx_new ();
    if (!text || !ctx) {
        snprintf (msg, sizeof msg, "out of memory");
        goto out;
    }
    if (cfg->zmq && !(auth = cm_daemon_client_new (ctx, cfg->zmq, msg, sizeof msg)))
        goto out;
    sock = cm_zsock_new (ctx, ZMQ_REQ, ep, false, 10, 0, msg, sizeof msg);
    if (!sock)
        goto out;
    if (cm_zsock_send (sock, text, strlen (text), timeout) != 0) {
        snprintf (msg, sizeof msg, "the replayer daemon is not reachable at %s", ep);
        goto out;
    }
    int rc = cm_zsock_recv (sock, &data, &size, timeout);
    if (rc != 1) {
        snprintf (msg, sizeof msg,
                  "the replayer daemon did not answer at %s within %d ms (is `mlc-replayer "
                  "run` running?)",
                  ep, timeout);
        goto out;
    }
    reply = cJSON_ParseWithLength (data, size);
    if (!cJSON_IsObject (reply)) {
        cJSON_Delete (reply);
        reply = NULL;
        snprintf (msg, sizeof msg, "the daemon at %s sent a reply that is not JSON", ep);
    }
out:
    if (!reply && !quiet)
        fprintf (err, "mlc-replayer: %s\n", msg);
    free (data);
    free (text);
    cm_zsock_destroy (&sock);
    cm_daemon_client_destroy (&auth);
    if (ctx)
        zmq_ctx_term (ctx);
    return reply;
}

static void
add_filter (cJSON *req, const rp_filter_t *f)
{
    if (f->tenant)
        cJSON_AddStringToObject (req, "tenant", f->tenant);
    if (f->entity)
        cJSON_AddStringToObject (req, "entity", f->entity);
    if (f->code)
        cJSON_AddStringToObject (req, "code", f->code);
    if (f->text)
        cJSON_AddStringToObject (req, "text", f->text);
    if (f->since_ms)
        cJSON_AddNumberToObject (req, "since_ms", (double)f->since_ms);
    if (f->until_ms)
        cJSON_AddNumberToObject (req, "until_ms", (double)f->until_ms);
}

static int
cmd_replay (const rp_cli_config_t *cfg, const args_t *a, FILE *out, FILE *err)
{
    if ((a->npos == 0) == !a->all) {
        fprintf (err, "mlc-replayer: replay needs dead-letter ids or --all [filters]\n");
        return 2;
    }
    int status = 1;
    cJSON *req = cJSON_CreateObject ();
    cJSON *reply = NULL;
    if (!req)
        return 1;
    cJSON_AddStringToObject (req, "cmd", "replay");
    if (a->all) {
        cJSON_AddBoolToObject (req, "all", true);
        add_filter (req, &a->filter);
    } else {
        cJSON *ids = cJSON_AddArrayToObject (req, "ids");
        for (int i = 0; ids && i < a->npos; i++)
            cJSON_AddItemToArray (ids, cJSON_CreateString (a->pos[i]));
    }
    reply = daemon_request (cfg, req, err, false);
    if (!reply)
        goto out;
    if (!cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (reply, "ok"))) {
        fprintf (err, "mlc-replayer: replay: %s\n", jstr (reply, "error"));
        goto out;
    }
    const cJSON *queued = cJSON_GetObjectItemCaseSensitive (reply, "queued");
    const cJSON *missing = cJSON_GetObjectItemCaseSensitive (reply, "missing");
    if (a->json)
        print_json (out, reply, true);
    else
        fprintf (out, "queued %d replay%s (sent at the daemon's replay rate)\n",
                 cJSON_IsNumber (queued) ? queued->valueint : 0,
                 cJSON_IsNumber (queued) && queued->valueint == 1 ? "" : "s");
    status = 0;
    const cJSON *it;
    cJSON_ArrayForEach (it, missing)
    {
        if (cJSON_IsString (it)) {
            fprintf (err, "mlc-replayer: no replayable dead letter with id %s\n", it->valuestring);
            status = 1;
        }
    }
    if (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (reply, "queue_full"))) {
        fprintf (err, "mlc-replayer: the daemon's replay queue is full; run again later\n");
        status = 1;
    }
out:
    cJSON_Delete (req);
    cJSON_Delete (reply);
    return status;
}

static int
cmd_purge (const rp_cli_config_t *cfg, const args_t *a, FILE *out, FILE *err)
{
    if (a->npos != 1 || !a->reason || !*a->reason) {
        fprintf (err, "mlc-replayer: purge needs one dead-letter id and --reason TEXT\n");
        return 2;
    }
    const char *id = a->pos[0];
    int status = 1;
    cJSON *req = cJSON_CreateObject ();
    cJSON *reply = NULL;
    rp_store_t *store = NULL;
    if (!req)
        return 1;
    cJSON_AddStringToObject (req, "cmd", "purge");
    cJSON_AddStringToObject (req, "id", id);
    cJSON_AddStringToObject (req, "reason", a->reason);
    reply = daemon_request (cfg, req, err, true);
    if (reply) {
        if (!cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (reply, "ok"))) {
            fprintf (err, "mlc-replayer: purge: %s\n", jstr (reply, "error"));
            goto out;
        }
    } else {
        /* no daemon: change the store directly (fails clearly if it is locked) */
        store = open_store (cfg, false, err);
        if (!store)
            goto out;
        int rc = rp_store_purge (store, id, a->reason);
        if (rc < 0) {
            fprintf (err, "mlc-replayer: purge %s: %s\n", id, rp_store_error (store));
            goto out;
        }
        if (rc == 0) {
            fprintf (err, "mlc-replayer: purge: no dead letter with id %s\n", id);
            goto out;
        }
    }
    fprintf (out, "purged %s\n", id);
    status = 0;
out:
    rp_store_destroy (&store);
    cJSON_Delete (req);
    cJSON_Delete (reply);
    return status;
}

/* ---- entry ------------------------------------------------------------------------- */

int
rp_cli_run (const rp_cli_config_t *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 1 || !rp_cli_is_command (argv[0])) {
        fprintf (err, "mlc-replayer: unknown command '%s'\n", argc >= 1 ? argv[0] : "");
        rp_cli_usage (err);
        return 2;
    }
    args_t a;
    int rc = parse_args (argc, argv, &a, err);
    if (rc != 0)
        return rc;
    const char *cmd = argv[0];
    if (strcmp (cmd, "replay") == 0)
        return cmd_replay (cfg, &a, out, err);
    if (strcmp (cmd, "purge") == 0)
        return cmd_purge (cfg, &a, out, err);
    if (strcmp (cmd, "show") != 0 && strcmp (cmd, "history") != 0 && a.npos > 0) {
        fprintf (err, "mlc-replayer: %s: unexpected argument '%s'\n", cmd, a.pos[0]);
        return 2;
    }
    rp_store_t *store = open_store (cfg, true, err);
    if (!store)
        return 1;
    if (strcmp (cmd, "list") == 0)
        rc = cmd_list (store, &a, out, err);
    else if (strcmp (cmd, "show") == 0)
        rc = cmd_show (store, &a, out, err);
    else if (strcmp (cmd, "history") == 0)
        rc = cmd_history (store, &a, out, err);
    else if (strcmp (cmd, "stats") == 0)
        rc = cmd_stats (store, &a, out, err);
    else
        rc = cmd_export (store, &a, out, err);
    rp_store_destroy (&store);
    fflush (out);
    return rc;
}
