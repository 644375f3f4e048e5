/*  sf_collections: sObject Collections upsert body and results. See sf_collections.h. */
#include "sf_collections.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define SF_NAME_MAX 80 /* Salesforce API names are at most 80 characters */

bool
sf_collections_name_ok (const char *name)
{
    if (!name || !isalpha ((unsigned char)name[0]))
        return false;
    size_t len = 0;
    for (const char *p = name; *p; p++, len++)
        if (len >= SF_NAME_MAX || (!isalnum ((unsigned char)*p) && *p != '_'))
            return false;
    return true;
}

//  cJSON is more lenient than Salesforce's parser: it skips any byte up to 0x20 as white
//  space and takes raw control characters inside strings. Such a payload would pass the
//  parse below but make Salesforce refuse the whole call (and confuse the splice in
//  sf_collections_build), so only JSON's own white space is allowed between tokens and
//  no control byte inside a string. Returns the offset of the first bad byte, or len.
static size_t
s_json_bytes_ok (const char *text, size_t len)
{
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (in_string) {
            if (c < 0x20)
                return i;
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"')
            in_string = true;
        else if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return i;
    }
    return len;
}

int
sf_collections_payload_check (const char *payload, char *err, size_t err_cap)
{
    if (!payload) {
        snprintf (err, err_cap, "no payload");
        return -1;
    }
    size_t len = strnlen (payload, SF_COLLECTIONS_MAX_PAYLOAD + 1);
    if (len > SF_COLLECTIONS_MAX_PAYLOAD) {
        snprintf (err, err_cap, "payload over %d bytes", SF_COLLECTIONS_MAX_PAYLOAD);
        return -1;
    }
    const char *p = payload;
    while (isspace ((unsigned char)*p))
        p++;
    if (*p != '{') {
        snprintf (err, err_cap, "payload is not a JSON object (starts with '%.1s')", *p ? p : "");
        return -1;
    }
    //  Validated in full, not only by its first byte: a malformed payload spliced into
    //  the body would make Salesforce refuse the whole call, failing its batch-mates
    size_t bad = s_json_bytes_ok (payload, len);
    if (bad < len) {
        snprintf (err, err_cap, "payload has a control character at byte %zu", bad);
        return -1;
    }
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts (payload, len, &end, false);
    int rc = -1;
    if (!json) {
        snprintf (err, err_cap, "payload is not well-formed JSON (near byte %zu)",
                  end && end >= payload ? (size_t)(end - payload) : (size_t)0);
        goto out;
    }
    while (end && isspace ((unsigned char)*end))
        end++;
    if (!cJSON_IsObject (json) || (end && *end)) {
        snprintf (err, err_cap, "payload is not a single JSON object");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive (json, "attributes")) {
        snprintf (err, err_cap, "payload has its own \"attributes\"");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete (json);
    return rc;
}

int
sf_collections_build (const char *sobject, const char *const *payloads, size_t n, char **body,
                      size_t *body_len, char *err, size_t err_cap)
{
    assert (body && body_len);
    *body = NULL;
    *body_len = 0;
    if (!sf_collections_name_ok (sobject)) {
        snprintf (err, err_cap, "bad sObject name");
        return -1;
    }
    if (!payloads || n == 0 || n > SF_COLLECTIONS_MAX) {
        snprintf (err, err_cap, "%zu records (1..%d per call)", n, SF_COLLECTIONS_MAX);
        return -1;
    }
    char head[SF_NAME_MAX + 40];
    int head_len = snprintf (head, sizeof head, "{\"attributes\":{\"type\":\"%s\"}", sobject);
    static const char open[] = "{\"allOrNone\":false,\"records\":[";
    static const char close[] = "]}";
    size_t total = sizeof open - 1 + sizeof close - 1;
    for (size_t i = 0; i < n; i++) {
        char why[160];
        if (sf_collections_payload_check (payloads[i], why, sizeof why) != 0) {
            snprintf (err, err_cap, "record %zu: %s", i, why);
            return -1;
        }
        total += (size_t)head_len + 1 + strlen (payloads[i]) + 1;
    }
    char *out = malloc (total + 1);
    if (!out) {
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    size_t pos = 0;
    memcpy (out + pos, open, sizeof open - 1);
    pos += sizeof open - 1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            out[pos++] = ',';
        //  Splice: the payload's own '{' is replaced by ours carrying the attributes
        const char *rest = strchr (payloads[i], '{') + 1;
        const char *q = rest;
        while (isspace ((unsigned char)*q))
            q++;
        memcpy (out + pos, head, (size_t)head_len);
        pos += (size_t)head_len;
        if (*q != '}')
            out[pos++] = ',';
        size_t rest_len = strlen (rest);
        memcpy (out + pos, rest, rest_len);
        pos += rest_len;
    }
    memcpy (out + pos, close, sizeof close - 1);
    pos += sizeof close - 1;
    assert (pos <= total);
    out[pos] = '\0';
    *body = out;
    *body_len = pos;
    return 0;
}

int
sf_collections_path (const char *sobject, const char *ext_id_field, char *out, size_t cap)
{
    if (!sf_collections_name_ok (sobject) || !sf_collections_name_ok (ext_id_field))
        return -1;
    int n = snprintf (out, cap, "/composite/sobjects/%s/%s", sobject, ext_id_field);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

cm_error_class_t
sf_collections_classify (const char *code, const char *message)
{
    if (!code)
        return CM_ERR_PERMANENT;
    if (strcmp (code, "UNABLE_TO_LOCK_ROW") == 0 ||
        strcmp (code, "ALL_OR_NONE_OPERATION_ROLLED_BACK") == 0 ||
        strcmp (code, "UNKNOWN_EXCEPTION") == 0 || strcmp (code, "SERVER_UNAVAILABLE") == 0)
        return CM_ERR_RETRYABLE;
    //  A child sent before its parent: the parent may still be on its way
    if (strcmp (code, "INVALID_FIELD") == 0 && message &&
        strstr (message, "Foreign key external ID"))
        return CM_ERR_RETRYABLE;
    return CM_ERR_PERMANENT;
}

static void
s_copy_str (const cJSON *obj, const char *name, char *out, size_t cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    snprintf (out, cap, "%s", cJSON_IsString (item) ? item->valuestring : "");
}

//  Fills a failed record's error from its first entry of "errors". -1 when malformed.
static int
s_parse_record_error (const cJSON *errors, sf_record_result_t *r)
{
    if (errors && !cJSON_IsArray (errors))
        return -1;
    const cJSON *first = errors ? cJSON_GetArrayItem (errors, 0) : NULL;
    if (!first) {
        snprintf (r->code, sizeof r->code, "UNKNOWN_ERROR");
        snprintf (r->message, sizeof r->message, "Salesforce reported a failure without errors");
    } else {
        if (!cJSON_IsObject (first))
            return -1;
        s_copy_str (first, "statusCode", r->code, sizeof r->code);
        if (!*r->code)
            snprintf (r->code, sizeof r->code, "UNKNOWN_ERROR");
        s_copy_str (first, "message", r->message, sizeof r->message);
        const cJSON *fields = cJSON_GetObjectItemCaseSensitive (first, "fields");
        const cJSON *field;
        size_t pos = 0;
        cJSON_ArrayForEach (field, fields)
        {
            if (!cJSON_IsString (field))
                continue;
            int w = snprintf (r->fields + pos, sizeof r->fields - pos, "%s%s", pos ? "," : "",
                              field->valuestring);
            if (w < 0 || (size_t)w >= sizeof r->fields - pos)
                break; //  capped: keep the fields that fit
            pos += (size_t)w;
        }
        r->fields[pos] = '\0';
    }
    r->cls = sf_collections_classify (r->code, r->message);
    return 0;
}

static bool
s_id_ok (const char *id)
{
    size_t len = strlen (id);
    if (len != 15 && len != 18)
        return false;
    for (const char *p = id; *p; p++)
        if (!isalnum ((unsigned char)*p))
            return false;
    return true;
}

sf_call_result_t
sf_collections_parse (long status, const char *body, size_t body_len, size_t n,
                      sf_record_result_t *results, sf_error_t *err)
{
    assert (results && err);
    memset (err, 0, sizeof *err);
    err->retry_after_s = -1;
    if (status < 200 || status >= 300)
        return sf_call_classify (status, body, body_len, err);

    err->http_status = (int)status;
    memset (results, 0, n * sizeof *results);
    sf_call_result_t result = SF_CALL_RETRY;
    snprintf (err->code, sizeof err->code, "MALFORMED_RESPONSE");
    cJSON *json = body && body_len ? cJSON_ParseWithLength (body, body_len) : NULL;
    if (!json || !cJSON_IsArray (json)) {
        snprintf (err->message, sizeof err->message,
                  "upsert answer is not a JSON array of results");
        goto out;
    }
    size_t count = (size_t)cJSON_GetArraySize (json);
    if (count != n) {
        snprintf (err->message, sizeof err->message,
                  "upsert answer has %zu results for %zu records", count, n);
        goto out;
    }
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach (item, json)
    {
        sf_record_result_t *r = &results[i];
        const cJSON *success = cJSON_GetObjectItemCaseSensitive (item, "success");
        if (!cJSON_IsObject (item) || !cJSON_IsBool (success)) {
            snprintf (err->message, sizeof err->message,
                      "result %zu is not an object with a boolean success", i);
            goto out;
        }
        r->success = cJSON_IsTrue (success);
        if (r->success) {
            s_copy_str (item, "id", r->id, sizeof r->id);
            if (!s_id_ok (r->id)) {
                snprintf (err->message, sizeof err->message, "result %zu has no valid id", i);
                goto out;
            }
            r->created = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (item, "created"));
            r->cls = CM_ERR_NONE;
        } else if (s_parse_record_error (cJSON_GetObjectItemCaseSensitive (item, "errors"), r) !=
                   0) {
            snprintf (err->message, sizeof err->message, "result %zu has malformed errors", i);
            goto out;
        }
        i++;
    }
    memset (err, 0, sizeof *err);
    err->retry_after_s = -1;
    err->http_status = (int)status;
    result = SF_CALL_OK;
out:
    cJSON_Delete (json);
    return result;
}
