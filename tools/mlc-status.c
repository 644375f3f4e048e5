/*  mlc-status: the operator's view of a connector, read without disturbing it.

    mlc-status --config F [--json] [--loader-metrics URL]
        per connection (extractor tenant: every store under data_dir/extractor/) and entity
        (enabled in the config, or with a poll record): last poll and its result (the error
        of a failed poll), watermark, records seen and changed (last poll and in total),
        synced / failed / skipped records, backlog (pending = extracted, not transformed yet;
        in flight = transformed or retrying, not loaded yet) and open dead letters from the
        replayer's audit trail; and, from the loader's /metrics (URL given), Salesforce API
        usage and token requests per org, else "unknown"; per connection the CloudSuite token
        state as the extractor last recorded it (cached or not, expires in N s, last renewal,
        token requests and renewals, last token error; never the token itself).
    Sources are opened read-only (ex_state_open_read_only, rp_store_open read_only), so the
    daemons may run. Secrets are not resolved (cm_config_load_unresolved) and never shown.
    Human table by default, one JSON object with --json.
    Exits 0 on success, 1 on error, 2 on usage. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cm_config.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_time.h"
#include "ex_progress.h"
#include "ex_state.h"
#include "ex_tenant.h"
#include "rp_store.h"

#define ST_MAX_TENANTS 256       /* connections listed */
#define ST_MAX_METRICS (4 << 20) /* largest /metrics body read */

/*  Replayer counts of one tenant/entity, from each record's latest audit entry. */
typedef struct {
    char tenant[128];   /* tenant */
    char entity[64];    /* entity */
    uint64_t synced;    /* latest: loaded */
    uint64_t skipped;   /* latest: skipped (mapping routes it nowhere) */
    uint64_t failed;    /* latest: failed or rejected */
    uint64_t pending;   /* latest: extracted */
    uint64_t in_flight; /* latest: transformed or retrying */
    uint64_t dead;      /* open dead letters */
} st_counts_t;

/*  The audit walk: a growing table of counts and the record being read. */
typedef struct {
    st_counts_t *rows; /* per tenant/entity */
    size_t count;      /* used rows */
    size_t cap;        /* allocated rows */
    char record[2048]; /* tenant\x1fentity\x1fkey of the current record */
    char last_out[32]; /* latest outcome of the current record */
    char tenant[128];  /* its tenant */
    char entity[64];   /* its entity */
} st_walk_t;

static st_counts_t *
s_row (st_walk_t *w, const char *tenant, const char *entity)
{
    for (size_t i = 0; i < w->count; i++)
        if (!strcmp (w->rows[i].tenant, tenant) && !strcmp (w->rows[i].entity, entity))
            return &w->rows[i];
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        st_counts_t *rows = realloc (w->rows, cap * sizeof *rows);
        if (!rows)
            return NULL;
        w->rows = rows;
        w->cap = cap;
    }
    st_counts_t *r = &w->rows[w->count++];
    memset (r, 0, sizeof *r);
    snprintf (r->tenant, sizeof r->tenant, "%s", tenant);
    snprintf (r->entity, sizeof r->entity, "%s", entity);
    return r;
}

/*  Counts the finished record's latest outcome. */
static int
s_close_record (st_walk_t *w)
{
    if (!w->record[0] || !w->last_out[0])
        return 0;
    st_counts_t *r = s_row (w, w->tenant, w->entity);
    if (!r)
        return -1;
    const char *o = w->last_out;
    if (!strcmp (o, "loaded"))
        r->synced++;
    else if (!strcmp (o, "skipped"))
        r->skipped++;
    else if (!strcmp (o, "failed") || !strcmp (o, "rejected"))
        r->failed++;
    else if (!strcmp (o, "extracted"))
        r->pending++;
    else if (!strcmp (o, "transformed") || !strcmp (o, "retrying"))
        r->in_flight++;
    return 0;
}

static const char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) ? item->valuestring : "";
}

static int
s_audit_entry (const cJSON *entry, void *arg)
{
    st_walk_t *w = arg;
    const char *t = s_str (entry, "tenant"), *e = s_str (entry, "entity"),
               *k = s_str (entry, "key");
    char rec[sizeof w->record];
    snprintf (rec, sizeof rec, "%.127s\x1f%.63s\x1f%.1800s", t, e, k);
    if (strcmp (rec, w->record)) {
        if (s_close_record (w))
            return -1;
        snprintf (w->record, sizeof w->record, "%s", rec);
        snprintf (w->tenant, sizeof w->tenant, "%s", t);
        snprintf (w->entity, sizeof w->entity, "%s", e);
        w->last_out[0] = 0;
    }
    if (strcmp (s_str (entry, "stage"), "replay")) /* replayer notes are not outcomes */
        snprintf (w->last_out, sizeof w->last_out, "%s", s_str (entry, "out"));
    return 0;
}

static int
s_dead_letter (const rp_dead_letter_t *dl, void *arg)
{
    st_counts_t *r = s_row (arg, dl->tenant, dl->entity);
    if (!r)
        return -1;
    r->dead++;
    return 0;
}

/*  Reads the replayer's store at data_dir/replayer into w. 1 when read, 0 when there is
    no store yet, -1 on error (err). */
static int
s_read_replayer (const char *data_dir, st_walk_t *w, cJSON *json_totals, char *err, size_t err_cap)
{
    char dir[4096];
    struct stat st;
    char current[4200];
    snprintf (dir, sizeof dir, "%s/replayer", data_dir);
    snprintf (current, sizeof current, "%s/CURRENT", dir);
    if (stat (current, &st) != 0) /* no store yet (or the replayer is creating it) */
        return 0;
    rp_store_t *store = rp_store_open (dir, true, err, err_cap);
    if (!store)
        return -1;
    int rc = -1;
    if (rp_store_audit_all (store, s_audit_entry, w) || s_close_record (w) ||
        rp_store_dead_letters (store, NULL, s_dead_letter, w)) {
        snprintf (err, err_cap, "%.700s: %.300s", dir, rp_store_error (store));
        goto out;
    }
    rp_stats_t stats;
    rp_store_stats (store, &stats);
    cJSON *j = rp_stats_to_json (&stats);
    if (j)
        cJSON_AddItemToObject (json_totals, "replayer", j);
    rc = 1;
out:
    rp_store_destroy (&store);
    return rc;
}

/*  Parses a Prometheus text line "name{labels} value" for name; copies the org label.
    Returns true on a match. */
static bool
s_metric_line (const char *line, const char *name, char *org, size_t org_cap, double *value)
{
    size_t n = strlen (name);
    if (strncmp (line, name, n) || (line[n] != '{' && line[n] != ' '))
        return false;
    org[0] = 0;
    const char *o = strstr (line, "org=\"");
    if (o) {
        o += 5;
        size_t len = strcspn (o, "\"");
        snprintf (org, org_cap, "%.*s", (int)(len < org_cap ? len : org_cap - 1), o);
    }
    const char *sp = strrchr (line, ' ');
    if (!sp)
        return false;
    char *end = NULL;
    *value = strtod (sp + 1, &end);
    return end != sp + 1;
}

/*  Fetches the loader's /metrics and adds {"orgs":{ORG:{usage,max,token_requests,
    token_renewals}}} to out; on failure out gets "error". */
static void
s_read_loader_metrics (const char *url, cJSON *out)
{
    cm_http_t *http = cm_http_new (ST_MAX_METRICS, 5000);
    cm_http_response_t resp;
    memset (&resp, 0, sizeof resp);
    char why[512];
    if (!http) {
        cJSON_AddStringToObject (out, "error", "out of memory");
        return;
    }
    cm_http_request_t req = {.method = "GET", .url = url};
    int rc = cm_http_perform (http, &req, &resp);
    if (rc != 0 || resp.status != 200 || !resp.body) {
        if (resp.status)
            snprintf (why, sizeof why, "%.300s: HTTP %ld", url, resp.status);
        else
            snprintf (why, sizeof why, "%.300s: %.200s", url, resp.error);
        cJSON_AddStringToObject (out, "error", why);
        goto out;
    }
    cJSON *orgs = cJSON_AddObjectToObject (out, "orgs");
    static const char *const names[][2] = {{"mlc_salesforce_api_usage", "api_usage"},
                                           {"mlc_salesforce_api_max", "api_max"},
                                           {"mlc_token_requests_total", "token_requests"},
                                           {"mlc_token_renewals_total", "token_renewals"}};
    char *save = NULL;
    for (char *line = strtok_r (resp.body, "\n", &save); line && orgs;
         line = strtok_r (NULL, "\n", &save)) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char org[128];
            double v;
            if (!s_metric_line (line, names[i][0], org, sizeof org, &v) || !org[0])
                continue;
            if (i == 2 && !strstr (line, "system=\"salesforce\""))
                continue;
            cJSON *o = cJSON_GetObjectItemCaseSensitive (orgs, org);
            if (!o)
                o = cJSON_AddObjectToObject (orgs, org);
            if (o && !cJSON_GetObjectItemCaseSensitive (o, names[i][1]))
                cJSON_AddNumberToObject (o, names[i][1], v);
        }
    }
out:
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
}

static double
s_num (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsNumber (item) ? item->valuedouble : 0;
}

/*  Adds the connection's CloudSuite token state ("token": the extractor's record with
    "expires_in_s" computed now; null when no extractor has written one yet). The record
    never holds the token itself. 0, or -1 (err) on a store error or a corrupt record. */
static int
s_add_token (ex_state_t *state, cJSON *conn, char *err, size_t err_cap)
{
    char *text = NULL;
    int rc = ex_state_token (state, &text, err, err_cap);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        cJSON_AddNullToObject (conn, "token");
        return 0;
    }
    cJSON *tok = cJSON_Parse (text);
    free (text);
    if (!cJSON_IsObject (tok)) {
        cJSON_Delete (tok);
        snprintf (err, err_cap, "the token state is corrupt (not a JSON object)");
        return -1;
    }
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive (tok, "expires_at");
    if (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (tok, "cached")) && cJSON_IsNumber (exp)) {
        double left = (exp->valuedouble - (double)cm_now_ms ()) / 1000;
        cJSON_AddNumberToObject (tok, "expires_in_s", left > 0 ? (double)(int64_t)left : 0);
    } else
        cJSON_AddNullToObject (tok, "expires_in_s");
    cJSON_AddItemToObject (conn, "token", tok);
    return 0;
}

/*  "YYYY-MM-DD HH:MM:SS" (UTC) of a wall-clock ms. */
static char *
s_utc (double ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/*  The human line of a connection's token state. */
static void
s_print_token (const cJSON *conn)
{
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive (conn, "token");
    const char *tenant = s_str (conn, "tenant");
    if (!cJSON_IsObject (tok)) {
        printf ("CloudSuite token of %s: unknown (no poll recorded it yet)\n", tenant);
        return;
    }
    char when[32], state[64];
    const cJSON *left = cJSON_GetObjectItemCaseSensitive (tok, "expires_in_s");
    if (!cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (tok, "cached")))
        snprintf (state, sizeof state, "not cached");
    else if (cJSON_IsNumber (left) && left->valuedouble > 0)
        snprintf (state, sizeof state, "cached, expires in %.0f s", left->valuedouble);
    else
        snprintf (state, sizeof state, "cached, expired");
    const cJSON *ren = cJSON_GetObjectItemCaseSensitive (tok, "last_renewal");
    printf ("CloudSuite token of %s: %s; last renewal %s; token requests %.0f, renewals %.0f\n",
            tenant, state,
            cJSON_IsNumber (ren) ? s_utc (ren->valuedouble, when, sizeof when) : "never",
            s_num (tok, "requests"), s_num (tok, "renewals"));
    const cJSON *at = cJSON_GetObjectItemCaseSensitive (tok, "last_error_at");
    if (*s_str (tok, "last_error"))
        printf ("    last token error (%s): %s\n",
                cJSON_IsNumber (at) ? s_utc (at->valuedouble, when, sizeof when) : "?",
                s_str (tok, "last_error"));
}

/*  Adds one tenant's entities to conns. */
static int
s_read_tenant (const cm_config_t *cfg, const char *data_dir, const char *tenant, st_walk_t *w,
               cJSON *conns, char *err, size_t err_cap)
{
    ex_state_t *state = ex_state_open_read_only (data_dir, tenant, err, err_cap);
    if (!state)
        return -1;
    int rc = -1;
    cJSON *conn = cJSON_CreateObject ();
    cJSON *ents = conn ? cJSON_AddArrayToObject (conn, "entities") : NULL;
    if (!ents || !cJSON_AddStringToObject (conn, "tenant", tenant)) {
        snprintf (err, err_cap, "out of memory");
        cJSON_Delete (conn);
        goto out;
    }
    cJSON_AddItemToArray (conns, conn);
    if (s_add_token (state, conn, err, err_cap))
        goto out;
    for (size_t i = 0; i < EX_TENANT_ENTITIES; i++) {
        const char *entity = ex_tenant_entity_name (i);
        char key[128];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", entity);
        cJSON *poll = NULL;
        if (ex_progress_load (state, entity, &poll, err, err_cap) < 0)
            goto out;
        char wm[256] = "";
        int has_wm = ex_state_watermark (state, entity, wm, sizeof wm, err, err_cap);
        if (has_wm < 0) {
            cJSON_Delete (poll);
            goto out;
        }
        if (!poll && !has_wm && !cm_config_bool (cfg, key))
            continue;
        cJSON *e = cJSON_CreateObject ();
        if (!e) {
            cJSON_Delete (poll);
            snprintf (err, err_cap, "out of memory");
            goto out;
        }
        cJSON_AddItemToArray (ents, e);
        cJSON_AddStringToObject (e, "entity", entity);
        cJSON_AddBoolToObject (e, "enabled", cm_config_bool (cfg, key));
        if (has_wm)
            cJSON_AddStringToObject (e, "watermark", wm);
        else
            cJSON_AddNullToObject (e, "watermark");
        if (poll)
            cJSON_AddItemToObject (e, "last_poll", poll);
        else
            cJSON_AddNullToObject (e, "last_poll");
        st_counts_t zero = {0}, *c = &zero;
        for (size_t j = 0; j < w->count; j++)
            if (!strcmp (w->rows[j].tenant, tenant) && !strcmp (w->rows[j].entity, entity))
                c = &w->rows[j];
        cJSON_AddNumberToObject (e, "synced", (double)c->synced);
        cJSON_AddNumberToObject (e, "failed", (double)c->failed);
        cJSON_AddNumberToObject (e, "skipped", (double)c->skipped);
        cJSON_AddNumberToObject (e, "pending", (double)c->pending);
        cJSON_AddNumberToObject (e, "in_flight", (double)c->in_flight);
        cJSON_AddNumberToObject (e, "dead_letters", (double)c->dead);
    }
    rc = 0;
out:
    ex_state_destroy (&state);
    return rc;
}

static void
s_print_table (const cJSON *root)
{
    printf ("%-16s %-9s %-20s %-7s %-24s %7s %7s %7s %7s %7s %9s %5s\n", "CONNECTION", "ENTITY",
            "LAST POLL (UTC)", "RESULT", "WATERMARK", "SEEN", "CHANGED", "SYNCED", "FAILED",
            "PENDING", "IN_FLIGHT", "DEAD");
    const cJSON *conn, *e;
    cJSON_ArrayForEach (conn, cJSON_GetObjectItemCaseSensitive (root, "connections"))
    {
        cJSON_ArrayForEach (e, cJSON_GetObjectItemCaseSensitive (conn, "entities"))
        {
            const cJSON *poll = cJSON_GetObjectItemCaseSensitive (e, "last_poll");
            char when[32] = "never", result[16] = "-";
            if (cJSON_IsObject (poll)) {
                time_t t = (time_t)(s_num (poll, "at") / 1000);
                struct tm tm;
                gmtime_r (&t, &tm);
                strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
                snprintf (result, sizeof result, "%s",
                          cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (poll, "ok")) ? "ok"
                                                                                       : "FAILED");
            }
            const cJSON *wm = cJSON_GetObjectItemCaseSensitive (e, "watermark");
            printf ("%-16.16s %-9.9s %-20s %-7s %-24.24s %7.0f %7.0f %7.0f %7.0f %7.0f %9.0f "
                    "%5.0f\n",
                    s_str (conn, "tenant"), s_str (e, "entity"), when, result,
                    cJSON_IsString (wm) ? wm->valuestring : "-", s_num (poll, "seen"),
                    s_num (poll, "changed"), s_num (e, "synced"), s_num (e, "failed"),
                    s_num (e, "pending"), s_num (e, "in_flight"), s_num (e, "dead_letters"));
            if (cJSON_IsObject (poll) && *s_str (poll, "error")) {
                printf ("    last poll error: %s\n", s_str (poll, "error"));
                if (*s_str (poll, "fix"))
                    printf ("    fix: %s\n", s_str (poll, "fix"));
            }
        }
    }
    cJSON_ArrayForEach (conn, cJSON_GetObjectItemCaseSensitive (root, "connections"))
        s_print_token (conn);
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive (root, "salesforce");
    const cJSON *orgs = cJSON_GetObjectItemCaseSensitive (sf, "orgs");
    if (!cJSON_IsObject (orgs)) {
        const char *why = s_str (sf, "error");
        printf ("Salesforce API usage: unknown (%s)\n",
                *why ? why : "give --loader-metrics http://HOST:PORT/metrics");
        printf ("Salesforce token state: unknown\n");
        return;
    }
    const cJSON *org;
    cJSON_ArrayForEach (org, orgs)
    {
        printf ("Salesforce org %s: API usage %.0f of %.0f, token requests %.0f, renewals %.0f\n",
                org->string, s_num (org, "api_usage"), s_num (org, "api_max"),
                s_num (org, "token_requests"), s_num (org, "token_renewals"));
    }
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: mlc-status --config FILE [--json] [--loader-metrics URL]\n");
    return 2;
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

int
main (int argc, char **argv)
{
    const char *path = NULL, *metrics = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--config") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp (argv[i], "--loader-metrics") && i + 1 < argc)
            metrics = argv[++i];
        else if (!strcmp (argv[i], "--json"))
            json = true;
        else
            return s_usage ();
    }
    if (!path)
        return s_usage ();
    cm_log_init ("status", CM_LOG_ERROR);
    int rc = 1;
    char err[1024];
    char *names[ST_MAX_TENANTS];
    size_t count = 0;
    st_walk_t walk;
    memset (&walk, 0, sizeof walk);
    cJSON *root = cJSON_CreateObject ();
    cm_config_t *cfg = cm_config_load_unresolved (path, err, sizeof err);
    if (!cfg) {
        fprintf (stderr, "mlc-status: %s\n", err);
        goto out;
    }
    const char *data_dir = cm_config_str (cfg, "data_dir");
    cJSON *conns = root ? cJSON_AddArrayToObject (root, "connections") : NULL;
    if (!conns || !cJSON_AddStringToObject (root, "data_dir", data_dir)) {
        fprintf (stderr, "mlc-status: out of memory\n");
        goto out;
    }
    if (s_read_replayer (data_dir, &walk, root, err, sizeof err) < 0) {
        fprintf (stderr, "mlc-status: replayer store: %s\n", err);
        goto out;
    }
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/extractor", data_dir);
    DIR *d = opendir (dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir (d)) && count < ST_MAX_TENANTS) {
            char current[4600];
            struct stat st;
            snprintf (current, sizeof current, "%s/%s/CURRENT", dir, de->d_name);
            if (de->d_name[0] == '.' || stat (current, &st) != 0)
                continue; /* not a store (yet) */
            names[count] = strdup (de->d_name);
            if (names[count])
                count++;
        }
        closedir (d);
    }
    qsort (names, count, sizeof names[0], s_cmp);
    for (size_t i = 0; i < count; i++)
        if (s_read_tenant (cfg, data_dir, names[i], &walk, conns, err, sizeof err)) {
            fprintf (stderr, "mlc-status: extractor state of %s: %s\n", names[i], err);
            goto out;
        }
    cJSON *sf = cJSON_AddObjectToObject (root, "salesforce");
    if (sf && metrics)
        s_read_loader_metrics (metrics, sf);
    else if (sf)
        cJSON_AddStringToObject (sf, "error", "unknown: no --loader-metrics URL given");
    if (json) {
        char *text = cJSON_Print (root);
        if (!text) {
            fprintf (stderr, "mlc-status: out of memory\n");
            goto out;
        }
        printf ("%s\n", text);
        free (text);
    } else {
        if (count == 0)
            printf ("no extractor state under %s (nothing polled yet)\n", dir);
        s_print_table (root);
    }
    rc = 0;
out:
    for (size_t i = 0; i < count; i++)
        free (names[i]);
    free (walk.rows);
    cJSON_Delete (root);
    cm_config_destroy (&cfg);
    return rc;
}
