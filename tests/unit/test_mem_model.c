/*
 * test_mem_model - the embedded store against a plain array model, under random operations
 *
 * Random puts (values of random sizes), gets, deletes, clock steps, purges, holds and releases of the
 * rehash (a snapshot child writing), on small and large key spaces, so that tables grow, rehash with
 * deletes and expiries in the middle, wrap runs around the end of the slot array and are forced to grow
 * while held. After each step the store must agree with the model: a live key reads back its last value
 * (8-aligned), a deleted or expired one is missing, mem_count lies between the live keys and the live plus
 * the expired ones not yet removed, and every so often mem_foreach visits exactly the live keys, once each.
 * With max_keys, an eviction may drop any key: the model follows what the store dropped, but the store
 * never holds more than max_keys, nor a key the model does not know, nor a wrong value.
 *
 * FG_MEM_MODEL_SEEDS=n runs n seeds (default 40); FG_MEM_MODEL_SEED=s runs that one seed (to replay one).
 * Every test passes the clock in; nothing sleeps.
 */
#include "testutil.h"

#include "mem.h"

#define MODEL_KEYS_MAX 3000

typedef struct model_key {
    int state;         /* 0 = absent; 1 = put (live until expires) */
    uint64_t expires;  /* ms */
    uint16_t vlen;
    uint32_t gen;      /* the value's bytes are made from the key's index and this */
} model_key;

typedef struct model {
    model_key k[MODEL_KEYS_MAX];
    unsigned nkeys;    /* keys in play */
    uint64_t now;
    uint64_t rng;
    unsigned hold;
    uint64_t max_keys;
    uint64_t seed;
    uint64_t evicted;  /* live keys the model found evicted: never more than the store counted */
} model;

/* rnd - xorshift64* */
static uint64_t rnd(model *md)
{
    md->rng ^= md->rng >> 12;
    md->rng ^= md->rng << 25;
    md->rng ^= md->rng >> 27;
    return md->rng * 2685821657736338717ULL;
}

/* below - a random number under n */
static uint64_t below(model *md, uint64_t n)
{
    return rnd(md) % n;
}

/* key_bytes - key i: 1 to 70 bytes (long keys span the entry's cache lines), unique per i */
static size_t key_bytes(unsigned i, char *buf)
{
    size_t len = 1 + (i * 37u) % 70;
    int n = snprintf(buf, 16, "%u:", i);
    for (size_t j = (size_t)n; j < len; j++)
        buf[j] = (char)('a' + (i + j) % 26);
    return len > (size_t)n ? len : (size_t)n;
}

/* value_byte - byte j of key i's value of generation gen */
static unsigned char value_byte(unsigned i, uint32_t gen, size_t j)
{
    return (unsigned char)(i * 131u + gen * 7u + j);
}

/* live - is key i live in the model now? */
static int live(const model *md, unsigned i)
{
    return md->k[i].state && md->k[i].expires > md->now;
}

/* evicted - key i, live in the model, is gone: an eviction the store must have counted */
static void evicted(model *md, mem_store *m, unsigned i)
{
    store_stats st;

    mem_stats(m, &st);
    if (!md->max_keys || ++md->evicted > st.evicted)
        fail_msg("seed %llu: live key %u missing (now %llu, %llu evictions counted)", (unsigned long long)md->seed,
                 i, (unsigned long long)md->now, (unsigned long long)st.evicted);
    md->k[i].state = 0;
}

/* check_key - the store agrees with the model on key i (a get: it may remove an expired key) */
static void check_key(model *md, mem_store *m, unsigned i)
{
    char key[80];
    size_t klen = key_bytes(i, key), vlen = 0;
    unsigned char *v = mem_get(m, key, klen, &vlen, md->now);

    if (!live(md, i)) {
        if (v)
            fail_msg("seed %llu: key %u is back (now %llu)", (unsigned long long)md->seed, i,
                     (unsigned long long)md->now);
        md->k[i].state = 0;
        return;
    }
    if (!v) {
        evicted(md, m, i);
        return;
    }
    assert_int_equal((uintptr_t)v % 8, 0);
    assert_int_equal(vlen, md->k[i].vlen);
    for (size_t j = 0; j < vlen; j++)
        if (v[j] != value_byte(i, md->k[i].gen, j))
            fail_msg("seed %llu: key %u byte %zu wrong", (unsigned long long)md->seed, i, j);
}

/* count_bounds - mem_count lies between the live keys and the live plus the expired ones not removed */
static void count_bounds(model *md, mem_store *m)
{
    uint64_t lo = 0, hi = 0, n = mem_count(m);

    for (unsigned i = 0; i < md->nkeys; i++) {
        lo += live(md, i);
        hi += md->k[i].state != 0;
    }
    if (md->max_keys) {
        assert_true(n <= md->max_keys);
        lo = 0; /* evictions the model has not seen yet */
    }
    if (n < lo || n > hi)
        fail_msg("seed %llu: mem_count %llu outside [%llu, %llu]", (unsigned long long)md->seed,
                 (unsigned long long)n, (unsigned long long)lo, (unsigned long long)hi);
}

typedef struct visit {
    model *md;
    unsigned char seen[MODEL_KEYS_MAX];
    uint64_t n;
} visit;

/* visit_one - mem_foreach callback: a known live key, seen once, with its value */
static int visit_one(const unsigned char *key, size_t klen, const void *val, size_t vlen, uint64_t expires, void *arg)
{
    visit *vs = arg;
    unsigned i = (unsigned)strtoul((const char *)key, NULL, 10);
    char want[80];

    assert_true(i < vs->md->nkeys);
    assert_int_equal(klen, key_bytes(i, want));
    assert_memory_equal(key, want, klen);
    assert_int_equal(vs->seen[i], 0);
    vs->seen[i] = 1;
    vs->n++;
    assert_true(live(vs->md, i));
    assert_int_equal(expires, vs->md->k[i].expires);
    assert_int_equal(vlen, vs->md->k[i].vlen);
    for (size_t j = 0; j < vlen; j++)
        assert_int_equal(((const unsigned char *)val)[j], value_byte(i, vs->md->k[i].gen, j));
    return 0;
}

/* check_all - mem_foreach visits exactly the live keys; then every key reads back as the model says */
static void check_all(model *md, mem_store *m)
{
    static visit vs;

    memset(&vs, 0, sizeof vs);
    vs.md = md;
    mem_foreach(m, md->now, visit_one, &vs);
    for (unsigned i = 0; i < md->nkeys; i++)
        if (live(md, i) && !vs.seen[i])
            evicted(md, m, i);
    for (unsigned i = 0; i < md->nkeys; i++)
        check_key(md, m, i);
    count_bounds(md, m);
}

/* full_purge - with nothing held, purges until the store holds exactly the live keys */
static void full_purge(model *md, mem_store *m)
{
    for (int t = 0; t < 3; t++)
        mem_purge(m, md->now, 1u << 20);
    uint64_t lo = 0;
    for (unsigned i = 0; i < md->nkeys; i++) {
        if (md->k[i].state && !live(md, i))
            md->k[i].state = 0;
        lo += live(md, i);
    }
    if (!md->max_keys && mem_count(m) != lo)
        fail_msg("seed %llu: %llu keys after a full purge, %llu live", (unsigned long long)md->seed,
                 (unsigned long long)mem_count(m), (unsigned long long)lo);
}

/* put_key - put key i with a fresh value of a random size and expiry */
static void put_key(model *md, mem_store *m, unsigned i)
{
    char key[80];
    size_t klen = key_bytes(i, key);
    uint16_t vlen = (uint16_t)(1 + below(md, 4) * below(md, 60)); /* often small, sometimes a few lines */
    uint64_t expires = below(md, 4) == 0 ? UINT64_MAX : md->now + 1 + below(md, 5000);
    unsigned char *v = mem_put(m, key, klen, vlen, expires, md->now);

    assert_non_null(v);
    assert_int_equal((uintptr_t)v % 8, 0);
    md->k[i].state = 1;
    md->k[i].expires = expires;
    md->k[i].vlen = vlen;
    md->k[i].gen++;
    for (size_t j = 0; j < vlen; j++)
        v[j] = value_byte(i, md->k[i].gen, j);
}

/* del_key - delete key i: found when live, not found when absent (an expired one not removed: either) */
static void del_key(model *md, mem_store *m, unsigned i)
{
    char key[80];
    size_t klen = key_bytes(i, key);
    int found = mem_del(m, key, klen);

    if (live(md, i) && !found)
        evicted(md, m, i);
    if (!md->k[i].state)
        assert_int_equal(found, 0);
    md->k[i].state = 0;
}

/* run_seed - one random run */
static void run_seed(uint64_t seed)
{
    static model md;
    uint64_t steps;

    memset(&md, 0, sizeof md);
    md.seed = seed;
    md.rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    md.now = 1000;
    /* small key spaces wrap runs and refill the same slots; large ones grow the table several times */
    md.nkeys = (unsigned)(below(&md, 3) == 0 ? 8 + below(&md, 40) : 8 + below(&md, MODEL_KEYS_MAX - 8));
    md.max_keys = below(&md, 5) == 0 ? 1 + below(&md, md.nkeys) : 0;
    mem_config cfg = {.max_keys = md.max_keys, .seed = seed + 1};
    mem_store *m = mem_new(&cfg);
    steps = 20000 + below(&md, 20000);

    for (uint64_t s = 0; s < steps; s++) {
        unsigned i = (unsigned)below(&md, md.nkeys);
        uint64_t r = below(&md, 1000);
        if (r < 450) {
            put_key(&md, m, i);
        } else if (r < 700) {
            check_key(&md, m, i);
        } else if (r < 850) {
            del_key(&md, m, i);
        } else if (r < 930) {
            md.now += below(&md, 300);
        } else if (r < 960) {
            mem_purge(m, md.now, (size_t)below(&md, 200));
        } else if (r < 975) {
            if (md.hold && below(&md, 2)) {
                mem_hold_rehash(m, 0);
                md.hold--;
            } else if (md.hold < 3) {
                mem_hold_rehash(m, 1);
                md.hold++;
            }
        } else if (r < 977) {
            check_all(&md, m);
        } else if (r < 978 && !md.hold) {
            full_purge(&md, m);
        } else {
            count_bounds(&md, m);
        }
    }
    check_all(&md, m);
    while (md.hold--)
        mem_hold_rehash(m, 0);
    full_purge(&md, m);
    check_all(&md, m);
    mem_free(m);
}

/* the store agrees with the model over many random runs */
static void test_model(void **st)
{
    const char *one = getenv("FG_MEM_MODEL_SEED"), *many = getenv("FG_MEM_MODEL_SEEDS");
    uint64_t n = many ? strtoull(many, NULL, 10) : 40;
    (void)st;

    if (one) {
        run_seed(strtoull(one, NULL, 10));
        return;
    }
    for (uint64_t seed = 1; seed <= n; seed++)
        run_seed(seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
