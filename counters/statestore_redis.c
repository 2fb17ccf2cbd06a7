/*
 * statestore_redis - the fleet mirror behind the statestore interface (see statestore_redis.h)
 *
 * A resync walks one class at a time (the mirror's order); the keys it reads go into a set of 64-bit
 * hashes (SipHash under a key drawn at start, so a fleet peer cannot choose collisions; a collision would
 * only make the end of a resync skip one record's repair). At the end of a class the owner's dump is
 * compared with the set; deletions are gathered first and applied after the dump, since a dump must only
 * read its owner's state.
 *
 * A page of a resync may be older than a change: a local put or del, or a message heard on the other
 * connection, can come before a page read earlier. So every key changed since the resync began goes into a
 * second set, and a resync record (MIRROR_SYNC_PUT) of such a key is skipped: what the owner holds is newer.
 */
#include "statestore_redis.h"

#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "keys.h"

#define SEEN_MIN 1024 /* slots of the set of keys a resync read */

typedef struct keyset {
    uint64_t *slot;             /* key hashes: open addressing, 0 = empty */
    size_t cap, n;
} keyset;

typedef struct ss_redis {
    statestore base;            /* first: a statestore * is an ss_redis * */
    mirror *m;
    statestore_redis_clock clock;
    void *clock_arg;
    hash_key hk;                /* keys the sets' hashes */
    keyset seen;                /* keys the resync in progress read */
    keyset changed;             /* keys changed (here or by a message) since it began: its pages may be older */
    int syncing;
    statestore_stats st;
} ss_redis;

typedef struct unseen {
    ss_redis *r;
    uint8_t cls;
    unsigned char **keys;       /* replaced classes: keys to delete from the owner after the dump */
    size_t *lens;
    size_t n, cap;
} unseen;

/* key_hash - the keyed hash of a key (never 0) */
static uint64_t key_hash(const ss_redis *r, const unsigned char *k, size_t n)
{
    uint64_t h = hash_keyed(&r->hk, k, n);
    return h ? h : 1;
}

/* keyset_add / keyset_has / keyset_clear - a set of key hashes */
static void keyset_add(keyset *ks, uint64_t h)
{
    if (2 * (ks->n + 1) > ks->cap) {
        keyset old = *ks;
        ks->cap = old.cap ? old.cap * 2 : SEEN_MIN;
        ks->slot = fg_calloc(ks->cap, sizeof *ks->slot);
        ks->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i])
                keyset_add(ks, old.slot[i]);
        fg_free(old.slot);
    }
    size_t i = (size_t)h & (ks->cap - 1);
    while (ks->slot[i] && ks->slot[i] != h)
        i = (i + 1) & (ks->cap - 1);
    if (!ks->slot[i]) {
        ks->slot[i] = h;
        ks->n++;
    }
}

static int keyset_has(const keyset *ks, uint64_t h)
{
    if (!ks->cap)
        return 0;
    size_t i = (size_t)h & (ks->cap - 1);
    while (ks->slot[i]) {
        if (ks->slot[i] == h)
            return 1;
        i = (i + 1) & (ks->cap - 1);
    }
    return 0;
}

static void keyset_clear(keyset *ks)
{
    if (ks->slot)
        memset(ks->slot, 0, ks->cap * sizeof *ks->slot);
    ks->n = 0;
}

/* merged - a class whose owner changes it while Redis is away too: a resync writes its records back */
static int merged(uint8_t cls)
{
    return cls == KEY_BAN || cls == KEY_BAN_HISTORY;
}

/* emit_unseen - one record of the owner's dump at the end of a class's resync */
static int emit_unseen(void *w, const state_rec *rec)
{
    unseen *u = w;
    ss_redis *r = u->r;

    if (rec->cls != u->cls || keyset_has(&r->seen, key_hash(r, rec->key, rec->klen)))
        return 0;
    if (merged(rec->cls)) {
        mirror_rec m = {rec->cls, rec->key, rec->klen, rec->value, rec->vlen, rec->expires};
        if (mirror_put(r->m, &m) < 0)
            r->st.failures++;
        else
            r->st.records++;
        return 0;
    }
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 16;
        u->keys = fg_realloc(u->keys, u->cap * sizeof *u->keys);
        u->lens = fg_realloc(u->lens, u->cap * sizeof *u->lens);
    }
    u->keys[u->n] = fg_malloc(rec->klen ? rec->klen : 1);
    memcpy(u->keys[u->n], rec->key, rec->klen);
    u->lens[u->n++] = rec->klen;
    return 0;
}

/* sync_end - compare the owner of cls with what the resync read */
static void sync_end(ss_redis *r, uint8_t cls, uint64_t now)
{
    const state_client *owner = statestore_owner(&r->base, cls);
    unseen u = {.r = r, .cls = cls};

    if (!owner || !owner->dump)
        return;
    owner->dump(emit_unseen, &u, owner->arg);
    for (size_t i = 0; i < u.n; i++) {
        state_rec del = {cls, u.keys[i], u.lens[i], NULL, 0, 0};
        statestore_apply(&r->base, STATE_DEL, &del, now);
        fg_free(u.keys[i]);
    }
    fg_free(u.keys);
    fg_free(u.lens);
}

/* on_apply - the mirror hands over another daemon's change, or a step of a resync */
static void on_apply(int op, const mirror_rec *m, void *arg)
{
    ss_redis *r = arg;
    uint64_t now = r->clock(r->clock_arg);

    if (op == MIRROR_SYNC_BEGIN) {
        r->syncing = 1;
        keyset_clear(&r->seen);
        keyset_clear(&r->changed);
        return;
    }
    if (op == MIRROR_SYNC_END) {
        r->syncing = 0;
        sync_end(r, m->cls, now);
        return;
    }
    if (!m->klen || m->key[0] != m->cls)
        return; /* a statestore key starts with its class byte */
    uint64_t h = key_hash(r, m->key, m->klen);
    if (r->syncing)
        keyset_add(&r->seen, h);
    if (op == MIRROR_SYNC_PUT) {
        if (r->syncing && keyset_has(&r->changed, h))
            return; /* changed since this page was read: what the owner holds is newer */
        op = MIRROR_PUT;
    } else if (r->syncing) {
        keyset_add(&r->changed, h);
    }
    if (op == MIRROR_PUT && m->expires && m->expires <= now)
        mirror_expired(r->m, m->cls, m->key, m->klen, m->expires); /* keep the hash from growing */
    state_rec rec = {m->cls, m->key, m->klen, op == MIRROR_PUT ? m->val : NULL, op == MIRROR_PUT ? m->vlen : 0,
                     m->expires};
    r->st.loaded++;
    if (statestore_apply(&r->base, op == MIRROR_PUT ? STATE_PUT : STATE_DEL, &rec, now) < 0)
        r->base.log(4, "fleet: a class %u record from Redis does not decode; ignored", (unsigned)m->cls);
}

/* note_change - a local put or del during a resync: newer than any page of it, and no longer to repair */
static void note_change(ss_redis *r, const unsigned char *key, size_t klen)
{
    if (!r->syncing)
        return;
    uint64_t h = key_hash(r, key, klen);
    keyset_add(&r->seen, h);
    keyset_add(&r->changed, h);
}

/* vt: load - the records come with the first resync */
static long ssr_load(statestore *st, uint64_t now_wall)
{
    (void)st;
    (void)now_wall;
    return 0;
}

static void ssr_put(statestore *st, const state_rec *rec)
{
    ss_redis *r = (ss_redis *)st;
    mirror_rec m = {rec->cls, rec->key, rec->klen, rec->value, rec->vlen, rec->expires};

    note_change(r, rec->key, rec->klen);
    if (mirror_put(r->m, &m) < 0)
        r->st.failures++;
    else
        r->st.records++;
}

static void ssr_del(statestore *st, uint8_t cls, const unsigned char *key, size_t klen)
{
    ss_redis *r = (ss_redis *)st;

    note_change(r, key, klen);
    if (mirror_del(r->m, cls, key, klen) < 0)
        r->st.failures++;
    else
        r->st.records++;
}

static void ssr_stats(statestore *st, statestore_stats *out)
{
    *out = ((ss_redis *)st)->st;
}

static void ssr_free(statestore *st)
{
    ss_redis *r = (ss_redis *)st;

    mirror_free(r->m);
    fg_free(r->seen.slot);
    fg_free(r->changed.slot);
    fg_free(r);
}

static const statestore_vt ssr_vt = {"redis", ssr_load, ssr_put, ssr_del, ssr_stats, ssr_free};

/* statestore_redis_new - the mirror of classes 27-29 */
statestore *statestore_redis_new(struct event_base *base, const rconn_url *urls, unsigned nurls, int cluster,
                                 const rconn_config *cfg, statestore_redis_clock clock, void *clock_arg,
                                 statestore_log_fn log, char *err, size_t errlen)
{
    static const uint8_t classes[] = {KEY_BAN, KEY_BAN_HISTORY, KEY_LIST};
    ss_redis *r = fg_calloc(1, sizeof *r);

    r->base.vt = &ssr_vt;
    r->base.log = log;
    r->clock = clock;
    r->clock_arg = clock_arg;
    hash_key_random(&r->hk);
    r->m = cluster ? mirror_new_cluster(base, urls, nurls, cfg, classes, sizeof classes, on_apply, r, err, errlen)
                   : mirror_new(base, urls, cfg, classes, sizeof classes, on_apply, r, err, errlen);
    if (!r->m) {
        fg_free(r);
        return NULL;
    }
    return &r->base;
}

/* statestore_redis_mirror - the mirror's counters */
void statestore_redis_mirror(statestore *st, mirror_stats *out)
{
    mirror_get_stats(((ss_redis *)st)->m, out);
}
