/*  sfsim_bulk: Bulk API 2.0 ingest jobs. See sfsim_bulk.h. */
#include "sfsim_bulk.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sfsim_map.h"

#define MAX_JOBS      10000                /* jobs kept at once */
#define MAX_JOB_BYTES (150u * 1024 * 1024) /* data per job, as Salesforce */
#define MAX_COLUMNS   5000                 /* columns per CSV */
#define MAX_CELL      131072               /* characters per cell */
#define CHUNK         1000                 /* records per store-lock hold */

typedef enum {
    ST_OPEN,
    ST_UPLOAD_COMPLETE,
    ST_IN_PROGRESS,
    ST_JOB_COMPLETE,
    ST_FAILED,
    ST_ABORTED
} state_t;

static const char *s_state_names[] = {"Open",        "UploadComplete", "InProgress",
                                      "JobComplete", "Failed",         "Aborted"};

typedef struct {
    char *data; /* bytes */
    size_t len; /* used */
    size_t cap; /* allocated */
} buf_t;

typedef struct job_s job_t;
struct job_s {
    char id[19];         /* job Id (750...) */
    char *object;        /* sObject name */
    char *operation;     /* "insert" or "upsert" */
    char *ext_field;     /* externalIdFieldName (upsert) or NULL */
    char version[16];    /* API version */
    int crlf;            /* lineEnding CRLF */
    char delim;          /* column delimiter byte */
    char delim_name[16]; /* its name (COMMA...) */
    state_t state;       /* job state */
    char created[40];    /* createdDate */
    char modstamp[40];   /* systemModstamp */
    buf_t data;          /* uploaded rows, header first */
    char **header;       /* header cells */
    int header_count;    /* their number */
    long processed;      /* numberRecordsProcessed */
    long failed;         /* numberRecordsFailed */
    long total_ms;       /* totalProcessingTime */
    char *error_message; /* errorMessage when Failed */
    int abort_requested; /* Aborted while InProgress */
    int processing;      /* the worker holds it: not deletable */
    buf_t ok_csv;        /* successful results */
    buf_t fail_csv;      /* failed results */
    buf_t unproc_csv;    /* unprocessed records */
    job_t *next;         /* queue link */
};

#define MAX_COUNTED_OBJECTS 64 /* sObjects with their own Bulk counters */

/* Bulk counters of one sObject (bulk_by_object in /__sim/stats). */
typedef struct {
    char name[64];   /* the schema's name of the sObject */
    long calls;      /* requests about its jobs (create, upload, close, state, results, delete) */
    long jobs;       /* jobs created */
    long records;    /* records processed */
    long written;    /* records processed without an error */
    int64_t last_ms; /* realtime ms when its last records were processed */
} obj_count_t;

struct sfsim_bulk_t {
    pthread_mutex_t mutex;                   /* guards jobs, queue and counts */
    pthread_cond_t cond;                     /* signals the worker */
    pthread_t thread;                        /* the worker */
    int stop;                                /* worker must exit */
    sfsim_store_t *store;                    /* records (borrowed) */
    sfsim_lock_fault_fn *lock_fault;         /* lock-contention injection, or NULL */
    void *lock_fault_arg;                    /* its argument */
    sfsim_map_t *jobs;                       /* id -> job_t */
    job_t *queue_head;                       /* closed jobs waiting */
    job_t *queue_tail;                       /* last waiting */
    uint64_t next_seq;                       /* job Id sequence */
    obj_count_t counts[MAX_COUNTED_OBJECTS]; /* counters per sObject */
    int count_n;                             /* entries used */
};

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/* The counters of object (mutex held); NULL when the table is full. */
static obj_count_t *
s_counts (sfsim_bulk_t *self, const char *object)
{
    for (int i = 0; i < self->count_n; i++)
        if (strcmp (self->counts[i].name, object) == 0)
            return &self->counts[i];
    if (self->count_n == MAX_COUNTED_OBJECTS)
        return NULL;
    obj_count_t *c = &self->counts[self->count_n++];
    snprintf (c->name, sizeof c->name, "%s", object);
    return c;
}

/* Counts a request about job (mutex held; job may be NULL: not counted). */
static void
s_count_call (sfsim_bulk_t *self, const job_t *job)
{
    obj_count_t *c = job ? s_counts (self, job->object) : NULL;
    if (c)
        c->calls++;
}

static int
s_buf_add (buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc (b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy (b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int
s_buf_str (buf_t *b, const char *s)
{
    return s_buf_add (b, s, strlen (s));
}

/* Appends s as a quoted CSV cell. */
static void
s_buf_cell (buf_t *b, const char *s, int first)
{
    if (!first)
        s_buf_add (b, ",", 1);
    s_buf_add (b, "\"", 1);
    for (const char *p = s; *p; p++) {
        const char *q = strchr (p, '"');
        if (!q) {
            s_buf_str (b, p);
            break;
        }
        s_buf_add (b, p, (size_t)(q - p));
        s_buf_add (b, "\"\"", 2);
        p = q;
    }
    s_buf_add (b, "\"", 1);
}

static void
s_now (char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime (CLOCK_REALTIME, &ts);
    gmtime_r (&ts.tv_sec, &tm);
    size_t n = strftime (buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf + n, cap - n, ".%03d+0000", (int)(ts.tv_nsec / 1000000) % 1000);
}

static long
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_error (sfsim_bulk_reply_t *reply, int status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_error (sfsim_bulk_reply_t *reply, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    cJSON *arr = cJSON_CreateArray ();
    cJSON *e = cJSON_CreateObject ();
    cJSON_AddStringToObject (e, "errorCode", code);
    cJSON_AddStringToObject (e, "message", msg);
    cJSON_AddItemToArray (arr, e);
    reply->status = status;
    reply->json = arr;
}

static void
s_not_found (sfsim_bulk_reply_t *reply)
{
    s_error (reply, 404, "NOT_FOUND", "The requested resource does not exist");
}

/* ---------------------------------------------------------------------------------------- */
/* CSV */

void
sfsim_csv_free (char **fields, int count)
{
    for (int i = 0; i < count; i++)
        free (fields[i]);
    free (fields);
}

int
sfsim_csv_record (const char *data, size_t len, size_t *pos, char delim, int max_fields,
                  char ***fields_out, int *count_out)
{
    size_t p = *pos;
    *fields_out = NULL;
    *count_out = 0;
    if (p >= len)
        return 0;
    char **fields = NULL;
    int count = 0, cap = 0;
    buf_t cell = {0};
    int rc = -1;
    while (1) {
        cell.len = 0;
        if (s_buf_add (&cell, "", 0))
            goto out;
        int quoted = p < len && data[p] == '"';
        if (quoted) {
            p++;
            while (1) {
                if (p >= len)
                    goto out; /* unterminated quote */
                if (data[p] == '"') {
                    if (p + 1 < len && data[p + 1] == '"') {
                        s_buf_add (&cell, "\"", 1);
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                size_t start = p;
                while (p < len && data[p] != '"')
                    p++;
                if (s_buf_add (&cell, data + start, p - start))
                    goto out;
            }
            if (p < len && data[p] != delim && data[p] != '\n' &&
                !(data[p] == '\r' && p + 1 < len && data[p + 1] == '\n') &&
                !(data[p] == '\r' && p + 1 == len))
                goto out; /* text after the closing quote */
        } else {
            size_t start = p;
            while (p < len && data[p] != delim && data[p] != '\n' &&
                   !(data[p] == '\r' && (p + 1 == len || data[p + 1] == '\n')))
                p++;
            if (s_buf_add (&cell, data + start, p - start))
                goto out;
        }
        if (cell.len > MAX_CELL * 4 || count >= max_fields)
            goto out;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc (fields, (size_t)cap * sizeof *grown);
            if (!grown)
                goto out;
            fields = grown;
        }
        fields[count] = strdup (cell.data);
        if (!fields[count])
            goto out;
        count++;
        if (p < len && data[p] == delim) {
            p++;
            continue;
        }
        if (p < len && data[p] == '\r')
            p++;
        if (p < len && data[p] == '\n')
            p++;
        break;
    }
    rc = 1;
out:
    free (cell.data);
    if (rc != 1) {
        sfsim_csv_free (fields, count);
        return -1;
    }
    *pos = p;
    *fields_out = fields;
    *count_out = count;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Jobs */

static void
s_job_free (job_t *job)
{
    if (!job)
        return;
    free (job->object);
    free (job->operation);
    free (job->ext_field);
    free (job->data.data);
    sfsim_csv_free (job->header, job->header_count);
    free (job->error_message);
    free (job->ok_csv.data);
    free (job->fail_csv.data);
    free (job->unproc_csv.data);
    free (job);
}

static cJSON *
s_job_json (const job_t *job, int full)
{
    char url[128];
    cJSON *j = cJSON_CreateObject ();
    cJSON_AddStringToObject (j, "id", job->id);
    cJSON_AddStringToObject (j, "operation", job->operation);
    cJSON_AddStringToObject (j, "object", job->object);
    cJSON_AddStringToObject (j, "createdById", "005Hs00000SimUserAAA");
    cJSON_AddStringToObject (j, "createdDate", job->created);
    cJSON_AddStringToObject (j, "systemModstamp", job->modstamp);
    cJSON_AddStringToObject (j, "state", s_state_names[job->state]);
    if (job->ext_field)
        cJSON_AddStringToObject (j, "externalIdFieldName", job->ext_field);
    cJSON_AddStringToObject (j, "concurrencyMode", "Parallel");
    cJSON_AddStringToObject (j, "contentType", "CSV");
    cJSON_AddNumberToObject (j, "apiVersion", atof (job->version));
    if (full)
        cJSON_AddStringToObject (j, "jobType", "V2Ingest");
    snprintf (url, sizeof url, "services/data/v%s/jobs/ingest/%s/batches", job->version, job->id);
    cJSON_AddStringToObject (j, "contentUrl", url);
    cJSON_AddStringToObject (j, "lineEnding", job->crlf ? "CRLF" : "LF");
    cJSON_AddStringToObject (j, "columnDelimiter", job->delim_name);
    if (full) {
        cJSON_AddNumberToObject (j, "numberRecordsProcessed", (double)job->processed);
        cJSON_AddNumberToObject (j, "numberRecordsFailed", (double)job->failed);
        cJSON_AddNumberToObject (j, "retries", 0);
        cJSON_AddNumberToObject (j, "totalProcessingTime", (double)job->total_ms);
        cJSON_AddNumberToObject (j, "apiActiveProcessingTime", (double)job->total_ms);
        cJSON_AddNumberToObject (j, "apexProcessingTime", 0);
        if (job->error_message)
            cJSON_AddStringToObject (j, "errorMessage", job->error_message);
    }
    return j;
}

static void
s_result_headers (job_t *job)
{
    const char *ok[] = {"sf__Id", "sf__Created"};
    const char *bad[] = {"sf__Id", "sf__Error"};
    for (int i = 0; i < 2; i++) {
        s_buf_cell (&job->ok_csv, ok[i], i == 0);
        s_buf_cell (&job->fail_csv, bad[i], i == 0);
    }
    for (int i = 0; i < job->header_count; i++) {
        s_buf_cell (&job->ok_csv, job->header[i], 0);
        s_buf_cell (&job->fail_csv, job->header[i], 0);
        s_buf_cell (&job->unproc_csv, job->header[i], i == 0);
    }
    s_buf_add (&job->ok_csv, "\n", 1);
    s_buf_add (&job->fail_csv, "\n", 1);
    s_buf_add (&job->unproc_csv, "\n", 1);
}

static void
s_row_cells (buf_t *b, char **cells, int count, int first)
{
    for (int i = 0; i < count; i++)
        s_buf_cell (b, cells[i], first && i == 0);
    s_buf_add (b, "\n", 1);
}

/* Moves every record from data offset pos into the unprocessed CSV. */
static void
s_unprocessed_rest (job_t *job, size_t pos)
{
    char **cells;
    int count;
    while (sfsim_csv_record (job->data.data, job->data.len, &pos, job->delim, MAX_COLUMNS, &cells,
                             &count) == 1) {
        s_row_cells (&job->unproc_csv, cells, count, 1);
        sfsim_csv_free (cells, count);
    }
}

/* A column of the CSV header, as the record key it feeds. */
typedef struct {
    char *field; /* plain field name, or the parent's field for a relationship */
    char *rel;   /* relationship name, or NULL */
    char *type;  /* polymorphic parent type, or NULL */
} column_t;

static void
s_columns_free (column_t *cols, int n)
{
    for (int i = 0; cols && i < n; i++) {
        free (cols[i].field);
        free (cols[i].rel);
        free (cols[i].type);
    }
    free (cols);
}

/* Maps the header onto obj. Returns the columns, or NULL with msg set. */
static column_t *
s_columns (const job_t *job, const sfsim_object_t *obj, char *msg, size_t cap)
{
    column_t *cols = calloc ((size_t)job->header_count, sizeof *cols);
    if (!cols) {
        snprintf (msg, cap, "InvalidBatch : out of memory");
        return NULL;
    }
    for (int i = 0; i < job->header_count; i++) {
        const char *h = job->header[i];
        const char *dot = strchr (h, '.');
        if (!dot) {
            const sfsim_field_t *f = sfsim_object_field (obj, h);
            if (!f || (f->system && f->type != SFSIM_T_ID)) {
                snprintf (msg, cap, "InvalidBatch : Field name not found : %s", h);
                goto fail;
            }
            cols[i].field = strdup (f->name);
            continue;
        }
        const char *colon = strchr (h, ':');
        const char *rel_start = colon && colon < dot ? colon + 1 : h;
        char rel[128];
        snprintf (rel, sizeof rel, "%.*s", (int)(dot - rel_start), rel_start);
        const sfsim_field_t *rf = sfsim_object_relationship (obj, rel);
        if (!rf || strchr (dot + 1, '.')) {
            snprintf (msg, cap, "InvalidBatch : Field name not found : %s", h);
            goto fail;
        }
        cols[i].rel = strdup (rf->relationship);
        cols[i].field = strdup (dot + 1);
        if (colon && colon < dot)
            cols[i].type = strndup (h, (size_t)(colon - h));
        else if (rf->reference_count > 1) {
            snprintf (msg, cap,
                      "InvalidBatch : Polymorphic relationship %s needs Type:%s.Field in the "
                      "header : %s",
                      rf->relationship, rf->relationship, h);
            goto fail;
        }
    }
    return cols;
fail:
    s_columns_free (cols, job->header_count);
    return NULL;
}

static cJSON *
s_row_json (const column_t *cols, int ncols, char **cells, int count)
{
    cJSON *rec = cJSON_CreateObject ();
    for (int i = 0; i < ncols && i < count; i++) {
        const char *v = cells[i];
        if (!v[0])
            continue; /* empty cell: field left as it is */
        cJSON *value = strcmp (v, "#N/A") == 0 ? cJSON_CreateNull () : cJSON_CreateString (v);
        if (!cols[i].rel) {
            cJSON_DeleteItemFromObjectCaseSensitive (rec, cols[i].field);
            cJSON_AddItemToObject (rec, cols[i].field, value);
            continue;
        }
        cJSON *ref = cJSON_CreateObject ();
        if (cols[i].type) {
            cJSON *attrs = cJSON_AddObjectToObject (ref, "attributes");
            cJSON_AddStringToObject (attrs, "type", cols[i].type);
        }
        cJSON_AddItemToObject (ref, cols[i].field, value);
        cJSON_DeleteItemFromObjectCaseSensitive (rec, cols[i].rel);
        cJSON_AddItemToObject (rec, cols[i].rel, ref);
    }
    return rec;
}

static void
s_set_state (job_t *job, state_t state)
{
    job->state = state;
    s_now (job->modstamp, sizeof job->modstamp);
}

/* Processes one closed job (worker thread; bulk mutex not held on entry). */
static void
s_process (sfsim_bulk_t *self, job_t *job)
{
    long start = s_ms ();
    char msg[512] = "";
    column_t *cols = NULL;
    size_t pos = 0;
    char **cells = NULL;
    int count = 0;
    /* The header was checked at upload; skip it. */
    if (sfsim_csv_record (job->data.data, job->data.len, &pos, job->delim, MAX_COLUMNS, &cells,
                          &count) != 1)
        snprintf (msg, sizeof msg, "InvalidBatch : no data was uploaded for the job");
    sfsim_csv_free (cells, count);
    if (!msg[0]) {
        sfsim_store_lock (self->store);
        const sfsim_object_t *obj =
            sfsim_schema_object (sfsim_store_schema (self->store), job->object);
        if (!obj)
            snprintf (msg, sizeof msg, "InvalidJob : Invalid object: %s", job->object);
        else
            cols = s_columns (job, obj, msg, sizeof msg);
        sfsim_store_unlock (self->store);
    }
    pthread_mutex_lock (&self->mutex);
    s_result_headers (job);
    if (msg[0]) {
        job->error_message = strdup (msg);
        s_unprocessed_rest (job, pos);
        s_set_state (job, ST_FAILED);
        job->processing = 0;
        job->total_ms = s_ms () - start;
        pthread_mutex_unlock (&self->mutex);
        return;
    }
    pthread_mutex_unlock (&self->mutex);

    int done = 0;
    while (!done) {
        pthread_mutex_lock (&self->mutex);
        int aborted = job->abort_requested || self->stop;
        if (aborted) {
            s_unprocessed_rest (job, pos);
            s_set_state (job, ST_ABORTED);
        }
        pthread_mutex_unlock (&self->mutex);
        if (aborted)
            break;
        /* One chunk under the store lock, results gathered locally. */
        buf_t ok = {0}, bad = {0};
        long n_ok = 0, n_bad = 0;
        sfsim_store_lock (self->store);
        const sfsim_object_t *obj =
            sfsim_schema_object (sfsim_store_schema (self->store), job->object);
        const sfsim_field_t *ext =
            obj && job->ext_field ? sfsim_object_field (obj, job->ext_field) : NULL;
        for (int i = 0; i < CHUNK; i++) {
            int rc = sfsim_csv_record (job->data.data, job->data.len, &pos, job->delim, MAX_COLUMNS,
                                       &cells, &count);
            if (rc == 0) {
                done = 1;
                break;
            }
            sfsim_result_t res;
            if (rc < 0) {
                /* Unreadable from here on: fail the rest in one line. */
                memset (&res, 0, sizeof res);
                sfsim_error_set (&res.error, "INVALID_FIELD", NULL, "malformed CSV record");
                pos = job->data.len;
                done = 1;
                cells = NULL;
                count = 0;
            } else if (!obj || (job->ext_field && !ext)) {
                memset (&res, 0, sizeof res);
                sfsim_error_set (&res.error, "INVALID_TYPE", NULL,
                                 "the object or external ID field no longer exists");
            } else {
                cJSON *rec = s_row_json (cols, job->header_count, cells, count);
                int fault = self->lock_fault && self->lock_fault (self->lock_fault_arg);
                sfsim_store_write (self->store, obj, ext ? SFSIM_WRITE_UPSERT : SFSIM_WRITE_INSERT,
                                   ext, NULL, rec, fault, NULL, &res);
                cJSON_Delete (rec);
            }
            if (res.success) {
                s_buf_cell (&ok, res.id, 1);
                s_buf_cell (&ok, res.created ? "true" : "false", 0);
                for (int c = 0; c < count; c++)
                    s_buf_cell (&ok, cells[c], 0);
                s_buf_add (&ok, "\n", 1);
                n_ok++;
            } else {
                char text[2048];
                size_t used = (size_t)snprintf (text, sizeof text, "%s:%s:", res.error.code,
                                                res.error.message);
                for (int f = 0; f < res.error.field_count && used < sizeof text; f++)
                    used += (size_t)snprintf (text + used, sizeof text - used, "%s%s", f ? "," : "",
                                              res.error.fields[f]);
                if (used < sizeof text)
                    snprintf (text + used, sizeof text - used, "%s",
                              res.error.field_count ? " --" : "--");
                s_buf_cell (&bad, res.id, 1);
                s_buf_cell (&bad, text, 0);
                for (int c = 0; c < count; c++)
                    s_buf_cell (&bad, cells[c], 0);
                s_buf_add (&bad, "\n", 1);
                n_bad++;
            }
            sfsim_csv_free (cells, count);
        }
        sfsim_store_unlock (self->store);
        pthread_mutex_lock (&self->mutex);
        if (ok.len)
            s_buf_add (&job->ok_csv, ok.data, ok.len);
        if (bad.len)
            s_buf_add (&job->fail_csv, bad.data, bad.len);
        job->processed += n_ok + n_bad;
        job->failed += n_bad;
        obj_count_t *counted = s_counts (self, job->object);
        if (counted) {
            counted->records += n_ok + n_bad;
            counted->written += n_ok;
            struct timespec now;
            clock_gettime (CLOCK_REALTIME, &now);
            counted->last_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        }
        job->total_ms = s_ms () - start;
        if (done)
            s_set_state (job, ST_JOB_COMPLETE);
        pthread_mutex_unlock (&self->mutex);
        free (ok.data);
        free (bad.data);
    }
    s_columns_free (cols, job->header_count);
    pthread_mutex_lock (&self->mutex);
    job->processing = 0;
    job->total_ms = s_ms () - start;
    pthread_mutex_unlock (&self->mutex);
}

static void *
s_worker (void *arg)
{
    sfsim_bulk_t *self = arg;
    pthread_mutex_lock (&self->mutex);
    while (!self->stop) {
        job_t *job = self->queue_head;
        if (!job) {
            pthread_cond_wait (&self->cond, &self->mutex);
            continue;
        }
        self->queue_head = job->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        job->next = NULL;
        if (job->state != ST_UPLOAD_COMPLETE)
            continue; /* aborted while waiting */
        s_set_state (job, ST_IN_PROGRESS);
        job->processing = 1;
        pthread_mutex_unlock (&self->mutex);
        s_process (self, job);
        pthread_mutex_lock (&self->mutex);
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

sfsim_bulk_t *
sfsim_bulk_new (sfsim_store_t *store, sfsim_lock_fault_fn *lock_fault, void *lock_fault_arg)
{
    sfsim_bulk_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->lock_fault = lock_fault;
    self->lock_fault_arg = lock_fault_arg;
    self->jobs = sfsim_map_new (0);
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->cond, NULL);
    if (!self->jobs || pthread_create (&self->thread, NULL, s_worker, self) != 0) {
        sfsim_map_destroy (&self->jobs);
        pthread_mutex_destroy (&self->mutex);
        pthread_cond_destroy (&self->cond);
        free (self);
        return NULL;
    }
    return self;
}

void
sfsim_bulk_destroy (sfsim_bulk_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sfsim_bulk_t *self = *self_p;
    pthread_mutex_lock (&self->mutex);
    self->stop = 1;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->mutex);
    pthread_join (self->thread, NULL);
    size_t pos = 0;
    void *v;
    while (sfsim_map_next (self->jobs, &pos, &v))
        s_job_free (v);
    sfsim_map_destroy (&self->jobs);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Endpoints */

static const char *
s_str (const cJSON *req, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (req, name);
    return cJSON_IsString (v) ? v->valuestring : NULL;
}

void
sfsim_bulk_create (sfsim_bulk_t *self, const cJSON *req, const char *version,
                   sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    if (!cJSON_IsObject (req)) {
        s_error (reply, 400, "INVALIDJOB", "InvalidJob : the request body must be a JSON object");
        return;
    }
    const char *object = s_str (req, "object");
    const char *operation = s_str (req, "operation");
    const char *ext = s_str (req, "externalIdFieldName");
    const char *content = s_str (req, "contentType");
    const char *line = s_str (req, "lineEnding");
    const char *delim = s_str (req, "columnDelimiter");
    if (!object || !operation) {
        s_error (reply, 400, "INVALIDJOB", "InvalidJob : object and operation are required");
        return;
    }
    if (strcmp (operation, "insert") != 0 && strcmp (operation, "upsert") != 0) {
        s_error (reply, 400, "INVALIDJOB",
                 "InvalidJob : this simulator supports the operations insert and upsert, not %.64s",
                 operation);
        return;
    }
    if (content && strcmp (content, "CSV") != 0) {
        s_error (reply, 400, "INVALIDJOB", "InvalidJob : contentType must be CSV");
        return;
    }
    if (line && strcmp (line, "LF") != 0 && strcmp (line, "CRLF") != 0) {
        s_error (reply, 400, "INVALIDJOB", "InvalidJob : lineEnding must be LF or CRLF");
        return;
    }
    static const struct {
        const char *name;
        char c;
    } delims[] = {{"COMMA", ','},     {"TAB", '\t'},  {"PIPE", '|'},
                  {"SEMICOLON", ';'}, {"CARET", '^'}, {"BACKQUOTE", '`'}};
    int di = 0;
    if (delim) {
        di = -1;
        for (int i = 0; i < 6; i++)
            if (strcmp (delim, delims[i].name) == 0)
                di = i;
        if (di < 0) {
            s_error (reply, 400, "INVALIDJOB", "InvalidJob : unknown columnDelimiter %.32s", delim);
            return;
        }
    }
    /* The object and external ID field must exist. */
    sfsim_store_lock (self->store);
    const sfsim_object_t *obj = sfsim_schema_object (sfsim_store_schema (self->store), object);
    const sfsim_field_t *ef = obj && ext ? sfsim_object_field (obj, ext) : NULL;
    char obj_name[128] = "", ext_name[128] = "";
    if (obj)
        snprintf (obj_name, sizeof obj_name, "%s", obj->name);
    if (ef)
        snprintf (ext_name, sizeof ext_name, "%s", ef->name);
    int ext_ok = ef && (ef->external_id || ef->type == SFSIM_T_ID);
    sfsim_store_unlock (self->store);
    if (!obj) {
        s_error (reply, 400, "INVALIDJOB", "InvalidJob : Invalid object: %.128s", object);
        return;
    }
    if (strcmp (operation, "upsert") == 0 && !ext_ok) {
        s_error (
            reply, 400, "INVALIDJOB",
            "InvalidJob : External ID field %.128s is missing or not an External ID field of %s",
            ext ? ext : "(externalIdFieldName)", obj_name);
        return;
    }
    job_t *job = calloc (1, sizeof *job);
    if (!job) {
        s_error (reply, 500, "UNKNOWN_EXCEPTION", "out of memory");
        return;
    }
    job->object = strdup (obj_name);
    job->operation = strdup (operation);
    job->ext_field = strcmp (operation, "upsert") == 0 ? strdup (ext_name) : NULL;
    snprintf (job->version, sizeof job->version, "%s", version);
    job->crlf = line && strcmp (line, "CRLF") == 0;
    job->delim = delims[di].c;
    snprintf (job->delim_name, sizeof job->delim_name, "%s", delims[di].name);
    s_now (job->created, sizeof job->created);
    memcpy (job->modstamp, job->created, sizeof job->created);
    job->state = ST_OPEN;
    pthread_mutex_lock (&self->mutex);
    if (sfsim_map_size (self->jobs) >= MAX_JOBS) {
        pthread_mutex_unlock (&self->mutex);
        s_job_free (job);
        s_error (reply, 400, "LIMIT_EXCEEDED", "Too many Bulk jobs (max %d); delete some",
                 MAX_JOBS);
        return;
    }
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char id15[16] = "750Hs0";
    uint64_t seq = ++self->next_seq;
    for (int i = 14; i >= 6; i--) {
        id15[i] = b62[seq % 62];
        seq /= 62;
    }
    id15[15] = '\0';
    sfsim_id_suffix (id15, job->id);
    sfsim_map_put (self->jobs, job->id, job);
    s_count_call (self, job);
    obj_count_t *counted = s_counts (self, job->object);
    if (counted)
        counted->jobs++;
    reply->status = 200;
    reply->json = s_job_json (job, 0);
    pthread_mutex_unlock (&self->mutex);
}

void
sfsim_bulk_upload (sfsim_bulk_t *self, const char *id, const char *content_type, const char *data,
                   size_t len, sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    if (!content_type || strncasecmp (content_type, "text/csv", 8) != 0) {
        s_error (reply, 415, "UNSUPPORTED_MEDIA_TYPE",
                 "Content-Type must be text/csv for job data");
        return;
    }
    pthread_mutex_lock (&self->mutex);
    job_t *job = sfsim_map_get (self->jobs, id);
    s_count_call (self, job);
    size_t pos = 0;
    char **cells = NULL;
    int count = 0;
    if (!job) {
        s_not_found (reply);
        goto out;
    }
    if (job->state != ST_OPEN) {
        s_error (reply, 409, "INVALIDJOBSTATE",
                 "InvalidJobState : data can only be uploaded to an Open job (job is %s)",
                 s_state_names[job->state]);
        goto out;
    }
    if (job->data.len + len > MAX_JOB_BYTES) {
        s_error (reply, 400, "INVALIDBATCH", "InvalidBatch : job data exceeds %u bytes",
                 MAX_JOB_BYTES);
        goto out;
    }
    int rc = sfsim_csv_record (data, len, &pos, job->delim, MAX_COLUMNS, &cells, &count);
    if (rc != 1) {
        s_error (reply, 400, "INVALIDBATCH", "InvalidBatch : the CSV has no readable header row");
        goto out;
    }
    if (!job->header) {
        job->header = cells;
        job->header_count = count;
        cells = NULL;
        count = 0;
        pos = 0; /* keep the header in the data */
    } else {
        int same = count == job->header_count;
        for (int i = 0; same && i < count; i++)
            same = strcmp (cells[i], job->header[i]) == 0;
        if (!same) {
            s_error (reply, 400, "INVALIDBATCH",
                     "InvalidBatch : every upload to a job must have the same header row");
            goto out;
        }
    }
    if (job->data.len && job->data.data[job->data.len - 1] != '\n')
        s_buf_add (&job->data, "\n", 1);
    if (s_buf_add (&job->data, data + pos, len - pos)) {
        s_error (reply, 500, "UNKNOWN_EXCEPTION", "out of memory");
        goto out;
    }
    s_now (job->modstamp, sizeof job->modstamp);
    reply->status = 201;
out:
    pthread_mutex_unlock (&self->mutex);
    sfsim_csv_free (cells, count);
}

void
sfsim_bulk_patch (sfsim_bulk_t *self, const char *id, const cJSON *req, sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    const char *state = s_str (req, "state");
    pthread_mutex_lock (&self->mutex);
    job_t *job = sfsim_map_get (self->jobs, id);
    s_count_call (self, job);
    if (!job) {
        s_not_found (reply);
    } else if (!state ||
               (strcmp (state, "UploadComplete") != 0 && strcmp (state, "Aborted") != 0)) {
        s_error (reply, 400, "INVALIDJOBSTATE",
                 "InvalidJobState : the state must be UploadComplete or Aborted");
    } else if (strcmp (state, "UploadComplete") == 0) {
        if (job->state != ST_OPEN) {
            s_error (reply, 409, "INVALIDJOBSTATE",
                     "InvalidJobState : Closing a job that is %s is not allowed",
                     s_state_names[job->state]);
        } else {
            s_set_state (job, ST_UPLOAD_COMPLETE);
            if (self->queue_tail)
                self->queue_tail->next = job;
            else
                self->queue_head = job;
            self->queue_tail = job;
            pthread_cond_signal (&self->cond);
            reply->status = 200;
            reply->json = s_job_json (job, 0);
        }
    } else {
        if (job->state == ST_JOB_COMPLETE || job->state == ST_FAILED || job->state == ST_ABORTED) {
            s_error (reply, 409, "INVALIDJOBSTATE",
                     "InvalidJobState : Aborting a job that is %s is not allowed",
                     s_state_names[job->state]);
        } else if (job->state == ST_IN_PROGRESS) {
            job->abort_requested = 1; /* the worker stops at the next chunk */
            reply->status = 200;
            reply->json = s_job_json (job, 0);
            cJSON_ReplaceItemInObjectCaseSensitive (reply->json, "state",
                                                    cJSON_CreateString ("Aborted"));
        } else {
            if (!job->ok_csv.len) {
                s_result_headers (job);
                size_t pos = 0;
                char **cells;
                int count;
                /* Skip the header, the rest is unprocessed. */
                if (job->data.len &&
                    sfsim_csv_record (job->data.data, job->data.len, &pos, job->delim, MAX_COLUMNS,
                                      &cells, &count) == 1)
                    sfsim_csv_free (cells, count);
                s_unprocessed_rest (job, pos);
            }
            s_set_state (job, ST_ABORTED);
            reply->status = 200;
            reply->json = s_job_json (job, 0);
        }
    }
    pthread_mutex_unlock (&self->mutex);
}

void
sfsim_bulk_info (sfsim_bulk_t *self, const char *id, sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    pthread_mutex_lock (&self->mutex);
    job_t *job = sfsim_map_get (self->jobs, id);
    s_count_call (self, job);
    if (!job)
        s_not_found (reply);
    else {
        reply->status = 200;
        reply->json = s_job_json (job, 1);
    }
    pthread_mutex_unlock (&self->mutex);
}

static int
s_by_created (const void *a, const void *b)
{
    const job_t *ja = *(job_t *const *)a, *jb = *(job_t *const *)b;
    return strcmp (ja->id, jb->id);
}

void
sfsim_bulk_list (sfsim_bulk_t *self, sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    pthread_mutex_lock (&self->mutex);
    size_t n = sfsim_map_size (self->jobs), i = 0, pos = 0;
    job_t **all = calloc (n ? n : 1, sizeof *all);
    void *v;
    while (all && sfsim_map_next (self->jobs, &pos, &v))
        all[i++] = v;
    if (all)
        qsort (all, n, sizeof *all, s_by_created);
    cJSON *resp = cJSON_CreateObject ();
    cJSON_AddBoolToObject (resp, "done", 1);
    cJSON *records = cJSON_AddArrayToObject (resp, "records");
    for (i = 0; all && i < n; i++) {
        cJSON *j = s_job_json (all[i], 0);
        cJSON_AddStringToObject (j, "jobType", "V2Ingest");
        cJSON_AddItemToArray (records, j);
    }
    cJSON_AddNullToObject (resp, "nextRecordsUrl");
    pthread_mutex_unlock (&self->mutex);
    free (all);
    reply->status = 200;
    reply->json = resp;
}

void
sfsim_bulk_delete (sfsim_bulk_t *self, const char *id, sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    pthread_mutex_lock (&self->mutex);
    job_t *job = sfsim_map_get (self->jobs, id);
    s_count_call (self, job);
    if (!job) {
        s_not_found (reply);
    } else if (job->processing || job->state == ST_UPLOAD_COMPLETE ||
               job->state == ST_IN_PROGRESS) {
        s_error (reply, 409, "INVALIDJOBSTATE",
                 "InvalidJobState : a job can be deleted only when it is Open, JobComplete, "
                 "Failed or Aborted");
    } else {
        sfsim_map_remove (self->jobs, id);
        s_job_free (job);
        reply->status = 204;
    }
    pthread_mutex_unlock (&self->mutex);
}

void
sfsim_bulk_results (sfsim_bulk_t *self, const char *id, sfsim_results_t which,
                    sfsim_bulk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    pthread_mutex_lock (&self->mutex);
    job_t *job = sfsim_map_get (self->jobs, id);
    s_count_call (self, job);
    if (!job) {
        s_not_found (reply);
    } else if (job->state == ST_OPEN || job->state == ST_UPLOAD_COMPLETE ||
               (job->state == ST_IN_PROGRESS && which != SFSIM_RESULTS_UNPROCESSED)) {
        s_error (reply, 400, "INVALIDJOBSTATE",
                 "InvalidJobState : results are available once the job has been processed "
                 "(job is %s)",
                 s_state_names[job->state]);
    } else {
        const buf_t *b = which == SFSIM_RESULTS_SUCCESS  ? &job->ok_csv
                         : which == SFSIM_RESULTS_FAILED ? &job->fail_csv
                                                         : &job->unproc_csv;
        reply->csv = malloc (b->len + 1);
        if (!reply->csv) {
            s_error (reply, 500, "UNKNOWN_EXCEPTION", "out of memory");
        } else {
            if (b->len)
                memcpy (reply->csv, b->data, b->len);
            reply->csv[b->len] = '\0';
            reply->csv_len = b->len;
            reply->status = 200;
        }
    }
    pthread_mutex_unlock (&self->mutex);
}

void
sfsim_bulk_counts (sfsim_bulk_t *self, cJSON *obj)
{
    pthread_mutex_lock (&self->mutex);
    for (int i = 0; i < self->count_n; i++) {
        cJSON *o = cJSON_AddObjectToObject (obj, self->counts[i].name);
        cJSON_AddNumberToObject (o, "calls", (double)self->counts[i].calls);
        cJSON_AddNumberToObject (o, "jobs", (double)self->counts[i].jobs);
        cJSON_AddNumberToObject (o, "records", (double)self->counts[i].records);
        cJSON_AddNumberToObject (o, "written", (double)self->counts[i].written);
        cJSON_AddNumberToObject (o, "last_write_ms", (double)self->counts[i].last_ms);
    }
    pthread_mutex_unlock (&self->mutex);
}
