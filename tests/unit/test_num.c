/*
 * test_num - checked parsing of numbers, durations and sizes
 */
#include "testutil.h"

#include "num.h"

static void test_durations(void **st)
{
    static const struct { const char *in; int ok; uint64_t ms; } cases[] = {
        {"90", 1, 90000}, {"500ms", 1, 500}, {"30s", 1, 30000}, {"5m", 1, 300000}, {"1h", 1, 3600000},
        {"2d", 1, 172800000}, {"1w", 1, 604800000}, {"", 0, 0}, {"m", 0, 0}, {"-5m", 0, 0}, {"5 m", 0, 0},
        {"5y", 0, 0}, {"99999999999999999999s", 0, 0}, {"3000000000000000w", 0, 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 0;
        const char *why = NULL;
        int rc = num_parse_duration(cases[i].in, 0, UINT64_MAX, &ms, &why);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(ms, cases[i].ms);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(why);
        }
    }
}

static void test_numbers(void **st)
{
    uint64_t u;
    int64_t i;
    const char *why;
    (void)st;

    assert_int_equal(num_parse_u64("123", 3, 0, 1000, &u, &why), 0);
    assert_int_equal(u, 123);
    assert_int_equal(num_parse_u64("1001", 4, 0, 1000, &u, &why), -1);
    assert_int_equal(num_parse_u64("12a", 3, 0, 1000, &u, &why), -1);
    assert_int_equal(num_parse_u64("", 0, 0, 1000, &u, &why), -1);
    assert_int_equal(num_parse_u64("18446744073709551616", 20, 0, UINT64_MAX, &u, &why), -1);
    assert_int_equal(num_parse_i64("-42", 3, &i, &why), 0);
    assert_int_equal(i, -42);
    assert_int_equal(num_parse_i64("-", 1, &i, &why), -1);
    assert_int_equal(num_parse_size("64k", 0, UINT64_MAX, &u, &why), 0);
    assert_int_equal(u, 65536);
    assert_int_equal(num_parse_size("2m", 0, UINT64_MAX, &u, &why), 0);
    assert_int_equal(u, 2 * 1024 * 1024);
    assert_int_equal(num_parse_size("1g", 0, UINT64_MAX, &u, &why), -1);
    assert_int_equal(num_sat_add(UINT64_MAX - 1, 5), UINT64_MAX);
    assert_int_equal(num_sat_mul(UINT64_MAX / 2, 3), UINT64_MAX);
    /* dates from one clock to another: both directions, never stays never, no wrap at either end */
    assert_int_equal(num_shift_date(1500, 1000, 9000), 9500);
    assert_int_equal(num_shift_date(9500, 9000, 1000), 1500);
    assert_int_equal(num_shift_date(500, 9000, 1000), 0);
    assert_int_equal(num_shift_date(UINT64_MAX, 0, 5), UINT64_MAX);
    assert_int_equal(num_shift_date(UINT64_MAX, 5, 0), UINT64_MAX);
    assert_int_equal(num_shift_date(UINT64_MAX - 3, 0, 10), UINT64_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
