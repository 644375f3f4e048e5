/*  rp_store: the replayer's audit trail and dead-letter store. See rp_store.h for the key
    layout and the rules. */
#include "rp_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_store.h"
#include "cm_time.h"
#include "cm_map.h"

#define S(x) ((x) ? (x) : "")

/*  A growable text buffer for audit entries written without cJSON. */
typedef struct {
    char *p;    /* the text */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed */
} jbuf_t;

/*  The open dead letters of one record. */
typedef struct {
    size_t count; /* ids */
    size_t cap;   /* slots */
    char **ids;   /* envelope ids (owned) */
} id_list_t;

/*  A stored value kept in memory. */
typedef struct {
    size_t len;  /* bytes */
    char data[]; /* the bytes, NUL-terminated */
} blob_t;

struct rp_store_t {
    cm_store_t *db;          /* the RocksDB */
    bool read_only;          /* opened read-only: every write is refused */
    cm_store_batch_t *batch; /* pending writes */
    size_t pending;          /* events in the batch */
    bool dl_dirty;           /* the batch changes dead-letter state (operator reads commit) */
    cm_map_t *open;          /* record T\0E\0K\0 -> id_list_t: its open dead letters */
    cm_map_t *dl_batch;      /* envelope id -> blob_t (stored JSON) or NULL (removed): the
                                dead letters the pending batch changes, read before the db */
    jbuf_t jb;               /* reused buffer for one audit entry */
    char *exp_cursor;        /* retention sweep: next a/ key to visit, NULL = from the start */
    size_t exp_cursor_len;   /* its length */
    bool meta_dirty;         /* counters changed since the last commit */
    uint64_t seq;            /* last audit sequence number used */
    rp_stats_t stats;        /* counters */
    char error[512];         /* last error */
};

/*  The audit family (rp_store.h): the a/ entries and the s/ index. */
#define RP_AUDIT 1
static const char *const s_moved[] = {"a/", "s/", NULL}; /* in the default family before */
static const cm_store_family_t s_families[] = {{"audit", true, s_moved}};

static const char *s_stat_names[] = {"bad_events", "dl_open",     "dl_created",
                                     "dl_updated", "dl_resolved", "dl_purged",
                                     "replayed",   "audit",       "audit_expired"};

static uint64_t *
stat_slot (rp_stats_t *st, size_t i)
{
    uint64_t *slots[] = {&st->bad_events, &st->dl_open,     &st->dl_created,
                         &st->dl_updated, &st->dl_resolved, &st->dl_purged,
                         &st->replayed,   &st->audit,       &st->audit_expired};
    return slots[i];
}

static void
set_error (rp_store_t *self, const char *what)
{
    snprintf (self->error, sizeof self->error, "%s: %s", what, cm_store_error (self->db));
}

/*  A malloc'd key: pre, then T\0E\0K\0, then `extra` spare bytes. Length in *len (without
    the spare bytes). NULL on OOM. */
static char *
record_key (const char *pre, const char *tenant, const char *entity, const char *key, size_t extra,
            size_t *len)
{
    size_t pl = strlen (pre), tl = strlen (S (tenant)), el = strlen (S (entity)),
           kl = strlen (S (key));
    size_t n = pl + tl + 1 + el + 1 + kl + 1;
    char *buf = malloc (n + extra + 1);
    if (!buf)
        return NULL;
    char *p = buf;
    memcpy (p, pre, pl), p += pl;
    memcpy (p, S (tenant), tl), p += tl, *p++ = '\0';
    memcpy (p, S (entity), el), p += el, *p++ = '\0';
    memcpy (p, S (key), kl), p += kl, *p++ = '\0';
    *len = n;
    return buf;
}

static char *
simple_key (const char *pre, const char *id, size_t *len)
{
    size_t pl = strlen (pre), il = strlen (S (id));
    char *buf = malloc (pl + il + 1);
    if (!buf)
        return NULL;
    memcpy (buf, pre, pl);
    memcpy (buf + pl, S (id), il + 1);
    *len = pl + il;
    return buf;
}

static void
put_be64 (char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

/* ---- audit text without cJSON ------------------------------------------------------ */

static void
jb_reserve (jbuf_t *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc (b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void
jb_raw (jbuf_t *b, const char *text, size_t n)
{
    jb_reserve (b, n);
    if (b->oom)
        return;
    memcpy (b->p + b->len, text, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/*  Starts an object. */
static void
jb_open (jbuf_t *b)
{
    b->len = 0;
    b->oom = false;
    jb_raw (b, "{", 1);
}

/*  ,"name": (no comma after the opening brace); name is a plain literal. */
static void
jb_key (jbuf_t *b, const char *name)
{
    size_t n = strlen (name);
    jb_reserve (b, n + 4);
    if (b->oom)
        return;
    char *p = b->p + b->len;
    if (b->len > 1)
        *p++ = ',';
    *p++ = '"';
    memcpy (p, name, n), p += n;
    *p++ = '"';
    *p++ = ':';
    b->len = (size_t)(p - b->p);
    b->p[b->len] = '\0';
}

/*  A JSON string, escaped as cJSON does (", \, control characters; other bytes as is). */
static void
jb_str (jbuf_t *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *v = (const unsigned char *)S (value);
    size_t n = strlen ((const char *)v);
    jb_key (b, name);
    jb_reserve (b, n * 6 + 2);
    if (b->oom)
        return;
    char *p = b->p + b->len;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        if (c >= 32 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u', *p++ = '0', *p++ = '0';
            *p++ = hex[c >> 4], *p++ = hex[c & 15];
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->p);
    b->p[b->len] = '\0';
}

static void
jb_str_opt (jbuf_t *b, const char *name, const char *value)
{
    if (value && *value)
        jb_str (b, name, value);
}

/*  An integer, exactly (cJSON reads it back as a double, as before). */
static void
jb_int (jbuf_t *b, const char *name, int64_t value)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (value < 0)
        *--p = '-';
    jb_key (b, name);
    jb_raw (b, p, (size_t)(tmp + sizeof tmp - p));
}

static void
jb_bool (jbuf_t *b, const char *name, bool value)
{
    jb_key (b, name);
    jb_raw (b, value ? "true" : "false", value ? 4 : 5);
}

/* ---- in-memory indexes -------------------------------------------------------------- */

static void
id_list_free (void *value)
{
    id_list_t *l = value;
    for (size_t i = 0; i < l->count; i++)
        free (l->ids[i]);
    free (l->ids);
    free (l);
}

/*  Notes that record rec (T\0E\0K\0, rlen bytes) has open dead letter id. 0 or -1 (OOM). */
static int
open_add_raw (rp_store_t *self, const char *rec, size_t rlen, const char *id)
{
    bool found = false;
    id_list_t *l = cm_map_get (self->open, rec, rlen, &found);
    if (!l) {
        l = calloc (1, sizeof *l);
        if (!l)
            return -1;
        if (cm_map_put (self->open, rec, rlen, l) != 0)
            return -1; /* cm_map_put freed l */
    }
    for (size_t i = 0; i < l->count; i++)
        if (strcmp (l->ids[i], id) == 0)
            return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 2;
        char **ids = realloc (l->ids, cap * sizeof *ids);
        if (!ids)
            return -1;
        l->ids = ids;
        l->cap = cap;
    }
    if (!(l->ids[l->count] = strdup (id)))
        return -1;
    l->count++;
    return 0;
}

static int
open_add (rp_store_t *self, const rp_dead_letter_t *dl)
{
    size_t rlen = 0;
    char *rec = record_key ("", dl->tenant, dl->entity, dl->key, 0, &rlen);
    int rc = rec ? open_add_raw (self, rec, rlen, dl->id) : -1;
    free (rec);
    if (rc != 0)
        snprintf (self->error, sizeof self->error, "out of memory");
    return rc;
}

static void
open_remove (rp_store_t *self, const char *tenant, const char *entity, const char *key,
             const char *id)
{
    size_t rlen = 0;
    char *rec = record_key ("", tenant, entity, key, 0, &rlen);
    if (!rec)
        return; /* a stale entry costs one read later, nothing else */
    bool found = false;
    id_list_t *l = cm_map_get (self->open, rec, rlen, &found);
    if (l) {
        for (size_t i = 0; i < l->count; i++)
            if (strcmp (l->ids[i], id) == 0) {
                free (l->ids[i]);
                l->ids[i] = l->ids[--l->count];
                break;
            }
        if (l->count == 0)
            cm_map_delete (self->open, rec, rlen);
    }
    free (rec);
}

/*  True when record rec (T\0E\0K\0, rlen bytes) has an open dead letter. */
static bool
open_has (const rp_store_t *self, const char *rec, size_t rlen)
{
    bool found = false;
    const id_list_t *l = cm_map_get (self->open, rec, rlen, &found);
    return l && l->count > 0;
}

/*  Length of the T\0E\0K\0 part at the start of p (n bytes), 0 when it is not one. */
static size_t
record_part_len (const char *p, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 3; part++) {
        const char *z = memchr (p + i, '\0', n - i);
        if (!z)
            return 0;
        i = (size_t)(z - p) + 1;
    }
    return i;
}

static int
open_load_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    rp_store_t *self = arg;
    size_t rlen = record_part_len (key + 2, klen - 2);
    char id[256];
    size_t il = rlen ? klen - 2 - rlen : 0;
    if (il == 0 || il >= sizeof id)
        return 0;
    memcpy (id, key + 2 + rlen, il);
    id[il] = '\0';
    if (open_add_raw (self, key + 2, rlen, id) != 0) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return 1;
    }
    return 0;
}

static void
blob_free (void *value)
{
    free (value);
}

/*  Keeps a copy of dead letter id's new stored value (text == NULL: removed) for reads
    before the next commit. 0 or -1 (OOM). */
static int
batch_note (rp_store_t *self, const char *id, const char *text, size_t len)
{
    blob_t *b = NULL;
    if (text) {
        b = malloc (sizeof *b + len + 1);
        if (!b)
            goto oom;
        b->len = len;
        memcpy (b->data, text, len);
        b->data[len] = '\0';
    }
    if (cm_map_put (self->dl_batch, id, strlen (id), b) != 0)
        goto oom;
    return 0;
oom:
    snprintf (self->error, sizeof self->error, "out of memory");
    return -1;
}

/* ---- JSON helpers (stored values are read back totally: a corrupt value is an error) -- */

static char *
json_strdup (const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive (obj, name);
    return strdup (cJSON_IsString (it) && it->valuestring ? it->valuestring : "");
}

static int64_t
json_int (const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!cJSON_IsNumber (it) || it->valuedouble < -9.2e18 || it->valuedouble > 9.2e18)
        return 0;
    return (int64_t)it->valuedouble;
}

/* ---- counters ---------------------------------------------------------------------- */

cJSON *
rp_stats_to_json (const rp_stats_t *st)
{
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return NULL;
    for (int i = 0; i < CM_OUTCOME_COUNT; i++)
        cJSON_AddNumberToObject (o, cm_outcome_name ((cm_outcome_t)i), (double)st->outcomes[i]);
    for (size_t i = 0; i < sizeof s_stat_names / sizeof s_stat_names[0]; i++)
        cJSON_AddNumberToObject (o, s_stat_names[i], (double)*stat_slot ((rp_stats_t *)st, i));
    return o;
}

static char *
stats_to_text (const rp_stats_t *st)
{
    cJSON *o = rp_stats_to_json (st);
    if (!o)
        return NULL;
    char *text = cJSON_PrintUnformatted (o);
    cJSON_Delete (o);
    return text;
}

static void
stats_from_text (rp_stats_t *st, const char *text, size_t len)
{
    cJSON *o = cJSON_ParseWithLength (text, len);
    if (!cJSON_IsObject (o)) {
        cm_warn ("RPL_STORE_CORRUPT", "key=m/stats reason=\"not a JSON object\"");
        cJSON_Delete (o);
        return;
    }
    for (int i = 0; i < CM_OUTCOME_COUNT; i++) {
        int64_t v = json_int (o, cm_outcome_name ((cm_outcome_t)i));
        st->outcomes[i] = v > 0 ? (uint64_t)v : 0;
    }
    for (size_t i = 0; i < sizeof s_stat_names / sizeof s_stat_names[0]; i++) {
        int64_t v = json_int (o, s_stat_names[i]);
        *stat_slot (st, i) = v > 0 ? (uint64_t)v : 0;
    }
    cJSON_Delete (o);
}

/* ---- open / close ------------------------------------------------------------------ */

rp_store_t *
rp_store_open (const char *dir, bool read_only, char *err, size_t err_cap)
{
    rp_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->read_only = read_only;
    self->db = cm_store_open_families (dir, read_only, s_families, 1, err, err_cap);
    if (!self->db)
        goto fail;
    if (cm_store_moved (self->db))
        cm_info ("RPL_AUDIT_MOVED", "keys=%zu", cm_store_moved (self->db));
    self->batch = cm_store_batch_new ();
    self->open = cm_map_new (id_list_free);
    self->dl_batch = cm_map_new (blob_free);
    if (!self->batch || !self->open || !self->dl_batch) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc = cm_store_get (self->db, "m/seq", 5, &val, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading m/seq: %s", dir, cm_store_error (self->db));
        goto fail;
    }
    if (rc == 1) {
        self->seq = strtoull (val, NULL, 10);
        free (val);
    }
    rc = cm_store_get (self->db, "m/stats", 7, &val, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading m/stats: %s", dir, cm_store_error (self->db));
        goto fail;
    }
    if (rc == 1) {
        stats_from_text (&self->stats, val, vlen);
        free (val);
    }
    /* the records with an open dead letter: a LOADED event of any other record costs no
       read (readers never resolve, they do not need it) */
    if (!read_only && cm_store_scan (self->db, "r/", 2, NULL, 0, open_load_one, self) != 0) {
        snprintf (err, err_cap, "%s: reading the open dead letters: %s", dir,
                  self->error[0] ? self->error : cm_store_error (self->db));
        goto fail;
    }
    if (self->error[0]) {
        snprintf (err, err_cap, "%s: reading the open dead letters: %s", dir, self->error);
        goto fail;
    }
    return self;
fail:
    cm_map_destroy (&self->open);
    cm_map_destroy (&self->dl_batch);
    cm_store_batch_destroy (&self->batch);
    cm_store_destroy (&self->db);
    free (self);
    return NULL;
}

void
rp_store_destroy (rp_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rp_store_t *self = *self_p;
    if (!self->read_only && rp_store_flush (self, true) != 0)
        cm_error ("RPL_STORE_ERROR", "op=close_flush error=\"%s\"", self->error);
    cm_store_batch_destroy (&self->batch);
    cm_map_destroy (&self->open);
    cm_map_destroy (&self->dl_batch);
    free (self->jb.p);
    free (self->exp_cursor);
    cm_store_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

const char *
rp_store_error (const rp_store_t *self)
{
    return self->error;
}

size_t
rp_store_pending (const rp_store_t *self)
{
    return self->pending;
}

void
rp_store_stats (const rp_store_t *self, rp_stats_t *stats)
{
    *stats = self->stats;
}

void
rp_store_count_bad_event (rp_store_t *self)
{
    self->stats.bad_events++;
    self->meta_dirty = true;
}

int
rp_store_flush (rp_store_t *self, bool sync)
{
    if (self->read_only) {
        snprintf (self->error, sizeof self->error, "store is read-only");
        return -1;
    }
    if (cm_store_batch_count (self->batch) == 0 && !self->meta_dirty)
        return 0;
    char seq[32];
    int n = snprintf (seq, sizeof seq, "%" PRIu64, self->seq);
    cm_store_batch_put (self->batch, "m/seq", 5, seq, (size_t)n);
    char *st = stats_to_text (&self->stats);
    if (!st) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    cm_store_batch_put (self->batch, "m/stats", 7, st, strlen (st));
    free (st);
    if (cm_store_batch_commit (self->db, self->batch, sync) != 0) {
        set_error (self, "commit");
        return -1;
    }
    self->pending = 0;
    self->dl_dirty = false;
    self->meta_dirty = false;
    cm_map_clear (self->dl_batch);
    return 0;
}

/*  Reads of dead-letter state must see what the batch has already changed. */
static int
settle (rp_store_t *self)
{
    return self->dl_dirty ? rp_store_flush (self, false) : 0;
}

/* ---- audit ------------------------------------------------------------------------- */

/*  Finishes the entry in self->jb (opened, fields added) with its "seq" and adds it as
    the next audit entry of the record, at at_ms. */
static int
audit_put (rp_store_t *self, const char *tenant, const char *entity, const char *key, int64_t at_ms)
{
    jbuf_t *b = &self->jb;
    self->seq++;
    jb_int (b, "seq", (int64_t)self->seq);
    jb_raw (b, "}", 1);
    size_t klen = 0;
    char *k = record_key ("a/", tenant, entity, key, 16, &klen);
    if (!k || b->oom) {
        free (k);
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    put_be64 (k + klen, (uint64_t)at_ms ^ (UINT64_C (1) << 63));
    put_be64 (k + klen + 8, self->seq);
    int rc = cm_store_batch_put_in (self->batch, self->db, RP_AUDIT, k, klen + 16, b->p, b->len);
    free (k);
    if (rc != 0) {
        snprintf (self->error, sizeof self->error, "the audit family is not open");
        return -1;
    }
    self->stats.audit++;
    self->meta_dirty = true;
    return 0;
}

/*  Opens an audit entry with the members every entry has, in their stored order. The
    record's tenant, entity and key are in the entry's key, not here (rp_store.h). */
static void
audit_head (jbuf_t *b, int64_t at_ms, const char *stage, const char *out, const char *eid,
            const char *hash, int64_t attempt)
{
    jb_open (b);
    jb_int (b, "at", at_ms);
    jb_str (b, "stage", stage);
    jb_str (b, "out", out);
    jb_str (b, "eid", eid);
    jb_str (b, "hash", hash);
    jb_int (b, "attempt", attempt);
}

/*  The event's audit entry, into self->jb (without "seq" and the closing brace). The
    JSON is written by hand (integers as integers, strings escaped as cJSON does): the
    readers parse it with cJSON as before, and entries written by older versions read
    the same. */
static void
audit_from_event (rp_store_t *self, const cm_event_t *ev)
{
    jbuf_t *b = &self->jb;
    audit_head (b, ev->at_ms, cm_stage_name (ev->stage), cm_outcome_name (ev->outcome),
                ev->envelope_id, ev->hash, ev->attempt);
    jb_str_opt (b, "sobj", ev->sobject);
    jb_str_opt (b, "extid", ev->ext_id);
    jb_str_opt (b, "sfid", ev->sf_id);
    if (ev->outcome == CM_OUTCOME_LOADED)
        jb_bool (b, "created", ev->created);
    if (ev->error_class != CM_ERR_NONE)
        jb_str (b, "class", cm_error_class_name (ev->error_class));
    jb_str_opt (b, "code", ev->error_code);
    jb_str_opt (b, "msg", ev->message);
    jb_str_opt (b, "fields", ev->error_fields);
    if (ev->http_status)
        jb_int (b, "http", ev->http_status);
    if (ev->envelope_size)
        jb_int (b, "env_size", (int64_t)ev->envelope_size);
}

/*  An audit entry the replayer writes about a dead letter (resolved, purged, replayed). */
static int
audit_own (rp_store_t *self, const rp_dead_letter_t *dl, const char *out, int64_t at_ms,
           const char *reason, const char *by_eid)
{
    jbuf_t *b = &self->jb;
    audit_head (b, at_ms, "replay", out, dl->id, dl->hash, dl->env_attempt);
    jb_str_opt (b, "code", dl->code);
    jb_str_opt (b, "reason", reason);
    jb_str_opt (b, "by_eid", by_eid);
    return audit_put (self, dl->tenant, dl->entity, dl->key, at_ms);
}

/* ---- dead letters ------------------------------------------------------------------ */

void
rp_dead_letter_destroy (rp_dead_letter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rp_dead_letter_t *d = *self_p;
    char **strs[] = {&d->id,     &d->tenant,  &d->entity,      &d->key,  &d->hash,
                     &d->stage,  &d->outcome, &d->error_class, &d->code, &d->message,
                     &d->fields, &d->sobject, &d->ext_id};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free (*strs[i]);
    free (d);
    *self_p = NULL;
}

bool
rp_dead_letter_awaits_outcome (const rp_dead_letter_t *dl)
{
    return dl->last_replay_ms > dl->last_failure_ms;
}

cJSON *
rp_dead_letter_to_json (const rp_dead_letter_t *d)
{
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return NULL;
    cJSON_AddStringToObject (o, "id", S (d->id));
    cJSON_AddStringToObject (o, "tenant", S (d->tenant));
    cJSON_AddStringToObject (o, "entity", S (d->entity));
    cJSON_AddStringToObject (o, "key", S (d->key));
    cJSON_AddStringToObject (o, "hash", S (d->hash));
    cJSON_AddStringToObject (o, "stage", S (d->stage));
    cJSON_AddStringToObject (o, "outcome", S (d->outcome));
    cJSON_AddStringToObject (o, "error_class", S (d->error_class));
    cJSON_AddStringToObject (o, "code", S (d->code));
    cJSON_AddStringToObject (o, "message", S (d->message));
    cJSON_AddStringToObject (o, "fields", S (d->fields));
    cJSON_AddStringToObject (o, "sobject", S (d->sobject));
    cJSON_AddStringToObject (o, "ext_id", S (d->ext_id));
    cJSON_AddNumberToObject (o, "http_status", d->http_status);
    cJSON_AddNumberToObject (o, "attempts", d->attempts);
    cJSON_AddNumberToObject (o, "env_attempt", d->env_attempt);
    cJSON_AddNumberToObject (o, "first_failure_ms", (double)d->first_failure_ms);
    cJSON_AddNumberToObject (o, "last_failure_ms", (double)d->last_failure_ms);
    cJSON_AddNumberToObject (o, "replays", d->replays);
    cJSON_AddNumberToObject (o, "unanswered", d->unanswered);
    cJSON_AddNumberToObject (o, "last_replay_ms", (double)d->last_replay_ms);
    cJSON_AddNumberToObject (o, "env_size", (double)d->env_size);
    return o;
}

/*  Parses a stored dead letter; NULL when the value is not a JSON object or OOM. */
static rp_dead_letter_t *
dead_letter_parse (const char *text, size_t len)
{
    cJSON *o = cJSON_ParseWithLength (text, len);
    if (!cJSON_IsObject (o)) {
        cJSON_Delete (o);
        return NULL;
    }
    rp_dead_letter_t *d = calloc (1, sizeof *d);
    if (!d)
        goto out;
    d->id = json_strdup (o, "id");
    d->tenant = json_strdup (o, "tenant");
    d->entity = json_strdup (o, "entity");
    d->key = json_strdup (o, "key");
    d->hash = json_strdup (o, "hash");
    d->stage = json_strdup (o, "stage");
    d->outcome = json_strdup (o, "outcome");
    d->error_class = json_strdup (o, "error_class");
    d->code = json_strdup (o, "code");
    d->message = json_strdup (o, "message");
    d->fields = json_strdup (o, "fields");
    d->sobject = json_strdup (o, "sobject");
    d->ext_id = json_strdup (o, "ext_id");
    d->http_status = (int)json_int (o, "http_status");
    d->attempts = (uint32_t)json_int (o, "attempts");
    d->env_attempt = (uint32_t)json_int (o, "env_attempt");
    d->first_failure_ms = json_int (o, "first_failure_ms");
    d->last_failure_ms = json_int (o, "last_failure_ms");
    d->replays = (uint32_t)json_int (o, "replays");
    d->unanswered = (uint32_t)json_int (o, "unanswered");
    d->last_replay_ms = json_int (o, "last_replay_ms");
    d->env_size = (size_t)json_int (o, "env_size");
    if (!d->id || !d->tenant || !d->entity || !d->key || !d->hash || !d->stage || !d->outcome ||
        !d->error_class || !d->code || !d->message || !d->fields || !d->sobject || !d->ext_id)
        rp_dead_letter_destroy (&d);
out:
    cJSON_Delete (o);
    return d;
}

static int
dead_letter_get (rp_store_t *self, const char *id, rp_dead_letter_t **dl)
{
    *dl = NULL;
    bool pending = false;
    blob_t *blob = cm_map_get (self->dl_batch, id, strlen (id), &pending);
    if (pending) {
        /* changed by the batch: the db does not have it yet */
        if (!blob)
            return 0;
        *dl = dead_letter_parse (blob->data, blob->len);
        if (!*dl) {
            snprintf (self->error, sizeof self->error, "out of memory");
            return -1;
        }
        return 1;
    }
    size_t klen = 0;
    char *k = simple_key ("d/", id, &klen);
    char *val = NULL;
    size_t vlen = 0;
    if (!k) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    int rc = cm_store_get (self->db, k, klen, &val, &vlen);
    free (k);
    if (rc < 0) {
        set_error (self, "reading dead letter");
        return -1;
    }
    if (rc == 0)
        return 0;
    *dl = dead_letter_parse (val, vlen);
    free (val);
    if (!*dl) {
        snprintf (self->error, sizeof self->error, "dead letter %s: stored value is corrupt", id);
        return -1;
    }
    return 1;
}

int
rp_store_dead_letter (rp_store_t *self, const char *id, rp_dead_letter_t **dl)
{
    *dl = NULL;
    if (!self->read_only && settle (self) != 0)
        return -1;
    return dead_letter_get (self, id, dl);
}

int
rp_store_envelope (rp_store_t *self, const char *id, char **data, size_t *size)
{
    if (!self->read_only && settle (self) != 0)
        return -1;
    size_t klen = 0;
    char *k = simple_key ("e/", id, &klen);
    if (!k) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    int rc = cm_store_get (self->db, k, klen, data, size);
    free (k);
    if (rc < 0)
        set_error (self, "reading envelope");
    return rc;
}

static int
dead_letter_put (rp_store_t *self, const rp_dead_letter_t *dl)
{
    size_t klen = 0;
    char *k = simple_key ("d/", dl->id, &klen);
    cJSON *o = rp_dead_letter_to_json (dl);
    char *text = o ? cJSON_PrintUnformatted (o) : NULL;
    cJSON_Delete (o);
    int rc = -1;
    if (!k || !text) {
        snprintf (self->error, sizeof self->error, "out of memory");
        goto out;
    }
    cm_store_batch_put (self->batch, k, klen, text, strlen (text));
    self->dl_dirty = true;
    rc = batch_note (self, dl->id, text, strlen (text));
out:
    free (k);
    free (text);
    return rc;
}

/*  Deletes d/, e/ and r/ keys of dl (batched). */
static int
dead_letter_remove (rp_store_t *self, const rp_dead_letter_t *dl)
{
    size_t dlen = 0, elen = 0, rlen = 0;
    char *dk = simple_key ("d/", dl->id, &dlen);
    char *ek = simple_key ("e/", dl->id, &elen);
    size_t il = strlen (dl->id);
    char *rk = record_key ("r/", dl->tenant, dl->entity, dl->key, il, &rlen);
    int rc = -1;
    if (!dk || !ek || !rk) {
        snprintf (self->error, sizeof self->error, "out of memory");
        goto out;
    }
    memcpy (rk + rlen, dl->id, il);
    cm_store_batch_delete (self->batch, dk, dlen);
    cm_store_batch_delete (self->batch, ek, elen);
    cm_store_batch_delete (self->batch, rk, rlen + il);
    if (self->stats.dl_open > 0)
        self->stats.dl_open--;
    self->dl_dirty = true;
    self->meta_dirty = true;
    open_remove (self, dl->tenant, dl->entity, dl->key, dl->id);
    rc = batch_note (self, dl->id, NULL, 0);
out:
    free (dk);
    free (ek);
    free (rk);
    return rc;
}

static int
replace_str (char **dst, const char *src)
{
    char *copy = strdup (S (src));
    if (!copy)
        return -1;
    free (*dst);
    *dst = copy;
    return 0;
}

/*  FAILED / REJECTED: create or update the dead letter of the envelope id. */
static int
dead_letter_record (rp_store_t *self, const cm_event_t *ev)
{
    if (!ev->envelope_id || !*ev->envelope_id) {
        cm_warn ("RPL_DL_NO_ID", "tenant=%s entity=%s key=%s reason=\"event has no envelope id\"",
                 S (ev->tenant), S (ev->entity), S (ev->key));
        return 0;
    }
    rp_dead_letter_t *dl = NULL;
    int found = dead_letter_get (self, ev->envelope_id, &dl);
    if (found < 0) {
        /* a corrupt stored value is replaced; a read error stops */
        if (!strstr (self->error, "corrupt"))
            return -1;
        cm_warn ("RPL_STORE_CORRUPT", "id=%s reason=\"%s\" action=replace", ev->envelope_id,
                 self->error);
        found = 0;
    }
    int rc = -1;
    if (found == 0) {
        dl = calloc (1, sizeof *dl);
        if (!dl)
            goto oom;
        if (replace_str (&dl->id, ev->envelope_id) || replace_str (&dl->tenant, ev->tenant) ||
            replace_str (&dl->entity, ev->entity) || replace_str (&dl->key, ev->key))
            goto oom;
        dl->first_failure_ms = ev->at_ms;
        dl->attempts = 1;
        self->stats.dl_created++;
        self->stats.dl_open++;
        /* the record's open-dead-letter index */
        size_t il = strlen (dl->id), rlen = 0;
        char *rk = record_key ("r/", dl->tenant, dl->entity, dl->key, il, &rlen);
        if (!rk)
            goto oom;
        memcpy (rk + rlen, dl->id, il);
        cm_store_batch_put (self->batch, rk, rlen + il, "", 0);
        free (rk);
        if (open_add (self, dl) != 0)
            goto out;
    } else {
        dl->attempts++;
        self->stats.dl_updated++;
    }
    self->meta_dirty = true;
    if (ev->at_ms > dl->last_failure_ms || found == 0)
        dl->last_failure_ms = ev->at_ms;
    if (ev->at_ms < dl->first_failure_ms)
        dl->first_failure_ms = ev->at_ms;
    if (replace_str (&dl->hash, ev->hash) || replace_str (&dl->stage, cm_stage_name (ev->stage)) ||
        replace_str (&dl->outcome, cm_outcome_name (ev->outcome)) ||
        replace_str (&dl->error_class, cm_error_class_name (ev->error_class)) ||
        replace_str (&dl->code, ev->error_code) || replace_str (&dl->message, ev->message) ||
        replace_str (&dl->fields, ev->error_fields))
        goto oom;
    if (ev->sobject && replace_str (&dl->sobject, ev->sobject))
        goto oom;
    if (ev->ext_id && replace_str (&dl->ext_id, ev->ext_id))
        goto oom;
    if (!dl->sobject && replace_str (&dl->sobject, ""))
        goto oom;
    if (!dl->ext_id && replace_str (&dl->ext_id, ""))
        goto oom;
    dl->http_status = ev->http_status;
    dl->env_attempt = ev->attempt;
    if (ev->envelope && ev->envelope_size) {
        size_t elen = 0;
        char *ek = simple_key ("e/", dl->id, &elen);
        if (!ek)
            goto oom;
        cm_store_batch_put (self->batch, ek, elen, ev->envelope, ev->envelope_size);
        free (ek);
        dl->env_size = ev->envelope_size;
    } else if (found == 0)
        cm_warn ("RPL_DL_NO_ENVELOPE",
                 "id=%s tenant=%s entity=%s key=%s "
                 "reason=\"event carries no envelope bytes; not replayable\"",
                 dl->id, dl->tenant, dl->entity, dl->key);
    rc = dead_letter_put (self, dl);
    goto out;
oom:
    snprintf (self->error, sizeof self->error, "out of memory");
out:
    rp_dead_letter_destroy (&dl);
    return rc;
}

/*  Resolves open dead letter id of the LOADED event's record when the load covers it. */
static int
resolve_one (rp_store_t *self, const cm_event_t *ev, const char *id)
{
    rp_dead_letter_t *dl = NULL;
    int found = dead_letter_get (self, id, &dl);
    if (found < 0)
        return -1;
    if (found == 0) {
        /* a stale index entry: drop it */
        size_t rlen = 0, il = strlen (id);
        char *rk = record_key ("r/", ev->tenant, ev->entity, ev->key, il, &rlen);
        if (!rk) {
            snprintf (self->error, sizeof self->error, "out of memory");
            return -1;
        }
        memcpy (rk + rlen, id, il);
        cm_store_batch_delete (self->batch, rk, rlen + il);
        free (rk);
        open_remove (self, ev->tenant, ev->entity, ev->key, id);
        return 0;
    }
    int rc = 0;
    bool same_id = ev->envelope_id && strcmp (dl->id, ev->envelope_id) == 0;
    bool same_hash = ev->hash && *ev->hash && strcmp (dl->hash, ev->hash) == 0;
    if (same_id || same_hash || dl->last_failure_ms <= ev->at_ms) {
        if (dead_letter_remove (self, dl) != 0 ||
            audit_own (self, dl, "resolved", ev->at_ms, NULL, S (ev->envelope_id)) != 0)
            rc = -1;
        else {
            self->stats.dl_resolved++;
            cm_info ("RPL_DL_RESOLVED", "id=%s tenant=%s entity=%s key=%s sfid=%s", dl->id,
                     dl->tenant, dl->entity, dl->key, S (ev->sf_id));
        }
    }
    rp_dead_letter_destroy (&dl);
    return rc;
}

/*  LOADED: resolves the record's open dead letters it covers. Only records in the
    in-memory index are looked at, so the common case costs one hash lookup. */
static int
dead_letter_resolve (rp_store_t *self, const cm_event_t *ev)
{
    if (cm_map_size (self->open) == 0)
        return 0;
    size_t rlen = 0;
    char *rec = record_key ("", ev->tenant, ev->entity, ev->key, 0, &rlen);
    if (!rec) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    bool found = false;
    id_list_t *l = cm_map_get (self->open, rec, rlen, &found);
    free (rec);
    if (!l || l->count == 0)
        return 0;
    /* a copy: resolving changes the list */
    int rc = 0;
    size_t n = l->count;
    char **ids = calloc (n, sizeof *ids);
    if (!ids)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (!(ids[i] = strdup (l->ids[i])))
            goto oom;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = resolve_one (self, ev, ids[i]);
    goto out;
oom:
    snprintf (self->error, sizeof self->error, "out of memory");
    rc = -1;
out:
    if (ids)
        for (size_t i = 0; i < n; i++)
            free (ids[i]);
    free (ids);
    return rc;
}

/* ---- apply ------------------------------------------------------------------------- */

int
rp_store_apply (rp_store_t *self, const cm_event_t *ev)
{
    if (self->read_only) {
        snprintf (self->error, sizeof self->error, "store is read-only");
        return -1;
    }
    if ((int)ev->outcome < 0 || (int)ev->outcome >= CM_OUTCOME_COUNT) {
        snprintf (self->error, sizeof self->error, "event outcome %d out of range",
                  (int)ev->outcome);
        return -1;
    }
    /* resolution first: its audit entries then precede this event's own */
    if (ev->outcome == CM_OUTCOME_LOADED && dead_letter_resolve (self, ev) != 0)
        return -1;
    if ((ev->outcome == CM_OUTCOME_FAILED || ev->outcome == CM_OUTCOME_REJECTED) &&
        dead_letter_record (self, ev) != 0)
        return -1;
    audit_from_event (self, ev);
    if (audit_put (self, ev->tenant, ev->entity, ev->key, ev->at_ms) != 0)
        return -1;
    if (ev->outcome == CM_OUTCOME_LOADED && ev->sf_id && *ev->sf_id) {
        size_t klen = 0, vlen = 0;
        char *k = simple_key ("s/", ev->sf_id, &klen);
        char *v = record_key ("", ev->tenant, ev->entity, ev->key, 0, &vlen);
        if (!k || !v) {
            free (k);
            free (v);
            snprintf (self->error, sizeof self->error, "out of memory");
            return -1;
        }
        /* without the last NUL: the value is T\0E\0K */
        /* cannot fail: audit_put, with the same family, went first */
        (void)cm_store_batch_put_in (self->batch, self->db, RP_AUDIT, k, klen, v, vlen - 1);
        free (k);
        free (v);
    }
    self->stats.outcomes[ev->outcome]++;
    self->pending++;
    if (self->pending >= RP_STORE_BATCH_MAX)
        return rp_store_flush (self, false);
    return 0;
}

/* ---- reading ----------------------------------------------------------------------- */

bool
rp_filter_match (const rp_filter_t *f, const rp_dead_letter_t *dl)
{
    if (!f)
        return true;
    if (f->tenant && *f->tenant && strcmp (f->tenant, dl->tenant) != 0)
        return false;
    if (f->entity && *f->entity && strcmp (f->entity, dl->entity) != 0)
        return false;
    if (f->code && *f->code && strcmp (f->code, dl->code) != 0)
        return false;
    if (f->since_ms && dl->last_failure_ms < f->since_ms)
        return false;
    if (f->until_ms && dl->last_failure_ms >= f->until_ms)
        return false;
    if (f->text && *f->text && !strstr (dl->message, f->text) && !strstr (dl->key, f->text) &&
        !strstr (dl->fields, f->text) && !strstr (dl->code, f->text) &&
        !strstr (dl->ext_id, f->text))
        return false;
    return true;
}

typedef struct {
    const rp_filter_t *filter; /* what to pass on */
    rp_dead_letter_fn *fn;     /* the caller's callback */
    void *arg;                 /* its argument */
} dl_scan_ctx_t;

static int
dl_scan_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    dl_scan_ctx_t *ctx = arg;
    rp_dead_letter_t *dl = dead_letter_parse (val, vlen);
    if (!dl) {
        cm_warn ("RPL_STORE_CORRUPT", "key=\"%.*s\" reason=\"dead letter is not valid JSON\"",
                 (int)(klen < 80 ? klen : 80), key);
        return 0;
    }
    int rc = rp_filter_match (ctx->filter, dl) ? ctx->fn (dl, ctx->arg) : 0;
    rp_dead_letter_destroy (&dl);
    return rc;
}

int
rp_store_dead_letters (rp_store_t *self, const rp_filter_t *filter, rp_dead_letter_fn *fn,
                       void *arg)
{
    if (!self->read_only && settle (self) != 0)
        return -1;
    dl_scan_ctx_t ctx = {filter, fn, arg};
    if (cm_store_scan (self->db, "d/", 2, NULL, 0, dl_scan_one, &ctx) != 0) {
        set_error (self, "scanning dead letters");
        return -1;
    }
    return 0;
}

typedef struct {
    rp_audit_fn *fn; /* the caller's callback */
    void *arg;       /* its argument */
} audit_scan_ctx_t;

/*  Puts the record's identity (tenant, entity, key, from the entry's key
    a/T\0E\0K\0<at><seq>) into an entry stored without it, before "hash": the entry then
    reads as one written before they were left out of the stored JSON. A member the entry
    has (older versions stored them) is left alone. 0, or -1 when the key is not an audit
    key or on OOM. */
static int
audit_add_record (cJSON *o, const char *key, size_t klen)
{
    static const char *const names[3] = {"tenant", "entity", "key"};
    if (klen < 2 + 3 + 16)
        return -1;
    const char *p = key + 2, *end = key + klen - 16;
    for (int i = 0; i < 3; i++) {
        const char *nul = memchr (p, '\0', (size_t)(end - p));
        if (!nul)
            return -1;
        if (!cJSON_GetObjectItemCaseSensitive (o, names[i])) {
            char *part = strndup (p, (size_t)(nul - p));
            cJSON *item = part ? cJSON_AddStringToObject (o, names[i], part) : NULL;
            free (part);
            if (!item)
                return -1;
            cJSON *hash = cJSON_GetObjectItemCaseSensitive (o, "hash");
            if (hash) {
                /* from the end to just before "hash" (a detached item keeps its name;
                   cJSON_InsertItemInArray of cJSON 1.7.15 refuses a detached item) */
                cJSON_DetachItemViaPointer (o, item);
                item->next = hash;
                item->prev = hash->prev; /* the last child when hash is the first */
                if (hash == o->child)
                    o->child = item;
                else
                    hash->prev->next = item;
                hash->prev = item;
            }
        }
        p = nul + 1;
    }
    return 0;
}

static int
audit_scan_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    audit_scan_ctx_t *ctx = arg;
    cJSON *o = cJSON_ParseWithLength (val, vlen);
    if (!cJSON_IsObject (o) || audit_add_record (o, key, klen) != 0) {
        cm_warn ("RPL_STORE_CORRUPT", "reason=\"%s\"",
                 cJSON_IsObject (o) ? "audit entry key is not a record's"
                                    : "audit entry is not valid JSON");
        cJSON_Delete (o);
        return 0;
    }
    int rc = ctx->fn (o, ctx->arg);
    cJSON_Delete (o);
    return rc;
}

int
rp_store_history (rp_store_t *self, const char *tenant, const char *entity, const char *key,
                  rp_audit_fn *fn, void *arg)
{
    if (!self->read_only && rp_store_flush (self, false) != 0)
        return -1;
    size_t plen = 0;
    char *prefix = record_key ("a/", tenant, entity, key, 0, &plen);
    if (!prefix) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    audit_scan_ctx_t ctx = {fn, arg};
    int rc = cm_store_scan_in (self->db, RP_AUDIT, prefix, plen, NULL, 0, audit_scan_one, &ctx);
    free (prefix);
    if (rc != 0) {
        set_error (self, "scanning audit");
        return -1;
    }
    return 0;
}

int
rp_store_audit_all (rp_store_t *self, rp_audit_fn *fn, void *arg)
{
    if (!self->read_only && rp_store_flush (self, false) != 0)
        return -1;
    audit_scan_ctx_t ctx = {fn, arg};
    if (cm_store_scan_in (self->db, RP_AUDIT, "a/", 2, NULL, 0, audit_scan_one, &ctx) != 0) {
        set_error (self, "scanning audit");
        return -1;
    }
    return 0;
}

int
rp_store_lookup_sf_id (rp_store_t *self, const char *sf_id, char **tenant, char **entity,
                       char **key)
{
    *tenant = *entity = *key = NULL;
    if (!self->read_only && rp_store_flush (self, false) != 0)
        return -1;
    size_t klen = 0, vlen = 0;
    char *k = simple_key ("s/", sf_id, &klen);
    char *v = NULL;
    if (!k) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    int rc = cm_store_get_in (self->db, RP_AUDIT, k, klen, &v, &vlen);
    free (k);
    if (rc < 0) {
        set_error (self, "reading Salesforce Id index");
        return -1;
    }
    if (rc == 0)
        return 0;
    /* T\0E\0K, NUL-terminated beyond vlen by cm_store_get */
    const char *t = v;
    size_t tl = strnlen (t, vlen);
    if (tl + 1 >= vlen) {
        free (v);
        snprintf (self->error, sizeof self->error, "Salesforce Id %s: index value is corrupt",
                  sf_id);
        return -1;
    }
    const char *e = t + tl + 1;
    size_t el = strnlen (e, vlen - tl - 1);
    if (tl + 1 + el + 1 > vlen) {
        free (v);
        snprintf (self->error, sizeof self->error, "Salesforce Id %s: index value is corrupt",
                  sf_id);
        return -1;
    }
    const char *kk = e + el + 1;
    *tenant = strdup (t);
    *entity = strdup (e);
    *key = strndup (kk, vlen - tl - 1 - el - 1);
    free (v);
    if (!*tenant || !*entity || !*key) {
        free (*tenant), free (*entity), free (*key);
        *tenant = *entity = *key = NULL;
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    return 1;
}

/* ---- retention --------------------------------------------------------------------- */

typedef struct {
    rp_store_t *self;  /* the store */
    int64_t cutoff_ms; /* entries older than this go */
    size_t max_visit;  /* entries to look at in this call */
    size_t visited;    /* entries looked at */
    size_t removed;    /* entries deleted */
    int rc;            /* 0, or -1 on OOM */
} expire_ctx_t;

static int
expire_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    expire_ctx_t *ctx = arg;
    rp_store_t *self = ctx->self;
    if (ctx->visited == ctx->max_visit) {
        /* the budget is spent: the next call starts here */
        char *cur = malloc (klen);
        if (!cur) {
            snprintf (self->error, sizeof self->error, "out of memory");
            ctx->rc = -1;
            return 1;
        }
        memcpy (cur, key, klen);
        free (self->exp_cursor);
        self->exp_cursor = cur;
        self->exp_cursor_len = klen;
        return 1;
    }
    ctx->visited++;
    if (klen < 2 + 3 + 16)
        return 0; /* not an audit key of ours; leave it */
    const unsigned char *t = (const unsigned char *)key + klen - 16;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | t[i];
    int64_t at_ms = (int64_t)(u ^ (UINT64_C (1) << 63));
    if (at_ms >= ctx->cutoff_ms)
        return 0;
    /* the history of a record with an open dead letter stays, whatever its age */
    if (cm_map_size (self->open) > 0 && open_has (self, key + 2, klen - 2 - 16))
        return 0;
    (void)cm_store_batch_delete_in (self->batch, self->db, RP_AUDIT, key, klen);
    ctx->removed++;
    return 0;
}

int
rp_store_expire_audit (rp_store_t *self, int64_t cutoff_ms, size_t max_visit, bool *wrapped)
{
    *wrapped = false;
    if (self->read_only) {
        snprintf (self->error, sizeof self->error, "store is read-only");
        return -1;
    }
    if (max_visit == 0)
        return 0;
    expire_ctx_t ctx = {self, cutoff_ms, max_visit, 0, 0, 0};
    char *start = self->exp_cursor;
    size_t slen = self->exp_cursor_len;
    self->exp_cursor = NULL;
    self->exp_cursor_len = 0;
    int rc = cm_store_scan_in (self->db, RP_AUDIT, "a/", 2, start, slen, expire_one, &ctx);
    free (start);
    if (rc != 0) {
        set_error (self, "scanning audit for retention");
        return -1;
    }
    if (ctx.rc != 0)
        return -1;
    *wrapped = self->exp_cursor == NULL;
    if (ctx.removed) {
        self->stats.audit_expired += ctx.removed;
        self->meta_dirty = true;
    }
    return (int)ctx.removed;
}

/* ---- operator actions -------------------------------------------------------------- */

int
rp_store_purge (rp_store_t *self, const char *id, const char *reason)
{
    if (self->read_only) {
        snprintf (self->error, sizeof self->error, "store is read-only");
        return -1;
    }
    if (settle (self) != 0)
        return -1;
    rp_dead_letter_t *dl = NULL;
    int found = dead_letter_get (self, id, &dl);
    if (found <= 0)
        return found;
    int rc = -1;
    if (dead_letter_remove (self, dl) != 0 ||
        audit_own (self, dl, "purged", cm_now_ms (), reason ? reason : "", NULL) != 0)
        goto out;
    self->stats.dl_purged++;
    if (rp_store_flush (self, true) != 0)
        goto out;
    cm_info ("RPL_DL_PURGED", "id=%s tenant=%s entity=%s key=%s", dl->id, dl->tenant, dl->entity,
             dl->key);
    rc = 1;
out:
    rp_dead_letter_destroy (&dl);
    return rc;
}

int
rp_store_note_replay (rp_store_t *self, const char *id)
{
    if (self->read_only) {
        snprintf (self->error, sizeof self->error, "store is read-only");
        return -1;
    }
    rp_dead_letter_t *dl = NULL;
    int found = dead_letter_get (self, id, &dl);
    if (found <= 0)
        return found;
    int rc = -1;
    int64_t now = cm_now_ms ();
    if (rp_dead_letter_awaits_outcome (dl))
        dl->unanswered++; /* the previous replay: lost on the way, or still on its way */
    dl->replays++;
    dl->last_replay_ms = now;
    if (dead_letter_put (self, dl) != 0 || audit_own (self, dl, "replayed", now, NULL, NULL) != 0)
        goto out;
    self->stats.replayed++;
    self->meta_dirty = true;
    rc = 1;
out:
    rp_dead_letter_destroy (&dl);
    return rc;
}
