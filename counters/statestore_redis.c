/*
 * statestore_redis - the fleet mirror behind the statestore interface (see statestore_redis.h)
 *
 * A resync walks one class at a time (the mirror's order); the keys it reads go into a set of 64-bit
 * hashes (FNV-1a: collisions only make the end of a resync skip one record's repair, never corrupt one).
 * At the end of a class the owner's dump is compared with the set; deletions are gathered first and
 * applied after the dump, since a dump must only read its owner's state.
 */
#include "statestore_redis.h"

#include <string.h>

#include "alloc.h"
#include "keys.h"

#define SEEN_MIN 1024 /* slots of the set of keys a resync read */

typedef struct ss_redis {
    statestore base;            /* first: a statestore * is an ss_redis * */
    mirror *m;
    statestore_redis_clock clock;
    void *clock_arg;
    uint64_t *seen;             /* key hashes a resync read: open addressing, 0 = empty */
    size_t seen_cap, seen_n;
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

/* key_hash - FNV-1a 64 of a key (never 0) */
static uint64_t key_hash(const unsigned char *k, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h ? h : 1;
}

/* seen_add / seen_has - the set of keys the resync in progress read */
static void seen_add(ss_redis *r, uint64_t h)
{
    if (2 * (r->seen_n + 1) > r->seen_cap) {
        uint64_t *old = r->seen;
        size_t ocap = r->seen_cap;
        r->seen_cap = ocap ? ocap * 2 : SEEN_MIN;
        r->seen = fg_calloc(r->seen_cap, sizeof *r->seen);
        r->seen_n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i])
                seen_add(r, old[i]);
        fg_free(old);
    }
    size_t i = (size_t)h & (r->seen_cap - 1);
    while (r->seen[i] && r->seen[i] != h)
        i = (i + 1) & (r->seen_cap - 1);
    if (!r->seen[i]) {
        r->seen[i] = h;
        r->seen_n++;
    }
}

static int seen_has(const ss_redis *r, uint64_t h)
{
    if (!r->seen_cap)
        return 0;
    size_t i = (size_t)h & (r->seen_cap - 1);
    while (r->seen[i]) {
        if (r->seen[i] == h)
            return 1;
        i = (i + 1) & (r->seen_cap - 1);
    }
    return 0;
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

    if (rec->cls != u->cls || seen_has(r, key_hash(rec->key, rec->klen)))
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
        r->seen_n = 0;
        if (r->seen)
            memset(r->seen, 0, r->seen_cap * sizeof *r->seen);
        return;
    }
    if (op == MIRROR_SYNC_END) {
        r->syncing = 0;
        sync_end(r, m->cls, now);
        return;
    }
    if (!m->klen || m->key[0] != m->cls)
        return; /* a statestore key starts with its class byte */
    if (r->syncing)
        seen_add(r, key_hash(m->key, m->klen));
    if (op == MIRROR_PUT && m->expires && m->expires <= now)
        mirror_expired(r->m, m->cls, m->key, m->klen, m->expires); /* keep the hash from growing */
    state_rec rec = {m->cls, m->key, m->klen, op == MIRROR_PUT ? m->val : NULL, op == MIRROR_PUT ? m->vlen : 0,
                     m->expires};
    r->st.loaded++;
    if (statestore_apply(&r->base, op == MIRROR_PUT ? STATE_PUT : STATE_DEL, &rec, now) < 0)
        r->base.log(4, "fleet: a class %u record from Redis does not decode; ignored", (unsigned)m->cls);
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

    if (mirror_put(r->m, &m) < 0)
        r->st.failures++;
    else
        r->st.records++;
}

static void ssr_del(statestore *st, uint8_t cls, const unsigned char *key, size_t klen)
{
    ss_redis *r = (ss_redis *)st;

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
    fg_free(r->seen);
    fg_free(r);
}

static const statestore_vt ssr_vt = {"redis", ssr_load, ssr_put, ssr_del, ssr_stats, ssr_free};

/* statestore_redis_new - the mirror of classes 27-29 */
statestore *statestore_redis_new(struct event_base *base, const rconn_url *url, const rconn_config *cfg,
                                 statestore_redis_clock clock, void *clock_arg, statestore_log_fn log, char *err,
                                 size_t errlen)
{
    static const uint8_t classes[] = {KEY_BAN, KEY_BAN_HISTORY, KEY_LIST};
    ss_redis *r = fg_calloc(1, sizeof *r);

    r->base.vt = &ssr_vt;
    r->base.log = log;
    r->clock = clock;
    r->clock_arg = clock_arg;
    r->m = mirror_new(base, url, cfg, classes, sizeof classes, on_apply, r, err, errlen);
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
