/*
 * hash - 64-bit hashing of byte strings
 *
 * Written here because none of the libraries we build on exports a general
 * byte hash. Multiply-rotate rounds over 8-byte words and the splitmix64
 * finaliser: fast for the 10-100 byte keys of the store, and seeded at
 * start from getrandom(2) by the store so that clients cannot aim at one
 * hash chain. Not a cryptographic hash.
 */
#ifndef FG_HASH_H
#define FG_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash64(const void *data, size_t len, uint64_t seed);

#endif
