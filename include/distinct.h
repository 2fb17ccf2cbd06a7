/*
 * distinct - distinct values per key in a sliding window (exact, then HyperLogLog)
 *
 * What: counts how many different values (usernames per address, addresses
 * per login, pwhash per login) were seen in the last `per`, cut into k
 * sub-buckets like window.h: a value is forgotten at most per/k after its
 * last sighting leaves the window. A value already counted in the window
 * passes without counting again (and its sighting moves to now).
 *
 * How: exact while the window holds at most DISTINCT_EXACT_MAX values: a
 * small array of (64-bit fingerprint, newest bucket seen). Past that the
 * state turns into HyperLogLog: one set of 2^DISTINCT_HLL_P 8-bit registers
 * per bucket (k+1 buckets in a ring); the window's estimate is the HLL of
 * the register-wise max over its buckets (the union). Precision 10: 1,024
 * registers, standard error 1.04/sqrt(1024) = 3.25%; memory (k+1) KiB per
 * key (11 KiB with k = 10) whatever the values sent. Exact answers below
 * DISTINCT_EXACT_MAX; above, an estimate within 3.25% one standard error.
 * A limit of at most DISTINCT_EXACT_MAX never leaves the exact form: a value
 * refused is never added, so the window never holds more than the limit.
 *
 * The state is a flat byte string, so that any store keeps it (mem.c as an
 * entry's value, the Redis script as a string of the same layout,
 * redis_script.h), host byte order (little-endian on every platform we run):
 *     head bucket u64, per_ms u64, k u16, n u16 (DISTINCT_HLL_MODE: HLL),
 *     cached estimate + 1 u32 (0: none; HLL only, the embedded store's),
 *     logical expiry u64 (ms; the Redis script's, as its windows have),
 *     cached retry: bucket u64 and the limit it was found for u32, pad u32
 *   then exact: n entries of fingerprint u64 + bucket last seen u64, in
 *   the order first seen; HLL: (k+1) * 1024 registers, bucket b in ring
 *   slot b % (k+1). A state of another shape (per or k edited) reads as
 *   empty. The HLL estimate over a window is cached in the state while
 *   nothing changes it (the ring did not move, no register grew), with
 *   the retry of a refusal, so a refused request at the limit does not add
 *   up 11 KiB of registers (the Redis script keeps no cache: it writes 0).
 *
 * Fingerprints: the caller hashes the value (engine.c: BLAKE2b, stable
 * across daemons, so a fleet on Redis counts the same values).
 *
 * SECURITY: values are attacker-chosen; memory per key is bounded by the
 * HLL size (never grows with the number of values), and exact mode is at
 * most DISTINCT_EXACT_MAX entries. With an unkeyed fingerprint an attacker
 * could pick values whose register is already high, so that in HLL form
 * they read as seen and pass without counting: the engine keys BLAKE2b
 * (engine.h), and a limit up to DISTINCT_EXACT_MAX is exact, where only a
 * 64-bit collision passes.
 *
 * BUGS: in HLL form (limits above DISTINCT_EXACT_MAX) "seen" is a register
 * test: a new value whose register is already as high passes without
 * counting (it would not raise the estimate either), so past the exact size
 * the limit is an estimate in both directions. Once in HLL form a key stays
 * there until the window has no bucket left.
 */
#ifndef FG_DISTINCT_H
#define FG_DISTINCT_H

#include <stddef.h>
#include <stdint.h>

#include "window.h"

#define DISTINCT_EXACT_MAX 64
#define DISTINCT_HLL_P 10
#define DISTINCT_HLL_M (1u << DISTINCT_HLL_P)
#define DISTINCT_HDR 48            /* header bytes of a state */
#define DISTINCT_ENTRY 16          /* bytes of an exact entry */
#define DISTINCT_HLL_MODE 0xFFFFu  /* n of a state in HLL form */
#define DISTINCT_STATE_MAX (DISTINCT_HDR + (WINDOW_K_MAX + 1) * DISTINCT_HLL_M) /* largest state */

/* ---- flat states, for the stores ---- */

/* distinct_check - could fp be admitted under w->count at now? *seen: already counted in the window;
 * out: the distinct count now (total) and, refused, when a new value would be admitted (retry_ms).
 * state may be NULL (empty); it is written only to cache the HLL estimate. Returns 1 admitted, 0 not. */
int distinct_check(const window_spec *w, void *state, size_t len, uint64_t fp, uint64_t now_ms, window_peek *out,
                   int *seen);
/* distinct_add_size - bytes of the state once fp is added at now (state may be NULL) */
size_t distinct_add_size(const window_spec *w, const void *state, size_t len, uint64_t fp, uint64_t now_ms);
/* distinct_add - add fp at now: reads the old state (old, oldlen; NULL: empty) and writes the new one into
 * out (outlen bytes, from distinct_add_size). out may be old itself when outlen == oldlen; otherwise out
 * must not overlap old, except that an old state of at most DISTINCT_HDR + DISTINCT_EXACT_MAX entries is
 * read whole before out is written. */
void distinct_add(const window_spec *w, const void *old, size_t oldlen, uint64_t fp, uint64_t now_ms, void *out,
                  size_t outlen);
/* distinct_expiry - when a state touched at now holds nothing any more (as window_expiry) */
uint64_t distinct_expiry(const window_spec *w, uint64_t now_ms);
/* distinct_state_expiry - the logical expiry a state carries (0: none) */
uint64_t distinct_state_expiry(const void *state, size_t len);
/* distinct_is_exact - 1 when a state is in exact form (or empty) */
int distinct_is_exact(const void *state, size_t len);

/* ---- a state of its own, for tests and tools ---- */

typedef struct distinct_state distinct_state;

/* distinct_new - empty state for a window of per_ms in k buckets (NULL on ENOMEM) */
distinct_state *distinct_new(uint64_t per_ms, uint16_t k);
/* distinct_free - release a state */
void distinct_free(distinct_state *st);
/* distinct_count - distinct values in the window at now_ms (exact or estimate) */
uint64_t distinct_count(distinct_state *st, uint64_t now_ms);
/* distinct_seen - whether fp is already counted in the window (HLL: may say yes wrongly) */
int distinct_seen(distinct_state *st, uint64_t fp, uint64_t now_ms);
/* distinct_admits - 1 when fp is admitted under limit (seen, or count < limit), 0 when not */
int distinct_admits(distinct_state *st, uint64_t fp, uint32_t limit, uint64_t now_ms);
/* distinct_put - record fp at now_ms; 0, or -1 on ENOMEM */
int distinct_put(distinct_state *st, uint64_t fp, uint64_t now_ms);
/* distinct_exact - 1 while the state is exact */
int distinct_exact(const distinct_state *st);
/* distinct_bytes - memory held by the state */
size_t distinct_bytes(const distinct_state *st);

#endif
