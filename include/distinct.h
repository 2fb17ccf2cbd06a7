/*
 * distinct - distinct values per key in a sliding window (exact, then HyperLogLog)
 *
 * What: counts how many different values (usernames per address, addresses
 * per login, pwhash per login) were seen in the last `per`, cut into k
 * sub-buckets like window.h: a value is forgotten at most per/k after its
 * last sighting leaves the window. A value already counted in the window
 * passes without counting again.
 *
 * How: exact while the window holds at most DISTINCT_EXACT_MAX values: a
 * small array of (64-bit fingerprint, newest bucket seen). Past that the
 * state turns into HyperLogLog: one set of 2^DISTINCT_HLL_P 8-bit registers
 * per bucket (k+1 buckets in a ring); the window's estimate is the HLL of
 * the register-wise max over its buckets (the union). Precision 10: 1,024
 * registers, standard error 1.04/sqrt(1024) = 3.25%; memory (k+1) KiB per
 * key (11 KiB with k = 10) whatever the values sent. Exact answers below
 * DISTINCT_EXACT_MAX; above, an estimate within 3.25% one standard error.
 *
 * Fingerprints: the caller hashes the value. In memory only it must use the
 * program's keyed hash (an attacker cannot aim values at one register); for
 * a state other daemons read (Redis) it must be stable across daemons, e.g.
 * BLAKE2b (crypto_generichash) keyed with a fleet-wide key from the config.
 *
 * SECURITY: values are attacker-chosen; memory per key is bounded by the
 * HLL size (never grows with the number of values), and exact mode is at
 * most DISTINCT_EXACT_MAX entries.
 *
 * BUGS: not yet wired into rules (limit.distinct) nor into the Redis script.
 * Once in HLL mode a key stays there until the whole window is empty.
 */
#ifndef FG_DISTINCT_H
#define FG_DISTINCT_H

#include <stddef.h>
#include <stdint.h>

#define DISTINCT_EXACT_MAX 64
#define DISTINCT_HLL_P 10
#define DISTINCT_HLL_M (1u << DISTINCT_HLL_P)

typedef struct distinct_state distinct_state;

/* distinct_new - empty state for a window of per_ms in k buckets (NULL on ENOMEM) */
distinct_state *distinct_new(uint64_t per_ms, uint16_t k);
/* distinct_free - release a state */
void distinct_free(distinct_state *st);
/* distinct_count - distinct values in the window at now_ms (exact or estimate) */
uint64_t distinct_count(distinct_state *st, uint64_t now_ms);
/* distinct_seen - whether fp is already counted in the window (HLL: may say yes wrongly) */
int distinct_seen(distinct_state *st, uint64_t fp, uint64_t now_ms);
/* distinct_check - 1 when fp is admitted under limit (seen, or count < limit), 0 when not */
int distinct_check(distinct_state *st, uint64_t fp, uint32_t limit, uint64_t now_ms);
/* distinct_add - record fp at now_ms; 0, or -1 on ENOMEM */
int distinct_add(distinct_state *st, uint64_t fp, uint64_t now_ms);
/* distinct_exact - 1 while the state is exact */
int distinct_exact(const distinct_state *st);
/* distinct_bytes - memory held by the state */
size_t distinct_bytes(const distinct_state *st);

#endif
