/*
 * hash - the store's hashes (see hash.h for which one serves what, and why)
 *
 * libsodium gives BLAKE2b. hash_keyed is SipHash-1-3, written here:
 * libsodium has SipHash-2-4 only, and the tables' hash runs about seven
 * times per request (a key per rule), where SipHash-2-4's rounds cost
 * about 240 instructions for a 30-byte key. SipHash-1-3 is what Rust's
 * HashMap and Python's str hash (since 3.11) use for the same job (Redis
 * uses SipHash-1-2): the attacker learns nothing of the hash values, so
 * the margin of 2-4 (a PRF whose outputs an attacker sees) is not needed
 * against hash flooding. sip() takes the round counts, and the tests check
 * it with 2 and 4 against libsodium's crypto_shorthash. hash64 stays ours
 * too: it is the snapshot file's checksum, whose format predates this
 * module, and guards against a torn or corrupted file only.
 */
#include "hash.h"

#include <string.h>

_Static_assert(crypto_shorthash_BYTES == 8, "crypto_shorthash gives 64 bits");
_Static_assert(HASH_STABLE_BYTES >= crypto_generichash_BYTES_MIN && HASH_STABLE_BYTES <= crypto_generichash_BYTES_MAX,
               "a BLAKE2b output length");

/* hash_init - initialise libsodium once (it picks the fastest BLAKE2b for the CPU); idempotent */
int hash_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* hash_key_random - a fresh secret key from the system's CSPRNG */
void hash_key_random(hash_key *key)
{
    randombytes_buf(key->k, sizeof key->k);
}

/* hash_key_fixed - a key derived from a number (tests) */
void hash_key_fixed(hash_key *key, uint64_t seed)
{
    uint64_t other = ~seed * 0x9E3779B97F4A7C15ULL;

    memcpy(key->k, &seed, 8);
    memcpy(key->k + 8, &other, 8);
}

/* rotl - rotate left */
static inline uint64_t rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

/* load_le - 8 bytes as a little-endian number */
static inline uint64_t load_le(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* sipround - one SipRound of the state */
#define SIPROUND                                                                                           \
    do {                                                                                                   \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                                          \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                                             \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                                             \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                                          \
    } while (0)

/* sip - SipHash-c-d of len bytes under a 16-byte key (the reference algorithm, 64-bit output) */
static inline uint64_t sip(const unsigned char k[16], const unsigned char *in, size_t len, int c, int d)
{
    uint64_t k0 = load_le(k), k1 = load_le(k + 8), m;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    const unsigned char *end = in + (len & ~(size_t)7);
    unsigned char last[8] = {0};

    for (; in != end; in += 8) {
        m = load_le(in);
        v3 ^= m;
        for (int i = 0; i < c; i++)
            SIPROUND;
        v0 ^= m;
    }
    memcpy(last, in, len & 7);
    last[7] = (unsigned char)len;
    m = load_le(last);
    v3 ^= m;
    for (int i = 0; i < c; i++)
        SIPROUND;
    v0 ^= m;
    v2 ^= 0xff;
    for (int i = 0; i < d; i++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* hash_keyed - SipHash-1-3 of len bytes under key (why not libsodium's 2-4: above) */
uint64_t hash_keyed(const hash_key *key, const void *data, size_t len)
{
    return sip(key->k, data, len, 1, 3);
}

/* hash_sip24 - SipHash-2-4 by the same code (tests: it must equal libsodium's crypto_shorthash) */
uint64_t hash_sip24(const hash_key *key, const void *data, size_t len)
{
    return sip(key->k, data, len, 2, 4);
}

/* hash_stable_init - start a stable hash: BLAKE2b-128, no key (hash.h says why) */
void hash_stable_init(hash_stable_state *s)
{
    crypto_generichash_init(&s->st, NULL, 0, HASH_STABLE_BYTES);
}

/* hash_stable_update - add len bytes */
void hash_stable_update(hash_stable_state *s, const void *data, size_t len)
{
    crypto_generichash_update(&s->st, data, len);
}

/* hash_stable_final - the digest */
void hash_stable_final(hash_stable_state *s, unsigned char out[HASH_STABLE_BYTES])
{
    crypto_generichash_final(&s->st, out, HASH_STABLE_BYTES);
}

/* hash_stable - one-shot stable hash */
void hash_stable(const void *data, size_t len, unsigned char out[HASH_STABLE_BYTES])
{
    crypto_generichash(out, HASH_STABLE_BYTES, data, len, NULL, 0);
}

#define P1 0x9E3779B97F4A7C15ULL /* golden ratio */
#define P2 0xC2B2AE3D27D4EB4FULL /* xxhash prime 2 */

/* finalize - splitmix64 finaliser: every input bit reaches every output bit */
static inline uint64_t finalize(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* hash64 - the snapshot's checksum of len bytes, chained through seed */
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
