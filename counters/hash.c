/*
 * hash - the store's hashes (see hash.h for which one serves what, and why)
 *
 * libsodium gives SipHash-2-4 and BLAKE2b; nothing here is our own
 * cryptography. hash64 stays ours: it is the snapshot file's checksum,
 * whose format predates this module, and guards against a torn or
 * corrupted file only.
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

/* hash_keyed - SipHash-2-4 of len bytes under key */
uint64_t hash_keyed(const hash_key *key, const void *data, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, data, len, key->k);
    memcpy(&h, out, sizeof h);
    return h;
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
