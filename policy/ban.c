/*
 * ban - the ban index: current bans by address, network and username, ban history, change listeners
 *
 * What: ban.h's index. A ban is a key (an address or network of any prefix length, or a username)
 * with its reason, rule, wall-clock since/expiry and times; the engine asks ban_match() before any
 * rule, control adds and removes bans, durability and publishers listen to every change.
 *
 * Why this way: a client address must be checked against every ban on every request, so the cost
 * of that check must not grow with the number of bans. Bans are kept in one open-addressing hash
 * table per (family, prefix length) in use, keyed by the masked bytes: ban_match() masks the
 * address to each prefix length in use (longest first, so the most specific ban answers) and does
 * one hash lookup per length. With bans at /32, /24 and /16 that is three lookups, whether there
 * are 10 bans or 1,000,000. Usernames sit in a table of their own (family 0), the history in
 * another. The tables hash with the project's keyed SipHash (hash.h) under a secret drawn when the
 * index is made, since addresses and usernames come from clients. Linear probing, load <= 1/2,
 * deletion by backward shift (no tombstones, so a table that churns keeps short probes). A slot keeps
 * its entry's hash beside the pointer: a probe reads an entry only when the hashes match, so a client
 * that is not banned costs one read of the slot array per prefix length (measured with 3 prefix lengths:
 * ~100 ns a ban_match with 10 bans, ~150-170 ns with 1,000,000 when the same clients come back, ~500 ns
 * when every lookup is a cold address, the difference being memory latency, not work).
 *
 * Expiry: every ban sits in a binary min-heap on its expiry (a ban for ever after all others, the
 * oldest first among equals); ban_expire() pops what is due (at most BAN_EXPIRE_BATCH per call, so a
 * mass expiry cannot hold the loop; the rest goes on the next call). A ban past its expiry but not
 * yet popped is already out of force for ban_match, ban_find and ban_foreach, so the batch limit never
 * keeps a client refused. The heap's root is also the ban a full index (bans.max) evicts for a new
 * one: the one that ends soonest, a ban for ever only when every ban is one, found without a scan.
 *
 * History (for escalation): (key, times, last ban's wall time). An entry is forgotten when its last
 * ban is older than the longest history any caller has asked about (ban_history_horizon, 7 days by
 * default), by a bounded sweep inside ban_expire().
 *
 * INVARIANTS
 *     A key is in at most one table, once. An entry is in the heap iff it is a ban (not a history
 *     entry), and entry->heap is its heap position + 1 (0: not in the heap). The prefix lists hold exactly the
 *     prefix lengths whose table is not empty, longest first. Entries live in slabs (their address
 *     never moves), so the tables and the heap hold pointers.
 *     The ban_rec returned by ban_find/ban_match/ban_match_user is the index's scratch record, valid
 *     until the next call on the index.
 *
 * SECURITY
 *     Addresses and usernames come from clients. Tables are keyed-SipHash, so a client cannot aim
 *     keys at one chain; a username is at most 255 bytes (ban_user) and is folded to ASCII lower case,
 *     as counter keys are, so that case variants of one login share its ban. Memory grows with the
 *     bans made, and a ban rule's count does not bound how many keys it bans: a client with an IPv6
 *     /48 has 2^80 addresses, a login failure can name any user, a fleet peer can publish anything.
 *     ban_set_max bounds the bans and the history entries (bans.max): past it a new ban evicts the
 *     ban that ends soonest (ban_evicted), or is refused and counted (ban_full_refused) if it would
 *     end before every ban held; a new history entry is refused.
 *
 * BUGS
 *     Each ban copies its reason and rule strings (about 100 bytes a ban besides them).
 */
#include "ban.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "hash.h"

#define BAN_SLAB 1024                    /* entries allocated together */
#define BAN_TABLE_MIN 16                 /* slots of a new table (a power of two) */
#define BAN_EXPIRE_BATCH 65536           /* bans dropped by one ban_expire() call at most */
#define BAN_HISTORY_SWEEP 4096           /* history slots looked at by one ban_expire() call */
#define BAN_HISTORY_DEFAULT (7 * 86400)  /* seconds: the history horizon before anyone sets one */
#define BAN_NAME_MAX 255                 /* a username ban's longest name */

typedef struct ban_ent {
    uint8_t family;      /* 0 (username), 4 or 6 */
    uint8_t prefix;      /* bits (0 for a username) */
    uint8_t bytes[16];   /* masked address; zero for a username */
    uint32_t times;      /* bans of the key within the history; for a history entry, bans so far */
    uint32_t heap;       /* heap position + 1; 0 = not in the heap (a history entry) */
    uint16_t namelen;    /* username length */
    uint64_t since;      /* wall seconds; for a history entry, the last ban's time */
    uint64_t expires;    /* wall seconds, 0 = for ever */
    char *reason;        /* owned, may be NULL */
    char *rule;          /* owned, may be NULL */
    union {
        char *name;              /* owned: the username (family 0), folded */
        struct ban_ent *next;    /* on the free list */
    } u;
} ban_ent;

typedef struct ban_slot {
    uint64_t h;          /* the entry's key hash: compared before the entry is read, reused by growth */
    ban_ent *e;          /* NULL = empty */
} ban_slot;

typedef struct ban_table {
    ban_slot *slot;      /* cap slots */
    size_t cap;          /* a power of two, 0 before first use */
    size_t n;            /* entries */
} ban_table;

typedef struct ban_slab {
    struct ban_slab *next;           /* the slab made before */
    ban_ent ent[BAN_SLAB];           /* entries */
} ban_slab;

typedef struct ban_listener {
    ban_change_fn cb;    /* NULL = free */
    void *arg;           /* handed back */
} ban_listener;

struct ban_index {
    hash_key key;                    /* the tables' secret */
    ban_table v4[33];                /* by prefix length */
    ban_table v6[129];
    ban_table users;                 /* family 0 */
    ban_table history;               /* every family, keyed with family and prefix */
    uint8_t in4[33], n4;             /* prefix lengths in use, longest first */
    uint8_t in6[129], n6;
    ban_ent **heap;                  /* every ban, the earliest end first (for ever last) */
    size_t nheap, capheap;
    size_t count;                    /* current bans (tables but history) */
    ban_slab *slabs;                 /* every entry's storage */
    ban_ent *free;                   /* entries to reuse */
    ban_listener listen[BAN_LISTENERS];
    uint64_t horizon;                /* history horizon, seconds */
    size_t hsweep;                   /* history sweep position */
    uint64_t lookups;                /* table lookups made by ban_match (ban_match_lookups) */
    size_t max;                      /* bans and history entries at most (0: no bound) */
    uint64_t full;                   /* new keys refused by max (ban_full_refused) */
    uint64_t full_bans;              /* of them, bans (ban_full_bans) */
    uint64_t evicted;                /* bans evicted by max for a new one (ban_evicted) */
    ban_rec *scratch;                /* what ban_find/ban_match hand back */
};

/* --- entries --- */

/* ent_new - a zeroed entry from the slabs */
static ban_ent *ent_new(struct ban_index *bi)
{
    ban_ent *e;

    if (!bi->free) {
        ban_slab *s = fg_malloc(sizeof *s);
        s->next = bi->slabs;
        bi->slabs = s;
        for (size_t i = BAN_SLAB; i-- > 0;) {
            s->ent[i].u.next = bi->free;
            bi->free = &s->ent[i];
        }
    }
    e = bi->free;
    bi->free = e->u.next;
    memset(e, 0, sizeof *e);
    return e;
}

/* ent_free - give an entry and its strings back */
static void ent_free(struct ban_index *bi, ban_ent *e)
{
    fg_free(e->reason);
    fg_free(e->rule);
    if (e->family == 0)
        fg_free(e->u.name);
    e->u.next = bi->free;
    bi->free = e;
}

/* key_of - the bytes a key hashes as: family, prefix, then the address or the name */
static size_t key_of(uint8_t family, uint8_t prefix, const uint8_t *bytes, const char *name, size_t len,
                     uint8_t out[2 + BAN_NAME_MAX])
{
    out[0] = family;
    out[1] = prefix;
    if (family == 0) {
        memcpy(out + 2, name, len);
        return 2 + len;
    }
    memcpy(out + 2, bytes, family == 4 ? 4 : 16);
    return family == 4 ? 6 : 18;
}

/* ent_is - does e hold this key? */
static int ent_is(const ban_ent *e, uint8_t family, uint8_t prefix, const uint8_t *bytes, const char *name,
                  size_t len)
{
    if (e->family != family || e->prefix != prefix)
        return 0;
    if (family == 0)
        return e->namelen == len && !memcmp(e->u.name, name, len);
    return !memcmp(e->bytes, bytes, 16);
}

/* --- tables --- */

/* key_hash - the keyed hash of a key */
static uint64_t key_hash(const struct ban_index *bi, uint8_t family, uint8_t prefix, const uint8_t *bytes,
                         const char *name, size_t len)
{
    uint8_t k[2 + BAN_NAME_MAX];
    size_t n = key_of(family, prefix, bytes, name, len, k);

    return hash_keyed(&bi->key, k, n);
}

/* table_find_h - the slot holding the key of hash h, or the empty slot where it would go; an entry is
 * looked at only when its slot's hash is h (a miss reads the slot array alone) */
static size_t table_find_h(const ban_table *t, uint64_t h, uint8_t family, uint8_t prefix, const uint8_t *bytes,
                           const char *name, size_t len)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)h & mask;

    while (t->slot[i].e && !(t->slot[i].h == h && ent_is(t->slot[i].e, family, prefix, bytes, name, len)))
        i = (i + 1) & mask;
    return i;
}

/* table_find - the slot holding the key, or the empty slot where it would go */
static size_t table_find(const struct ban_index *bi, const ban_table *t, uint8_t family, uint8_t prefix,
                         const uint8_t *bytes, const char *name, size_t len)
{
    return table_find_h(t, key_hash(bi, family, prefix, bytes, name, len), family, prefix, bytes, name, len);
}

/* table_get - the entry of this key, or NULL */
static ban_ent *table_get(const struct ban_index *bi, const ban_table *t, uint8_t family, uint8_t prefix,
                          const uint8_t *bytes, const char *name, size_t len)
{
    if (!t->n)
        return NULL;
    return t->slot[table_find(bi, t, family, prefix, bytes, name, len)].e;
}

/* table_grow - double the slots (or make the first ones) and place every entry again (by its kept hash) */
static void table_grow(ban_table *t)
{
    ban_table nt = {.cap = t->cap ? t->cap * 2 : BAN_TABLE_MIN, .n = t->n};

    nt.slot = fg_calloc(nt.cap, sizeof *nt.slot);
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slot[i].e)
            continue;
        size_t j = (size_t)t->slot[i].h & (nt.cap - 1);
        while (nt.slot[j].e)
            j = (j + 1) & (nt.cap - 1);
        nt.slot[j] = t->slot[i];
    }
    fg_free(t->slot);
    *t = nt;
}

/* table_put - add an entry whose key is not in t */
static void table_put(const struct ban_index *bi, ban_table *t, ban_ent *e)
{
    uint64_t h = key_hash(bi, e->family, e->prefix, e->bytes, e->u.name, e->namelen);

    if ((t->n + 1) * 2 > t->cap)
        table_grow(t);
    size_t i = table_find_h(t, h, e->family, e->prefix, e->bytes, e->u.name, e->namelen);
    t->slot[i].h = h;
    t->slot[i].e = e;
    t->n++;
}

/* table_del - take the entry out of slot i, moving later entries of its run back (no tombstones) */
static void table_del(ban_table *t, size_t i)
{
    size_t mask = t->cap - 1, j = i;

    t->slot[i].e = NULL;
    t->n--;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slot[j].e)
            break;
        size_t home = (size_t)t->slot[j].h & mask;
        /* slot[j] may move to i when its home is not in the cyclic range (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            t->slot[i] = t->slot[j];
            t->slot[j].e = NULL;
            i = j;
        }
    }
    if (!t->n) {
        fg_free(t->slot);
        t->slot = NULL;
        t->cap = 0;
    }
}

/* table_clear - free every entry's strings and the slots (ban_index_free) */
static void table_clear(ban_table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        ban_ent *e = t->slot[i].e;
        if (!e)
            continue;
        fg_free(e->reason);
        fg_free(e->rule);
        if (e->family == 0)
            fg_free(e->u.name);
    }
    fg_free(t->slot);
    memset(t, 0, sizeof *t);
}

/* table_of - the table a ban key lives in; NULL for a bad family or prefix */
static ban_table *table_of(struct ban_index *bi, uint8_t family, uint8_t prefix)
{
    if (family == 4 && prefix <= 32)
        return &bi->v4[prefix];
    if (family == 6 && prefix <= 128)
        return &bi->v6[prefix];
    if (family == 0)
        return &bi->users;
    return NULL;
}

/* inuse_add - note that a prefix length's table has entries (kept longest first) */
static void inuse_add(uint8_t *list, uint8_t *n, uint8_t prefix)
{
    unsigned i = 0;

    while (i < *n && list[i] > prefix)
        i++;
    if (i < *n && list[i] == prefix)
        return;
    memmove(list + i + 1, list + i, *n - i);
    list[i] = prefix;
    (*n)++;
}

/* inuse_del - a prefix length's table is empty again */
static void inuse_del(uint8_t *list, uint8_t *n, uint8_t prefix)
{
    for (unsigned i = 0; i < *n; i++)
        if (list[i] == prefix) {
            memmove(list + i, list + i + 1, *n - i - 1);
            (*n)--;
            return;
        }
}

/* --- the expiry heap --- */

/* heap_set - put e at position i */
static void heap_set(struct ban_index *bi, size_t i, ban_ent *e)
{
    bi->heap[i] = e;
    e->heap = (uint32_t)(i + 1);
}

/* end_of - a ban's end for the heap's order: for ever is after every date */
static uint64_t end_of(uint64_t expires)
{
    return expires ? expires : UINT64_MAX;
}

/* heap_before - a comes out of the heap before b: it ends sooner, or at the same time and was made earlier */
static int heap_before(const ban_ent *a, const ban_ent *b)
{
    uint64_t ea = end_of(a->expires), eb = end_of(b->expires);

    return ea < eb || (ea == eb && a->since < b->since);
}

/* heap_up - move position i towards the root while it comes before its parent */
static void heap_up(struct ban_index *bi, size_t i)
{
    ban_ent *e = bi->heap[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(e, bi->heap[p]))
            break;
        heap_set(bi, i, bi->heap[p]);
        i = p;
    }
    heap_set(bi, i, e);
}

/* heap_down - move position i towards the leaves while a child comes before it */
static void heap_down(struct ban_index *bi, size_t i)
{
    ban_ent *e = bi->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= bi->nheap)
            break;
        if (c + 1 < bi->nheap && heap_before(bi->heap[c + 1], bi->heap[c]))
            c++;
        if (!heap_before(bi->heap[c], e))
            break;
        heap_set(bi, i, bi->heap[c]);
        i = c;
    }
    heap_set(bi, i, e);
}

/* heap_push - a ban enters the heap */
static void heap_push(struct ban_index *bi, ban_ent *e)
{
    if (bi->nheap == bi->capheap) {
        bi->capheap = bi->capheap ? bi->capheap * 2 : 64;
        bi->heap = fg_realloc(bi->heap, bi->capheap * sizeof *bi->heap);
    }
    bi->heap[bi->nheap++] = e;
    heap_up(bi, bi->nheap - 1);
}

/* heap_remove - take e out of the heap */
static void heap_remove(struct ban_index *bi, ban_ent *e)
{
    size_t i = e->heap - 1;
    ban_ent *last = bi->heap[--bi->nheap];

    e->heap = 0;
    if (i == bi->nheap)
        return;
    heap_set(bi, i, last);
    heap_up(bi, i);
    heap_down(bi, last->heap - 1);
}

/* --- records --- */

/* rec_of - the public record of an entry */
static void rec_of(const ban_ent *e, ban_rec *r)
{
    memset(r, 0, sizeof *r);
    r->family = e->family;
    r->prefix = e->prefix;
    memcpy(r->bytes, e->bytes, 16);
    r->reason = e->reason;
    r->rule = e->rule;
    r->since = e->since;
    r->expires = e->expires;
    r->times = e->times;
    if (e->family == 0) {
        r->name = e->u.name;
        r->namelen = e->namelen;
        snprintf(r->net, sizeof r->net, "%.*s", (int)e->namelen, e->u.name);
        return;
    }
    fg_addr a = {.family = e->family};
    memcpy(a.bytes, e->bytes, 16);
    addr_format(&a, r->net, sizeof r->net);
    if (e->prefix != addr_bits(&a)) {
        size_t n = strlen(r->net);
        snprintf(r->net + n, sizeof r->net - n, "/%u", e->prefix);
    }
}

/* in_force - is the ban still on at now_wall? */
static int in_force(const ban_ent *e, uint64_t now_wall)
{
    return e->expires == 0 || e->expires > now_wall;
}

/* tell - every listener hears of one change */
static void tell(struct ban_index *bi, int change, const ban_ent *e)
{
    ban_rec r;
    int made = 0;

    for (unsigned i = 0; i < BAN_LISTENERS; i++) {
        if (!bi->listen[i].cb)
            continue;
        if (!made) {
            rec_of(e, &r);
            made = 1;
        }
        bi->listen[i].cb(change, &r, bi->listen[i].arg);
    }
}

/* key_name_len - the name length of a username key (namelen, or the C string's length when it is 0) */
static size_t key_name_len(const ban_rec *r)
{
    return r->namelen ? r->namelen : strlen(r->name);
}

/* key_ok - is r a key the index can hold? 0 yes */
static int key_ok(const ban_rec *r)
{
    if (r->family == 4)
        return r->prefix <= 32 ? 0 : -1;
    if (r->family == 6)
        return r->prefix <= 128 ? 0 : -1;
    if (r->family == 0)
        return r->name && key_name_len(r) > 0 && key_name_len(r) <= BAN_NAME_MAX ? 0 : -1;
    return -1;
}

/* --- the index --- */

/* ban_index_new - an empty index */
struct ban_index *ban_index_new(void)
{
    struct ban_index *bi;

    hash_init(); /* idempotent; the daemon has checked it at start */
    bi = fg_calloc(1, sizeof *bi);
    hash_key_random(&bi->key);
    bi->horizon = BAN_HISTORY_DEFAULT;
    bi->scratch = fg_calloc(1, sizeof *bi->scratch);
    return bi;
}

/* ban_index_free - everything goes, no listener is told */
void ban_index_free(struct ban_index *bi)
{
    if (!bi)
        return;
    for (unsigned p = 0; p <= 32; p++)
        table_clear(&bi->v4[p]);
    for (unsigned p = 0; p <= 128; p++)
        table_clear(&bi->v6[p]);
    table_clear(&bi->users);
    table_clear(&bi->history);
    while (bi->slabs) {
        ban_slab *s = bi->slabs;
        bi->slabs = s->next;
        fg_free(s);
    }
    fg_free(bi->heap);
    fg_free(bi->scratch);
    fg_free(bi);
}

/* ban_parse - "ADDR" or "ADDR/LEN" into a key */
int ban_parse(const char *text, ban_rec *r, const char **why)
{
    fg_cidr c;

    memset(r, 0, sizeof *r);
    if (!text || cidr_parse(text, &c, why) < 0)
        return -1;
    r->family = c.net.family;
    r->prefix = c.prefix;
    memcpy(r->bytes, c.net.bytes, 16);
    addr_format(&c.net, r->net, sizeof r->net);
    if (c.prefix != addr_bits(&c.net)) {
        size_t n = strlen(r->net);
        snprintf(r->net + n, sizeof r->net - n, "/%u", c.prefix);
    }
    return 0;
}

/* ban_user - a username key; r->name points to the caller's name (namelen long, no NUL needed) */
int ban_user(const char *name, size_t len, ban_rec *r)
{
    memset(r, 0, sizeof *r);
    if (!name || len == 0 || len > BAN_NAME_MAX || memchr(name, '\0', len))
        return -1;
    r->name = name;
    r->namelen = (uint16_t)len;
    snprintf(r->net, sizeof r->net, "%.*s", (int)len, name);
    return 0;
}

/* fold_name - ASCII lower case of a name into out (len <= BAN_NAME_MAX) */
static void fold_name(const char *name, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[len] = '\0';
}

/* lookup_key - the folded name of a key into buf (family 0), for a table lookup */
static const char *lookup_name(const ban_rec *key, size_t *len, char buf[BAN_NAME_MAX + 1])
{
    if (key->family != 0) {
        *len = 0;
        return NULL;
    }
    *len = key_name_len(key);
    fold_name(key->name, *len, buf);
    return buf;
}

/* normal_key - r's key with its bytes masked to its prefix (what the tables hold) */
static void normal_key(const ban_rec *r, uint8_t bytes[16])
{
    fg_addr a = {.family = r->family};

    memcpy(a.bytes, r->bytes, 16);
    if (r->family)
        addr_mask(&a, r->prefix);
    memcpy(bytes, a.bytes, 16);
}

/* same_text - two optional strings alike (NULL reads as "": a store's record keeps no difference) */
static int same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* same - e already holds what r would set: since, expires, times, reason and rule */
static int same(const ban_ent *e, const ban_rec *r)
{
    return e->since == r->since && e->expires == r->expires && e->times == (r->times ? r->times : 1) &&
           same_text(e->reason, r->reason) && same_text(e->rule, r->rule);
}

/* dup_or_null - a copy of s, or NULL */
static char *dup_or_null(const char *s)
{
    return s ? fg_strdup(s) : NULL;
}

static void drop(struct ban_index *bi, ban_table *t, size_t i, int change);
static size_t slot_of(const struct ban_index *bi, const ban_table *t, const ban_ent *e);

/* ban_add - ban a key, or replace its ban */
int ban_add(struct ban_index *bi, const ban_rec *r)
{
    char nb[BAN_NAME_MAX + 1];
    size_t len;
    const char *name;
    ban_table *t;
    ban_ent *e;
    int replaced = 0;

    uint8_t bytes[16];

    if (key_ok(r) < 0 || r->since > BAN_WALL_MAX || r->expires > BAN_WALL_MAX)
        return -1;
    name = lookup_name(r, &len, nb);
    normal_key(r, bytes);
    t = table_of(bi, r->family, r->prefix);
    e = table_get(bi, t, r->family, r->prefix, bytes, name, len);
    if (!e && bi->max && bi->count >= bi->max) {
        /* full: the ban that ends soonest (the heap's root) makes room, unless the new one ends before it */
        ban_ent *v = bi->nheap ? bi->heap[0] : NULL;
        if (!v || end_of(r->expires) < end_of(v->expires)) {
            if (bi->full != UINT64_MAX)
                bi->full++;
            if (bi->full_bans != UINT64_MAX)
                bi->full_bans++;
            return BAN_FULL;
        }
        ban_table *vt = table_of(bi, v->family, v->prefix);
        if (bi->evicted != UINT64_MAX)
            bi->evicted++;
        drop(bi, vt, slot_of(bi, vt, v), BAN_EVICTED);
    }
    if (e && same(e, r)) /* the same record again (a fleet resync, a journal over the snapshot): no change */
        return 1;
    if (e) {
        replaced = 1;
        fg_free(e->reason);
        fg_free(e->rule);
    } else {
        e = ent_new(bi);
        e->family = r->family;
        e->prefix = r->prefix;
        memcpy(e->bytes, bytes, 16); /* masked: a caller's unmasked bytes still make one key per network */
        if (r->family == 0) {
            e->u.name = fg_strndup(name, len);
            e->namelen = (uint16_t)len;
        }
        table_put(bi, t, e);
        bi->count++;
        if (r->family == 4)
            inuse_add(bi->in4, &bi->n4, r->prefix);
        else if (r->family == 6)
            inuse_add(bi->in6, &bi->n6, r->prefix);
    }
    e->reason = dup_or_null(r->reason);
    e->rule = dup_or_null(r->rule);
    e->since = r->since;
    e->times = r->times ? r->times : 1;
    e->expires = r->expires;
    if (e->heap) { /* its place for the new end and since */
        heap_up(bi, e->heap - 1);
        heap_down(bi, e->heap - 1);
    } else {
        heap_push(bi, e);
    }
    tell(bi, BAN_ADDED, e);
    return replaced;
}

/* drop - take a ban out of its table (slot i) and the heap, tell the listeners, free it */
static void drop(struct ban_index *bi, ban_table *t, size_t i, int change)
{
    ban_ent *e = t->slot[i].e;

    table_del(t, i);
    if (e->heap)
        heap_remove(bi, e);
    bi->count--;
    if (!t->n) {
        if (e->family == 4)
            inuse_del(bi->in4, &bi->n4, e->prefix);
        else if (e->family == 6)
            inuse_del(bi->in6, &bi->n6, e->prefix);
    }
    tell(bi, change, e);
    ent_free(bi, e);
}

/* ban_remove - unban exactly this key */
int ban_remove(struct ban_index *bi, const ban_rec *key)
{
    char nb[BAN_NAME_MAX + 1];
    uint8_t bytes[16];
    size_t len, i;
    const char *name;
    ban_table *t;

    if (key_ok(key) < 0)
        return -1;
    name = lookup_name(key, &len, nb);
    normal_key(key, bytes);
    t = table_of(bi, key->family, key->prefix);
    if (!t->n)
        return -1;
    i = table_find(bi, t, key->family, key->prefix, bytes, name, len);
    if (!t->slot[i].e)
        return -1;
    drop(bi, t, i, BAN_REMOVED);
    return 0;
}

/* found - the scratch record of e when it is in force */
static const ban_rec *found(const struct ban_index *bi, const ban_ent *e, uint64_t now_wall)
{
    if (!e || !in_force(e, now_wall))
        return NULL;
    rec_of(e, bi->scratch);
    return bi->scratch;
}

/* ban_find - the ban on exactly this key */
const ban_rec *ban_find(const struct ban_index *bi, const ban_rec *key, uint64_t now_wall)
{
    char nb[BAN_NAME_MAX + 1];
    uint8_t bytes[16];
    size_t len;
    const char *name;

    if (key_ok(key) < 0)
        return NULL;
    name = lookup_name(key, &len, nb);
    normal_key(key, bytes);
    return found(bi, table_get(bi, table_of((struct ban_index *)bi, key->family, key->prefix), key->family,
                               key->prefix, bytes, name, len),
                 now_wall);
}

/* ban_match - the most specific ban in force holding this address: one lookup per prefix length in use */
const ban_rec *ban_match(const struct ban_index *bi, const fg_addr *a, uint64_t now_wall)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct ban_index *mbi = (struct ban_index *)bi; /* the lookup counter only */
    fg_addr v = *a;
    const ban_table *tables;
    const uint8_t *in;
    unsigned n;

    if (v.family == 6 && !memcmp(v.bytes, mapped, 12)) { /* addr_parse reads these as IPv4; a socket may not */
        memmove(v.bytes, v.bytes + 12, 4);
        memset(v.bytes + 4, 0, 12);
        v.family = 4;
    }
    if (v.family == 4) {
        tables = bi->v4, in = bi->in4, n = bi->n4;
    } else if (v.family == 6) {
        tables = bi->v6, in = bi->in6, n = bi->n6;
    } else {
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        fg_addr m = v;
        addr_mask(&m, in[i]);
        mbi->lookups++;
        const ban_rec *r = found(bi, table_get(bi, &tables[in[i]], v.family, in[i], m.bytes, NULL, 0), now_wall);
        if (r)
            return r;
    }
    return NULL;
}

/* ban_match_user - a ban in force on this username (any case) */
const ban_rec *ban_match_user(const struct ban_index *bi, const char *name, size_t len, uint64_t now_wall)
{
    char nb[BAN_NAME_MAX + 1];

    if (!bi->users.n || !name || len == 0 || len > BAN_NAME_MAX)
        return NULL;
    fold_name(name, len, nb);
    return found(bi, table_get(bi, &bi->users, 0, 0, NULL, nb, len), now_wall);
}

/* ban_match_lookups - table lookups ban_match has made so far (tests prove its cost with it) */
uint64_t ban_match_lookups(const struct ban_index *bi)
{
    return bi->lookups;
}

/* slot_of - where e sits in its table */
static size_t slot_of(const struct ban_index *bi, const ban_table *t, const ban_ent *e)
{
    return table_find(bi, t, e->family, e->prefix, e->bytes, e->u.name, e->namelen);
}

/* history_sweep - forget history entries whose last ban is past the horizon (bounded work) */
static void history_sweep(struct ban_index *bi, uint64_t now_wall)
{
    ban_table *t = &bi->history;

    for (unsigned k = 0; k < BAN_HISTORY_SWEEP && t->n; k++) {
        if (bi->hsweep >= t->cap)
            bi->hsweep = 0;
        ban_ent *e = t->slot[bi->hsweep].e;
        if (e && e->since + bi->horizon < now_wall) {
            table_del(t, bi->hsweep); /* a later entry may move into this slot: look at it again */
            ent_free(bi, e);
            continue;
        }
        bi->hsweep++;
    }
}

/* ban_expire - drop the bans due at now_wall (at most BAN_EXPIRE_BATCH), telling BAN_EXPIRED */
size_t ban_expire(struct ban_index *bi, uint64_t now_wall)
{
    size_t n = 0;

    while (bi->nheap && bi->heap[0]->expires && bi->heap[0]->expires <= now_wall && n < BAN_EXPIRE_BATCH) {
        ban_ent *e = bi->heap[0];
        ban_table *t = table_of(bi, e->family, e->prefix);
        drop(bi, t, slot_of(bi, t, e), BAN_EXPIRED);
        n++;
    }
    history_sweep(bi, now_wall);
    return n;
}

/* ban_foreach - every ban in force */
size_t ban_foreach(const struct ban_index *bi, uint64_t now_wall, ban_foreach_fn fn, void *arg)
{
    const ban_table *all[33 + 129 + 1];
    size_t nt = 0, n = 0;
    ban_rec r;

    for (unsigned i = 0; i < bi->n4; i++)
        all[nt++] = &bi->v4[bi->in4[i]];
    for (unsigned i = 0; i < bi->n6; i++)
        all[nt++] = &bi->v6[bi->in6[i]];
    all[nt++] = &bi->users;
    for (size_t k = 0; k < nt; k++)
        for (size_t i = 0; i < all[k]->cap; i++) {
            const ban_ent *e = all[k]->slot[i].e;
            if (!e || !in_force(e, now_wall))
                continue;
            rec_of(e, &r);
            fn(&r, arg);
            n++;
        }
    return n;
}

/* ban_set_max - the bound on bans and on history entries */
void ban_set_max(struct ban_index *bi, size_t max)
{
    bi->max = max;
}

/* ban_full_refused - new keys the bound refused */
uint64_t ban_full_refused(const struct ban_index *bi)
{
    return bi->full;
}

/* ban_full_bans - new bans the bound refused */
uint64_t ban_full_bans(const struct ban_index *bi)
{
    return bi->full_bans;
}

/* ban_evicted - bans the bound evicted for new ones */
uint64_t ban_evicted(const struct ban_index *bi)
{
    return bi->evicted;
}

/* ban_count - current bans (those expired and not yet dropped included) */
size_t ban_count(const struct ban_index *bi)
{
    return bi->count;
}

/* ban_on_change - add a listener */
int ban_on_change(struct ban_index *bi, ban_change_fn cb, void *arg)
{
    for (unsigned i = 0; i < BAN_LISTENERS; i++)
        if (!bi->listen[i].cb) {
            bi->listen[i].cb = cb;
            bi->listen[i].arg = arg;
            return 0;
        }
    return -1;
}

/* ban_on_change_remove - drop the listener (cb, arg) */
void ban_on_change_remove(struct ban_index *bi, ban_change_fn cb, void *arg)
{
    for (unsigned i = 0; i < BAN_LISTENERS; i++)
        if (bi->listen[i].cb == cb && bi->listen[i].arg == arg) {
            bi->listen[i].cb = NULL;
            bi->listen[i].arg = NULL;
        }
}

/* --- history --- */

/* history_get - the history entry of a key, made when missing (NULL: missing, and the history is full) */
static ban_ent *history_get(struct ban_index *bi, const ban_rec *key)
{
    char nb[BAN_NAME_MAX + 1];
    uint8_t bytes[16];
    size_t len;
    const char *name = lookup_name(key, &len, nb);
    ban_ent *e;

    normal_key(key, bytes);
    e = table_get(bi, &bi->history, key->family, key->prefix, bytes, name, len);
    if (e)
        return e;
    if (bi->max && bi->history.n >= bi->max) {
        if (bi->full != UINT64_MAX)
            bi->full++;
        return NULL;
    }
    e = ent_new(bi);
    e->family = key->family;
    e->prefix = key->prefix;
    memcpy(e->bytes, bytes, 16);
    if (key->family == 0) {
        e->u.name = fg_strndup(name, len);
        e->namelen = (uint16_t)len;
    }
    table_put(bi, &bi->history, e);
    return e;
}

/* ban_history_horizon - history entries are kept at least this long after their last ban */
void ban_history_horizon(struct ban_index *bi, uint64_t history_s)
{
    if (history_s > bi->horizon)
        bi->horizon = history_s;
}

/* ban_history_kept - the horizon */
uint64_t ban_history_kept(const struct ban_index *bi)
{
    return bi->horizon;
}

/* ban_max - the bound */
size_t ban_max(const struct ban_index *bi)
{
    return bi->max;
}

/* ban_history_next - the number of this ban of key within history_s, recorded at now_wall */
uint32_t ban_history_next(struct ban_index *bi, const ban_rec *key, uint64_t now_wall, uint64_t history_s)
{
    ban_ent *e;

    if (key_ok(key) < 0)
        return 1;
    ban_history_horizon(bi, history_s);
    e = history_get(bi, key);
    if (!e)
        return 1; /* the history is full: a first ban, unrecorded */
    if (e->times == 0 || now_wall > e->since + history_s)
        e->times = 1;
    else if (e->times < UINT32_MAX)
        e->times++;
    e->since = now_wall;
    return e->times;
}

/* ban_history_foreach - every history entry (times, since = last ban) */
size_t ban_history_foreach(const struct ban_index *bi, ban_foreach_fn fn, void *arg)
{
    size_t n = 0;
    ban_rec r;

    for (size_t i = 0; i < bi->history.cap; i++) {
        const ban_ent *e = bi->history.slot[i].e;
        if (!e)
            continue;
        rec_of(e, &r);
        fn(&r, arg);
        n++;
    }
    return n;
}

/* ban_history_set - restore one entry */
int ban_history_set(struct ban_index *bi, const ban_rec *key, uint32_t times, uint64_t last_wall)
{
    ban_ent *e;

    if (key_ok(key) < 0 || last_wall > BAN_WALL_MAX)
        return -1;
    if (!(e = history_get(bi, key)))
        return BAN_FULL;
    e->times = times;
    e->since = last_wall;
    return 0;
}
