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

//  One (tenant, sObject, external-ID field): the records that can share a call.
typedef struct {
    char *tenant;       /* tenant / connection id */
    char *sobject;      /* target sObject */
    char *ext_id_field; /* external-ID field */
    ld_item_t *head;    /* oldest listed record */
    ld_item_t *tail;    /* newest listed record */
    size_t count;       /* records in the list */
    size_t out;         /* records of this group in flight at the caller */
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
    uint64_t h = 1469598103934665603ULL;
    h = s_hash_str (h, self->env->tenant);
    h = s_hash_str (h, self->env->sobject);
    h = s_hash_str (h, self->env->ext_id_field);
    self->key_hash = s_hash_str (h, self->env->ext_id);
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
    free (self);
    *self_p = NULL;
}

static bool
s_same_record (const ld_item_t *a, const ld_item_t *b)
{
    return a->key_hash == b->key_hash && strcmp (a->env->ext_id, b->env->ext_id) == 0 &&
           strcmp (a->env->sobject, b->env->sobject) == 0 &&
           strcmp (a->env->ext_id_field, b->env->ext_id_field) == 0 &&
           strcmp (a->env->tenant, b->env->tenant) == 0;
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
s_group_find (ld_batcher_t *self, const cm_envelope_t *env)
{
    for (size_t i = 0; i < self->group_count; i++) {
        ld_group_t *g = self->groups[i];
        if (strcmp (g->tenant, env->tenant) == 0 && strcmp (g->sobject, env->sobject) == 0 &&
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
        ld_group_t *g = s_group_find (self, env);
        if (!g)
            return -1;
        s_group_append (g, item);
        s_index_put (self, item);
    }
    self->count++;
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

static bool
s_group_due (const ld_batcher_t *self, const ld_group_t *g, int64_t now, bool drain)
{
    size_t ready = 0;
    for (const ld_item_t *item = g->head; item; item = item->next) {
        if (!s_ready (item, now, drain))
            continue;
        if (drain || s_flush_at (self, item) <= now)
            return true;
        if (++ready >= self->config.batch_size)
            return true;
    }
    return false;
}

size_t
ld_batcher_next (ld_batcher_t *self, int64_t now, bool drain, ld_item_t **items, size_t cap)
{
    assert (self && items && cap >= self->config.batch_size);
    for (size_t k = 0; k < self->group_count; k++) {
        size_t index = (self->next_group + k) % self->group_count;
        ld_group_t *g = self->groups[index];
        if (!s_group_due (self, g, now, drain))
            continue;
        size_t n = 0;
        ld_item_t *prev = NULL;
        ld_item_t *item = g->head;
        while (item && n < self->config.batch_size) {
            ld_item_t *next = item->next;
            if (s_ready (item, now, drain)) {
                if (prev)
                    prev->next = next;
                else
                    g->head = next;
                if (g->tail == item)
                    g->tail = prev;
                item->next = NULL;
                items[n++] = item;
            } else
                prev = item;
            item = next;
        }
        assert (n > 0); //  a due group has a ready record
        g->count -= n;
        g->out += n;
        self->count -= n;
        self->next_group = (index + 1) % self->group_count;
        return n;
    }
    return 0;
}

int64_t
ld_batcher_next_due_ms (const ld_batcher_t *self, int64_t now)
{
    assert (self);
    if (self->count == 0)
        return -1;
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < self->group_count; i++) {
        const ld_group_t *g = self->groups[i];
        if (s_group_due (self, g, now, false))
            return 0;
        for (const ld_item_t *item = g->head; item; item = item->next) {
            //  A waiting retry is looked at again when it becomes ready
            int64_t at = s_ready (item, now, false) ? s_flush_at (self, item) : item->next_at_ms;
            if (at < due)
                due = at;
        }
    }
    //  Everything held may be chained behind records in flight: nothing to wait for here
    if (due == INT64_MAX)
        return -1;
    return due <= now ? 0 : due - now;
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
