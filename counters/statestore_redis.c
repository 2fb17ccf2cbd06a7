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
 *
 * Tombstones. A del of a merged class (an unban) that does not reach Redis (refused during an outage, or lost
 * with its connection) is kept as a tombstone: its key and the wall-clock time of the delete. Redis and the
 * other daemons still hold the record, so the next resync would bring it back; instead a resync record of a
 * tombstone's key is skipped (the delete is newer than anything read back from the hash, which nobody could
 * change while this daemon was cut off without it hearing of it after), and at the end of the class the delete
 * is written back (HDEL and published, so the other daemons drop it too) and the tombstone forgotten. A newer
 * change of the key (a local put, another daemon's put or del heard) forgets it at once. Tombstones are
 * bounded by TOMBS_MAX (the oldest is forgotten past it: its unban may then be undone, as before).
 */
#include "statestore_redis.h"

#include <sodium.h>
#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "keys.h"

#define SEEN_MIN 1024 /* slots of the set of keys a resync read */
#define TOMBS_MAX 65536 /* unbans kept while Redis is away */
#define SWEEP_EVERY_S 600 /* expired records are swept from the hashes this often (plus up to a tenth more) */

typedef struct keyset {
    uint64_t *slot;             /* key hashes: open addressing, 0 = empty */
    size_t cap, n;
} keyset;

typedef struct tomb {
    uint64_t h;                 /* key_hash of the key */
    uint64_t when;              /* wall-clock seconds of the delete */
    uint8_t cls;
    size_t klen;
    unsigned char *key;
} tomb;

typedef struct ss_redis {
    statestore base;            /* first: a statestore * is an ss_redis * */
    mirror *m;
    statestore_redis_clock clock;
    void *clock_arg;
    hash_key hk;                /* keys the sets' hashes */
    keyset seen;                /* keys the resync in progress read */
    keyset changed;             /* keys changed (here or by a message) since it began: its pages may be older */
    int syncing;
    int lost;                   /* the resync in progress may find records lost: merge, do not replace */
    keyset dirty[2];            /* merged classes (27, 28): keys whose local put did not reach Redis */
    struct event *sweep;        /* sweeps the hashes' expired records now and then */
    tomb *tombs;                /* deletes not yet written back, oldest first */
    size_t ntombs, tombs_cap;
    uint64_t undecodable;       /* records from Redis that did not decode (logged at powers of two) */
    uint8_t restored[3];        /* classes 27-29 read whole once since the start: later resyncs restore nothing */
    statestore_redis_restore_fn restore; /* told of the first resync's records (statestore_redis_on_restore) */
    void *restore_arg;
    statestore_stats st;
} ss_redis;

typedef struct unseen {
    ss_redis *r;
    uint8_t cls;
    int lost;                   /* Redis may have lost records: write back what it lacks */
    keyset dirty;               /* keys whose last local put did not reach Redis */
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

/* keyset_del - remove h (backward shift: no deleted marks) */
static void keyset_del(keyset *ks, uint64_t h)
{
    size_t mask = ks->cap - 1, i, j;

    if (!ks->cap)
        return;
    for (i = (size_t)h & mask; ks->slot[i] != h; i = (i + 1) & mask)
        if (!ks->slot[i])
            return;
    ks->slot[i] = 0;
    ks->n--;
    for (j = (i + 1) & mask; ks->slot[j]; j = (j + 1) & mask) {
        size_t home = (size_t)ks->slot[j] & mask;
        /* the entry at j may move to the hole at i unless its home lies cyclically in (i, j] */
        if (i < j ? home <= i || home > j : home <= i && home > j) {
            ks->slot[i] = ks->slot[j];
            ks->slot[j] = 0;
            i = j;
        }
    }
}

static void keyset_clear(keyset *ks)
{
    if (ks->slot)
        memset(ks->slot, 0, ks->cap * sizeof *ks->slot);
    ks->n = 0;
}

/* tomb_find - the tombstone of this key hash, or -1 */
static long tomb_find(const ss_redis *r, uint64_t h)
{
    for (size_t i = 0; i < r->ntombs; i++)
        if (r->tombs[i].h == h)
            return (long)i;
    return -1;
}

/* tomb_drop - forget tombstone i */
static void tomb_drop(ss_redis *r, size_t i)
{
    fg_free(r->tombs[i].key);
    memmove(&r->tombs[i], &r->tombs[i + 1], (r->ntombs - i - 1) * sizeof *r->tombs);
    r->ntombs--;
}

/* tomb_forget - a newer change of the key: its tombstone (if any) no longer holds */
static void tomb_forget(ss_redis *r, uint64_t h)
{
    long i = r->ntombs ? tomb_find(r, h) : -1;
    if (i >= 0)
        tomb_drop(r, (size_t)i);
}

/* tomb_add - a delete that did not reach Redis: keep it until it is written back (a second one keeps the
 * first's time) */
static void tomb_add(ss_redis *r, uint8_t cls, const unsigned char *key, size_t klen)
{
    uint64_t h = key_hash(r, key, klen), when = r->clock(r->clock_arg);
    long had = r->ntombs ? tomb_find(r, h) : -1;

    if (had >= 0) {
        when = r->tombs[had].when;
        tomb_drop(r, (size_t)had);
    }
    if (r->ntombs == TOMBS_MAX)
        tomb_drop(r, 0);
    if (r->ntombs == r->tombs_cap) {
        r->tombs_cap = r->tombs_cap ? r->tombs_cap * 2 : 16;
        r->tombs = fg_realloc(r->tombs, r->tombs_cap * sizeof *r->tombs);
    }
    tomb *t = &r->tombs[r->ntombs++];
    t->h = h;
    t->when = when;
    t->cls = cls;
    t->klen = klen;
    t->key = fg_malloc(klen ? klen : 1);
    memcpy(t->key, key, klen);
}

/* tombs_write_back - at the end of a class's resync: write its deletes back (HDEL, published) */
static void tombs_write_back(ss_redis *r, uint8_t cls)
{
    size_t i = 0, sent = 0;
    uint64_t oldest = UINT64_MAX, now = r->clock(r->clock_arg);

    while (i < r->ntombs) {
        tomb *t = &r->tombs[i];
        if (t->cls != cls || mirror_del(r->m, cls, t->key, t->klen) < 0) {
            i++;
            continue;
        }
        sent++;
        if (t->when < oldest)
            oldest = t->when;
        tomb_drop(r, i); /* if this del is lost too, the mirror hands it back (MIRROR_UNWRITTEN_DEL) */
    }
    if (sent)
        r->base.log(6, "fleet: %zu delete(s) of class %u made while Redis was away written back (the oldest %llu s "
                    "ago)", sent, (unsigned)cls, (unsigned long long)(now > oldest ? now - oldest : 0));
}

/* merged - a class whose owner changes it while Redis is away too: a resync writes its records back */
static int merged(uint8_t cls)
{
    return cls == KEY_BAN || cls == KEY_BAN_HISTORY;
}

/* dirty_of - the set of keys of merged class cls whose put did not reach Redis, NULL for other classes */
static keyset *dirty_of(ss_redis *r, uint8_t cls)
{
    return merged(cls) ? &r->dirty[cls - KEY_BAN] : NULL;
}

/* emit_unseen - one record of the owner's dump at the end of a class's resync: write back what Redis should
 * have (a put of this daemon's that did not reach it; anything, if Redis lost records), else gather it for
 * deletion (Redis is whole: another daemon deleted it while this one was not listening) */
static int emit_unseen(void *w, const state_rec *rec)
{
    unseen *u = w;
    ss_redis *r = u->r;
    uint64_t h = key_hash(r, rec->key, rec->klen);

    if (rec->cls != u->cls)
        return 0;
    int dirty = keyset_has(&u->dirty, h);
    if (!dirty && keyset_has(&r->seen, h))
        return 0;
    if (merged(rec->cls) && (dirty || u->lost)) {
        mirror_rec m = {rec->cls, rec->key, rec->klen, rec->value, rec->vlen, rec->expires};
        if (mirror_put(r->m, &m) < 0) {
            r->st.failures++;
            keyset_add(dirty_of(r, rec->cls), h);
        } else {
            r->st.records++;
        }
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
    unseen u = {.r = r, .cls = cls, .lost = r->lost};
    keyset *d = dirty_of(r, cls);

    if (!owner || !owner->dump)
        return;
    if (d) { /* written back now: a put that fails again marks its key anew */
        u.dirty = *d;
        *d = (keyset){0};
    }
    owner->dump(emit_unseen, &u, owner->arg);
    fg_free(u.dirty.slot);
    for (size_t i = 0; i < u.n; i++) {
        state_rec del = {cls, u.keys[i], u.lens[i], NULL, 0, 0};
        statestore_apply(&r->base, STATE_DEL, &del, now);
        fg_free(u.keys[i]);
    }
    fg_free(u.keys);
    fg_free(u.lens);
}

/* first_read - the resync of cls is the first since the start to read it (it may have been cut and started
 * again): its records were made before this daemon listened */
static int first_read(const ss_redis *r, uint8_t cls)
{
    return cls >= KEY_BAN && cls - KEY_BAN < (int)sizeof r->restored && !r->restored[cls - KEY_BAN];
}

/* on_apply - the mirror hands over another daemon's change, or a step of a resync */
static void on_apply(int op, const mirror_rec *m, void *arg)
{
    ss_redis *r = arg;
    uint64_t now = r->clock(r->clock_arg);

    if (op == MIRROR_SYNC_BEGIN) {
        r->syncing = 1;
        r->lost = mirror_sync_lost(r->m);
        keyset_clear(&r->seen);
        keyset_clear(&r->changed);
        return;
    }
    if (op == MIRROR_SYNC_END) {
        r->syncing = 0;
        sync_end(r, m->cls, now);
        tombs_write_back(r, m->cls);
        if (first_read(r, m->cls)) {
            r->restored[m->cls - KEY_BAN] = 1;
            if (r->restore)
                r->restore(m->cls, -1, r->restore_arg);
        }
        return;
    }
    if (!m->klen || m->key[0] != m->cls)
        return; /* a statestore key starts with its class byte */
    uint64_t h = key_hash(r, m->key, m->klen);
    keyset *dirty = dirty_of(r, m->cls);
    if (op == MIRROR_UNWRITTEN_PUT || op == MIRROR_UNWRITTEN_DEL) {
        if (dirty && op == MIRROR_UNWRITTEN_PUT)
            keyset_add(dirty, h);
        else if (dirty)
            tomb_add(r, m->cls, m->key, m->klen);
        return;
    }
    if (r->syncing)
        keyset_add(&r->seen, h);
    int sync_rec = op == MIRROR_SYNC_PUT;
    if (op == MIRROR_SYNC_PUT) {
        if (r->syncing && keyset_has(&r->changed, h))
            return; /* changed since this page was read: what the owner holds is newer */
        if (r->ntombs && tomb_find(r, h) >= 0)
            return; /* deleted here while Redis was away: the delete is newer, and is written back at the end */
        if (dirty && keyset_has(dirty, h))
            return; /* put here while Redis was away: newer, and written back at the end */
        op = MIRROR_PUT;
    } else {
        if (r->syncing)
            keyset_add(&r->changed, h);
        tomb_forget(r, h); /* another daemon's change, heard after this daemon's own: it wins */
        if (dirty)
            keyset_del(dirty, h);
    }
    if (op == MIRROR_PUT && m->expires && m->expires <= now)
        mirror_expired(r->m, m->cls, m->key, m->klen, m->expires); /* keep the hash from growing */
    state_rec rec = {m->cls, m->key, m->klen, op == MIRROR_PUT ? m->val : NULL, op == MIRROR_PUT ? m->vlen : 0,
                     m->expires};
    r->st.loaded++;
    int restoring = sync_rec && r->restore && first_read(r, m->cls);
    if (restoring)
        r->restore(m->cls, 1, r->restore_arg);
    int rc = statestore_apply(&r->base, op == MIRROR_PUT ? STATE_PUT : STATE_DEL, &rec, now);
    if (restoring)
        r->restore(m->cls, 0, r->restore_arg);
    if (rc < 0) {
        /* anyone who can PUBLISH on the fleet's Redis sends as many as it likes: the first is logged, then
         * each power of two, with the count */
        uint64_t n = ++r->undecodable;
        if ((n & (n - 1)) == 0)
            r->base.log(4, "fleet: a class %u record from Redis does not decode; ignored (%llu so far)",
                        (unsigned)m->cls, (unsigned long long)n);
    }
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

/* arm_sweep - the next sweep in SWEEP_EVERY_S plus a random tenth (the daemons of a fleet spread theirs) */
static void arm_sweep(ss_redis *r)
{
    struct timeval tv = {SWEEP_EVERY_S + (time_t)randombytes_uniform(SWEEP_EVERY_S / 10 + 1), 0};
    evtimer_add(r->sweep, &tv);
}

/* on_sweep - the sweep timer: expired records leave the hashes even if no daemon resyncs to see them */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    ss_redis *r = arg;

    (void)fd;
    (void)what;
    mirror_sweep(r->m, r->clock(r->clock_arg));
    arm_sweep(r);
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
    if (r->ntombs)
        tomb_forget(r, key_hash(r, rec->key, rec->klen));
    if (mirror_put(r->m, &m) < 0) {
        r->st.failures++;
        if (dirty_of(r, rec->cls)) /* Redis away: written back when it returns */
            keyset_add(dirty_of(r, rec->cls), key_hash(r, rec->key, rec->klen));
    } else {
        r->st.records++;
    }
}

static void ssr_del(statestore *st, uint8_t cls, const unsigned char *key, size_t klen)
{
    ss_redis *r = (ss_redis *)st;

    note_change(r, key, klen);
    if (dirty_of(r, cls))
        keyset_del(dirty_of(r, cls), key_hash(r, key, klen));
    if (mirror_del(r->m, cls, key, klen) < 0) {
        r->st.failures++;
        if (merged(cls))
            tomb_add(r, cls, key, klen); /* Redis away: written back when it returns */
    } else {
        r->st.records++;
    }
}

static void ssr_stats(statestore *st, statestore_stats *out)
{
    *out = ((ss_redis *)st)->st;
}

static void ssr_free(statestore *st)
{
    ss_redis *r = (ss_redis *)st;

    if (r->sweep)
        event_free(r->sweep);
    mirror_free(r->m);
    while (r->ntombs)
        tomb_drop(r, r->ntombs - 1);
    fg_free(r->tombs);
    fg_free(r->dirty[0].slot);
    fg_free(r->dirty[1].slot);
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
    rconn_config mc = *cfg;
    mc.log = log; /* the mirror's own messages; its connections stay silent */
    r->m = cluster ? mirror_new_cluster(base, urls, nurls, &mc, classes, sizeof classes, on_apply, r, err, errlen)
                   : mirror_new(base, urls, &mc, classes, sizeof classes, on_apply, r, err, errlen);
    if (!r->m) {
        fg_free(r);
        return NULL;
    }
    r->sweep = evtimer_new(base, on_sweep, r);
    arm_sweep(r);
    return &r->base;
}

/* statestore_redis_on_restore - who is told of the first resync's records */
void statestore_redis_on_restore(statestore *st, statestore_redis_restore_fn fn, void *arg)
{
    ss_redis *r = (ss_redis *)st;

    r->restore = fn;
    r->restore_arg = arg;
}

/* statestore_redis_resync - a resync on demand */
void statestore_redis_resync(statestore *st)
{
    mirror_resync(((ss_redis *)st)->m);
}

/* statestore_redis_mirror - the mirror's counters */
void statestore_redis_mirror(statestore *st, mirror_stats *out)
{
    mirror_get_stats(((ss_redis *)st)->m, out);
}
