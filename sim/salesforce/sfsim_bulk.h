/*  sfsim_bulk: Bulk API 2.0 ingest jobs (insert and upsert, CSV). Jobs move Open ->
    UploadComplete -> InProgress -> JobComplete (or Failed / Aborted); a background thread
    processes closed jobs in chunks through sfsim_store_write, taking the store lock per
    chunk so Collections calls interleave. Results are kept as the CSVs Salesforce serves:
    successfulResults ("sf__Id","sf__Created",columns...), failedResults ("sf__Id",
    "sf__Error",columns...) and unprocessedrecords (columns...).

    CSV: RFC 4180, header row of field names, a parent by external ID as a column
    "Relationship.Field" (Account.CloudSuite_Key__c), a polymorphic one as
    "Type:Relationship.Field" (Account:What.CloudSuite_Key__c); an empty cell leaves the
    field unchanged, #N/A sets it to null. Thread-safe. */
#ifndef SFSIM_BULK_H
#define SFSIM_BULK_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sfsim_store.h"

typedef struct sfsim_bulk_t sfsim_bulk_t;

/*  What a bulk endpoint answers: an HTTP status and either JSON or CSV. */
typedef struct {
    int status;     /* HTTP status */
    cJSON *json;    /* JSON body (owned by the caller after the call) or NULL */
    char *csv;      /* CSV body (malloc'd, caller frees) or NULL */
    size_t csv_len; /* its length */
} sfsim_bulk_reply_t;

typedef enum {
    SFSIM_RESULTS_SUCCESS,
    SFSIM_RESULTS_FAILED,
    SFSIM_RESULTS_UNPROCESSED
} sfsim_results_t;

/*  Decides, per record, whether to inject UNABLE_TO_LOCK_ROW. */
typedef int (sfsim_lock_fault_fn) (void *arg);

/*  A job registry writing into store (borrowed), with its processing thread. lock_fault
    may be NULL. Returns NULL when out of memory or the thread cannot start. */
sfsim_bulk_t *sfsim_bulk_new (sfsim_store_t *store, sfsim_lock_fault_fn *lock_fault,
                              void *lock_fault_arg);

/*  Stops the thread and frees every job. Accepts NULL. */
void sfsim_bulk_destroy (sfsim_bulk_t **self_p);

/*  POST /jobs/ingest with body `req`. version like "62.0". */
void sfsim_bulk_create (sfsim_bulk_t *self, const cJSON *req, const char *version,
                        sfsim_bulk_reply_t *reply);

/*  PUT /jobs/ingest/{id}/batches: CSV data (len bytes, copied). */
void sfsim_bulk_upload (sfsim_bulk_t *self, const char *id, const char *content_type,
                        const char *data, size_t len, sfsim_bulk_reply_t *reply);

/*  PATCH /jobs/ingest/{id} with {"state":"UploadComplete"|"Aborted"}. */
void sfsim_bulk_patch (sfsim_bulk_t *self, const char *id, const cJSON *req,
                       sfsim_bulk_reply_t *reply);

/*  GET /jobs/ingest/{id}. */
void sfsim_bulk_info (sfsim_bulk_t *self, const char *id, sfsim_bulk_reply_t *reply);

/*  GET /jobs/ingest. */
void sfsim_bulk_list (sfsim_bulk_t *self, sfsim_bulk_reply_t *reply);

/*  DELETE /jobs/ingest/{id} (only a finished or aborted job). */
void sfsim_bulk_delete (sfsim_bulk_t *self, const char *id, sfsim_bulk_reply_t *reply);

/*  GET /jobs/ingest/{id}/successfulResults | failedResults | unprocessedrecords. */
void sfsim_bulk_results (sfsim_bulk_t *self, const char *id, sfsim_results_t which,
                         sfsim_bulk_reply_t *reply);

/*  Parses one CSV record starting at *pos in data (len bytes) with delimiter delim into
    *fields (malloc'd array of malloc'd strings, *count entries); advances *pos past the
    line end. Returns 1 for a record, 0 at the end of data, -1 on a malformed record
    (unterminated quote, text after a closing quote, more than max_fields fields). */
int sfsim_csv_record (const char *data, size_t len, size_t *pos, char delim, int max_fields,
                      char ***fields, int *count);

/*  Adds {"<sObject>":{"calls","jobs","records","written","last_write_ms"}} to obj for every
    sObject that had Bulk jobs: requests about its jobs (create, upload, close, state,
    results, delete; the job list is not counted), jobs created, records processed, records
    processed without an error, and the realtime ms of the last processing. */
void sfsim_bulk_counts (sfsim_bulk_t *self, cJSON *obj);

/*  Frees what sfsim_csv_record returned. */
void sfsim_csv_free (char **fields, int count);

#endif
