/*  ex_poller: one incremental poll of one entity. See ex_poller.h. */
#include "ex_poller.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "ex_lease.h"

#define EX_POLLER_MAX_NAME 128 /* longest IDO or property name */
#define EX_POLLER_LOOKUP   32  /* records whose stored state is read in one store call */
#define EX_POLLER_HOLD     256 /* changed records made pending in one commit, then handed on */

struct ex_poller_t {
    char *tenant;                        /* tenant id for envelopes */
    char *entity;                        /* entity name */
    char *ido;                           /* IDO name */
    char *watermark;                     /* watermark property */
    char *properties;                    /* requested property list, comma-separated, or "*" */
    char *orderby;                       /* watermark property, then the key properties */
    char **props;                        /* requested properties (empty when "*") */
    size_t prop_count;                   /* number of props */
    char **keys;                         /* key properties */
    size_t key_count;                    /* number of keys */
    int page_size;                       /* recordcap */
    int overlap_s;                       /* watermark overlap window */
    ex_state_t *state;                   /* state store (borrowed) */
    ex_load_fn *load;                    /* page loader */
    void *load_arg;                      /* its argument (borrowed) */
    cm_envelope_t *held[EX_POLLER_HOLD]; /* changed records staged pending, not handed on yet */
    size_t held_count;                   /* number of them */
};

int
ex_entity_from_config (const cm_config_t *cfg, const char *entity, ex_entity_t *ent)
{
    char k[128];
    memset (ent, 0, sizeof *ent);
    ent->entity = entity;
#define S_KEY(field) (snprintf (k, sizeof k, "cloudsuite.%s." field, entity), k)
    ent->ido = cm_config_str (cfg, S_KEY ("ido"));
    ent->properties = cm_config_str (cfg, S_KEY ("properties"));
    ent->key = cm_config_str (cfg, S_KEY ("key"));
    ent->watermark = cm_config_str (cfg, S_KEY ("watermark"));
    ent->page_size = (int)cm_config_int (cfg, "cloudsuite.page_size");
    ent->overlap_s = (int)cm_config_int (cfg, "cloudsuite.overlap_s");
    ent->poll_interval_s = (int)cm_config_int (cfg, S_KEY ("poll_interval_s"));
    if (ent->poll_interval_s <= 0)
        ent->poll_interval_s = (int)cm_config_int (cfg, "cloudsuite.poll_interval_s");
    ent->full_interval_s = (int)cm_config_int (cfg, "cloudsuite.full_sync_interval_s");
    return 0;
#undef S_KEY
}

static bool
s_name_ok (const char *s)
{
    if (!s || !*s || strlen (s) > EX_POLLER_MAX_NAME)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/*  Splits a comma list (spaces around names trimmed) into *list, appending to *count.
    Returns 0, or -1 with a message naming the setting. */
static int
s_split (const char *entity, const char *setting, const char *text, char ***list, size_t *count,
         char *err, size_t err_cap)
{
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = strchr (p, ',');
        size_t n = e ? (size_t)(e - p) : strlen (p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        char name[EX_POLLER_MAX_NAME + 2];
        snprintf (name, sizeof name, "%.*s", (int)(n < sizeof name - 1 ? n : sizeof name - 1), p);
        if (n > EX_POLLER_MAX_NAME || !s_name_ok (name)) {
            snprintf (err, err_cap,
                      "cloudsuite.%s.%s: '%.64s' is not a property name (letters, digits, "
                      "'_')",
                      entity, setting, name);
            return -1;
        }
        if (*count >= EX_POLLER_MAX_PROPS) {
            snprintf (err, err_cap, "cloudsuite.%s.%s: more than %d properties", entity, setting,
                      EX_POLLER_MAX_PROPS);
            return -1;
        }
        char **grown = realloc (*list, (*count + 1) * sizeof **list);
        if (!grown || !(grown[*count] = strdup (name))) {
            if (grown)
                *list = grown;
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        *list = grown;
        (*count)++;
        if (!e)
            break;
        p = e + 1;
    }
    if (*count == 0) {
        snprintf (err, err_cap, "cloudsuite.%s.%s: empty", entity, setting);
        return -1;
    }
    return 0;
}

static bool
s_has (char **list, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (list[i], name) == 0)
            return true;
    return false;
}

/*  Joins list with ',' (prefix first when set). Returns malloc'd text or NULL. */
static char *
s_join (const char *prefix, char **list, size_t count)
{
    size_t cap = (prefix ? strlen (prefix) + 1 : 0) + 1;
    for (size_t i = 0; i < count; i++)
        cap += strlen (list[i]) + 1;
    char *out = malloc (cap);
    if (!out)
        return NULL;
    size_t len = 0;
    out[0] = '\0';
    if (prefix)
        len += (size_t)snprintf (out, cap, "%s", prefix);
    for (size_t i = 0; i < count; i++)
        len += (size_t)snprintf (out + len, cap - len, "%s%s", len ? "," : "", list[i]);
    return out;
}

static void
s_free_list (char ***list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free ((*list)[i]);
    free (*list);
    *list = NULL;
}

ex_poller_t *
ex_poller_new (const char *tenant, const ex_entity_t *ent, ex_state_t *state, ex_load_fn *load,
               void *load_arg, char *err, size_t err_cap)
{
    ex_poller_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->state = state;
    self->load = load;
    self->load_arg = load_arg;
    self->page_size = ent->page_size;
    self->overlap_s = ent->overlap_s;
    self->tenant = strdup (tenant);
    self->entity = strdup (ent->entity);
    if (!self->tenant || !self->entity) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    if (!s_name_ok (ent->ido)) {
        snprintf (err, err_cap, "cloudsuite.%s.ido: '%.64s' is not an IDO name", ent->entity,
                  ent->ido ? ent->ido : "");
        goto fail;
    }
    if (!s_name_ok (ent->watermark)) {
        snprintf (err, err_cap, "cloudsuite.%s.watermark: '%.64s' is not a property name",
                  ent->entity, ent->watermark ? ent->watermark : "");
        goto fail;
    }
    if (ent->page_size <= 0 || ent->overlap_s < 0) {
        snprintf (err, err_cap, "cloudsuite.page_size must be > 0 and overlap_s >= 0");
        goto fail;
    }
    self->ido = strdup (ent->ido);
    self->watermark = strdup (ent->watermark);
    if (!self->ido || !self->watermark) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    if (s_split (ent->entity, "key", ent->key, &self->keys, &self->key_count, err, err_cap))
        goto fail;
    bool all = ent->properties && strcmp (ent->properties, "*") == 0;
    if (!all) {
        if (s_split (ent->entity, "properties", ent->properties, &self->props, &self->prop_count,
                     err, err_cap))
            goto fail;
        /* the poller cannot work without the key and watermark: request them anyway */
        for (size_t i = 0; i <= self->key_count; i++) {
            const char *need = i < self->key_count ? self->keys[i] : self->watermark;
            if (!s_has (self->props, self->prop_count, need) &&
                s_split (ent->entity, "properties", need, &self->props, &self->prop_count, err,
                         err_cap))
                goto fail;
        }
        self->properties = s_join (NULL, self->props, self->prop_count);
    } else
        self->properties = strdup ("*");
    self->orderby = s_join (self->watermark, self->keys, self->key_count);
    if (!self->properties || !self->orderby) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    return self;
fail:
    ex_poller_destroy (&self);
    return NULL;
}

void
ex_poller_destroy (ex_poller_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ex_poller_t *self = *self_p;
    for (size_t i = 0; i < self->held_count; i++)
        cm_envelope_destroy (&self->held[i]);
    s_free_list (&self->props, self->prop_count);
    s_free_list (&self->keys, self->key_count);
    free (self->tenant);
    free (self->entity);
    free (self->ido);
    free (self->watermark);
    free (self->properties);
    free (self->orderby);
    free (self);
    *self_p = NULL;
}

const char *
ex_poller_entity (const ex_poller_t *self)
{
    return self->entity;
}

const char *
ex_poller_properties (const ex_poller_t *self)
{
    return self->properties;
}

/*  Builds the envelope of item i, or returns NULL: *skip set when the item has an empty
    key value (logged, not emitted), otherwise an error in err. */
static cm_envelope_t *
s_envelope (ex_poller_t *self, const cs_ido_page_t *page, size_t i, bool *skip, char *err,
            size_t err_cap)
{
    char key[EX_STATE_MAX_KEY + 1];
    size_t len = 0;
    cm_envelope_t *env = NULL;
    *skip = false;
    key[0] = '\0';
    size_t next = 0; /* the properties come in the order the request named them */
    for (size_t k = 0; k < self->key_count; k++) {
        const char *v = cs_ido_page_get_next (page, i, self->keys[k], &next);
        if (!v) {
            snprintf (err, err_cap,
                      "%s: the response lacks key property %s (check "
                      "cloudsuite.%s.key)",
                      self->ido, self->keys[k], self->entity);
            return NULL;
        }
        if (!*v || strlen (v) + len + 1 > EX_STATE_MAX_KEY) {
            cm_warn ("EXT_BAD_RECORD", "tenant=%s entity=%s property=%s reason=%s", self->tenant,
                     self->entity, self->keys[k], *v ? "key too long" : "empty key value");
            *skip = true;
            return NULL;
        }
        len += (size_t)snprintf (key + len, sizeof key - len, "%s%s", k ? "/" : "", v);
    }
    env = cm_envelope_new (self->tenant, self->entity, key);
    if (!env)
        goto oom;
    if (self->prop_count) {
        next = 0;
        for (size_t p = 0; p < self->prop_count; p++) {
            const char *v = cs_ido_page_get_next (page, i, self->props[p], &next);
            if (cm_envelope_add_field (env, self->props[p], v ? v : ""))
                goto oom;
        }
    } else {
        size_t n = cs_ido_page_prop_count (page, i);
        for (size_t p = 0; p < n; p++) {
            const char *name = cs_ido_page_prop_name (page, i, p);
            if (name[0] == '_')
                continue; /* _ItemId and other row metadata change without the record */
            /* an empty or repeated name (a malformed answer) would make an envelope every
               decoder refuses, and the record would be lost: keep the first, as
               cs_ido_page_get does */
            if (name[0] == '\0' || cm_envelope_field (env, name))
                continue;
            if (cm_envelope_add_field (env, name, cs_ido_page_prop_value (page, i, p)))
                goto oom;
        }
    }
    cm_envelope_compute_hash (env);
    return env;
oom:
    snprintf (err, err_cap, "out of memory or too many fields building the envelope");
    cm_envelope_destroy (&env);
    return NULL;
}

/*  True when a pending entry (ex_lease.h: "<hash> <emitted_at_ms> <attempt>\n" + the
    envelope) holds hash. A corrupt header never does (the new entry replaces it), as in
    ex_lease_changed. */
static bool
s_pending_same (const char *val, size_t vlen, const char *hash)
{
    char phash[EX_LEASE_HEADER_MAX + 1];
    int64_t at = 0;
    uint32_t attempt = 0;
    size_t body = 0;
    return ex_lease_parse_pending (val, vlen, phash, &at, &attempt, &body) == 0 &&
           strcmp (phash, hash) == 0;
}

/*  Decides which of n (<= EX_POLLER_LOOKUP) records changed (changed[i] 1 or 0):
    unchanged are those whose confirmed hash, or else whose pending hash (the lease owns
    those), equals the record's: ex_lease_changed's rule, with one store read for the
    hashes and one for the pending entries of the records whose hash differs. 0, or -1
    (err). */
static int
s_changed (ex_poller_t *self, size_t n, const char *const *keys, const char *const *hashes,
           int *changed, char *err, size_t err_cap)
{
    const char *pkeys[EX_POLLER_LOOKUP]; /* keys of the records whose confirmed hash differs */
    size_t pidx[EX_POLLER_LOOKUP];       /* their index in keys */
    char *pvals[EX_POLLER_LOOKUP];       /* their pending entries (NULL: none) */
    size_t plens[EX_POLLER_LOOKUP];      /* lengths of pvals */
    size_t pn = 0;                       /* number of them */

    if (ex_state_changed_many (self->state, self->entity, n, keys, hashes, changed, err, err_cap))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (changed[i]) {
            pidx[pn] = i;
            pkeys[pn++] = keys[i];
        }
    if (ex_state_get_many (self->state, 'l', self->entity, pn, pkeys, pvals, plens, err, err_cap))
        return -1;
    for (size_t j = 0; j < pn; j++) {
        if (pvals[j] && s_pending_same (pvals[j], plens[j], hashes[pidx[j]]))
            changed[pidx[j]] = 0;
        free (pvals[j]);
    }
    return 0;
}

//  Destroys the held records (a failed page: their pending entries are discarded too).
static void
s_drop_held (ex_poller_t *self)
{
    for (size_t i = 0; i < self->held_count; i++)
        cm_envelope_destroy (&self->held[i]);
    self->held_count = 0;
}

/*  Commits what is staged (the held records' pending entries, and the watermark when the
    page staged it), then hands the held records on in page order and destroys them. The
    commit comes first so that a confirmation, which can come back within milliseconds,
    never arrives before the pending entry it confirms (it would be ignored: the record
    re-sent after its lease, and counted in flight for good). 0, or -1 (err): a failed
    commit discards the staged state and hands on nothing; a failed hand-off leaves the
    rest pending, for the lease to re-emit. */
static int
s_hand_on (ex_poller_t *self, ex_emit_fn *emit, void *emit_arg, ex_poll_stats_t *stats, char *err,
           size_t err_cap)
{
    /* not fsync'd: after a machine crash the state may only fall back (re-emitting a few
       pages); the caller syncs once per poll (ex_state_set_times) */
    if (ex_state_commit (self->state, false, err, err_cap)) {
        ex_state_discard (self->state);
        s_drop_held (self);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < self->held_count; i++) {
        cm_envelope_t *env = self->held[i];
        if (rc == 0 && emit (env, emit_arg)) {
            snprintf (err, err_cap, "could not hand on %s %s", self->entity, env->key);
            rc = -1;
        } else if (rc == 0)
            stats->emitted++;
        cm_envelope_destroy (&self->held[i]);
    }
    self->held_count = 0;
    return rc;
}

/*  Stages the pending entries of the changed ones of envs[0..count) and holds them (handed
    on by s_hand_on, at once when the hold is full); destroys the others. 0, or -1 (err). */
static int
s_hold_batch (ex_poller_t *self, cm_envelope_t **envs, size_t count, const int *changed,
              ex_emit_fn *emit, void *emit_arg, ex_poll_stats_t *stats, char *err, size_t err_cap)
{
    int rc = 0;
    for (size_t j = 0; j < count; j++) {
        if (rc == 0 && changed[j]) {
            stats->changed++;
            if (self->held_count == EX_POLLER_HOLD &&
                s_hand_on (self, emit, emit_arg, stats, err, err_cap))
                rc = -1;
            /* pending until the replayer confirms its outcome (docs/delivery.md) */
            else if (ex_lease_stage (self->state, envs[j], cm_now_ms ())) {
                snprintf (err, err_cap,
                          "record key too long for the state, or the envelope does not encode");
                rc = -1;
            } else {
                self->held[self->held_count++] = envs[j];
                envs[j] = NULL;
            }
        }
        cm_envelope_destroy (&envs[j]);
    }
    return rc;
}

/*  Reads one page: its changed records are staged pending and held (s_hold_batch), at most
    EX_POLLER_HOLD at a time. Returns 0 or -1 (err). Updates *max_ms with the largest
    watermark of the page. What is staged and held is left for the caller to hand on
    (s_hand_on) or drop.
    Records are built EX_POLLER_LOOKUP at a time, so that their stored state is read in one
    go (s_changed), then the changed ones are emitted in page order; a first backfill
    (fresh: nothing stored) reads nothing and goes one record at a time. Small groups, not
    the whole page: holding hundreds of envelopes at once costs more in malloc than the
    lookups it would save. */
static int
s_page (ex_poller_t *self, const cs_ido_page_t *page, bool fresh, ex_emit_fn *emit, void *emit_arg,
        ex_poll_stats_t *stats, int64_t *max_ms, char *err, size_t err_cap)
{
    size_t n = cs_ido_page_size (page);
    size_t group = fresh ? 1 : EX_POLLER_LOOKUP;
    cm_envelope_t *envs[EX_POLLER_LOOKUP]; /* a group of records, usable keys only */
    const char *keys[EX_POLLER_LOOKUP];    /* their keys */
    const char *hashes[EX_POLLER_LOOKUP];  /* their content hashes */
    int changed[EX_POLLER_LOOKUP];         /* 1: emit */
    size_t i = 0;
    while (i < n) {
        size_t count = 0;
        for (; i < n && count < group; i++) {
            stats->seen++;
            bool skip = false;
            cm_envelope_t *env = s_envelope (self, page, i, &skip, err, err_cap);
            if (!env && skip) {
                stats->skipped++;
                continue;
            }
            if (!env) {
                for (size_t j = 0; j < count; j++)
                    cm_envelope_destroy (&envs[j]);
                return -1;
            }
            const char *wm = cs_ido_page_get (page, i, self->watermark);
            int64_t wm_ms;
            if (wm && cm_time_parse_sql (wm, &wm_ms) == 0) {
                if (wm_ms > *max_ms)
                    *max_ms = wm_ms;
            } else
                cm_warn ("EXT_BAD_WATERMARK", "tenant=%s entity=%s key=%s property=%s value=%s",
                         self->tenant, self->entity, env->key, self->watermark,
                         wm ? "unparsable" : "absent");
            envs[count] = env;
            keys[count] = env->key;
            hashes[count] = env->hash;
            changed[count] = 1; /* nothing to compare with while the entity was empty */
            count++;
        }
        if (!fresh && count > 0 && s_changed (self, count, keys, hashes, changed, err, err_cap)) {
            for (size_t j = 0; j < count; j++)
                cm_envelope_destroy (&envs[j]);
            return -1;
        }
        if (s_hold_batch (self, envs, count, changed, emit, emit_arg, stats, err, err_cap))
            return -1;
    }
    return 0;
}

int
ex_poller_poll (ex_poller_t *self, bool full, ex_emit_fn *emit, void *emit_arg,
                ex_poll_stats_t *stats, char *err, size_t err_cap)
{
    int rc = -1;
    char stored[64];
    char filter[EX_POLLER_MAX_NAME + 64];
    char *bookmark = NULL;
    cs_ido_page_t *page = NULL;
    int64_t start = cm_mono_ms ();
    int64_t stored_ms = INT64_MIN;
    int64_t max_ms = INT64_MIN;

    memset (stats, 0, sizeof *stats);
    stats->full = true; /* until a stored watermark gives a filter */
    filter[0] = '\0';
    int has = ex_state_watermark (self->state, self->entity, stored, sizeof stored, err, err_cap);
    if (has < 0)
        goto out;
    if (has) {
        if (cm_time_parse_sql (stored, &stored_ms)) {
            snprintf (err, err_cap, "stored watermark of %s is corrupt", self->entity);
            goto out;
        }
        max_ms = stored_ms;
        stats->full = full;
        if (!full) {
            char from[32];
            cm_time_format_sql (stored_ms - (int64_t)self->overlap_s * 1000, from);
            snprintf (filter, sizeof filter, "%s >= '%s'", self->watermark, from);
        }
    }

    /* a first backfill (no hash, no pending entry stored): every record is new. A record
       read twice in this poll (it changed while the poll ran) is then emitted twice, which
       downstream absorbs (an upsert by external ID). */
    int fresh = ex_state_entity_empty (self->state, self->entity, err, err_cap);
    if (fresh < 0)
        goto out;

    for (;;) {
        if (cm_signal_stop_requested ()) {
            rc = 1;
            goto out;
        }
        cs_ido_query_t q = {.ido = self->ido,
                            .properties = self->properties,
                            .filter = filter[0] ? filter : NULL,
                            .orderby = self->orderby,
                            .recordcap = self->page_size,
                            .bookmark = bookmark};
        if (self->load (self->load_arg, &q, &page, err, err_cap)) {
            if (cm_signal_stop_requested ())
                rc = 1; /* interrupted (a wait for confirmations, a retry back-off) */
            goto out;
        }
        stats->pages++;
        int64_t page_max = max_ms;
        int prc = s_page (self, page, fresh == 1, emit, emit_arg, stats, &page_max, err, err_cap);
        if (prc == 0 && page_max > max_ms) {
            char text[32];
            if (ex_state_stage_watermark (self->state, self->entity,
                                          cm_time_format_sql (page_max, text))) {
                snprintf (err, err_cap, "cannot stage watermark");
                prc = -1;
            } else
                max_ms = page_max;
        }
        if (prc) {
            ex_state_discard (self->state);
            s_drop_held (self);
        } else
            prc = s_hand_on (self, emit, emit_arg, stats, err, err_cap);
        emit (NULL, emit_arg); /* the end of the page: what the emitter holds back leaves */
        if (prc)
            goto out;
        if (!cs_ido_page_more (page))
            break;
        /* guard against a server that would page forever */
        const char *next = cs_ido_page_bookmark (page);
        if (!next) {
            snprintf (err, err_cap, "%s: MoreRowsExist is true but no Bookmark was returned",
                      self->ido);
            goto out;
        }
        if (bookmark && strcmp (bookmark, next) == 0) {
            snprintf (err, err_cap, "%s: the Bookmark did not advance (paging loop)", self->ido);
            goto out;
        }
        if (cs_ido_page_size (page) == 0) {
            snprintf (err, err_cap, "%s: an empty page claims MoreRowsExist", self->ido);
            goto out;
        }
        free (bookmark);
        bookmark = strdup (next);
        cs_ido_page_destroy (&page);
        if (!bookmark) {
            snprintf (err, err_cap, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    stats->ms = cm_mono_ms () - start;
    if (rc == 0 || rc == 1)
        cm_info ("EXT_POLL_DONE", "tenant=%s entity=%s seen=%zu changed=%zu pages=%zu ms=%lld%s%s",
                 self->tenant, self->entity, stats->seen, stats->changed, stats->pages,
                 (long long)stats->ms, full ? " full=1" : "", rc == 1 ? " stopped=1" : "");
    else {
        char why[1024];
        cm_log_excerpt (err, strlen (err), 600, why, sizeof why);
        cm_error ("EXT_POLL_FAILED",
                  "tenant=%s entity=%s seen=%zu emitted=%zu pages=%zu reason=\"%s\"", self->tenant,
                  self->entity, stats->seen, stats->emitted, stats->pages, why);
    }
    cs_ido_page_destroy (&page);
    free (bookmark);
    return rc;
}
