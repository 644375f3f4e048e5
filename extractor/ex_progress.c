/*  ex_progress: poll records and progress lines. See ex_progress.h. */
#include "ex_progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_time.h"
#include "cs_ido.h"

/*  The number member name of obj, 0 when absent or not a non-negative number. */
static double
s_num (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsNumber (item) && item->valuedouble >= 0 ? item->valuedouble : 0;
}

int
ex_progress_load (ex_state_t *state, const char *entity, cJSON **record, char *err, size_t err_cap)
{
    *record = NULL;
    char *text = NULL;
    int rc = ex_state_poll (state, entity, &text, err, err_cap);
    if (rc <= 0)
        return rc;
    cJSON *obj = cJSON_Parse (text);
    free (text);
    if (!cJSON_IsObject (obj)) {
        cJSON_Delete (obj);
        snprintf (err, err_cap, "%s: the poll record of %s is corrupt", ex_state_path (state),
                  entity);
        return -1;
    }
    *record = obj;
    return 1;
}

const char *
ex_progress_hint (const char *error)
{
    static const struct {
        const char *needle; /* text of the error */
        const char *fix;    /* what to do */
    } hints[] = {
        {"refused the service account credentials",
         "the CloudSuite credentials were refused: download a fresh .ionapi file for the "
         "backend-service app and set cloudsuite.ionapi_file (or mlc-secrets import-ionapi); "
         "mlc-extractor ping tests it"},
        {"Couldn't connect", "the CloudSuite endpoint is unreachable: check the host in the "
                             ".ionapi file (pu: token, iu: API), the network and any proxy; "
                             "mlc-extractor ping tests it"},
        {"Could not resolve", "the CloudSuite host name does not resolve: check pu/iu in the "
                              ".ionapi file and DNS; mlc-extractor ping tests it"},
        {"imed out", "CloudSuite did not answer in time: check the network, or raise "
                     "http.timeout_ms; mlc-extractor ping tests it"},
        {"SSL", "TLS to CloudSuite failed: check the system CA certificates and the host in "
                "the .ionapi file"},
        {"certificate", "TLS to CloudSuite failed: check the system CA certificates and the "
                        "host in the .ionapi file"},
        {"unavailable (HTTP", "the CloudSuite token endpoint is unavailable: retried on the "
                              "next poll; check the ION API Gateway status"},
    };
    if (!error)
        return NULL;
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strstr (error, hints[i].needle))
            return hints[i].fix;
    return NULL;
}

int
ex_progress_note_poll (ex_state_t *state, const char *entity, int64_t started_ms, int rc,
                       const ex_poll_stats_t *stats, const char *error, char *err, size_t err_cap)
{
    int result = -1;
    cJSON *prev = NULL, *rec = NULL;
    char *text = NULL;
    if (ex_progress_load (state, entity, &prev, err, err_cap) < 0) {
        /* a corrupt record is replaced, not fatal */
        cJSON_Delete (prev);
        prev = NULL;
    }
    bool ok = rc == 0;
    char why[1024] = "";
    const char *fix = ok ? NULL : ex_progress_hint (error);
    if (!ok && error)
        cm_log_excerpt (error, strlen (error), 600, why, sizeof why);
    if (fix)
        cm_warn ("EXT_POLL_HINT", "entity=%s fix=\"%s\"", entity, fix);
    double last_ok = ok ? (double)started_ms : s_num (prev, "last_ok_at");
    double last_full = ok && stats->full ? (double)stats->seen : s_num (prev, "last_full_seen");
    rec = cJSON_CreateObject ();
    if (!rec || !cJSON_AddNumberToObject (rec, "at", (double)started_ms) ||
        !cJSON_AddBoolToObject (rec, "ok", ok) || !cJSON_AddStringToObject (rec, "error", why) ||
        !cJSON_AddStringToObject (rec, "fix", fix ? fix : "") ||
        !cJSON_AddBoolToObject (rec, "full", stats->full) ||
        !cJSON_AddNumberToObject (rec, "seen", (double)stats->seen) ||
        !cJSON_AddNumberToObject (rec, "changed", (double)stats->changed) ||
        !cJSON_AddNumberToObject (rec, "emitted", (double)stats->emitted) ||
        !cJSON_AddNumberToObject (rec, "skipped", (double)stats->skipped) ||
        !cJSON_AddNumberToObject (rec, "pages", (double)stats->pages) ||
        !cJSON_AddNumberToObject (rec, "ms", (double)stats->ms) ||
        !cJSON_AddNumberToObject (rec, "polls", s_num (prev, "polls") + 1) ||
        !cJSON_AddNumberToObject (rec, "failures", s_num (prev, "failures") + (ok ? 0 : 1)) ||
        !cJSON_AddNumberToObject (rec, "total_seen",
                                  s_num (prev, "total_seen") + (double)stats->seen) ||
        !cJSON_AddNumberToObject (rec, "total_changed",
                                  s_num (prev, "total_changed") + (double)stats->changed) ||
        !cJSON_AddNumberToObject (rec, "total_emitted",
                                  s_num (prev, "total_emitted") + (double)stats->emitted) ||
        !cJSON_AddNumberToObject (rec, "last_ok_at", last_ok) ||
        !cJSON_AddNumberToObject (rec, "last_full_seen", last_full)) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    text = cJSON_PrintUnformatted (rec);
    if (!text) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    result = ex_state_set_poll (state, entity, text, err, err_cap);
out:
    free (text);
    cJSON_Delete (rec);
    cJSON_Delete (prev);
    return result;
}

#define EX_PROGRESS_TTY_MS 200 /* least time between two redraws of the terminal line */

struct ex_progress_t {
    char tenant[128];             /* tenant (for the line) */
    char entity[64];              /* entity */
    ex_load_fn *load;             /* wrapped page loader */
    void *load_arg;               /* its argument (borrowed) */
    bool tty;                     /* draw in place on stderr */
    int64_t interval_ms;          /* least time between log lines */
    const ex_poll_stats_t *stats; /* live counts of the current poll, NULL = not reporting */
    uint64_t expected;            /* records of the previous full pass, 0 = unknown */
    uint64_t read;                /* records loaded so far in this poll */
    int64_t start_ms;             /* monotonic start of the poll */
    int64_t last_ms;              /* monotonic time of the last report */
    bool line_open;               /* a terminal line is drawn without its newline */
};

ex_progress_t *
ex_progress_new (const char *tenant, const char *entity, ex_load_fn *load, void *load_arg, bool tty,
                 int64_t interval_ms)
{
    ex_progress_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->tenant, sizeof self->tenant, "%s", tenant);
    snprintf (self->entity, sizeof self->entity, "%s", entity);
    self->load = load;
    self->load_arg = load_arg;
    self->tty = tty;
    self->interval_ms = interval_ms < 0 ? 0 : interval_ms;
    return self;
}

void
ex_progress_destroy (ex_progress_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ex_progress_end (*self_p);
    free (*self_p);
    *self_p = NULL;
}

void
ex_progress_begin (ex_progress_t *self, const ex_poll_stats_t *stats, uint64_t expected)
{
    self->stats = stats;
    self->expected = expected;
    self->read = 0;
    self->start_ms = cm_mono_ms ();
    self->last_ms = self->start_ms;
}

void
ex_progress_end (ex_progress_t *self)
{
    if (self->line_open) {
        fputc ('\n', stderr);
        fflush (stderr);
    }
    self->line_open = false;
    self->stats = NULL;
}

char *
ex_progress_format (char *out, size_t cap, uint64_t seen, uint64_t changed, int64_t elapsed_ms,
                    uint64_t expected, bool done)
{
    double rate = elapsed_ms > 0 ? (double)seen * 1000.0 / (double)elapsed_ms : 0;
    char eta[64];
    if (done) {
        uint64_t s = (uint64_t)(elapsed_ms / 1000);
        snprintf (eta, sizeof eta, "done in %" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600,
                  s / 60 % 60, s % 60);
    } else if (!expected)
        snprintf (eta, sizeof eta, "ETA unknown (no previous full pass)");
    else if (seen >= expected)
        snprintf (eta, sizeof eta, "more than the previous pass's %" PRIu64 ", ETA unknown",
                  expected);
    else if (rate <= 0)
        snprintf (eta, sizeof eta, "of ~%" PRIu64 ", ETA unknown", expected);
    else {
        uint64_t left = (uint64_t)((double)(expected - seen) / rate + 0.5);
        snprintf (eta, sizeof eta, "of ~%" PRIu64 ", ETA %" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
                  expected, left / 3600, left / 60 % 60, left % 60);
    }
    snprintf (out, cap, "%" PRIu64 " read, %" PRIu64 " changed, %.0f/s, %s", seen, changed, rate,
              eta);
    return out;
}

/*  Reports the current counts: seen = records loaded so far. */
static void
s_report (ex_progress_t *self, bool last)
{
    int64_t now = cm_mono_ms ();
    int64_t gap = self->tty ? EX_PROGRESS_TTY_MS : self->interval_ms;
    if (!last && now - self->last_ms < gap)
        return;
    self->last_ms = now;
    char text[256];
    ex_progress_format (text, sizeof text, self->read, self->stats->changed, now - self->start_ms,
                        self->expected, last);
    if (self->tty) {
        fprintf (stderr, "\r\033[K%s %s: %s", self->tenant, self->entity, text);
        self->line_open = true;
        if (last)
            ex_progress_end (self);
        else
            fflush (stderr);
    } else if (!last)
        cm_info ("EXT_PROGRESS",
                 "tenant=%s entity=%s read=%" PRIu64 " changed=%zu ms=%lld "
                 "progress=\"%s\"",
                 self->tenant, self->entity, self->read, self->stats->changed,
                 (long long)(now - self->start_ms), text);
}

int
ex_progress_load_fn (void *arg, const cs_ido_query_t *query, cs_ido_page_t **page, char *err,
                     size_t err_cap)
{
    ex_progress_t *self = arg;
    int rc = self->load (self->load_arg, query, page, err, err_cap);
    if (!self->stats || !self->stats->full)
        return rc;
    if (rc) {
        ex_progress_end (self);
        return rc;
    }
    self->read += cs_ido_page_size (*page);
    /* the last page: close the terminal line before the poller logs EXT_POLL_DONE */
    s_report (self, !cs_ido_page_more (*page));
    return rc;
}

uint64_t
ex_progress_expected (ex_state_t *state, const char *entity)
{
    cJSON *rec = NULL;
    char err[256];
    if (ex_progress_load (state, entity, &rec, err, sizeof err) <= 0)
        return 0;
    uint64_t n = (uint64_t)s_num (rec, "last_full_seen");
    cJSON_Delete (rec);
    return n;
}
