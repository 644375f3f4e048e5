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
