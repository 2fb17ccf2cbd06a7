/*
 * store - the interface between the decision engine and the state
 *
 * The engine hands the store one batch per request: every operation that
 * request needs, each on its own key. The store answers the batch at once
 * (submit returns STORE_DONE: the embedded store) or later through the
 * callback (STORE_PENDING: a networked store), never both. The shape is
 * asynchronous so that Redis backends fit behind it without touching the
 * engine, and one batch is one round trip per shard.
 *
 * Operations run in order and the first that refuses ends the batch
 * (b->denied), as the rules they come from would. Windows are all or
 * nothing: they are checked as the batch runs, and only when nothing
 * refused and the batch says commit is one event added to each. So a
 * denied request is counted nowhere, and a request admitted by rule 1 but
 * refused by rule 3 does not use up rule 1. A greylist step changes its
 * state as it runs (a token, a pass), since that is what it decides on.
 *
 * A batch owns its buffers and is reused request after request, so that a
 * request costs no allocation once the batch has grown to the rule set.
 */
#ifndef FG_STORE_H
#define FG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "grey.h"
#include "window.h"

enum store_op_type {
    STORE_WINDOW = 1, /* check (and with commit, add to) a sliding window */
    STORE_PEEK,       /* read a window without counting */
    STORE_DEL,        /* delete a key */
    STORE_GREYLIST,   /* greylist step on a triplet key (key) and its client key (key2) */
    /* the store's other tenants (kv.h): values, counters and locks with owners. The operand (a value, a
     * lock's token) is in key2; none of them refuses the batch, each says in `admitted` what it did. */
    STORE_KV_GET = 16, /* admitted 1 and the value in the result, or 0: absent */
    STORE_KV_SET,      /* the operand, for ttl_ms (0: no expiry); with STORE_NX only if absent; admitted 1 when set */
    STORE_KV_INCR,     /* add num (a decimal value; a new key starts at 0 and gets ttl_ms); result: the new number;
                        * admitted 0 when the value is not a number */
    STORE_LOCK,        /* take the lock for the operand (its owner's token) and ttl_ms; admitted 0: someone holds it */
    STORE_UNLOCK,      /* release it if the operand is its owner's token; admitted 0 otherwise */
    STORE_RENEW,       /* give it ttl_ms more if the operand is its owner's token; admitted 0 otherwise */
};

#define STORE_NX 1  /* store_op.flags: STORE_KV_SET only when the key is absent */
#define STORE_DRY 2 /* store_op.flags: a window or greylist step that never refuses the batch (a dry-run rule):
                     * it is checked, says in `admitted` what it would have done, and a window that would
                     * refuse is not counted (as if it had refused) while the others commit */
#define STORE_DISTINCT 4 /* store_op.flags: a window or peek that counts distinct values (distinct.h), not events:
                          * the one window `win`, the value's fingerprint in `fp`. Admitted when the value is
                          * already counted in the window or the count is under win.count; committed, the value
                          * is added (a value seen again moves to now); peek.total is the distinct count (one
                          * more when a new value was added) */

typedef struct store_op {
    uint8_t type;      /* enum store_op_type */
    uint32_t key_off;  /* key bytes in batch->keys */
    uint32_t key_len;  /* length of the key */
    uint32_t key2_off; /* STORE_GREYLIST: the client key */
    uint32_t key2_len;
    window_spec win;   /* STORE_WINDOW, STORE_PEEK: the window when nwin is 0 */
    uint8_t nwin;      /* 0: the one window `win`; 1..WINDOW_RATES_MAX: the windows wins[] on one key */
    uint8_t which;     /* result: the window whose peek is in `peek` (the refusing one with the latest retry) */
    window_spec wins[WINDOW_RATES_MAX]; /* several windows (limit.rates), all checked, all counted or none */
    window_peek wpeek[WINDOW_RATES_MAX]; /* result: each window's count and retry ([0] for the one-window form) */
    grey_spec grey;    /* STORE_GREYLIST */
    int admitted;      /* result: 1 admitted (or deleted), 0 denied */
    window_peek peek;  /* result: count and retry time */
    uint8_t grey_result; /* result of STORE_GREYLIST: enum grey_result */
    uint8_t flags;     /* STORE_NX */
    uint64_t ttl_ms;   /* kv operations: time to live; 0 = none */
    int64_t num;       /* STORE_KV_INCR: the increment; result: the new value */
    uint64_t fp;       /* STORE_DISTINCT: the value's fingerprint */
    uint8_t seen;      /* result of STORE_DISTINCT: the value was already counted in the window */
    uint32_t res_off;  /* result of STORE_KV_GET: the value in batch->keys */
    uint32_t res_len;
    void *backend;     /* the backend's own use within one submit */
} store_op;

typedef struct store_batch {
    uint64_t now_ms;      /* the request's clock */
    int commit;           /* add to the windows when none denies */
    store_op *ops;        /* operations, in rule order */
    size_t nops, ops_cap; /* used and allocated */
    unsigned char *keys;  /* key arena */
    size_t keys_len, keys_cap;
    int status;           /* result: 0 answered, -1 store failed */
    long denied;          /* result: index of the first denying window, -1 none */
} store_batch;

typedef void (*store_done_fn)(store_batch *batch, void *arg);

enum { STORE_DONE = 0, STORE_PENDING = 1 };

typedef struct store_stats {
    uint64_t keys;      /* keys held */
    uint64_t expired;   /* keys purged or found expired */
    uint64_t evicted;   /* keys dropped to stay under max_keys */
    uint64_t batches;   /* batches answered */
    uint64_t errors;    /* batches that failed */
    uint64_t bytes;     /* memory held by the store, if known */
    uint64_t compensations; /* networked: counts taken back after a refusal on another shard */
    uint64_t fast_parts; /* redis: request parts the script answered on its fast path (redis_script.h) */
    uint64_t redirects; /* cluster: MOVED and ASK answers followed */
    uint64_t cluster_refreshes; /* cluster: slot maps asked for (CLUSTER SLOTS sent) */
} store_stats;

/* one server of a networked store, for floodgatectl stats */
typedef struct store_server {
    char name[64];        /* host:port or socket path */
    int up;               /* connected and ready */
    uint64_t outages;     /* outages started */
    uint64_t round_trips; /* script calls (one round trip each, pipelined) */
    uint64_t commands;    /* commands sent */
    uint64_t failed;      /* commands failed: timeout, lost connection, refused during an outage */
    uint64_t depth;       /* commands in flight now (pipeline depth) */
    uint64_t max_depth;   /* most in flight at once */
    uint64_t p99_us;      /* 99th percentile reply latency */
    uint64_t reconnects;  /* connection attempts after a failure */
    uint64_t retry_ms;    /* wait before the next connection attempt (the backoff), 0 when none is planned */
} store_server;

typedef struct store store;

typedef struct store_vtab {
    const char *name;
    int (*submit)(store *s, store_batch *b, store_done_fn done, void *arg);
    void (*tick)(store *s, uint64_t now_ms); /* housekeeping, from a timer */
    void (*stats)(store *s, store_stats *out);
    void (*free)(store *s);
    /* servers - up to max servers' state into out; returns how many there are (NULL: none) */
    size_t (*servers)(store *s, store_server *out, size_t max);
} store_vtab;

struct store {
    const store_vtab *vt; /* the backend */
};

/* store_submit - answer the batch: STORE_DONE now, or STORE_PENDING and call done later */
int store_submit(store *s, store_batch *b, store_done_fn done, void *arg);
void store_tick(store *s, uint64_t now_ms);
void store_get_stats(store *s, store_stats *out);
void store_free(store *s);
/* store_servers - a networked store's servers (up to max into out); returns how many it has, 0 for embedded */
size_t store_servers(store *s, store_server *out, size_t max);

/* batch_reset - empty a batch for the next request */
void batch_reset(store_batch *b, uint64_t now_ms);
/* op_windows - the windows of a STORE_WINDOW or STORE_PEEK operation and how many */
static inline const window_spec *op_windows(const store_op *op, unsigned *n)
{
    *n = op->nwin ? op->nwin : 1;
    return op->nwin ? op->wins : &op->win;
}

/* batch_add - append an operation on key; returns it */
store_op *batch_add(store_batch *b, enum store_op_type type, const unsigned char *key, size_t key_len);
/* batch_add_key2 - give op a second key (greylist client key) */
void batch_add_key2(store_batch *b, store_op *op, const unsigned char *key, size_t key_len);
/* batch_key - the key bytes of op */
static inline const unsigned char *batch_key(const store_batch *b, const store_op *op)
{
    return b->keys + op->key_off;
}
/* batch_key2 - the second key bytes of op */
static inline const unsigned char *batch_key2(const store_batch *b, const store_op *op)
{
    return b->keys + op->key2_off;
}
/* batch_set_result - a backend puts an operation's value (STORE_KV_GET) into the batch's arena */
void batch_set_result(store_batch *b, store_op *op, const void *data, size_t len);
/* batch_result - the value an operation returned */
static inline const unsigned char *batch_result(const store_batch *b, const store_op *op)
{
    return b->keys + op->res_off;
}
/* batch_release - free the batch's buffers */
void batch_release(store_batch *b);

#endif
