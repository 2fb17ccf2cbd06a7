/*
 * mem - the embedded store (see mem.h for the design)
 *
 * Open addressing with linear probing: a table is an array of 16-byte
 * slots, each the key's whole 64-bit hash beside a pointer to its entry,
 * so a lookup reads one run of slots (one cache line, nearly always) and
 * touches an entry only when the hash matches: one memory miss for a key
 * that is absent, two for one that is there, where a chain cost the
 * bucket and then every entry on it. An entry is one allocation: a
 * 16-byte header, the key (padded to 8 bytes: a lookup compares it in the
 * entry's first cache lines) and the value. A table is never more than MEM_HARD_LOAD full, so every probe ends
 * at an empty slot; a delete shifts the run after it back (no tombstone),
 * except in a table being rehashed away, where it leaves MEM_MOVED.
 *
 * Two tables during a rehash, as in Redis's dict: lookups look in both,
 * inserts go to the new one, and each operation moves one entry across
 * (its slot only: the entry itself is not read). The table grows to twice
 * its size when it passes MEM_GROW_LOAD. From 2 MiB up a table's slots ask for
 * transparent huge pages (fg_calloc_huge): lookups read them at random,
 * so with 4 KiB pages each one missed the TLB too, and each page cost a
 * fault (two: read as the zero page, then copied) as the table filled.
 *
 * While a forked child writes a snapshot, every page the parent writes is
 * copied, so moving entries would copy the whole table in the end: the
 * daemon holds the rehash then (mem_hold_rehash, as Redis avoids resizing
 * while a child saves). Lookups and inserts work the same on two tables,
 * so a paused rehash only fills the tables further; past MEM_HARD_LOAD of
 * the newest table it grows and rehashes anyway (a rehash in progress is
 * finished at once first), as Redis's dict_force_resize_ratio does,
 * because a fuller table cannot take more keys.
 */
#include "mem.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "distinct.h"
#include "hash.h"
#include "num.h"

struct mem_entry {
    uint64_t expires;     /* ms; UINT64_MAX = never */
    uint16_t klen;        /* key bytes */
    uint16_t vlen;        /* value bytes */
    uint32_t unused;      /* keeps the value 8-aligned */
    unsigned char data[]; /* value, then key */
};

typedef struct slot {
    uint64_t hash;        /* the key's keyed hash */
    mem_entry *e;         /* NULL = empty; MEM_MOVED = moved or deleted while the table is rehashed away */
} slot;

typedef struct table {
    slot *slots;         /* 2^bits slots */
    uint64_t mask;       /* size - 1; size 0 = unused */
    uint64_t used;       /* entries */
} table;

struct mem_store {
    table t[2];          /* t[1] is the target of a rehash in progress */
    int64_t rehash_idx;  /* next slot of t[0] to move; -1 = not rehashing */
    int forced;          /* the rehash in progress goes on while held (the table was too full to wait) */
    unsigned hold;       /* rehash held (a snapshot child is writing): nesting count */
    uint64_t purge_idx;  /* purge cursor over t[0] */
    uint64_t max_keys;   /* eviction bound; 0 = none */
    hash_key key;        /* the table's secret SipHash key: runs cannot be aimed at from outside */
    uint64_t rng;        /* xorshift state for eviction sampling */
    store_stats st;      /* expired, evicted */
};

static mem_entry moved_mark;
#define MEM_MOVED (&moved_mark)

#define INITIAL_BITS 4
#define MEM_BATCH_HASHED 16 /* a batch's first operations whose keys are hashed once and prefetched together */
/* loads as keys * 8 > slots * N: growth starts past 3/4; past 7/8 the table grows even while held */
#define MEM_GROW_LOAD 6
#define MEM_HARD_LOAD 7

/* live - does a slot hold an entry? */
static inline int live(const slot *s)
{
    return s->e && s->e != MEM_MOVED;
}

/* key_room - bytes of an entry's key and the padding after it (the value is 8-aligned) */
static inline size_t key_room(size_t klen)
{
    return (klen + 7) & ~(size_t)7;
}

/* key_of - the key bytes of an entry */
static inline unsigned char *key_of(mem_entry *e)
{
    return e->data;
}

/* value_of - the value bytes of an entry */
static inline unsigned char *value_of(mem_entry *e)
{
    return e->data + key_room(e->klen);
}

/* key_hash - the keyed hash of a key (hash.h: why it must be keyed) */
static inline uint64_t key_hash(const mem_store *m, const void *key, size_t klen)
{
    return hash_keyed(&m->key, key, klen);
}

/* table_init - allocate 2^bits empty slots */
static void table_init(table *t, unsigned bits)
{
    t->slots = fg_calloc_huge((size_t)1 << bits, sizeof *t->slots);
    t->mask = ((uint64_t)1 << bits) - 1;
    t->used = 0;
}

/* table_free - free a table's slots */
static void table_free(table *t)
{
    fg_free_huge(t->slots, (size_t)t->mask + 1, sizeof *t->slots);
}

/* slot_insert - put an entry of a key known to be absent into t's first free slot of its run */
static slot *slot_insert(table *t, uint64_t h, mem_entry *e)
{
    uint64_t i = h & t->mask;

    while (t->slots[i].e)
        i = (i + 1) & t->mask;
    t->slots[i].hash = h;
    t->slots[i].e = e;
    t->used++;
    return &t->slots[i];
}

/* newest - the table inserts go to */
static inline table *newest(mem_store *m)
{
    return m->rehash_idx >= 0 ? &m->t[1] : &m->t[0];
}

/* rehash_done - the old table is empty: the new one takes its place */
static void rehash_done(mem_store *m)
{
    table_free(&m->t[0]);
    m->t[0] = m->t[1];
    memset(&m->t[1], 0, sizeof m->t[1]);
    m->rehash_idx = -1;
    m->forced = 0;
    m->purge_idx = 0;
}

/* rehash_step - move up to n entries from t[0] to t[1] (visiting at most 64 free slots per entry) */
static void rehash_step(mem_store *m, uint64_t n)
{
    uint64_t free_visits = n * 64;

    while (n > 0 && m->rehash_idx >= 0) {
        slot *s = &m->t[0].slots[m->rehash_idx++];
        if (live(s)) {
            slot_insert(&m->t[1], s->hash, s->e);
            s->e = MEM_MOVED; /* runs through it stay whole for lookups in t[0] */
            m->t[0].used--;
            n--;
        } else if (--free_visits == 0) {
            n = 0;
        }
        if ((uint64_t)m->rehash_idx > m->t[0].mask)
            rehash_done(m);
    }
}

/* rehash_may_step - move entries now? Not while held, unless the rehash was forced */
static int rehash_may_step(const mem_store *m)
{
    return m->rehash_idx >= 0 && (!m->hold || m->forced);
}

/* too_full - would one more key take the table of 2^bits slots past loadn/8? */
static int too_full(uint64_t keys, uint64_t mask, unsigned loadn)
{
    return (keys + 1) * 8 > (mask + 1) * loadn;
}

/* maybe_grow - before an insert: start a rehash to twice the size past MEM_GROW_LOAD (not while held);
 * past MEM_HARD_LOAD of the newest table (only while held, or a rehash that could not keep up), finish any
 * rehash at once and grow to a size that brings the load back under MEM_GROW_LOAD / 2, moving on even while
 * held */
static void maybe_grow(mem_store *m)
{
    uint64_t keys = mem_count(m);
    table *t = newest(m);
    unsigned bits = 0;

    if (too_full(keys, t->mask, MEM_HARD_LOAD)) {
        if (m->rehash_idx >= 0)
            rehash_step(m, UINT64_MAX / 64);
        while (((uint64_t)1 << bits) <= m->t[0].mask)
            bits++;
        bits++;
        while (bits < 62 && (keys + 1) * 16 > ((uint64_t)1 << bits) * MEM_GROW_LOAD)
            bits++;
        table_init(&m->t[1], bits);
        m->rehash_idx = 0;
        m->forced = m->hold > 0;
        return;
    }
    if (m->rehash_idx >= 0 || m->hold || !too_full(keys, m->t[0].mask, MEM_GROW_LOAD))
        return;
    while (((uint64_t)1 << bits) <= m->t[0].mask)
        bits++;
    table_init(&m->t[1], bits + 1);
    m->rehash_idx = 0;
    m->forced = 0;
}

/* mem_hold_rehash - hold (on) or release (off) the incremental rehash and the growth of the table;
 * holds nest */
void mem_hold_rehash(mem_store *m, int on)
{
    if (on)
        m->hold++;
    else if (m->hold)
        m->hold--;
}

/* mem_rehash_pos - the next slot a rehash in progress moves, -1 when none is (tests) */
int64_t mem_rehash_pos(const mem_store *m)
{
    return m->rehash_idx;
}

/* find - the slot of the entry for key, or NULL; *tip = the table holding it */
static slot *find(mem_store *m, const void *key, size_t klen, uint64_t h, int *tip)
{
    for (int ti = 0; ti < 2; ti++) {
        table *t = &m->t[ti];
        if (!t->slots)
            break;
        for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
            slot *s = &t->slots[i];
            if (!s->e)
                break;
            if (s->hash == h && s->e != MEM_MOVED && s->e->klen == klen && !memcmp(key_of(s->e), key, klen)) {
                *tip = ti;
                return s;
            }
        }
        if (m->rehash_idx < 0)
            break;
    }
    return NULL;
}

/* slot_remove - empty a slot of table ti: in a table being rehashed away it is marked moved, elsewhere
 * the entries of the run after it that may move back do (so that no lookup stops short of them) */
static void slot_remove(mem_store *m, slot *s, int ti)
{
    table *t = &m->t[ti];
    uint64_t i = (uint64_t)(s - t->slots), j = i;

    t->used--;
    if (ti == 0 && m->rehash_idx >= 0) {
        s->e = MEM_MOVED;
        return;
    }
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j].e)
            break;
        uint64_t home = t->slots[j].hash & t->mask;
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].e = NULL;
}

/* unlink_free - remove and free the entry of a slot of table ti */
static void unlink_free(mem_store *m, slot *s, int ti)
{
    mem_entry *e = s->e;

    slot_remove(m, s, ti);
    fg_free(e);
}

/* mem_new - an empty store */
mem_store *mem_new(const mem_config *cfg)
{
    mem_store *m = fg_calloc(1, sizeof *m);

    table_init(&m->t[0], INITIAL_BITS);
    m->rehash_idx = -1;
    m->max_keys = cfg ? cfg->max_keys : 0;
    hash_init(); /* idempotent; the daemon has checked it at start */
    if (cfg && cfg->seed) {
        hash_key_fixed(&m->key, cfg->seed);
        m->rng = cfg->seed | 1;
    } else {
        hash_key_random(&m->key);
        randombytes_buf(&m->rng, sizeof m->rng);
        m->rng |= 1;
    }
    return m;
}

/* mem_free - free every entry and the tables; NULL is fine */
void mem_free(mem_store *m)
{
    if (!m)
        return;
    for (int ti = 0; ti < 2; ti++) {
        table *t = &m->t[ti];
        if (!t->slots)
            continue;
        for (uint64_t i = 0; i <= t->mask; i++)
            if (live(&t->slots[i]))
                fg_free(t->slots[i].e);
        table_free(t);
    }
    fg_free(m);
}

/* find_hashed - mem_find for a key whose hash the caller has */
static mem_entry *find_hashed(mem_store *m, const void *key, size_t klen, uint64_t h, uint64_t now_ms)
{
    slot *s;
    int ti = 0;

    if (rehash_may_step(m))
        rehash_step(m, 1);
    s = find(m, key, klen, h, &ti);
    if (!s)
        return NULL;
    if (s->e->expires <= now_ms) {
        unlink_free(m, s, ti);
        m->st.expired++;
        return NULL;
    }
    return s->e;
}

/* mem_find - the live entry of a key; an expired one is removed on the way */
mem_entry *mem_find(mem_store *m, const void *key, size_t klen, uint64_t now_ms)
{
    return find_hashed(m, key, klen, key_hash(m, key, klen), now_ms);
}

/* prefetch_slots - start loading the home slot of a hash in each table, ahead of a find */
static inline void prefetch_slots(const mem_store *m, uint64_t h)
{
    __builtin_prefetch(&m->t[0].slots[h & m->t[0].mask]);
    if (m->t[1].slots)
        __builtin_prefetch(&m->t[1].slots[h & m->t[1].mask]);
}

/* prefetch_entry - start loading the first span bytes (at most 4 cache lines) of the entry whose slot has the
 * hash, if one of the first slots of its run in either table has it (they are in cache by now) */
static inline void prefetch_entry(const mem_store *m, uint64_t h, size_t span)
{
    for (int ti = 0; ti < 2; ti++) {
        const table *t = &m->t[ti];
        if (!t->slots)
            break;
        for (uint64_t n = 0, i = h & t->mask; n < 4 && t->slots[i].e; n++, i = (i + 1) & t->mask)
            if (t->slots[i].hash == h) {
                uintptr_t p = (uintptr_t)t->slots[i].e, end = p + (span < 256 ? span : 256);
                for (p &= ~(uintptr_t)63; p < end; p += 64)
                    __builtin_prefetch((const void *)p);
                return;
            }
    }
}

/* mem_entry_value - an entry's value and its size */
void *mem_entry_value(mem_entry *e, size_t *vlen)
{
    *vlen = e->vlen;
    return value_of(e);
}

/* mem_entry_expires - an entry's expiry */
uint64_t mem_entry_expires(const mem_entry *e)
{
    return e->expires;
}

/* mem_entry_expire - set an entry's expiry */
void mem_entry_expire(mem_entry *e, uint64_t expires_ms)
{
    e->expires = expires_ms;
}

/* mem_get - value of a live key */
void *mem_get(mem_store *m, const void *key, size_t klen, size_t *vlen, uint64_t now_ms)
{
    mem_entry *e = mem_find(m, key, klen, now_ms);
    return e ? mem_entry_value(e, vlen) : NULL;
}

/* next_rand - xorshift64 */
static uint64_t next_rand(mem_store *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

/* evict_one - drop the entry nearest to expiry among a sample */
static void evict_one(mem_store *m, uint64_t now_ms)
{
    slot *best = NULL;
    int seen = 0, best_ti = 0;

    for (int ti = 0; ti < 2 && seen < MEM_EVICT_SAMPLES; ti++) {
        table *t = &m->t[ti];
        if (!t->slots || !t->used)
            continue;
        uint64_t start = next_rand(m) & t->mask;
        for (uint64_t n = 0; n <= t->mask && seen < MEM_EVICT_SAMPLES; n++) {
            slot *s = &t->slots[(start + n) & t->mask];
            if (!live(s))
                continue;
            seen++;
            if (!best || s->e->expires < best->e->expires) {
                best = s;
                best_ti = ti;
            }
        }
    }
    if (!best)
        return;
    if (best->e->expires <= now_ms)
        m->st.expired++;
    else
        m->st.evicted++;
    unlink_free(m, best, best_ti);
}

/* put_hashed - mem_put for a key whose hash the caller has */
static void *put_hashed(mem_store *m, const void *key, size_t klen, uint64_t h, size_t vlen, uint64_t expires_ms,
                        uint64_t now_ms)
{
    slot *s;
    mem_entry *e;
    int ti = 0;

    if (rehash_may_step(m))
        rehash_step(m, 1);
    s = find(m, key, klen, h, &ti);
    if (s && s->e->expires <= now_ms) {
        unlink_free(m, s, ti);
        m->st.expired++;
        s = NULL;
    }
    if (s) {
        e = s->e;
        if (e->vlen != vlen) {
            mem_entry *n = fg_malloc(sizeof *n + key_room(klen) + vlen);
            *n = *e;
            n->vlen = (uint16_t)vlen;
            memcpy(n->data, key, klen);
            memset(value_of(n), 0, vlen);
            s->e = n;
            fg_free(e);
            e = n;
        }
        e->expires = expires_ms;
        return value_of(e);
    }
    if (m->max_keys && mem_count(m) >= m->max_keys)
        evict_one(m, now_ms);
    maybe_grow(m);
    e = fg_malloc(sizeof *e + key_room(klen) + vlen);
    e->expires = expires_ms;
    e->klen = (uint16_t)klen;
    e->vlen = (uint16_t)vlen;
    e->unused = 0;
    memcpy(e->data, key, klen);
    memset(value_of(e), 0, vlen);
    slot_insert(newest(m), h, e);
    return value_of(e);
}

/* mem_put - the value of key with vlen bytes, created or resized zeroed */
void *mem_put(mem_store *m, const void *key, size_t klen, size_t vlen, uint64_t expires_ms, uint64_t now_ms)
{
    return put_hashed(m, key, klen, key_hash(m, key, klen), vlen, expires_ms, now_ms);
}

/* mem_del - remove a key */
int mem_del(mem_store *m, const void *key, size_t klen)
{
    int ti = 0;
    slot *s = find(m, key, klen, key_hash(m, key, klen), &ti);

    if (!s)
        return 0;
    unlink_free(m, s, ti);
    return 1;
}

/* mem_purge - remove expired keys, a bounded number of slots at a time */
size_t mem_purge(mem_store *m, uint64_t now_ms, size_t budget)
{
    size_t removed = 0;

    if (rehash_may_step(m)) {
        /* finish growing first; the purge cursor restarts on the new table */
        rehash_step(m, budget);
        return 0;
    }
    /* not rehashing, or held: the old table's entries still to move are purged where they are (the new
     * table holds only keys inserted since the rehash began, and is purged once it is the only one). A
     * removal may shift a later entry of the run into the slot: it is looked at again. */
    for (size_t n = 0; n < budget; n++) {
        table *t = &m->t[0];
        slot *s = &t->slots[m->purge_idx++ & t->mask];
        while (live(s) && s->e->expires <= now_ms) {
            unlink_free(m, s, 0);
            removed++;
        }
    }
    m->st.expired += removed;
    return removed;
}

/* mem_foreach - visit every live key */
int mem_foreach(mem_store *m, uint64_t now_ms, mem_visit_fn fn, void *arg)
{
    for (int ti = 0; ti < 2; ti++) {
        table *t = &m->t[ti];
        if (!t->slots)
            continue;
        for (uint64_t i = 0; i <= t->mask; i++) {
            mem_entry *e = t->slots[i].e;
            if (!live(&t->slots[i]) || e->expires <= now_ms)
                continue;
            int rc = fn(key_of(e), e->klen, value_of(e), e->vlen, e->expires, arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* mem_max_chain - the longest probe of the table(s): slots a lookup of some key reads to find it */
size_t mem_max_chain(const mem_store *m)
{
    size_t longest = 0;

    for (int ti = 0; ti < 2; ti++) {
        const table *t = &m->t[ti];
        if (!t->slots)
            continue;
        for (uint64_t i = 0; i <= t->mask; i++) {
            if (!live(&t->slots[i]))
                continue;
            size_t n = (size_t)((i - (t->slots[i].hash & t->mask)) & t->mask) + 1;
            if (n > longest)
                longest = n;
        }
    }
    return longest;
}

/* mem_count - keys held */
uint64_t mem_count(const mem_store *m)
{
    return m->t[0].used + m->t[1].used;
}

/* mem_stats - table statistics */
void mem_stats(const mem_store *m, store_stats *out)
{
    out->keys = mem_count(m);
    out->expired = m->st.expired;
    out->evicted = m->st.evicted;
}

/* ---- the store interface ---- */

typedef struct mem_backend {
    store base;        /* must be first */
    mem_store *table;  /* the data */
    uint64_t batches;  /* batches answered */
} mem_backend;

/* write_in_place - overwrite a found entry's value of the same size; 0 if it must be put instead */
static int write_in_place(mem_entry *e, const void *data, size_t len, uint64_t expires_ms)
{
    size_t vlen;
    void *v = e ? mem_entry_value(e, &vlen) : NULL;

    if (!v || vlen != len)
        return 0;
    memcpy(v, data, len);
    mem_entry_expire(e, expires_ms);
    return 1;
}

/* grey_step_run - one greylist step, written back at once: the entries found are updated in
 * place before anything is inserted (an insert may evict, so only then are keys looked up again) */
static void grey_step_run(mem_store *m, store_batch *b, store_op *op)
{
    size_t tlen = 0, clen = 0;
    mem_entry *te = mem_find(m, batch_key(b, op), op->key_len, b->now_ms);
    mem_entry *ce = mem_find(m, batch_key2(b, op), op->key2_len, b->now_ms);
    const void *t = te ? mem_entry_value(te, &tlen) : NULL, *c = ce ? mem_entry_value(ce, &clen) : NULL;
    grey_step step;

    grey_decide(&op->grey, b->now_ms, t, tlen, c, clen, &step);
    int t_done = !step.write_triplet || write_in_place(te, step.triplet, GREY_TRIPLET_SIZE, step.triplet_expires);
    int c_done = !step.write_client || write_in_place(ce, step.client, GREY_CLIENT_SIZE, step.client_expires);
    if (!t_done)
        memcpy(mem_put(m, batch_key(b, op), op->key_len, GREY_TRIPLET_SIZE, step.triplet_expires, b->now_ms),
               step.triplet, GREY_TRIPLET_SIZE);
    if (!c_done)
        memcpy(mem_put(m, batch_key2(b, op), op->key2_len, GREY_CLIENT_SIZE, step.client_expires, b->now_ms),
               step.client, GREY_CLIENT_SIZE);
    op->grey_result = (uint8_t)step.result;
    op->admitted = grey_passes(step.result);
    op->peek.retry_ms = step.retry_ms;
}

/* kv_expiry - when a kv key written now with ttl_ms expires */
static uint64_t kv_expiry(const store_batch *b, const store_op *op)
{
    return op->ttl_ms ? b->now_ms + op->ttl_ms : UINT64_MAX;
}

/* kv_owned - is the live entry's value the operand (a lock's owner token)? */
static int kv_owned(mem_entry *e, const store_batch *b, const store_op *op)
{
    size_t vlen;
    const void *v = e ? mem_entry_value(e, &vlen) : NULL;
    return v && vlen == op->key2_len && !memcmp(v, batch_key2(b, op), vlen);
}

/* kv_step_run - one of the other tenants' operations (store.h); never refuses the batch */
static void kv_step_run(mem_store *m, store_batch *b, store_op *op)
{
    const unsigned char *key = batch_key(b, op);
    mem_entry *e = mem_find(m, key, op->key_len, b->now_ms);
    size_t vlen;
    void *v = e ? mem_entry_value(e, &vlen) : NULL;
    char num[24];

    op->admitted = 0;
    switch (op->type) {
    case STORE_KV_GET:
        if (v) {
            batch_set_result(b, op, v, vlen);
            op->admitted = 1;
        }
        break;
    case STORE_KV_SET:
    case STORE_LOCK:
        if (v && (op->type == STORE_LOCK || (op->flags & STORE_NX)))
            break; /* a lock is taken only when free: even its owner gets a new token by unlock + lock */
        memcpy(mem_put(m, key, op->key_len, op->key2_len, kv_expiry(b, op), b->now_ms), batch_key2(b, op),
               op->key2_len);
        op->admitted = 1;
        break;
    case STORE_KV_INCR: {
        int64_t cur = 0;
        const char *why;
        if (v && num_parse_i64(v, vlen, &cur, &why) < 0)
            break; /* not a number: left as it is */
        cur = num_sat_add_i64(cur, op->num);
        int n = snprintf(num, sizeof num, "%lld", (long long)cur);
        uint64_t expires = e ? mem_entry_expires(e) : kv_expiry(b, op);
        memcpy(mem_put(m, key, op->key_len, (size_t)n, expires, b->now_ms), num, (size_t)n);
        op->num = cur;
        op->admitted = 1;
        break;
    }
    case STORE_UNLOCK:
        if (kv_owned(e, b, op))
            op->admitted = mem_del(m, key, op->key_len);
        break;
    case STORE_RENEW:
        if (kv_owned(e, b, op)) {
            mem_entry_expire(e, kv_expiry(b, op));
            op->admitted = 1;
        }
        break;
    }
}

/* distinct_commit - add a distinct operation's value to its state (distinct.h); a state that changes size
 * is rebuilt from a copy, since mem_put hands back a new zeroed value (an old one that changes size is exact,
 * at most DISTINCT_HDR + DISTINCT_EXACT_MAX entries, or an HLL state whose window is empty); h = the key's
 * hash */
static void distinct_commit(mem_store *m, store_batch *b, store_op *op, uint64_t h)
{
    unsigned char old[DISTINCT_HDR + DISTINCT_EXACT_MAX * DISTINCT_ENTRY];
    const unsigned char *key = batch_key(b, op);
    mem_entry *e = find_hashed(m, key, op->key_len, h, b->now_ms);
    size_t vlen = 0;
    void *v = e ? mem_entry_value(e, &vlen) : NULL;
    size_t need = distinct_add_size(&op->win, v, vlen, op->fp, b->now_ms);

    if (!v || need != vlen) {
        size_t oldlen = v && distinct_is_exact(v, vlen) && vlen <= sizeof old ? vlen : 0;
        if (oldlen)
            memcpy(old, v, oldlen);
        v = put_hashed(m, key, op->key_len, h, need, UINT64_MAX, b->now_ms);
        e = find_hashed(m, key, op->key_len, h, b->now_ms);
        distinct_add(&op->win, oldlen ? old : NULL, oldlen, op->fp, b->now_ms, v, need);
    } else {
        distinct_add(&op->win, v, vlen, op->fp, b->now_ms, v, vlen);
    }
    /* the key lives as long as the state's newest bucket is in the window (its logical expiry, which the
     * Redis script keeps too) */
    mem_entry_expire(e, distinct_state_expiry(v, need));
    if (!op->seen) {
        op->peek.total++;
        op->wpeek[0].total++;
    }
}

/* mem_submit - answer a batch at once */
static int mem_submit(store *s, store_batch *b, store_done_fn done, void *arg)
{
    mem_backend *mb = (mem_backend *)s;
    mem_store *m = mb->table;
    size_t i, vlen;

    (void)done;
    (void)arg;
    mb->batches++;
    /* the windows' keys hashed once, and their chains fetched from memory together rather than one miss after
     * the other: a big table's lookups are cache misses (slots, then entry), and a batch has several keys */
    uint64_t hs[MEM_BATCH_HASHED];
    size_t sz[MEM_BATCH_HASHED]; /* their windows' state sizes */
    size_t nh = b->nops < MEM_BATCH_HASHED ? b->nops : MEM_BATCH_HASHED;
    for (i = 0; i < nh; i++)
        if (b->ops[i].type == STORE_WINDOW || b->ops[i].type == STORE_PEEK) {
            hs[i] = key_hash(m, batch_key(b, &b->ops[i]), b->ops[i].key_len);
            prefetch_slots(m, hs[i]);
        }
    for (i = 0; i < nh; i++)
        if (b->ops[i].type == STORE_WINDOW || b->ops[i].type == STORE_PEEK) {
            /* the header, the key and the windows' value (a distinct state's first line) */
            unsigned n;
            const window_spec *w = op_windows(&b->ops[i], &n);
            sz[i] = windows_state_size(w, n);
            size_t value = b->ops[i].flags & STORE_DISTINCT ? 64 : sz[i];
            prefetch_entry(m, hs[i], sizeof(mem_entry) + key_room(b->ops[i].key_len) + value);
        }
    /* in order, up to the first operation that refuses; windows are only checked here */
    for (i = 0; i < b->nops && b->denied < 0; i++) {
        store_op *op = &b->ops[i];
        mem_entry *e;
        const void *v;
        switch (op->type) {
        case STORE_WINDOW:
        case STORE_PEEK:
            e = i < nh ? find_hashed(m, batch_key(b, op), op->key_len, hs[i], b->now_ms)
                       : mem_find(m, batch_key(b, op), op->key_len, b->now_ms);
            v = e ? mem_entry_value(e, &vlen) : NULL;
            if (op->flags & STORE_DISTINCT) {
                int seen;
                op->admitted = distinct_check(&op->win, (void *)v, v ? vlen : 0, op->fp, b->now_ms, &op->peek, &seen);
                op->seen = (uint8_t)seen;
                op->which = 0;
                op->wpeek[0] = op->peek;
            } else {
                unsigned n, which;
                const window_spec *w = op_windows(op, &n);
                op->admitted = windows_check(w, n, v, v ? vlen : 0, b->now_ms, op->wpeek, &which);
                op->which = (uint8_t)which;
                op->peek = op->wpeek[which];
            }
            op->backend = e;
            if (op->type == STORE_WINDOW && !op->admitted && !(op->flags & STORE_DRY))
                b->denied = (long)i;
            break;
        case STORE_DEL:
            op->admitted = mem_del(m, batch_key(b, op), op->key_len);
            break;
        case STORE_GREYLIST:
            grey_step_run(m, b, op);
            if (!op->admitted && !(op->flags & STORE_DRY))
                b->denied = (long)i;
            break;
        default:
            kv_step_run(m, b, op);
            break;
        }
    }
    /* windows: all or nothing. The entries found above are still valid as long as nothing is
     * inserted or deleted (a greylist step may have done either: then every key is looked up again),
     * so existing counters are updated first, in place, and missing ones created after. */
    if (b->denied >= 0 || !b->commit)
        return STORE_DONE;
    int cached = 1;
    for (i = 0; i < b->nops; i++)
        cached &= b->ops[i].type == STORE_WINDOW || b->ops[i].type == STORE_PEEK; /* the others insert or delete */
    for (int pass = 0; pass < 2; pass++) {
        for (i = 0; i < b->nops; i++) {
            store_op *op = &b->ops[i];
            size_t want;
            unsigned n;
            if (op->type != STORE_WINDOW || !op->admitted)
                continue; /* only a dry-run window that would refuse is not admitted here */
            if (op->flags & STORE_DISTINCT) {
                if (pass == 1) /* may resize: after every in-place update */
                    distinct_commit(m, b, op, i < nh ? hs[i] : key_hash(m, batch_key(b, op), op->key_len));
                continue;
            }
            const window_spec *w = op_windows(op, &n);
            want = i < nh ? sz[i] : windows_state_size(w, n);
            void *v;
            if (pass == 0) {
                /* only here are the cached entries read: no insert has happened yet */
                mem_entry *e = cached ? op->backend : NULL;
                v = e ? mem_entry_value(e, &vlen) : NULL;
                op->backend = NULL;
                if (!v || vlen != want)
                    continue;
                mem_entry_expire(e, windows_expiry(w, n, b->now_ms));
                op->backend = op; /* marks it counted */
            } else {
                if (op->backend)
                    continue;
                uint64_t exp = windows_expiry(w, n, b->now_ms);
                v = i < nh ? put_hashed(m, batch_key(b, op), op->key_len, hs[i], want, exp, b->now_ms)
                           : mem_put(m, batch_key(b, op), op->key_len, want, exp, b->now_ms);
            }
            windows_add(w, n, v, want, b->now_ms);
            op->peek.total++;
            for (unsigned wi = 0; wi < n; wi++)
                op->wpeek[wi].total++;
        }
    }
    return STORE_DONE;
}

/* mem_tick - purge a slice of the table */
static void mem_tick(store *s, uint64_t now_ms)
{
    mem_purge(((mem_backend *)s)->table, now_ms, MEM_PURGE_BUDGET);
}

/* mem_backend_stats - statistics */
static void mem_backend_stats(store *s, store_stats *out)
{
    mem_backend *mb = (mem_backend *)s;
    mem_stats(mb->table, out);
    out->batches = mb->batches;
}

/* mem_backend_free - free the store */
static void mem_backend_free(store *s)
{
    mem_backend *mb = (mem_backend *)s;
    mem_free(mb->table);
    fg_free(mb);
}

static const store_vtab mem_vtab = {
    .name = "embedded",
    .submit = mem_submit,
    .tick = mem_tick,
    .stats = mem_backend_stats,
    .free = mem_backend_free,
};

/* mem_store_new - the embedded store behind the store interface */
store *mem_store_new(const mem_config *cfg)
{
    mem_backend *mb = fg_calloc(1, sizeof *mb);
    mb->base.vt = &mem_vtab;
    mb->table = mem_new(cfg);
    return &mb->base;
}

/* mem_store_table - the table behind an embedded store */
mem_store *mem_store_table(store *s)
{
    return s->vt == &mem_vtab ? ((mem_backend *)s)->table : NULL;
}
