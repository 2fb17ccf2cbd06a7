/*
 * hash - 64-bit hashing of byte strings (see hash.h for why it is ours)
 */
#include "hash.h"

#include <string.h>

#define P1 0x9E3779B97F4A7C15ULL /* golden ratio */
#define P2 0xC2B2AE3D27D4EB4FULL /* xxhash prime 2 */

/* rotl - rotate left */
static inline uint64_t rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

/* finalize - splitmix64 finaliser: every input bit reaches every output bit */
static inline uint64_t finalize(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* hash64 - hash len bytes at data */
uint64_t hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *s = data;
    uint64_t h = seed ^ (len * P1), v;

    while (len >= 8) {
        memcpy(&v, s, 8);
        h = rotl(h ^ (v * P2), 31) * P1;
        s += 8;
        len -= 8;
    }
    v = 0;
    memcpy(&v, s, len);
    h = rotl(h ^ (v * P2) ^ ((uint64_t)len << 59), 27) * P1;
    return finalize(h);
}
