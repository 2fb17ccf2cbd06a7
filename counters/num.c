/*
 * num - checked parsing of numbers, durations and sizes
 *
 * strtoull accepts a leading minus sign, white space and an empty string;
 * we do not, so these helpers scan the digits themselves. Durations are
 * kept in milliseconds everywhere in floodgate.
 */
#include "num.h"

#include <string.h>

/* scan_digits - parse [0-9]+ at s; returns digits consumed, 0 on none, -1 on overflow */
static int scan_digits(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return (int)(i > 0x7fffffff ? 0x7fffffff : i);
}

/* num_parse_u64 - decimal unsigned integer in [min, max] */
int num_parse_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
    uint64_t v;
    int n = scan_digits(s, len, &v);

    if (n < 0) {
        *why = "number too large";
        return -1;
    }
    if (n == 0 || (size_t)n != len) {
        *why = "not a whole number";
        return -1;
    }
    if (v < min || v > max) {
        *why = "number out of range";
        return -1;
    }
    *out = v;
    return 0;
}

/* num_parse_i64 - decimal signed integer */
int num_parse_i64(const char *s, size_t len, int64_t *out, const char **why)
{
    int neg = len > 0 && s[0] == '-';
    uint64_t v;

    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
    }
    if (num_parse_u64(s, len, 0, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v, why) < 0)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* num_parse_duration - duration with unit to milliseconds */
int num_parse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms, const char **why)
{
    size_t len = strlen(s);
    uint64_t v, mult;
    int n = scan_digits(s, len, &v);
    const char *unit;

    if (n < 0) {
        *why = "duration too large";
        return -1;
    }
    if (n == 0) {
        *why = "duration must start with a number (e.g. 30s, 5m, 1h, 2d)";
        return -1;
    }
    unit = s + n;
    if (!*unit || !strcmp(unit, "s"))
        mult = 1000;
    else if (!strcmp(unit, "ms"))
        mult = 1;
    else if (!strcmp(unit, "m"))
        mult = 60 * 1000;
    else if (!strcmp(unit, "h"))
        mult = 3600 * 1000;
    else if (!strcmp(unit, "d"))
        mult = 86400 * 1000;
    else if (!strcmp(unit, "w"))
        mult = 7 * 86400 * 1000ULL;
    else {
        *why = "unknown duration unit (use ms, s, m, h, d or w)";
        return -1;
    }
    if (v > UINT64_MAX / mult) {
        *why = "duration too large";
        return -1;
    }
    v *= mult;
    if (v < min_ms || v > max_ms) {
        *why = "duration out of range";
        return -1;
    }
    *out_ms = v;
    return 0;
}

/* num_parse_size - byte count with optional k/m suffix */
int num_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
    size_t len = strlen(s);
    uint64_t v, mult = 1;
    int n = scan_digits(s, len, &v);

    if (n <= 0) {
        *why = n < 0 ? "size too large" : "size must be a number (e.g. 65536 or 64k)";
        return -1;
    }
    if (!strcmp(s + n, "k") || !strcmp(s + n, "K"))
        mult = 1024;
    else if (!strcmp(s + n, "m") || !strcmp(s + n, "M"))
        mult = 1024 * 1024;
    else if (s[n]) {
        *why = "unknown size unit (use k or m)";
        return -1;
    }
    if (v > UINT64_MAX / mult) {
        *why = "size too large";
        return -1;
    }
    v *= mult;
    if (v < min || v > max) {
        *why = "size out of range";
        return -1;
    }
    *out = v;
    return 0;
}
