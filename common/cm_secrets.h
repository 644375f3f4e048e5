/*  cm_secrets: an encrypted credential store in one file, and the master key that opens it.

    The file (secrets.file, default <data_dir>/secrets.enc) is a JSON document; every secret
    value in it is sealed with XChaCha20-Poly1305 (libsodium crypto_aead_xchacha20poly1305_ietf)
    under a key derived from the master key, with a fresh random nonce per entry and the
    entry name as associated data, so a value cannot be moved to another name. A check entry
    tells a wrong master key from a damaged file, and a keyed BLAKE2b MAC over every entry
    detects entries that were removed, swapped or edited. The file is written atomically
    (temporary file, fsync, rename, mode 0600).

    The master key is 32 random bytes written as 64 hex characters, given by MLC_MASTER_KEY
    or by the file named in MLC_MASTER_KEY_FILE (a compose secret). Keys and decrypted values
    live in sodium_malloc'd memory and are wiped when freed. No function ever puts a key or a
    value into an error message; errors name the file and the entry. */
#ifndef CM_SECRETS_H
#define CM_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#define CM_SECRETS_KEY_BYTES   32                 /* master key size */
#define CM_SECRETS_KEY_HEX     64                 /* its text form */
#define CM_SECRETS_MAX_NAME    128                /* longest entry name */
#define CM_SECRETS_MAX_VALUE   (64 * 1024)        /* longest secret value */
#define CM_SECRETS_MAX_ENTRIES 4096               /* entries per file */
#define CM_SECRETS_MAX_FILE    (16 * 1024 * 1024) /* a larger store file is refused */
#define CM_SECRETS_REF_PREFIX  "secret:"          /* config values that name a secret */

typedef struct cm_secrets_t cm_secrets_t;

/*  Reads the master key from MLC_MASTER_KEY (64 hex characters), else from the file named by
    MLC_MASTER_KEY_FILE (the same text; surrounding white space ignored). Returns a
    sodium_malloc'd key of CM_SECRETS_KEY_BYTES (free with cm_secrets_key_free), or NULL with
    the reason in err (neither variable set, not 64 hex characters, unreadable file). */
unsigned char *cm_secrets_master_key (char *err, size_t err_cap);

/*  Parses 64 hex characters (surrounding white space ignored) into a sodium_malloc'd key.
    `origin` names where the text came from in err. Returns the key or NULL. */
unsigned char *cm_secrets_key_parse (const char *text, size_t len, const char *origin, char *err,
                                     size_t err_cap);

/*  Wipes and frees a key; sets *key_p to NULL. Accepts NULL. */
void cm_secrets_key_free (unsigned char **key_p);

/*  Writes a new random master key as 64 lower-case hex characters and a NUL into out. */
void cm_secrets_keygen (char out[CM_SECRETS_KEY_HEX + 1]);

/*  Opens the store file at path with the master key (copied). A missing file is an empty
    store when create is set, else an error. The format, the check entry and the MAC are
    verified here: a wrong key and a damaged or edited file are refused with a message
    naming the file. Returns the store or NULL with the reason in err. */
cm_secrets_t *cm_secrets_open (const char *path, const unsigned char *key, bool create, char *err,
                               size_t err_cap);

/*  Frees the store and its keys; sets *self_p to NULL. Accepts NULL. */
void cm_secrets_destroy (cm_secrets_t **self_p);

/*  The store's file path. Borrowed. */
const char *cm_secrets_path (const cm_secrets_t *self);

/*  Decrypts the secret `name`. Returns 1 with a sodium_malloc'd NUL-terminated value in
    *value (free with cm_secrets_value_free) and its length in *len (may be NULL); 0 when
    there is no such entry; -1 when it does not decrypt (err names the file and entry). */
int cm_secrets_get (cm_secrets_t *self, const char *name, char **value, size_t *len, char *err,
                    size_t err_cap);

/*  Wipes and frees a value from cm_secrets_get; sets *value_p to NULL. Accepts NULL. */
void cm_secrets_value_free (char **value_p);

/*  Seals value (len bytes, no NUL inside) as entry `name`, replacing any previous value.
    Changes the store in memory only: cm_secrets_save writes it. Returns 0, or -1 (bad name,
    value too long or containing NUL, too many entries) with err. */
int cm_secrets_set (cm_secrets_t *self, const char *name, const char *value, size_t len, char *err,
                    size_t err_cap);

/*  Removes entry `name` in memory. Returns 1 when removed, 0 when there was none. */
int cm_secrets_delete (cm_secrets_t *self, const char *name);

/*  Number of entries and the name of entry i, in name order. Borrowed. */
size_t cm_secrets_count (const cm_secrets_t *self);
const char *cm_secrets_name (const cm_secrets_t *self, size_t i);

/*  Writes the store atomically: a temporary file in the same directory (mode 0600), fsync,
    rename over path, fsync of the directory. Returns 0, or -1 with err naming the file. */
int cm_secrets_save (cm_secrets_t *self, char *err, size_t err_cap);

/*  True for a usable entry name: 1..CM_SECRETS_MAX_NAME bytes of letters, digits and
    '_', '-', '.', '/', '@', ':' (e.g. "ionapi/ACME_PRD", "salesforce/client_secret"). */
bool cm_secrets_name_ok (const char *name);

/*  When value is a reference "secret:NAME", returns NAME (borrowed, inside value); else
    NULL. */
const char *cm_secrets_ref (const char *value);

#endif
