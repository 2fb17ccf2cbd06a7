/*
 * hash - the store's hashes: one keyed hash for tables, one stable hash for keys
 *
 * hash_keyed (SipHash-1-3: hash.c says why not libsodium's 2-4) picks the chain of
 * a key in the embedded store's table. The keys hold what clients send
 * (senders, recipients, HELO names), so the table's hash must be a keyed
 * PRF: with a secret 128-bit key drawn at start (hash_key_random), nobody
 * outside the process can make keys that share a chain, as Redis does with
 * SipHash. Every table of the process that indexes client data uses it,
 * each with its own key ("one keyed hash", STYLE.md).
 *
 * hash_stable (BLAKE2b-128, crypto_generichash, unkeyed) stands for a key
 * part longer than KEY_PART_MAX inside the key itself. It cannot be keyed
 * with a per-process secret: keys outlive the process (the snapshot) and
 * are shared by a fleet (Redis), so every daemon must compute the same
 * bytes for the same value. It does not need a secret either: the table
 * hashes those bytes again with hash_keyed, and two long values merge into
 * one counter only on a BLAKE2b-128 collision (2^64 work, no shortcut).
 * The streaming form lets a caller fold the text while hashing it.
 *
 * hash64 is a plain checksum of the snapshot file (corruption, not
 * attack): never for anything that indexes or names client data.
 *
 * SECURITY: everything hashed here may come from a hostile client; the
 * cost is linear in its length and bounded by the request's size.
 */
#ifndef FG_HASH_H
#define FG_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define HASH_KEY_BYTES crypto_shorthash_KEYBYTES /* 16: a SipHash key */
#define HASH_STABLE_BYTES 16                     /* BLAKE2b output that stands for a long key part */

typedef struct hash_key {
    unsigned char k[HASH_KEY_BYTES]; /* the secret of one table */
} hash_key;

typedef struct hash_stable_state {
    crypto_generichash_state st; /* BLAKE2b in progress */
} hash_stable_state;

/* hash_init - initialise libsodium once; 0 ok, -1 when it cannot (no entropy source): fatal at start */
int hash_init(void);

/* hash_key_random - a fresh secret key from the system's CSPRNG */
void hash_key_random(hash_key *key);

/* hash_key_fixed - a key derived from a number: reproducible tables for tests, never for the daemon */
void hash_key_fixed(hash_key *key, uint64_t seed);

/* hash_keyed - SipHash-1-3 of len bytes under key */
uint64_t hash_keyed(const hash_key *key, const void *data, size_t len);
/* hash_sip24 - SipHash-2-4 by hash_keyed's code (tests check it against libsodium's) */
uint64_t hash_sip24(const hash_key *key, const void *data, size_t len);

/* hash_stable_init - start a stable (unkeyed BLAKE2b-128) hash */
void hash_stable_init(hash_stable_state *s);
/* hash_stable_update - add len bytes */
void hash_stable_update(hash_stable_state *s, const void *data, size_t len);
/* hash_stable_final - the HASH_STABLE_BYTES digest */
void hash_stable_final(hash_stable_state *s, unsigned char out[HASH_STABLE_BYTES]);
/* hash_stable - one-shot stable hash */
void hash_stable(const void *data, size_t len, unsigned char out[HASH_STABLE_BYTES]);

/* hash64 - the snapshot's checksum (not keyed, not for client-chosen indexing) */
uint64_t hash64(const void *data, size_t len, uint64_t seed);

#endif
