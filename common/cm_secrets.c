/*  cm_secrets: the encrypted credential store. See cm_secrets.h.

    File format (JSON, every binary field as text):
      {"format": "mlc-secrets", "version": 1, "cipher": "xchacha20poly1305-ietf",
       "check": {"nonce": HEX, "ct": BASE64},
       "entries": {"NAME": {"nonce": HEX, "ct": BASE64}, ...},
       "mac": HEX}
    Two subkeys are derived from the master key with crypto_kdf: id 1 seals values, id 2
    keys the BLAKE2b MAC. "check" seals a fixed text with the associated data "\0check"
    (no entry name can contain NUL), so a key that opens it is the right key. The MAC
    covers the check and every entry (name, nonce, ciphertext, with lengths) in name order. */
#include "cm_secrets.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FORMAT       "mlc-secrets"
#define S_VERSION      1
#define S_CIPHER       "xchacha20poly1305-ietf"
#define S_KDF_CONTEXT  "mlcsecrt" /* crypto_kdf context, 8 bytes */
#define S_CHECK_TEXT   "mlc-secrets key check v1"
#define S_NONCE        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define S_ABYTES       crypto_aead_xchacha20poly1305_ietf_ABYTES
#define S_MAC_BYTES    32
#define S_KEY_FILE_MAX 4096 /* a master key file larger than this is refused */

static const unsigned char s_check_ad[] = {'\0', 'c', 'h', 'e', 'c', 'k'};

typedef struct {
    char *name;                   /* entry name */
    unsigned char nonce[S_NONCE]; /* its nonce */
    unsigned char *ct;            /* ciphertext with tag */
    size_t ct_len;                /* its length */
} s_entry_t;

struct cm_secrets_t {
    char *path;                         /* the store file */
    unsigned char *enc_key;             /* sealing subkey (sodium_malloc) */
    unsigned char *mac_key;             /* MAC subkey (sodium_malloc) */
    unsigned char check_nonce[S_NONCE]; /* nonce of the check entry */
    unsigned char *check_ct;            /* sealed check text */
    size_t check_len;                   /* its length */
    s_entry_t *entries;                 /* entries, sorted by name */
    size_t count;                       /* number of entries */
    size_t cap;                         /* allocated slots */
};

/* ---------------------------------------------------------------- keys */

static int
s_init (char *err, size_t err_cap)
{
    if (sodium_init () < 0) {
        snprintf (err, err_cap, "libsodium could not be initialised");
        return -1;
    }
    return 0;
}

unsigned char *
cm_secrets_key_parse (const char *text, size_t len, const char *origin, char *err, size_t err_cap)
{
    if (s_init (err, err_cap))
        return NULL;
    while (len > 0 && isspace ((unsigned char)text[0])) {
        text++;
        len--;
    }
    while (len > 0 && isspace ((unsigned char)text[len - 1]))
        len--;
    unsigned char *key = sodium_malloc (CM_SECRETS_KEY_BYTES);
    if (!key) {
        snprintf (err, err_cap, "%s: out of memory", origin);
        return NULL;
    }
    size_t bin_len = 0;
    const char *end = NULL;
    if (len != CM_SECRETS_KEY_HEX ||
        sodium_hex2bin (key, CM_SECRETS_KEY_BYTES, text, len, NULL, &bin_len, &end) != 0 ||
        bin_len != CM_SECRETS_KEY_BYTES || end != text + len) {
        sodium_free (key);
        snprintf (err, err_cap,
                  "%s: the master key must be %d hexadecimal characters (make one with "
                  "'mlc-secrets keygen')",
                  origin, CM_SECRETS_KEY_HEX);
        return NULL;
    }
    return key;
}

unsigned char *
cm_secrets_master_key (char *err, size_t err_cap)
{
    const char *env = getenv ("MLC_MASTER_KEY");
    const char *file = getenv ("MLC_MASTER_KEY_FILE");
    if (env && *env && file && *file) {
        snprintf (err, err_cap, "both MLC_MASTER_KEY and MLC_MASTER_KEY_FILE are set: set one");
        return NULL;
    }
    if (env && *env)
        return cm_secrets_key_parse (env, strlen (env), "MLC_MASTER_KEY", err, err_cap);
    if (!file || !*file) {
        snprintf (err, err_cap,
                  "no master key: set MLC_MASTER_KEY_FILE (a file holding the key, e.g. a "
                  "compose secret) or MLC_MASTER_KEY");
        return NULL;
    }
    if (s_init (err, err_cap))
        return NULL;
    char origin[300];
    snprintf (origin, sizeof origin, "MLC_MASTER_KEY_FILE %.256s", file);
    unsigned char *key = NULL;
    char *buf = sodium_malloc (S_KEY_FILE_MAX + 1);
    int fd = open (file, O_RDONLY | O_CLOEXEC);
    if (!buf || fd < 0) {
        snprintf (err, err_cap, "%s: cannot read: %s", origin,
                  buf ? strerror (errno) : "no memory");
        goto out;
    }
    size_t len = 0;
    while (len <= S_KEY_FILE_MAX) {
        ssize_t n = read (fd, buf + len, S_KEY_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf (err, err_cap, "%s: cannot read: %s", origin, strerror (errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > S_KEY_FILE_MAX) {
        snprintf (err, err_cap, "%s: larger than %d bytes, not a key file", origin, S_KEY_FILE_MAX);
        goto out;
    }
    key = cm_secrets_key_parse (buf, len, origin, err, err_cap);
out:
    if (fd >= 0)
        close (fd);
    if (buf)
        sodium_free (buf); /* sodium_free wipes */
    return key;
}

void
cm_secrets_key_free (unsigned char **key_p)
{
    if (!key_p || !*key_p)
        return;
    sodium_free (*key_p);
    *key_p = NULL;
}

void
cm_secrets_keygen (char out[CM_SECRETS_KEY_HEX + 1])
{
    unsigned char key[CM_SECRETS_KEY_BYTES];
    if (sodium_init () < 0) {
        out[0] = '\0';
        return;
    }
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (out, CM_SECRETS_KEY_HEX + 1, key, sizeof key);
    sodium_memzero (key, sizeof key);
}

/* ---------------------------------------------------------------- names */

bool
cm_secrets_name_ok (const char *name)
{
    if (!name || !*name || strlen (name) > CM_SECRETS_MAX_NAME)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/' || c == '@' || c == ':'))
            return false;
    }
    return true;
}

const char *
cm_secrets_ref (const char *value)
{
    size_t n = strlen (CM_SECRETS_REF_PREFIX);
    if (value && strncmp (value, CM_SECRETS_REF_PREFIX, n) == 0)
        return value + n;
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

static void
s_entry_free (s_entry_t *e)
{
    free (e->name);
    free (e->ct);
    memset (e, 0, sizeof *e);
}

void
cm_secrets_destroy (cm_secrets_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_secrets_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_entry_free (&self->entries[i]);
    free (self->entries);
    free (self->check_ct);
    if (self->enc_key)
        sodium_free (self->enc_key);
    if (self->mac_key)
        sodium_free (self->mac_key);
    free (self->path);
    free (self);
    *self_p = NULL;
}

const char *
cm_secrets_path (const cm_secrets_t *self)
{
    return self->path;
}

size_t
cm_secrets_count (const cm_secrets_t *self)
{
    return self->count;
}

const char *
cm_secrets_name (const cm_secrets_t *self, size_t i)
{
    return i < self->count ? self->entries[i].name : NULL;
}

/*  Index of name, or -(insertion point) - 1 when absent. */
static long
s_find (const cm_secrets_t *self, const char *name)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp (self->entries[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/*  Seals plain (len) with ad into *ct (malloc'd) and a fresh nonce. Returns 0 or -1. */
static int
s_seal (const cm_secrets_t *self, const unsigned char *ad, size_t ad_len, const char *plain,
        size_t len, unsigned char nonce[S_NONCE], unsigned char **ct, size_t *ct_len)
{
    *ct = malloc (len + S_ABYTES);
    if (!*ct)
        return -1;
    randombytes_buf (nonce, S_NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (*ct, &clen, (const unsigned char *)plain, len, ad,
                                                ad_len, NULL, nonce, self->enc_key);
    *ct_len = (size_t)clen;
    return 0;
}

/*  Opens ct into a sodium_malloc'd NUL-terminated buffer. Returns it or NULL. */
static char *
s_open (const cm_secrets_t *self, const unsigned char *ad, size_t ad_len, const unsigned char *ct,
        size_t ct_len, const unsigned char nonce[S_NONCE], size_t *len)
{
    if (ct_len < S_ABYTES)
        return NULL;
    char *plain = sodium_malloc (ct_len - S_ABYTES + 1);
    if (!plain)
        return NULL;
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt ((unsigned char *)plain, &plen, NULL, ct, ct_len,
                                                    ad, ad_len, nonce, self->enc_key) != 0) {
        sodium_free (plain);
        return NULL;
    }
    plain[plen] = '\0';
    if (len)
        *len = (size_t)plen;
    return plain;
}

static void
s_mac_part (crypto_generichash_state *st, const void *data, size_t len)
{
    unsigned char n[8];
    uint64_t v = (uint64_t)len;
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)(v >> (8 * i));
    crypto_generichash_update (st, n, sizeof n);
    crypto_generichash_update (st, data, len);
}

/*  The MAC over the check entry and every entry, in name order. */
static void
s_mac (const cm_secrets_t *self, unsigned char mac[S_MAC_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, self->mac_key, crypto_kdf_KEYBYTES, S_MAC_BYTES);
    static const char head[] = S_FORMAT " v1";
    s_mac_part (&st, head, sizeof head - 1);
    s_mac_part (&st, self->check_nonce, S_NONCE);
    s_mac_part (&st, self->check_ct, self->check_len);
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->entries[i];
        s_mac_part (&st, e->name, strlen (e->name));
        s_mac_part (&st, e->nonce, S_NONCE);
        s_mac_part (&st, e->ct, e->ct_len);
    }
    crypto_generichash_final (&st, mac, S_MAC_BYTES);
    sodium_memzero (&st, sizeof st);
}

/*  Decodes a hex nonce. Returns 0 or -1. */
static int
s_nonce (const cJSON *obj, unsigned char nonce[S_NONCE])
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive (obj, "nonce");
    size_t bin_len = 0;
    const char *end = NULL;
    if (!cJSON_IsString (n) || !n->valuestring || strlen (n->valuestring) != 2 * S_NONCE ||
        sodium_hex2bin (nonce, S_NONCE, n->valuestring, 2 * S_NONCE, NULL, &bin_len, &end) != 0 ||
        bin_len != S_NONCE)
        return -1;
    return 0;
}

/*  Decodes a base64 ciphertext of at most max bytes. Returns 0 or -1. */
static int
s_ct (const cJSON *obj, size_t max, unsigned char **ct, size_t *ct_len)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive (obj, "ct");
    if (!cJSON_IsString (c) || !c->valuestring)
        return -1;
    size_t tlen = strlen (c->valuestring);
    if (tlen > (max / 3 + 1) * 4 + 4)
        return -1;
    size_t cap = tlen / 4 * 3 + 3;
    *ct = malloc (cap ? cap : 1);
    if (!*ct)
        return -1;
    const char *end = NULL;
    if (sodium_base642bin (*ct, cap, c->valuestring, tlen, NULL, ct_len, &end,
                           sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != c->valuestring + tlen || *ct_len < S_ABYTES || *ct_len > max) {
        free (*ct);
        *ct = NULL;
        return -1;
    }
    return 0;
}

static int
s_derive (cm_secrets_t *self, const unsigned char *key)
{
    self->enc_key = sodium_malloc (crypto_kdf_KEYBYTES);
    self->mac_key = sodium_malloc (crypto_kdf_KEYBYTES);
    if (!self->enc_key || !self->mac_key)
        return -1;
    crypto_kdf_derive_from_key (self->enc_key, crypto_kdf_KEYBYTES, 1, S_KDF_CONTEXT, key);
    crypto_kdf_derive_from_key (self->mac_key, crypto_kdf_KEYBYTES, 2, S_KDF_CONTEXT, key);
    return 0;
}

/*  Reads the whole file (capped). Returns 1 with *text, 0 when it does not exist, -1. */
static int
s_read_file (const char *path, char **text, size_t *len, char *err, size_t err_cap)
{
    *text = NULL;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0) {
        snprintf (err, err_cap, "secret store %s: cannot open: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || st.st_size > CM_SECRETS_MAX_FILE) {
        snprintf (err, err_cap, "secret store %s: not a regular file of at most %d bytes", path,
                  CM_SECRETS_MAX_FILE);
        close (fd);
        return -1;
    }
    char *buf = malloc ((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read (fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close (fd);
    if (!buf || got != (size_t)st.st_size) {
        snprintf (err, err_cap, "secret store %s: read failed", path);
        free (buf);
        return -1;
    }
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return 1;
}

/*  Fills self from the file's JSON text. Returns 0 or -1 with err. */
static int
s_load (cm_secrets_t *self, const char *text, size_t len, char *err, size_t err_cap)
{
    int rc = -1;
    char *check = NULL;
    cJSON *root = cJSON_ParseWithLength (text, len);
    const char *p = self->path;
    if (!cJSON_IsObject (root)) {
        snprintf (err, err_cap, "secret store %s: not a secret store (invalid JSON)", p);
        goto out;
    }
    const cJSON *format = cJSON_GetObjectItemCaseSensitive (root, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive (root, "version");
    const cJSON *cipher = cJSON_GetObjectItemCaseSensitive (root, "cipher");
    if (!cJSON_IsString (format) || strcmp (format->valuestring, S_FORMAT) != 0) {
        snprintf (err, err_cap, "secret store %s: not a secret store (format is not '%s')", p,
                  S_FORMAT);
        goto out;
    }
    if (!cJSON_IsNumber (version) || version->valuedouble != S_VERSION ||
        !cJSON_IsString (cipher) || strcmp (cipher->valuestring, S_CIPHER) != 0) {
        snprintf (err, err_cap,
                  "secret store %s: unsupported version or cipher (this build reads "
                  "version %d, %s)",
                  p, S_VERSION, S_CIPHER);
        goto out;
    }
    const cJSON *chk = cJSON_GetObjectItemCaseSensitive (root, "check");
    if (!cJSON_IsObject (chk) || s_nonce (chk, self->check_nonce) ||
        s_ct (chk, 256, &self->check_ct, &self->check_len)) {
        snprintf (err, err_cap, "secret store %s: damaged (the check entry is malformed)", p);
        goto out;
    }
    size_t clen = 0;
    check = s_open (self, s_check_ad, sizeof s_check_ad, self->check_ct, self->check_len,
                    self->check_nonce, &clen);
    if (!check || clen != strlen (S_CHECK_TEXT) || memcmp (check, S_CHECK_TEXT, clen) != 0) {
        snprintf (err, err_cap,
                  "secret store %s: the master key does not open this store (wrong "
                  "MLC_MASTER_KEY / MLC_MASTER_KEY_FILE, or the file is damaged)",
                  p);
        goto out;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive (root, "entries");
    if (!cJSON_IsObject (entries)) {
        snprintf (err, err_cap, "secret store %s: damaged (no entries object)", p);
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize (entries);
    if (n > CM_SECRETS_MAX_ENTRIES) {
        snprintf (err, err_cap, "secret store %s: more than %d entries", p, CM_SECRETS_MAX_ENTRIES);
        goto out;
    }
    self->entries = calloc (n ? n : 1, sizeof *self->entries);
    self->cap = n ? n : 1;
    if (!self->entries) {
        snprintf (err, err_cap, "secret store %s: out of memory", p);
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach (item, entries)
    {
        const char *name = item->string ? item->string : "";
        if (!cm_secrets_name_ok (name)) {
            snprintf (err, err_cap, "secret store %s: damaged (an entry has an invalid name)", p);
            goto out;
        }
        if (s_find (self, name) >= 0) {
            snprintf (err, err_cap, "secret store %s: damaged (entry '%s' appears twice)", p, name);
            goto out;
        }
        s_entry_t e = {0};
        if (!cJSON_IsObject (item) || s_nonce (item, e.nonce) ||
            s_ct (item, CM_SECRETS_MAX_VALUE + S_ABYTES, &e.ct, &e.ct_len)) {
            snprintf (err, err_cap, "secret store %s: damaged (entry '%s' is malformed)", p, name);
            goto out;
        }
        e.name = strdup (name);
        if (!e.name) {
            free (e.ct);
            snprintf (err, err_cap, "secret store %s: out of memory", p);
            goto out;
        }
        long at = -s_find (self, name) - 1;
        memmove (&self->entries[at + 1], &self->entries[at],
                 (self->count - (size_t)at) * sizeof *self->entries);
        self->entries[at] = e;
        self->count++;
    }
    const cJSON *mac = cJSON_GetObjectItemCaseSensitive (root, "mac");
    unsigned char want[S_MAC_BYTES], got[S_MAC_BYTES];
    size_t bin_len = 0;
    if (!cJSON_IsString (mac) || strlen (mac->valuestring) != 2 * S_MAC_BYTES ||
        sodium_hex2bin (want, sizeof want, mac->valuestring, 2 * S_MAC_BYTES, NULL, &bin_len,
                        NULL) != 0 ||
        bin_len != S_MAC_BYTES) {
        snprintf (err, err_cap, "secret store %s: damaged (no valid mac)", p);
        goto out;
    }
    s_mac (self, got);
    if (sodium_memcmp (want, got, S_MAC_BYTES) != 0) {
        snprintf (err, err_cap,
                  "secret store %s: integrity check failed: entries were added, removed or "
                  "changed outside mlc-secrets (restore the file or import the secrets again)",
                  p);
        goto out;
    }
    rc = 0;
out:
    if (check)
        sodium_free (check);
    cJSON_Delete (root);
    return rc;
}

cm_secrets_t *
cm_secrets_open (const char *path, const unsigned char *key, bool create, char *err, size_t err_cap)
{
    char *text = NULL;
    size_t len = 0;
    if (s_init (err, err_cap))
        return NULL;
    cm_secrets_t *self = calloc (1, sizeof *self);
    if (!self || !(self->path = strdup (path)) || s_derive (self, key)) {
        snprintf (err, err_cap, "secret store %s: out of memory", path);
        goto fail;
    }
    int found = s_read_file (path, &text, &len, err, err_cap);
    if (found < 0)
        goto fail;
    if (found == 0) {
        if (!create) {
            snprintf (err, err_cap,
                      "secret store %s does not exist (create it with 'mlc-secrets set' or "
                      "'mlc-secrets import-ionapi', or set secrets.file)",
                      path);
            goto fail;
        }
        static const char check[] = S_CHECK_TEXT;
        if (s_seal (self, s_check_ad, sizeof s_check_ad, check, sizeof check - 1, self->check_nonce,
                    &self->check_ct, &self->check_len)) {
            snprintf (err, err_cap, "secret store %s: out of memory", path);
            goto fail;
        }
        return self;
    }
    if (s_load (self, text, len, err, err_cap))
        goto fail;
    free (text);
    return self;
fail:
    free (text);
    cm_secrets_destroy (&self);
    return NULL;
}

/* ---------------------------------------------------------------- entries */

int
cm_secrets_get (cm_secrets_t *self, const char *name, char **value, size_t *len, char *err,
                size_t err_cap)
{
    *value = NULL;
    long at = name ? s_find (self, name) : -1;
    if (at < 0)
        return 0;
    const s_entry_t *e = &self->entries[at];
    *value = s_open (self, (const unsigned char *)e->name, strlen (e->name), e->ct, e->ct_len,
                     e->nonce, len);
    if (!*value) {
        snprintf (err, err_cap, "secret store %s: entry '%s' does not decrypt (damaged file)",
                  self->path, e->name);
        return -1;
    }
    return 1;
}

void
cm_secrets_value_free (char **value_p)
{
    if (!value_p || !*value_p)
        return;
    sodium_free (*value_p);
    *value_p = NULL;
}

int
cm_secrets_set (cm_secrets_t *self, const char *name, const char *value, size_t len, char *err,
                size_t err_cap)
{
    if (!cm_secrets_name_ok (name)) {
        snprintf (err, err_cap,
                  "secret name '%.64s' is not valid (1-%d letters, digits, '_', '-', '.', '/', "
                  "'@', ':')",
                  name ? name : "", CM_SECRETS_MAX_NAME);
        return -1;
    }
    if (len > CM_SECRETS_MAX_VALUE || memchr (value, '\0', len)) {
        snprintf (err, err_cap, "secret '%s': the value is longer than %d bytes or contains NUL",
                  name, CM_SECRETS_MAX_VALUE);
        return -1;
    }
    s_entry_t e = {0};
    if (s_seal (self, (const unsigned char *)name, strlen (name), value, len, e.nonce, &e.ct,
                &e.ct_len) ||
        !(e.name = strdup (name))) {
        free (e.ct);
        snprintf (err, err_cap, "out of memory");
        return -1;
    }
    long at = s_find (self, name);
    if (at >= 0) {
        s_entry_free (&self->entries[at]);
        self->entries[at] = e;
        return 0;
    }
    if (self->count >= CM_SECRETS_MAX_ENTRIES) {
        s_entry_free (&e);
        snprintf (err, err_cap, "secret store %s: more than %d entries", self->path,
                  CM_SECRETS_MAX_ENTRIES);
        return -1;
    }
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        s_entry_t *grown = realloc (self->entries, cap * sizeof *grown);
        if (!grown) {
            s_entry_free (&e);
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        self->entries = grown;
        self->cap = cap;
    }
    at = -at - 1;
    memmove (&self->entries[at + 1], &self->entries[at],
             (self->count - (size_t)at) * sizeof *self->entries);
    self->entries[at] = e;
    self->count++;
    return 0;
}

int
cm_secrets_delete (cm_secrets_t *self, const char *name)
{
    long at = name ? s_find (self, name) : -1;
    if (at < 0)
        return 0;
    s_entry_free (&self->entries[at]);
    memmove (&self->entries[at], &self->entries[at + 1],
             (self->count - (size_t)at - 1) * sizeof *self->entries);
    self->count--;
    return 1;
}

/* ---------------------------------------------------------------- saving */

/*  Adds {"nonce": HEX, "ct": BASE64} under name to obj. Returns 0 or -1. */
static int
s_add_sealed (cJSON *obj, const char *name, const unsigned char nonce[S_NONCE],
              const unsigned char *ct, size_t ct_len)
{
    char hex[2 * S_NONCE + 1];
    size_t b64_len = sodium_base64_ENCODED_LEN (ct_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc (b64_len);
    cJSON *o = cJSON_CreateObject ();
    int rc = -1;
    if (!b64 || !o)
        goto out;
    sodium_bin2hex (hex, sizeof hex, nonce, S_NONCE);
    sodium_bin2base64 (b64, b64_len, ct, ct_len, sodium_base64_VARIANT_ORIGINAL);
    if (!cJSON_AddStringToObject (o, "nonce", hex) || !cJSON_AddStringToObject (o, "ct", b64))
        goto out;
    if (!cJSON_AddItemToObject (obj, name, o))
        goto out;
    o = NULL;
    rc = 0;
out:
    cJSON_Delete (o);
    free (b64);
    return rc;
}

/*  mkdir -p of the directory part of path (mode 0700). */
static int
s_mkdir_parent (const char *path)
{
    char dir[4096];
    if (snprintf (dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return -1;
    char *slash = strrchr (dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir (dir, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir (dir, 0700) && errno != EEXIST)
        return -1;
    return 0;
}

static int
s_write_all (int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write (fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int
cm_secrets_save (cm_secrets_t *self, char *err, size_t err_cap)
{
    int rc = -1;
    char *text = NULL;
    char tmp[4200] = "";
    int fd = -1;
    cJSON *root = cJSON_CreateObject ();
    cJSON *entries = NULL;
    if (!root || !cJSON_AddStringToObject (root, "format", S_FORMAT) ||
        !cJSON_AddNumberToObject (root, "version", S_VERSION) ||
        !cJSON_AddStringToObject (root, "cipher", S_CIPHER))
        goto oom;
    cJSON *check = cJSON_CreateObject ();
    if (!check || !cJSON_AddItemToObject (root, "check", check))
        goto oom;
    char hex[2 * S_NONCE + 1];
    size_t b64_len = sodium_base64_ENCODED_LEN (self->check_len, sodium_base64_VARIANT_ORIGINAL);
    char b64[256];
    if (b64_len > sizeof b64)
        goto oom;
    sodium_bin2hex (hex, sizeof hex, self->check_nonce, S_NONCE);
    sodium_bin2base64 (b64, sizeof b64, self->check_ct, self->check_len,
                       sodium_base64_VARIANT_ORIGINAL);
    if (!cJSON_AddStringToObject (check, "nonce", hex) ||
        !cJSON_AddStringToObject (check, "ct", b64))
        goto oom;
    entries = cJSON_AddObjectToObject (root, "entries");
    if (!entries)
        goto oom;
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->entries[i];
        if (s_add_sealed (entries, e->name, e->nonce, e->ct, e->ct_len))
            goto oom;
    }
    unsigned char mac[S_MAC_BYTES];
    char mac_hex[2 * S_MAC_BYTES + 1];
    s_mac (self, mac);
    sodium_bin2hex (mac_hex, sizeof mac_hex, mac, sizeof mac);
    if (!cJSON_AddStringToObject (root, "mac", mac_hex))
        goto oom;
    text = cJSON_Print (root);
    if (!text)
        goto oom;

    if (s_mkdir_parent (self->path)) {
        snprintf (err, err_cap, "secret store %s: cannot create its directory: %s", self->path,
                  strerror (errno));
        goto out;
    }
    if (snprintf (tmp, sizeof tmp, "%s.tmp.XXXXXX", self->path) >= (int)sizeof tmp) {
        snprintf (err, err_cap, "secret store %s: path too long", self->path);
        tmp[0] = '\0';
        goto out;
    }
    fd = mkstemp (tmp);
    if (fd < 0) {
        snprintf (err, err_cap, "secret store %s: cannot create a temporary file: %s", self->path,
                  strerror (errno));
        tmp[0] = '\0';
        goto out;
    }
    size_t len = strlen (text);
    if (fchmod (fd, 0600) || s_write_all (fd, text, len) || s_write_all (fd, "\n", 1) ||
        fsync (fd)) {
        snprintf (err, err_cap, "secret store %s: cannot write %s: %s", self->path, tmp,
                  strerror (errno));
        goto out;
    }
    int cerr = close (fd);
    fd = -1;
    if (cerr || rename (tmp, self->path)) {
        snprintf (err, err_cap, "secret store %s: cannot replace the file: %s", self->path,
                  strerror (errno));
        goto out;
    }
    tmp[0] = '\0';
    /* the rename itself must survive a crash: sync the directory */
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", self->path);
    char *slash = strrchr (dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf (dir, sizeof dir, ".");
    int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync (dfd);
        close (dfd);
    }
    rc = 0;
    goto out;
oom:
    snprintf (err, err_cap, "secret store %s: out of memory", self->path);
out:
    if (fd >= 0)
        close (fd);
    if (tmp[0])
        unlink (tmp);
    free (text);
    cJSON_Delete (root);
    return rc;
}
