/*
 * mem - the embedded store: an in-process hash table with expiry
 *
 * The default store. Every key has an expiry time; expired keys read as
 * missing at once and are purged on a timer a bounded number of slots at
 * a time, so that no purge stalls the event loop. The table (open
 * addressing: each slot holds a key's hash and its entry, so a lookup costs
 * one cache miss for the slots and one for the entry) grows by incremental
 * rehashing (an entry per operation, as Redis's dict moves a bucket) for
 * the same reason. Past max_keys, inserting evicts the key
 * nearest to its expiry among a sample of MEM_EVICT_SAMPLES (exact while
 * the table holds no more than that, approximate above, as in Redis's
 * volatile-ttl policy); evictions are counted.
 *
 * Time is always passed in (milliseconds); the module never reads a clock.
 * Snapshots to disk: snapshot.h.
 *
 * SECURITY: keys hold what clients send. A key's slot is picked by
 * SipHash-1-3 under a secret key drawn at start (hash.h), so no client can
 * make keys that pile up on one run of slots (hash flooding): probes stay
 * as short as the load allows (at most 7/8) whatever is sent. Memory is
 * bounded by max_keys.
 */
#ifndef FG_MEM_H
#define FG_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define MEM_EVICT_SAMPLES 16   /* entries looked at to pick an eviction */
#define MEM_PURGE_BUDGET 2048  /* slots visited per purge tick */

typedef struct mem_store mem_store;
typedef struct mem_entry mem_entry;

typedef struct mem_config {
    uint64_t max_keys; /* 0 = unbounded */
    uint64_t seed;     /* 0 = a random secret hash key (the daemon); else a key derived from it (tests only) */
} mem_config;

mem_store *mem_new(const mem_config *cfg);
void mem_free(mem_store *m);

/* mem_get - value of a live key, NULL if missing or expired */
void *mem_get(mem_store *m, const void *key, size_t klen, size_t *vlen, uint64_t now_ms);
/* mem_put - the value of key with vlen bytes, created zeroed (or resized and zeroed) as needed */
void *mem_put(mem_store *m, const void *key, size_t klen, size_t vlen, uint64_t expires_ms, uint64_t now_ms);
/* mem_find - the live entry of a key, NULL if missing or expired; valid until the next insert or delete */
mem_entry *mem_find(mem_store *m, const void *key, size_t klen, uint64_t now_ms);
/* mem_entry_value - an entry's value and its size */
void *mem_entry_value(mem_entry *e, size_t *vlen);
/* mem_entry_expires - an entry's expiry (ms; UINT64_MAX = never) */
uint64_t mem_entry_expires(const mem_entry *e);
/* mem_entry_expire - set an entry's expiry */
void mem_entry_expire(mem_entry *e, uint64_t expires_ms);
/* mem_del - remove a key; returns 1 if it was there */
int mem_del(mem_store *m, const void *key, size_t klen);
/* mem_purge - remove expired keys, visiting at most budget slots; returns keys removed */
size_t mem_purge(mem_store *m, uint64_t now_ms, size_t budget);
/* mem_foreach - call fn for every live key (expired ones are skipped); stops when fn returns non-zero */
typedef int (*mem_visit_fn)(const unsigned char *key, size_t klen, const void *value, size_t vlen, uint64_t expires_ms,
                            void *arg);
int mem_foreach(mem_store *m, uint64_t now_ms, mem_visit_fn fn, void *arg);
/* mem_hold_rehash - on: hold the incremental rehash and the table's growth (a snapshot child shares the
 * table's pages copy-on-write, and moving entries would copy them all); off: resume. Holds nest. Lookups,
 * inserts and deletes stay correct while held; past 7/8 of its slots the table grows and rehashes anyway. */
void mem_hold_rehash(mem_store *m, int on);
/* mem_rehash_pos - the next slot a rehash in progress moves, -1 when none is (tests) */
int64_t mem_rehash_pos(const mem_store *m);
/* mem_max_chain - the longest probe of the table(s), in slots (tests: hash flooding) */
size_t mem_max_chain(const mem_store *m);
/* mem_count - keys held (some may have expired but not been purged yet) */
uint64_t mem_count(const mem_store *m);
void mem_stats(const mem_store *m, store_stats *out);

/* mem_store_new - the embedded store behind the store interface */
store *mem_store_new(const mem_config *cfg);
/* mem_store_table - the table behind a store made by mem_store_new (tests, control socket) */
mem_store *mem_store_table(store *s);

#endif
