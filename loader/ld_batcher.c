/*  ld_batcher: bounded grouping, flushing, per-record ordering and retry scheduling.
    See ld_batcher.h.

    Each record (tenant, sObject, external-ID field, external ID) has at most one "live"
    item: in its group's list or in flight at the caller. The index maps the record key to
    that item; newer versions hang off it in its `later` chain until ld_batcher_done. */
#include "ld_batcher.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sf_collections.h"

#define LD_CHILD_WAIT_MS  2000 /* default: children held behind due parents at most this long */
#define LD_SIBLING_WINDOW 4    /* a Collections batch looks at most this many batches ahead */

//  One (org, sObject, external-ID field) - (tenant, ...) for records without an org -:
//  the records that can share a call.
typedef struct {
    long org;           /* the records' org index, or -1: grouped by tenant */
    char *tenant;       /* the tenant of its first record (all its tenants load into org) */
    char *sobject;      /* target sObject */
    char *ext_id_field; /* external-ID field */
    ld_item_t *head;    /* oldest listed record */
    ld_item_t *tail;    /* newest listed record */
    size_t count;       /* records in the list */
    size_t out;         /* records of this group in flight at the caller */
    bool children;      /* some record named a parent: served after due parent groups */
} ld_group_t;

struct ld_batcher_t {
    ld_batcher_config_t config; /* clamped settings */
    ld_group_t **groups;        /* groups with listed or in-flight records */
    size_t group_count;         /* used slots */
    size_t group_cap;           /* allocated slots */
    size_t next_group;          /* round-robin start for ld_batcher_next */
    size_t count;               /* records held: listed plus chained versions */
    ld_item_t **index;          /* live item per record key, chained by hnext */
    size_t index_mask;          /* bucket count - 1 (a power of two) */
    ld_item_t **cand;           /* scratch: a group's ready records (ld_batcher_take) */
    size_t *sib_next;           /* scratch: next candidate with the same parent hash, + 1 */
    size_t *sib_head;           /* scratch: first candidate per parent-hash bucket, + 1 */
    size_t scratch_cap;         /* candidates the scratch arrays hold */
    int64_t last_add_ms;        /* when ld_batcher_add last took a record (input idle since) */
};

static uint64_t
s_hash_str (uint64_t h, const char *s)
{
    //  FNV-1a over the string and its terminator, so "ab"+"c" differs from "a"+"bc"
    for (const char *p = s ? s : "";; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        if (!*p)
            break;
    }
    return h;
}

//  Checks the payload (one pass, no tree) and keeps its first parent reference
//  ("Account":{"CloudSuite_Key__c":"X"} as "Account\x1fX"): records naming the same parent
//  are siblings.
static void
s_parent_of (ld_item_t *self)
{
    char why[8];
    self->payload_ok =
        sf_collections_payload_scan (self->env->payload, &self->parent, why, sizeof why) == 0;
    if (self->parent)
        self->parent_hash = s_hash_str (1469598103934665603ULL, self->parent) | 1;
}

ld_item_t *
ld_item_new (cm_envelope_t **env_p, char **bytes_p, size_t size, int64_t now)
{
    assert (env_p && *env_p && bytes_p);
    ld_item_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->env = *env_p;
    *env_p = NULL;
    self->bytes = *bytes_p;
    *bytes_p = NULL;
    self->size = size;
    self->received_ms = now;
    self->org = -1;
    s_parent_of (self);
    return self;
}

void
ld_item_destroy (ld_item_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ld_item_t *self = *self_p;
    while (self) {
        ld_item_t *later = self->later;
        cm_envelope_destroy (&self->env);
        free (self->bytes);
        free (self->parent);
        free (self);
        self = later;
    }
    *self_p = NULL;
}

static void
s_group_destroy (ld_group_t **self_p)
{
    ld_group_t *self = *self_p;
    if (!self)
        return;
    while (self->head) {
        ld_item_t *item = self->head;
        self->head = item->next;
        ld_item_destroy (&item);
    }
    free (self->tenant);
    free (self->sobject);
    free (self->ext_id_field);
    free (self);
    *self_p = NULL;
}

ld_batcher_t *
ld_batcher_new (const ld_batcher_config_t *config)
{
    assert (config);
    ld_batcher_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    ld_batcher_config_t *c = &self->config;
    if (c->batch_size < 1)
        c->batch_size = 1;
    if (c->batch_size > SF_COLLECTIONS_MAX)
        c->batch_size = SF_COLLECTIONS_MAX;
    if (c->capacity < c->batch_size)
        c->capacity = c->batch_size;
    if (c->flush_ms < 0)
        c->flush_ms = 0;
    if (c->max_attempts < 1)
        c->max_attempts = 1;
    if (c->backoff_base_ms < 1)
        c->backoff_base_ms = 1;
    if (c->backoff_max_ms < c->backoff_base_ms)
        c->backoff_max_ms = c->backoff_base_ms;
    if (c->bulk_max == 0 || c->bulk_max > c->capacity)
        c->bulk_max = c->capacity;
    if (c->child_wait_ms <= 0)
        c->child_wait_ms = LD_CHILD_WAIT_MS;
    if (c->max_wait_ms < c->flush_ms)
        c->max_wait_ms = c->flush_ms;
    size_t buckets = 64;
    while (buckets < c->capacity && buckets < ((size_t)1 << 24))
        buckets *= 2;
    self->index = calloc (buckets, sizeof *self->index);
    if (!self->index) {
        free (self);
        return NULL;
    }
    self->index_mask = buckets - 1;
    return self;
}

void
ld_batcher_destroy (ld_batcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ld_batcher_t *self = *self_p;
    for (size_t i = 0; i < self->group_count; i++)
        s_group_destroy (&self->groups[i]);
    free (self->groups);
    free (self->index);
    free (self->cand);
    free (self->sib_next);
    free (self->sib_head);
    free (self);
    *self_p = NULL;
}

//  A record is (org, sObject, external-ID field, external ID): what Salesforce sees as one
//  record, whichever tenant sends it; (tenant, ...) for records without an org.
static uint64_t
s_record_hash (const ld_item_t *item)
{
    uint64_t h = 1469598103934665603ULL;
    if (item->org >= 0)
        h = (h ^ (uint64_t)item->org) * 1099511628211ULL;
    else
        h = s_hash_str (h, item->env->tenant);
    h = s_hash_str (h, item->env->sobject);
    h = s_hash_str (h, item->env->ext_id_field);
    return s_hash_str (h, item->env->ext_id);
}

static bool
s_same_record (const ld_item_t *a, const ld_item_t *b)
{
    return a->key_hash == b->key_hash && a->org == b->org &&
           strcmp (a->env->ext_id, b->env->ext_id) == 0 &&
           strcmp (a->env->sobject, b->env->sobject) == 0 &&
           strcmp (a->env->ext_id_field, b->env->ext_id_field) == 0 &&
           (a->org >= 0 || strcmp (a->env->tenant, b->env->tenant) == 0);
}

static ld_item_t *
s_index_find (const ld_batcher_t *self, const ld_item_t *item)
{
    for (ld_item_t *live = self->index[item->key_hash & self->index_mask]; live; live = live->hnext)
        if (s_same_record (live, item))
            return live;
    return NULL;
}

static void
s_index_put (ld_batcher_t *self, ld_item_t *item)
{
    ld_item_t **bucket = &self->index[item->key_hash & self->index_mask];
    item->hnext = *bucket;
    *bucket = item;
}

static void
s_index_remove (ld_batcher_t *self, ld_item_t *item)
{
    for (ld_item_t **p = &self->index[item->key_hash & self->index_mask]; *p; p = &(*p)->hnext)
        if (*p == item) {
            *p = item->hnext;
            item->hnext = NULL;
            return;
        }
    assert (!"ld_batcher: item not in the index");
}

static ld_group_t *
s_group_find (ld_batcher_t *self, const ld_item_t *item)
{
    const cm_envelope_t *env = item->env;
    for (size_t i = 0; i < self->group_count; i++) {
        ld_group_t *g = self->groups[i];
        if (g->org == item->org && (g->org >= 0 || strcmp (g->tenant, env->tenant) == 0) &&
            strcmp (g->sobject, env->sobject) == 0 &&
            strcmp (g->ext_id_field, env->ext_id_field) == 0)
            return g;
    }
    if (self->group_count == self->group_cap) {
        size_t cap = self->group_cap ? self->group_cap * 2 : 8;
        ld_group_t **groups = realloc (self->groups, cap * sizeof *groups);
        if (!groups)
            return NULL;
        self->groups = groups;
        self->group_cap = cap;
    }
    ld_group_t *g = calloc (1, sizeof *g);
    if (!g)
        return NULL;
    g->org = item->org;
    g->tenant = strdup (env->tenant);
    g->sobject = strdup (env->sobject);
    g->ext_id_field = strdup (env->ext_id_field);
    if (!g->tenant || !g->sobject || !g->ext_id_field) {
        s_group_destroy (&g);
        return NULL;
    }
    self->groups[self->group_count++] = g;
    return g;
}

static void
s_group_append (ld_group_t *g, ld_item_t *item)
{
    item->next = NULL;
    item->group = g;
    if (item->parent)
        g->children = true;
    if (g->tail)
        g->tail->next = item;
    else
        g->head = item;
    g->tail = item;
    g->count++;
}

//  Removes a group that has nothing listed and nothing in flight.
static void
s_group_drop_if_idle (ld_batcher_t *self, ld_group_t *g)
{
    if (g->count || g->out)
        return;
    for (size_t i = 0; i < self->group_count; i++)
        if (self->groups[i] == g) {
            s_group_destroy (&self->groups[i]);
            memmove (&self->groups[i], &self->groups[i + 1],
                     (self->group_count - i - 1) * sizeof *self->groups);
            self->group_count--;
            if (self->next_group >= self->group_count)
                self->next_group = 0;
            return;
        }
}

int
ld_batcher_add (ld_batcher_t *self, ld_item_t **item_p, int64_t now)
{
    assert (self && item_p && *item_p);
    ld_item_t *item = *item_p;
    const cm_envelope_t *env = item->env;
    assert (env && env->tenant && env->sobject && env->ext_id_field && env->ext_id);
    if (ld_batcher_full (self))
        return -1;
    if (item->org < -1)
        item->org = -1;
    item->key_hash = s_record_hash (item);
    item->next = item->later = item->hnext = NULL;
    ld_item_t *live = s_index_find (self, item);
    if (live) {
        //  An older version is held or in flight: wait behind it
        ld_item_t **tail = &live->later;
        while (*tail)
            tail = &(*tail)->later;
        *tail = item;
        item->group = live->group;
    } else {
        ld_group_t *g = s_group_find (self, item);
        if (!g)
            return -1;
        s_group_append (g, item);
        s_index_put (self, item);
    }
    self->count++;
    self->last_add_ms = now;
    *item_p = NULL;
    return 0;
}

bool
ld_batcher_full (const ld_batcher_t *self)
{
    assert (self);
    return self->count >= self->config.capacity;
}

size_t
ld_batcher_count (const ld_batcher_t *self)
{
    assert (self);
    return self->count;
}

static bool
s_ready (const ld_item_t *item, int64_t now, bool drain)
{
    return drain || item->next_at_ms <= now;
}

//  When a ready item must go out even without a full batch.
static int64_t
s_flush_at (const ld_batcher_t *self, const ld_item_t *item)
{
    int64_t since = item->next_at_ms > item->received_ms ? item->next_at_ms : item->received_ms;
    return since + self->config.flush_ms;
}

//  When a ready item may go out in a partial batch: flush_ms after it became ready, and
//  then only once the input has been idle for flush_ms or it has waited max_wait_ms, so
//  that records still arriving can fill its batch.
static int64_t
s_due_at (const ld_batcher_t *self, const ld_item_t *item)
{
    int64_t flush = s_flush_at (self, item);
    if (self->config.max_wait_ms <= self->config.flush_ms)
        return flush;
    int64_t since = flush - self->config.flush_ms;
    int64_t idle = self->last_add_ms + self->config.flush_ms;
    int64_t cap = since + self->config.max_wait_ms;
    int64_t at = idle < cap ? idle : cap;
    return at > flush ? at : flush;
}

static bool
s_group_due (const ld_batcher_t *self, const ld_group_t *g, int64_t now, bool drain)
{
    size_t ready = 0;
    for (const ld_item_t *item = g->head; item; item = item->next) {
        if (!s_ready (item, now, drain))
            continue;
        if (drain || s_due_at (self, item) <= now)
            return true;
        if (++ready >= self->config.batch_size)
            return true;
    }
    return false;
}

//  A child group whose oldest ready record has waited this long past its flush time is
//  served like a parent group (children never starve behind a long parent backfill).
static bool
s_child_aged (const ld_batcher_t *self, const ld_group_t *g, int64_t now)
{
    for (const ld_item_t *item = g->head; item; item = item->next)
        if (s_ready (item, now, false) &&
            s_flush_at (self, item) + self->config.child_wait_ms <= now)
            return true;
    return false;
}

//  The group to serve next: a due parent group (or aged child group) in round-robin
//  order, else the first due child group. NULL when none is due.
static ld_group_t *
s_choose (ld_batcher_t *self, int64_t now, bool drain, ld_batcher_accept_fn *accept, void *arg,
          size_t *index_out)
{
    ld_group_t *child = NULL;
    size_t child_index = 0;
    for (size_t k = 0; k < self->group_count; k++) {
        size_t index = (self->next_group + k) % self->group_count;
        ld_group_t *g = self->groups[index];
        if (accept && !accept (arg, g->tenant))
            continue;
        if (!s_group_due (self, g, now, drain))
            continue;
        if (!g->children || drain || s_child_aged (self, g, now)) {
            *index_out = index;
            return g;
        }
        if (!child) {
            child = g;
            child_index = index;
        }
    }
    *index_out = child_index;
    return child;
}

//  Picks item for the batch.
static void
s_pick (ld_item_t *item, ld_item_t **items, size_t *n)
{
    item->picked = true;
    items[(*n)++] = item;
}

static bool
s_siblings (const ld_item_t *a, const ld_item_t *b)
{
    return a->parent_hash == b->parent_hash && a->parent && b->parent &&
           strcmp (a->parent, b->parent) == 0;
}

//  Grows the scratch arrays to hold need candidates (bucket count 2 * cap). -1 on OOM.
static int
s_scratch (ld_batcher_t *self, size_t need)
{
    if (need <= self->scratch_cap)
        return 0;
    size_t cap = self->scratch_cap ? self->scratch_cap : 256;
    while (cap < need)
        cap *= 2;
    ld_item_t **cand = realloc (self->cand, cap * sizeof *cand);
    if (cand)
        self->cand = cand;
    size_t *next = realloc (self->sib_next, cap * sizeof *next);
    if (next)
        self->sib_next = next;
    size_t *head = realloc (self->sib_head, 2 * cap * sizeof *head);
    if (head)
        self->sib_head = head;
    if (!cand || !next || !head)
        return -1;
    self->scratch_cap = cap;
    return 0;
}

//  A Collections batch: the ready records in arrival order, each record that names a
//  parent followed by its ready siblings among the next LD_SIBLING_WINDOW batches' worth of
//  ready records. One pass over that window and a hash of the candidates' parents, so the
//  cost is linear in the batch, not in the group (which may hold thousands).
//  Returns 0, or -1 when out of memory (nothing picked).
static int
s_collections_pick (ld_batcher_t *self, ld_group_t *g, int64_t now, bool drain, ld_item_t **items,
                    size_t *n)
{
    size_t max = self->config.batch_size;
    size_t window = max * LD_SIBLING_WINDOW;
    size_t count = 0;
    if (s_scratch (self, g->count < window ? g->count : window) != 0)
        return -1;
    for (ld_item_t *item = g->head; item && count < window; item = item->next)
        if (s_ready (item, now, drain))
            self->cand[count++] = item;
    size_t mask = 1;
    while (mask < 2 * count)
        mask *= 2;
    mask--;
    memset (self->sib_head, 0, (mask + 1) * sizeof *self->sib_head);
    //  Chains in arrival order: built back to front
    for (size_t i = count; i-- > 0;) {
        const ld_item_t *c = self->cand[i];
        self->sib_next[i] = 0;
        if (!c->parent)
            continue;
        size_t b = (size_t)c->parent_hash & mask;
        self->sib_next[i] = self->sib_head[b];
        self->sib_head[b] = i + 1;
    }
    for (size_t i = 0; i < count && *n < max; i++) {
        ld_item_t *item = self->cand[i];
        if (item->picked)
            continue;
        s_pick (item, items, n);
        if (!item->parent)
            continue;
        //  Its ready siblings join it, so one Account's children share a call
        for (size_t j = self->sib_next[i]; j && *n < max; j = self->sib_next[j - 1]) {
            ld_item_t *sib = self->cand[j - 1];
            if (!sib->picked && s_siblings (item, sib))
                s_pick (sib, items, n);
        }
    }
    return 0;
}

size_t
ld_batcher_take (ld_batcher_t *self, int64_t now, bool drain, ld_batcher_accept_fn *accept,
                 void *arg, ld_item_t **items, size_t cap, ld_batch_kind_t *kind)
{
    assert (self && items && cap >= self->config.batch_size);
    ld_batch_kind_t scratch;
    if (!kind)
        kind = &scratch;
    *kind = LD_BATCH_COLLECTIONS;
    size_t index;
    ld_group_t *g = s_choose (self, now, drain, accept, arg, &index);
    if (!g)
        return 0;
    size_t n = 0;
    size_t threshold = self->config.bulk_threshold;
    if (threshold > 0 && cap >= threshold) {
        size_t bulk_ready = 0;
        for (const ld_item_t *item = g->head; item && bulk_ready < threshold; item = item->next)
            bulk_ready += s_ready (item, now, drain) && !item->no_bulk;
        if (bulk_ready >= threshold) {
            *kind = LD_BATCH_BULK;
            size_t max = self->config.bulk_max < cap ? self->config.bulk_max : cap;
            for (ld_item_t *item = g->head; item && n < max; item = item->next)
                if (s_ready (item, now, drain) && !item->no_bulk)
                    s_pick (item, items, &n);
        }
    }
    if (*kind == LD_BATCH_COLLECTIONS && s_collections_pick (self, g, now, drain, items, &n) != 0) {
        //  No memory for the sibling index: plain arrival order
        for (ld_item_t *item = g->head; item && n < self->config.batch_size; item = item->next)
            if (s_ready (item, now, drain))
                s_pick (item, items, &n);
    }
    assert (n > 0); //  a due group has a ready record
    //  Unlink the picked records, keeping the others in order (they are all near the head)
    ld_item_t *prev = NULL;
    size_t unlinked = 0;
    for (ld_item_t *item = g->head; item && unlinked < n;) {
        ld_item_t *next = item->next;
        if (item->picked) {
            unlinked++;
            if (prev)
                prev->next = next;
            else
                g->head = next;
            if (g->tail == item)
                g->tail = prev;
            item->next = NULL;
            item->picked = false;
        } else
            prev = item;
        item = next;
    }
    g->count -= n;
    g->out += n;
    self->count -= n;
    self->next_group = (index + 1) % self->group_count;
    return n;
}

size_t
ld_batcher_next (ld_batcher_t *self, int64_t now, bool drain, ld_item_t **items, size_t cap)
{
    return ld_batcher_take (self, now, drain, NULL, NULL, items, cap, NULL);
}

int64_t
ld_batcher_due_ms (const ld_batcher_t *self, int64_t now, ld_batcher_accept_fn *accept, void *arg)
{
    assert (self);
    if (self->count == 0)
        return -1;
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < self->group_count; i++) {
        const ld_group_t *g = self->groups[i];
        if (accept && !accept (arg, g->tenant))
            continue;
        if (s_group_due (self, g, now, false))
            return 0;
        for (const ld_item_t *item = g->head; item; item = item->next) {
            //  A waiting retry is looked at again when it becomes ready
            int64_t at = s_ready (item, now, false) ? s_due_at (self, item) : item->next_at_ms;
            if (at < due)
                due = at;
        }
    }
    //  Everything held may be chained behind records in flight: nothing to wait for here
    if (due == INT64_MAX)
        return -1;
    return due <= now ? 0 : due - now;
}

int64_t
ld_batcher_next_due_ms (const ld_batcher_t *self, int64_t now)
{
    return ld_batcher_due_ms (self, now, NULL, NULL);
}

long
ld_backoff_ms (long base_ms, long max_ms, int attempt, uint32_t rnd)
{
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    long cap = base_ms;
    for (int i = 1; i < attempt && cap < max_ms; i++)
        cap = cap > max_ms / 2 ? max_ms : cap * 2;
    long half = cap / 2;
    return half + (long)(rnd % (uint32_t)(cap - half + 1));
}

ld_retry_t
ld_batcher_retry (ld_batcher_t *self, ld_item_t **item_p, int64_t now, int64_t min_delay_ms,
                  bool count_attempt)
{
    assert (self && item_p && *item_p);
    ld_item_t *item = *item_p;
    ld_group_t *g = item->group;
    assert (g && g->out > 0);
    int64_t delay = 0;
    if (count_attempt) {
        item->tries++;
        if (item->tries >= self->config.max_attempts)
            return LD_RETRY_EXHAUSTED;
        delay = ld_backoff_ms (self->config.backoff_base_ms, self->config.backoff_max_ms,
                               item->tries, randombytes_random ());
    }
    if (delay < min_delay_ms)
        delay = min_delay_ms;
    item->next_at_ms = now + delay;
    g->out--;
    s_group_append (g, item);
    self->count++;
    *item_p = NULL;
    return LD_RETRY_SCHEDULED;
}

void
ld_batcher_done (ld_batcher_t *self, ld_item_t **item_p)
{
    assert (self && item_p && *item_p);
    ld_item_t *item = *item_p;
    ld_group_t *g = item->group;
    assert (g && g->out > 0);
    s_index_remove (self, item);
    g->out--;
    ld_item_t *successor = item->later;
    item->later = NULL;
    if (successor) {
        //  The next version of the record becomes live; it was counted while it waited
        s_group_append (g, successor);
        s_index_put (self, successor);
    }
    ld_item_destroy (item_p);
    s_group_drop_if_idle (self, g);
}
