/*  cm_config: one JSON configuration file for the whole deployment, every value
    overridable by an environment variable.

    Nested objects flatten to dotted keys: {"salesforce": {"client_id": "x"}} is the key
    "salesforce.client_id". The environment variable for a key is MLC_ + the key in upper
    case with '.' as '_': MLC_SALESFORCE_CLIENT_ID. Every key has a type and a default in
    the schema (cm_config.c). A key the schema does not know, a value of the wrong type, an
    out-of-range number, or an MLC_ variable that names no key is an error naming the key. */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cm_config_t cm_config_t;

/*  Loads defaults, then the file at path (NULL: no file), then MLC_ environment variables.
    Returns the config, or NULL with a message naming the file and key in err. */
cm_config_t *cm_config_load (const char *path, char *err, size_t err_cap);

/*  Secret references: after the file and the environment, every string value of the form
    "secret:NAME" (e.g. salesforce.client_secret = "secret:salesforce/client_secret",
    cloudsuite.ionapi = "secret:ionapi/ACME_PRD") is replaced by the secret NAME from the
    encrypted store (cm_secrets.h): the file secrets.file, default <data_dir>/secrets.enc,
    opened with MLC_MASTER_KEY or MLC_MASTER_KEY_FILE. A missing key, a wrong key, a damaged
    store or an unknown name makes cm_config_load fail with a message naming the config key
    and the secret (never a value). The store is opened only when a reference exists. */

/*  cm_config_load without resolving secret references: "secret:NAME" values stay as they
    are (for mlc-secrets, which manages the store those references point into). */
cm_config_t *cm_config_load_unresolved (const char *path, char *err, size_t err_cap);

/*  The secret name the value of key was resolved from, or NULL when the value did not come
    from the secret store. Borrowed. */
const char *cm_config_secret_ref (const cm_config_t *self, const char *key);

/*  Frees the config and sets *self_p to NULL. Accepts NULL. */
void cm_config_destroy (cm_config_t **self_p);

/*  The value of a string key, or NULL when unset and without default. Borrowed.
    Asserts that key is in the schema and is a string (a bug otherwise). */
const char *cm_config_str (const cm_config_t *self, const char *key);

/*  The value of an integer key. Asserts the key is an integer key. */
int64_t cm_config_int (const cm_config_t *self, const char *key);

/*  The value of a boolean key. Asserts the key is a boolean key. */
bool cm_config_bool (const cm_config_t *self, const char *key);

/*  Checks that each key of the NULL-terminated list has a non-empty value. Returns 0, or
    -1 with "missing required setting KEY (env MLC_KEY)" in err. */
int cm_config_require (const cm_config_t *self, const char *const *keys, char *err, size_t err_cap);

/*  True when the value of key is secret and must never be printed. */
bool cm_config_is_secret (const char *key);

#endif
