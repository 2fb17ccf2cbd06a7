/*
 * test_snapshot - the embedded store's snapshot: round trip, expiry, damage
 */
#include "testutil.h"

#include "keys.h"
#include "snapshot.h"

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
    assert_int_equal(snapshot_write(a, path, 1000, err, sizeof err), 4);
    assert_int_equal(snapshot_load(b, path, 2000, err, sizeof err), 3);
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
    assert_int_equal(snapshot_load(m, "/nonexistent/floodgate/state", 0, err, sizeof err), 0);
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
    assert_int_equal(snapshot_write(a, path, 0, err, sizeof err), 50);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, 200, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    assert_int_equal(snapshot_load(b, path, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a complete floodgate snapshot"));
    assert_int_equal(mem_count(b), 0);
    /* truncated */
    assert_int_equal(snapshot_write(a, path, 0, err, sizeof err), 50);
    assert_int_equal(truncate(path, 300), 0);
    assert_int_equal(snapshot_load(b, path, 0, err, sizeof err), -1);
    assert_int_equal(mem_count(b), 0);
    mem_free(a);
    mem_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
