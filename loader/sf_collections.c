/*  sf_collections: sObject Collections upsert body and results. See sf_collections.h. */
#include "sf_collections.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cm_utf8.h"

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

#define SF_JSON_DEPTH_MAX 64 /* nesting a payload may have (a flat record is depth 1 or 2) */

//  A strict, tree-free JSON reader over one payload (RFC 8259 grammar; only JSON's own white
//  space between tokens; no control byte inside a string), so checking a payload costs one
//  pass and no allocation. Salesforce's parser refuses what cJSON would let through (any
//  byte up to 0x20 as white space, raw control characters in strings), and a payload it
//  refuses would fail the whole call and confuse the splice in sf_collections_build. Strings
//  must be UTF-8 (Salesforce refuses a body that is not) and a \u escape of a surrogate
//  must be one half of a pair (an unpaired one has no character to stand for).
typedef struct {
    const char *p;      /* cursor */
    const char *end;    /* end of the text */
    const char *start;  /* start of the text (for error offsets) */
    const char *why;    /* what is wrong, NULL while fine */
    const char *pname;  /* first parent reference: the member's name (raw, in the text) */
    size_t pname_len;   /* its length */
    const char *pvalue; /* the referenced external ID (raw string contents) */
    size_t pvalue_len;  /* its length */
} s_scan_t;

static int
s_scan_fail (s_scan_t *sc, const char *why)
{
    if (!sc->why)
        sc->why = why;
    return -1;
}

static void
s_scan_ws (s_scan_t *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

static bool
s_hex (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

//  A \uXXXX escape at the cursor: steps over it and gives its code unit; -1 (the cursor
//  unmoved) when there is none.
static long
s_scan_u_escape (s_scan_t *sc)
{
    if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u' || !s_hex (sc->p[2]) ||
        !s_hex (sc->p[3]) || !s_hex (sc->p[4]) || !s_hex (sc->p[5]))
        return -1;
    char hex[5] = {sc->p[2], sc->p[3], sc->p[4], sc->p[5], '\0'};
    sc->p += 6;
    return strtol (hex, NULL, 16);
}

//  A string at the cursor (on its '"'): its raw contents (between the quotes) and whether
//  they hold an escape. 0, or -1.
static int
s_scan_string (s_scan_t *sc, const char **raw, size_t *raw_len, bool *escaped)
{
    sc->p++; //  the opening quote
    const char *from = sc->p;
    *escaped = false;
    while (sc->p < sc->end) {
        unsigned char c = (unsigned char)*sc->p;
        if (c == '"') {
            *raw = from;
            *raw_len = (size_t)(sc->p - from);
            sc->p++;
            return 0;
        }
        if (c < 0x20)
            return s_scan_fail (sc, "a control character in a string");
        if (c == '\\') {
            *escaped = true;
            if (sc->end - sc->p < 2)
                break;
            char e = sc->p[1];
            if (e == 'u') {
                long code = s_scan_u_escape (sc);
                if (code < 0)
                    return s_scan_fail (sc, "a bad \\u escape");
                if (code >= 0xDC00 && code <= 0xDFFF)
                    return s_scan_fail (sc, "an unpaired surrogate escape");
                if (code >= 0xD800 && code <= 0xDBFF) {
                    long low = s_scan_u_escape (sc);
                    if (low < 0xDC00 || low > 0xDFFF)
                        return s_scan_fail (sc, "an unpaired surrogate escape");
                }
                continue;
            }
            if (!e || !strchr ("\"\\/bfnrt", e))
                return s_scan_fail (sc, "a bad escape");
            sc->p += 2;
            continue;
        }
        if (c < 0x80) {
            sc->p++;
            continue;
        }
        size_t len = cm_utf8_char_len (sc->p, (size_t)(sc->end - sc->p));
        if (len == 0)
            return s_scan_fail (sc, "a string that is not UTF-8");
        sc->p += len;
    }
    return s_scan_fail (sc, "a string cut short");
}

static bool
s_digit (const s_scan_t *sc)
{
    return sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9';
}

//  -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
static int
s_scan_number (s_scan_t *sc)
{
    if (*sc->p == '-')
        sc->p++;
    if (!s_digit (sc))
        return s_scan_fail (sc, "an unexpected token");
    if (*sc->p == '0')
        sc->p++;
    else
        while (s_digit (sc))
            sc->p++;
    if (sc->p < sc->end && *sc->p == '.') {
        sc->p++;
        if (!s_digit (sc))
            return s_scan_fail (sc, "a bad number");
        while (s_digit (sc))
            sc->p++;
    }
    if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
        sc->p++;
        if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
            sc->p++;
        if (!s_digit (sc))
            return s_scan_fail (sc, "a bad number");
        while (s_digit (sc))
            sc->p++;
    }
    return 0;
}

//  True when a member name (raw, maybe escaped, already validated) reads as word once
//  unescaped.
static bool
s_name_is (const char *raw, size_t len, bool escaped, const char *word)
{
    size_t wlen = strlen (word);
    if (!escaped)
        return len == wlen && memcmp (raw, word, len) == 0;
    size_t j = 0;
    for (size_t i = 0; i < len; j++) {
        if (j >= wlen)
            return false;
        char c = raw[i];
        if (c == '\\') {
            char e = raw[i + 1];
            if (e == 'u') {
                char hex[5] = {raw[i + 2], raw[i + 3], raw[i + 4], raw[i + 5], 0};
                long code = strtol (hex, NULL, 16);
                if (code > 0x7f)
                    return false;
                c = (char)code;
                i += 6;
            } else {
                c = e == 'b'   ? '\b'
                    : e == 'f' ? '\f'
                    : e == 'n' ? '\n'
                    : e == 'r' ? '\r'
                    : e == 't' ? '\t'
                               : e;
                i += 2;
            }
        } else
            i++;
        if (c != word[j])
            return false;
    }
    return j == wlen;
}

static int s_scan_value (s_scan_t *sc, int depth);

//  After a member or an element: skips a ',' and what follows it (1: another one comes) or
//  the closing character (0: the container ends); -1 with the reason otherwise.
static int
s_scan_separator (s_scan_t *sc, char close)
{
    s_scan_ws (sc);
    if (sc->p < sc->end && *sc->p == ',') {
        sc->p++;
        s_scan_ws (sc);
        return 1;
    }
    if (sc->p < sc->end && *sc->p == close) {
        sc->p++;
        return 0;
    }
    return s_scan_fail (sc, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

//  An object at the cursor (on its '{'). At depth 1 (the payload itself) a member named
//  "attributes" is refused and the first parent reference is noted: the first member whose
//  value is an object holding a string member other than "attributes". With kid, notes the
//  object's first such string member's raw value.
static int
s_scan_object (s_scan_t *sc, int depth, bool *has_kid, const char **kid, size_t *kid_len)
{
    if (depth > SF_JSON_DEPTH_MAX)
        return s_scan_fail (sc, "nesting too deep");
    sc->p++;
    s_scan_ws (sc);
    if (sc->p < sc->end && *sc->p == '}') {
        sc->p++;
        return 0;
    }
    while (true) {
        if (sc->p >= sc->end || *sc->p != '"')
            return s_scan_fail (sc, "a member name expected");
        const char *name;
        size_t name_len;
        bool escaped;
        if (s_scan_string (sc, &name, &name_len, &escaped) != 0)
            return -1;
        bool is_attributes = s_name_is (name, name_len, escaped, "attributes");
        if (depth == 1 && is_attributes)
            return s_scan_fail (sc, "its own \"attributes\"");
        s_scan_ws (sc);
        if (sc->p >= sc->end || *sc->p != ':')
            return s_scan_fail (sc, "':' expected");
        sc->p++;
        s_scan_ws (sc);
        if (sc->p >= sc->end)
            return s_scan_fail (sc, "a value expected");
        if (depth == 1 && *sc->p == '{' && !sc->pname) {
            bool found = false;
            const char *value = NULL;
            size_t value_len = 0;
            if (s_scan_object (sc, depth + 1, &found, &value, &value_len) != 0)
                return -1;
            if (found) {
                sc->pname = name;
                sc->pname_len = name_len;
                sc->pvalue = value;
                sc->pvalue_len = value_len;
            }
        } else if (has_kid && !*has_kid && !is_attributes && *sc->p == '"') {
            bool value_escaped;
            if (s_scan_string (sc, kid, kid_len, &value_escaped) != 0)
                return -1;
            *has_kid = true;
        } else if (s_scan_value (sc, depth + 1) != 0)
            return -1;
        int more = s_scan_separator (sc, '}');
        if (more <= 0)
            return more;
    }
}

static int
s_scan_array (s_scan_t *sc, int depth)
{
    if (depth > SF_JSON_DEPTH_MAX)
        return s_scan_fail (sc, "nesting too deep");
    sc->p++;
    s_scan_ws (sc);
    if (sc->p < sc->end && *sc->p == ']') {
        sc->p++;
        return 0;
    }
    while (true) {
        if (s_scan_value (sc, depth + 1) != 0)
            return -1;
        int more = s_scan_separator (sc, ']');
        if (more <= 0)
            return more;
    }
}

static int
s_scan_literal (s_scan_t *sc, const char *word)
{
    size_t len = strlen (word);
    if ((size_t)(sc->end - sc->p) < len || memcmp (sc->p, word, len) != 0)
        return s_scan_fail (sc, "an unexpected token");
    sc->p += len;
    return 0;
}

static int
s_scan_value (s_scan_t *sc, int depth)
{
    if (sc->p >= sc->end)
        return s_scan_fail (sc, "a value expected");
    const char *raw;
    size_t raw_len;
    bool escaped;
    switch (*sc->p) {
    case '{':
        return s_scan_object (sc, depth, NULL, NULL, NULL);
    case '[':
        return s_scan_array (sc, depth);
    case '"':
        return s_scan_string (sc, &raw, &raw_len, &escaped);
    case 't':
        return s_scan_literal (sc, "true");
    case 'f':
        return s_scan_literal (sc, "false");
    case 'n':
        return s_scan_literal (sc, "null");
    default:
        return s_scan_number (sc);
    }
}

int
sf_collections_payload_scan (const char *payload, char **parent, char *err, size_t err_cap)
{
    if (parent)
        *parent = NULL;
    if (!payload) {
        snprintf (err, err_cap, "no payload");
        return -1;
    }
    size_t len = strnlen (payload, SF_COLLECTIONS_MAX_PAYLOAD + 1);
    if (len > SF_COLLECTIONS_MAX_PAYLOAD) {
        snprintf (err, err_cap, "payload over %d bytes", SF_COLLECTIONS_MAX_PAYLOAD);
        return -1;
    }
    s_scan_t sc = {.p = payload, .end = payload + len, .start = payload};
    s_scan_ws (&sc);
    if (sc.p >= sc.end || *sc.p != '{') {
        snprintf (err, err_cap, "payload is not a JSON object (starts with '%.1s')",
                  sc.p < sc.end ? sc.p : "");
        return -1;
    }
    //  Validated in full, not only by its first byte: a malformed payload spliced into the
    //  body would make Salesforce refuse the whole call, failing its batch-mates
    if (s_scan_object (&sc, 1, NULL, NULL, NULL) == 0) {
        s_scan_ws (&sc);
        if (sc.p < sc.end)
            s_scan_fail (&sc, "more after the object (not a single JSON object)");
    }
    if (sc.why) {
        snprintf (err, err_cap, "payload is not a well-formed JSON object: %s at byte %zu", sc.why,
                  (size_t)(sc.p - sc.start));
        return -1;
    }
    if (parent && sc.pname) {
        size_t size = sc.pname_len + 1 + sc.pvalue_len + 1;
        char *out = malloc (size);
        if (out) {
            memcpy (out, sc.pname, sc.pname_len);
            out[sc.pname_len] = '\x1f';
            memcpy (out + sc.pname_len + 1, sc.pvalue, sc.pvalue_len);
            out[size - 1] = '\0';
            *parent = out;
        }
    }
    return 0;
}

int
sf_collections_payload_check (const char *payload, char *err, size_t err_cap)
{
    return sf_collections_payload_scan (payload, NULL, err, err_cap);
}

//  Builds the body; with check, runs sf_collections_payload_check on each payload first.
static int
s_build (const char *sobject, const char *const *payloads, size_t n, bool check, char **body,
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
        char why[160] = "no payload";
        if (!payloads[i] ||
            (check && sf_collections_payload_check (payloads[i], why, sizeof why) != 0) ||
            (!check && !strchr (payloads[i], '{'))) {
            snprintf (err, err_cap, "record %zu: %s", i, check ? why : "not a checked payload");
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
sf_collections_build (const char *sobject, const char *const *payloads, size_t n, char **body,
                      size_t *body_len, char *err, size_t err_cap)
{
    return s_build (sobject, payloads, n, true, body, body_len, err, err_cap);
}

int
sf_collections_build_checked (const char *sobject, const char *const *payloads, size_t n,
                              char **body, size_t *body_len, char *err, size_t err_cap)
{
    return s_build (sobject, payloads, n, false, body, body_len, err, err_cap);
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

bool
sf_id_is_valid (const char *id)
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
            if (!sf_id_is_valid (r->id)) {
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
