/*  fuzz_bulk_csv: the loader's Bulk API 2.0 readers on arbitrary bytes: the CSV reader
    (sf_csv), the result-file parser (sf_bulk_results_parse: successfulResults,
    failedResults, unprocessedrecords), the sf__Error splitter, and the CSV builder on an
    arbitrary payload, read back.

    Input: byte 0 picks the result file (and how the bytes are used), the rest is the
    file. Properties: the reader never yields more cells than its cap nor a cell longer
    than its cap, and stops after a malformed record; the parser matches at most n records,
    each once, with NUL-terminated texts and an outcome that fits the file; a built CSV
    reads back as rows of as many cells as its header. */
#include <stdint.h>

#include "fuzz_common.h"
#include "sf_bulk.h"
#include "sf_csv.h"

#define N_RECORDS 5

static char s_v1[] = "ACME_PRD:vendor:V000001", s_v2[] = "ACME_PRD:vendor:V000002",
            s_v3[] = "ACME_PRD:vendor:V000003", s_v5[] = "x";
static char *const s_ext[N_RECORDS] = {s_v1, s_v2, s_v3, NULL, s_v5};

static void
read_all (const char *data, size_t len, size_t max_cells, size_t max_cell)
{
    sf_csv_reader_t *r = sf_csv_reader_new (data, len, max_cells, max_cell);
    FUZZ_CHECK (r);
    char **cells;
    size_t count;
    char err[256];
    int rc;
    size_t records = 0;
    while ((rc = sf_csv_reader_next (r, &cells, &count, err, sizeof err)) == 1) {
        FUZZ_CHECK (count >= 1 && count <= max_cells);
        for (size_t i = 0; i < count; i++)
            FUZZ_CHECK (strlen (cells[i]) <= max_cell);
        FUZZ_CHECK (++records <= len + 1);
    }
    if (rc < 0) {
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        /*  Reading stops at a fault. */
        FUZZ_CHECK (sf_csv_reader_next (r, &cells, &count, err, sizeof err) == -1);
    }
    sf_csv_reader_destroy (&r);
}

static void
parse_results (sf_bulk_file_t which, const char *data, size_t len)
{
    sf_record_result_t results[N_RECORDS];
    sf_bulk_outcome_t outcome[N_RECORDS];
    bool seen[N_RECORDS] = {false};
    memset (results, 0, sizeof results);
    for (size_t i = 0; i < N_RECORDS; i++)
        outcome[i] = SF_BULK_CALL;
    char err[256] = "";
    long matched = sf_bulk_results_parse (which, data, len, "CloudSuite_Key__c", s_ext, N_RECORDS,
                                          results, outcome, seen, err, sizeof err);
    FUZZ_CHECK (matched >= -1 && matched <= N_RECORDS);
    if (matched < 0)
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
    long count = 0;
    for (size_t i = 0; i < N_RECORDS; i++) {
        if (!seen[i]) {
            FUZZ_CHECK (outcome[i] == SF_BULK_CALL);
            continue;
        }
        count++;
        FUZZ_CHECK (s_ext[i] != NULL);
        const sf_record_result_t *r = &results[i];
        FUZZ_CHECK (memchr (r->id, '\0', sizeof r->id) && memchr (r->code, '\0', sizeof r->code) &&
                    memchr (r->message, '\0', sizeof r->message) &&
                    memchr (r->fields, '\0', sizeof r->fields));
        if (which == SF_BULK_UNPROCESSED)
            FUZZ_CHECK (outcome[i] == SF_BULK_REQUEUE);
        else
            FUZZ_CHECK (outcome[i] == SF_BULK_RECORD);
        if (which == SF_BULK_FAILED)
            FUZZ_CHECK (!r->success && r->code[0] &&
                        (r->cls == CM_ERR_RETRYABLE || r->cls == CM_ERR_PERMANENT));
        if (which == SF_BULK_SUCCESSFUL && outcome[i] == SF_BULK_RECORD)
            FUZZ_CHECK (r->success);
    }
    if (matched >= 0)
        FUZZ_CHECK (count == matched);
}

static void
build_and_read (const char *payload)
{
    const char *payloads[3] = {
        payload,
        "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000001\",\"Name\":\"A, "
        "\\\"B\\\"\\nC\",\"Amount__c\":1.5,\"Active__c\":true,\"Phone\":null}",
        payload};
    sf_csv_buf_t csv;
    bool included[3];
    char *ext[3];
    size_t rows = 0;
    char err[256];
    if (sf_bulk_csv_build ("CloudSuite_Key__c", payloads, 3, 1 << 20, &csv, included, ext, &rows,
                           err, sizeof err) != 0) {
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        sf_csv_buf_clear (&csv);
        return;
    }
    size_t n_included = 0;
    for (int i = 0; i < 3; i++) {
        if (included[i]) {
            n_included++;
            FUZZ_CHECK (ext[i] != NULL);
        }
        free (ext[i]);
    }
    FUZZ_CHECK (rows == n_included);
    if (csv.len) {
        sf_csv_reader_t *r =
            sf_csv_reader_new (csv.data, csv.len, SF_BULK_MAX_COLUMNS + 1, 1 << 20);
        FUZZ_CHECK (r);
        char **cells;
        size_t count, header = 0, got = 0;
        int rc;
        while ((rc = sf_csv_reader_next (r, &cells, &count, err, sizeof err)) == 1) {
            if (!header)
                header = count;
            else {
                FUZZ_CHECK (count == header);
                got++;
            }
        }
        if (rc != 0)
            fprintf (stderr, "built CSV does not read back: %s\n", err);
        FUZZ_CHECK (rc == 0);
        FUZZ_CHECK (got == rows);
        sf_csv_reader_destroy (&r);
    }
    sf_csv_buf_clear (&csv);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0:
        parse_results (SF_BULK_SUCCESSFUL, text, len);
        break;
    case 1:
        parse_results (SF_BULK_FAILED, text, len);
        break;
    case 2:
        parse_results (SF_BULK_UNPROCESSED, text, len);
        break;
    default: {
        char *s = fuzz_strndup ((const uint8_t *)text, len);
        char code[64], message[512], fields[256];
        sf_bulk_error_split (s, code, sizeof code, message, sizeof message, fields, sizeof fields);
        FUZZ_CHECK (code[0] && memchr (message, '\0', sizeof message) &&
                    memchr (fields, '\0', sizeof fields));
        build_and_read (s);
        free (s);
    }
    }
    read_all (text, len, 1 + data[0] / 4 % 8, data[0] / 32 * 16);
    return 0;
}
