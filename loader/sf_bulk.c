/*  sf_bulk: Bulk API 2.0 ingest upsert: CSV from payloads, the job's calls, results back
    into per-record outcomes. See sf_bulk.h. */
#include "sf_bulk.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "cm_log.h"
#include "cm_time.h"

#define SF_BULK_MAX_CELL      (2 * SF_COLLECTIONS_MAX_PAYLOAD) /* a result cell, at most */
#define SF_BULK_STEP_ATTEMPTS 4     /* tries of one step of a job on a retryable answer */
#define SF_BULK_STEP_BASE_MS  250   /* first wait between those tries */
#define SF_BULK_STEP_MAX_MS   4000  /* longest wait between them */
#define SF_BULK_JOB_BODY_MAX  65536 /* a job-info answer longer than this is not read */

/* ---------------------------------------------------------------------------------------- */
/* CSV from payloads */

//  One column of the job: its header text.
typedef struct {
    char *name; /* "Field", "Rel.Field" or "Type:Rel.Field" */
} column_t;

typedef struct {
    column_t *cols; /* in first-seen order */
    size_t count;   /* used */
    size_t cap;     /* allocated */
} columns_t;

static void
s_columns_free (columns_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        free (c->cols[i].name);
    free (c->cols);
    memset (c, 0, sizeof *c);
}

//  Index of name, starting the search at hint (members come in a stable order); -1 if absent.
static long
s_column_find (const columns_t *c, const char *name, size_t hint)
{
    for (size_t k = 0; k < c->count; k++) {
        size_t i = (hint + k) % c->count;
        if (strcmp (c->cols[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

static long
s_column_add (columns_t *c, const char *name)
{
    if (c->count >= SF_BULK_MAX_COLUMNS)
        return -1;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        column_t *grown = realloc (c->cols, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->cols = grown;
        c->cap = cap;
    }
    c->cols[c->count].name = strdup (name);
    if (!c->cols[c->count].name)
        return -1;
    return (long)c->count++;
}

//  A member's column name and cell text. Returns 0, or -1 when CSV cannot express it the
//  way Collections would read the JSON. *text is malloc'd.
static int
s_member_cell (const cJSON *member, char *column, size_t column_cap, char **text)
{
    *text = NULL;
    const char *name = member->string;
    if (!sf_collections_name_ok (name))
        return -1;
    if (cJSON_IsObject (member)) {
        //  A parent by external ID: {"Field": value} or {"attributes":{"type":T},"Field":value}
        const char *type = NULL;
        const cJSON *key = NULL;
        const cJSON *kid;
        cJSON_ArrayForEach (kid, member)
        {
            if (kid->string && strcmp (kid->string, "attributes") == 0) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive (kid, "type");
                if (type || !cJSON_IsObject (kid) || cJSON_GetArraySize (kid) != 1 ||
                    !cJSON_IsString (t) || !sf_collections_name_ok (t->valuestring))
                    return -1;
                type = t->valuestring;
            } else {
                if (key)
                    return -1;
                key = kid;
            }
        }
        if (!key || !sf_collections_name_ok (key->string) ||
            !(cJSON_IsString (key) || cJSON_IsNumber (key)))
            return -1;
        if (cJSON_IsString (key) && !*key->valuestring)
            return -1;
        int w = type ? snprintf (column, column_cap, "%s:%s.%s", type, name, key->string)
                     : snprintf (column, column_cap, "%s.%s", name, key->string);
        if (w < 0 || (size_t)w >= column_cap)
            return -1;
        *text = cJSON_IsString (key) ? strdup (key->valuestring) : cJSON_PrintUnformatted (key);
        return *text ? 0 : -1;
    }
    snprintf (column, column_cap, "%s", name);
    size_t len = strlen (name);
    //  A custom relationship set to null: CSV has no column that clears a reference by name
    if (len > 3 && strcmp (name + len - 3, "__r") == 0)
        return -1;
    if (cJSON_IsNull (member) || (cJSON_IsString (member) && !*member->valuestring))
        *text = strdup ("#N/A"); //  Bulk's "clear this field"
    else if (cJSON_IsString (member))
        *text = strdup (member->valuestring);
    else if (cJSON_IsBool (member))
        *text = strdup (cJSON_IsTrue (member) ? "true" : "false");
    else if (cJSON_IsNumber (member))
        *text = cJSON_PrintUnformatted (member);
    else
        return -1; //  arrays and anything else
    return *text ? 0 : -1;
}

//  Parses a payload and checks that every member has a cell; registers new columns.
//  Returns the tree, or NULL when the record must go through Collections.
static cJSON *
s_eligible (const char *payload, const char *ext_id_field, columns_t *cols)
{
    cJSON *json =
        payload ? cJSON_ParseWithLength (payload, strnlen (payload, SF_COLLECTIONS_MAX_PAYLOAD + 1))
                : NULL;
    if (!cJSON_IsObject (json))
        goto no;
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive (json, ext_id_field);
    if (!ext || !(cJSON_IsString (ext) || cJSON_IsNumber (ext)) ||
        (cJSON_IsString (ext) && !*ext->valuestring))
        goto no;
    size_t before = cols->count;
    const cJSON *member;
    size_t index = 0;
    cJSON_ArrayForEach (member, json)
    {
        char column[3 * 84];
        char *text = NULL;
        if (s_member_cell (member, column, sizeof column, &text) != 0)
            goto undo;
        free (text);
        //  The same member twice is ambiguous in JSON: leave it to Salesforce's reader
        for (const cJSON *other = json->child; other != member; other = other->next)
            if (strcmp (other->string, member->string) == 0)
                goto undo;
        if (s_column_find (cols, column, index) < 0) {
            if (s_column_add (cols, column) < 0)
                goto undo;
        }
        index++;
    }
    return json;
undo:
    //  Columns only this record brought in are dropped again
    while (cols->count > before) {
        cols->count--;
        free (cols->cols[cols->count].name);
    }
no:
    cJSON_Delete (json);
    return NULL;
}

int
sf_bulk_csv_build (const char *ext_id_field, const char *const *payloads, size_t n, size_t max_csv,
                   sf_csv_buf_t *csv, bool *included, char **ext_values, size_t *rows, char *err,
                   size_t err_cap)
{
    assert (csv && included && ext_values && rows);
    *rows = 0;
    memset (csv, 0, sizeof *csv);
    csv->max = max_csv ? max_csv : SF_BULK_MAX_CSV;
    for (size_t i = 0; i < n; i++) {
        included[i] = false;
        ext_values[i] = NULL;
    }
    if (!sf_collections_name_ok (ext_id_field)) {
        snprintf (err, err_cap, "bad external-ID field name");
        return -1;
    }
    int rc = -1;
    columns_t cols = {0};
    cJSON **trees = calloc (n ? n : 1, sizeof *trees);
    char **cells = NULL;
    if (!trees)
        goto oom;
    for (size_t i = 0; i < n; i++)
        trees[i] = s_eligible (payloads[i], ext_id_field, &cols);
    cells = calloc (cols.count ? cols.count : 1, sizeof *cells);
    if (!cells)
        goto oom;
    for (size_t c = 0; c < cols.count; c++)
        if (sf_csv_put (csv, cols.cols[c].name, strlen (cols.cols[c].name), c == 0) != 0)
            goto too_big;
    if (cols.count && sf_csv_end_row (csv) != 0)
        goto too_big;
    bool full = false;
    for (size_t i = 0; i < n; i++) {
        if (!trees[i] || full)
            continue;
        memset (cells, 0, cols.count * sizeof *cells);
        const cJSON *member;
        size_t index = 0;
        bool ok = true;
        cJSON_ArrayForEach (member, trees[i])
        {
            char column[3 * 84];
            char *text = NULL;
            long c = -1;
            if (s_member_cell (member, column, sizeof column, &text) == 0)
                c = s_column_find (&cols, column, index);
            if (c < 0) {
                free (text);
                ok = false;
                break;
            }
            free (cells[c]);
            cells[c] = text;
            index++;
        }
        size_t row_start = csv->len;
        for (size_t c = 0; ok && c < cols.count; c++)
            if (sf_csv_put (csv, cells[c] ? cells[c] : "", cells[c] ? strlen (cells[c]) : 0,
                            c == 0) != 0)
                ok = false;
        if (ok && sf_csv_end_row (csv) != 0)
            ok = false;
        if (!ok) {
            //  Over the cap: this and later records wait for the next job
            csv->len = row_start;
            if (csv->data)
                csv->data[row_start] = '\0';
            full = true;
        } else {
            const cJSON *ext = cJSON_GetObjectItemCaseSensitive (trees[i], ext_id_field);
            ext_values[i] =
                cJSON_IsString (ext) ? strdup (ext->valuestring) : cJSON_PrintUnformatted (ext);
            if (!ext_values[i])
                goto oom;
            included[i] = true;
            (*rows)++;
        }
        for (size_t c = 0; c < cols.count; c++) {
            free (cells[c]);
            cells[c] = NULL;
        }
    }
    rc = 0;
    goto out;
too_big:
    snprintf (err, err_cap, "the CSV header alone is over %zu bytes", csv->max);
    goto fail;
oom:
    snprintf (err, err_cap, "out of memory");
fail:
    for (size_t i = 0; i < n; i++) {
        free (ext_values[i]);
        ext_values[i] = NULL;
        included[i] = false;
    }
    *rows = 0;
    sf_csv_buf_clear (csv);
out:
    if (trees)
        for (size_t i = 0; i < n; i++)
            cJSON_Delete (trees[i]);
    free (trees);
    if (cells)
        for (size_t c = 0; c < cols.count; c++)
            free (cells[c]);
    free (cells);
    s_columns_free (&cols);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Results */

void
sf_bulk_error_split (const char *text, char *code, size_t code_cap, char *message,
                     size_t message_cap, char *fields, size_t fields_cap)
{
    assert (code && message && fields && code_cap && message_cap && fields_cap);
    code[0] = message[0] = fields[0] = '\0';
    if (!text)
        text = "";
    //  "CODE:message:f1,f2 --": the code is upper case letters, digits and '_'
    const char *colon = strchr (text, ':');
    bool coded = colon && colon > text;
    for (const char *p = text; coded && p < colon; p++)
        if (!isupper ((unsigned char)*p) && !isdigit ((unsigned char)*p) && *p != '_')
            coded = false;
    if (!coded) {
        snprintf (code, code_cap, "UNKNOWN_ERROR");
        snprintf (message, message_cap, "%s", text);
        return;
    }
    snprintf (code, code_cap, "%.*s", (int)(colon - text), text);
    const char *rest = colon + 1;
    size_t len = strlen (rest);
    //  The trailing " --" (or "--") ends the field list
    if (len >= 2 && rest[len - 2] == '-' && rest[len - 1] == '-') {
        len -= 2;
        while (len > 0 && rest[len - 1] == ' ')
            len--;
    }
    //  The message may itself hold colons; the fields follow the last one
    const char *last = NULL;
    for (size_t i = 0; i < len; i++)
        if (rest[i] == ':')
            last = rest + i;
    if (last) {
        size_t mlen = (size_t)(last - rest);
        size_t flen = len - mlen - 1;
        snprintf (message, message_cap, "%.*s", (int)(mlen > 65535 ? 65535 : mlen), rest);
        snprintf (fields, fields_cap, "%.*s", (int)(flen > 65535 ? 65535 : flen), last + 1);
    } else
        snprintf (message, message_cap, "%.*s", (int)(len > 65535 ? 65535 : len), rest);
}

//  Open-addressing index from external-ID text to record number.
typedef struct {
    size_t *slots; /* record number + 1, 0 = empty */
    size_t mask;   /* slot count - 1 */
} ext_index_t;

static uint64_t
s_hash (const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int
s_index_build (ext_index_t *ix, char *const *values, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    ix->slots = calloc (slots, sizeof *ix->slots);
    if (!ix->slots)
        return -1;
    ix->mask = slots - 1;
    for (size_t i = 0; i < n; i++) {
        if (!values[i])
            continue;
        size_t s = (size_t)s_hash (values[i]) & ix->mask;
        while (ix->slots[s])
            s = (s + 1) & ix->mask;
        ix->slots[s] = i + 1;
    }
    return 0;
}

static long
s_index_find (const ext_index_t *ix, char *const *values, const char *value)
{
    size_t s = (size_t)s_hash (value) & ix->mask;
    while (ix->slots[s]) {
        size_t i = ix->slots[s] - 1;
        if (strcmp (values[i], value) == 0)
            return (long)i;
        s = (s + 1) & ix->mask;
    }
    return -1;
}

static long
s_header_find (char **cells, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (cells[i], name) == 0)
            return (long)i;
    return -1;
}

long
sf_bulk_results_parse (sf_bulk_file_t which, const char *csv, size_t len, const char *ext_id_field,
                       char *const *ext_values, size_t n, sf_record_result_t *results,
                       sf_bulk_outcome_t *outcome, bool *seen, char *err, size_t err_cap)
{
    assert (ext_id_field && ext_values && results && outcome && seen);
    ext_index_t ix = {0};
    sf_csv_reader_t *reader =
        sf_csv_reader_new (csv, len, SF_BULK_MAX_COLUMNS + 3, SF_BULK_MAX_CELL);
    long matched = -1;
    if (!reader || s_index_build (&ix, ext_values, n) != 0) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    char **cells;
    size_t count;
    char why[160];
    int rc = sf_csv_reader_next (reader, &cells, &count, why, sizeof why);
    if (rc != 1) {
        snprintf (err, err_cap, "result file has no header row%s%s", rc < 0 ? ": " : "",
                  rc < 0 ? why : "");
        goto out;
    }
    size_t header_count = count;
    long ext_col = s_header_find (cells, count, ext_id_field);
    long id_col = s_header_find (cells, count, "sf__Id");
    long created_col = s_header_find (cells, count, "sf__Created");
    long error_col = s_header_find (cells, count, "sf__Error");
    if (ext_col < 0) {
        snprintf (err, err_cap, "result file has no %s column", ext_id_field);
        goto out;
    }
    if ((which == SF_BULK_SUCCESSFUL && id_col < 0) || (which == SF_BULK_FAILED && error_col < 0)) {
        snprintf (err, err_cap, "result file lacks its %s column",
                  which == SF_BULK_SUCCESSFUL ? "sf__Id" : "sf__Error");
        goto out;
    }
    matched = 0;
    while ((rc = sf_csv_reader_next (reader, &cells, &count, why, sizeof why)) == 1) {
        if (count != header_count)
            continue;
        long i = s_index_find (&ix, ext_values, cells[ext_col]);
        if (i < 0 || seen[i])
            continue;
        sf_record_result_t *r = &results[i];
        memset (r, 0, sizeof *r);
        if (which == SF_BULK_SUCCESSFUL) {
            if (!sf_id_is_valid (cells[id_col]))
                continue; //  a success without a usable Id is no proof: retried later
            r->success = true;
            snprintf (r->id, sizeof r->id, "%s", cells[id_col]);
            r->created = created_col >= 0 && strcmp (cells[created_col], "true") == 0;
            r->cls = CM_ERR_NONE;
            outcome[i] = SF_BULK_RECORD;
        } else if (which == SF_BULK_FAILED) {
            r->success = false;
            sf_bulk_error_split (cells[error_col], r->code, sizeof r->code, r->message,
                                 sizeof r->message, r->fields, sizeof r->fields);
            r->cls = sf_collections_classify (r->code, r->message);
            outcome[i] = SF_BULK_RECORD;
        } else
            outcome[i] = SF_BULK_REQUEUE;
        seen[i] = true;
        matched++;
    }
    if (rc < 0) {
        snprintf (err, err_cap, "result file: %s", why);
        matched = -1;
    }
out:
    free (ix.slots);
    sf_csv_reader_destroy (&reader);
    return matched;
}

/* ---------------------------------------------------------------------------------------- */
/* The job */

typedef struct {
    sf_org_t *org;                    /* where */
    cm_http_t *http;                  /* through */
    const sf_bulk_options_t *options; /* settings */
    sf_bulk_info_t *info;             /* counters */
    char job_path[64];                /* "/jobs/ingest/750..." */
} job_t;

static bool
s_cancelled (const job_t *job)
{
    return job->options->cancelled && job->options->cancelled (job->options->cancelled_arg);
}

//  Waits ms in short naps, returning early once the job is cancelled. Not cut short by a
//  stop request alone: the drain goes on while its budget lasts.
static void
s_nap (const job_t *job, int64_t ms)
{
    int64_t end = cm_mono_ms () + ms;
    for (int64_t now = cm_mono_ms (); now < end && !s_cancelled (job); now = cm_mono_ms ()) {
        int64_t slice = end - now < 100 ? end - now : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)slice * 1000000L};
        nanosleep (&ts, NULL);
    }
}

//  One step of the job, retried on retryable answers. resp is the caller's to clear.
static sf_call_result_t
s_step (job_t *job, const char *method, const char *path, const char *body, size_t body_len,
        const char *content_type, const char *accept, cm_http_response_t *resp, sf_error_t *err)
{
    sf_request_t req = {.method = method,
                        .path = path,
                        .body = body,
                        .body_len = body_len,
                        .content_type = content_type,
                        .accept = accept};
    cm_retry_policy_t policy = {.max_attempts = SF_BULK_STEP_ATTEMPTS,
                                .base_ms = SF_BULK_STEP_BASE_MS,
                                .max_ms = SF_BULK_STEP_MAX_MS};
    sf_call_result_t r = SF_CALL_RETRY;
    for (int attempt = 1; attempt <= SF_BULK_STEP_ATTEMPTS; attempt++) {
        if (attempt > 1)
            cm_http_response_clear (resp);
        r = sf_org_request (job->org, job->http, &req, resp, err);
        if (r != SF_CALL_STOPPED && !(r == SF_CALL_PAUSED && err->http_status == 0))
            job->info->calls++;
        if (r != SF_CALL_RETRY || attempt == SF_BULK_STEP_ATTEMPTS || s_cancelled (job))
            break;
        s_nap (job, cm_backoff_ms (&policy, attempt, err->retry_after_s));
    }
    return r;
}

//  Best effort: a job we give up on is aborted so Salesforce does not process it later.
static void
s_abort (job_t *job)
{
    static const char body[] = "{\"state\":\"Aborted\"}";
    sf_request_t req = {
        .method = "PATCH", .path = job->job_path, .body = body, .body_len = sizeof body - 1};
    cm_http_response_t resp;
    sf_error_t err;
    sf_call_result_t r = sf_org_request (job->org, job->http, &req, &resp, &err);
    if (r != SF_CALL_STOPPED && !(r == SF_CALL_PAUSED && err.http_status == 0))
        job->info->calls++;
    cm_http_response_clear (&resp);
}

//  Reads a 2xx job answer: its id (create) and state. -1 when malformed.
static int
s_job_answer (const cm_http_response_t *resp, char *id, size_t id_cap, char *state,
              size_t state_cap, long *processed, long *failed, char *message, size_t message_cap)
{
    if (!resp->body || resp->body_len == 0 || resp->body_len > SF_BULK_JOB_BODY_MAX)
        return -1;
    cJSON *json = cJSON_ParseWithLength (resp->body, resp->body_len);
    int rc = -1;
    if (!cJSON_IsObject (json))
        goto out;
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive (json, "id");
    const cJSON *jstate = cJSON_GetObjectItemCaseSensitive (json, "state");
    if (!cJSON_IsString (jid) || !sf_id_is_valid (jid->valuestring) || !cJSON_IsString (jstate) ||
        strlen (jstate->valuestring) >= state_cap)
        goto out;
    snprintf (id, id_cap, "%s", jid->valuestring);
    snprintf (state, state_cap, "%s", jstate->valuestring);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive (json, "numberRecordsProcessed");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive (json, "numberRecordsFailed");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive (json, "errorMessage");
    if (processed)
        *processed = cJSON_IsNumber (p) && p->valuedouble >= 0 && p->valuedouble < 1e12
                         ? (long)p->valuedouble
                         : -1;
    if (failed)
        *failed = cJSON_IsNumber (f) && f->valuedouble >= 0 && f->valuedouble < 1e12
                      ? (long)f->valuedouble
                      : -1;
    if (message)
        snprintf (message, message_cap, "%s", cJSON_IsString (m) ? m->valuestring : "");
    rc = 0;
out:
    cJSON_Delete (json);
    return rc;
}

//  Sets a malformed-answer error: the job's state is unknown, so its records are retried.
static sf_call_result_t
s_malformed (sf_error_t *err, const char *what)
{
    snprintf (err->code, sizeof err->code, "MALFORMED_RESPONSE");
    snprintf (err->message, sizeof err->message, "Bulk API answer to %s is not a job", what);
    return SF_CALL_RETRY;
}

//  Fetches one result file and applies it. Returns OK, or the call result that stopped it.
static sf_call_result_t
s_results (job_t *job, sf_bulk_file_t which, const char *ext_id_field, char *const *ext_values,
           size_t n, sf_record_result_t *results, sf_bulk_outcome_t *outcome, bool *seen,
           sf_error_t *err)
{
    static const char *const names[] = {"successfulResults", "failedResults", "unprocessedrecords"};
    char path[96];
    snprintf (path, sizeof path, "%s/%s", job->job_path, names[which]);
    cm_http_response_t resp;
    sf_call_result_t r = s_step (job, "GET", path, NULL, 0, NULL, "text/csv", &resp, err);
    if (r == SF_CALL_OK) {
        char why[200];
        long matched =
            sf_bulk_results_parse (which, resp.body, resp.body_len, ext_id_field, ext_values, n,
                                   results, outcome, seen, why, sizeof why);
        if (matched < 0) {
            char excerpt[260];
            cm_warn ("LDR_BULK_BAD_RESULTS", "job=%s file=%s reason=\"%s\"", job->info->job_id,
                     names[which],
                     cm_log_excerpt (why, strlen (why), 200, excerpt, sizeof excerpt));
        } else if (which == SF_BULK_SUCCESSFUL)
            job->info->loaded += (size_t)matched;
        else if (which == SF_BULK_FAILED)
            job->info->failed += (size_t)matched;
    }
    cm_http_response_clear (&resp);
    return r;
}

sf_call_result_t
sf_bulk_upsert (sf_org_t *org, cm_http_t *http, const char *sobject, const char *ext_id_field,
                const char *const *payloads, size_t n, const sf_bulk_options_t *options,
                sf_record_result_t *results, sf_bulk_outcome_t *outcome, sf_error_t *err,
                sf_bulk_info_t *info)
{
    assert (org && http && sobject && ext_id_field && payloads && options && results && outcome &&
            err);
    sf_bulk_info_t scratch_info;
    if (!info)
        info = &scratch_info;
    memset (info, 0, sizeof *info);
    memset (err, 0, sizeof *err);
    err->retry_after_s = -1;
    memset (results, 0, n * sizeof *results);
    for (size_t i = 0; i < n; i++)
        outcome[i] = SF_BULK_CALL;
    job_t job = {.org = org, .http = http, .options = options, .info = info};
    sf_call_result_t r = SF_CALL_RETRY;
    sf_csv_buf_t csv = {0};
    bool *included = calloc (n ? n : 1, sizeof *included);
    bool *seen = calloc (n ? n : 1, sizeof *seen);
    char **ext_values = calloc (n ? n : 1, sizeof *ext_values);
    cm_http_response_t resp = {0};
    size_t rows = 0;
    char why[200];
    if (!included || !seen || !ext_values) {
        snprintf (err->code, sizeof err->code, "OUT_OF_MEMORY");
        snprintf (err->message, sizeof err->message, "cannot build the Bulk job");
        goto out;
    }
    if (!sf_collections_name_ok (sobject) ||
        sf_bulk_csv_build (ext_id_field, payloads, n, options->max_csv, &csv, included, ext_values,
                           &rows, why, sizeof why) != 0) {
        //  Nothing was sent: Collections takes the records and reports per record
        for (size_t i = 0; i < n; i++)
            outcome[i] = SF_BULK_REQUEUE;
        info->requeued = n;
        r = SF_CALL_OK;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!included[i]) {
            outcome[i] = SF_BULK_REQUEUE;
            info->requeued++;
        }
    info->uploaded = rows;
    if (rows == 0) {
        r = SF_CALL_OK;
        goto out;
    }

    //  1. Create the job
    char *create = NULL;
    if (asprintf (&create,
                  "{\"object\":\"%s\",\"externalIdFieldName\":\"%s\",\"contentType\":\"CSV\","
                  "\"operation\":\"upsert\",\"lineEnding\":\"LF\"}",
                  sobject, ext_id_field) < 0) {
        snprintf (err->code, sizeof err->code, "OUT_OF_MEMORY");
        goto out;
    }
    r = s_step (&job, "POST", "/jobs/ingest", create, strlen (create), NULL, NULL, &resp, err);
    free (create);
    char state[24] = "";
    if (r == SF_CALL_OK && s_job_answer (&resp, info->job_id, sizeof info->job_id, state,
                                         sizeof state, NULL, NULL, NULL, 0) != 0)
        r = s_malformed (err, "create");
    cm_http_response_clear (&resp);
    if (r != SF_CALL_OK) {
        info->job_id[0] = '\0';
        goto refused;
    }
    snprintf (job.job_path, sizeof job.job_path, "/jobs/ingest/%s", info->job_id);
    snprintf (info->state, sizeof info->state, "%s", state);

    //  2. Upload the CSV, 3. close the job
    char path[96];
    snprintf (path, sizeof path, "%s/batches", job.job_path);
    r = s_step (&job, "PUT", path, csv.data, csv.len, "text/csv", NULL, &resp, err);
    cm_http_response_clear (&resp);
    if (r == SF_CALL_OK) {
        static const char close[] = "{\"state\":\"UploadComplete\"}";
        r = s_step (&job, "PATCH", job.job_path, close, sizeof close - 1, NULL, NULL, &resp, err);
        cm_http_response_clear (&resp);
    }
    if (r != SF_CALL_OK) {
        s_abort (&job);
        goto refused;
    }
    sf_csv_buf_clear (&csv); //  not needed any more: free it while the job runs

    //  4. Poll with backoff until the job is done
    int64_t wait = options->poll_first_ms > 0 ? options->poll_first_ms : 250;
    int64_t wait_max = options->poll_max_ms > wait ? options->poll_max_ms : wait;
    int64_t deadline = cm_mono_ms () + (options->timeout_ms > 0 ? options->timeout_ms : 600000);
    long processed = -1, failed = -1;
    char job_message[256] = "";
    while (true) {
        if (s_cancelled (&job) || cm_mono_ms () >= deadline) {
            bool cancelled = s_cancelled (&job);
            s_abort (&job);
            snprintf (err->code, sizeof err->code, "%s",
                      cancelled ? "LDR_BULK_CANCELLED" : "LDR_BULK_TIMEOUT");
            snprintf (err->message, sizeof err->message, "Bulk job %s %s in state %s", info->job_id,
                      cancelled ? "given up on stop" : "did not finish in time", info->state);
            r = SF_CALL_RETRY;
            goto out;
        }
        s_nap (&job, wait);
        if (s_cancelled (&job))
            continue;
        wait = wait * 2 > wait_max ? wait_max : wait * 2;
        info->polls++;
        r = s_step (&job, "GET", job.job_path, NULL, 0, NULL, NULL, &resp, err);
        char id[24];
        if (r == SF_CALL_OK && s_job_answer (&resp, id, sizeof id, state, sizeof state, &processed,
                                             &failed, job_message, sizeof job_message) != 0)
            r = s_malformed (err, "a state poll");
        cm_http_response_clear (&resp);
        if (r == SF_CALL_RETRY)
            continue; //  the job runs on at Salesforce: keep asking until the deadline
        if (r != SF_CALL_OK)
            goto out; //  paused or stopped org, or the job vanished: retried later
        snprintf (info->state, sizeof info->state, "%s", state);
        if (strcmp (state, "JobComplete") == 0 || strcmp (state, "Failed") == 0 ||
            strcmp (state, "Aborted") == 0)
            break;
    }
    bool complete = strcmp (state, "JobComplete") == 0;
    if (!complete) {
        char excerpt[300];
        cm_warn ("LDR_BULK_JOB_FAILED", "job=%s state=%s processed=%ld msg=\"%s\"", info->job_id,
                 state, processed,
                 cm_log_excerpt (job_message, strlen (job_message), 240, excerpt, sizeof excerpt));
    }

    //  5. Results: only the files that can hold something
    if (processed != 0 && (failed < 0 || processed < 0 || processed > failed))
        r = s_results (&job, SF_BULK_SUCCESSFUL, ext_id_field, ext_values, n, results, outcome,
                       seen, err);
    if (r == SF_CALL_OK && failed != 0 && processed != 0)
        r = s_results (&job, SF_BULK_FAILED, ext_id_field, ext_values, n, results, outcome, seen,
                       err);
    if (r == SF_CALL_OK && (!complete || processed < 0 || (size_t)processed < rows))
        r = s_results (&job, SF_BULK_UNPROCESSED, ext_id_field, ext_values, n, results, outcome,
                       seen, err);
    if (r != SF_CALL_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!included[i] || seen[i])
            continue;
        if (!complete) {
            //  A job that failed as a whole says nothing about the record: Collections will
            outcome[i] = SF_BULK_REQUEUE;
            info->requeued++;
        } else {
            sf_record_result_t *rr = &results[i];
            memset (rr, 0, sizeof *rr);
            rr->cls = CM_ERR_RETRYABLE;
            snprintf (rr->code, sizeof rr->code, "LDR_BULK_NO_RESULT");
            snprintf (rr->message, sizeof rr->message,
                      "Bulk job %s finished without a result for this record", info->job_id);
            outcome[i] = SF_BULK_RECORD;
        }
    }
    r = SF_CALL_OK;
    goto out;

refused:
    if (r == SF_CALL_PERMANENT) {
        //  The org refuses the job itself (no Bulk API, an odd object): Collections instead
        char excerpt[300];
        cm_warn (
            "LDR_BULK_REFUSED", "sobject=%s code=%s http=%d msg=\"%s\"", sobject, err->code,
            err->http_status,
            cm_log_excerpt (err->message, strlen (err->message), 240, excerpt, sizeof excerpt));
        for (size_t i = 0; i < n; i++)
            if (included[i]) {
                outcome[i] = SF_BULK_REQUEUE;
                info->requeued++;
            }
        r = SF_CALL_OK;
    }
out:
    cm_http_response_clear (&resp);
    sf_csv_buf_clear (&csv);
    if (ext_values)
        for (size_t i = 0; i < n; i++)
            free (ext_values[i]);
    free (ext_values);
    free (included);
    free (seen);
    return r;
}
