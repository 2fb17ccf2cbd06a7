/*
 * test_snapshot - the embedded store's snapshot: round trip, expiry, damage
 */
#include "testutil.h"

#include "grey.h"
#include "hash.h"
#include "keys.h"
#include "snapshot.h"

#define W0 1700000000000ULL /* a wall clock */

static mem_store *fresh(void)
{
    return mem_new(&(mem_config){.seed = 9});
}

/* put_key - a key of a class with a 4-byte value */
static void put_key(mem_store *m, uint8_t cls, const char *name, uint32_t value, uint64_t expires)
{
    key_buf k;
    key_begin(&k, (enum key_class)cls, name, strlen(name));
    memcpy(mem_put(m, k.bytes, k.len, 4, expires, 0), &value, 4);
}

/* get_key - the value of that key, or 0 */
static uint32_t get_key(mem_store *m, uint8_t cls, const char *name, uint64_t now)
{
    key_buf k;
    size_t vlen;
    uint32_t v = 0;
    key_begin(&k, (enum key_class)cls, name, strlen(name));
    void *p = mem_get(m, k.bytes, k.len, &vlen, now);
    if (p)
        memcpy(&v, p, 4);
    return v;
}

/* greylist and ban keys survive, with their expiry; counters and expired keys do not */
static void test_round_trip(void **st)
{
    char path[300], err[256];
    mem_store *a = fresh(), *b = fresh();
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("state", ""));
    unlink(path);
    put_key(a, KEY_GREYLIST, "pass", 11, 5000);
    put_key(a, KEY_BAN, "ban", 22, 9000);
    put_key(a, KEY_BAN_HISTORY, "hist", 33, 9000);
    put_key(a, KEY_RCPT, "counter", 44, 9000);
    put_key(a, KEY_GREYLIST, "old", 55, 1500);
    assert_int_equal(snapshot_write(a, path, 1000, 1000, err, sizeof err), 4);
    assert_int_equal(snapshot_load(b, path, 2000, 2000, err, sizeof err), 3);
    assert_int_equal(get_key(b, KEY_GREYLIST, "pass", 4999), 11);
    assert_int_equal(get_key(b, KEY_GREYLIST, "pass", 5000), 0);
    assert_int_equal(get_key(b, KEY_BAN, "ban", 2000), 22);
    assert_int_equal(get_key(b, KEY_BAN_HISTORY, "hist", 2000), 33);
    assert_int_equal(get_key(b, KEY_RCPT, "counter", 2000), 0);
    assert_int_equal(get_key(b, KEY_GREYLIST, "old", 2000), 0);
    mem_free(a);
    mem_free(b);
}

/* no file: nothing to load, no error */
static void test_missing(void **st)
{
    char err[256];
    mem_store *m = fresh();
    (void)st;
    assert_int_equal(snapshot_load(m, "/nonexistent/floodgate/state", 0, 0, err, sizeof err), 0);
    mem_free(m);
}

/* a damaged or truncated file is refused whole */
static void test_damaged(void **st)
{
    char path[300], err[256];
    mem_store *a = fresh(), *b = fresh();
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("state2", ""));
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%d", i);
        put_key(a, KEY_GREYLIST, name, (uint32_t)i, 100000);
    }
    assert_int_equal(snapshot_write(a, path, 0, 0, err, sizeof err), 50);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, 200, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    assert_int_equal(snapshot_load(b, path, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a complete floodgate snapshot"));
    assert_int_equal(mem_count(b), 0);
    /* truncated */
    assert_int_equal(snapshot_write(a, path, 0, 0, err, sizeof err), 50);
    assert_int_equal(truncate(path, 300), 0);
    assert_int_equal(snapshot_load(b, path, 0, 0, err, sizeof err), -1);
    assert_int_equal(mem_count(b), 0);
    mem_free(a);
    mem_free(b);
}

/* put_triplet - a greylist triplet first seen at first */
static void put_triplet(mem_store *m, const char *name, uint64_t first, uint64_t expires)
{
    key_buf k;
    unsigned char v[GREY_TRIPLET_SIZE] = {0};
    key_begin(&k, KEY_GREYLIST, name, strlen(name));
    memcpy(v, &first, 8);
    memcpy(mem_put(m, k.bytes, k.len, GREY_TRIPLET_SIZE, expires, 0), v, GREY_TRIPLET_SIZE);
}

/* triplet_first - the first sight of that triplet, and its expiry through *expires (probed), or 0 */
static uint64_t triplet_first(mem_store *m, const char *name, uint64_t now)
{
    key_buf k;
    size_t vlen;
    uint64_t first = 0;
    key_begin(&k, KEY_GREYLIST, name, strlen(name));
    void *p = mem_get(m, k.bytes, k.len, &vlen, now);
    if (p && vlen == GREY_TRIPLET_SIZE)
        memcpy(&first, p, 8);
    return first;
}

/* alive_until - a key read alive at t - 1 and gone at t */
#define ALIVE_UNTIL(m, cls, name, t)                                                                          \
    do {                                                                                                      \
        assert_int_not_equal(get_key(m, cls, name, (t) - 1), 0);                                              \
        assert_int_equal(get_key(m, cls, name, t), 0);                                                        \
    } while (0)

/* written at daemon time T (wall W), loaded by a daemon whose clock reads anything else: every remaining
 * time and the age of a first sight are what they were, less the downtime the wall clock measured */
static void test_other_clock(void **st)
{
    char path[300], err[256];
    mem_store *a = fresh(), *b = fresh(), *c = fresh();
    uint64_t t = 5000000;          /* the writer's daemon clock: far from its wall clock (it stepped) */
    uint64_t t2 = 9000000000000ULL; /* the loader's daemon clock */
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("state3", ""));
    put_key(a, KEY_GREYLIST, "pass", 11, t + 60000);
    put_key(a, KEY_BAN, "ban", 22, t + 3600000);
    put_key(a, KEY_BAN_HISTORY, "forever", 33, UINT64_MAX);
    put_triplet(a, "triplet", t - 1000, t + 120000);
    assert_int_equal(snapshot_write(a, path, t, W0, err, sizeof err), 4);

    /* 10 s of downtime on the wall clock */
    assert_int_equal(snapshot_load(b, path, t2, W0 + 10000, err, sizeof err), 4);
    ALIVE_UNTIL(b, KEY_GREYLIST, "pass", t2 + 50000);
    ALIVE_UNTIL(b, KEY_BAN, "ban", t2 + 3590000);
    assert_int_equal(get_key(b, KEY_BAN_HISTORY, "forever", UINT64_MAX - 1), 33);
    assert_int_equal(triplet_first(b, "triplet", t2), t2 - 11000);
    assert_int_equal(triplet_first(b, "triplet", t2 + 109999), t2 - 11000);
    assert_int_equal(triplet_first(b, "triplet", t2 + 110000), 0);

    /* the wall clock went back 96 s while it was down: no downtime counted, nothing lengthened */
    assert_int_equal(snapshot_load(c, path, t2, W0 - 96000, err, sizeof err), 4);
    ALIVE_UNTIL(c, KEY_GREYLIST, "pass", t2 + 60000);
    ALIVE_UNTIL(c, KEY_BAN, "ban", t2 + 3600000);
    assert_int_equal(triplet_first(c, "triplet", t2), t2 - 1000);
    mem_free(a);
    mem_free(b);
    mem_free(c);
}

/* a long downtime: what expired meanwhile is not loaded, the rest keeps its remaining time */
static void test_downtime(void **st)
{
    char path[300], err[256];
    mem_store *a = fresh(), *b = fresh();
    uint64_t t = 123456789;
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("state4", ""));
    put_key(a, KEY_GREYLIST, "short", 1, t + 60000);
    put_key(a, KEY_BAN, "long", 2, t + 86400000);
    assert_int_equal(snapshot_write(a, path, t, W0, err, sizeof err), 2);
    assert_int_equal(snapshot_load(b, path, 42, W0 + 3600000, err, sizeof err), 1);
    assert_int_equal(get_key(b, KEY_GREYLIST, "short", 42), 0);
    ALIVE_UNTIL(b, KEY_BAN, "long", 42 + 86400000 - 3600000);
    mem_free(a);
    mem_free(b);
}

/* put_v1 - append bytes to a version-1 file and its hash */
static void put_v1(FILE *f, const void *p, size_t n, uint64_t *hash)
{
    assert_int_equal(fwrite(p, 1, n, f), n);
    *hash = hash64(p, n, *hash);
}

/* a snapshot of the previous format (no header, dates in wall ms) still loads */
static void test_version1(void **st)
{
    char path[300], err[256];
    mem_store *m = fresh();
    key_buf k;
    uint64_t hash = 0x736e617073686f74ULL, exp = W0 + 60000, count = 1, sum;
    uint16_t kl, vl = 4, trailer[2] = {0xffff, 0};
    uint32_t v = 77;
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("state5", ""));
    key_begin(&k, KEY_GREYLIST, "old", 3);
    kl = (uint16_t)k.len;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    put_v1(f, "FGSNAP1\n", 8, &hash);
    put_v1(f, &kl, 2, &hash);
    put_v1(f, &vl, 2, &hash);
    put_v1(f, &exp, 8, &hash);
    put_v1(f, k.bytes, k.len, &hash);
    put_v1(f, &v, 4, &hash);
    sum = hash;
    put_v1(f, trailer, 4, &hash);
    put_v1(f, &count, 8, &hash);
    put_v1(f, &sum, 8, &hash);
    fclose(f);
    assert_int_equal(snapshot_load(m, path, 1000, W0 + 20000, err, sizeof err), 1);
    ALIVE_UNTIL(m, KEY_GREYLIST, "old", 1000 + 40000);
    mem_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_other_clock),
        cmocka_unit_test(test_downtime),
        cmocka_unit_test(test_version1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
