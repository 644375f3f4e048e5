/*  tf_memory: match owners, aliases and union values in RocksDB. See tf_memory.h.

    Speed: a bounded in-memory cache sits in front of RocksDB (write-through, CLOCK
    eviction). It remembers present keys, and absent ones the filter below cannot rule out,
    so most look-ups of a known record, a parent or a repeated key never reach RocksDB, and
    a write that would store what is already stored is skipped. This process is the only
    writer (RocksDB's lock), so the cache cannot go stale. A cache miss for a key the store
    has never held (every key of a first load) costs no RocksDB read either: a Bloom filter
    of the store's keys (filled by one scan at open, and by every write since) answers
    "absent" for it. Writes go into one write batch, committed by tf_memory_ops_t.commit:
    tf_transform commits at the end of each record, tf_loop at the end of each group of
    records, always before the records leave: one WAL write per group instead of one per
    key. Keys written in the uncommitted batch are pinned in the cache (never evicted), so
    a cache miss can always read the store.

    Durability: writes are not synced. A process crash keeps them (the WAL is written
    before the record is sent on); after a machine crash the worst case is a role or alias
    re-learned from the next records. */
#include "tf_memory.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"
#include "cm_store.h"

#define TF_MEMORY_MAX_KEY    1024       /* longest store key */
#define TF_MEMORY_MAX_VALUES 64         /* most values kept in one union */
#define TF_CACHE_MAX_VALUE   1024       /* longer values are not cached */
#define TF_MEMORY_MAX_DIRTY  256        /* written keys a batch holds before it is committed */
#define TF_FILTER_MIN_BITS   (1u << 22) /* key filter: 4 Mi bits (512 KiB) at least */
#define TF_FILTER_MAX_BITS   (1u << 28) /* and 256 Mi bits (32 MiB) at most */
#define TF_FILTER_BITS_KEY   16         /* bits per key found at open */
#define TF_FILTER_HASHES     5          /* probes per key (about 1 % false positives) */

/*  One cached key: its value, or the knowledge that the store has none. */
typedef struct centry_t centry_t;
struct centry_t {
    centry_t *next; /* bucket chain */
    uint32_t hash;  /* hash of the key */
    uint32_t slot;  /* index in the CLOCK ring */
    uint16_t klen;  /* key bytes */
    uint16_t vlen;  /* value bytes */
    bool absent;    /* the store has no such key */
    bool ref;       /* used since the CLOCK hand last passed */
    bool dirty;     /* written in the uncommitted batch: never evicted */
    char data[];    /* key, then value, then NUL */
};

/*  Cache entries come from a slab of 1 MiB blocks with a free list per 32-byte size
    class, not from malloc: thousands of long-lived small blocks mixed with the
    transformer's short-lived ones fragment malloc's heap and make every malloc slower. */
#define TF_SLAB_BLOCK (1 << 20)
#define TF_SLAB_GRAIN 32
#define TF_SLAB_CLASSES                                                                            \
    ((sizeof (centry_t) + 2 * TF_MEMORY_MAX_KEY + TF_SLAB_GRAIN) / TF_SLAB_GRAIN + 1)

typedef struct slab_block_t slab_block_t;
struct slab_block_t {
    slab_block_t *next; /* older block */
    size_t used;        /* bytes carved */
    char data[];        /* TF_SLAB_BLOCK bytes */
};

struct tf_memory_t {
    slab_block_t *blocks;                 /* slab blocks, newest first */
    void *free_lists[TF_SLAB_CLASSES];    /* freed entries per size class */
    cm_store_t *store;                    /* the RocksDB database */
    cm_store_batch_t *batch;              /* writes not yet committed */
    centry_t **buckets;                   /* cache hash table, cap chains */
    centry_t **ring;                      /* CLOCK ring of every cached entry, cap slots */
    size_t cap;                           /* cache capacity in entries (a power of two) */
    centry_t *dirty[TF_MEMORY_MAX_DIRTY]; /* entries written in the current batch */
    size_t dirty_count;                   /* number of them */
    size_t dirty_max;                     /* at most this many (a quarter of the cache) */
    size_t count;                         /* entries in the ring */
    size_t hand;                          /* CLOCK hand */
    size_t slab_bytes;                    /* bytes in slab blocks */
    size_t slab_max;                      /* at most this many (keys of very mixed sizes) */
    bool slab_full;                       /* the last entry_alloc hit slab_max */
    bool failed;                          /* a commit made on the way (a reset) failed */
    uint64_t *filter;                     /* Bloom filter of every key the store may hold */
    size_t filter_bits;                   /* its size in bits (a power of two) */
    tf_memory_stats_t stats;              /* counters */
};

//  --------------------------------------------------------------------------
//  The key filter: a Bloom filter of every key the store may hold. It never forgets a
//  key, so "not in the filter" means "not in the store" (a key that is only in the
//  uncommitted batch is pinned in the cache, which is asked first).

/*  The filter is blocked: each key sets TF_FILTER_HASHES bits inside one 512-bit block
    (one cache line), so a look-up costs one cache miss, not one per probe. Returns the
    block and fills the bit offsets. */
static uint64_t *
filter_block (const tf_memory_t *self, const char *k, size_t kl, unsigned *bits)
{
    uint64_t h = 14695981039346656037ull; //  64-bit FNV-1a, then mixed (splitmix64)
    for (size_t i = 0; i < kl; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    size_t blocks = self->filter_bits / 512;
    uint64_t g = h * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < TF_FILTER_HASHES; i++)
        bits[i] = (unsigned)(g >> (64 - 9 * (i + 1))) & 511;
    return self->filter + (size_t)(h & (blocks - 1)) * 8;
}

static void
filter_add (tf_memory_t *self, const char *k, size_t kl)
{
    unsigned bits[TF_FILTER_HASHES];
    uint64_t *b = filter_block (self, k, kl, bits);
    for (int i = 0; i < TF_FILTER_HASHES; i++)
        b[bits[i] / 64] |= (uint64_t)1 << (bits[i] % 64);
}

static bool
filter_may_hold (const tf_memory_t *self, const char *k, size_t kl)
{
    unsigned bits[TF_FILTER_HASHES];
    const uint64_t *b = filter_block (self, k, kl, bits);
    for (int i = 0; i < TF_FILTER_HASHES; i++)
        if (!(b[bits[i] / 64] & ((uint64_t)1 << (bits[i] % 64))))
            return false;
    return true;
}

typedef struct {
    tf_memory_t *self; /* the memory */
    size_t keys;       /* keys seen */
} filter_scan_t;

static int
filter_scan_one (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    filter_scan_t *scan = arg;
    filter_add (scan->self, key, klen);
    scan->keys++;
    return 0;
}

/*  Sizes the filter for the keys in the store (at least TF_FILTER_BITS_KEY bits each, and
    room to grow) and fills it with one scan. Returns 0, or -1 with err. */
static int
filter_load (tf_memory_t *self, char *err, size_t err_cap)
{
    size_t bits = TF_FILTER_MIN_BITS;
    for (;;) {
        free (self->filter);
        self->filter_bits = bits;
        //  Blocks on cache-line boundaries (bits / 8 is a multiple of 64).
        self->filter = aligned_alloc (64, bits / 8);
        if (self->filter)
            memset (self->filter, 0, bits / 8);
        if (!self->filter) {
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        filter_scan_t scan = {self, 0};
        if (cm_store_scan (self->store, "", 0, NULL, 0, filter_scan_one, &scan)) {
            snprintf (err, err_cap, "memory store: cannot read its keys: %s",
                      cm_store_error (self->store));
            return -1;
        }
        //  Twice the keys found fit at TF_FILTER_BITS_KEY bits each: a store that keeps
        //  growing makes the filter less sharp, never wrong.
        size_t want = scan.keys * 2 * TF_FILTER_BITS_KEY;
        if (want <= bits || bits >= TF_FILTER_MAX_BITS)
            return 0;
        while (bits < want && bits < TF_FILTER_MAX_BITS)
            bits *= 2;
    }
}

tf_memory_t *
tf_memory_open (const char *path, char *err, size_t err_cap)
{
    return tf_memory_open_sized (path, TF_MEMORY_CACHE_ENTRIES, err, err_cap);
}

tf_memory_t *
tf_memory_open_sized (const char *path, size_t cache_entries, char *err, size_t err_cap)
{
    tf_memory_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->cap = 16;
    while (self->cap < cache_entries && self->cap < ((size_t)1 << 30))
        self->cap *= 2;
    self->dirty_max = self->cap / 4 < TF_MEMORY_MAX_DIRTY ? self->cap / 4 : TF_MEMORY_MAX_DIRTY;
    self->slab_max = self->cap * 256 > 2 * TF_SLAB_BLOCK ? self->cap * 256 : 2 * TF_SLAB_BLOCK;
    self->buckets = calloc (self->cap, sizeof *self->buckets);
    self->ring = calloc (self->cap, sizeof *self->ring);
    self->batch = cm_store_batch_new ();
    if (!self->buckets || !self->ring || !self->batch) {
        snprintf (err, err_cap, "out of memory");
        tf_memory_destroy (&self);
        return NULL;
    }
    self->store = cm_store_open (path, false, err, err_cap);
    if (!self->store || filter_load (self, err, err_cap)) {
        tf_memory_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  The slab

static size_t
entry_class (size_t klen, size_t vlen)
{
    return (sizeof (centry_t) + klen + vlen + 1 + TF_SLAB_GRAIN - 1) / TF_SLAB_GRAIN;
}

static centry_t *
entry_alloc (tf_memory_t *self, size_t klen, size_t vlen)
{
    size_t c = entry_class (klen, vlen);
    if (c >= TF_SLAB_CLASSES)
        return NULL;
    void *p = self->free_lists[c];
    if (p) {
        self->free_lists[c] = *(void **)p;
        return p;
    }
    size_t size = c * TF_SLAB_GRAIN;
    if (!self->blocks || self->blocks->used + size > TF_SLAB_BLOCK) {
        //  Freed entries serve only their own size class: keys of very mixed sizes could
        //  make the slab grow past what the cache holds. Past slab_max, cache_put starts
        //  the cache afresh.
        if (self->slab_bytes + TF_SLAB_BLOCK > self->slab_max) {
            self->slab_full = true;
            return NULL;
        }
        slab_block_t *b = malloc (sizeof *b + TF_SLAB_BLOCK);
        if (!b)
            return NULL;
        self->slab_bytes += TF_SLAB_BLOCK;
        b->next = self->blocks;
        b->used = 0;
        self->blocks = b;
    }
    p = self->blocks->data + self->blocks->used;
    self->blocks->used += size;
    return p;
}

static void
entry_free (tf_memory_t *self, centry_t *e)
{
    size_t c = entry_class (e->klen, e->vlen);
    *(void **)e = self->free_lists[c];
    self->free_lists[c] = e;
}

static void
cache_clear (tf_memory_t *self)
{
    for (slab_block_t *b = self->blocks, *next; b; b = next) {
        next = b->next;
        free (b);
    }
    self->blocks = NULL;
    self->slab_bytes = 0;
    self->slab_full = false;
    self->dirty_count = 0;
    memset (self->free_lists, 0, sizeof self->free_lists);
    memset (self->buckets, 0, self->cap * sizeof *self->buckets);
    self->count = 0;
    self->hand = 0;
}

void
tf_memory_destroy (tf_memory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_memory_t *self = *self_p;
    //  A batch left by a record that did not commit: keep it rather than lose it.
    if (self->store && self->batch && cm_store_batch_count (self->batch) &&
        cm_store_batch_commit (self->store, self->batch, false))
        cm_error ("TRF_MEMORY_ERROR", "op=close reason=\"%s\"", cm_store_error (self->store));
    if (self->buckets && self->ring)
        cache_clear (self);
    free (self->buckets);
    free (self->ring);
    cm_store_batch_destroy (&self->batch);
    cm_store_destroy (&self->store);
    free (self->filter);
    free (self);
    *self_p = NULL;
}

void
tf_memory_stats (const tf_memory_t *self, tf_memory_stats_t *stats)
{
    *stats = self->stats;
    stats->bytes = self->slab_bytes + self->cap * (sizeof *self->buckets + sizeof *self->ring) +
                   self->filter_bits / 8;
}

//  --------------------------------------------------------------------------
//  The cache

static uint32_t
hash_key (const char *k, size_t kl)
{
    uint32_t h = 2166136261u; //  FNV-1a
    for (size_t i = 0; i < kl; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static centry_t *
cache_find (tf_memory_t *self, const char *k, size_t kl, uint32_t h)
{
    for (centry_t *e = self->buckets[h & (self->cap - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == kl && memcmp (e->data, k, kl) == 0)
            return e;
    return NULL;
}

static void
cache_unlink (tf_memory_t *self, centry_t *e)
{
    centry_t **p = &self->buckets[e->hash & (self->cap - 1)];
    while (*p && *p != e)
        p = &(*p)->next;
    if (*p)
        *p = e->next;
}

/*  Replaces (or with to NULL, removes) entry e in the dirty list. */
static void
dirty_swap (tf_memory_t *self, centry_t *e, centry_t *to)
{
    for (size_t i = 0; i < self->dirty_count; i++)
        if (self->dirty[i] == e) {
            if (to)
                self->dirty[i] = to;
            else
                self->dirty[i] = self->dirty[--self->dirty_count];
            return;
        }
}

/*  Drops the cached entry of key, if any. */
static void
cache_drop (tf_memory_t *self, const char *k, size_t kl)
{
    centry_t *old = cache_find (self, k, kl, hash_key (k, kl));
    if (!old)
        return;
    if (old->dirty)
        dirty_swap (self, old, NULL);
    cache_unlink (self, old);
    self->count--;
    if (old->slot != self->count) {
        self->ring[old->slot] = self->ring[self->count];
        self->ring[old->slot]->slot = old->slot;
    }
    if (self->hand >= self->count)
        self->hand = 0;
    entry_free (self, old);
}

/*  Caches key = value (absent: the store has none). Returns false when it could not (a
    long value, out of memory); then no entry for key is left. */
static int s_commit (void *arg);

static bool
cache_put (tf_memory_t *self, const char *k, size_t kl, const char *v, size_t vl, bool absent)
{
    bool fits = kl < TF_MEMORY_MAX_KEY && vl <= TF_CACHE_MAX_VALUE;
    centry_t *e = fits ? entry_alloc (self, kl, vl) : NULL;
    if (!e && self->slab_full) {
        //  Start afresh: commit what is pinned, forget everything, then cache this key.
        self->stats.resets++;
        if (s_commit (self))
            self->failed = true;
        cache_clear (self);
        e = entry_alloc (self, kl, vl);
    }
    if (!e) {
        cache_drop (self, k, kl);
        return false;
    }
    uint32_t h = hash_key (k, kl);
    centry_t *old = cache_find (self, k, kl, h);
    e->hash = h;
    e->klen = (uint16_t)kl;
    e->vlen = (uint16_t)vl;
    e->absent = absent;
    //  A new entry starts unreferenced (probation): keys seen once, such as the own keys
    //  of new records, are evicted before keys that were used again, such as parents.
    e->ref = old != NULL;
    e->dirty = old && old->dirty;
    memcpy (e->data, k, kl);
    if (vl)
        memcpy (e->data + kl, v, vl);
    e->data[kl + vl] = 0;
    if (old) {
        //  Replace in place: the same ring slot.
        cache_unlink (self, old);
        if (old->dirty)
            dirty_swap (self, old, e);
        e->slot = old->slot;
        self->ring[e->slot] = e;
        entry_free (self, old);
    } else if (self->count < self->cap) {
        e->slot = (uint32_t)self->count;
        self->ring[self->count++] = e;
    } else {
        //  CLOCK: evict the first entry not used since the hand last passed it.
        for (;;) {
            centry_t *victim = self->ring[self->hand];
            if (victim->ref || victim->dirty) {
                victim->ref = false;
                self->hand = (self->hand + 1) % self->cap;
                continue;
            }
            cache_unlink (self, victim);
            entry_free (self, victim);
            self->stats.evictions++;
            e->slot = (uint32_t)self->hand;
            self->ring[self->hand] = e;
            self->hand = (self->hand + 1) % self->cap;
            break;
        }
    }
    centry_t **bucket = &self->buckets[h & (self->cap - 1)];
    e->next = *bucket;
    *bucket = e;
    return true;
}

/*  Reads key through the cache. Returns 1 with a malloc'd value (caller frees), 0 when
    absent, -1 on a store error. */
static int
mem_get (tf_memory_t *self, const char *k, size_t kl, char **val, size_t *vl)
{
    *val = NULL;
    *vl = 0;
    centry_t *e = cache_find (self, k, kl, hash_key (k, kl));
    if (e) {
        self->stats.hits++;
        e->ref = true;
        if (e->absent)
            return 0;
        *val = strndup (e->data + e->klen, e->vlen);
        *vl = e->vlen;
        return *val ? 1 : -1;
    }
    //  Keys written in the uncommitted batch are pinned in the cache (dirty), so a miss
    //  is never one of them and the store has the truth; a key the store never held
    //  needs no read at all.
    //  Not cached either: the filter answers again as cheaply as the cache would, and the
    //  cache keeps its room for keys that cost a read (most keys of a first load, and the
    //  alias key of every company that is no alias, are never stored).
    if (!filter_may_hold (self, k, kl)) {
        self->stats.filtered++;
        return 0;
    }
    self->stats.misses++;
    int rc = cm_store_get (self->store, k, kl, val, vl);
    if (rc >= 0)
        cache_put (self, k, kl, rc ? *val : NULL, rc ? *vl : 0, rc == 0);
    return rc;
}

/*  Writes key = value into the current record's batch (and the cache), unless the cache
    says it is stored already. A value the cache cannot hold is committed at once, so a
    later read of it finds it in the store. Returns 0 or -1. */
static int
mem_put (tf_memory_t *self, const char *k, size_t kl, const char *v, size_t vl)
{
    centry_t *e = cache_find (self, k, kl, hash_key (k, kl));
    if (e && !e->absent && e->vlen == vl && memcmp (e->data + e->klen, v, vl) == 0) {
        e->ref = true;
        self->stats.writes_skipped++;
        return 0;
    }
    cm_store_batch_put (self->batch, k, kl, v, vl);
    filter_add (self, k, kl);
    self->stats.writes++;
    //  A write the cache cannot pin (too long, out of memory, too many in this batch) is
    //  committed at once, so a later read finds it in the store.
    if (!cache_put (self, k, kl, v, vl, false) || self->dirty_count == self->dirty_max)
        return s_commit (self);
    e = cache_find (self, k, kl, hash_key (k, kl));
    if (!e->dirty) {
        e->dirty = true;
        self->dirty[self->dirty_count++] = e;
    }
    return 0;
}

static int
s_commit (void *arg)
{
    tf_memory_t *self = arg;
    for (size_t i = 0; i < self->dirty_count; i++)
        self->dirty[i]->dirty = false;
    self->dirty_count = 0;
    //  An earlier commit made on the way (a cache reset) failed: this one fails too.
    int rc = self->failed ? -1 : 0;
    self->failed = false;
    if (cm_store_batch_count (self->batch) == 0)
        return rc;
    self->stats.commits++;
    if (cm_store_batch_commit (self->store, self->batch, false) == 0)
        return rc;
    cm_error ("TRF_MEMORY_ERROR", "op=commit reason=\"%s\"", cm_store_error (self->store));
    //  The cache may now hold values the store lacks: forget everything.
    cache_clear (self);
    cm_store_batch_destroy (&self->batch);
    self->batch = cm_store_batch_new ();
    return -1;
}

//  --------------------------------------------------------------------------
//  The callbacks

/*  Builds "kind\x1fa\x1fb[\x1fc]" into out. Returns its length, or 0 when too long. */
static size_t
mkey (char *out, char kind, const char *a, const char *b, const char *c)
{
    size_t al = strlen (a), bl = strlen (b), cl = c ? strlen (c) : 0;
    size_t n = 2 + al + 1 + bl + (c ? 1 + cl : 0);
    if (n >= TF_MEMORY_MAX_KEY)
        return 0;
    char *p = out;
    *p++ = kind;
    *p++ = '\x1f';
    memcpy (p, a, al);
    p += al;
    *p++ = '\x1f';
    memcpy (p, b, bl);
    p += bl;
    if (c) {
        *p++ = '\x1f';
        memcpy (p, c, cl);
        p += cl;
    }
    *p = 0;
    return n;
}

static int
s_resolve (void *arg, const char *sobject, const char *key, char **account)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 'a', sobject, key, NULL);
    *account = NULL;
    if (!kl)
        return -1;
    size_t vl = 0;
    if (mem_get (self, k, kl, account, &vl) < 0) {
        cm_error ("TRF_MEMORY_ERROR", "op=resolve reason=\"%s\"", cm_store_error (self->store));
        return -1;
    }
    return 0;
}

static int
s_match (void *arg, const char *sobject, const char *match, const char *entity, const char *own_key,
         char **account)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 'm', sobject, match, NULL);
    *account = NULL;
    if (!kl)
        return -1;
    size_t vl = 0;
    char *owner = NULL;
    int rc = mem_get (self, k, kl, &owner, &vl);
    if (rc < 0)
        goto fail;
    //  The stored value is "entity\x1fowner key".
    if (rc == 0) {
        char v[TF_MEMORY_MAX_KEY];
        int n = snprintf (v, sizeof v, "%s\x1f%s", entity, own_key);
        if (n < 0 || n >= (int)sizeof v)
            goto fail;
        if (mem_put (self, k, kl, v, (size_t)n))
            goto fail;
        *account = strdup (own_key);
        return *account ? 0 : -1;
    }
    char *sep = memchr (owner, '\x1f', vl);
    if (!sep) {
        free (owner);
        goto fail;
    }
    *sep = 0;
    const char *owner_key = sep + 1;
    //  Two records of one entity with one match value are two companies (or a duplicate
    //  in CloudSuite): never merge them.
    if (strcmp (owner, entity) == 0 || strcmp (owner_key, own_key) == 0) {
        free (owner);
        *account = strdup (own_key);
        return *account ? 0 : -1;
    }
    char a[TF_MEMORY_MAX_KEY];
    size_t al = mkey (a, 'a', sobject, own_key, NULL);
    if (!al) {
        free (owner);
        goto fail;
    }
    if (mem_put (self, a, al, owner_key, strlen (owner_key))) {
        free (owner);
        goto fail;
    }
    cm_info ("TRF_MATCHED", "sobject=%s entity=%s key=%s account=%s", sobject, entity, own_key,
             owner_key);
    *account = strdup (owner_key);
    free (owner);
    return *account ? 0 : -1;
fail:
    cm_error ("TRF_MEMORY_ERROR", "op=match reason=\"%s\"", cm_store_error (self->store));
    return -1;
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/*  Splits a ';' list into list (pointers into text, which is modified), adding unique
    non-empty items. */
static void
split_add (char *text, char **list, size_t *count)
{
    char *save = NULL;
    for (char *tok = strtok_r (text, ";", &save); tok; tok = strtok_r (NULL, ";", &save)) {
        bool seen = false;
        for (size_t i = 0; i < *count; i++)
            if (strcmp (list[i], tok) == 0)
                seen = true;
        if (!seen && *tok && *count < TF_MEMORY_MAX_VALUES)
            list[(*count)++] = tok;
    }
}

static int
s_merge_union (void *arg, const char *sobject, const char *ext_id, const char *field,
               const char *value, char **merged)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 'u', sobject, ext_id, field);
    *merged = NULL;
    if (!kl)
        return -1;
    char *old = NULL, *mine = strdup (value), *out = NULL;
    size_t vl = 0;
    int rc = mem_get (self, k, kl, &old, &vl);
    if (rc < 0 || !mine) {
        cm_error ("TRF_MEMORY_ERROR", "op=union reason=\"%s\"", cm_store_error (self->store));
        goto fail;
    }
    char *list[TF_MEMORY_MAX_VALUES];
    size_t count = 0;
    if (old)
        split_add (old, list, &count);
    split_add (mine, list, &count);
    qsort (list, count, sizeof list[0], cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < count; i++)
        total += strlen (list[i]) + 1;
    out = malloc (total);
    if (!out)
        goto fail;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (i)
            out[n++] = ';';
        memcpy (out + n, list[i], strlen (list[i]));
        n += strlen (list[i]);
    }
    out[n] = 0;
    //  Most records repeat what is stored: mem_put skips an unchanged value.
    if (mem_put (self, k, kl, out, n))
        goto fail;
    free (old);
    free (mine);
    *merged = out;
    return 0;
fail:
    free (old);
    free (mine);
    free (out);
    return -1;
}

static int
s_remember (void *arg, const char *ext_id, const char *sobject)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 's', ext_id, "", NULL);
    if (!kl) {
        cm_error ("TRF_MEMORY_ERROR", "op=remember reason=\"key too long\"");
        return -1;
    }
    return mem_put (self, k, kl, sobject, strlen (sobject));
}

static int
s_sobject_of (void *arg, const char *ext_id, char **sobject)
{
    tf_memory_t *self = arg;
    char k[TF_MEMORY_MAX_KEY];
    size_t kl = mkey (k, 's', ext_id, "", NULL);
    size_t vl = 0;
    *sobject = NULL;
    if (!kl || mem_get (self, k, kl, sobject, &vl) < 0) {
        cm_error ("TRF_MEMORY_ERROR", "op=sobject_of reason=\"%s\"", cm_store_error (self->store));
        return -1;
    }
    return 0;
}

void
tf_memory_ops (tf_memory_t *self, tf_memory_ops_t *ops)
{
    ops->remember = s_remember;
    ops->sobject_of = s_sobject_of;
    ops->merge_union = s_merge_union;
    ops->match = s_match;
    ops->resolve = s_resolve;
    ops->commit = s_commit;
    ops->arg = self;
}
