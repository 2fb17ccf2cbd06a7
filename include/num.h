/*
 * num - checked parsing of numbers, durations and sizes
 *
 * The one place where text becomes a number. Every helper checks the whole
 * string, the sign and the range, and returns 0 on success or -1 with a
 * short reason in *why (a static string). Arithmetic helpers saturate.
 */
#ifndef FG_NUM_H
#define FG_NUM_H

#include <stddef.h>
#include <stdint.h>

/* num_parse_u64 - decimal unsigned integer in [min, max] */
int num_parse_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out, const char **why);

/* num_parse_i64 - decimal signed integer */
int num_parse_i64(const char *s, size_t len, int64_t *out, const char **why);

/* num_parse_duration - "90", "500ms", "30s", "5m", "1h", "2d", "1w" (bare number: seconds) to milliseconds */
int num_parse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms, const char **why);

/* num_parse_size - "65536", "64k", "1m" to bytes */
int num_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why);

/* num_sat_add - saturating addition */
static inline uint64_t num_sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* num_sat_add_i64 - saturating signed addition */
static inline int64_t num_sat_add_i64(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* num_sat_mul - saturating multiplication */
static inline uint64_t num_sat_mul(uint64_t a, uint64_t b)
{
    return (b && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

/* num_shift_date - a date (ms) of one clock on another: from_now and to_now are the two clocks read at the
 * same instant. UINT64_MAX (never) stays never; the result saturates within [0, UINT64_MAX - 1]. */
static inline uint64_t num_shift_date(uint64_t date, uint64_t from_now, uint64_t to_now)
{
    uint64_t d;

    if (date == UINT64_MAX)
        return UINT64_MAX;
    if (to_now >= from_now) {
        d = to_now - from_now;
        return date >= UINT64_MAX - 1 - d ? UINT64_MAX - 1 : date + d;
    }
    d = from_now - to_now;
    return date > d ? date - d : 0;
}

#endif
