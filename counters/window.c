/*
 * window - sliding-window counters in k sub-buckets
 *
 * See window.h for the guarantees. Bucket b covers [b*per/k, (b+1)*per/k)
 * in exact rational time; window_bucket() and bucket_start() do that with
 * integer arithmetic, so no per/k rounding creeps in. The ring slot of
 * bucket b is b % (k+1).
 */
#include "window.h"

#include <assert.h>
#include <string.h>

#define HDR_SIZE 12 /* head (8) + shape (4) */

/* narrow - counts fit in 16 bits? a bucket never exceeds count, as denied events are not added */
static int narrow(const window_spec *spec)
{
    return spec->count <= UINT16_MAX;
}

/* shape_of - fingerprint of the spec so that an edited rule starts afresh */
static uint32_t shape_of(const window_spec *spec)
{
    uint64_t h = spec->per_ms * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)spec->k << 1 | (uint64_t)narrow(spec));
    h ^= h >> 29;
    return (uint32_t)h;
}

/* window_bucket - index of the bucket holding time t */
uint64_t window_bucket(const window_spec *spec, uint64_t t)
{
    assert(spec->per_ms > 0 && spec->k > 0); /* the rule loader guarantees both */
    return t / spec->per_ms * spec->k + (t % spec->per_ms) * spec->k / spec->per_ms;
}

/* bucket_start - first millisecond of bucket b (ceil of b*per/k) */
static uint64_t bucket_start(const window_spec *spec, uint64_t b)
{
    uint64_t q = b / spec->k, r = b % spec->k;
    return q * spec->per_ms + (r * spec->per_ms + spec->k - 1) / spec->k;
}

/* slot_get - count of ring slot i */
static uint32_t slot_get(const window_spec *spec, const unsigned char *state, unsigned i)
{
    if (narrow(spec)) {
        uint16_t v;
        memcpy(&v, state + HDR_SIZE + i * 2, 2);
        return v;
    }
    uint32_t v;
    memcpy(&v, state + HDR_SIZE + i * 4, 4);
    return v;
}

/* slot_set - store the count of ring slot i */
static void slot_set(const window_spec *spec, unsigned char *state, unsigned i, uint32_t v)
{
    if (narrow(spec)) {
        uint16_t n = (uint16_t)(v > UINT16_MAX ? UINT16_MAX : v);
        memcpy(state + HDR_SIZE + i * 2, &n, 2);
    } else {
        memcpy(state + HDR_SIZE + i * 4, &v, 4);
    }
}

/* window_state_size - bytes of a state for this spec */
size_t window_state_size(const window_spec *spec)
{
    return HDR_SIZE + (size_t)(spec->k + 1) * (narrow(spec) ? 2 : 4);
}

/* valid - is this state of this spec's shape? */
static int valid(const window_spec *spec, const unsigned char *state, size_t len)
{
    uint32_t shape;

    if (!state || len != window_state_size(spec))
        return 0;
    memcpy(&shape, state + 8, 4);
    return shape == shape_of(spec);
}

/* window_check - could one more event be admitted at now? */
int window_check(const window_spec *spec, const void *state_v, size_t len, uint64_t now_ms, window_peek *out)
{
    const unsigned char *state = state_v;
    uint64_t b = window_bucket(spec, now_ms), head = 0, top = b, from = 1, to = 0;
    uint64_t sum = 0;
    unsigned k = spec->k, i;

    if (valid(spec, state, len)) {
        memcpy(&head, state, 8);
        /* The ring holds buckets head-k..head. The window to add up ends at the newer of now's bucket and
         * the head: a head ahead of now (a clock that was ahead wrote the state, or ours went back) holds
         * events that have already happened, however far ahead their stamps are, so every one of them
         * counts; skipping them would open a full window. The window is buckets top-k..top; those in the
         * ring (not past the head, not passed by) are from..to, their slots walked in order from one
         * division rather than one per bucket. */
        if (head > b)
            top = head;
        from = top >= k ? top - k : 0;
        to = top < head ? top : head;
        if (head >= k && head - k > from)
            from = head - k;
        unsigned slot = (unsigned)(from % (k + 1));
        if (narrow(spec)) {
            for (uint64_t x = from; x <= to; x++) {
                uint16_t v;
                memcpy(&v, state + HDR_SIZE + slot * 2, 2);
                sum += v;
                if (++slot > k)
                    slot = 0;
            }
        } else {
            for (uint64_t x = from; x <= to; x++) {
                uint32_t v;
                memcpy(&v, state + HDR_SIZE + slot * 4, 4);
                sum += v;
                if (++slot > k)
                    slot = 0;
            }
        }
    }
    out->total = sum;
    out->retry_ms = 0;
    if (sum < spec->count)
        return 1;
    /* denied (rare: divisions are fine here): find the first bucket boundary at which enough old buckets
     * have dropped out; bucket top-k+i-1 leaves the window when bucket top+i starts */
    for (i = 1; i <= k + 1; i++) {
        if (top + i >= (uint64_t)k + 1) {
            uint64_t x = top + i - 1 - k;
            if (x >= from && x <= to)
                sum -= slot_get(spec, state, (unsigned)(x % (k + 1)));
        }
        if (sum < spec->count)
            break;
    }
    out->retry_ms = bucket_start(spec, top + i) - now_ms;
    /* a state ahead of now frees up only when now passes its head, which we cannot know to be right:
     * ask again after one window rather than tell the client to wait the clocks' whole difference */
    if (top > b && out->retry_ms > spec->per_ms)
        out->retry_ms = spec->per_ms;
    return 0;
}

/* window_add - count one event at now */
void window_add(const window_spec *spec, void *state_v, size_t len, uint64_t now_ms)
{
    unsigned char *state = state_v;
    uint64_t b = window_bucket(spec, now_ms), head;
    unsigned k = spec->k;
    uint32_t shape = shape_of(spec);

    if (!valid(spec, state, len)) {
        memset(state, 0, len);
        memcpy(state, &b, 8);
        memcpy(state + 8, &shape, 4);
    }
    memcpy(&head, state, 8);
    if (b > head) {
        /* zero the slots of the buckets that pass by; a long gap clears the whole ring */
        uint64_t from = b - head > k + 1 ? b - k : head + 1;
        unsigned slot = (unsigned)(from % (k + 1));
        for (uint64_t x = from; x <= b; x++) {
            slot_set(spec, state, slot, 0);
            if (++slot > k)
                slot = 0;
        }
        memcpy(state, &b, 8);
        head = b;
    }
    unsigned slot = (unsigned)((b < head ? head : b) % (k + 1));
    uint32_t v = slot_get(spec, state, slot);
    if (v < UINT32_MAX)
        slot_set(spec, state, slot, v + 1);
}

/* window_expiry - when a state last touched at now holds nothing any more */
uint64_t window_expiry(const window_spec *spec, uint64_t now_ms)
{
    return bucket_start(spec, window_bucket(spec, now_ms) + spec->k + 1);
}

/* windows_state_size - bytes of the state of n windows */
size_t windows_state_size(const window_spec *w, unsigned n)
{
    size_t sz = 0;
    for (unsigned i = 0; i < n; i++)
        sz += window_state_size(&w[i]);
    return sz;
}

/* windows_decide - the refusing window with the latest retry decides; 1 when none refuses */
int windows_decide(const window_spec *w, unsigned n, const window_peek *peeks, unsigned *which)
{
    int all = 1;

    *which = 0;
    for (unsigned i = 0; i < n; i++) {
        if (peeks[i].total < w[i].count)
            continue;
        if (all || peeks[i].retry_ms > peeks[*which].retry_ms)
            *which = i;
        all = 0;
    }
    return all;
}

/* windows_check - every window checked */
int windows_check(const window_spec *w, unsigned n, const void *state_v, size_t len, uint64_t now_ms,
                  window_peek *out, unsigned *which)
{
    const unsigned char *state = state_v;
    int whole = state && len == windows_state_size(w, n);

    for (unsigned i = 0; i < n; i++) {
        size_t sz = window_state_size(&w[i]);
        window_check(&w[i], whole ? state : NULL, whole ? sz : 0, now_ms, &out[i]);
        if (whole)
            state += sz;
    }
    return windows_decide(w, n, out, which);
}

/* windows_add - count one event in every window; a state of another size starts afresh */
void windows_add(const window_spec *w, unsigned n, void *state_v, size_t len, uint64_t now_ms)
{
    unsigned char *state = state_v;

    assert(len == windows_state_size(w, n)); /* the store sized it */
    (void)len;
    for (unsigned i = 0; i < n; i++) {
        size_t sz = window_state_size(&w[i]);
        window_add(&w[i], state, sz, now_ms);
        state += sz;
    }
}

/* windows_expiry - the latest of the windows' expiries */
uint64_t windows_expiry(const window_spec *w, unsigned n, uint64_t now_ms)
{
    uint64_t e = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = window_expiry(&w[i], now_ms);
        if (x > e)
            e = x;
    }
    return e;
}
