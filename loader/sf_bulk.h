/*  sf_bulk: Bulk API 2.0 ingest upsert for large backfills: one job per (sObject,
    external-ID field) batch: create the job, upload the CSV, close it, poll its state with
    backoff, read successfulResults, failedResults and unprocessedrecords back into one
    outcome per record, the same outcomes sObject Collections gives (sf_record_result_t).

    The CSV is built from the transformer's payload JSON: a scalar member is a column of
    its name; a parent reference {"Rel":{"Field":"X"}} is the column "Rel.Field"; a typed
    (polymorphic) one {"What":{"attributes":{"type":"Account"},"Field":"X"}} is the column
    "Account:What.Field". A record that lacks a field another has leaves an empty cell
    (the field is left as it is, like a field absent from a Collections record); null and
    "" become #N/A (cleared, like null in Collections). A payload that CSV cannot express
    the same way (arrays, deeper objects, a null reference) is not put in the job: it goes
    back to the caller for Collections (SF_BULK_REQUEUE).

    Results are matched to records by the external-ID column, which Salesforce echoes.
    A record in failedResults gets sf__Error split into code, message and fields and the
    same retryable/permanent class as in Collections (sf_collections_classify). A record in
    unprocessedrecords, or in a job that failed as a whole, goes back for Collections; a
    record in none of the files is a retryable failure.

    The parsers are pure and bounded (hostile result files are refused or cut, never
    trusted); sf_bulk_upsert does the calls through sf_org_request. */
#ifndef SF_BULK_H
#define SF_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_http.h"
#include "sf_collections.h"
#include "sf_csv.h"
#include "sf_org.h"

#define SF_BULK_MAX_COLUMNS 1000         /* columns of one job's CSV */
#define SF_BULK_MAX_CSV     (100u << 20) /* bytes of one upload (Salesforce: 100 MB raw) */

/*  What happened to one record of a Bulk job. */
typedef enum {
    SF_BULK_CALL,   /* the job-level result (returned by sf_bulk_upsert) applies */
    SF_BULK_RECORD, /* the record's own result is in results[i] */
    SF_BULK_REQUEUE /* not processed by Bulk: send it with Collections (no attempt spent) */
} sf_bulk_outcome_t;

/*  Settings of one job run. */
typedef struct {
    int64_t poll_first_ms;         /* first wait before polling the job's state */
    int64_t poll_max_ms;           /* longest wait between polls */
    int64_t timeout_ms;            /* give up (abort the job) after this long */
    size_t max_csv;                /* upload size cap (0: SF_BULK_MAX_CSV) */
    bool (*cancelled) (void *arg); /* asked between requests: true = abort now (or NULL) */
    void *cancelled_arg;           /* its argument */
} sf_bulk_options_t;

/*  What a job run did, for logs. */
typedef struct {
    char job_id[24]; /* the job's Id, "" when none was created */
    char state[24];  /* its last state, e.g. "JobComplete" */
    size_t uploaded; /* records in the CSV */
    size_t loaded;   /* records in successfulResults */
    size_t failed;   /* records in failedResults */
    size_t requeued; /* records handed back for Collections */
    size_t calls;    /* API calls made */
    size_t polls;    /* of which state polls */
} sf_bulk_info_t;

/*  Builds the CSV for n payloads. included[i] is set for each record put in the CSV
    (eligible and within max_csv bytes); ext_values[i] (malloc'd, caller frees each) is
    its external-ID cell. Returns 0 with the CSV in *csv (possibly no data rows when no
    record was eligible: then *rows is 0), or -1 with the reason in err (out of memory, bad
    external-ID field name). */
int sf_bulk_csv_build (const char *ext_id_field, const char *const *payloads, size_t n,
                       size_t max_csv, sf_csv_buf_t *csv, bool *included, char **ext_values,
                       size_t *rows, char *err, size_t err_cap);

/*  Splits an sf__Error value "CODE:message:field1,field2 --" into code, message and fields
    (each capped; a value without a code gives "UNKNOWN_ERROR" and the text as message). */
void sf_bulk_error_split (const char *text, char *code, size_t code_cap, char *message,
                          size_t message_cap, char *fields, size_t fields_cap);

/*  Which result file a CSV is. */
typedef enum { SF_BULK_SUCCESSFUL, SF_BULK_FAILED, SF_BULK_UNPROCESSED } sf_bulk_file_t;

/*  Reads one result file (csv, len bytes) of a job whose records had the external-ID
    cells ext_values[0..n-1] (NULL entries were not uploaded), in column ext_id_field.
    For each row whose external ID names a record not yet seen, fills results[i] and sets
    outcome[i] (RECORD for successful and failed rows, REQUEUE for unprocessed ones) and
    seen[i]. Rows naming no record, repeated rows and rows with a wrong number of cells
    are ignored. Returns the number of records matched, or -1 with the reason in err when
    the file is malformed (no header, no external-ID column, bad CSV): the rows matched
    before the fault stay. */
long sf_bulk_results_parse (sf_bulk_file_t which, const char *csv, size_t len,
                            const char *ext_id_field, char *const *ext_values, size_t n,
                            sf_record_result_t *results, sf_bulk_outcome_t *outcome, bool *seen,
                            char *err, size_t err_cap);

/*  Runs one upsert job of n payloads (1..any) of sobject by ext_id_field on org, through
    http. Fills outcome[0..n-1] and, for SF_BULK_RECORD, results[i]. Returns SF_CALL_OK when
    the job ran (some records may still be REQUEUE or failed), or the call-level result
    that stopped it (RETRY, PAUSED, STOPPED, PERMANENT) with err filled: then every record
    not decided otherwise is SF_BULK_CALL. info (may be NULL) tells what happened. */
sf_call_result_t sf_bulk_upsert (sf_org_t *org, cm_http_t *http, const char *sobject,
                                 const char *ext_id_field, const char *const *payloads, size_t n,
                                 const sf_bulk_options_t *options, sf_record_result_t *results,
                                 sf_bulk_outcome_t *outcome, sf_error_t *err, sf_bulk_info_t *info);

#endif
