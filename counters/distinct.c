/*
 * distinct - distinct values per key in a sliding window; see distinct.h
 *
 * Invariants: a state is valid when its size matches its form (exact: the
 * header and n <= DISTINCT_EXACT_MAX entries; HLL: the header and (k+1)
 * rings of registers) and its per and k are the spec's; anything else reads
 * as empty. The ring holds buckets head-k..head; at a time whose bucket b is
 * past head, the live buckets are b-k..head (the ones between head and b
 * were never written). An HLL state always has a register set in its head
 * bucket (the value that moved the head there), so it holds something
 * exactly while head >= b-k: no scan is needed to tell it is empty.
 */
#include "distinct.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(DISTINCT_STATE_MAX <= 65535, "a state fits an embedded store value (16-bit length)");

typedef struct dview {
    int valid;      /* the state has the spec's shape */
    int hll;        /* HLL form */
    uint64_t head;  /* newest bucket */
    unsigned n;     /* exact entries */
    unsigned char *base; /* the state */
} dview;

/* bucket_of - bucket holding time t (as window.c) */
static uint64_t bucket_of(const window_spec *w, uint64_t t)
{
    return t / w->per_ms * w->k + (t % w->per_ms) * w->k / w->per_ms;
}

/* bucket_start - first millisecond of bucket b (as window.c) */
static uint64_t bucket_start(const window_spec *w, uint64_t b)
{
    uint64_t q = b / w->k, r = b % w->k;
    return q * w->per_ms + (r * w->per_ms + w->k - 1) / w->k;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* hll_size - bytes of an HLL state */
static size_t hll_size(const window_spec *w)
{
    return DISTINCT_HDR + ((size_t)w->k + 1) * DISTINCT_HLL_M;
}

/* view - read a state's header; an invalid one reads as empty */
static void view(const window_spec *w, const void *state, size_t len, dview *v)
{
    const unsigned char *s = state;
    uint16_t k, n;

    memset(v, 0, sizeof *v);
    if (!s || len < DISTINCT_HDR)
        return;
    memcpy(&k, s + 16, 2);
    memcpy(&n, s + 18, 2);
    if (get64(s + 8) != w->per_ms || k != w->k)
        return;
    if (n == DISTINCT_HLL_MODE ? len != hll_size(w) : n > DISTINCT_EXACT_MAX || len != DISTINCT_HDR + (size_t)n * DISTINCT_ENTRY)
        return;
    v->valid = 1;
    v->hll = n == DISTINCT_HLL_MODE;
    v->n = v->hll ? 0 : n;
    v->head = get64(s);
    v->base = (unsigned char *)s;
}

/* top_of - the newest bucket of the window at now: now's, or the head when it is ahead */
static uint64_t top_of(const window_spec *w, const dview *v, uint64_t now_ms)
{
    uint64_t b = bucket_of(w, now_ms);
    return v->valid && v->head > b ? v->head : b;
}

/* oldest_of - the oldest bucket of the window ending at top */
static uint64_t oldest_of(const window_spec *w, uint64_t top)
{
    return top >= w->k ? top - w->k : 0;
}

/* reg_of - register index and rank of a fingerprint (the top P bits; leading zeros of the rest + 1, at most
 * 64 - P + 1 thanks to a sentinel bit) */
static void reg_of(uint64_t fp, unsigned *j, uint8_t *rho)
{
    *j = (unsigned)(fp >> (64 - DISTINCT_HLL_P));
    uint64_t rest = fp << DISTINCT_HLL_P | (1ULL << (DISTINCT_HLL_P - 1));
    *rho = (uint8_t)(__builtin_clzll(rest) + 1);
}

/* regs_of - the registers of ring slot s */
static unsigned char *regs_of(const dview *v, uint64_t bucket, unsigned k)
{
    return v->base + DISTINCT_HDR + (size_t)(bucket % ((uint64_t)k + 1)) * DISTINCT_HLL_M;
}

/* hll_value - the HyperLogLog estimate of merged registers, with the small-range (linear counting)
 * correction; the Redis script computes it with the same operations in the same order */
static uint64_t hll_value(const uint8_t *m8)
{
    static double inv2[256]; /* 2^-r, exact: a table instead of ldexp in the loop (callgrind: most of a request) */
    double sum = 0;
    unsigned zeros = 0;
    if (inv2[0] == 0)
        for (int r = 0; r < 256; r++)
            inv2[r] = ldexp(1.0, -r);
    for (unsigned j = 0; j < DISTINCT_HLL_M; j++) {
        sum += inv2[m8[j]];
        zeros += m8[j] == 0;
    }
    double m = DISTINCT_HLL_M, alpha = 0.7213 / (1 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros)
        e = m * log(m / zeros);
    return (uint64_t)floor(e + 0.5);
}

/* merge_bucket - m8 = max(m8, registers of bucket x) */
static void merge_bucket(const dview *v, unsigned k, uint64_t x, uint8_t *m8)
{
    const unsigned char *r = regs_of(v, x, k);
    for (unsigned j = 0; j < DISTINCT_HLL_M; j++)
        m8[j] = r[j] > m8[j] ? r[j] : m8[j]; /* branch-free: vectorised */
}

/* live_from - the oldest live bucket of an HLL or exact view at top (none live: > head) */
static uint64_t live_from(const window_spec *w, const dview *v, uint64_t top)
{
    uint64_t lo = oldest_of(w, top);
    return v->head >= w->k && v->head - w->k > lo ? v->head - w->k : lo;
}

/* distinct_check - is fp admitted; the count and, refused, the retry */
int distinct_check(const window_spec *w, void *state, size_t len, uint64_t fp, uint64_t now_ms, window_peek *out,
                   int *seen)
{
    dview v;
    uint64_t top, lo, count = 0;
    unsigned k = w->k;

    view(w, state, len, &v);
    top = top_of(w, &v, now_ms);
    lo = oldest_of(w, top);
    *seen = 0;
    out->total = 0;
    out->retry_ms = 0;
    if (!v.valid)
        return 1;
    if (!v.hll) {
        for (unsigned i = 0; i < v.n; i++) {
            const unsigned char *e = v.base + DISTINCT_HDR + (size_t)i * DISTINCT_ENTRY;
            if (get64(e + 8) < lo)
                continue;
            count++;
            *seen |= get64(e) == fp;
        }
    } else if (v.head >= lo) {
        unsigned j;
        uint8_t rho, mj = 0;
        reg_of(fp, &j, &rho);
        for (uint64_t x = live_from(w, &v, top); x <= v.head; x++)
            if (regs_of(&v, x, k)[j] > mj)
                mj = regs_of(&v, x, k)[j];
        *seen = mj >= rho;
        uint32_t cached, none = 0;
        memcpy(&cached, v.base + 20, 4);
        if (cached && top == v.head) {
            count = cached - 1;
        } else {
            uint8_t m8[DISTINCT_HLL_M] = {0};
            for (uint64_t x = live_from(w, &v, top); x <= v.head; x++)
                merge_bucket(&v, k, x, m8);
            count = hll_value(m8);
            if (top == v.head && count < UINT32_MAX) {
                cached = (uint32_t)count + 1;
                memcpy(v.base + 20, &cached, 4);
                memcpy(v.base + 40, &none, 4); /* the retry is computed again, for these registers */
            }
        }
    }
    out->total = count;
    if (*seen || count < w->count)
        return 1;
    /* refused: the first bucket boundary at which enough old buckets have left for one more value. From the
     * newest bucket down, the count of buckets (x, top] grows; the smallest x whose count is under the
     * limit is the bucket that must leave, at bucket x + k + 1. */
    uint64_t x = top;
    uint32_t cached, rlim;
    memcpy(&cached, v.base + 20, 4);
    memcpy(&rlim, v.base + 40, 4);
    if (v.hll && cached && top == v.head && rlim == w->count) {
        x = get64(v.base + 32); /* the same registers, the same limit: the same answer as last time */
    } else if (!v.hll) {
        while (x > lo) {
            uint64_t c = 0;
            for (unsigned i = 0; i < v.n; i++)
                c += get64(v.base + DISTINCT_HDR + (size_t)i * DISTINCT_ENTRY + 8) >= x;
            if (c >= w->count)
                break;
            x--;
        }
    } else {
        uint8_t m8[DISTINCT_HLL_M] = {0};
        uint64_t from = live_from(w, &v, top);
        while (x > lo) {
            if (x <= v.head && x >= from)
                merge_bucket(&v, k, x, m8);
            if (hll_value(m8) >= w->count)
                break;
            x--;
        }
        memcpy(&cached, v.base + 20, 4);
        if (cached && top == v.head) {
            put64(v.base + 32, x);
            memcpy(v.base + 40, &w->count, 4);
        }
    }
    out->retry_ms = bucket_start(w, x + k + 1) - now_ms;
    if (top > bucket_of(w, now_ms) && out->retry_ms > w->per_ms)
        out->retry_ms = w->per_ms; /* a state ahead of now: as window.c */
    return 0;
}

typedef struct plan {
    dview v;
    uint64_t top, lo;
    int found;        /* exact: fp among the live entries */
    unsigned live;    /* exact: live entries */
    int hll;          /* the new state's form */
    size_t size;      /* the new state's size */
} plan;

/* plan_add - what adding fp at now makes of a state */
static void plan_add(const window_spec *w, const void *state, size_t len, uint64_t fp, uint64_t now_ms, plan *p)
{
    memset(p, 0, sizeof *p);
    view(w, state, len, &p->v);
    p->top = top_of(w, &p->v, now_ms);
    p->lo = oldest_of(w, p->top);
    if (p->v.valid && p->v.hll && p->v.head >= p->lo) {
        p->hll = 1;
    } else if (p->v.valid && !p->v.hll) {
        for (unsigned i = 0; i < p->v.n; i++) {
            const unsigned char *e = p->v.base + DISTINCT_HDR + (size_t)i * DISTINCT_ENTRY;
            if (get64(e + 8) < p->lo)
                continue;
            p->live++;
            p->found |= get64(e) == fp;
        }
        p->hll = p->live + !p->found > DISTINCT_EXACT_MAX;
    }
    p->size = p->hll ? hll_size(w) : DISTINCT_HDR + (size_t)(p->live + !p->found) * DISTINCT_ENTRY;
}

/* distinct_add_size - bytes of the state once fp is added */
size_t distinct_add_size(const window_spec *w, const void *state, size_t len, uint64_t fp, uint64_t now_ms)
{
    plan p;
    plan_add(w, state, len, fp, now_ms, &p);
    return p.size;
}

/* set_reg - raise register j of bucket x to rho; 1 when the window's merged register grew */
static int set_reg(dview *v, unsigned k, uint64_t x, uint64_t from, uint64_t fp)
{
    unsigned j;
    uint8_t rho, mj = 0;
    reg_of(fp, &j, &rho);
    for (uint64_t y = from; y <= v->head; y++)
        if (regs_of(v, y, k)[j] > mj)
            mj = regs_of(v, y, k)[j];
    unsigned char *r = regs_of(v, x, k) + j;
    if (*r < rho)
        *r = rho;
    return mj < rho;
}

/* distinct_add - add fp at now */
void distinct_add(const window_spec *w, const void *old, size_t oldlen, uint64_t fp, uint64_t now_ms, void *out_v,
                  size_t outlen)
{
    plan p;
    unsigned char *out = out_v;
    unsigned k = w->k;
    uint16_t k16 = w->k, n16;
    uint32_t cached = 0;

    plan_add(w, old, oldlen, fp, now_ms, &p);
    if (outlen != p.size)
        abort(); /* the caller sized out with distinct_add_size: a bug */
    if (p.hll && p.v.hll) {
        /* HLL stays HLL: move the ring on to top in place, zeroing the slots that pass by */
        if (out != p.v.base)
            memmove(out, p.v.base, outlen);
        dview v = p.v;
        v.base = out;
        if (p.top > v.head) {
            uint64_t from = p.top - v.head > k + 1 ? p.top - k : v.head + 1;
            for (uint64_t x = from; x <= p.top; x++)
                memset(regs_of(&v, x, k), 0, DISTINCT_HLL_M);
            memcpy(&cached, out + 20, 4);
            cached = 0;
        } else {
            memcpy(&cached, out + 20, 4);
        }
        uint64_t from = live_from(w, &v, p.top);
        v.head = p.top;
        if (set_reg(&v, k, p.top, from, fp))
            cached = 0;
        n16 = DISTINCT_HLL_MODE;
    } else {
        /* from exact (or empty): the live entries are read whole before out is written */
        uint64_t fps[DISTINCT_EXACT_MAX + 1], seen[DISTINCT_EXACT_MAX + 1];
        unsigned n = 0;
        for (unsigned i = 0; p.v.valid && !p.v.hll && i < p.v.n; i++) {
            const unsigned char *e = p.v.base + DISTINCT_HDR + (size_t)i * DISTINCT_ENTRY;
            if (get64(e + 8) < p.lo)
                continue;
            fps[n] = get64(e);
            seen[n] = get64(e + 8);
            if (fps[n] == fp)
                seen[n] = p.top;
            n++;
        }
        if (!p.found) {
            fps[n] = fp;
            seen[n++] = p.top;
        }
        if (!p.hll) {
            for (unsigned i = 0; i < n; i++) {
                put64(out + DISTINCT_HDR + (size_t)i * DISTINCT_ENTRY, fps[i]);
                put64(out + DISTINCT_HDR + (size_t)i * DISTINCT_ENTRY + 8, seen[i]);
            }
            n16 = (uint16_t)n;
        } else {
            /* the switch: every live value goes into the registers of the bucket it was last seen in */
            dview v = {1, 1, p.top, 0, out};
            memset(out + DISTINCT_HDR, 0, outlen - DISTINCT_HDR);
            for (unsigned i = 0; i < n; i++)
                set_reg(&v, k, seen[i], p.top + 1, fps[i]);
            n16 = DISTINCT_HLL_MODE;
        }
    }
    put64(out, p.top);
    put64(out + 8, w->per_ms);
    memcpy(out + 16, &k16, 2);
    memcpy(out + 18, &n16, 2);
    memcpy(out + 20, &cached, 4);
    put64(out + 24, bucket_start(w, p.top + k + 1));
    if (!cached)
        memset(out + 32, 0, 16); /* the retry cache goes with the estimate's */
}

/* distinct_expiry - when a state touched at now holds nothing any more */
uint64_t distinct_expiry(const window_spec *w, uint64_t now_ms)
{
    return bucket_start(w, bucket_of(w, now_ms) + w->k + 1);
}

/* distinct_state_expiry - the logical expiry a state carries */
uint64_t distinct_state_expiry(const void *state, size_t len)
{
    return state && len >= DISTINCT_HDR ? get64((const unsigned char *)state + 24) : 0;
}

/* distinct_is_exact - a state in exact form or empty */
int distinct_is_exact(const void *state, size_t len)
{
    uint16_t n;
    if (!state || len < DISTINCT_HDR)
        return 1;
    memcpy(&n, (const unsigned char *)state + 18, 2);
    return n != DISTINCT_HLL_MODE;
}

/* ---- a state of its own ---- */

struct distinct_state {
    window_spec w;       /* per, k; count unused */
    unsigned char *buf;  /* the flat state, NULL while empty */
    size_t len;
};

distinct_state *distinct_new(uint64_t per_ms, uint16_t k)
{
    if (per_ms == 0 || k == 0 || k > WINDOW_K_MAX)
        return NULL;
    distinct_state *st = calloc(1, sizeof *st);
    if (st) {
        st->w.per_ms = per_ms;
        st->w.k = k;
        st->w.count = UINT32_MAX;
    }
    return st;
}

void distinct_free(distinct_state *st)
{
    if (st) {
        free(st->buf);
        free(st);
    }
}

uint64_t distinct_count(distinct_state *st, uint64_t now_ms)
{
    window_peek pk;
    int seen;
    distinct_check(&st->w, st->buf, st->len, 0, now_ms, &pk, &seen);
    return pk.total;
}

int distinct_seen(distinct_state *st, uint64_t fp, uint64_t now_ms)
{
    window_peek pk;
    int seen;
    distinct_check(&st->w, st->buf, st->len, fp, now_ms, &pk, &seen);
    return seen;
}

int distinct_admits(distinct_state *st, uint64_t fp, uint32_t limit, uint64_t now_ms)
{
    window_spec w = st->w;
    window_peek pk;
    int seen;
    w.count = limit;
    return distinct_check(&w, st->buf, st->len, fp, now_ms, &pk, &seen);
}

int distinct_put(distinct_state *st, uint64_t fp, uint64_t now_ms)
{
    size_t need = distinct_add_size(&st->w, st->buf, st->len, fp, now_ms);
    if (need == st->len) {
        distinct_add(&st->w, st->buf, st->len, fp, now_ms, st->buf, need);
        return 0;
    }
    unsigned char *n = malloc(need);
    if (!n)
        return -1;
    distinct_add(&st->w, st->buf, st->len, fp, now_ms, n, need);
    free(st->buf);
    st->buf = n;
    st->len = need;
    return 0;
}

int distinct_exact(const distinct_state *st)
{
    return distinct_is_exact(st->buf, st->len);
}

size_t distinct_bytes(const distinct_state *st)
{
    return sizeof *st + st->len;
}
