/*
 * test_distinct - distinct counts against an exact set, HLL within its stated error, forgetting
 *
 * The clock is injected; fingerprints come from a fixed-seed splitmix64, as
 * the caller's keyed hash would give them.
 */
#include "testutil.h"

#include <math.h>

#include "distinct.h"

/* mix - splitmix64, a stand-in for the caller's hash */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* exact_matches_set - below the exact size the count is the set's size, repeats never count */
static void exact_matches_set(void **s)
{
    (void)s;
    distinct_state *st = distinct_new(600000, 10);
    assert_non_null(st);
    uint64_t vals[DISTINCT_EXACT_MAX];
    unsigned nset = 0;
    for (unsigned i = 0; i < 1000; i++) {
        uint64_t v = mix(i % DISTINCT_EXACT_MAX * 7 % 50); /* 50 different values, repeated */
        int found = 0;
        for (unsigned j = 0; j < nset; j++)
            found |= vals[j] == v;
        if (!found)
            vals[nset++] = v;
        assert_int_equal(distinct_seen(st, v, 1000 + i), found);
        assert_int_equal(distinct_put(st, v, 1000 + i), 0);
        assert_int_equal(distinct_count(st, 1000 + i), nset);
    }
    assert_true(distinct_exact(st));
    distinct_free(st);
}

/* limit_admits_seen - at the limit a new value is refused, a counted one passes */
static void limit_admits_seen(void **s)
{
    (void)s;
    distinct_state *st = distinct_new(600000, 10);
    for (uint64_t i = 0; i < 5; i++) {
        assert_true(distinct_admits(st, mix(i), 5, 10));
        distinct_put(st, mix(i), 10);
    }
    assert_false(distinct_admits(st, mix(99), 5, 20));
    assert_true(distinct_admits(st, mix(3), 5, 20));
    assert_int_equal(distinct_count(st, 20), 5);
    distinct_free(st);
}

/* hll_within_error - 100,000 random values: estimate within 3 standard errors (3 x 3.25%), memory fixed */
static void hll_within_error(void **s)
{
    (void)s;
    distinct_state *st = distinct_new(600000, 10);
    size_t bytes = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        distinct_put(st, mix(i ^ 0xABCDEF), 1000 + i / 1000);
        if (i == 1000)
            bytes = distinct_bytes(st);
    }
    assert_false(distinct_exact(st));
    assert_int_equal(distinct_bytes(st), bytes); /* bounded whatever is sent */
    double e = (double)distinct_count(st, 1000 + 100);
    double se = 1.04 / sqrt(DISTINCT_HLL_M);
    print_message("HLL: 100000 values, estimate %.0f (%.2f%%), stated standard error %.2f%%, %zu bytes\n", e,
                  100 * (e - 100000) / 100000, 100 * se, bytes);
    assert_true(fabs(e - 100000) <= 3 * se * 100000);
    distinct_free(st);
}

/* forgets - a value leaves the count at most per/k after its last sighting leaves the window */
static void forgets(void **s)
{
    (void)s;
    const uint64_t per = 10000, k = 10;
    distinct_state *st = distinct_new(per, k);
    distinct_put(st, mix(1), 0);
    distinct_put(st, mix(2), 5000);
    distinct_put(st, mix(1), 6000); /* seen again: stays */
    assert_int_equal(distinct_count(st, 9999), 2);
    assert_int_equal(distinct_count(st, 6000 + per - 1), 2);
    assert_int_equal(distinct_count(st, 5000 + per + per / k), 1); /* 2 gone, 1 refreshed at 6000 */
    assert_int_equal(distinct_count(st, 6000 + per + per / k), 0);
    /* HLL mode forgets too, and turns exact again when the window empties */
    for (uint64_t i = 0; i < 5000; i++)
        distinct_put(st, mix(i + 100), 100000);
    assert_false(distinct_exact(st));
    assert_true(distinct_count(st, 100000) > 4500);
    assert_int_equal(distinct_count(st, 100000 + per + per / k), 0);
    distinct_put(st, mix(7), 100000 + per + per / k);
    assert_true(distinct_exact(st));
    assert_int_equal(distinct_count(st, 100000 + per + per / k), 1);
    distinct_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_matches_set),
        cmocka_unit_test(limit_admits_seen),
        cmocka_unit_test(hll_within_error),
        cmocka_unit_test(forgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
