/*  ex_state: the extractor's per-tenant RocksDB state. See ex_state.h. */
#include "ex_state.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cm_log.h"
#include "cm_map.h"
#include "cm_store.h"

struct ex_state_t {
    cm_store_t *store;           /* RocksDB at data_dir/extractor/<tenant> */
    cm_store_batch_t *batch;     /* staged changes */
    char path[4096];             /* the store's directory, for messages */
    pthread_mutex_t lock;        /* commits and the lease's read-modify-writes (ex_lease) */
    atomic_bool failed;          /* a store error happened: the process must stop */
    pthread_mutex_t fail_lock;   /* guards failure */
    char failure[1024];          /* the first store error, naming the path and the cause */
    size_t staged_bytes;         /* bytes of keys and values staged in batch */
    cm_map_t *inflight;          /* pending key -> its hash (malloc'd), under lock */
    char *notes;                 /* noted pending entries since the last commit: each is
                                    klen (size_t), the key, the 32-character hash */
    size_t notes_len, notes_cap; /* bytes used and allocated */
    bool notes_lost;             /* a staged pending entry could not be noted */
};

/*  Creates dir and its parents (mode 0700). Returns 0, or -1 (errno) with the directory
    that could not be made in failed. */
static int
s_mkdir_p (const char *dir, char *failed, size_t failed_cap)
{
    char tmp[4096];
    snprintf (failed, failed_cap, "%s", dir);
    if (snprintf (tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir (tmp, 0700) && errno != EEXIST) {
            snprintf (failed, failed_cap, "%s", tmp);
            return -1;
        }
        *p = '/';
    }
    if (mkdir (tmp, 0700) && errno != EEXIST)
        return -1;
    /* EEXIST may be a file where the directory should be */
    struct stat st;
    if (stat (tmp, &st) || !S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int
s_plain_name (const char *s)
{
    if (!*s || strcmp (s, ".") == 0 || strcmp (s, "..") == 0 || strlen (s) > 128)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

//  Opens the tenant's store; read-write creates the directories it needs.
static ex_state_t *
s_open (const char *data_dir, const char *tenant, bool read_only, char *err, size_t err_cap)
{
    ex_state_t *self = NULL;
    char parent[4096];
    if (!s_plain_name (tenant)) {
        snprintf (err, err_cap,
                  "tenant '%.64s' is not a plain name (letters, digits, '_', '-', '.')", tenant);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->fail_lock, NULL);
    if (snprintf (parent, sizeof parent, "%s/extractor", data_dir) >= (int)sizeof parent ||
        snprintf (self->path, sizeof self->path, "%s/%s", parent, tenant) >=
            (int)sizeof self->path) {
        snprintf (err, err_cap, "data_dir path is too long");
        goto fail;
    }
    char failed[4096];
    if (!read_only && s_mkdir_p (parent, failed, sizeof failed)) {
        snprintf (err, err_cap,
                  "data_dir %s is not usable: cannot create directory %s: %s (data_dir must be "
                  "a directory the extractor can write: fix the path, its permissions or free "
                  "space)",
                  data_dir, failed, strerror (errno));
        goto fail;
    }
    static const char *const moved[] = {"l/", NULL};
    static const cm_store_family_t families[] = {{"pending", true, moved}};
    self->store = cm_store_open_families (self->path, read_only, families, 1, err, err_cap);
    if (!self->store)
        goto fail;
    if (cm_store_moved (self->store))
        cm_info ("EXT_PENDING_MOVED", "tenant=%s keys=%zu", tenant, cm_store_moved (self->store));
    self->batch = cm_store_batch_new ();
    self->inflight = cm_map_new (free);
    if (!self->batch || !self->inflight) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    ex_state_destroy (&self);
    return NULL;
}

ex_state_t *
ex_state_open (const char *data_dir, const char *tenant, char *err, size_t err_cap)
{
    return s_open (data_dir, tenant, false, err, err_cap);
}

void
ex_state_destroy (ex_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_store_batch_destroy (&(*self_p)->batch);
    cm_store_destroy (&(*self_p)->store);
    cm_map_destroy (&(*self_p)->inflight);
    free ((*self_p)->notes);
    pthread_mutex_destroy (&(*self_p)->lock);
    pthread_mutex_destroy (&(*self_p)->fail_lock);
    free (*self_p);
    *self_p = NULL;
}

/* ---- store errors ------------------------------------------------------------------- */

void
ex_state_fail (ex_state_t *self, const char *fmt, ...)
{
    pthread_mutex_lock (&self->fail_lock);
    bool first = !atomic_load (&self->failed);
    if (first) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (self->failure, sizeof self->failure, fmt, ap);
        va_end (ap);
        atomic_store (&self->failed, true);
    }
    pthread_mutex_unlock (&self->fail_lock);
    if (first)
        cm_error ("EXT_STATE_FAILED", "path=%s reason=\"%s\" action=stop", self->path,
                  self->failure);
}

bool
ex_state_failed (const ex_state_t *self)
{
    return atomic_load (&((ex_state_t *)self)->failed);
}

void
ex_state_failure (ex_state_t *self, char *out, size_t cap)
{
    pthread_mutex_lock (&self->fail_lock);
    snprintf (out, cap, "%s", self->failure);
    pthread_mutex_unlock (&self->fail_lock);
}

/*  Writes err ("<path>: <what>: <RocksDB error>") and records it as the state's failure. */
static void
s_store_error (ex_state_t *self, const char *what, char *err, size_t err_cap)
{
    snprintf (err, err_cap, "%s: %s: %s", self->path, what, cm_store_error (self->store));
    ex_state_fail (self, "%s", err);
}

int
ex_state_check_space (ex_state_t *self, size_t need, char *err, size_t err_cap)
{
    struct statvfs sv;
    if (statvfs (self->path, &sv) != 0)
        return 0; /* cannot tell: the write itself will say */
    unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    unsigned long long want = 2ULL * need + EX_STATE_RESERVE_BYTES;
    if (avail >= want)
        return 0;
    snprintf (err, err_cap,
              "%s: writing state: No space left on device (%llu bytes free, %llu needed to "
              "write %zu bytes and keep a reserve of %d bytes for the store): free space on the "
              "disk of data_dir or give it more",
              self->path, avail, want, need, EX_STATE_RESERVE_BYTES);
    ex_state_fail (self, "%s", err);
    return -1;
}

/* ---- keys ----------------------------------------------------------------------------- */

/*  Writes "<tag>/<entity>[/<key>]" into buf. Returns its length, or -1 when too long. */
static int
s_key (char *buf, size_t cap, char tag, const char *entity, const char *key)
{
    if (key && strlen (key) > EX_STATE_MAX_KEY)
        return -1;
    int n = key ? snprintf (buf, cap, "%c/%s/%s", tag, entity, key)
                : snprintf (buf, cap, "%c/%s", tag, entity);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/*  Reads the value "<tag>/<name>" (what: its description for messages): 1 and a
    malloc'd, NUL-terminated *val, 0 when absent, -1 (err) on a store error (recorded as
    the state's failure) or a name too long. */
static int
s_get (ex_state_t *self, char tag, const char *name, const char *what, char **val, size_t *vlen,
       char *err, size_t err_cap)
{
    char k[256], msg[160];
    *val = NULL;
    *vlen = 0;
    int klen = s_key (k, sizeof k, tag, name, NULL);
    if (klen < 0) {
        snprintf (err, err_cap, "entity name too long");
        return -1;
    }
    int rc = cm_store_get (self->store, k, (size_t)klen, val, vlen);
    if (rc < 0) {
        snprintf (msg, sizeof msg, "reading %s of %s", what, name);
        s_store_error (self, msg, err, err_cap);
        return -1;
    }
    return rc;
}

/*  Writes "<tag>/<name>" = val (unsynced unless sync). 0, or -1 (err, recorded). */
static int
s_put (ex_state_t *self, char tag, const char *name, const char *what, const char *val, size_t vlen,
       bool sync, char *err, size_t err_cap)
{
    char k[256], msg[160];
    int klen = s_key (k, sizeof k, tag, name, NULL);
    if (klen < 0) {
        snprintf (err, err_cap, "entity name too long");
        return -1;
    }
    if (ex_state_check_space (self, (size_t)klen + vlen, err, err_cap))
        return -1;
    if (cm_store_put (self->store, k, (size_t)klen, val, vlen, sync)) {
        snprintf (msg, sizeof msg, "writing %s of %s", what, name);
        s_store_error (self, msg, err, err_cap);
        return -1;
    }
    return 0;
}

/* ---- watermarks and hashes ---------------------------------------------------------- */

int
ex_state_watermark (ex_state_t *self, const char *entity, char *out, size_t out_cap, char *err,
                    size_t err_cap)
{
    char *val = NULL;
    size_t vlen = 0;
    int rc = s_get (self, 'w', entity, "the watermark", &val, &vlen, err, err_cap);
    if (rc <= 0)
        return rc;
    if (vlen + 1 > out_cap) {
        snprintf (err, err_cap, "%s: watermark of %s is corrupt (%zu bytes)", self->path, entity,
                  vlen);
        free (val);
        return -1;
    }
    memcpy (out, val, vlen + 1);
    free (val);
    return 1;
}

int
ex_state_changed (ex_state_t *self, const char *entity, const char *key, const char *hash,
                  char *err, size_t err_cap)
{
    char k[EX_STATE_MAX_KEY + 256];
    int klen = s_key (k, sizeof k, 'h', entity, key);
    if (klen < 0) {
        snprintf (err, err_cap, "record key of %s is longer than %d bytes", entity,
                  EX_STATE_MAX_KEY);
        return -1;
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc = cm_store_get (self->store, k, (size_t)klen, &val, &vlen);
    if (rc < 0) {
        char what[EX_STATE_MAX_KEY + 160];
        snprintf (what, sizeof what, "reading the hash of %s %s", entity, key);
        s_store_error (self, what, err, err_cap);
        return -1;
    }
    int changed = rc == 0 || vlen != strlen (hash) || memcmp (val, hash, vlen) != 0;
    free (val);
    return changed;
}

int
ex_state_get_many (ex_state_t *self, char tag, const char *entity, size_t n,
                   const char *const *keys, char **vals, size_t *vlens, char *err, size_t err_cap)
{
    int rc = -1;
    char *buf = NULL;          /* every store key, one after the other */
    const char **skeys = NULL; /* store key i, into buf */
    size_t *klens = NULL;      /* its length */
    size_t elen = strlen (entity);
    size_t total = 0;

    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        vlens[i] = 0;
    }
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen (keys[i]);
        if (klen > EX_STATE_MAX_KEY) {
            snprintf (err, err_cap, "record key of %.64s is longer than %d bytes", entity,
                      EX_STATE_MAX_KEY);
            return -1;
        }
        total += klen + elen + 4; /* "<tag>/<entity>/<key>" and a NUL */
    }
    buf = malloc (total);
    skeys = malloc (n * sizeof *skeys);
    klens = malloc (n * sizeof *klens);
    if (!buf || !skeys || !klens) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    /* "<tag>/<entity>/<key>", as s_key writes it (memcpy: this runs for every record) */
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen (keys[i]);
        char *k = buf + at;
        k[0] = tag;
        k[1] = '/';
        memcpy (k + 2, entity, elen);
        k[2 + elen] = '/';
        memcpy (k + 3 + elen, keys[i], klen);
        k[3 + elen + klen] = '\0';
        skeys[i] = k;
        klens[i] = 3 + elen + klen;
        at += klens[i] + 1;
    }
    if (cm_store_multi_get_in (self->store, tag == 'l' ? EX_STATE_PENDING : CM_STORE_DEFAULT, n,
                               skeys, klens, vals, vlens)) {
        char what[320];
        snprintf (what, sizeof what, "reading the '%c/' values of %zu records of %s", tag, n,
                  entity);
        s_store_error (self, what, err, err_cap);
        goto out;
    }
    rc = 0;
out:
    free (buf);
    free (skeys);
    free (klens);
    return rc;
}

int
ex_state_changed_many (ex_state_t *self, const char *entity, size_t n, const char *const *keys,
                       const char *const *hashes, int *changed, char *err, size_t err_cap)
{
    if (n == 0)
        return 0;
    char **vals = calloc (n, sizeof *vals);
    size_t *vlens = calloc (n, sizeof *vlens);
    int rc = -1;
    if (!vals || !vlens) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    if (ex_state_get_many (self, 'h', entity, n, keys, vals, vlens, err, err_cap))
        goto out;
    for (size_t i = 0; i < n; i++) {
        changed[i] = !vals[i] || vlens[i] != strlen (hashes[i]) ||
                     memcmp (vals[i], hashes[i], vlens[i]) != 0;
        free (vals[i]);
    }
    rc = 0;
out:
    free (vals);
    free (vlens);
    return rc;
}

static int
s_any (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    *(bool *)arg = true;
    return 1; /* one is enough */
}

int
ex_state_entity_empty (ex_state_t *self, const char *entity, char *err, size_t err_cap)
{
    static const char tags[] = {'h', 'l'};
    for (size_t i = 0; i < sizeof tags; i++) {
        char prefix[256];
        int plen = s_key (prefix, sizeof prefix, tags[i], entity, "");
        if (plen < 0) {
            snprintf (err, err_cap, "entity name too long");
            return -1;
        }
        bool any = false;
        if (cm_store_scan_in (self->store, tags[i] == 'l' ? EX_STATE_PENDING : CM_STORE_DEFAULT,
                              prefix, (size_t)plen, NULL, 0, s_any, &any)) {
            s_store_error (self, "looking for stored records", err, err_cap);
            return -1;
        }
        if (any)
            return 0;
    }
    return 1;
}

/*  Stages a put in family fam, counting its bytes for the free-space check of
    ex_state_commit. */
static void
s_stage_put (ex_state_t *self, int fam, const char *key, size_t klen, const void *val, size_t vlen)
{
    /* cannot fail: a writable state has the family (ex_state_open) */
    (void)cm_store_batch_put_in (self->batch, self->store, fam, key, klen, val, vlen);
    self->staged_bytes += klen + vlen + 16;
}

int
ex_state_stage_hash (ex_state_t *self, const char *entity, const char *key, const char *hash)
{
    char k[EX_STATE_MAX_KEY + 256];
    int klen = s_key (k, sizeof k, 'h', entity, key);
    if (klen < 0)
        return -1;
    s_stage_put (self, CM_STORE_DEFAULT, k, (size_t)klen, hash, strlen (hash));
    return 0;
}

void
ex_state_stage_pending (ex_state_t *self, const char *key, size_t klen, const void *val,
                        size_t vlen)
{
    s_stage_put (self, EX_STATE_PENDING, key, klen, val, vlen);
}

int
ex_state_stage_watermark (ex_state_t *self, const char *entity, const char *watermark)
{
    char k[256];
    int klen = s_key (k, sizeof k, 'w', entity, NULL);
    if (klen < 0)
        return -1;
    s_stage_put (self, CM_STORE_DEFAULT, k, (size_t)klen, watermark, strlen (watermark));
    return 0;
}

size_t
ex_state_staged (const ex_state_t *self)
{
    return cm_store_batch_count (self->batch);
}

void
ex_state_note_pending (ex_state_t *self, const char *key, size_t klen, const char *hash)
{
    size_t need = sizeof klen + klen + 32;
    if (!self->inflight)
        return;
    /* an entry that is not noted must not leave an older version's hash in the index:
       the commit then empties it, and the lease reads every pending entry from the store */
    if (strlen (hash) != 32) {
        self->notes_lost = true;
        return;
    }
    if (self->notes_len + need > self->notes_cap) {
        size_t cap = self->notes_cap ? self->notes_cap * 2 : 16384;
        while (cap < self->notes_len + need)
            cap *= 2;
        char *p = realloc (self->notes, cap);
        if (!p) {
            self->notes_lost = true;
            return;
        }
        self->notes = p;
        self->notes_cap = cap;
    }
    char *p = self->notes + self->notes_len;
    memcpy (p, &klen, sizeof klen);
    memcpy (p + sizeof klen, key, klen);
    memcpy (p + sizeof klen + klen, hash, 32);
    self->notes_len += need;
}

/*  With the lock held, after a commit: the noted pending entries are written, index them
    (a newer version of a key replaces the older one's hash). */
static void
s_index_notes (ex_state_t *self)
{
    if (self->notes_lost)
        cm_map_clear (self->inflight);
    for (size_t at = 0; at < self->notes_len;) {
        size_t klen;
        memcpy (&klen, self->notes + at, sizeof klen);
        const char *key = self->notes + at + sizeof klen;
        at += sizeof klen + klen + 32;
        bool found = false;
        cm_map_get (self->inflight, key, klen, &found);
        if (!found && cm_map_size (self->inflight) >= EX_STATE_INFLIGHT_MAX)
            continue;
        char *hash = strndup (key + klen, 32);
        if (!hash || cm_map_put (self->inflight, key, klen, hash) != 0)
            cm_map_delete (self->inflight, key, klen); /* an old hash must not stay */
    }
}

int
ex_state_inflight_hash (ex_state_t *self, const char *key, size_t klen, char *hash)
{
    bool found = false;
    const char *h = self->inflight ? cm_map_get (self->inflight, key, klen, &found) : NULL;
    if (!found || !h)
        return 0;
    memcpy (hash, h, 33);
    return 1;
}

void
ex_state_inflight_forget (ex_state_t *self, const char *key, size_t klen)
{
    if (self->inflight)
        cm_map_delete (self->inflight, key, klen);
}

size_t
ex_state_inflight_count (ex_state_t *self)
{
    return self->inflight ? cm_map_size (self->inflight) : 0;
}

int
ex_state_commit (ex_state_t *self, bool sync, char *err, size_t err_cap)
{
    if (cm_store_batch_count (self->batch) == 0)
        return 0;
    /* refuse before the disk is full: a write that fails part-way leaves RocksDB in its
       background-error state (and this RocksDB build may abort on its next log line) */
    if (ex_state_check_space (self, self->staged_bytes, err, err_cap))
        return -1;
    pthread_mutex_lock (&self->lock);
    int rc = cm_store_batch_commit (self->store, self->batch, sync);
    if (rc == 0)
        s_index_notes (self);
    pthread_mutex_unlock (&self->lock);
    self->notes_len = 0;
    self->notes_lost = false;
    self->staged_bytes = 0;
    if (rc) {
        s_store_error (self, "writing state (hashes, pending entries, watermark)", err, err_cap);
        return -1;
    }
    return 0;
}

cm_store_t *
ex_state_store (ex_state_t *self)
{
    return self->store;
}

cm_store_batch_t *
ex_state_batch (ex_state_t *self)
{
    return self->batch;
}

void
ex_state_lock (ex_state_t *self)
{
    pthread_mutex_lock (&self->lock);
}

void
ex_state_unlock (ex_state_t *self)
{
    pthread_mutex_unlock (&self->lock);
}

void
ex_state_discard (ex_state_t *self)
{
    /* a fresh batch replaces the old one only when it could be made, so self->batch is
       never NULL (if that fails, the old one is kept and the next commit may carry it:
       the caller stops on the error that made it discard anyway) */
    self->notes_len = 0;
    self->notes_lost = false;
    cm_store_batch_t *fresh = cm_store_batch_new ();
    if (fresh) {
        cm_store_batch_destroy (&self->batch);
        self->batch = fresh;
        self->staged_bytes = 0;
    }
}

const char *
ex_state_path (const ex_state_t *self)
{
    return self->path;
}

/* ---- schedule, poll record, token state ---------------------------------------------- */

int
ex_state_times (ex_state_t *self, const char *entity, int64_t *last_poll_ms, int64_t *last_full_ms,
                char *err, size_t err_cap)
{
    *last_poll_ms = 0;
    *last_full_ms = 0;
    char *val = NULL;
    size_t vlen = 0;
    int rc = s_get (self, 't', entity, "the schedule", &val, &vlen, err, err_cap);
    if (rc <= 0)
        return rc;
    int64_t poll = 0, full = 0;
    int used = 0;
    /* cm_store_get NUL-terminates the value */
    if (vlen > 64 || sscanf (val, "%" SCNd64 " %" SCNd64 "%n", &poll, &full, &used) != 2 ||
        (size_t)used != vlen || poll < 0 || full < 0) {
        snprintf (err, err_cap, "%s: the schedule of %s is corrupt", self->path, entity);
        free (val);
        return -1;
    }
    free (val);
    *last_poll_ms = poll;
    *last_full_ms = full;
    return 0;
}

int
ex_state_set_times (ex_state_t *self, const char *entity, int64_t last_poll_ms,
                    int64_t last_full_ms, char *err, size_t err_cap)
{
    char v[64];
    int vlen = snprintf (v, sizeof v, "%" PRId64 " %" PRId64, last_poll_ms, last_full_ms);
    return s_put (self, 't', entity, "the schedule", v, (size_t)vlen, true, err, err_cap);
}

ex_state_t *
ex_state_open_read_only (const char *data_dir, const char *tenant, char *err, size_t err_cap)
{
    return s_open (data_dir, tenant, true, err, err_cap);
}

/*  A JSON text value "<tag>/<name>": 1 and a malloc'd *json, 0 when none, -1 (err). */
static int
s_get_json (ex_state_t *self, char tag, const char *name, const char *what, char **json, char *err,
            size_t err_cap)
{
    size_t vlen = 0;
    int rc = s_get (self, tag, name, what, json, &vlen, err, err_cap);
    if (rc > 0 && vlen > EX_STATE_MAX_POLL) {
        snprintf (err, err_cap, "%s: %s of %s is too long", self->path, what, name);
        free (*json);
        *json = NULL;
        return -1;
    }
    return rc;
}

int
ex_state_set_poll (ex_state_t *self, const char *entity, const char *json, char *err,
                   size_t err_cap)
{
    if (strlen (json) > EX_STATE_MAX_POLL) {
        snprintf (err, err_cap, "poll record too long");
        return -1;
    }
    return s_put (self, 'p', entity, "the poll record", json, strlen (json), false, err, err_cap);
}

int
ex_state_poll (ex_state_t *self, const char *entity, char **json, char *err, size_t err_cap)
{
    return s_get_json (self, 'p', entity, "the poll record", json, err, err_cap);
}

int
ex_state_set_token (ex_state_t *self, const char *json, char *err, size_t err_cap)
{
    if (strlen (json) > EX_STATE_MAX_POLL) {
        snprintf (err, err_cap, "token state too long");
        return -1;
    }
    return s_put (self, 'c', "token", "the token state", json, strlen (json), false, err, err_cap);
}

int
ex_state_token (ex_state_t *self, char **json, char *err, size_t err_cap)
{
    return s_get_json (self, 'c', "token", "the token state", json, err, err_cap);
}
