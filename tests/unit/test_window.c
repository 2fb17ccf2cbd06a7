/*
 * test_window - sliding windows against an exact sliding log
 *
 * Random traces with an injected clock. Every admitted event goes into an
 * exact log; the tests check DESIGN.md's two bounds:
 *   upper: no interval of length per ever holds more than count admitted events;
 *   lower: a denial happens only when the last per + per/k holds count admitted
 *          events (an event is forgotten at most per/k after leaving the window).
 */
#include "testutil.h"

#include "window.h"

typedef struct trace_case {
    const char *label;
    uint64_t per_ms;
    uint32_t count;
    uint16_t k;
    uint64_t max_gap_ms; /* events arrive 0..max_gap apart */
    unsigned events;
} trace_case;

static const trace_case cases[] = {
    {"1 per second, k=10, bursts", 1000, 1, 10, 300, 20000},
    {"5 per 10s, k=10", 10000, 5, 10, 2000, 20000},
    {"100 per minute, k=10, dense", 60000, 100, 10, 900, 30000},
    {"7 per 7s, k=7", 7000, 7, 7, 1500, 20000},
    {"3 per 1000ms, k=3 (per/k not whole)", 1000, 3, 3, 400, 20000},
    {"10 per 1h, k=1", 3600000, 10, 1, 600000, 5000},
    {"70000 per 1m (wide counters)", 60000, 70000, 10, 2, 200000},
    {"50 per 10s, k=60", 10000, 50, 60, 300, 30000},
};

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* count_since - admitted events after `from` (the log is sorted, and from only grows: *lo moves forward) */
static unsigned count_since(const uint64_t *log, size_t n, uint64_t from, size_t *lo)
{
    while (*lo < n && log[*lo] <= from)
        (*lo)++;
    return (unsigned)(n - *lo);
}

static void run_trace(const trace_case *tc)
{
    window_spec spec = {tc->per_ms, tc->count, tc->k};
    unsigned char state[512];
    size_t len = window_state_size(&spec);
    uint64_t *log = calloc(tc->events, sizeof *log), now = 1700000000000ULL + rnd() % 100000, forget = (tc->per_ms + tc->k - 1) / tc->k;
    size_t nlog = 0, lo_per = 0, lo_late = 0;
    int have_state = 0;
    unsigned admitted = 0, denied = 0;

    assert_true(len <= sizeof state);
    for (unsigned i = 0; i < tc->events; i++) {
        window_peek pk;
        now += tc->max_gap_ms > 1 ? rnd() % tc->max_gap_ms : rnd() % 2;
        int ok = window_check(&spec, have_state ? state : NULL, have_state ? len : 0, now, &pk);
        unsigned recent = count_since(log, nlog, now > tc->per_ms ? now - tc->per_ms : 0, &lo_per);
        if (ok) {
            /* upper bound: admitting keeps every window of length per at or below count */
            if (recent + 1 > tc->count)
                fail_msg("%s: admitted event %u at %llu with %u already in the window", tc->label, i,
                         (unsigned long long)now, recent);
            window_add(&spec, state, len, now);
            have_state = 1;
            log[nlog++] = now;
            admitted++;
        } else {
            /* lower bound: the denial is owed to events of the last per + per/k */
            unsigned late = count_since(log, nlog, now > tc->per_ms + forget ? now - tc->per_ms - forget : 0, &lo_late);
            if (late < tc->count)
                fail_msg("%s: denied event %u at %llu with only %u events in per+per/k", tc->label, i,
                         (unsigned long long)now, late);
            assert_true(pk.retry_ms > 0);
            assert_true(pk.retry_ms <= tc->per_ms + forget);
            denied++;
        }
    }
    /* the traces must exercise both sides */
    assert_true(admitted > 0);
    assert_true(denied > 0);
    free(log);
}

static void test_traces(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_trace(&cases[i]);
}

/* retry_after is exact: denied just before it, admitted at it */
static void test_retry_after(void **st)
{
    window_spec spec = {10000, 3, 10};
    unsigned char state[64];
    size_t len = window_state_size(&spec);
    uint64_t t0 = 1000000;
    window_peek pk;

    (void)st;
    memset(state, 0, sizeof state);
    for (int i = 0; i < 3; i++) {
        assert_true(window_check(&spec, i ? state : NULL, i ? len : 0, t0 + (uint64_t)i * 2000, &pk));
        window_add(&spec, state, len, t0 + (uint64_t)i * 2000);
    }
    assert_false(window_check(&spec, state, len, t0 + 4500, &pk));
    assert_int_equal(pk.total, 3);
    /* the first event (bucket of t0) drops out when t0's bucket + 11 starts: t0 + 11000 */
    assert_int_equal(t0 + 4500 + pk.retry_ms, t0 + 11000);
    assert_false(window_check(&spec, state, len, t0 + 10999, &pk));
    assert_true(window_check(&spec, state, len, t0 + 11000, &pk));
    assert_int_equal(pk.total, 2);
}

/* a state written under another rule shape reads as empty */
static void test_shape_change(void **st)
{
    window_spec a = {60000, 2, 10}, b = {3600000, 2, 10};
    unsigned char state[64];
    window_peek pk;

    (void)st;
    memset(state, 0, sizeof state);
    window_add(&a, state, window_state_size(&a), 5000);
    window_add(&a, state, window_state_size(&a), 5001);
    assert_false(window_check(&a, state, window_state_size(&a), 5002, &pk));
    assert_true(window_check(&b, state, window_state_size(&b), 5002, &pk));
    assert_int_equal(pk.total, 0);
}

/* a long silence clears the ring; expiry says when the state holds nothing */
static void test_gap_and_expiry(void **st)
{
    window_spec spec = {1000, 1, 10};
    unsigned char state[64];
    size_t len = window_state_size(&spec);
    window_peek pk;

    (void)st;
    window_add(&spec, state, len, 10000);
    assert_false(window_check(&spec, state, len, 10500, &pk));
    uint64_t exp = window_expiry(&spec, 10000);
    assert_true(exp <= 10000 + 1000 + 100);
    assert_true(window_check(&spec, state, len, exp, &pk));
    window_add(&spec, state, len, 10000 + 50000);
    assert_false(window_check(&spec, state, len, 10000 + 50001, &pk));
    assert_int_equal(pk.total, 1);
}

/* a clock that steps back does not let a client through */
static void test_clock_backwards(void **st)
{
    window_spec spec = {10000, 2, 10};
    unsigned char state[64];
    size_t len = window_state_size(&spec);
    window_peek pk;

    (void)st;
    window_add(&spec, state, len, 50000);
    window_add(&spec, state, len, 50000);
    assert_false(window_check(&spec, state, len, 45000, &pk));
}

/* a full window stays full when now goes back, by any amount: a step back never opens it */
static void test_step_back_any_amount(void **st)
{
    static const uint64_t backs[] = {1, 999, 1000, 9999, 10000, 10001, 11000, 11001, 60000, 3600000, 86400000,
                                     1700000000000ULL - 1};
    window_spec spec = {10000, 3, 10};
    unsigned char state[64];
    size_t len = window_state_size(&spec);
    uint64_t t = 1700000000000ULL;
    window_peek pk;

    (void)st;
    for (int i = 0; i < 3; i++) {
        assert_true(window_check(&spec, i ? state : NULL, i ? len : 0, t + (uint64_t)i * 3000, &pk));
        window_add(&spec, state, len, t + (uint64_t)i * 3000);
    }
    t += 6000;
    for (size_t i = 0; i < sizeof backs / sizeof backs[0]; i++) {
        if (window_check(&spec, state, len, t - backs[i], &pk))
            fail_msg("a full window admitted at now - %llu ms", (unsigned long long)backs[i]);
        assert_int_equal(pk.total, 3);
        /* the retry is never longer than one window, however far the clock went back */
        assert_true(pk.retry_ms > 0 && pk.retry_ms <= spec.per_ms + spec.per_ms / spec.k);
    }
}

/* a window that is not full, read far behind its newest bucket, counts what it holds and takes the rest */
static void test_step_back_partly_full(void **st)
{
    window_spec spec = {60000, 5, 10};
    unsigned char state[64];
    size_t len = window_state_size(&spec);
    uint64_t t = 1700000000000ULL, back = t - 3600000;
    window_peek pk;

    (void)st;
    window_add(&spec, state, len, t);
    window_add(&spec, state, len, t + 20000);
    for (int i = 0; i < 3; i++) {
        assert_true(window_check(&spec, state, len, back + (uint64_t)i, &pk));
        assert_int_equal(pk.total, 2 + i);
        window_add(&spec, state, len, back + (uint64_t)i);
    }
    assert_false(window_check(&spec, state, len, back + 3, &pk));
    assert_int_equal(pk.total, 5);
    /* reported: one window at most, since the real wait cannot be known */
    assert_int_equal(pk.retry_ms, spec.per_ms);
}

/* a step forward forgets exactly as the window says: as if that much time had passed */
static void test_step_forward(void **st)
{
    window_spec spec = {10000, 3, 10};
    unsigned char state[64];
    size_t len = window_state_size(&spec);
    uint64_t t = 1700000000000ULL;
    window_peek pk, at;

    (void)st;
    for (int i = 0; i < 3; i++)
        window_add(&spec, state, len, t + (uint64_t)i * 2000);
    t += 4000;
    assert_false(window_check(&spec, state, len, t, &at));
    /* the first event (bucket of t-4000) leaves the sum when bucket +11 starts: t - 4000 + 11000 */
    assert_int_equal(at.retry_ms, 7000);
    for (uint64_t d = 1; d < 20000; d += 1 + d / 7) {
        int ok = window_check(&spec, state, len, t + d, &pk);
        if (ok != (d >= at.retry_ms))
            fail_msg("after a step of +%llu ms: %s", (unsigned long long)d, ok ? "admitted early" : "still denied");
    }
    /* a step past per + per/k forgets everything; a step of a day too */
    assert_true(window_check(&spec, state, len, t + 11000, &pk));
    assert_int_equal(pk.total, 0);
    assert_true(window_check(&spec, state, len, t + 86400000, &pk));
    assert_int_equal(pk.total, 0);
}

/* real time runs on; the clock that stamps the events steps back at random moments, by up to three
 * windows: in real time no interval of length per ever holds more than count admitted events (a step
 * forward does open a window, as much as that time passing would: test_step_forward) */
static void test_steps_never_open(void **st)
{
    static const window_spec specs[] = {{1000, 1, 10}, {10000, 5, 10}, {60000, 100, 10}, {7000, 7, 7}};
    unsigned char state[512];
    (void)st;

    for (size_t c = 0; c < sizeof specs / sizeof specs[0]; c++) {
        const window_spec *spec = &specs[c];
        size_t len = window_state_size(spec), n = 0, lo = 0;
        uint64_t real = 0, *log = calloc(40000, sizeof *log);
        int64_t offset = 1700000000000LL;
        int have = 0;
        unsigned backs = 0;
        window_peek pk;

        for (unsigned i = 0; i < 40000; i++) {
            real += rnd() % (spec->per_ms / 20 + 1);
            if (rnd() % 500 == 0) {
                offset -= (int64_t)(rnd() % (3 * spec->per_ms));
                backs++;
            }
            uint64_t now = (uint64_t)((int64_t)real + offset);
            if (window_check(spec, have ? state : NULL, have ? len : 0, now, &pk)) {
                unsigned recent = count_since(log, n, real > spec->per_ms ? real - spec->per_ms : 0, &lo);
                if (recent + 1 > spec->count)
                    fail_msg("per=%llu count=%u: admitted with %u events in the last real window",
                             (unsigned long long)spec->per_ms, spec->count, recent);
                window_add(spec, state, len, now);
                have = 1;
                log[n++] = real;
            }
        }
        assert_true(backs > 10);
        assert_true(n > spec->count);
        free(log);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traces),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_shape_change),
        cmocka_unit_test(test_gap_and_expiry),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_step_back_any_amount),
        cmocka_unit_test(test_step_back_partly_full),
        cmocka_unit_test(test_step_forward),
        cmocka_unit_test(test_steps_never_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
