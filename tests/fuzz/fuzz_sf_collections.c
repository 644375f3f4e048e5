/*  fuzz_sf_collections: the loader's readers of Salesforce answers, on arbitrary bodies:
    sf_collections_parse (the sObject Collections upsert results, and through it
    sf_call_classify for every non-2xx status), sf_limit_info_parse (the
    Sforce-Limit-Info header) and sf_collections_payload_check/build (a payload is what
    the transformer sent, itself decoded from the network).

    Input: byte 0 picks the HTTP status, byte 1 the number of records the call carried
    (1..200), the rest is the body. Properties: the result is one of the enum's values;
    OK fills exactly n results, each either a success with a 15/18-char Id or a failure
    with a code and a class; every other result has a code; a built body is valid JSON. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "sf_collections.h"
#include "sf_org.h"

static const long s_status[] = {200, 201, 204, 0,   300, 400, 401, 403,
                                404, 408, 420, 429, 500, 502, 503, 504};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    if (size < 2)
        return 0;
    long status = data[0] < 16 ? s_status[data[0]] : 100 + (long)data[0] * 2;
    size_t n = 1 + data[1] % SF_COLLECTIONS_MAX;
    char *body = fuzz_strndup (data + 2, size - 2);
    size_t len = size - 2;

    sf_record_result_t *results = calloc (n, sizeof *results);
    if (!results)
        abort ();
    sf_error_t err;
    sf_call_result_t r = sf_collections_parse (status, body, len, n, results, &err);
    FUZZ_CHECK (r >= SF_CALL_OK && r <= SF_CALL_PERMANENT);
    FUZZ_CHECK (strcmp (sf_call_result_name (r), "unknown") != 0);
    FUZZ_CHECK (memchr (err.code, '\0', sizeof err.code) &&
                memchr (err.message, '\0', sizeof err.message));
    if (r == SF_CALL_OK) {
        FUZZ_CHECK (status >= 200 && status < 300);
        for (size_t i = 0; i < n; i++) {
            const sf_record_result_t *x = &results[i];
            if (x->success) {
                FUZZ_CHECK (strlen (x->id) == 15 || strlen (x->id) == 18);
                FUZZ_CHECK (x->cls == CM_ERR_NONE);
            } else {
                FUZZ_CHECK (x->code[0] != '\0');
                FUZZ_CHECK (x->cls == CM_ERR_RETRYABLE || x->cls == CM_ERR_PERMANENT);
                FUZZ_CHECK (memchr (x->message, '\0', sizeof x->message) &&
                            memchr (x->fields, '\0', sizeof x->fields));
            }
        }
    } else {
        FUZZ_CHECK (err.code[0] != '\0');
        FUZZ_CHECK (r != SF_CALL_STOPPED);
    }
    /*  The same bytes as a classification of a failed call. */
    sf_error_t cerr;
    memset (&cerr, 0, sizeof cerr);
    sf_call_result_t c = sf_call_classify (status == 200 ? 400 : status, body, len, &cerr);
    FUZZ_CHECK (c >= SF_CALL_OK && c <= SF_CALL_PERMANENT);

    /*  ... as a Sforce-Limit-Info header value. */
    long used = -7, max = -7;
    if (sf_limit_info_parse (body, &used, &max) == 0)
        /*  The loader computes used * 100 and max * pct: they must not overflow. */
        FUZZ_CHECK (used >= 0 && max >= 0 && used <= LONG_MAX / 100 && max <= LONG_MAX / 100);
    else
        FUZZ_CHECK (used == -7 && max == -7);

    /*  ... as a payload: accepted payloads splice into a well-formed body. */
    char why[256];
    if (sf_collections_payload_check (body, why, sizeof why) == 0) {
        const char *payloads[2] = {body, body};
        char *out = NULL;
        size_t out_len = 0;
        FUZZ_CHECK (
            sf_collections_build ("Account", payloads, 2, &out, &out_len, why, sizeof why) == 0);
        cJSON *json = cJSON_ParseWithLength (out, out_len);
        FUZZ_CHECK (json && cJSON_IsObject (json));
        const cJSON *recs = cJSON_GetObjectItemCaseSensitive (json, "records");
        FUZZ_CHECK (cJSON_GetArraySize (recs) == 2);
        cJSON_Delete (json);
        free (out);
    } else
        FUZZ_CHECK (fuzz_has_reason (why, sizeof why));
    free (results);
    free (body);
    return 0;
}
