/*
 * redis - the networked stores behind store.h (see redis.h)
 *
 * A store is a tree: a leaf is one server (rconn) or one cluster, a
 * sharded store has children, and a key's FNV-1a-64 hash picks the child
 * (hash mod N) at each sharded level. submit() routes every operation to
 * a (connection, slot), groups the operations by it in batch order, and
 * sends each group as one script call. The job that tracks the groups
 * comes from a free list, so that a request allocates nothing once the
 * pool has grown to the number of requests in flight.
 *
 * A job is answered when its last group is (reply, error or NULL: rconn
 * answers every command exactly once), so a job is never freed while a
 * callback can still reach it. The job goes back to the free list before
 * the engine's callback runs, as that callback may submit the next request
 * of the same client at once.
 */
#include "redis.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cluster.h"
#include "redis_script.h"

#define REDIS_RETRIES_MAX 5 /* MOVED, ASK and NOSCRIPT answers followed per group */
#define REDIS_SERVERS_MAX 256 /* leaves of one store tree (servers and clusters) */
#define REDIS_HOLD_DIV 4 /* a request held for a call in flight (on_flush) waits store.timeout / 4 at most */
#define REDIS_CALL_MIN 4 /* a call may always take this many requests (on_flush) */
#define REDIS_PEAK_MS 1000 /* the requests outstanding are the most seen over the last 1-2 s (on_flush) */

typedef struct rtree {
    int kind;               /* enum redis_kind */
    rconn *rc;              /* REDIS_SINGLE */
    cluster *cl;            /* REDIS_CLUSTER */
    struct rtree *shards;   /* REDIS_SHARDED */
    unsigned n;
} rtree;

typedef struct rjob rjob;

typedef struct rgroup {
    rjob *job;
    rconn *rc;              /* where it goes */
    int slot;               /* cluster slot, -1 outside a cluster */
    cluster *cl;            /* the cluster it is in, for redirects */
    int replica;            /* sent to a replica: EVALSHA_RO */
    uint32_t first, n;      /* its operations: job->idx[first .. first+n) */
    int state;              /* 0 waiting, 1 answered, -1 failed */
    long denied;            /* batch index of its refusal, -1 none */
    unsigned tries;         /* redirects and NOSCRIPT retries followed */
    int eval;               /* send the script text (after NOSCRIPT) */
} rgroup;

struct rjob {
    struct redis_store *st;
    store_batch *b;
    store_done_fn done;
    void *arg;
    rgroup *g;              /* groups */
    size_t ng, gcap;
    uint32_t *idx;          /* operation indexes, grouped, in batch order within a group */
    int32_t *opg;           /* group of each operation */
    int64_t *bucket;        /* bucket each window counted in, -1 none */
    uint64_t *hash;         /* FNV-1a-64 of each operation's identity */
    uint8_t *types;         /* operation types of a compensation */
    size_t op_cap;
    size_t waiting;         /* groups not answered yet */
    uint64_t deadline_ms;   /* submit + timeout (rconn_now_ms): no retry is followed, or waited for, past it */
    rjob *next;             /* free list */
};

/* rmerge - the groups of several requests sent to one server in one script call */
typedef struct rmerge {
    struct redis_store *st;
    rgroup *g[REDIS_PARTS_MAX];
    size_t n;
    struct rmerge *next;    /* free list */
} rmerge;

typedef struct redis_store {
    store base;             /* must be first */
    rtree root;
    redis_config cfg;
    redis_args args;        /* scratch argv: hiredis formats a command at once */
    rjob *free_jobs;
    size_t jobs;            /* jobs allocated */
    struct event *flush;    /* end of the loop iteration: the pending groups are sent */
    struct event *release;  /* the first instant a held group goes whatever its server's call in flight (on_flush) */
    rgroup **pend, **work;  /* groups waiting for it; the ones being sent */
    size_t npend, pend_cap, work_cap;
    rmerge *free_merges;
    redis_part parts[REDIS_PARTS_MAX];
    int closing;            /* store_free: nothing new is sent */
    size_t outstanding;     /* requests submitted and not answered */
    size_t peak, peak_now;  /* the most outstanding in the last REDIS_PEAK_MS window, and so far in this one */
    uint64_t peak_at;       /* when this window began */
    uint64_t batches, errors, compensations, lost_compensations, redirects, fast_parts;
} redis_store;

/* route - the connection and slot of an operation whose key's hash is h; NULL when no server is known for it */
static rconn *route(rtree *t, uint64_t h, int read, int *slot_out, cluster **cl_out, int *replica)
{
    while (t->kind == REDIS_SHARDED)
        t = &t->shards[h % t->n];
    *replica = 0;
    if (t->kind == REDIS_SINGLE) {
        *slot_out = -1;
        *cl_out = NULL;
        return t->rc;
    }
    /* the slot of the key's {tag}: only a cluster needs it */
    char tag[REDIS_TAG_LEN];
    redis_tag(h, tag);
    uint16_t slot = redis_crc16(tag + 1, 16) & (REDIS_SLOTS - 1);
    *slot_out = slot;
    *cl_out = t->cl;
    return cluster_node(t->cl, slot, read, replica);
}

/* job_get - a job from the free list, sized for nops */
static rjob *job_get(redis_store *st, size_t nops)
{
    rjob *j = st->free_jobs;

    if (j) {
        st->free_jobs = j->next;
    } else {
        j = fg_calloc(1, sizeof *j);
        j->st = st;
        st->jobs++;
    }
    if (nops > j->op_cap) {
        j->op_cap = nops;
        j->idx = fg_realloc(j->idx, nops * sizeof *j->idx);
        j->opg = fg_realloc(j->opg, nops * sizeof *j->opg);
        j->bucket = fg_realloc(j->bucket, nops * sizeof *j->bucket);
        j->hash = fg_realloc(j->hash, nops * sizeof *j->hash);
        j->types = fg_realloc(j->types, nops * sizeof *j->types);
    }
    if (nops > j->gcap) {
        j->gcap = nops;
        j->g = fg_realloc(j->g, nops * sizeof *j->g);
    }
    j->ng = 0;
    j->waiting = 0;
    return j;
}

/* job_put - back to the free list */
static void job_put(rjob *j)
{
    j->b = NULL;
    j->next = j->st->free_jobs;
    j->st->free_jobs = j;
}

/* call_deadline - the script's clock past which a call sent now on rc must not run (redis_script.h), as its caller
 * (answered by answer_by_ms at the latest, 0: by rconn's timeout) may have been answered NULL by then: in the
 * server's clock as rc knows it (0: none yet); with the daemon's clock (tests: ARGV[1] is the batch's now_ms), in
 * that clock */
static uint64_t call_deadline(const redis_store *st, const rconn *rc, uint64_t now_ms, uint64_t answer_by_ms)
{
    if (!st->cfg.local_clock)
        return rconn_server_deadline(rc, answer_by_ms);
    uint64_t now = rconn_now_ms(), by = rconn_fail_by(rc, answer_by_ms);
    return now_ms + (by > now ? by - now : 0);
}

/* clock_sample - the server's clock a script's reply tells: the time it ran at */
static void clock_sample(const redis_store *st, rconn *rc, const redisReply *r)
{
    int64_t ms;

    if (!st->cfg.local_clock && redis_reply_time(r, &ms) == 0) /* with the daemon's clock, the batch's time */
        rconn_clock_sample(rc, ms);
}

/* script_cmd - EVALSHA (EVALSHA_RO on a replica) with the loaded sha, or EVAL with the text; deadline_ms as
 * call_deadline (0: none) */
static void script_args(redis_store *st, rgroup *g, const store_batch *b, const uint32_t *idx, size_t n,
                        const uint8_t *types, const int64_t *bucket, int commit, uint64_t deadline_ms)
{
    const char *sha = rconn_sha(g->rc);
    int eval = g->eval || !sha[0];
    const char *cmd = eval ? (g->replica ? "EVAL_RO" : "EVAL") : (g->replica ? "EVALSHA_RO" : "EVALSHA");

    /* on a replica (EVALSHA_RO) the script must not write: commit 2 says so */
    redis_part p = {b, idx, n, types, bucket, g->replica ? 2 : commit, g->job->hash, deadline_ms};
    redis_args_parts(&st->args, cmd, eval ? REDIS_SCRIPT_TEXT : sha, &p, 1, st->cfg.local_clock ? b->now_ms : 0);
}

static void on_group_reply(rconn *rc, redisReply *r, void *arg);

/* group_send - one group's script call; -1 if its server is unavailable. The call, held for a while (on_flush) or
 * a retry (after NOSCRIPT, MOVED or ASK), is answered by the job's deadline, not a fresh timeout: no request waits
 * longer than store.timeout */
static int group_send(redis_store *st, rgroup *g, int asking)
{
    rjob *j = g->job;

    if (!g->rc || st->closing)
        return -1;
    if (asking) {
        const char *argv[1] = {"ASKING"};
        size_t lens[1] = {6};
        if (rconn_send(g->rc, 1, argv, lens, NULL, NULL) < 0)
            return -1;
    }
    script_args(st, g, j->b, j->idx + g->first, g->n, NULL, NULL, j->b->commit,
                call_deadline(st, g->rc, j->b->now_ms, j->deadline_ms));
    return rconn_send_by(g->rc, (int)st->args.argc, st->args.argv, st->args.lens, on_group_reply, g, j->deadline_ms);
}

/* on_undo_reply - a compensation's answer: counted, nothing waits for it */
static void on_undo_reply(rconn *rc, redisReply *r, void *arg)
{
    redis_store *st = arg;
    (void)rc;
    if (!r || r->type == REDIS_REPLY_ERROR)
        st->lost_compensations++;
}

/* compensate - take back the windows a group counted, without waiting */
static void compensate(redis_store *st, rjob *j, rgroup *g)
{
    size_t n = 0;
    uint32_t *sel = j->idx + g->first;

    /* the group's window operations that counted, in place at the front of its slice */
    for (size_t i = 0; i < g->n; i++) {
        uint32_t op = j->idx[g->first + i];
        if (j->b->ops[op].type == STORE_WINDOW && j->bucket[op] >= 0) {
            j->types[op] = STORE_UNDO;
            sel[n++] = op;
        }
    }
    if (!n)
        return;
    st->compensations += n;
    script_args(st, g, j->b, sel, n, j->types, j->bucket, 0, 0); /* no deadline: it takes back a count */
    if (st->closing ||
        rconn_send(g->rc, (int)st->args.argc, st->args.argv, st->args.lens, on_undo_reply, st) < 0)
        st->lost_compensations += n;
}

/* job_finish - every group answered: the batch's result, compensations, and the engine's callback */
static void job_finish(rjob *j, int call_done)
{
    redis_store *st = j->st;
    store_batch *b = j->b;
    store_done_fn done = j->done;
    void *arg = j->arg;
    int failed = 0;
    long denied = -1;

    for (size_t i = 0; i < j->ng; i++) {
        rgroup *g = &j->g[i];
        if (g->state != 1)
            failed = 1;
        else if (g->denied >= 0 && (denied < 0 || g->denied < denied))
            denied = g->denied;
    }
    if (failed) {
        b->status = -1;
        st->errors++;
    } else {
        b->denied = denied;
        for (size_t i = denied < 0 ? b->nops : (size_t)denied + 1; i < b->nops; i++)
            b->ops[i].admitted = 0;
    }
    /* a refused or failed batch is counted nowhere: groups that committed give their counts back */
    if (b->commit && j->ng > 1 && (failed || denied >= 0))
        for (size_t i = 0; i < j->ng; i++)
            if (j->g[i].state == 1 && j->g[i].denied < 0)
                compensate(st, j, &j->g[i]);
    st->batches++;
    st->outstanding--;
    job_put(j);
    if (call_done)
        done(b, arg);
}

/* group_done - one group has its answer */
static void group_done(rgroup *g, int state)
{
    rjob *j = g->job;

    g->state = state;
    if (--j->waiting == 0)
        job_finish(j, 1);
}

/* is_error - does an error reply start with word? */
static int is_error(const redisReply *r, const char *word)
{
    size_t n = strlen(word);
    return r->len > n && !memcmp(r->str, word, n) && r->str[n] == ' ';
}

/* kick - a call that on_flush holds groups for was answered: they go now (at the end of this loop iteration, with
 * whatever the answer's callbacks submit) */
static void kick(redis_store *st)
{
    if (st->npend && !st->closing)
        event_active(st->flush, EV_TIMEOUT, 0);
}

/* on_group_reply - a group's script answered (or not) */
static void on_group_reply(rconn *rc, redisReply *r, void *arg)
{
    rgroup *g = arg;
    rjob *j = g->job;
    redis_store *st = j->st;
    int ask = 0;

    kick(st);
    if (!r) {
        group_done(g, -1);
        return;
    }
    /* a LATE error (the call ran past its deadline and did nothing) fails the group below, as any other error */
    clock_sample(st, rc, r);
    if (r->type == REDIS_REPLY_ERROR && !st->closing && g->tries < REDIS_RETRIES_MAX &&
        rconn_now_ms() < j->deadline_ms) {
        rconn *to = NULL;
        if (is_error(r, "NOSCRIPT")) {
            /* the server lost its scripts (SCRIPT FLUSH, a restart under us): send the text */
            g->eval = 1;
            to = g->rc;
        } else if (g->cl && (is_error(r, "MOVED") || is_error(r, "ASK"))) {
            to = cluster_redirect(g->cl, r->str, r->len, &ask);
            st->redirects++;
        }
        if (to) {
            g->tries++;
            g->rc = to;
            if (group_send(st, g, ask) == 0)
                return;
            group_done(g, -1);
            return;
        }
    }
    int applied = redis_reply_apply(r, j->b, j->idx + g->first, g->n, j->bucket, &g->denied);
    if (applied < 0) {
        group_done(g, -1);
        return;
    }
    st->fast_parts += applied == 1;
    group_done(g, 1);
}

/* on_merged_reply - the answer of several groups' call: an array of their replies, each handed to its group */
static void on_merged_reply(rconn *rc, redisReply *r, void *arg)
{
    rmerge *m = arg;
    redis_store *st = m->st;
    rgroup *g[REDIS_PARTS_MAX];
    size_t n = m->n;

    /* the carrier goes back first: a group's callback may submit and flush again */
    memcpy(g, m->g, n * sizeof *g);
    m->next = st->free_merges;
    st->free_merges = m;
    kick(st);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == n) {
        for (size_t i = 0; i < n; i++)
            on_group_reply(rc, r->element[i], g[i]);
        return;
    }
    /* NULL (timeout, lost connection) or an error (NOSCRIPT: each group sends the text) reaches every group; a
     * reply of another shape fails them all */
    int whole = !r || r->type == REDIS_REPLY_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (whole)
            on_group_reply(rc, r, g[i]);
        else
            group_done(g[i], -1);
    }
}

/* send_merged - the groups m->g[0..n), all for one server, in one script call (one group: as it would go alone) */
static void send_merged(redis_store *st, rmerge *m)
{
    rgroup *g0 = m->g[0];

    if (m->n == 1) {
        m->next = st->free_merges;
        st->free_merges = m;
        if (group_send(st, g0, 0) < 0)
            group_done(g0, -1);
        else
            rconn_await(g0->rc);
        return;
    }
    /* one deadline for the call: every part is answered by the first of their deadlines (each request's submit
     * + store.timeout, held or not), so a request that goes with one held since before it came is answered up to
     * a quarter of store.timeout before its own deadline, never after it */
    uint64_t answer_by = g0->job->deadline_ms;
    for (size_t i = 1; i < m->n; i++)
        if (m->g[i]->job->deadline_ms < answer_by)
            answer_by = m->g[i]->job->deadline_ms;
    uint64_t deadline = call_deadline(st, g0->rc, g0->job->b->now_ms, answer_by);
    for (size_t i = 0; i < m->n; i++) {
        rjob *j = m->g[i]->job;
        st->parts[i] = (redis_part){j->b,         j->idx + m->g[i]->first, m->g[i]->n, NULL, NULL,
                                    j->b->commit, j->hash,                 deadline};
    }
    redis_args_parts(&st->args, "EVALSHA", rconn_sha(g0->rc), st->parts, m->n,
                     st->cfg.local_clock ? g0->job->b->now_ms : 0);
    if (!st->closing &&
        rconn_send_by(g0->rc, (int)st->args.argc, st->args.argv, st->args.lens, on_merged_reply, m, answer_by) == 0) {
        rconn_await(g0->rc);
    } else {
        rgroup *g[REDIS_PARTS_MAX];
        size_t n = m->n;
        memcpy(g, m->g, n * sizeof *g);
        m->next = st->free_merges;
        st->free_merges = m;
        for (size_t i = 0; i < n; i++)
            group_done(g[i], -1);
    }
}

/* pend_put - a group waits for the next flush */
static void pend_put(redis_store *st, rgroup *g)
{
    if (st->npend == st->pend_cap) {
        st->pend_cap = st->pend_cap ? st->pend_cap * 2 : 64;
        st->pend = fg_realloc(st->pend, st->pend_cap * sizeof *st->pend);
    }
    st->pend[st->npend++] = g;
}

/* on_flush - the loop iteration's requests are in: the groups for one server go in one script call, paced.
 *
 * - While an earlier such call to that server is in flight, they wait for its answer instead (kick), a quarter of
 *   store.timeout at most (REDIS_HOLD_DIV; then they go behind it), or until they fill a call.
 * - A call takes half the requests outstanding at most (the most seen over the last REDIS_PEAK_MS or two;
 *   REDIS_CALL_MIN at least); the others wait for its answer.
 * - It is written at once, not at the end of the loop turn: before the answers of the call just answered.
 *
 * Sent as they came, the requests of a loaded daemon moved in one lockstep batch: Redis ran it while the daemon
 * and its clients waited, then they answered and asked again while Redis waited (Redis writes the replies of
 * every call it read in one go only after running them all). Paced, they form two halves that take turns, one
 * in Redis while the daemon answers the other: +20% on bench-redis at 16 connections (README Performance). No
 * request waits longer than store.timeout (send_merged). While every call takes Redis longer than a quarter of
 * the timeout, each request waits that quarter before it is sent */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    redis_store *st = arg;
    (void)fd;
    (void)what;

    /* what a callback submits meanwhile, and what is held, waits for the next flush */
    size_t n = st->npend;
    if (n > st->work_cap) {
        st->work_cap = st->pend_cap;
        st->work = fg_realloc(st->work, st->work_cap * sizeof *st->work);
    }
    memcpy(st->work, st->pend, n * sizeof *st->work);
    st->npend = 0;
    uint64_t now = rconn_now_ms(), release = 0;
    if (now - st->peak_at >= REDIS_PEAK_MS) {
        st->peak = st->peak_now;
        st->peak_now = 0;
        st->peak_at = now;
    }
    if (st->outstanding > st->peak_now)
        st->peak_now = st->outstanding;
    size_t most = ((st->peak > st->peak_now ? st->peak : st->peak_now) + 1) / 2;
    if (most < REDIS_CALL_MIN)
        most = REDIS_CALL_MIN;
    for (size_t i = 0; i < n; i++) {
        rgroup *g = st->work[i];
        if (!g)
            continue;
        rmerge *m = st->free_merges;
        if (m)
            st->free_merges = m->next;
        else
            m = fg_calloc(1, sizeof *m);
        m->st = st;
        m->n = 0;
        m->g[m->n++] = g;
        uint64_t first = g->job->deadline_ms;
        /* with the daemon's clock (tests), only batches of one time share a call */
        for (size_t k = i + 1; k < n && m->n < REDIS_PARTS_MAX; k++)
            if (st->work[k] && st->work[k]->rc == g->rc &&
                (!st->cfg.local_clock || st->work[k]->job->b->now_ms == g->job->b->now_ms)) {
                m->g[m->n++] = st->work[k];
                if (st->work[k]->job->deadline_ms < first)
                    first = st->work[k]->job->deadline_ms;
                st->work[k] = NULL;
            }
        /* the first of them came at first - timeout: held until a quarter of the timeout after that at most */
        uint64_t until = first - st->cfg.timeout_ms + st->cfg.timeout_ms / REDIS_HOLD_DIV;
        /* how many go now: none while a call is in flight, at most `most` otherwise; but none waits past that
         * quarter, nor for a server that is down (its requests fail now) */
        size_t go = m->n;
        if (!st->closing && rconn_is_up(g->rc) && until > now) {
            if (rconn_awaited(g->rc) && m->n < REDIS_PARTS_MAX)
                go = 0;
            else if (m->n > most)
                go = most;
        }
        if (go < m->n) {
            for (size_t k = go; k < m->n; k++)
                pend_put(st, m->g[k]);
            m->n = go;
            if (!release || until < release)
                release = until;
        }
        if (!go) {
            m->next = st->free_merges;
            st->free_merges = m;
            continue;
        }
        rconn *rc = g->rc;
        send_merged(st, m);
        rconn_write_now(rc); /* before this turn's answers are written: Redis starts on it meanwhile */
    }
    if (release) {
        uint64_t in = release > now ? release - now : 0;
        struct timeval tv = {(time_t)(in / 1000), (suseconds_t)(in % 1000 * 1000)};
        evtimer_add(st->release, &tv);
    }
}

/* mergeable - a group that can wait for the end of the loop iteration to share a call: a single server (no
 * cluster slot, no replica) that is up with the script loaded, and no kv operation (a tenant's key of another
 * type fails its script, which would fail the other requests of the call) */
static int mergeable(redis_store *st, const rgroup *g)
{
    const rjob *j = g->job;

    if (!st->flush || !st->release || st->closing || g->slot >= 0 || g->replica || !g->rc || !rconn_is_up(g->rc) ||
        !rconn_sha(g->rc)[0])
        return 0;
    for (uint32_t i = 0; i < g->n; i++)
        if (j->b->ops[j->idx[g->first + i]].type >= STORE_KV_GET)
            return 0;
    return 1;
}

/* pend_add - a group waits for the flush at the end of this loop iteration (libevent runs an event made active
 * several times once; groups held by an earlier flush are looked at again then) */
static void pend_add(redis_store *st, rgroup *g)
{
    pend_put(st, g);
    event_active(st->flush, EV_TIMEOUT, 0);
}

/* find_group - the group of (rc, slot), made if new */
static rgroup *find_group(rjob *j, rconn *rc, int slot, cluster *cl, int replica)
{
    for (size_t i = 0; i < j->ng; i++)
        if (j->g[i].rc == rc && j->g[i].slot == slot)
            return &j->g[i];
    rgroup *g = &j->g[j->ng++];
    memset(g, 0, sizeof *g);
    g->job = j;
    g->rc = rc;
    g->slot = slot;
    g->cl = cl;
    g->replica = replica;
    g->denied = -1;
    return g;
}

/* redis_submit - route, group, send */
static int redis_submit(store *s, store_batch *b, store_done_fn done, void *arg)
{
    redis_store *st = (redis_store *)s;
    rjob *j = job_get(st, b->nops);
    size_t id_len;

    j->b = b;
    j->done = done;
    j->arg = arg;
    j->deadline_ms = rconn_now_ms() + st->cfg.timeout_ms;
    st->outstanding++; /* until job_finish */
    for (size_t i = 0; i < b->nops; i++) {
        store_op *op = &b->ops[i];
        const unsigned char *id = redis_op_identity(b, op, &id_len);
        uint64_t h = redis_fnv1a64(id, id_len);
        int slot, replica;
        cluster *cl;
        j->hash[i] = h; /* the key's name has it too (redis_args_parts) */
        rconn *rc = route(&st->root, h, op->type == STORE_PEEK, &slot, &cl, &replica);
        rgroup *g = find_group(j, rc, slot, cl, replica);
        j->opg[i] = (int32_t)(g - j->g);
        g->n++;
        j->bucket[i] = -1;
    }
    /* operations grouped, each group in batch order */
    for (size_t gi = 0, at = 0; gi < j->ng; gi++) {
        j->g[gi].first = (uint32_t)at;
        at += j->g[gi].n;
        j->g[gi].n = 0;
    }
    for (size_t i = 0; i < b->nops; i++) {
        rgroup *g = &j->g[j->opg[i]];
        j->idx[g->first + g->n++] = (uint32_t)i;
    }
    for (size_t gi = 0; gi < j->ng; gi++) {
        if (mergeable(st, &j->g[gi])) {
            j->waiting++;
            j->g[gi].state = 0;
            pend_add(st, &j->g[gi]);
        } else if (group_send(st, &j->g[gi], 0) == 0) {
            j->waiting++;
            j->g[gi].state = 0;
        } else {
            j->g[gi].state = -1;
        }
    }
    if (j->waiting)
        return STORE_PENDING;
    job_finish(j, 0);
    return STORE_DONE;
}

/* tree_refreshes - the cluster map refreshes of a tree (each cluster keeps its map on its own timer) */
static uint64_t tree_refreshes(const rtree *t)
{
    uint64_t n = t->kind == REDIS_CLUSTER ? cluster_refreshes(t->cl) : 0;
    for (unsigned i = 0; t->kind == REDIS_SHARDED && i < t->n; i++)
        n += tree_refreshes(&t->shards[i]);
    return n;
}

/* redis_stats - batches and errors */
static void redis_stats(store *s, store_stats *out)
{
    redis_store *st = (redis_store *)s;
    out->batches = st->batches;
    out->errors = st->errors;
    out->compensations = st->compensations;
    out->fast_parts = st->fast_parts;
    out->redirects = st->redirects;
    out->cluster_refreshes = tree_refreshes(&st->root);
}

/* put_server - one connection's state */
static void put_server(rconn *rc, store_server *out)
{
    rconn_stats rs;

    rconn_get_stats(rc, &rs);
    snprintf(out->name, sizeof out->name, "%s", rconn_name(rc));
    out->up = rs.up;
    out->outages = rs.outages;
    out->round_trips = rs.scripts;
    out->commands = rs.commands;
    out->failed = rs.failed + rs.refused;
    out->depth = rs.depth;
    out->max_depth = rs.max_depth;
    out->p99_us = rs.p99_us;
    out->reconnects = rs.reconnects;
    out->retry_ms = rs.retry_ms;
}

/* tree_servers - every connection of a tree */
static size_t tree_servers(rtree *t, store_server *out, size_t at, size_t max)
{
    if (t->kind == REDIS_SINGLE) {
        if (at < max)
            put_server(t->rc, &out[at]);
        return at + 1;
    }
    if (t->kind == REDIS_CLUSTER) {
        rconn *nodes[CLUSTER_NODES_MAX];
        unsigned n = cluster_nodes(t->cl, nodes, CLUSTER_NODES_MAX);
        for (unsigned i = 0; i < n; i++, at++)
            if (at < max)
                put_server(nodes[i], &out[at]);
        return at;
    }
    for (unsigned i = 0; i < t->n; i++)
        at = tree_servers(&t->shards[i], out, at, max);
    return at;
}

/* redis_servers - each server's state */
static size_t redis_servers(store *s, store_server *out, size_t max)
{
    return tree_servers(&((redis_store *)s)->root, out, 0, max);
}

/* tree_free - close a tree's connections (their commands are answered NULL) */
static void tree_free(rtree *t)
{
    if (t->kind == REDIS_SINGLE)
        rconn_free(t->rc);
    else if (t->kind == REDIS_CLUSTER)
        cluster_free(t->cl);
    for (unsigned i = 0; t->kind == REDIS_SHARDED && i < t->n; i++)
        tree_free(&t->shards[i]);
    fg_free(t->shards);
}

/* redis_free - close everything; batches in flight are answered with status -1 */
static void redis_free(store *s)
{
    redis_store *st = (redis_store *)s;

    st->closing = 1;
    /* groups waiting for the flush are answered as the ones in flight are */
    while (st->npend) {
        rgroup *g = st->pend[--st->npend];
        group_done(g, -1);
    }
    if (st->flush)
        event_free(st->flush);
    if (st->release)
        event_free(st->release);
    tree_free(&st->root);
    while (st->free_merges) {
        rmerge *m = st->free_merges;
        st->free_merges = m->next;
        fg_free(m);
    }
    fg_free(st->pend);
    fg_free(st->work);
    while (st->free_jobs) {
        rjob *j = st->free_jobs;
        st->free_jobs = j->next;
        fg_free(j->g);
        fg_free(j->idx);
        fg_free(j->opg);
        fg_free(j->bucket);
        fg_free(j->hash);
        fg_free(j->types);
        fg_free(j);
    }
    redis_args_release(&st->args);
    fg_free(st);
}

static const store_vtab redis_vtab = {
    .name = "redis",
    .submit = redis_submit,
    .stats = redis_stats,
    .free = redis_free,
    .servers = redis_servers,
};
static const store_vtab cluster_vtab = {
    .name = "cluster",
    .submit = redis_submit,
    .stats = redis_stats,
    .free = redis_free,
    .servers = redis_servers,
};
static const store_vtab sharded_vtab = {
    .name = "sharded",
    .submit = redis_submit,
    .stats = redis_stats,
    .free = redis_free,
    .servers = redis_servers,
};

/* tree_build - connect a spec's servers */
static int tree_build(struct event_base *base, rtree *t, const redis_spec *spec, const rconn_config *rcfg, char *err,
                      size_t errlen)
{
    t->kind = spec->kind;
    if (spec->kind == REDIS_SINGLE) {
        t->rc = rconn_new(base, &spec->urls[0], rcfg, err, errlen);
        return t->rc ? 0 : -1;
    }
    if (spec->kind == REDIS_CLUSTER) {
        t->cl = cluster_new(base, spec->urls, spec->nurls, rcfg, spec->read_from_replicas, err, errlen);
        return t->cl ? 0 : -1;
    }
    t->shards = fg_calloc(spec->nshards, sizeof *t->shards);
    t->n = spec->nshards;
    for (unsigned i = 0; i < spec->nshards; i++)
        if (tree_build(base, &t->shards[i], &spec->shards[i], rcfg, err, errlen) < 0) {
            t->n = i + 1; /* the ones made so far are freed */
            return -1;
        }
    return 0;
}

/* redis_store_new - the store for spec */
store *redis_store_new(struct event_base *base, const redis_spec *spec, const redis_config *cfg, char *err,
                       size_t errlen)
{
    redis_store *st = fg_calloc(1, sizeof *st);
    rconn_config rcfg = {
        .timeout_ms = cfg->timeout_ms,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .script = REDIS_SCRIPT_TEXT,
        .log = cfg->log,
        .clock = 1, /* the scripts' deadlines (call_deadline) */
    };

    st->base.vt = spec->kind == REDIS_CLUSTER ? &cluster_vtab : spec->kind == REDIS_SHARDED ? &sharded_vtab
                                                                                             : &redis_vtab;
    st->cfg = *cfg;
    st->flush = event_new(base, -1, 0, on_flush, st);
    st->release = evtimer_new(base, on_flush, st);
    if (tree_build(base, &st->root, spec, &rcfg, err, errlen) < 0) {
        redis_free(&st->base);
        return NULL;
    }
    return &st->base;
}

/* redis_spec_free - a spec's contents */
void redis_spec_free(redis_spec *spec)
{
    if (!spec)
        return;
    for (unsigned i = 0; i < spec->nshards; i++)
        redis_spec_free(&spec->shards[i]);
    fg_free(spec->shards);
    fg_free(spec->urls);
    memset(spec, 0, sizeof *spec);
}
