/*  ex_lease: pending entries, confirmations and lease re-emission. See ex_lease.h. */
#include "ex_lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cm_confirm.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zpeers.h"
#include "cm_zsock.h"

//  One decoded confirmation of a batch and its store keys.
typedef struct {
    cm_confirm_t *c;                 /* decoded, or NULL (ignored) */
    char k[EX_STATE_MAX_KEY + 256];  /* its pending entry "l/<entity>/<key>" */
    char hk[EX_STATE_MAX_KEY + 256]; /* its confirmed hash "h/<entity>/<key>" */
    size_t klen, hklen;              /* their lengths */
    char phash[EX_LEASE_HEADER_MAX]; /* the hash of its pending entry ... */
    bool pending;                    /* ... when there is one */
} s_confirm_t;

struct ex_lease_t {
    ex_state_t *state;                   /* the tenant's state (borrowed) */
    void *sub;                           /* SUB on the confirm endpoint, or NULL */
    cm_zpeers_t *publishers;             /* the SUB's connected publishers, or NULL */
    char *tenant;                        /* our tenant */
    int64_t lease_ms;                    /* lease length */
    int64_t quiet_ms;                    /* re-emit only after this long without a confirmation */
    ex_emit_fn *emit;                    /* re-emission, NULL = none */
    void *emit_arg;                      /* its argument */
    ex_flow_t *flow;                     /* confirmations counted, or NULL */
    atomic_int_fast64_t last_confirm_ms; /* wall clock of the last confirmation, 0 = none */
    atomic_uint_fast64_t confirmed;      /* pending entries confirmed */
    atomic_uint_fast64_t reemitted;      /* pending entries re-emitted */
    atomic_uint_fast64_t ignored;        /* confirmations ignored */
    s_confirm_t *slots;                  /* EX_LEASE_CONFIRM_BATCH, reused by every batch */
    cm_store_batch_t *batch;             /* the confirmations' writes, reused likewise */
    atomic_bool stop;                    /* the thread must stop */
    bool started;                        /* the thread runs */
    pthread_t thread;                    /* the lease thread */
};

/* ---- pending entries ----------------------------------------------------------------- */

/*  "<tag>/<entity>/<key>" into buf: its length, or -1 when the key is too long or it does
    not fit. (Without snprintf: this runs twice per confirmation.) */
static int
s_tag_key (char *buf, size_t cap, char tag, const char *entity, const char *key)
{
    size_t el = strlen (entity), kl = strlen (key);
    if (kl > EX_STATE_MAX_KEY || 2 + el + 1 + kl + 1 > cap)
        return -1;
    buf[0] = tag;
    buf[1] = '/';
    memcpy (buf + 2, entity, el);
    buf[2 + el] = '/';
    memcpy (buf + 3 + el, key, kl + 1);
    return (int)(3 + el + kl);
}

static int
s_key (char *buf, size_t cap, const char *entity, const char *key)
{
    return s_tag_key (buf, cap, 'l', entity, key);
}

int
ex_lease_parse_pending (const char *val, size_t vlen, char *hash, int64_t *at_ms, uint32_t *attempt,
                        size_t *body)
{
    const char *nl = memchr (val, '\n', vlen < EX_LEASE_HEADER_MAX ? vlen : EX_LEASE_HEADER_MAX);
    if (!nl)
        return -1;
    char head[EX_LEASE_HEADER_MAX + 1];
    size_t hlen = (size_t)(nl - val);
    memcpy (head, val, hlen);
    head[hlen] = '\0';
    int64_t at = 0;
    unsigned long att = 0;
    int used = 0;
    if (sscanf (head, "%32s %" SCNd64 " %lu%n", hash, &at, &att, &used) != 3 ||
        (size_t)used != hlen || strlen (hash) != 32 || att == 0 || att > UINT32_MAX)
        return -1;
    *at_ms = at;
    *attempt = (uint32_t)att;
    *body = hlen + 1;
    return 0;
}

/*  Builds a pending value: a malloc'd buffer in *out. 0 or -1. */
static int
s_value (const char *hash, int64_t at_ms, uint32_t attempt, const char *env, size_t env_size,
         char **out, size_t *out_size)
{
    char head[EX_LEASE_HEADER_MAX];
    int hlen = snprintf (head, sizeof head, "%s %" PRId64 " %u\n", hash, at_ms, attempt);
    if (hlen < 0 || (size_t)hlen >= sizeof head)
        return -1;
    char *v = malloc ((size_t)hlen + env_size);
    if (!v)
        return -1;
    memcpy (v, head, (size_t)hlen);
    memcpy (v + hlen, env, env_size);
    *out = v;
    *out_size = (size_t)hlen + env_size;
    return 0;
}

int
ex_lease_stage (ex_state_t *state, const cm_envelope_t *env, int64_t now_ms)
{
    char k[EX_STATE_MAX_KEY + 256];
    int klen = s_key (k, sizeof k, env->entity, env->key);
    char *bytes = NULL, *val = NULL;
    size_t size = 0, vsize = 0;
    if (klen < 0 || cm_envelope_encode (env, &bytes, &size) ||
        s_value (env->hash, now_ms, env->attempt ? env->attempt : 1, bytes, size, &val, &vsize)) {
        free (bytes);
        return -1;
    }
    ex_state_stage_pending (state, k, (size_t)klen, val, vsize);
    ex_state_note_pending (state, k, (size_t)klen, env->hash);
    free (bytes);
    free (val);
    return 0;
}

int
ex_lease_changed (ex_state_t *state, const char *entity, const char *key, const char *hash,
                  char *err, size_t err_cap)
{
    int changed = ex_state_changed (state, entity, key, hash, err, err_cap);
    if (changed != 1)
        return changed;
    char k[EX_STATE_MAX_KEY + 256];
    int klen = s_key (k, sizeof k, entity, key);
    if (klen < 0) {
        snprintf (err, err_cap, "record key of %s is longer than %d bytes", entity,
                  EX_STATE_MAX_KEY);
        return -1;
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc =
        cm_store_get_in (ex_state_store (state), EX_STATE_PENDING, k, (size_t)klen, &val, &vlen);
    if (rc < 0) {
        snprintf (err, err_cap, "%s: reading the pending entry of %s %s: %s", ex_state_path (state),
                  entity, key, cm_store_error (ex_state_store (state)));
        ex_state_fail (state, "%s", err);
        return -1;
    }
    if (rc == 0)
        return 1;
    char phash[EX_LEASE_HEADER_MAX];
    int64_t at;
    uint32_t attempt;
    size_t body;
    /* a corrupt entry: treat the record as changed, the new entry replaces it */
    int same = ex_lease_parse_pending (val, vlen, phash, &at, &attempt, &body) == 0 &&
               strcmp (phash, hash) == 0;
    free (val);
    return same ? 0 : 1;
}

static int
s_count (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (*(int64_t *)arg)++;
    return 0;
}

int64_t
ex_lease_pending_count (ex_state_t *state)
{
    int64_t n = 0;
    if (cm_store_scan_in (ex_state_store (state), EX_STATE_PENDING, "l/", 2, NULL, 0, s_count, &n))
        return -1;
    return n;
}

/* ---- life cycle ---------------------------------------------------------------------- */

ex_lease_t *
ex_lease_new (void *ctx, ex_state_t *state, const ex_lease_config_t *cfg, char *err, size_t err_cap)
{
    ex_lease_t *self = calloc (1, sizeof *self);
    if (!self || !(self->tenant = strdup (cfg->tenant))) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->slots = calloc (EX_LEASE_CONFIRM_BATCH, sizeof *self->slots);
    self->batch = cm_store_batch_new ();
    if (!self->slots || !self->batch) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->state = state;
    self->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : 120000;
    self->quiet_ms = cfg->quiet_ms >= 0 ? cfg->quiet_ms : 0;
    self->emit = cfg->emit;
    self->emit_arg = cfg->emit_arg;
    self->flow = cfg->flow;
    if (cfg->confirm_endpoint && *cfg->confirm_endpoint) {
        /* a deep queue: confirmations of a big backlog wait here, not dropped */
        self->sub =
            cm_zsock_new (ctx, ZMQ_SUB, cfg->confirm_endpoint, false, 1000000, 0, err, err_cap);
        if (!self->sub)
            goto fail;
        if (zmq_setsockopt (self->sub, ZMQ_SUBSCRIBE, self->tenant, strlen (self->tenant))) {
            snprintf (err, err_cap, "%s: subscribe: %s", cfg->confirm_endpoint,
                      zmq_strerror (errno));
            goto fail;
        }
        /* whether a replayer is there to confirm (ex_lease_publishers); without the
           monitor the answer is "none", which only makes a --once run wait less */
        self->publishers = cm_zpeers_new (ctx, self->sub);
    }
    return self;
fail:
    ex_lease_destroy (&self);
    return NULL;
}

static void
s_log (ex_lease_t *self, const char *event)
{
    cm_info (event,
             "tenant=%s pending=%" PRId64 " confirmed=%" PRIu64 " reemitted=%" PRIu64
             " ignored=%" PRIu64,
             self->tenant, ex_lease_pending_count (self->state), (uint64_t)self->confirmed,
             (uint64_t)self->reemitted, (uint64_t)self->ignored);
}

void
ex_lease_destroy (ex_lease_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ex_lease_t *self = *self_p;
    if (self->started) {
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
        s_log (self, "EXT_LEASE");
    }
    cm_zsock_destroy (&self->sub); /* stops the monitor first */
    cm_zpeers_destroy (&self->publishers);
    free (self->slots);
    cm_store_batch_destroy (&self->batch);
    free (self->tenant);
    free (self);
    *self_p = NULL;
}

uint64_t
ex_lease_confirmed (const ex_lease_t *self)
{
    return (uint64_t)self->confirmed;
}

uint64_t
ex_lease_reemitted (const ex_lease_t *self)
{
    return (uint64_t)self->reemitted;
}

int
ex_lease_publishers (const ex_lease_t *self)
{
    return self->publishers ? cm_zpeers_connected (self->publishers) : 0;
}

/* ---- confirmations ------------------------------------------------------------------- */

//  Decodes one body into slot: true when it is for our tenant and its keys fit.
static bool
s_confirm_decode (ex_lease_t *self, const void *data, size_t size, s_confirm_t *slot)
{
    char err[256];
    slot->c = cm_confirm_decode (data, size, err, sizeof err);
    if (!slot->c) {
        cm_warn ("EXT_BAD_CONFIRM", "tenant=%s size=%zu reason=\"%s\"", self->tenant, size, err);
        return false;
    }
    int klen = s_key (slot->k, sizeof slot->k, slot->c->entity, slot->c->key);
    int hklen = s_tag_key (slot->hk, sizeof slot->hk, 'h', slot->c->entity, slot->c->key);
    if (strcmp (slot->c->tenant, self->tenant) != 0 || klen < 0 || hklen < 0) {
        cm_confirm_destroy (&slot->c);
        return false;
    }
    slot->klen = (size_t)klen;
    slot->hklen = (size_t)hklen;
    return true;
}

//  True when an earlier slot of the batch already confirmed the same entry.
static bool
s_confirm_repeated (const s_confirm_t *slots, const bool *done, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (done[j] && slots[j].klen == slots[i].klen &&
            memcmp (slots[j].k, slots[i].k, slots[i].klen) == 0)
            return true;
    return false;
}

int
ex_lease_handle_confirms (ex_lease_t *self, const void *const *data, const size_t *sizes, size_t n,
                          int64_t now_ms)
{
    if (n > EX_LEASE_CONFIRM_BATCH)
        return -1;
    s_confirm_t *slots = self->slots;
    const char *keys[EX_LEASE_CONFIRM_BATCH];
    size_t klens[EX_LEASE_CONFIRM_BATCH], vlens[EX_LEASE_CONFIRM_BATCH];
    size_t read_for[EX_LEASE_CONFIRM_BATCH]; /* the slot of each entry read from the store */
    char *vals[EX_LEASE_CONFIRM_BATCH] = {NULL};
    bool done[EX_LEASE_CONFIRM_BATCH] = {false};
    size_t valid = 0, reads = 0;
    for (size_t i = 0; i < n; i++) {
        slots[i].pending = false;
        if (s_confirm_decode (self, data[i], sizes[i], &slots[i]))
            valid++;
        else
            self->ignored++;
    }
    int rc = 0;
    if (valid == 0)
        goto out;
    atomic_store (&self->last_confirm_ms, now_ms);
    cm_store_t *store = ex_state_store (self->state);
    cm_store_batch_t *b = self->batch;
    size_t need = 0;
    ex_state_lock (self->state);
    /* the pending hashes: from the in-flight index, else (written by an earlier run, or
       not indexed) read from the store, all such in one MultiGet */
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].c)
            continue;
        if (ex_state_inflight_hash (self->state, slots[i].k, slots[i].klen, slots[i].phash))
            slots[i].pending = true;
        else {
            keys[reads] = slots[i].k;
            klens[reads] = slots[i].klen;
            read_for[reads++] = i;
        }
    }
    if (reads &&
        cm_store_multi_get_in (store, EX_STATE_PENDING, reads, keys, klens, vals, vlens) != 0)
        rc = -1;
    for (size_t r = 0; rc >= 0 && r < reads; r++) {
        int64_t at;
        uint32_t attempt;
        size_t body;
        s_confirm_t *slot = &slots[read_for[r]];
        slot->pending = vals[r] && ex_lease_parse_pending (vals[r], vlens[r], slot->phash, &at,
                                                           &attempt, &body) == 0;
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (!slots[i].c)
            continue;
        if (slots[i].pending && strcmp (slots[i].phash, slots[i].c->hash) == 0 &&
            !s_confirm_repeated (slots, done, i)) {
            ex_state_inflight_forget (self->state, slots[i].k, slots[i].klen);
            (void)cm_store_batch_delete_in (b, store, EX_STATE_PENDING, slots[i].k, slots[i].klen);
            cm_store_batch_put (b, slots[i].hk, slots[i].hklen, slots[i].c->hash,
                                strlen (slots[i].c->hash));
            need += slots[i].klen + slots[i].hklen + 64;
            done[i] = true;
            rc++;
        } else
            self->ignored++; /* no pending entry, or for another version */
    }
    char serr[512] = "";
    if (rc > 0 && (ex_state_check_space (self->state, need, serr, sizeof serr) ||
                   cm_store_batch_commit (store, b, false)))
        rc = -1;
    ex_state_unlock (self->state);
    if (rc > 0) {
        self->confirmed += (uint64_t)rc;
        if (self->flow)
            ex_flow_confirmed (self->flow, (uint64_t)rc);
    }
    if (rc < 0)
        ex_state_fail (self->state, "%s: confirming %zu records (pending entries and hashes): %s",
                       ex_state_path (self->state), valid, serr[0] ? serr : cm_store_error (store));
out:
    for (size_t i = 0; i < n; i++) {
        free (vals[i]);
        cm_confirm_destroy (&slots[i].c);
    }
    return rc;
}

int
ex_lease_handle_confirm (ex_lease_t *self, const void *data, size_t size, int64_t now_ms)
{
    return ex_lease_handle_confirms (self, &data, &size, 1, now_ms);
}

/* ---- re-emission ---------------------------------------------------------------------- */

typedef struct {
    ex_lease_t *self; /* the lease */
    int64_t now_ms;   /* scan time */
    char **keys;      /* expired keys found (malloc'd) */
    size_t count;     /* how many */
} scan_t;

static int
s_expired (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    scan_t *sc = arg;
    char hash[EX_LEASE_HEADER_MAX];
    int64_t at;
    uint32_t attempt;
    size_t body;
    if (ex_lease_parse_pending (val, vlen, hash, &at, &attempt, &body) != 0) {
        cm_warn ("EXT_PENDING_CORRUPT", "key=%.*s", (int)(klen < 200 ? klen : 200), key);
        return 0;
    }
    if (at + sc->self->lease_ms > sc->now_ms)
        return 0;
    char *copy = strndup (key, klen);
    if (!copy)
        return 1;
    sc->keys[sc->count++] = copy;
    return sc->count >= EX_LEASE_SCAN_MAX;
}

/*  Reads and parses the pending entry k: 1 (val malloc'd, header parsed), 0 when absent or
    corrupt, -1 on a store error. */
static int
s_read (ex_lease_t *self, const char *k, char **val, size_t *vlen, char *hash, int64_t *at,
        uint32_t *attempt, size_t *body)
{
    *val = NULL;
    int got =
        cm_store_get_in (ex_state_store (self->state), EX_STATE_PENDING, k, strlen (k), val, vlen);
    if (got <= 0)
        return got;
    if (ex_lease_parse_pending (*val, *vlen, hash, at, attempt, body) != 0) {
        free (*val);
        *val = NULL;
        return 0;
    }
    return 1;
}

/*  Re-emits one expired entry: read, emit (outside the lock: a send may wait), then under
    the lock and only if the entry is still the one emitted, record the new attempt.
    1 re-emitted, 0 not (gone, newer, corrupt, emit failed), -1 on a store error. */
static int
s_reemit_one (ex_lease_t *self, const char *k, int64_t now_ms)
{
    cm_store_t *store = ex_state_store (self->state);
    char *val = NULL, *val2 = NULL, *nval = NULL, *bytes = NULL;
    size_t vlen = 0, vlen2 = 0, nsize = 0, size = 0;
    cm_envelope_t *env = NULL;
    int rc = 0;
    char hash[EX_LEASE_HEADER_MAX], hash2[EX_LEASE_HEADER_MAX];
    int64_t at, at2;
    uint32_t attempt, attempt2;
    size_t body, body2;
    char err[256];
    int got = s_read (self, k, &val, &vlen, hash, &at, &attempt, &body);
    if (got < 0) {
        rc = -1;
        goto out;
    }
    if (got == 0 || at + self->lease_ms > now_ms)
        goto out;
    env = cm_envelope_decode (val + body, vlen - body, err, sizeof err);
    if (!env) {
        cm_warn ("EXT_PENDING_CORRUPT", "key=%s reason=\"%s\"", k, err);
        goto out;
    }
    env->attempt = attempt + 1;
    env->sent_at_ms = now_ms;
    if (!self->emit || self->emit (env, self->emit_arg) != 0)
        goto out;
    if (cm_envelope_encode (env, &bytes, &size) ||
        s_value (hash, now_ms, env->attempt, bytes, size, &nval, &nsize))
        goto out;
    ex_state_lock (self->state);
    got = s_read (self, k, &val2, &vlen2, hash2, &at2, &attempt2, &body2);
    if (got < 0)
        rc = -1;
    else if (got == 1 && strcmp (hash, hash2) == 0 && at == at2 && attempt == attempt2)
        rc = ex_state_check_space (self->state, strlen (k) + nsize, err, sizeof err) ||
                     cm_store_put_in (store, EX_STATE_PENDING, k, strlen (k), nval, nsize, false)
                 ? -1
                 : 1;
    else
        rc = 1; /* emitted; meanwhile confirmed or replaced by a newer version */
    ex_state_unlock (self->state);
out:
    if (rc < 0)
        ex_state_fail (self->state, "%s: re-emitting the pending entry %s: %s",
                       ex_state_path (self->state), k, cm_store_error (store));
    cm_envelope_destroy (&env);
    free (val);
    free (val2);
    free (nval);
    free (bytes);
    return rc;
}

int
ex_lease_reemit (ex_lease_t *self, int64_t now_ms)
{
    if (!self->emit)
        return 0;
    int64_t last = atomic_load (&self->last_confirm_ms);
    if (last && now_ms - last < self->quiet_ms)
        return 0; /* confirmations flow: a backlog is draining */
    scan_t sc = {self, now_ms, calloc (EX_LEASE_SCAN_MAX, sizeof (char *)), 0};
    if (!sc.keys)
        return 0;
    int rc = 0;
    if (cm_store_scan_in (ex_state_store (self->state), EX_STATE_PENDING, "l/", 2, NULL, 0,
                          s_expired, &sc)) {
        ex_state_fail (self->state, "%s: reading the pending entries: %s",
                       ex_state_path (self->state), cm_store_error (ex_state_store (self->state)));
        rc = -1;
    }
    for (size_t i = 0; i < sc.count; i++) {
        if (rc >= 0 && !atomic_load (&self->stop)) {
            int one = s_reemit_one (self, sc.keys[i], now_ms);
            if (one < 0)
                rc = -1;
            else
                rc += one;
        }
        free (sc.keys[i]);
    }
    free (sc.keys);
    if (rc > 0)
        self->emit (NULL, self->emit_arg); /* the end of the batch (ex_emit_fn) */
    if (rc > 0) {
        self->reemitted += (uint64_t)rc;
        cm_info ("EXT_LEASE_REEMIT", "tenant=%s count=%d lease_ms=%" PRId64, self->tenant, rc,
                 self->lease_ms);
    }
    return rc;
}

/* ---- the thread ----------------------------------------------------------------------- */

//  Receives one confirmation: its body frame in *body (closed by the caller) and 1, 0 when
//  nothing is queued, or 2 for a message that is not a confirmation (one frame, or more
//  than two: dropped).
static int
s_recv_one (ex_lease_t *self, zmq_msg_t *body)
{
    zmq_msg_t topic;
    zmq_msg_init (&topic);
    if (zmq_msg_recv (&topic, self->sub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&topic);
        return 0;
    }
    bool more = zmq_msg_more (&topic);
    zmq_msg_close (&topic);
    if (!more)
        return 2;
    if (zmq_msg_recv (body, self->sub, 0) < 0)
        return 2;
    bool extra = zmq_msg_more (body);
    if (!extra)
        return 1;
    while (extra) { /* drop extra frames */
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        extra = zmq_msg_recv (&msg, self->sub, 0) >= 0 && zmq_msg_more (&msg);
        zmq_msg_close (&msg);
    }
    return 2;
}

//  Reads what is queued on the SUB socket, in batches of EX_LEASE_CONFIRM_BATCH (one store
//  read and one write each). 0, or -1 on a store error.
static int
s_drain (ex_lease_t *self)
{
    zmq_msg_t msgs[EX_LEASE_CONFIRM_BATCH];
    const void *data[EX_LEASE_CONFIRM_BATCH];
    size_t sizes[EX_LEASE_CONFIRM_BATCH];
    for (int round = 0; round < 10000 / EX_LEASE_CONFIRM_BATCH; round++) {
        size_t n = 0;
        bool empty = false;
        while (n < EX_LEASE_CONFIRM_BATCH) {
            zmq_msg_init (&msgs[n]);
            int got = s_recv_one (self, &msgs[n]);
            if (got == 1) {
                data[n] = zmq_msg_data (&msgs[n]);
                sizes[n] = zmq_msg_size (&msgs[n]);
                n++;
                continue;
            }
            zmq_msg_close (&msgs[n]);
            if (got == 0) {
                empty = true;
                break;
            }
        }
        int rc = n ? ex_lease_handle_confirms (self, data, sizes, n, cm_now_ms ()) : 0;
        for (size_t i = 0; i < n; i++)
            zmq_msg_close (&msgs[i]);
        if (rc < 0)
            return -1;
        if (empty)
            break;
    }
    return 0;
}

static void *
s_run (void *arg)
{
    ex_lease_t *self = arg;
    cm_store_thread_init (); /* a write per confirmation batch */
    int64_t next_scan = cm_mono_ms () + EX_LEASE_SCAN_MS;
    int64_t next_log = cm_mono_ms () + EX_LEASE_LOG_MS;
    zmq_pollitem_t items[2] = {{self->sub, 0, ZMQ_POLLIN, 0}, {NULL, 0, ZMQ_POLLIN, 0}};
    int nitems = 1;
    if (self->publishers) {
        items[1].socket = cm_zpeers_socket (self->publishers);
        nitems = 2;
    }
    while (!atomic_load (&self->stop) && !cm_signal_stop_requested ()) {
        if (self->sub) {
            if (zmq_poll (items, nitems, 200) < 0 && errno != EINTR)
                break;
            if (nitems == 2 && (items[1].revents & ZMQ_POLLIN))
                cm_zpeers_read (self->publishers);
            if (s_drain (self) < 0) {
                cm_error ("EXT_LEASE_STOPPED", "tenant=%s reason=\"state store error\"",
                          self->tenant);
                cm_signal_request_stop ();
                return NULL;
            }
        } else
            cm_sleep_ms (200);
        int64_t now = cm_mono_ms ();
        if (now >= next_scan) {
            if (ex_lease_reemit (self, cm_now_ms ()) < 0) {
                cm_error ("EXT_LEASE_STOPPED", "tenant=%s reason=\"state store error\"",
                          self->tenant);
                cm_signal_request_stop ();
                return NULL;
            }
            next_scan = cm_mono_ms () + EX_LEASE_SCAN_MS;
        }
        if (now >= next_log) {
            s_log (self, "EXT_LEASE");
            next_log = now + EX_LEASE_LOG_MS;
        }
    }
    return NULL;
}

int
ex_lease_start (ex_lease_t *self)
{
    if (pthread_create (&self->thread, NULL, s_run, self) != 0)
        return -1;
    self->started = true;
    return 0;
}
