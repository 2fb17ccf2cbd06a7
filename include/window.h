/*
 * window - sliding-window counters in k sub-buckets
 *
 * A window of length `per` is cut into k sub-buckets of per/k each; the
 * state keeps the k+1 newest buckets in a ring. To admit an event at time
 * t we add up all k+1 buckets that can hold an event of (t-per, t]; the
 * oldest of them may also hold events older than that, so the sum is an
 * upper bound of the exact count. Hence:
 *   - never more than `count` events are admitted in any interval of
 *     length `per` (the check is conservative);
 *   - an event is forgotten at most per/k after it leaves the window (it
 *     leaves the sum when its bucket falls out of the k+1).
 * A fixed window (Stalwart) admits up to 2*count across a boundary, and a
 * two-bucket weighted estimate can too; this does neither.
 *
 * The state is a flat byte string so that any store can keep it: an 8-byte
 * head bucket index, a 4-byte shape (per, k, count width) and k+1 counts,
 * 16-bit when count fits, else 32-bit. A state of another shape (the rule
 * was edited) reads as empty. Check and add are separate so that a denied
 * request is never counted and a batch of windows commits all or nothing.
 *
 * Clocks. now_ms is the daemon clock (monotonic, see server.h), but a
 * state can come from a clock that was ahead of it (another daemon, a
 * Redis server). A state whose newest bucket is ahead of now, by any
 * amount, reads as everything it holds: all its events have happened, so
 * a full window stays full, and new events are added to its newest bucket
 * until now catches up with it. So a clock that goes back never opens a
 * window; the price is that the window cannot slide on until now reaches
 * the state's newest bucket (the key's expiry, set from now by the store,
 * bounds that in the embedded store). A clock that jumps forward forgets
 * as the window says, at most per/k after per. Denied while the state is
 * ahead, retry_ms is what the state would need if the clocks agreed,
 * capped at per_ms (the real wait cannot be known). Otherwise retry_ms is
 * exact: at now + retry_ms one more event is admitted, and it never
 * exceeds per + per/k (rounded up).
 */
#ifndef FG_WINDOW_H
#define FG_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define WINDOW_K_DEFAULT 10  /* sub-buckets per window */
#define WINDOW_K_MAX 60      /* more buckets buy little precision */
#define WINDOW_RATES_MAX 4   /* windows on one counter key (limit.rates) */

typedef struct window_spec {
    uint64_t per_ms; /* window length */
    uint32_t count;  /* events admitted per window, >= 1 */
    uint16_t k;      /* sub-buckets, 1..WINDOW_K_MAX */
} window_spec;

typedef struct window_peek {
    uint64_t total;    /* events counted now (upper bound of the exact count) */
    uint64_t retry_ms; /* when one more event would be admitted; 0 = now; see Clocks above */
} window_peek;

/* window_state_size - bytes of a state for this spec */
size_t window_state_size(const window_spec *spec);

/* window_check - could one more event be admitted at now? state may be NULL (empty) */
int window_check(const window_spec *spec, const void *state, size_t len, uint64_t now_ms, window_peek *out);

/* window_add - count one event at now; initialises a state of another shape */
void window_add(const window_spec *spec, void *state, size_t len, uint64_t now_ms);

/* window_bucket - the index of the bucket that holds time t (t / per * k + t % per * k / per) */
uint64_t window_bucket(const window_spec *spec, uint64_t t);

/* window_expiry - when a state last touched at now holds nothing any more */
uint64_t window_expiry(const window_spec *spec, uint64_t now_ms);

/*
 * Several windows on one key (limit.rates = ["10/1m", "100/1h"]): the state
 * is the n windows' states one after the other, so a key costs the sum of
 * its windows' buckets. A state of another total size (rates edited) reads
 * as empty in every window; each part keeps its own shape check. An event
 * is admitted only when every window admits it, and is then added to all.
 */

/* windows_state_size - bytes of the state of n windows */
size_t windows_state_size(const window_spec *w, unsigned n);
/* windows_check - every window checked: 1 when all admit; out[i] per window; *which = the refusing window
 * with the latest retry (the one that decides), or 0 when all admit */
int windows_check(const window_spec *w, unsigned n, const void *state, size_t len, uint64_t now_ms,
                  window_peek *out, unsigned *which);
/* windows_add - count one event at now in every window */
void windows_add(const window_spec *w, unsigned n, void *state, size_t len, uint64_t now_ms);
/* windows_expiry - when the state of n windows last touched at now holds nothing any more */
uint64_t windows_expiry(const window_spec *w, unsigned n, uint64_t now_ms);
/* windows_decide - which window decides given each one's peek: the refusing one with the latest retry,
 * else 0; returns 1 when all admit (the rule shared by every store) */
int windows_decide(const window_spec *w, unsigned n, const window_peek *peeks, unsigned *which);

#endif
