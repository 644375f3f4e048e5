/*  fuzz_ionapi: cs_ionapi_parse on an arbitrary .ionapi file, with and without
    allow_http.

    Properties: a refusal says why and never quotes a secret (cs, saak, sask); an accepted
    file has a plain tenant id, a token URL that is pu + ot and an API base under iu. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>

#include "cs_ionapi.h"
#include "fuzz_common.h"

/*  Replaces every occurrence of needle in text by 0x01 bytes. */
static void
blank_out (char *text, const char *needle)
{
    size_t n = strlen (needle);
    if (n == 0)
        return;
    for (char *p = strstr (text, needle); p; p = strstr (p + n, needle))
        memset (p, 1, n);
}

/*  True when a secret member of the input (as cJSON reads it) appears in the message once
    the non-secret members it may quote (a URL, as is or as a log excerpt) are blanked. */
static bool
leaks_secret (const char *input, size_t size, const char *message)
{
    cJSON *root = cJSON_ParseWithLength (input, size);
    if (!root)
        return false;
    char *text = strdup (message);
    if (!text)
        abort ();
    /*  Longest first: a short value (the tenant) inside a long one (a URL) must not break
        the long one's match. */
    static const char *plain[] = {"ti", "ci", "iu", "pu", "ot"};
    const char *values[5];
    int count = 0;
    for (int j = 0; j < 5; j++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive (root, plain[j]);
        if (cJSON_IsString (p) && p->valuestring && strlen (p->valuestring) >= 4)
            values[count++] = p->valuestring;
    }
    for (int a = 0; a < count; a++)
        for (int b = a + 1; b < count; b++)
            if (strlen (values[b]) > strlen (values[a])) {
                const char *t = values[a];
                values[a] = values[b];
                values[b] = t;
            }
    for (int j = 0; j < count; j++) {
        /*  The messages quote a URL as cm_log_excerpt (url, len, 120, buf[160]) does. */
        char ex[160];
        blank_out (text, cm_log_excerpt (values[j], strlen (values[j]), 120, ex, sizeof ex));
        blank_out (text, values[j]);
    }
    bool leak = false;
    static const char *secrets[] = {"cs", "saak", "sask"};
    for (int i = 0; i < 3; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive (root, secrets[i]);
        if (!cJSON_IsString (s) || !s->valuestring)
            continue;
        /*  Only distinctive secrets count: 12+ characters of a token alphabet (so a match
            cannot be made of message text, quotes or escapes) that no plain member
            contains (a quoted URL may legitimately hold it). */
        const char *v = s->valuestring;
        size_t n = strlen (v);
        if (n < 12 || strspn (v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_#") != n)
            continue;
        bool in_plain = false;
        for (int j = 0; j < count; j++)
            if (strstr (values[j], v))
                in_plain = true;
        if (!in_plain && strstr (text, v))
            leak = true;
    }
    free (text);
    cJSON_Delete (root);
    return leak;
}

/*  True when the URL's authority ends in a port of digits, or has none (what curl will
    accept, so a URL that passed the check is one the client can use). */
static bool
port_ok (const char *url)
{
    const char *a = strstr (url, "://");
    if (!a)
        return false;
    a += 3;
    size_t len = strcspn (a, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < len; i++)
        if (a[i] == '@')
            at = a + i;
    const char *h = at ? at + 1 : a, *end = a + len;
    if (*h == '[') {
        const char *close = memchr (h, ']', (size_t)(end - h));
        if (!close)
            return false;
        h = close + 1;
    }
    const char *colon = memchr (h, ':', (size_t)(end - h));
    if (!colon)
        return true;
    for (const char *p = colon + 1; p < end; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    char *text = fuzz_strndup (data, size);
    for (int allow = 0; allow < 2; allow++) {
        char err[512] = "";
        cs_ionapi_t *ion = cs_ionapi_parse ("fuzz.ionapi", text, size, allow, err, sizeof err);
        if (!ion) {
            FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
            FUZZ_CHECK (!leaks_secret (text, size, err));
            continue;
        }
        const char *ti = cs_ionapi_tenant (ion);
        FUZZ_CHECK (ti && *ti && strlen (ti) <= CS_IONAPI_MAX_FIELD);
        FUZZ_CHECK (
            strspn (ti, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") ==
            strlen (ti));
        FUZZ_CHECK (cs_ionapi_client_id (ion) && cs_ionapi_client_secret (ion) &&
                    cs_ionapi_saak (ion) && cs_ionapi_sask (ion));
        const char *tok = cs_ionapi_token_url (ion), *base = cs_ionapi_api_base (ion);
        FUZZ_CHECK (tok && base);
        /*  Schemes are case-insensitive (curl agrees). */
        FUZZ_CHECK (strncasecmp (tok, "https://", 8) == 0 ||
                    (allow && strncasecmp (tok, "http://", 7) == 0));
        FUZZ_CHECK (port_ok (tok) && port_ok (base));
        size_t blen = strlen (base), tlen = strlen (ti);
        FUZZ_CHECK (blen > tlen && strcmp (base + blen - tlen, ti) == 0 &&
                    base[blen - tlen - 1] == '/');
        cs_ionapi_destroy (&ion);
        FUZZ_CHECK (ion == NULL);
    }
    free (text);
    return 0;
}
