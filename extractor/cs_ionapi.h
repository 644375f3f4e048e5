/*  cs_ionapi: loads and validates an Infor ION API credentials file (.ionapi).

    The file is the JSON object an Infor admin downloads for a "Backend Service" app. The
    required fields ti, ci, cs, iu, pu, ot, saak and sask must be non-empty strings;
    undocumented fields (cn, oa, or, dt, ev, v, ru, ...) are ignored, and so is a leading
    UTF-8 byte order mark. URLs must be https;
    plain http is accepted only to a loopback host when allow_http is set (simulators).
    The secrets (cs, saak, sask) are wiped from memory when the object is destroyed and
    never appear in error messages. */
#ifndef CS_IONAPI_H
#define CS_IONAPI_H

#include <stdbool.h>
#include <stddef.h>

#define CS_IONAPI_MAX_BYTES (64 * 1024) /* a larger file is refused */
#define CS_IONAPI_MAX_FIELD 4096        /* no field value is longer */

typedef struct cs_ionapi_t cs_ionapi_t;

/*  Reads and validates the .ionapi file at path. Returns the credentials, or NULL with
    a message naming the file and the offending field in err. */
cs_ionapi_t *cs_ionapi_load (const char *path, bool allow_http, char *err, size_t err_cap);

/*  Validates .ionapi JSON text already in memory (e.g. decrypted from the secret store);
    `name` names it in messages (the path, or "secret ionapi/ACME_PRD"). Same contract as
    cs_ionapi_load. */
cs_ionapi_t *cs_ionapi_parse (const char *name, const char *text, size_t len, bool allow_http,
                              char *err, size_t err_cap);

/*  Wipes the secrets, frees the object and sets *self_p to NULL. Accepts NULL. */
void cs_ionapi_destroy (cs_ionapi_t **self_p);

/*  Borrowed field values. */
const char *cs_ionapi_tenant (const cs_ionapi_t *self);        /* ti */
const char *cs_ionapi_client_id (const cs_ionapi_t *self);     /* ci */
const char *cs_ionapi_client_secret (const cs_ionapi_t *self); /* cs (secret) */
const char *cs_ionapi_saak (const cs_ionapi_t *self);          /* saak (secret) */
const char *cs_ionapi_sask (const cs_ionapi_t *self);          /* sask (secret) */

/*  Token endpoint: pu + ot. Borrowed. */
const char *cs_ionapi_token_url (const cs_ionapi_t *self);

/*  API base for this tenant: iu + "/" + ti (no trailing '/'). Borrowed. */
const char *cs_ionapi_api_base (const cs_ionapi_t *self);

#endif
