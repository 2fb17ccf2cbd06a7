/*
 * distinct - distinct values per key in a sliding window; see distinct.h
 *
 * Invariants: exact mode holds at most DISTINCT_EXACT_MAX entries, each with
 * the newest bucket it was seen in; entries older than head-k are dropped on
 * every access. HLL mode: regs[(b % (k+1)) * M + j] is register j of bucket
 * b, valid for b in (head-k-1, head]; a slot is zeroed when the ring moves
 * onto it.
 */
#include "distinct.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct distinct_state {
    uint64_t per_ms;
    uint16_t k;
    uint64_t head;  /* newest bucket touched */
    unsigned n;     /* exact entries */
    uint64_t fp[DISTINCT_EXACT_MAX];
    uint64_t seen[DISTINCT_EXACT_MAX];
    uint8_t *regs; /* NULL while exact */
};

/* bucket_of - bucket holding time t (as window.c) */
static uint64_t bucket_of(const distinct_state *st, uint64_t t)
{
    return t / st->per_ms * st->k + (t % st->per_ms) * st->k / st->per_ms;
}

/* advance - move the ring to now's bucket, forgetting what left the window */
static void advance(distinct_state *st, uint64_t now_ms)
{
    uint64_t b = bucket_of(st, now_ms);
    if (b <= st->head)
        b = st->head; /* a clock behind the state reads as the state's newest bucket */
    if (st->regs) {
        uint64_t slots = (uint64_t)st->k + 1;
        uint64_t from = b - st->head > slots ? b - slots : st->head;
        for (uint64_t x = from + 1; x <= b && b != st->head; x++)
            memset(st->regs + (x % slots) * DISTINCT_HLL_M, 0, DISTINCT_HLL_M);
    }
    st->head = b;
    uint64_t oldest = b >= st->k ? b - st->k : 0;
    unsigned w = 0;
    for (unsigned i = 0; i < st->n; i++)
        if (st->seen[i] >= oldest) {
            st->fp[w] = st->fp[i];
            st->seen[w++] = st->seen[i];
        }
    st->n = w;
    if (st->regs) {
        int empty = 1;
        for (size_t i = 0; i < ((size_t)st->k + 1) * DISTINCT_HLL_M && empty; i++)
            empty = st->regs[i] == 0;
        if (empty) {
            free(st->regs);
            st->regs = NULL;
        }
    }
}

/* reg_of - register index and rank of a fingerprint */
static void reg_of(uint64_t fp, unsigned *j, uint8_t *rho)
{
    *j = (unsigned)(fp >> (64 - DISTINCT_HLL_P));
    uint64_t rest = fp << DISTINCT_HLL_P | (1ULL << (DISTINCT_HLL_P - 1)); /* sentinel bounds rho */
    *rho = (uint8_t)(__builtin_clzll(rest) + 1);
}

/* merged - register j's max over the window's buckets */
static uint8_t merged(const distinct_state *st, unsigned j)
{
    uint8_t m = 0;
    for (unsigned s = 0; s <= st->k; s++) {
        uint8_t r = st->regs[(size_t)s * DISTINCT_HLL_M + j];
        if (r > m)
            m = r;
    }
    return m;
}

/* hll_estimate - HyperLogLog estimate with the small-range (linear counting) correction */
static uint64_t hll_estimate(const distinct_state *st)
{
    double sum = 0;
    unsigned zeros = 0;
    for (unsigned j = 0; j < DISTINCT_HLL_M; j++) {
        uint8_t r = merged(st, j);
        sum += ldexp(1.0, -(int)r);
        zeros += r == 0;
    }
    double m = DISTINCT_HLL_M, alpha = 0.7213 / (1 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros)
        e = m * log(m / zeros);
    return (uint64_t)(e + 0.5);
}

distinct_state *distinct_new(uint64_t per_ms, uint16_t k)
{
    if (per_ms == 0 || k == 0)
        return NULL;
    distinct_state *st = calloc(1, sizeof *st);
    if (st) {
        st->per_ms = per_ms;
        st->k = k;
    }
    return st;
}

void distinct_free(distinct_state *st)
{
    if (st) {
        free(st->regs);
        free(st);
    }
}

uint64_t distinct_count(distinct_state *st, uint64_t now_ms)
{
    advance(st, now_ms);
    if (!st->regs)
        return st->n;
    return hll_estimate(st);
}

int distinct_seen(distinct_state *st, uint64_t fp, uint64_t now_ms)
{
    advance(st, now_ms);
    if (!st->regs) {
        for (unsigned i = 0; i < st->n; i++)
            if (st->fp[i] == fp)
                return 1;
        return 0;
    }
    unsigned j;
    uint8_t rho;
    reg_of(fp, &j, &rho);
    return merged(st, j) >= rho;
}

int distinct_check(distinct_state *st, uint64_t fp, uint32_t limit, uint64_t now_ms)
{
    if (distinct_seen(st, fp, now_ms))
        return 1;
    return distinct_count(st, now_ms) < limit;
}

int distinct_add(distinct_state *st, uint64_t fp, uint64_t now_ms)
{
    advance(st, now_ms);
    if (!st->regs) {
        for (unsigned i = 0; i < st->n; i++)
            if (st->fp[i] == fp) {
                st->seen[i] = st->head;
                return 0;
            }
        if (st->n < DISTINCT_EXACT_MAX) {
            st->fp[st->n] = fp;
            st->seen[st->n++] = st->head;
            return 0;
        }
        /* switch: every live exact value goes into the registers of its bucket */
        st->regs = calloc(((size_t)st->k + 1) * DISTINCT_HLL_M, 1);
        if (!st->regs)
            return -1;
        for (unsigned i = 0; i < st->n; i++) {
            unsigned j;
            uint8_t rho;
            reg_of(st->fp[i], &j, &rho);
            uint8_t *r = st->regs + (st->seen[i] % ((uint64_t)st->k + 1)) * DISTINCT_HLL_M + j;
            if (*r < rho)
                *r = rho;
        }
        st->n = 0;
    }
    unsigned j;
    uint8_t rho;
    reg_of(fp, &j, &rho);
    uint8_t *r = st->regs + (st->head % ((uint64_t)st->k + 1)) * DISTINCT_HLL_M + j;
    if (*r < rho)
        *r = rho;
    return 0;
}

int distinct_exact(const distinct_state *st)
{
    return st->regs == NULL;
}

size_t distinct_bytes(const distinct_state *st)
{
    return sizeof *st + (st->regs ? ((size_t)st->k + 1) * DISTINCT_HLL_M : 0);
}
