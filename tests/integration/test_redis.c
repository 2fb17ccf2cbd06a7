/*
 * test_redis - the networked stores against real Redis servers
 *
 * Usage: test_redis FLOODGATED FLOODGATECTL REDIS_SERVER REDIS_CLI
 *
 * Every redis-server and floodgated here is started by the test on a free
 * loopback port (or socket) in a fresh temp folder, with --save "" and
 * --appendonly no, and is killed at the end, pass or fail (atexit). No
 * test sleeps for a window: limits are reached by count, and the store
 * tests inject the clock. Waits are for conditions (a server answers, a
 * connection is back), polled with a generous bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "distinct.h"
#include "mem.h"
#include "redis.h"
#include "redis_script.h"

#include "banstate.h"
#include "keys.h"
#include "mirror.h"
#include "sockio.h"

static const char *daemon_bin, *ctl_bin, *redis_bin, *cli_bin;
static char dir[] = "/tmp/fgredisXXXXXX";

#define PIDS_MAX 32
static pid_t pids[PIDS_MAX]; /* everything started, killed at exit */

/* track - remember a child to kill at the end */
static void track(pid_t p)
{
    for (int i = 0; i < PIDS_MAX; i++)
        if (pids[i] <= 0) {
            pids[i] = p;
            return;
        }
    fail_msg("too many children");
}

/* reap - kill and wait for one child */
static void reap(pid_t p, int sig)
{
    if (p <= 0)
        return;
    kill(p, sig);
    waitpid(p, NULL, 0);
    for (int i = 0; i < PIDS_MAX; i++)
        if (pids[i] == p)
            pids[i] = 0;
}

/* kill_all - never leave a server behind */
static void kill_all(void)
{
    for (int i = 0; i < PIDS_MAX; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGCONT);
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
}

static unsigned free_port(void);

/* free_port_for - a free loopback port; for a cluster node also its bus port (port + 10000, so below 55536) */
static unsigned free_port_for(int cluster)
{
    for (int tries = 0; tries < 1000; tries++) {
        unsigned p = free_port();
        if (!cluster)
            return p;
        if (p + 10000 > 65535)
            continue;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t)(p + 10000))};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return p;
    }
    fail_msg("no free port pair");
    return 0;
}

/* free_port - a loopback port nobody listens on now */
static unsigned free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- redis-server ---- */

typedef struct rsrv {
    pid_t pid;
    unsigned port;
    char dir[512];
    int cluster;
} rsrv;

/* redis_cmd - one synchronous command (the test may block; the daemon never does); NULL if unreachable */
static redisReply *redis_cmd(unsigned port, const char *fmt, ...)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

/* redis_int - an integer reply, -1 if none */
static long long redis_int(unsigned port, const char *cmd)
{
    redisReply *r = redis_cmd(port, cmd);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* redis_start_conf - a redis-server on port (a fresh one if 0), with these lines of redis.conf (NULL: none),
 * answering PING (or refusing it for want of AUTH) when this returns */
static void redis_start_conf(rsrv *s, unsigned port, int cluster, const char *conf)
{
    char portbuf[16], logf[600], conff[600];

    s->port = port ? port : free_port_for(cluster);
    s->cluster = cluster;
    snprintf(s->dir, sizeof s->dir, "%s/redis-%u", dir, s->port);
    mkdir(s->dir, 0700);
    snprintf(portbuf, sizeof portbuf, "%u", s->port);
    snprintf(logf, sizeof logf, "%s/redis.log", s->dir);
    snprintf(conff, sizeof conff, "%s/redis.conf", s->dir);
    FILE *cf = fopen(conff, "w");
    assert_non_null(cf);
    fputs(conf ? conf : "", cf);
    fclose(cf);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even a killed one */
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(s->dir) < 0)
            _exit(126);
        execl(redis_bin, redis_bin, conff, "--port", portbuf, "--bind", "127.0.0.1", "--save", "", "--appendonly",
              "no", "--dir", s->dir, "--cluster-enabled", cluster ? "yes" : "no", "--cluster-config-file",
              "nodes.conf", (char *)NULL);
        _exit(127);
    }
    track(s->pid);
    for (int i = 0; i < 1000; i++) {
        redisReply *r = redis_cmd(s->port, "PING");
        if (r) {
            freeReplyObject(r);
            return;
        }
        poll(NULL, 0, 10);
    }
    fail_msg("redis-server on %u did not start", s->port);
}

/* redis_start - a redis-server on port (a fresh one if 0), answering PING when this returns */
static void redis_start(rsrv *s, unsigned port, int cluster)
{
    redis_start_conf(s, port, cluster, NULL);
}

/* ---- the store in this process, clock injected ---- */

static int batch_done;

/* on_done - a pending batch answered */
static void on_done(store_batch *b, void *arg)
{
    (void)b;
    (void)arg;
    batch_done = 1;
}

static int batches_done;

/* on_done_count - one more of several pending batches answered */
static void on_done_count(store_batch *b, void *arg)
{
    (void)b;
    (void)arg;
    batches_done++;
}

/* run_batch - submit and run the loop until the batch is answered */
static void run_batch(struct event_base *base, store *s, store_batch *b)
{
    batch_done = 0;
    if (store_submit(s, b, on_done, NULL) == STORE_DONE)
        return;
    while (!batch_done)
        event_base_loop(base, EVLOOP_ONCE);
}

/* wait_servers - run the loop until every server of the store is connected (want 1) or down (want 0) */
static void wait_servers(struct event_base *base, store *s, int want)
{
    store_server sv[16];
    for (int i = 0; i < 2000; i++) {
        size_t n = store_servers(s, sv, 16), in = 0;
        for (size_t j = 0; j < n && j < 16; j++)
            in += (size_t)(sv[j].up == want);
        if (n && in == n)
            return;
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    fail_msg("%s", want ? "the store did not connect" : "the store did not see its servers go down");
}

/* wait_up - run the loop until every server of the store is connected */
static void wait_up(struct event_base *base, store *s)
{
    wait_servers(base, s, 1);
}

/* one_server - a spec for one redis URL */
static redis_spec one_server(rconn_url *u, unsigned port)
{
    char err[256], url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u/0", port);
    assert_int_equal(rconn_url_parse(url, u, err, sizeof err), 0);
    return (redis_spec){.kind = REDIS_SINGLE, .urls = u, .nurls = 1};
}

static rsrv single;

/* twin - a Redis store on the single server that counts on the request clocks (local_clock), and the embedded
 * store whose answers it must give */
typedef struct twin {
    struct event_base *base;
    rconn_url u;
    store *redis, *mem; /* mem: NULL unless asked for */
} twin;

/* twin_open - the Redis store connected, on a flushed database, and the embedded store if with_mem */
static void twin_open(twin *t, int with_mem)
{
    redis_spec spec = one_server(&t->u, single.port);
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000, .local_clock = 1};
    char err[256];

    t->base = event_base_new();
    t->redis = redis_store_new(t->base, &spec, &rcfg, err, sizeof err);
    if (!t->redis)
        fail_msg("redis store: %s", err);
    t->mem = with_mem ? mem_store_new(NULL) : NULL;
    wait_up(t->base, t->redis);
    redisReply *fl = redis_cmd(single.port, "FLUSHALL");
    freeReplyObject(fl);
}

/* twin_close - both stores and the loop */
static void twin_close(twin *t)
{
    store_free(t->redis);
    if (t->mem)
        store_free(t->mem);
    event_base_free(t->base);
}

/* what cmp_fill makes: everything; one-window counts only (what the script's fast path takes, until one is
 * refused or its state is not in now's bucket); the operations that leave a call light (one-window counts,
 * some dry, peeks, deletes: ARGV[4]'s first number 0), fast parts and others mixed in one call */
enum { CMP_ALL, CMP_FAST, CMP_LIGHT };

static const window_spec cmp_wins[] = {
    {10000, 5, 10}, {1000, 3, 1}, {60000, 100, 60}, {7000, 70000, 7}, {3000, 2, 3},
    {5000, 0, 5}, /* CMP_FAST and CMP_LIGHT only: a limit of 0 refuses all */
};
static const grey_spec cmp_greys[] = {{5000, 60000, 120000, 3}, {0, 20000, 40000, 0}};
static const struct {
    uint8_t n;
    window_spec w[WINDOW_RATES_MAX];
} cmp_multi[] = {
    {2, {{10000, 3, 10}, {60000, 8, 6}}},
    {3, {{1000, 2, 1}, {7000, 4, 7}, {30000, 9, 3}}},
    {4, {{2000, 2, 2}, {5000, 4, 5}, {20000, 9, 10}, {90000, 70000, 9}}},
};

/* cmp_stats - what a comparison reached */
typedef struct cmp_stats {
    unsigned compared, denials, grey_pass, kv_done, multi_done, multi_refused, dry_refused;
} cmp_stats;

/* cmp_fill - the same 1-4 random operations in both batches (reset at now): one-window counts and peeks of five
 * shapes on 15 keys (48 in CMP_FAST and CMP_LIGHT), several-window counts on 9, greylist steps, the other
 * tenants' operations; dry runs, and one batch in ten that does not commit (CMP_ALL). CMP_FAST and CMP_LIGHT (above) have a sixth shape, and in one
 * batch in eight every key is counted in the next key's shape, so that a key's state changes shape (between
 * batches, as when a rule is edited: within one, a key has one shape, as a rule's key has) */
static void cmp_fill(store_batch *br, store_batch *bm, uint64_t now, uint64_t *rngp, int mode)
{
    uint64_t rng = *rngp;
    int only_windows = mode != CMP_ALL, swap = only_windows && (rng >> 44) % 8 == 0;

    batch_reset(br, now);
    batch_reset(bm, now);
    unsigned nops = 1 + (unsigned)(rng >> 8) % 4;
    br->commit = bm->commit = (rng >> 12) % 10 != 0;
    for (unsigned i = 0; i < nops; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        char key[32], key2[32];
        unsigned which = (unsigned)(rng >> 20) % (only_windows ? 6 : 5), kind = (unsigned)(rng >> 30) % 10;
        int kl = snprintf(key, sizeof key, "w%u-%u", which, (unsigned)(rng >> 40) % (only_windows ? 8 : 3));
        store_op *a, *b;
        if (swap)
            which = (which + 1) % 6;
        if (mode == CMP_FAST)
            kind = 5;
        else if (mode == CMP_LIGHT && (kind < 3 || (kind >= 6 && kind < 9))) /* no several windows, no greylisting */
            kind = kind == 8 ? 11 : 5;
        if (kind == 11) { /* CMP_LIGHT: a window key deleted */
            batch_add(br, STORE_DEL, (unsigned char *)key, (size_t)kl);
            batch_add(bm, STORE_DEL, (unsigned char *)key, (size_t)kl);
            continue;
        }
        if (!only_windows && (rng >> 50) % 8 == 0) {
            /* the other tenants: values, numbers, locks */
            static const uint8_t kvt[] = {STORE_KV_GET, STORE_KV_SET, STORE_KV_INCR, STORE_LOCK,
                                          STORE_UNLOCK, STORE_RENEW, STORE_DEL};
            static const char *const operands[] = {"tokA", "tokB", "5", "x", "+7", "007", ""};
            enum store_op_type t = kvt[(rng >> 53) % 7];
            const char *operand = operands[(rng >> 56) % 7];
            kl = snprintf(key, sizeof key, "kv%u", (unsigned)(rng >> 59) % 3);
            a = batch_add(br, t, (unsigned char *)key, (size_t)kl);
            b = batch_add(bm, t, (unsigned char *)key, (size_t)kl);
            if (t != STORE_DEL) {
                batch_add_key2(br, a, (const unsigned char *)operand, strlen(operand));
                batch_add_key2(bm, b, (const unsigned char *)operand, strlen(operand));
            }
            a->num = b->num = (rng >> 61) == 7 ? INT64_MAX - 2 : (int64_t)((rng >> 40) % 7) - 3;
            /* never or long after the sequence ends: Redis expires keys on its own clock */
            a->ttl_ms = b->ttl_ms = (rng >> 45) % 2 ? 0 : 10 * 86400000ULL;
            a->flags = b->flags = (rng >> 47) % 2 ? STORE_NX : 0;
        } else if (kind < 6 || kind == 9) {
            enum store_op_type t = kind == 9 ? STORE_PEEK : STORE_WINDOW;
            unsigned ms = (unsigned)(rng >> 33) % 3;
            if (kind < 3) /* several windows on one key (limit.rates), one set per key */
                kl = snprintf(key, sizeof key, "m%u-%u", ms, (unsigned)(rng >> 40) % 3);
            a = batch_add(br, t, (unsigned char *)key, (size_t)kl);
            b = batch_add(bm, t, (unsigned char *)key, (size_t)kl);
            a->win = b->win = cmp_wins[which];
            if (kind < 3) {
                a->nwin = b->nwin = cmp_multi[ms].n;
                memcpy(a->wins, cmp_multi[ms].w, sizeof a->wins);
                memcpy(b->wins, cmp_multi[ms].w, sizeof b->wins);
            }
            if (mode != CMP_FAST && (rng >> 36) % 6 == 0)
                a->flags = b->flags = STORE_DRY;
        } else {
            unsigned g = kind % 2;
            /* a triplet key names its client network, so a triplet always comes with one client key */
            unsigned t = (unsigned)(rng >> 40) % 6;
            kl = snprintf(key, sizeof key, "t%u-%u", g, t);
            int k2 = snprintf(key2, sizeof key2, "c%u-%u", g, t % 2);
            a = batch_add(br, STORE_GREYLIST, (unsigned char *)key, (size_t)kl);
            b = batch_add(bm, STORE_GREYLIST, (unsigned char *)key, (size_t)kl);
            batch_add_key2(br, a, (unsigned char *)key2, (size_t)k2);
            batch_add_key2(bm, b, (unsigned char *)key2, (size_t)k2);
            a->grey = b->grey = cmp_greys[g];
            if ((rng >> 36) % 6 == 0)
                a->flags = b->flags = STORE_DRY;
        }
    }
    *rngp = rng;
}

/* cmp_check - the Redis batch br decided what the embedded batch bm did, operation by operation (batch n) */
static void cmp_check(const store_batch *br, const store_batch *bm, int n, cmp_stats *cs)
{
    assert_int_equal(br->status, 0);
    if (br->denied != bm->denied) {
        for (size_t i = 0; i < bm->nops; i++)
            print_message("op %zu type %d key %.*s: redis %d/%llu/%llu/%d, embedded %d/%llu/%llu/%d\n", i,
                          bm->ops[i].type, (int)bm->ops[i].key_len, batch_key(bm, &bm->ops[i]), br->ops[i].admitted,
                          (unsigned long long)br->ops[i].peek.total, (unsigned long long)br->ops[i].peek.retry_ms,
                          br->ops[i].grey_result, bm->ops[i].admitted, (unsigned long long)bm->ops[i].peek.total,
                          (unsigned long long)bm->ops[i].peek.retry_ms, bm->ops[i].grey_result);
        fail_msg("batch %d at %llu: denied %ld on redis, %ld embedded", n, (unsigned long long)bm->now_ms,
                 br->denied, bm->denied);
    }
    cs->denials += bm->denied >= 0;
    for (size_t i = 0; i < bm->nops; i++) {
        const store_op *a = &br->ops[i], *b = &bm->ops[i];
        /* a window key's DEL says whether it found a value: on the injected clock a state past its window is
         * gone from the embedded store, and still in Redis until its own expiry (PX, on Redis's clock) */
        int del_found = b->type == STORE_DEL && batch_key(bm, b)[0] == 'w';
        if ((a->admitted != b->admitted && !del_found) || a->peek.total != b->peek.total ||
            a->peek.retry_ms != b->peek.retry_ms || a->grey_result != b->grey_result)
            fail_msg("batch %d op %zu (type %d, key %.*s) at %llu: redis %d/%llu/%llu/%d, embedded %d/%llu/%llu/%d",
                     n, i, b->type, (int)b->key_len, batch_key(bm, b), (unsigned long long)bm->now_ms, a->admitted,
                     (unsigned long long)a->peek.total, (unsigned long long)a->peek.retry_ms, a->grey_result,
                     b->admitted, (unsigned long long)b->peek.total, (unsigned long long)b->peek.retry_ms,
                     b->grey_result);
        if (b->type == STORE_KV_GET && b->admitted &&
            (a->res_len != b->res_len || memcmp(batch_result(br, a), batch_result(bm, b), b->res_len)))
            fail_msg("batch %d op %zu: GET %.*s on redis, %.*s embedded", n, i, (int)a->res_len,
                     batch_result(br, a), (int)b->res_len, batch_result(bm, b));
        if (b->type == STORE_KV_INCR && a->num != b->num)
            fail_msg("batch %d op %zu: INCR %lld on redis, %lld embedded", n, i, (long long)a->num,
                     (long long)b->num);
        if (b->nwin > 1 && (b->type == STORE_WINDOW || b->type == STORE_PEEK) &&
            (bm->denied < 0 || (long)i <= bm->denied)) {
            if (a->which != b->which)
                fail_msg("batch %d op %zu: deciding window %u on redis, %u embedded", n, i, a->which, b->which);
            for (unsigned w = 0; w < b->nwin; w++)
                if (a->wpeek[w].total != b->wpeek[w].total || a->wpeek[w].retry_ms != b->wpeek[w].retry_ms)
                    fail_msg("batch %d op %zu window %u: redis %llu/%llu, embedded %llu/%llu", n, i, w,
                             (unsigned long long)a->wpeek[w].total, (unsigned long long)a->wpeek[w].retry_ms,
                             (unsigned long long)b->wpeek[w].total, (unsigned long long)b->wpeek[w].retry_ms);
            cs->multi_done++;
            cs->multi_refused += !b->admitted;
        }
        cs->dry_refused += (b->flags & STORE_DRY) && !b->admitted && (bm->denied < 0 || (long)i < bm->denied);
        cs->kv_done += b->type >= STORE_KV_GET && b->admitted;
        cs->grey_pass += b->grey_result >= GREY_PASS_FIRST;
        cs->compared++;
    }
}

/* The same requests on the embedded store and on Redis (the script) decide the same, operation by
 * operation: windows of several shapes, peeks, greylist steps with auto-allow, a clock that also
 * steps back (states ahead of now), batches that do not commit, and the other tenants' values,
 * numbers (saturating, and in forms INCRBY does not read) and locks. */
static void test_script_matches_embedded_store(void **st)
{
    twin t;
    twin_open(&t, 1);
    store_batch br = {0}, bm = {0};
    uint64_t now = 1700000000000ULL, rng = 88172645463325252ULL;
    cmp_stats cs = {0};
    (void)st;

    for (int n = 0; n < 4000; n++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        /* mostly forward, sometimes a long gap, sometimes back */
        uint64_t step = rng % 100 < 3 ? 70000 : rng % 1400;
        now = rng % 100 < 4 ? now - rng % 4000 : now + step;
        cmp_fill(&br, &bm, now, &rng, 0);
        run_batch(t.base, t.redis, &br);
        run_batch(t.base, t.mem, &bm);
        cmp_check(&br, &bm, n, &cs);
    }
    /* the sequence reached every path worth comparing */
    print_message("compared %u operations: %u refusals, %u greylist passes, %u kv operations done, %u several-window "
                  "operations (%u refused), %u dry-run refusals that did not refuse the batch\n", cs.compared,
                  cs.denials, cs.grey_pass, cs.kv_done, cs.multi_done, cs.multi_refused, cs.dry_refused);
    assert_true(cs.multi_done > 1000);
    assert_true(cs.multi_refused > 100);
    assert_true(cs.dry_refused > 30);
    assert_true(cs.denials > 100);
    assert_true(cs.grey_pass > 50);
    assert_true(cs.kv_done > 100);
    assert_true(cs.compared > 8000);
    batch_release(&br);
    batch_release(&bm);
    twin_close(&t);
}

/* Requests that share one script call (as those of one loop iteration do) decide what they would one after the
 * other on the embedded store, operation by operation: 1-16 requests a round at one time, on few keys, so that
 * one call counts a key in several of its parts and in one part twice, and mixes the fast parts (one-window
 * counts, admitted) with the others (refusals, peeks, not committed, greylisting, several windows, the other
 * tenants) that must see what the fast parts before them counted. A round is of one cmp_fill mode, a third
 * each. */
static void test_script_matches_embedded_merged(void **st)
{
    enum { ROUND = 16 };
    twin t;
    twin_open(&t, 1);
    store_batch br[ROUND], bm[ROUND];
    uint64_t now = 1700000000000ULL, rng = 2463534242ULL * 7919;
    cmp_stats cs = {0};
    unsigned rounds = 0, fast_rounds = 0, light_rounds = 0, expect = 0, expect_hi = 0;
    store_stats ss0, ss1;
    store_server sv[1];
    (void)st;

    memset(br, 0, sizeof br);
    memset(bm, 0, sizeof bm);
    assert_int_equal(store_servers(t.redis, sv, 1), 1);
    uint64_t trips = sv[0].round_trips;
    store_get_stats(t.redis, &ss0);
    for (int n = 0; n < 6000; rounds++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        /* often within one bucket of the small windows, so that parts find their states in now's bucket */
        uint64_t step = rng % 100 < 3 ? 70000 : rng % 100 < 60 ? rng % 40 : rng % 3000;
        now = rng % 100 < 3 ? now - rng % 4000 : now + step;
        unsigned r = 1 + (unsigned)(rng >> 20) % ROUND;
        int mode = (int)((rng >> 30) % 3);
        fast_rounds += mode == CMP_FAST;
        light_rounds += mode == CMP_LIGHT;
        for (unsigned i = 0; i < r; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            cmp_fill(&br[i], &bm[i], now, &rng, mode);
        }
        batches_done = 0;
        for (unsigned i = 0; i < r; i++)
            assert_int_equal(store_submit(t.redis, &br[i], on_done_count, NULL), STORE_PENDING);
        while (batches_done < (int)r)
            event_base_loop(t.base, EVLOOP_ONCE);
        /* a request with a kv operation goes at once, in a call of its own (redis.c mergeable()), so it ran
         * before the shared call: concurrent requests in another order, which the embedded store follows */
        unsigned order[ROUND], no = 0, nkv = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (unsigned i = 0; i < r; i++) {
                int kv = 0;
                for (size_t o = 0; o < bm[i].nops; o++)
                    kv |= bm[i].ops[o].type >= STORE_KV_GET;
                if (kv == !pass)
                    order[no++] = i;
            }
            if (!pass)
                nkv = no;
        }
        /* the others share calls of half the requests outstanding at most (4 at least; redis.c on_flush): the
         * most seen lately, this round's r at least and ROUND at most */
        unsigned m = r - nkv, most_lo = (r + 1) / 2 < 4 ? 4 : (r + 1) / 2, most_hi = (ROUND + 1) / 2;
        expect += nkv + (m + most_hi - 1) / most_hi;
        expect_hi += nkv + (m + most_lo - 1) / most_lo;
        for (unsigned i = 0; i < r; i++) {
            run_batch(t.base, t.mem, &bm[order[i]]);
            cmp_check(&br[order[i]], &bm[order[i]], n++, &cs);
        }
    }
    assert_int_equal(store_servers(t.redis, sv, 1), 1);
    unsigned calls = (unsigned)(sv[0].round_trips - trips);
    store_get_stats(t.redis, &ss1);
    unsigned fast_parts = (unsigned)(ss1.fast_parts - ss0.fast_parts);
    print_message("merged: %u requests in %u rounds (%u of counts only, %u light), %u calls (%u-%u expected), %u parts "
                  "answered on the fast path: %u operations compared, %u refusals, %u greylist passes, %u kv "
                  "operations, %u several-window operations\n", (unsigned)6000, rounds, fast_rounds, light_rounds,
                  calls, expect, expect_hi, fast_parts, cs.compared, cs.denials, cs.grey_pass, cs.kv_done, cs.multi_done);
    /* the requests of a round shared calls (but those with a kv operation), and every kind of part was among
     * them */
    assert_in_range(calls, expect, expect_hi);
    assert_true(fast_parts > 200);
    assert_true(cs.denials > 300);
    assert_true(cs.grey_pass > 30);
    assert_true(cs.kv_done > 50);
    assert_true(cs.multi_done > 300);
    for (int i = 0; i < ROUND; i++) {
        batch_release(&br[i]);
        batch_release(&bm[i]);
    }
    twin_close(&t);
}

/* le - a little-endian unsigned number of n bytes */
static uint64_t le(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

/* A one-window state in Redis has the documented layout (README, redis_script.h), which other tools read:
 * head bucket, per, k, expiry, total, the head bucket's count, then the older buckets' counts newest first.
 * Counts in the head's bucket change it in place (SETRANGE); a count in a new bucket moves the counts along. */
static void test_window_value_layout(void **st)
{
    twin t;
    twin_open(&t, 0);
    struct event_base *base = t.base;
    store *r = t.redis;
    char name[64];
    store_batch b = {0};
    const window_spec w = {60000, 100, 3}; /* buckets of 20 s */
    const uint64_t t0 = 1700000000000ULL;  /* a bucket boundary: 1700000000000 / 20000 = 85000000 */
    static const uint64_t at[] = {0, 1, 2, 19999, 20000, 45000};
    (void)st;

    redisReply *fl = redis_cmd(single.port, "CONFIG RESETSTAT");
    freeReplyObject(fl);
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        batch_reset(&b, t0 + at[i]);
        b.commit = 1;
        batch_add(&b, STORE_WINDOW, (const unsigned char *)"layout", 6)->win = w;
        run_batch(base, r, &b);
        assert_int_equal(b.status, 0);
        assert_int_equal(b.ops[0].admitted, 1);
        assert_int_equal(b.ops[0].peek.total, i + 1); /* every count is still in the window */
    }
    redis_tag(redis_fnv1a64("layout", 6), name);
    memcpy(name + REDIS_TAG_LEN, "layout", 6);
    redisReply *v = redis_cmd(single.port, "GET %b", name, (size_t)REDIS_TAG_LEN + 6);
    assert_non_null(v);
    assert_int_equal(v->type, REDIS_REPLY_STRING);
    assert_int_equal(v->len, 34 + 4 * (3 + 1));
    uint64_t head = (t0 + 45000) / 20000;
    assert_int_equal(le(v->str, 8), head);
    assert_int_equal(le(v->str + 8, 8), 60000);
    assert_int_equal(le(v->str + 16, 2), 3);
    assert_int_equal(le(v->str + 18, 8), (head + 4) * 20000); /* logical expiry: when the head leaves the window */
    assert_int_equal(le(v->str + 26, 8), 6);                  /* total */
    assert_int_equal(le(v->str + 34, 4), 1);                  /* head bucket (t0 + 45000) */
    assert_int_equal(le(v->str + 38, 4), 1);                  /* one bucket older (t0 + 20000) */
    assert_int_equal(le(v->str + 42, 4), 4);                  /* two older (t0 .. t0 + 19999) */
    assert_int_equal(le(v->str + 46, 4), 0);
    freeReplyObject(v);
    /* the counts in a bucket already written were made in place */
    redisReply *cs = redis_cmd(single.port, "INFO commandstats");
    assert_non_null(cs);
    assert_non_null(strstr(cs->str, "cmdstat_setrange:calls=3,"));
    freeReplyObject(cs);
    batch_release(&b);
    twin_close(&t);
}

/* limit.distinct: the script's own registers give the embedded store's answers, op for op (admitted, count,
 * retry, seen), exact and past the exact size (HLL), with clock gaps and steps back, dry-run and peeks */
static void test_distinct_matches_embedded(void **st)
{
    static const window_spec wins[] = {{10000, 3, 10}, {60000, 40, 6}, {5000, 150, 5}, {20000, 2000, 20}};
    twin t;
    twin_open(&t, 1);
    struct event_base *base = t.base;
    store *r = t.redis, *m = t.mem;
    store_batch br = {0}, bm = {0};
    uint64_t now = 1700000000000ULL, rng = 2463534242ULL;
    unsigned compared = 0, refused = 0, seen = 0, hll = 0;
    (void)st;

    for (int n = 0; n < 3000; n++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t step = rng % 100 < 2 ? 30000 : rng % 40;
        now = rng % 100 < 3 ? now - rng % 3000 : now + step;
        batch_reset(&br, now);
        batch_reset(&bm, now);
        br.commit = bm.commit = (rng >> 12) % 10 != 0;
        unsigned nops = 1 + (unsigned)(rng >> 8) % 3;
        for (unsigned i = 0; i < nops; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            unsigned which = (unsigned)(rng >> 20) % 4;
            char key[32];
            int kl = snprintf(key, sizeof key, "d%u-%u", which, (unsigned)(rng >> 40) % 2);
            enum store_op_type t = (rng >> 30) % 8 == 0 ? STORE_PEEK : STORE_WINDOW;
            store_op *a = batch_add(&br, t, (unsigned char *)key, (size_t)kl);
            store_op *b = batch_add(&bm, t, (unsigned char *)key, (size_t)kl);
            a->win = b->win = wins[which];
            a->flags = b->flags = STORE_DISTINCT | ((rng >> 36) % 6 == 0 ? STORE_DRY : 0);
            /* values from a pool a little larger than the limit, so that some repeat; fingerprints as hashed */
            uint64_t v = (rng >> 44) % (wins[which].count + wins[which].count / 2 + 2);
            unsigned char h[16];
            crypto_generichash(h, sizeof h, (unsigned char *)&v, sizeof v, NULL, 0);
            memcpy(&a->fp, h, 8);
            b->fp = a->fp;
        }
        run_batch(base, r, &br);
        run_batch(base, m, &bm);
        assert_int_equal(br.status, 0);
        if (br.denied != bm.denied)
            fail_msg("batch %d at %llu: denied %ld on redis, %ld embedded", n, (unsigned long long)now, br.denied,
                     bm.denied);
        for (size_t i = 0; i < bm.nops && (bm.denied < 0 || (long)i <= bm.denied); i++) {
            store_op *a = &br.ops[i], *b = &bm.ops[i];
            if (a->admitted != b->admitted || a->peek.total != b->peek.total || a->peek.retry_ms != b->peek.retry_ms ||
                a->seen != b->seen)
                fail_msg("batch %d op %zu (%.*s, limit %u) at %llu: redis %d/%llu/%llu seen %d, embedded %d/%llu/%llu "
                         "seen %d", n, i, (int)b->key_len, batch_key(&bm, b), b->win.count, (unsigned long long)now,
                         a->admitted, (unsigned long long)a->peek.total, (unsigned long long)a->peek.retry_ms, a->seen,
                         b->admitted, (unsigned long long)b->peek.total, (unsigned long long)b->peek.retry_ms, b->seen);
            refused += !b->admitted;
            seen += b->seen;
            hll += b->peek.total > DISTINCT_EXACT_MAX;
            compared++;
        }
    }
    print_message("distinct: compared %u operations: %u refused, %u values seen before, %u past the exact size\n",
                  compared, refused, seen, hll);
    assert_true(refused > 100);
    assert_true(seen > 500);
    assert_true(hll > 200);
    batch_release(&br);
    batch_release(&bm);
    twin_close(&t);
}

/* Two daemons whose clocks are 30 s apart (as injected request clocks) count on the Redis server's
 * TIME, so they share one window exactly: 5 admitted in all, not 5 each. */
static void test_skewed_clocks_share_one_window(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    redis_spec spec = one_server(&u, single.port);
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    char err[256];
    store *a = redis_store_new(base, &spec, &rcfg, err, sizeof err), *b = redis_store_new(base, &spec, &rcfg, err,
                                                                                          sizeof err);
    store_batch ba = {0}, bb = {0};
    int admitted = 0;
    (void)st;

    wait_up(base, a);
    wait_up(base, b);
    for (int i = 0; i < 12; i++) {
        store_batch *x = i % 2 ? &bb : &ba;
        batch_reset(x, i % 2 ? 1700000030000ULL + (uint64_t)i : 1700000000000ULL + (uint64_t)i);
        batch_add(x, STORE_WINDOW, (const unsigned char *)"skew", 4)->win = (window_spec){20000, 5, 10};
        run_batch(base, i % 2 ? b : a, x);
        assert_int_equal(x->status, 0);
        admitted += x->denied < 0;
    }
    assert_int_equal(admitted, 5);
    batch_release(&ba);
    batch_release(&bb);
    store_free(a);
    store_free(b);
    event_base_free(base);
}

/* A script call that runs past its deadline (ARGV[1]'s second number) counts nothing and answers "LATE now
 * deadline": in the injected clock and in the server's TIME; a call of two parts has the earlier part's deadline;
 * a call at its deadline, or with none, counts as before. It is what Redis runs when it resumes from a hang with
 * the call in its socket buffer, after the daemon answered the call's requests on_error (issue 10) */
static void test_script_deadline(void **st)
{
    redisContext *c = redisConnect("127.0.0.1", (int)single.port);
    redis_args a = {0};
    uint32_t idx[1] = {0};
    (void)st;

    assert_true(c && !c->err);
    redisReply *t = redisCommand(c, "TIME");
    assert_true(t && t->type == REDIS_REPLY_ARRAY && t->elements == 2);
    uint64_t server_now = strtoull(t->element[0]->str, NULL, 10) * 1000 + strtoull(t->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(t);
    const uint64_t inj = 1700000000000ULL;
    const struct {
        uint64_t now, deadline[2];
        int parts, late;
    } cases[] = {
        {inj, {inj - 1, 0}, 1, 1},                 /* injected clock, 1 ms past */
        {inj, {inj, 0}, 1, 0},                     /* at the deadline: runs */
        {inj, {0, 0}, 1, 0},                       /* none */
        {inj, {inj + 500, inj - 1000}, 2, 1},      /* two parts: the earlier deadline is past */
        {inj, {inj + 500, 0}, 2, 0},               /* two parts, one deadline in time */
        {0, {server_now - 1000, 0}, 1, 1},         /* the server's TIME, a second past */
        {0, {server_now + 3600000, 0}, 1, 0},      /* the server's TIME, an hour ahead */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        store_batch b[2];
        redis_part p[2];
        char key[2][48], name[2][REDIS_TAG_LEN + 48];
        memset(b, 0, sizeof b);
        for (int k = 0; k < cases[i].parts; k++) {
            int kl = snprintf(key[k], sizeof key[k], "deadline-%d-%zu-%d", (int)getpid(), i, k);
            batch_reset(&b[k], cases[i].now);
            b[k].commit = 1;
            batch_add(&b[k], STORE_WINDOW, (const unsigned char *)key[k], (size_t)kl)->win = (window_spec){60000, 5, 6};
            p[k] = (redis_part){&b[k], idx, 1, NULL, NULL, 1, NULL, cases[i].deadline[k]};
            redis_tag(redis_fnv1a64(key[k], (size_t)kl), name[k]);
            memcpy(name[k] + REDIS_TAG_LEN, key[k], (size_t)kl + 1);
        }
        redis_args_parts(&a, "EVAL", REDIS_SCRIPT_TEXT, p, (size_t)cases[i].parts, cases[i].now);
        redisReply *r = redisCommandArgv(c, (int)a.argc, a.argv, a.lens);
        assert_non_null(r);
        if (cases[i].late) {
            if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "LATE ", 5))
                fail_msg("case %zu: a call past its deadline was run (reply type %d)", i, r->type);
        } else if (r->type == REDIS_REPLY_ERROR) {
            fail_msg("case %zu: a call in time was refused: %s", i, r->str);
        }
        freeReplyObject(r);
        for (int k = 0; k < cases[i].parts; k++) {
            r = redisCommand(c, "EXISTS %s", name[k]);
            assert_true(r && r->type == REDIS_REPLY_INTEGER);
            if (r->integer != !cases[i].late)
                fail_msg("case %zu part %d: the key %s exists %lld, want %d", i, k, key[k], r->integer,
                         !cases[i].late);
            freeReplyObject(r);
            batch_release(&b[k]);
        }
    }
    redis_args_release(&a);
    redisFree(c);
}

/* Requests that reach the store in the same loop iteration share script calls (what Redis spends per call is
 * paid once; 9 requests: calls of 5 and 4, half the requests outstanding at most, test_calls_take_half), and
 * each is still decided on its own, in the order they came, exactly as if it had been sent alone: a limit of 4
 * admits the first 4 of 6, a request refused by one of its rules counts in none of them, and a later request
 * sees what the earlier ones counted. */
static void test_requests_share_one_call(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    redis_spec spec = one_server(&u, single.port);
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    char err[256], k1[32], k2[32];
    store *s = redis_store_new(base, &spec, &rcfg, err, sizeof err);
    store_batch b[9];
    store_server sv[1];
    (void)st;

    snprintf(k1, sizeof k1, "merge1-%d", (int)getpid());
    snprintf(k2, sizeof k2, "merge2-%d", (int)getpid());
    memset(b, 0, sizeof b);
    wait_up(base, s);
    assert_int_equal(store_servers(s, sv, 1), 1);
    uint64_t calls = sv[0].round_trips;
    batches_done = 0;
    for (int i = 0; i < 9; i++) {
        batch_reset(&b[i], 1700000000000ULL);
        if (i == 6) /* k2 then k1: k1 is full, so k2 is not counted either */
            batch_add(&b[i], STORE_WINDOW, (const unsigned char *)k2, strlen(k2))->win = (window_spec){3600000, 10, 10};
        if (i == 8) /* a peek at k2 sees nothing counted */
            batch_add(&b[i], STORE_PEEK, (const unsigned char *)k2, strlen(k2))->win = (window_spec){3600000, 10, 10};
        else if (i == 7) /* not committed: checked, never counted */
            batch_add(&b[i], STORE_WINDOW, (const unsigned char *)k2, strlen(k2))->win = (window_spec){3600000, 10, 10};
        else
            batch_add(&b[i], STORE_WINDOW, (const unsigned char *)k1, strlen(k1))->win = (window_spec){3600000, 4, 10};
        b[i].commit = i != 7;
        assert_int_equal(store_submit(s, &b[i], on_done_count, NULL), STORE_PENDING);
    }
    while (batches_done < 9)
        event_base_loop(base, EVLOOP_ONCE);
    for (int i = 0; i < 9; i++)
        assert_int_equal(b[i].status, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(b[i].denied, -1);
        assert_int_equal(b[i].ops[0].peek.total, i + 1);
    }
    assert_int_equal(b[4].denied, 0);
    assert_int_equal(b[5].denied, 0);
    assert_int_equal(b[5].ops[0].peek.total, 4);
    assert_int_equal(b[6].denied, 1);
    assert_int_equal(b[7].denied, -1);
    assert_int_equal(b[7].ops[0].peek.total, 0);
    assert_int_equal(b[8].ops[0].peek.total, 0);
    assert_int_equal(store_servers(s, sv, 1), 1);
    assert_int_equal(sv[0].round_trips - calls, 2);
    for (int i = 0; i < 9; i++)
        batch_release(&b[i]);
    store_free(s);
    event_base_free(base);
}

/* the shape of a reply, as text: i:N, s:TEXT, nil, err:TEXT, ok:TEXT, [a b ...] */
static void reply_text(const redisReply *r, char *out, size_t size)
{
    size_t at = strlen(out);

    if (at + 1 >= size)
        return;
    switch (r->type) {
    case REDIS_REPLY_INTEGER: snprintf(out + at, size - at, "i:%lld", r->integer); break;
    case REDIS_REPLY_STRING: snprintf(out + at, size - at, "s:%.*s", (int)r->len, r->str); break;
    case REDIS_REPLY_STATUS: snprintf(out + at, size - at, "ok:%.*s", (int)r->len, r->str); break;
    case REDIS_REPLY_ERROR: snprintf(out + at, size - at, "err:%.9s", r->str); break;
    case REDIS_REPLY_NIL: snprintf(out + at, size - at, "nil"); break;
    case REDIS_REPLY_ARRAY:
        snprintf(out + at, size - at, "[");
        for (size_t i = 0; i < r->elements; i++) {
            if (i)
                snprintf(out + strlen(out), size - strlen(out), " ");
            reply_text(r->element[i], out, size);
        }
        snprintf(out + strlen(out), size - strlen(out), "]");
        break;
    default: snprintf(out + at, size - at, "?"); break;
    }
}

typedef struct shapes {
    char text[8][128];
    int n;
} shapes;

/* on_shape - keep a reply's shape */
static void on_shape(rconn *rc, redisReply *r, void *arg)
{
    shapes *s = arg;
    (void)rc;
    if (s->n < 8) {
        s->text[s->n][0] = '\0';
        if (r)
            reply_text(r, s->text[s->n], sizeof s->text[0]);
        s->n++;
    }
}

/* rconn's reply objects (its own reader functions, objects reused from a free list) hold every kind of reply
 * as hiredis's own did: strings, status, errors, nil, integers and nested arrays with nil and empty ones, the
 * same again once the objects of the first round were given back. Passes with hiredis's functions too: it
 * guards the reuse, which ASan and valgrind watch in the suite */
static void test_reply_objects(void **st)
{
    static const char *const cmds[][4] = {
        {"SET", "shape", "v1", NULL},
        {"GET", "shape", NULL, NULL},
        {"GET", "no-such-key", NULL, NULL},
        {"INCR", "shape", NULL, NULL},
        {"EVAL", "return {1, {2, false, 'x'}, {}, 'y'}", "0", NULL},
        {"DBSIZE", NULL, NULL, NULL},
    };
    static const char *const want[] = {"ok:OK", "s:v1", "nil", "err:ERR value", "[i:1 [i:2 nil s:x] [] s:y]"};
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    rconn_config cfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    (void)st;

    snprintf(url, sizeof url, "redis://127.0.0.1:%u/0", single.port);
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    rconn *rc = rconn_new(base, &u, &cfg, err, sizeof err);
    assert_non_null(rc);
    for (int i = 0; i < 2000 && !rconn_is_up(rc); i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    assert_true(rconn_is_up(rc));
    for (int round = 0; round < 2; round++) {
        shapes s = {.n = 0};
        for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
            const char *argv[4];
            size_t lens[4];
            int argc = 0;
            while (argc < 4 && cmds[c][argc]) {
                argv[argc] = cmds[c][argc];
                lens[argc] = strlen(argv[argc]);
                argc++;
            }
            assert_int_equal(rconn_send(rc, argc, argv, lens, on_shape, &s), 0);
        }
        for (int i = 0; i < 2000 && s.n < 6; i++)
            event_base_loop(base, EVLOOP_ONCE);
        assert_int_equal(s.n, 6);
        for (int i = 0; i < 5; i++)
            assert_string_equal(s.text[i], want[i]);
        assert_memory_equal(s.text[5], "i:", 2);
    }
    rconn_free(rc);
    event_base_free(base);
}

/* The states a script call checks are read with one MGET, whatever the number of keys and requests in the call
 * (a GET per key cost Redis a redis.call each): two requests of 3 and 2 limits sent in one turn make one call
 * with one MGET and no GET, and each is decided as before (a key counted twice shows the first count) */
static void test_one_read_per_call(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    redis_spec spec = one_server(&u, single.port);
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    char err[256];
    store *s = redis_store_new(base, &spec, &rcfg, err, sizeof err);
    static const char *const keys[2][3] = {{"read-a", "read-b", "read-c"}, {"read-d", "read-a", NULL}};
    store_batch b[2];
    (void)st;

    memset(b, 0, sizeof b);
    wait_up(base, s);
    freeReplyObject(redis_cmd(single.port, "CONFIG RESETSTAT"));
    batches_done = 0;
    for (int i = 0; i < 2; i++) {
        batch_reset(&b[i], 1700000000000ULL);
        b[i].commit = 1;
        for (int k = 0; k < 3 && keys[i][k]; k++)
            batch_add(&b[i], STORE_WINDOW, (const unsigned char *)keys[i][k], strlen(keys[i][k]))->win =
                (window_spec){60000, 5, 6};
        assert_int_equal(store_submit(s, &b[i], on_done_count, NULL), STORE_PENDING);
    }
    while (batches_done < 2)
        event_base_loop(base, EVLOOP_ONCE);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(b[i].status, 0);
        assert_int_equal(b[i].denied, -1);
    }
    assert_int_equal(b[0].ops[0].peek.total, 1);
    assert_int_equal(b[1].ops[0].peek.total, 1);
    assert_int_equal(b[1].ops[1].peek.total, 2); /* read-a, counted by the first request of the call */
    redisReply *cs = redis_cmd(single.port, "INFO commandstats");
    assert_non_null(cs);
    assert_non_null(strstr(cs->str, "cmdstat_evalsha:calls=1,"));
    assert_non_null(strstr(cs->str, "cmdstat_mget:calls=1,"));
    assert_null(strstr(cs->str, "cmdstat_get:")); /* read-a's second read is the value the first count wrote */
    freeReplyObject(cs);
    for (int i = 0; i < 2; i++)
        batch_release(&b[i]);
    store_free(s);
    event_base_free(base);
}

/* late_trips - the script calls sent to the server so far (round trips) */
static uint64_t late_trips(store *s)
{
    store_server sv;
    assert_int_equal(store_servers(s, &sv, 1), 1);
    return sv.round_trips;
}

/* Requests that come together go in calls of half the requests outstanding at most (4 at least), the rest when
 * the first call is answered: 12 requests for one key submitted in one loop turn make a call of 6 at once and
 * one of 6 when it is answered (all of them in one call of 12 before), so that under load the requests form
 * two halves that take turns, one in Redis while the daemon answers the other (README Performance). Each is
 * decided as if alone, in order: totals 1 to 12. A 13th request then, with 6 the most a call may take while
 * the peak of 12 is recent, goes at once in a call of its own. */
static void test_calls_take_half(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    redis_spec spec = one_server(&u, single.port);
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    char err[256];
    store *s = redis_store_new(base, &spec, &rcfg, err, sizeof err);
    store_batch b[13];
    (void)st;

    memset(b, 0, sizeof b);
    wait_up(base, s);
    uint64_t trips = late_trips(s);
    batches_done = 0;
    for (int i = 0; i < 13; i++) {
        batch_reset(&b[i], 1700000000000ULL);
        b[i].commit = 1;
        batch_add(&b[i], STORE_WINDOW, (const unsigned char *)"calls-half", 10)->win =
            (window_spec){60000, 100, 6};
    }
    for (int i = 0; i < 12; i++)
        assert_int_equal(store_submit(s, &b[i], on_done_count, NULL), STORE_PENDING);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(late_trips(s), trips + 1);
    while (batches_done < 6)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(batches_done, 6); /* the first call's half, answered together */
    while (batches_done < 12)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(late_trips(s), trips + 2);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(b[i].status, 0);
        assert_int_equal(b[i].denied, -1);
        assert_int_equal(b[i].ops[0].peek.total, i + 1);
    }
    assert_int_equal(store_submit(s, &b[12], on_done_count, NULL), STORE_PENDING);
    while (batches_done < 13)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(late_trips(s), trips + 3);
    assert_int_equal(b[12].ops[0].peek.total, 13);
    for (int i = 0; i < 13; i++)
        batch_release(&b[i]);
    store_free(s);
    event_base_free(base);
}

/* The script call of a turn's requests is written to Redis in that same turn of the event loop: hiredis's own
 * libevent adapter only armed a write event there, which the next turn's epoll_wait reported (a turn later,
 * and four epoll_ctl calls per command with its read event re-added after each reply). One turn is run,
 * without waiting, then Redis is watched (deadline 5 s) for the EVALSHA; the request then completes. */
static void test_call_written_in_its_turn(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    redis_spec spec = one_server(&u, single.port);
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    char err[256];
    store *s = redis_store_new(base, &spec, &rcfg, err, sizeof err);
    store_batch b = {0};
    int seen = 0;
    (void)st;

    wait_up(base, s);
    freeReplyObject(redis_cmd(single.port, "CONFIG RESETSTAT"));
    batch_reset(&b, 1700000000000ULL);
    b.commit = 1;
    batch_add(&b, STORE_WINDOW, (const unsigned char *)"inturn", 6)->win = (window_spec){60000, 5, 6};
    batch_done = 0;
    assert_int_equal(store_submit(s, &b, on_done, NULL), STORE_PENDING);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* the turn that sends the store's pending calls */
    for (int i = 0; i < 500 && !seen; i++) {
        redisReply *cs = redis_cmd(single.port, "INFO commandstats");
        seen = cs && cs->type == REDIS_REPLY_STRING && strstr(cs->str, "cmdstat_evalsha:calls=1,");
        freeReplyObject(cs);
        if (!seen)
            poll(NULL, 0, 10);
    }
    assert_true(seen);
    while (!batch_done)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(b.status, 0);
    assert_int_equal(b.ops[0].admitted, 1);
    batch_release(&b);
    store_free(s);
    event_base_free(base);
}

/* ---- the fleet mirror (mirror.h) ---- */

typedef struct seen {
    int puts, dels, begins, ends;
    char last_key[64], last_val[64];
    uint64_t last_exp;
    char keys[16][64];   /* keys put during the last resync */
    int nkeys;
} seen;

/* on_apply - remember what a mirror hands over */
static void on_apply(int op, const mirror_rec *r, void *arg)
{
    seen *w = arg;

    assert_int_equal(r->cls, 27);
    if (op == MIRROR_SYNC_BEGIN) {
        w->begins++;
        w->nkeys = 0;
        return;
    }
    if (op == MIRROR_SYNC_END) {
        w->ends++;
        return;
    }
    snprintf(w->last_key, sizeof w->last_key, "%.*s", (int)r->klen, (const char *)r->key);
    w->last_val[0] = '\0';
    if (op == MIRROR_PUT || op == MIRROR_SYNC_PUT) {
        w->puts++;
        snprintf(w->last_val, sizeof w->last_val, "%.*s", (int)r->vlen, (const char *)r->val);
        w->last_exp = r->expires;
        if (w->nkeys < 16)
            snprintf(w->keys[w->nkeys++], sizeof w->keys[0], "%s", w->last_key);
    } else {
        w->dels++;
    }
}

/* loop_until - run the loop until *flag reaches want (bounded) */
static void loop_until(struct event_base *base, const int *flag, int want)
{
    for (int i = 0; i < 2000 && *flag < want; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    assert_int_equal(*flag, want);
}

/* put - a class 27 record */
static void put(mirror *m, const char *key, const char *val, uint64_t exp)
{
    mirror_rec r = {27, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val), exp};
    assert_int_equal(mirror_put(m, &r), 0);
}

/* Two daemons' mirrors on one Redis: a put and a delete made through one reach the other (never itself); a
 * mirror that starts later reads the whole set (what was deleted or expired is not in it, a record kept for
 * ever is); a hostile message on the channel is dropped. */
static void test_mirror(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    rconn_config cfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    const uint8_t classes[] = {27};
    seen wa = {0}, wb = {0}, wc = {0};
    (void)st;

    snprintf(url, sizeof url, "redis://127.0.0.1:%u/4", single.port);
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    mirror *a = mirror_new(base, &u, &cfg, classes, 1, on_apply, &wa, err, sizeof err);
    mirror *b = mirror_new(base, &u, &cfg, classes, 1, on_apply, &wb, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    /* each resyncs once it listens: an empty set */
    loop_until(base, &wa.ends, 1);
    loop_until(base, &wb.ends, 1);
    assert_int_equal(wa.puts + wb.puts, 0);

    put(a, "192.0.2.1", "banned by a", 2000000000);
    loop_until(base, &wb.puts, 1);
    assert_string_equal(wb.last_key, "192.0.2.1");
    assert_string_equal(wb.last_val, "banned by a");
    assert_int_equal(wb.last_exp, 2000000000);
    assert_int_equal(wa.puts, 0); /* its own change is not handed back */

    assert_int_equal(mirror_del(b, 27, (const uint8_t *)"192.0.2.1", 9), 0);
    loop_until(base, &wa.dels, 1);
    assert_string_equal(wa.last_key, "192.0.2.1");

    put(a, "198.51.100.0/24", "kept", 2000000000);
    put(a, "2001:db8::/64", "for ever", 0);
    put(a, "203.0.113.9", "expired", 1000);
    assert_int_equal(mirror_expired(a, 27, (const uint8_t *)"203.0.113.9", 11, 1000), 0);
    /* an expiry that is not the stored one's (a later ban) leaves the record; for ever is never expired */
    assert_int_equal(mirror_expired(a, 27, (const uint8_t *)"198.51.100.0/24", 15, 1999999999), 0);
    assert_int_equal(mirror_expired(a, 27, (const uint8_t *)"2001:db8::/64", 13, 5), 0);
    loop_until(base, &wb.puts, 4);

    /* garbage published on the channel: dropped (too short; a key length past the end; an unknown class) */
    char ch[64];
    snprintf(ch, sizeof ch, "floodgate:mirror:4");
    redisContext *rc = redisConnect("127.0.0.1", (int)single.port);
    assert_non_null(rc);
    freeReplyObject(redisCommand(rc, "PUBLISH %s %b", ch, "x", (size_t)1));
    unsigned char bad[40] = {0};
    bad[16] = 1, bad[17] = 27, bad[26] = 0xff, bad[27] = 0xff;
    freeReplyObject(redisCommand(rc, "PUBLISH %s %b", ch, bad, sizeof bad));
    bad[17] = 99, bad[26] = 0, bad[27] = 1;
    freeReplyObject(redisCommand(rc, "PUBLISH %s %b", ch, bad, sizeof bad));
    redisFree(rc);

    mirror *c = mirror_new(base, &u, &cfg, classes, 1, on_apply, &wc, err, sizeof err);
    loop_until(base, &wc.ends, 1);
    assert_int_equal(wc.begins, 1);
    assert_int_equal(wc.nkeys, 2);
    int has24 = 0, has64 = 0;
    for (int i = 0; i < wc.nkeys; i++) {
        has24 += !strcmp(wc.keys[i], "198.51.100.0/24");
        has64 += !strcmp(wc.keys[i], "2001:db8::/64");
    }
    assert_true(has24 && has64);
    assert_int_equal(wb.puts, 4);
    assert_int_equal(wb.dels, 0);

    /* the server restarts its connections (CLIENT KILL): each mirror resyncs when it listens again */
    rc = redisConnect("127.0.0.1", (int)single.port);
    freeReplyObject(redisCommand(rc, "CLIENT KILL TYPE pubsub"));
    redisFree(rc);
    loop_until(base, &wc.ends, 2);
    assert_int_equal(wc.nkeys, 2);

    mirror_stats ms;
    mirror_get_stats(a, &ms);
    assert_int_equal(ms.sent, 4);
    assert_int_equal(ms.failed, 0);
    mirror_free(a);
    mirror_free(b);
    mirror_free(c);
    event_base_free(base);
}

/* Expired records leave the hash with a sweep (nobody has to read them again): one expired, one kept till
 * later, one kept for ever; the sweep removes the first alone. */
static void test_mirror_sweep(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    rconn_config cfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    const uint8_t classes[] = {27};
    seen w = {0};
    mirror_stats ms = {0};
    (void)st;

    snprintf(url, sizeof url, "redis://127.0.0.1:%u/9", single.port);
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    mirror *m = mirror_new(base, &u, &cfg, classes, 1, on_apply, &w, err, sizeof err);
    assert_non_null(m);
    loop_until(base, &w.ends, 1);
    put(m, "192.0.2.1", "expired", 1000);
    put(m, "192.0.2.2", "later", 2000);
    put(m, "192.0.2.3", "for ever", 0);
    assert_int_equal(mirror_sweep(m, 1500), 0);
    for (int i = 0; i < 2000 && ms.swept < 1; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
        mirror_get_stats(m, &ms);
    }
    assert_int_equal(ms.swept, 1);
    /* a daemon that reads the set now finds the two others */
    seen w2 = {0};
    mirror *m2 = mirror_new(base, &u, &cfg, classes, 1, on_apply, &w2, err, sizeof err);
    loop_until(base, &w2.ends, 1);
    assert_int_equal(w2.nkeys, 2);
    for (int i = 0; i < w2.nkeys; i++)
        assert_true(strcmp(w2.keys[i], "192.0.2.1"));
    mirror_free(m2);
    mirror_free(m);
    event_base_free(base);
}

/* log_count - a logger that counts warnings and errors, keeping the last */
static int logged;
static char logged_msg[512];
static void log_count(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > 4)
        return;
    logged++;
    va_start(ap, fmt);
    vsnprintf(logged_msg, sizeof logged_msg, fmt, ap);
    va_end(ap);
}

/* db_cmd - one command on db 7 of the single server */
static void db_cmd(const char *fmt, const void *a, size_t alen)
{
    redisContext *rc = redisConnect("127.0.0.1", (int)single.port);
    assert_non_null(rc);
    freeReplyObject(redisCommand(rc, "SELECT 7"));
    freeReplyObject(redisCommand(rc, fmt, a, alen));
    redisFree(rc);
}

/* info_num - the number after name in the INFO section of the server on port: 0 if absent, -1 if unreachable */
static long long info_num(unsigned port, const char *section, const char *name)
{
    char cmd[64];
    long long n = -1;
    const char *p;

    snprintf(cmd, sizeof cmd, "INFO %s", section);
    redisReply *x = redis_cmd(port, cmd);
    if (x && x->type == REDIS_REPLY_STRING)
        n = (p = strstr(x->str, name)) ? strtoll(p + strlen(name), NULL, 10) : 0;
    if (x)
        freeReplyObject(x);
    return n;
}

/* cmd_calls - calls of cmd (lower case) the server on port has answered (INFO commandstats): 0 if none, -1 if
 * unreachable */
static long long cmd_calls(unsigned port, const char *cmd)
{
    char name[64];

    snprintf(name, sizeof name, "cmdstat_%s:calls=", cmd);
    return info_num(port, "commandstats", name);
}

/* late_errors - the script calls that a server refused as run past their deadline (LATE), by its own count */
static long long late_errors(unsigned port)
{
    return info_num(port, "errorstats", "errorstat_LATE:count=");
}

/* eval_calls - the mirror's script calls the single server has answered (by sha) */
static long long eval_calls(void)
{
    return cmd_calls(single.port, "evalsha");
}

/* A resync that meets an error reply (a class hash's key of the wrong type) is retried with backoff, logged
 * once, and succeeds once the key is mended. */
static void test_mirror_resync_error(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    rconn_config cfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000, .log = log_count};
    const uint8_t classes[] = {27};
    const char hkey[8] = {27, (char)0xff, 'm', 'i', 'r', 'r', 'o', 'r'};
    seen w = {0};
    (void)st;

    db_cmd("SET %b wrong", hkey, sizeof hkey);
    logged = 0;
    snprintf(url, sizeof url, "redis://127.0.0.1:%u/7", single.port);
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    long long evals = eval_calls();
    mirror *m = mirror_new(base, &u, &cfg, classes, 1, on_apply, &w, err, sizeof err);
    assert_non_null(m);
    for (int i = 0; i < 2000 && eval_calls() < evals + 3; i++) { /* tried again, and again */
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    assert_true(eval_calls() >= evals + 3);
    assert_int_equal(w.ends, 0);
    assert_int_equal(logged, 1);
    assert_non_null(strstr(logged_msg, "WRONGTYPE"));
    db_cmd("DEL %b", hkey, sizeof hkey);
    loop_until(base, &w.ends, 1);
    assert_int_equal(logged, 1);
    mirror_stats ms;
    mirror_get_stats(m, &ms);
    assert_int_equal(ms.resyncs, 1);
    mirror_free(m);
    event_base_free(base);
}

/* ---- a server that answers the set-up but never confirms the first SUBSCRIBE ---- */

/* fake_reply - the answer to one command of the fake server (NULL: none) */
static const char *fake_reply(char **argv, size_t argc, int *subscribes, char *buf, size_t size)
{
    if (!argc)
        return NULL;
    if (!strcasecmp(argv[0], "SCRIPT"))
        return "$40\r\n0123456789012345678901234567890123456789\r\n";
    if (!strcasecmp(argv[0], "SUBSCRIBE") && argc == 2) {
        if ((*subscribes)++ == 0)
            return NULL; /* accepted, never confirmed */
        snprintf(buf, size, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n", strlen(argv[1]), argv[1]);
        return buf;
    }
    if (!strcasecmp(argv[0], "HSCAN"))
        return "*2\r\n$1\r\n0\r\n*0\r\n";
    if (!strcasecmp(argv[0], "AUTH") || !strcasecmp(argv[0], "SELECT"))
        return "+OK\r\n";
    return "-ERR unknown command\r\n";
}

/* fake_parse - one whole command (a RESP array of bulk strings) at the head of in, its first 8 arguments into argv
 * (the others are read past: the mirror's script call has 9); bytes used, 0 if incomplete */
static size_t fake_parse(const char *in, size_t len, char **argv, size_t *argc, char *store, size_t size)
{
    const char *p = in, *end = in + len;
    char *nl;
    size_t n, used = 0;

    if (len < 4 || *p != '*' || !(nl = memchr(p, '\n', len)))
        return 0;
    n = strtoul(p + 1, NULL, 10);
    p = nl + 1;
    *argc = 0;
    for (size_t i = 0; i < n; i++) {
        if (p >= end || *p != '$' || !(nl = memchr(p, '\n', (size_t)(end - p))))
            return 0;
        size_t l = strtoul(p + 1, NULL, 10);
        p = nl + 1;
        if ((size_t)(end - p) < l + 2 || (i < 8 && used + l + 1 > size))
            return 0;
        if (i < 8) {
            memcpy(store + used, p, l);
            store[used + l] = '\0';
            argv[(*argc)++] = store + used;
            used += l + 1;
        }
        p += l + 2;
    }
    return (size_t)(p - in);
}

/* fake_serve - the fake server's loop (in a child): one buffer per client */
static void fake_serve(int lfd)
{
    struct pollfd pf[16];
    char in[16][4096];
    size_t have[16] = {0};
    int n = 1, subscribes = 0;

    pf[0] = (struct pollfd){lfd, POLLIN, 0};
    for (;;) {
        if (poll(pf, (nfds_t)n, -1) < 0)
            continue;
        if ((pf[0].revents & POLLIN) && n < 16) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                pf[n] = (struct pollfd){c, POLLIN, 0};
                have[n++] = 0;
            }
        }
        for (int i = 1; i < n; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(pf[i].fd, in[i] + have[i], sizeof in[i] - have[i]);
            if (r <= 0) {
                close(pf[i].fd);
                pf[i] = pf[n - 1];
                memcpy(in[i], in[n - 1], have[n - 1]);
                have[i] = have[n - 1];
                n--, i--;
                continue;
            }
            have[i] += (size_t)r;
            char *argv[8], store[4096], out[512];
            size_t argc, used;
            while ((used = fake_parse(in[i], have[i], argv, &argc, store, sizeof store))) {
                const char *rep = fake_reply(argv, argc, &subscribes, out, sizeof out);
                if (rep && write(pf[i].fd, rep, strlen(rep)) < 0)
                    break;
                memmove(in[i], in[i] + used, have[i] - used);
                have[i] -= used;
            }
        }
    }
}

/* fake_start - the fake server on a free loopback port, in a child tracked for kill_all; its port */
static unsigned fake_start(pid_t *pid)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even a killed one */
        fake_serve(lfd);
        _exit(0);
    }
    close(lfd);
    track(*pid);
    return ntohs(sa.sin_port);
}

/* on_sub_up - count a subscriber's coming up */
static void on_sub_up(rconn *rc, int up, void *arg)
{
    (void)rc;
    *(int *)arg += up;
}

/* A server that takes the connection and the set-up but never confirms the SUBSCRIBE (issue 10): the subscriber
 * gives up on it after the request timeout, reconnects, and is up once a SUBSCRIBE is confirmed. */
static void test_subscribe_timeout(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    int ups = 0;
    rconn_config cfg = {.timeout_ms = 200, .connect_timeout_ms = 5000, .subscribe = "floodgate:mirror:3",
                        .on_state = on_sub_up, .state_arg = &ups};
    pid_t pid;
    (void)st;

    snprintf(url, sizeof url, "redis://127.0.0.1:%u/3", fake_start(&pid));
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    rconn *rc = rconn_new(base, &u, &cfg, err, sizeof err);
    assert_non_null(rc);
    loop_until(base, &ups, 1);
    rconn_stats rs;
    rconn_get_stats(rc, &rs);
    assert_int_equal(rs.up, 1);
    assert_int_equal(rs.timeouts, 1);
    rconn_free(rc);
    event_base_free(base);
    reap(pid, SIGKILL);
}

/* The deadline of a script call (rconn_fail_by, rconn_server_deadline): the earliest its caller can be answered
 * NULL, which is an earlier command's deadline when one is in flight (its passing drops the connection), moved
 * to the server's clock by the largest offset the replies have shown; none before any has. Against a listener
 * that never answers: the set-up commands (connect_timeout 2 s) are in flight ahead of a command whose own
 * timeout is 5 s. Fails when a call's deadline is its own timeout (the script of a request answered on_error
 * when an earlier command timed out would run and count) */
static void test_call_deadline(void **st)
{
    struct event_base *base = event_base_new();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    rconn_url u;
    char err[256], url[64];
    rconn_config cfg = {.timeout_ms = 5000, .connect_timeout_ms = 2000, .script = "return 1", .clock = 1};
    (void)st;

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 4), 0); /* never accepted: the kernel completes the connect, nobody answers */
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, sizeof url, "redis://127.0.0.1:%u/0", ntohs(sa.sin_port));
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    uint64_t t0 = rconn_now_ms();
    rconn *rc = rconn_new(base, &u, &cfg, err, sizeof err);
    assert_non_null(rc);
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    assert_int_equal(rconn_send(rc, 1, argv, lens, NULL, NULL), 0);
    uint64_t t1 = rconn_now_ms(), by = rconn_fail_by(rc, 0);
    /* the set-up's deadline (sent at t0 or later, 2 s), not the PING's or a new command's (5 s) */
    assert_true(by >= t0 + 2000 && by <= t1 + 2000);
    assert_int_equal(rconn_fail_by(rc, t0 + 700), t0 + 700); /* a caller's own, earlier */
    assert_int_equal(rconn_server_deadline(rc, 0), 0);       /* TIME never answered: no deadline */
    /* a server clock 10^12 ms ahead: the deadline is fail_by in it, minus 2 ms, never later */
    const uint64_t ahead = 1000000000000ULL;
    uint64_t s0 = rconn_now_ms();
    rconn_clock_sample(rc, (int64_t)(s0 + ahead));
    uint64_t d = rconn_server_deadline(rc, 0), s1 = rconn_now_ms();
    by = rconn_fail_by(rc, 0);
    assert_true(d <= by + ahead - 2 && d + (s1 - s0) >= by + ahead - 2);
    /* a reply that waited (a lower offset) does not lower it; a higher one raises it */
    rconn_clock_sample(rc, (int64_t)(rconn_now_ms() + ahead - 5000));
    assert_true(rconn_server_deadline(rc, 0) >= d);
    rconn_clock_sample(rc, (int64_t)(rconn_now_ms() + ahead + 5000));
    assert_true(rconn_server_deadline(rc, 0) >= d + 5000 - (rconn_now_ms() - s0));
    rconn_free(rc);
    close(lfd);
    event_base_free(base);
}

/* ---- a server that answers a script call late in the timeout with NOSCRIPT or MOVED, then never again ---- */

enum { LATE_NOSCRIPT, LATE_MOVED, LATE_STORM, LATE_ERROR };

/* late_serve - the late server's loop (in a child): set-up answered at once, CLUSTER SLOTS with the whole map on
 * itself ('S' on evfd), the first script call answered after delay_ms (NOSCRIPT, MOVED to itself, or with
 * LATE_ERROR an error that is not retried), every
 * later one never ('R' on evfd); LATE_STORM: every script call answered MOVED to itself at once. A connection's
 * commands are answered in order, as Redis does: nothing behind the late one is answered before it, nothing
 * behind one never answered ever is (a reply out of order would be taken for the held command's) */
static void late_serve(int lfd, unsigned port, int mode, unsigned delay_ms, int evfd)
{
    struct pollfd pf[8];
    static char in[8][131072], store[131072]; /* SCRIPT LOAD and EVAL carry the script's text */
    size_t have[8] = {0};
    int n = 1, scripts = 0, late_fd = -1, stuck[8] = {0};
    char late[128];
    struct timespec due = {0, 0};

    pf[0] = (struct pollfd){lfd, POLLIN, 0};
    for (;;) {
        int wait = -1, ready = -1; /* ready: a connection whose held reply went out, with commands behind it */
        if (late_fd >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long ms = (due.tv_sec - now.tv_sec) * 1000LL + (due.tv_nsec - now.tv_nsec) / 1000000;
            if (ms <= 0) {
                if (write(late_fd, late, strlen(late)) < 0)
                    _exit(1);
                for (int i = 1; i < n; i++)
                    if (pf[i].fd == late_fd)
                        ready = i;
                late_fd = -1;
            } else {
                wait = (int)ms;
            }
        }
        if (ready < 0 && poll(pf, (nfds_t)n, wait) <= 0)
            continue;
        if (ready < 0 && (pf[0].revents & POLLIN) && n < 8) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                pf[n] = (struct pollfd){c, POLLIN, 0};
                stuck[n] = 0;
                have[n++] = 0;
            }
        }
        for (int i = 1; i < n; i++) {
            if (i != ready && (ready >= 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))))
                continue;
            ssize_t r = i == ready ? 1 : read(pf[i].fd, in[i] + have[i], sizeof in[i] - have[i]);
            if (r <= 0) {
                if (pf[i].fd == late_fd)
                    late_fd = -1;
                close(pf[i].fd);
                pf[i] = pf[n - 1];
                memcpy(in[i], in[n - 1], have[n - 1]);
                have[i] = have[n - 1];
                stuck[i] = stuck[n - 1];
                n--, i--;
                continue;
            }
            if (i != ready)
                have[i] += (size_t)r;
            char *argv[8], out[256];
            size_t argc, used;
            while (!stuck[i] && pf[i].fd != late_fd &&
                   (used = fake_parse(in[i], have[i], argv, &argc, store, sizeof store))) {
                const char *rep = NULL;
                if (!argc)
                    rep = NULL;
                else if (!strcasecmp(argv[0], "SCRIPT"))
                    rep = "$40\r\n0123456789012345678901234567890123456789\r\n";
                else if (!strcasecmp(argv[0], "CLUSTER")) {
                    snprintf(out, sizeof out, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%u\r\n", port);
                    rep = out;
                    if (write(evfd, "S", 1) < 0)
                        _exit(1);
                } else if (!strncasecmp(argv[0], "EVAL", 4)) {
                    if (mode == LATE_STORM) {
                        snprintf(out, sizeof out, "-MOVED 1 127.0.0.1:%u\r\n", port);
                        rep = out;
                    } else if (scripts++ == 0) {
                        snprintf(late, sizeof late,
                                 mode == LATE_NOSCRIPT ? "-NOSCRIPT No matching script.\r\n"
                                 : mode == LATE_ERROR  ? "-ERR late\r\n"
                                                       : "-MOVED 1 127.0.0.1:%u\r\n",
                                 port);
                        late_fd = pf[i].fd;
                        clock_gettime(CLOCK_MONOTONIC, &due);
                        due.tv_sec += delay_ms / 1000;
                        due.tv_nsec += (long)(delay_ms % 1000) * 1000000;
                        if (due.tv_nsec >= 1000000000)
                            due.tv_sec++, due.tv_nsec -= 1000000000;
                    } else {
                        stuck[i] = 1;
                        if (write(evfd, "R", 1) < 0)
                            _exit(1);
                    }
                } else
                    rep = "+OK\r\n"; /* AUTH, SELECT, READONLY, ASKING, PING */
                if (rep && write(pf[i].fd, rep, strlen(rep)) < 0)
                    break;
                memmove(in[i], in[i] + used, have[i] - used);
                have[i] -= used;
            }
        }
    }
}

/* late_start - the late server on a free loopback port, in a child tracked for kill_all; its port, and the read
 * end of its event pipe in *evfd */
static unsigned late_start(pid_t *pid, int mode, unsigned delay_ms, int *evfd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), ev[2];

    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(pipe(ev), 0);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even a killed one */
        close(ev[0]);
        late_serve(lfd, ntohs(sa.sin_port), mode, delay_ms, ev[1]);
        _exit(0);
    }
    close(lfd);
    close(ev[1]);
    track(*pid);
    *evfd = ev[0];
    return ntohs(sa.sin_port);
}

/* late_event - run the loop until the late server reports event c (bounded) */
static void late_event(struct event_base *base, int evfd, char c)
{
    for (int i = 0; i < 2000; i++) {
        struct pollfd pf = {evfd, POLLIN, 0};
        char got;
        while (poll(&pf, 1, 0) == 1 && read(evfd, &got, 1) == 1)
            if (got == c)
                return;
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    fail_msg("the late server never reported '%c'", c);
}

typedef struct late_answer {
    store *s;
    int done, status;
    store_server sv; /* the server's state when the request was answered */
} late_answer;

/* on_late_done - the request's answer, and the connection's state at that moment */
static void on_late_done(store_batch *b, void *arg)
{
    late_answer *a = arg;
    a->done = 1;
    a->status = b->status;
    assert_int_equal(store_servers(a->s, &a->sv, 1), 1);
}

/* late_retry - one request whose script call is answered NOSCRIPT or MOVED 0.4 timeout after it was sent, and
 * whose retry is never answered */
static void late_retry(int mode)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    redis_config rcfg = {.timeout_ms = 1500, .connect_timeout_ms = 5000};
    pid_t pid;
    int evfd;
    store_batch b;
    late_answer a = {0};

    snprintf(url, sizeof url, "redis://127.0.0.1:%u", late_start(&pid, mode, 600, &evfd));
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    redis_spec spec = {.kind = mode == LATE_MOVED ? REDIS_CLUSTER : REDIS_SINGLE, .urls = &u, .nurls = 1};
    a.s = redis_store_new(base, &spec, &rcfg, err, sizeof err);
    assert_non_null(a.s);
    wait_up(base, a.s);
    if (mode == LATE_MOVED)
        late_event(base, evfd, 'S'); /* the server answered CLUSTER SLOTS */
    /* the request, sent once the map is in: the server's 'S' can come before its answer was read, and a request
     * with no node for its slot is answered at once (STORE_DONE) */
    int sent = STORE_DONE;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 400 && sent == STORE_DONE; i++) {
        if (i) {
            struct timeval tv = {0, 5000};
            event_base_loopexit(base, &tv);
            event_base_dispatch(base);
        }
        batch_reset(&b, 1700000000000ULL);
        batch_add(&b, STORE_WINDOW, (const unsigned char *)"late", 4)->win = (window_spec){3600000, 10, 10};
        b.commit = 1;
        sent = store_submit(a.s, &b, on_late_done, &a);
    }
    assert_int_equal(sent, STORE_PENDING);
    late_event(base, evfd, 'R'); /* retried (EVAL, or EVALSHA on the node of MOVED) */
    while (!a.done)
        event_base_loop(base, EVLOOP_ONCE);
    /* answered on_error by the first deadline: the retry's own timeout has not run out, so the connection is
     * still up, no outage started (with a fresh timeout for the retry, only the connection's drop answered it) */
    assert_int_equal(a.status, -1);
    assert_int_equal(a.sv.up, 1);
    assert_int_equal(a.sv.outages, 0);
    /* the request failed once, and stays counted once when the server goes away with the retry still in flight
     * (its answer was dropped, not failed a second time): what else was in flight then fails (after MOVED, the
     * map refresh, CLUSTER SLOTS, waiting behind the retry), the retry does not */
    assert_int_equal(a.sv.failed, 1);
    reap(pid, SIGKILL);
    wait_servers(base, a.s, 0);
    store_server sv;
    assert_int_equal(store_servers(a.s, &sv, 1), 1);
    assert_int_equal(sv.up, 0);
    assert_int_equal(sv.failed, a.sv.failed + a.sv.depth - 1);
    batch_release(&b);
    store_free(a.s);
    event_base_free(base);
    close(evfd);
}

/* A request retried after NOSCRIPT (the server lost its scripts) or MOVED (a slot moved) keeps its first deadline
 * (issue 10: no request waits longer than the timeout): a server that answers the script call late in the timeout
 * and then does not answer the retry leaves the request waiting no more than store.timeout, and it gets on_error
 * then, not a whole timeout after the retry was sent. */
static void test_retry_keeps_deadline(void **st)
{
    (void)st;
    late_retry(LATE_NOSCRIPT);
    late_retry(LATE_MOVED);
}

enum { LATE_REQS = 13 };

/* late_fix - a store on the late server (store.timeout timeout_ms; the first script call answered with an error
 * after delay_ms, none after it) and LATE_REQS requests of one window each, for keys prefix0, prefix1, ... */
typedef struct late_fix {
    struct event_base *base;
    store *s;
    pid_t pid;
    int evfd;
    char key[LATE_REQS][16];
    store_batch b[LATE_REQS];
    late_answer a[LATE_REQS];
} late_fix;

static void late_open(late_fix *f, unsigned timeout_ms, unsigned delay_ms, const char *prefix)
{
    rconn_url u;
    char err[256], url[64];
    redis_config rcfg = {.timeout_ms = timeout_ms, .connect_timeout_ms = 5000};

    memset(f, 0, sizeof *f);
    f->base = event_base_new();
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", late_start(&f->pid, LATE_ERROR, delay_ms, &f->evfd));
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    redis_spec spec = {.kind = REDIS_SINGLE, .urls = &u, .nurls = 1};
    f->s = redis_store_new(f->base, &spec, &rcfg, err, sizeof err);
    assert_non_null(f->s);
    wait_up(f->base, f->s);
    for (int i = 0; i < LATE_REQS; i++) {
        f->a[i].s = f->s;
        snprintf(f->key[i], sizeof f->key[i], "%s%d", prefix, i);
        batch_reset(&f->b[i], 1700000000000ULL);
        batch_add(&f->b[i], STORE_WINDOW, (const unsigned char *)f->key[i], strlen(f->key[i]))->win =
            (window_spec){3600000, 10, 10};
        f->b[i].commit = 1;
    }
}

static void late_close(late_fix *f)
{
    for (int i = 0; i < LATE_REQS; i++)
        batch_release(&f->b[i]);
    store_free(f->s);
    event_base_free(f->base);
    close(f->evfd);
    reap(f->pid, SIGKILL);
}

/* late_submit - request i goes to the store */
static void late_submit(late_fix *f, int i)
{
    assert_int_equal(store_submit(f->s, &f->b[i], on_late_done, &f->a[i]), STORE_PENDING);
}

/* late_held - requests A, B and C (store.timeout 3000 ms) on the late server, which answers A's call with an error
 * after delay_ms and never answers the next; B and, with held = 2, C come in loop iterations of their own while
 * A's call is in flight. released_by: 'k' A's answer (it comes within a quarter of the timeout), 'q' a quarter of
 * the timeout after B came (A's answer comes later). B alone goes in a call of its own, B and C in one merged */
static void late_held(unsigned delay_ms, char released_by, int held)
{
    late_fix f;
    int n = 1 + held;

    late_open(&f, 3000, delay_ms, "held");
    uint64_t trips = late_trips(f.s);
    /* A goes at the end of its loop iteration; B and C, each in an iteration of its own, wait */
    late_submit(&f, 0);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(late_trips(f.s), trips + 1);
    for (int i = 1; i < n; i++) {
        late_submit(&f, i);
        for (int k = 0; k < 4; k++)
            event_base_loop(f.base, EVLOOP_NONBLOCK);
        assert_int_equal(late_trips(f.s), trips + 1);
        assert_int_equal(f.a[i].done, 0);
    }
    /* then what was held goes, in one call, which is never answered: when A's answer comes, or a quarter of the
     * timeout after B came, behind A's call */
    while (!f.a[0].done && late_trips(f.s) == trips + 1)
        event_base_loop(f.base, EVLOOP_ONCE);
    if (released_by == 'k') /* A's answer and the flush that sends B and C run in one loop iteration */
        event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(late_trips(f.s), trips + 2);
    assert_int_equal(f.a[0].done, released_by == 'k');
    late_event(f.base, f.evfd, 'R');
    while (!f.a[0].done || !f.a[1].done || (n > 2 && !f.a[2].done))
        event_base_loop(f.base, EVLOOP_ONCE);
    assert_int_equal(f.a[0].status, -1);
    /* what was held is answered on_error by its own deadline (3000 ms after it came): the call's own timeout,
     * counted from when it was sent, has not run out then, so the connection is still up and no outage started */
    for (int i = 1; i < n; i++) {
        assert_int_equal(f.a[i].status, -1);
        assert_int_equal(f.a[i].sv.up, 1);
        assert_int_equal(f.a[i].sv.outages, 0);
    }
    late_close(&f);
}

/* late_split - request A on the late server, which answers it with an error after 1000 ms and never answers the
 * next call; 12 requests come in one turn while A's call is in flight (store.timeout 2000 ms). They wait a quarter
 * of the timeout, then go behind A's call all in one call: past their quarter, none is held back as the rest of a
 * split, where a remainder waited for A's answer, or, had the connection dropped meanwhile, for ever (the release
 * timer, armed for an instant already past, wrapped to ~10^16 s). No third call is made, and all 13 get on_error
 * by their deadline with the connection up. */
static void late_split(void)
{
    late_fix f;

    late_open(&f, 2000, 1000, "split");
    uint64_t trips = late_trips(f.s);
    late_submit(&f, 0);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(late_trips(f.s), trips + 1);
    for (int i = 1; i < LATE_REQS; i++)
        late_submit(&f, i);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(late_trips(f.s), trips + 1);
    /* at their quarter (500 ms), behind A's call: all 12 in it */
    while (late_trips(f.s) == trips + 1)
        event_base_loop(f.base, EVLOOP_ONCE);
    assert_int_equal(f.a[0].done, 0);
    late_event(f.base, f.evfd, 'R');
    /* A's answer (1000 ms) sends nothing more: nothing was left */
    while (!f.a[0].done)
        event_base_loop(f.base, EVLOOP_ONCE);
    for (int k = 0; k < 4; k++)
        event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(late_trips(f.s), trips + 2);
    int left = LATE_REQS;
    while (left) {
        event_base_loop(f.base, EVLOOP_ONCE);
        left = 0;
        for (int i = 0; i < LATE_REQS; i++)
            left += !f.a[i].done;
    }
    assert_int_equal(late_trips(f.s), trips + 2);
    for (int i = 0; i < LATE_REQS; i++) {
        assert_int_equal(f.a[i].status, -1);
        assert_int_equal(f.a[i].sv.up, 1);
    }
    late_close(&f);
}

/* Requests that come while the store's script call to their server is in flight wait for its answer and then go
 * together in one call, instead of a small call per loop iteration queued behind it (under load that halved the
 * script calls per request); a quarter of store.timeout at most, then they go behind it; and none waits longer
 * than store.timeout after it came: a server that answers the first call late and never answers the next leaves
 * the later requests waiting that long, not a whole timeout after their call was sent (merged or alone). */
static void test_held_while_a_call_is_in_flight(void **st)
{
    (void)st;
    late_held(300, 'k', 2);
    late_held(1500, 'q', 2);
    late_held(300, 'k', 1);
    late_split();
}

typedef struct late_write {
    mirror *m;
    int unwritten;            /* MIRROR_UNWRITTEN_PUT handed back */
    int next;                 /* mirror_del's answer when it was: 0 taken, -1 refused (the connection was down) */
    mirror_stats ms;          /* the mirror's stats then */
} late_write;

/* on_late_apply - a put handed back unwritten: is the data connection still taking writes at that moment? */
static void on_late_apply(int op, const mirror_rec *r, void *arg)
{
    late_write *w = arg;

    if (op != MIRROR_UNWRITTEN_PUT)
        return;
    assert_int_equal(r->cls, 27);
    w->unwritten++;
    mirror_get_stats(w->m, &w->ms);
    w->next = mirror_del(w->m, 27, (const uint8_t *)"192.0.2.9", 9);
}

/* The fleet mirror's write on a cluster, answered MOVED 0.4 timeout after it was sent and never again (issue 10,
 * as test_retry_keeps_deadline for the store): it is handed back unwritten when store.timeout has passed since
 * the first send, while its connection is up and still takes writes. With a fresh timeout for the retry, only
 * the connection's drop a whole timeout after the retry answered it, and the next write was refused. */
static void test_mirror_retry_keeps_deadline(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    rconn_config cfg = {.timeout_ms = 1500, .connect_timeout_ms = 5000};
    const uint8_t classes[] = {27};
    late_write w = {0};
    pid_t pid;
    int evfd, sent = -1;
    (void)st;

    snprintf(url, sizeof url, "redis://127.0.0.1:%u", late_start(&pid, LATE_MOVED, 600, &evfd));
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    w.m = mirror_new_cluster(base, &u, 1, &cfg, classes, 1, on_late_apply, &w, err, sizeof err);
    assert_non_null(w.m);
    late_event(base, evfd, 'S'); /* the node answered CLUSTER SLOTS */
    /* the put, once the map is in (before, there is no node for the slot: refused at once) */
    mirror_rec rec = {27, (const uint8_t *)"192.0.2.8", 9, (const uint8_t *)"late", 4, 2000000000};
    for (int i = 0; i < 400 && sent < 0; i++) {
        if (i) {
            struct timeval tv = {0, 5000};
            event_base_loopexit(base, &tv);
            event_base_dispatch(base);
        }
        sent = mirror_put(w.m, &rec);
    }
    assert_int_equal(sent, 0);
    mirror_stats before;
    mirror_get_stats(w.m, &before); /* the puts refused before the map was in are counted failed */
    late_event(base, evfd, 'R'); /* sent again to the node of MOVED */
    while (!w.unwritten)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(w.unwritten, 1);
    assert_int_equal(w.next, 0);
    assert_int_equal(w.ms.failed, before.failed + 1);
    mirror_free(w.m); /* the retry and the del, still in flight, are dropped without a callback */
    event_base_free(base);
    close(evfd);
    reap(pid, SIGKILL);
}

/* A cluster node that answers every script call MOVED (to itself: a storm, as while slots move or a node is
 * misconfigured): each request follows REDIS_RETRIES_MAX redirects and gets on_error, and the map is asked for
 * CLUSTER_REFRESH_FAST_MS apart at the soonest, however many MOVED come (each asked for one, one in flight at a
 * time: one CLUSTER SLOTS per MOVED). The bound is counted against the storm's own length, so a slow machine
 * only loosens it. */
static void test_moved_storm_bounded(void **st)
{
    struct event_base *base = event_base_new();
    rconn_url u;
    char err[256], url[64];
    redis_config rcfg = {.timeout_ms = 5000, .connect_timeout_ms = 5000};
    pid_t pid;
    int evfd, asked = 1; /* the 'S' of the first map, read by late_event */
    store_batch b;
    store_stats ss = {0};
    (void)st;

    uint64_t t0 = rconn_now_ms();
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", late_start(&pid, LATE_STORM, 0, &evfd));
    assert_int_equal(rconn_url_parse(url, &u, err, sizeof err), 0);
    redis_spec spec = {.kind = REDIS_CLUSTER, .urls = &u, .nurls = 1};
    store *s = redis_store_new(base, &spec, &rcfg, err, sizeof err);
    assert_non_null(s);
    wait_up(base, s);
    late_event(base, evfd, 'S');
    memset(&b, 0, sizeof b);
    for (int r = 0; r < 20; r++) {
        char key[16];
        int sent = STORE_DONE;
        snprintf(key, sizeof key, "storm%d", r);
        /* a request before the map is in is answered at once: sent again a moment later */
        for (int i = 0; i < 400 && sent == STORE_DONE; i++) {
            if (i) {
                struct timeval tv = {0, 5000};
                event_base_loopexit(base, &tv);
                event_base_dispatch(base);
            }
            batch_reset(&b, 1700000000000ULL);
            batch_add(&b, STORE_WINDOW, (const unsigned char *)key, strlen(key))->win = (window_spec){3600000, 10, 10};
            b.commit = 1;
            batch_done = 0;
            sent = store_submit(s, &b, on_done, NULL);
        }
        assert_int_equal(sent, STORE_PENDING);
        while (!batch_done)
            event_base_loop(base, EVLOOP_ONCE);
        assert_int_equal(b.status, -1);
    }
    uint64_t storm_ms = rconn_now_ms() - t0;
    store_get_stats(s, &ss);
    struct pollfd pf = {evfd, POLLIN, 0};
    char got;
    while (poll(&pf, 1, 0) == 1 && read(evfd, &got, 1) == 1)
        asked += got == 'S';
    assert_true(ss.redirects >= 20 * 5);
    if ((uint64_t)asked > 2 + storm_ms / CLUSTER_REFRESH_FAST_MS)
        fail_msg("the node was asked CLUSTER SLOTS %d times in %llu ms of %llu MOVED", asked,
                 (unsigned long long)storm_ms, (unsigned long long)ss.redirects);
    /* the stat counts what was sent: the node answered each of them, or the last is still in flight */
    assert_true(ss.cluster_refreshes == (uint64_t)asked || ss.cluster_refreshes == (uint64_t)asked + 1);
    batch_release(&b);
    store_free(s);
    event_base_free(base);
    close(evfd);
    reap(pid, SIGKILL);
}

/* ---- floodgated ---- */

typedef struct fgd {
    pid_t pid;
    char conf[600], policy[600], control[600], log[600];
} fgd;

#define RULES                                                                                                  \
    "rules = (\n"                                                                                              \
    "  { name = \"per-sender\"; on = \"smtp:RCPT\"; limit = { key = [\"sender\"]; count = 3; per = \"1h\"; };\n" \
    "    action = \"DEFER_IF_PERMIT 4.7.1 Too many recipients from $sender\"; },\n"                             \
    "  { name = \"per-client\"; on = \"smtp:RCPT\"; limit = { key = [\"client_address\"]; count = 1000; per = \"1h\"; };\n" \
    "    action = \"DEFER_IF_PERMIT 4.7.1 Too many from $client_address\"; }\n"                                 \
    ");\n"

/* connect_unix - a client socket, -1 if nobody listens */
static int connect_unix(const char *path)
{
    return sock_connect_unix(path);
}

/* short_timeout - store.timeout of the tests that kill a server: longer under valgrind, whose slowness
 * must not look like an outage */
static const char *short_timeout(void)
{
    return getenv("FG_WRAPPER") ? "3s" : "300ms";
}

/* fgd_start_listen - floodgated named name with these more listen settings (listen_more: "" none), this store
 * group and rules, running when this returns */
static void fgd_start_listen(fgd *d, const char *name, const char *listen_more, const char *store_conf,
                             const char *rules)
{
    snprintf(d->conf, sizeof d->conf, "%s/%s.conf", dir, name);
    snprintf(d->policy, sizeof d->policy, "%s/%s-policy.sock", dir, name);
    snprintf(d->control, sizeof d->control, "%s/%s-control.sock", dir, name);
    snprintf(d->log, sizeof d->log, "%s/%s.log", dir, name);
    FILE *f = fopen(d->conf, "w");
    assert_non_null(f);
    fprintf(f, "listen = { policy = \"unix:%s\"; control = \"unix:%s\"; %s };\nstore = { %s };\n%s", d->policy,
            d->control, listen_more, store_conf, rules);
    fclose(f);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even a killed one */
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        char wrapper[1024], *argv[32];
        int argc = 0;
        dup2(fd, 2);
        /* $FG_WRAPPER (valgrind ...) runs the daemon under a tool, as in test_daemon */
        if (getenv("FG_WRAPPER")) {
            snprintf(wrapper, sizeof wrapper, "%s", getenv("FG_WRAPPER"));
            for (char *t = strtok(wrapper, " "); t && argc < 24; t = strtok(NULL, " "))
                argv[argc++] = t;
        }
        argv[argc++] = (char *)daemon_bin;
        argv[argc++] = "-c";
        argv[argc++] = d->conf;
        argv[argc] = NULL;
        execvp(argv[0], argv);
        _exit(127);
    }
    track(d->pid);
    for (int i = 0; i < 3000; i++) {
        int fd = connect_unix(d->control);
        if (fd >= 0) {
            close(fd);
            return;
        }
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
            fail_msg("floodgated exited at start; see %s", d->log);
        poll(NULL, 0, 10);
    }
    fail_msg("floodgated did not start");
}

/* fgd_start_rules - floodgated named name with this store group and rules, running when this returns */
static void fgd_start_rules(fgd *d, const char *name, const char *store_conf, const char *rules)
{
    fgd_start_listen(d, name, "", store_conf, rules);
}

/* fgd_start - the same with the rules of RULES */
static void fgd_start(fgd *d, const char *name, const char *store_conf)
{
    fgd_start_rules(d, name, store_conf, RULES);
}

/* fgd_stop - SIGTERM; it must exit 0 */
static void fgd_stop(fgd *d)
{
    int status = 0;
    kill(d->pid, SIGTERM);
    waitpid(d->pid, &status, 0);
    for (int i = 0; i < PIDS_MAX; i++)
        if (pids[i] == d->pid)
            pids[i] = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* query - one policy request; the action (static buffer) */
static const char *query(fgd *d, const char *sender, const char *client)
{
    static char buf[4096];
    char req[1024];
    int fd = connect_unix(d->policy);

    assert_true(fd >= 0);
    int n = snprintf(req, sizeof req,
                     "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\n"
                     "recipient=rcpt@example.com\n\n",
                     client, sender);
    assert_int_equal(write(fd, req, (size_t)n), n);
    sock_read_reply(fd, buf, sizeof buf);
    close(fd);
    assert_true(!strncmp(buf, "action=", 7));
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return buf + 7;
}

/* ctl_stat - one value of floodgatectl stats (static buffer), "" if absent */
static const char *ctl_stat(fgd *d, const char *name)
{
    static char out[65536], val[256];
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s -s %s stats", ctl_bin, d->control);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    pclose(p);
    out[n] = '\0';
    val[0] = '\0';
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        size_t l = strlen(name);
        if (!strncmp(line, name, l) && line[l] == ' ') {
            char *v = line + l;
            while (*v == ' ')
                v++;
            snprintf(val, sizeof val, "%s", v);
        }
    }
    return val;
}

/* wait_connected - until floodgatectl stats shows server i connected */
static void wait_connected(fgd *d, int i)
{
    char name[64];
    snprintf(name, sizeof name, "server.%d.connected", i);
    for (int n = 0; n < 1000; n++) {
        if (!strcmp(ctl_stat(d, name), "yes"))
            return;
        poll(NULL, 0, 20);
    }
    fail_msg("server %d of %s did not connect", i, d->conf);
}

/* Two floodgated on one Redis share a limit exactly: 3 recipients per sender in all. */
static void test_two_daemons_share_a_limit(void **st)
{
    fgd a, b;
    char store_conf[256];
    int passed = 0;
    (void)st;

    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u/2\"; timeout = \"2s\";",
             single.port);
    fgd_start(&a, "share-a", store_conf);
    fgd_start(&b, "share-b", store_conf);
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    for (int i = 0; i < 10; i++)
        passed += !strcmp(query(i % 2 ? &b : &a, "shared@example.org", "192.0.2.7"), "DUNNO");
    assert_int_equal(passed, 3);
    /* one script call per request, on database 2 */
    assert_int_equal(strtoull(ctl_stat(&a, "server.0.round_trips"), NULL, 10), 5);
    /* each server's state in stats (issue 10): its name, and the commands: SELECT, TIME (the server's clock, for
     * the scripts' deadlines) and SCRIPT LOAD pipelined at connect (three in flight), then the five script calls
     * one at a time, all answered, with a measured p99 */
    char name[64];
    snprintf(name, sizeof name, "127.0.0.1:%u", single.port);
    assert_string_equal(ctl_stat(&a, "store_servers"), "1");
    assert_string_equal(ctl_stat(&a, "server.0.name"), name);
    assert_string_equal(ctl_stat(&a, "server.0.connected"), "yes");
    assert_string_equal(ctl_stat(&a, "server.0.outages"), "0");
    assert_string_equal(ctl_stat(&a, "server.0.commands"), "8");
    assert_string_equal(ctl_stat(&a, "server.0.failed"), "0");
    assert_string_equal(ctl_stat(&a, "server.0.pipeline_depth"), "0");
    assert_string_equal(ctl_stat(&a, "server.0.pipeline_max"), "3");
    assert_true(strtoull(ctl_stat(&a, "server.0.p99_us"), NULL, 10) > 0);
    /* the server forgets its scripts (SCRIPT FLUSH): NOSCRIPT, answered by sending the script text */
    redisReply *r = redis_cmd(single.port, "SCRIPT FLUSH");
    freeReplyObject(r);
    assert_string_equal(query(&a, "other@example.org", "192.0.2.7"), "DUNNO");
    assert_true(!strncmp(query(&b, "shared@example.org", "192.0.2.7"), "DEFER_IF_PERMIT 4.7.1", 21));
    fgd_stop(&a);
    fgd_stop(&b);
}

/* Two daemons with one store.distinct_key count distinct values together on Redis: a sender counted by
 * one passes on the other without counting again; a daemon with another key fingerprints differently,
 * so the same sender reads as new to it */
static void test_fleet_distinct(void **st)
{
    fgd a, b, c;
    char store_conf[320], other[320];
    static const char *const rules =
        "rules = (\n"
        "  { name = \"senders-per-ip\"; on = \"smtp:RCPT\";\n"
        "    limit = { key = [\"client_address\"]; distinct = \"sender\"; count = 3; per = \"1h\"; };\n"
        "    action = \"DEFER_IF_PERMIT 4.7.1 Too many senders from $client_address\"; }\n"
        ");\n";
    (void)st;

    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u/4\"; timeout = \"2s\"; "
             "distinct_key = \"fleet secret 0123456789\";", single.port);
    snprintf(other, sizeof other, "type = \"redis\"; url = \"redis://127.0.0.1:%u/4\"; timeout = \"2s\"; "
             "distinct_key = \"another secret 0123456789\";", single.port);
    fgd_start_rules(&a, "distinct-a", store_conf, rules);
    fgd_start_rules(&b, "distinct-b", store_conf, rules);
    fgd_start_rules(&c, "distinct-c", other, rules);
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    wait_connected(&c, 0);
    assert_string_equal(query(&a, "s0@example.org", "192.0.2.9"), "DUNNO");
    assert_string_equal(query(&b, "s1@example.org", "192.0.2.9"), "DUNNO");
    assert_string_equal(query(&a, "S2@example.org", "192.0.2.9"), "DUNNO");
    assert_true(!strncmp(query(&b, "s3@example.org", "192.0.2.9"), "DEFER_IF_PERMIT 4.7.1 Too many senders", 38));
    assert_string_equal(query(&b, "s0@example.org", "192.0.2.9"), "DUNNO"); /* counted by a */
    assert_string_equal(query(&a, "s2@example.org", "192.0.2.9"), "DUNNO");
    assert_true(!strncmp(query(&c, "s0@example.org", "192.0.2.9"), "DEFER_IF_PERMIT 4.7.1 Too many senders", 38));
    fgd_stop(&a);
    fgd_stop(&b);
    fgd_stop(&c);
}

/* send_all - write a whole request */
static void send_all(int fd, const char *req)
{
    size_t len = strlen(req);
    assert_int_equal(write(fd, req, len), (ssize_t)len);
}

/* token_of - the token= value of a lock reply (static buffer), "" if none */
static const char *token_of(const char *reply)
{
    static char tok[80];
    const char *t = strstr(reply, "token=");
    size_t n = 0;

    tok[0] = '\0';
    if (t)
        for (t += 6; n < sizeof tok - 1 && t[n] && t[n] != '\n'; n++)
            tok[n] = t[n];
    tok[n] = '\0';
    return tok;
}

/* Lock exclusivity under contention: two floodgated on one Redis race for one task lock, both requests
 * in flight at once, round after round. Each round exactly one gets it (never two owners, never none:
 * the lock is free when a round starts); a wrong token neither unlocks nor renews it; its owner releases it. */
static void test_lock_contention(void **st)
{
    fgd a, b;
    char store_conf[256], ra[4096], rb[4096], req[512];
    int rounds = getenv("FG_WRAPPER") ? 100 : 1000, wins_a = 0, wins_b = 0;
    (void)st;

    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u/3\"; timeout = \"5s\";",
             single.port);
    fgd_start(&a, "lock-a", store_conf);
    fgd_start(&b, "lock-b", store_conf);
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    int fa = connect_unix(a.control), fb = connect_unix(b.control);
    assert_true(fa >= 0 && fb >= 0);
    const char *lock = "command=kv\narg1=lock\narg2=task-lock\narg3=nightly\nttl=1h\n\n";
    for (int i = 0; i < rounds; i++) {
        /* both in flight before either answer is read; who goes first alternates */
        send_all(i % 2 ? fb : fa, lock);
        send_all(i % 2 ? fa : fb, lock);
        sock_read_reply(fa, ra, sizeof ra);
        sock_read_reply(fb, rb, sizeof rb);
        int got_a = strstr(ra, "locked=yes") != NULL, got_b = strstr(rb, "locked=yes") != NULL;
        if (got_a + got_b != 1)
            fail_msg("round %d: %d owners\nA: %sB: %s", i, got_a + got_b, ra, rb);
        assert_non_null(strstr(got_a ? rb : ra, "locked=no"));
        wins_a += got_a;
        wins_b += got_b;
        int owner = got_a ? fa : fb, other = got_a ? fb : fa;
        char token[80];
        snprintf(token, sizeof token, "%s", token_of(got_a ? ra : rb));
        assert_int_equal(strlen(token), 32);
        /* the loser, with a token of the right shape that is not the owner's: refused */
        snprintf(req, sizeof req, "command=kv\narg1=unlock\narg2=task-lock\narg3=nightly\narg4=%032d\n\n", i);
        send_all(other, req);
        assert_non_null(strstr(sock_read_reply(other, ra, sizeof ra), "unlocked=no"));
        snprintf(req, sizeof req, "command=kv\narg1=renew\narg2=task-lock\narg3=nightly\narg4=%032d\nttl=1h\n\n", i);
        send_all(other, req);
        assert_non_null(strstr(sock_read_reply(other, ra, sizeof ra), "renewed=no"));
        /* the owner releases it */
        snprintf(req, sizeof req, "command=kv\narg1=unlock\narg2=task-lock\narg3=nightly\narg4=%s\n\n", token);
        send_all(owner, req);
        assert_non_null(strstr(sock_read_reply(owner, ra, sizeof ra), "unlocked=yes"));
    }
    /* both daemons won some rounds: the race was real */
    assert_true(wins_a > 0 && wins_b > 0);
    close(fa);
    close(fb);
    fgd_stop(&a);
    fgd_stop(&b);
}

/* ctl_out - floodgatectl's output for args */
static const char *ctl_out(fgd *d, const char *args)
{
    static char out[65536];
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s -s %s %s", ctl_bin, d->control, args);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    pclose(p);
    out[n] = '\0';
    return out;
}

/* counter_try - floodgatectl counter RULE VALUE: the count, or -1 when the store did not answer */
static long long counter_try(fgd *d, const char *rule, const char *value)
{
    char args[256];
    snprintf(args, sizeof args, "counter %s %s", rule, value);
    const char *out = ctl_out(d, args), *c = strstr(out, "\ncount");
    if (!c)
        return -1;
    c += 6;
    while (*c == ' ' || *c == '=')
        c++;
    return strtoll(c, NULL, 10);
}

/* Two floodgated whose clocks are 30 s apart (FLOODGATE_TEST_CLOCK, `debug clock +30` on one) share a
 * window of 20 s exactly on the Redis server's TIME: 3 admitted in all. Counted on their own clocks, each
 * would see the other's counts as older than the window (or ahead of it) and admit more. */
static void test_skewed_daemons_share_one_window(void **st)
{
    fgd a, b;
    char store_conf[256];
    int passed = 0;
    (void)st;

    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u/6\"; timeout = \"2s\";",
             single.port);
    static const char *const rules =
        "rules = ( { name = \"per-sender\"; on = \"smtp:RCPT\"; limit = { key = [\"sender\"]; count = 3;"
        " per = \"20s\"; }; action = \"DEFER_IF_PERMIT 4.7.1 Too many\"; } );\n";
    setenv("FLOODGATE_TEST_CLOCK", "1", 1);
    fgd_start_rules(&a, "skew-a", store_conf, rules);
    fgd_start_rules(&b, "skew-b", store_conf, rules);
    unsetenv("FLOODGATE_TEST_CLOCK");
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    if (!strstr(ctl_out(&b, "debug clock +30"), "30"))
        fail_msg("debug clock +30 refused");
    for (int i = 0; i < 10; i++)
        passed += !strcmp(query(i % 2 ? &b : &a, "skewed@example.org", "192.0.2.7"), "DUNNO");
    assert_int_equal(passed, 3);
    fgd_stop(&a);
    fgd_stop(&b);
}

/* db_size - DBSIZE of database db on a server that wants the default user's password pass; -1 if unreachable */
static long long db_size(unsigned port, const char *pass, unsigned db)
{
    redisContext *c = redisConnect("127.0.0.1", (int)port);
    long long n = -1;

    assert_non_null(c);
    if (pass)
        freeReplyObject(redisCommand(c, "AUTH %s", pass));
    freeReplyObject(redisCommand(c, "SELECT %u", db));
    redisReply *r = redisCommand(c, "DBSIZE");
    if (r && r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* log_has - lines of d's log holding needle */
static int log_has(fgd *d, const char *needle)
{
    FILE *lf = fopen(d->log, "r");
    char line[2048];
    int n = 0;

    assert_non_null(lf);
    while (fgets(line, sizeof line, lf))
        n += strstr(line, needle) != NULL;
    fclose(lf);
    return n;
}

/* store.url's forms (issue 10): redis://user:password@host:port/db sends AUTH user password and SELECT db,
 * redis://password@host the default user's AUTH; both daemons count in database 3 and share a limit
 * exactly. A wrong password is refused: the daemon stays unconnected, answers on_error, and logs the
 * refusal without the password. unix:/path?db=N reaches the server on its socket, in database N, and
 * unix://user:password@/path?db=N and unix://password@/path?db=N one that wants a password. */
static void test_url_auth_select_unix(void **st)
{
    rsrv s, u;
    fgd a, b, c, d;
    char store_conf[600], conf[600];
    int passed = 0;
    (void)st;

    redis_start_conf(&s, 0, 0, "requirepass Open-Sesame-42\nuser alice on >Alice-Pw-77 ~* &* +@all\n");
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://alice:Alice-Pw-77@127.0.0.1:%u/3\"; timeout = \"2s\";", s.port);
    fgd_start(&a, "auth-user", store_conf);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://Open-Sesame-42@127.0.0.1:%u/3\"; timeout = \"2s\";", s.port);
    fgd_start(&b, "auth-default", store_conf);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://alice:Wrong-Pw-13@127.0.0.1:%u/3\"; timeout = \"2s\";", s.port);
    fgd_start(&c, "auth-wrong", store_conf);
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    for (int i = 0; i < 6; i++)
        passed += !strcmp(query(i % 2 ? &b : &a, "auth@example.org", "192.0.2.40"), "DUNNO");
    assert_int_equal(passed, 3);
    assert_true(db_size(s.port, "Open-Sesame-42", 3) > 0);
    assert_int_equal(db_size(s.port, "Open-Sesame-42", 0), 0);
    assert_string_equal(ctl_stat(&c, "server.0.connected"), "no");
    assert_true(!strncmp(query(&c, "auth@example.org", "192.0.2.40"), "DEFER_IF_PERMIT 4.3.0", 21));
    for (int i = 0; i < 500 && !log_has(&c, "AUTH refused"); i++)
        poll(NULL, 0, 10);
    assert_true(log_has(&c, "AUTH refused"));
    assert_false(log_has(&c, "Wrong-Pw-13"));
    fgd_stop(&a);
    fgd_stop(&b);
    fgd_stop(&c);
    reap(s.pid, SIGKILL);

    snprintf(conf, sizeof conf, "unixsocket %s/fg-redis.sock\nunixsocketperm 700\n", dir);
    redis_start_conf(&u, 0, 0, conf);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"unix:%s/fg-redis.sock?db=4\"; timeout = \"2s\";",
             dir);
    fgd_start(&d, "unix", store_conf);
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "unix@example.org", "192.0.2.41"), "DUNNO");
    assert_true(db_size(u.port, NULL, 4) > 0);
    assert_int_equal(db_size(u.port, NULL, 0), 0);
    fgd_stop(&d);
    reap(u.pid, SIGKILL);

    /* a password on a socket: unix://user:password@/path?db=N and unix://password@/path?db=N */
    snprintf(conf, sizeof conf,
             "unixsocket %s/fg-redis-auth.sock\nunixsocketperm 700\nrequirepass Open-Sesame-42\n"
             "user alice on >Alice-Pw-77 ~* &* +@all\n",
             dir);
    redis_start_conf(&u, 0, 0, conf);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"unix://alice:Alice-Pw-77@%s/fg-redis-auth.sock?db=5\"; timeout = \"2s\";", dir);
    fgd_start(&a, "unix-auth-user", store_conf);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"unix://Open-Sesame-42@%s/fg-redis-auth.sock?db=5\"; timeout = \"2s\";", dir);
    fgd_start(&b, "unix-auth-default", store_conf);
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    passed = 0;
    for (int i = 0; i < 6; i++)
        passed += !strcmp(query(i % 2 ? &b : &a, "unix-auth@example.org", "192.0.2.42"), "DUNNO");
    assert_int_equal(passed, 3);
    assert_true(db_size(u.port, "Open-Sesame-42", 5) > 0);
    assert_int_equal(db_size(u.port, "Open-Sesame-42", 0), 0);
    assert_false(log_has(&a, "Alice-Pw-77"));
    assert_false(log_has(&b, "Open-Sesame-42"));
    fgd_stop(&a);
    fgd_stop(&b);
    reap(u.pid, SIGKILL);
}

/* wait_action - poll d until a query of sender from client starts with want (bounded); the last action */
static const char *wait_action(fgd *d, const char *sender, const char *client, const char *want)
{
    const char *a = "";
    for (int i = 0; i < 500; i++) {
        a = query(d, sender, client);
        if (!strncmp(a, want, strlen(want)))
            break;
        poll(NULL, 0, 10);
    }
    return a;
}

#define STORED_LISTS                                                                                           \
    "lists = { blocked = { type = \"map\"; store = true; }; };\n"                                            \
    "rules = ( { name = \"blocked\"; on = \"smtp:RCPT\"; if = { sender = \"@blocked\"; };\n"                   \
    "            action = \"REJECT 5.7.1 ${list:blocked}\"; } );\n"

/* A map list kept in the store (issue 14): an entry added through one daemon's floodgatectl is matched by the
 * other; a delete through the other reaches the first; a daemon that starts later reads the list; a reload
 * keeps it; with Redis gone an edit is refused and changes nothing. */
static void test_stored_list(void **st)
{
    fgd a, b, c;
    rsrv r;
    char store_conf[256];
    (void)st;

    redis_start(&r, 0, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u/5\"; timeout = \"%s\";",
             r.port, short_timeout());
    fgd_start_rules(&a, "list-a", store_conf, STORED_LISTS);
    fgd_start_rules(&b, "list-b", store_conf, STORED_LISTS);
    wait_connected(&a, 0);
    wait_connected(&b, 0);
    for (int i = 0; i < 500 && strcmp(ctl_stat(&a, "mirror.up"), "yes"); i++)
        poll(NULL, 0, 10);
    assert_string_equal(ctl_stat(&b, "mirror.up"), "yes");
    assert_string_equal(query(&b, "spam@example.org", "192.0.2.40"), "DUNNO");

    assert_non_null(strstr(ctl_out(&a, "list blocked add Spam@Example.org 'sent spam 2026-12-04'"), "count"));
    assert_string_equal(wait_action(&b, "spam@example.org", "192.0.2.40", "REJECT"),
                        "REJECT 5.7.1 sent spam 2026-12-04");
    assert_non_null(strstr(ctl_out(&b, "list blocked add @bad.example junk"), "count"));
    /* a second add of the same key replaces its value, everywhere */
    ctl_out(&a, "list blocked add spam@example.org 'still spam'");
    assert_string_equal(wait_action(&b, "spam@example.org", "192.0.2.40", "REJECT 5.7.1 still"),
                        "REJECT 5.7.1 still spam");
    assert_non_null(strstr(ctl_out(&b, "--json list blocked show"), "\"count\":2"));

    assert_non_null(strstr(ctl_out(&b, "--json list blocked del spam@example.org"), "\"count\":1"));
    assert_string_equal(wait_action(&a, "spam@example.org", "192.0.2.40", "DUNNO"), "DUNNO");
    assert_string_equal(query(&a, "x@bad.example", "192.0.2.40"), "REJECT 5.7.1 junk");

    /* a third daemon reads the list when it starts */
    fgd_start_rules(&c, "list-c", store_conf, STORED_LISTS);
    assert_string_equal(wait_action(&c, "y@bad.example", "192.0.2.40", "REJECT"), "REJECT 5.7.1 junk");
    /* a fleet peer (or anyone with Redis) stuffs 1,100 more entries in, and c reads them (a resync after its
     * subscriber was cut): it keeps at most 1,000 entries of a stored list, those it held among them */
    redisContext *rc = redisConnect("127.0.0.1", (int)r.port);
    assert_non_null(rc);
    freeReplyObject(redisCommand(rc, "SELECT 5"));
    for (int i = 0; i < 1100; i++) {
        char field[64], val[64];
        int fl = snprintf(field, sizeof field, "%cblocked%ck%d.example", 29, 0, i);
        memset(val, 0, 8);
        int vl = 8 + snprintf(val + 8, sizeof val - 8, "k%d.example v", i);
        redisAppendCommand(rc, "HSET %b %b %b", "\x1d\xffmirror", (size_t)8, field, (size_t)fl, val, (size_t)vl);
    }
    for (int i = 0; i < 1100; i++) {
        redisReply *x = NULL;
        assert_int_equal(redisGetReply(rc, (void **)&x), REDIS_OK);
        freeReplyObject(x);
    }
    freeReplyObject(redisCommand(rc, "CLIENT KILL TYPE pubsub"));
    redisFree(rc);
    for (int i = 0; i < 500 && !strstr(ctl_out(&c, "--json list blocked show"), "\"count\":1000"); i++)
        poll(NULL, 0, 10);
    assert_non_null(strstr(ctl_out(&c, "--json list blocked show"), "\"count\":1000"));
    assert_string_equal(query(&c, "y@bad.example", "192.0.2.40"), "REJECT 5.7.1 junk");
    /* a reload keeps it */
    kill(c.pid, SIGHUP);
    for (int i = 0; i < 500 && strcmp(ctl_stat(&c, "reloads"), "1"); i++)
        poll(NULL, 0, 10);
    assert_string_equal(query(&c, "y@bad.example", "192.0.2.40"), "REJECT 5.7.1 junk");

    /* Redis gone: an edit is refused, and the list is as it was */
    reap(r.pid, SIGKILL);
    for (int i = 0; i < 500 && strcmp(ctl_stat(&a, "mirror.up"), "no"); i++)
        poll(NULL, 0, 10);
    const char *out = ctl_out(&a, "list blocked add new@example.org x");
    assert_non_null(strstr(out, "unavailable"));
    assert_non_null(strstr(ctl_out(&a, "--json list blocked show"), "\"count\":1"));
    assert_string_equal(query(&a, "new@example.org", "192.0.2.40"), "DUNNO");
    fgd_stop(&a);
    fgd_stop(&b);
    fgd_stop(&c);
}

/* fgd_reload_rules - rewrite d's configuration with these rules (the same sockets and store) and reload it */
static void fgd_reload_rules(fgd *d, const char *store_conf, const char *rules)
{
    char want[32], now[32];
    snprintf(now, sizeof now, "%s", ctl_stat(d, "reloads"));
    snprintf(want, sizeof want, "%llu", strtoull(now, NULL, 10) + 1);
    FILE *f = fopen(d->conf, "w");
    assert_non_null(f);
    fprintf(f, "listen = { policy = \"unix:%s\"; control = \"unix:%s\"; };\nstore = { %s };\n%s", d->policy,
            d->control, store_conf, rules);
    fclose(f);
    kill(d->pid, SIGHUP);
    for (int i = 0; i < 500 && strcmp(ctl_stat(d, "reloads"), want); i++)
        poll(NULL, 0, 10);
    assert_string_equal(ctl_stat(d, "reloads"), want);
}

/* A stored list that a reload adds (issue 10) has the entries the fleet holds at once, not at the next resync. */
static void test_stored_list_reload(void **st)
{
    fgd a, b;
    rsrv r;
    char store_conf[256];
    (void)st;

    redis_start(&r, 0, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\";",
             r.port, short_timeout());
    fgd_start_rules(&a, "reload-a", store_conf, STORED_LISTS);
    fgd_start(&b, "reload-b", store_conf);
    for (int i = 0; i < 500 && strcmp(ctl_stat(&a, "mirror.up"), "yes"); i++)
        poll(NULL, 0, 10);
    assert_non_null(strstr(ctl_out(&a, "list blocked add spam@example.org 'sent spam'"), "count"));
    fgd_reload_rules(&b, store_conf, STORED_LISTS);
    assert_string_equal(wait_action(&b, "spam@example.org", "192.0.2.41", "REJECT"), "REJECT 5.7.1 sent spam");
    assert_non_null(strstr(ctl_out(&b, "--json list blocked show"), "\"count\":1"));
    fgd_stop(&a);
    fgd_stop(&b);
    reap(r.pid, SIGKILL);
}

/* A log watch whose report waits on the store (Redis stopped) while a reload removes the watch: the answer that
 * comes later finds its request slot still there (the watch was freed with it: a use after free), and the daemon
 * goes on and stops cleanly. The store's timeout is long, so the reload comes while the report waits. */
static void test_watch_removed_while_waiting(void **st)
{
    fgd d;
    rsrv r;
    char store_conf[256], rules[1400], logfile[700];
    (void)st;

    redis_start(&r, 0, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"30s\";",
             r.port);
    snprintf(logfile, sizeof logfile, "%s/watch-removed.mail.log", dir);
    FILE *f = fopen(logfile, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(rules, sizeof rules,
             "watch = ( { name = \"sasl\"; file = \"%s\"; event = \"auth_failure\";\n"
             "  match = \"/failed from (?<client_address>[0-9.]+)/\"; } );\n"
             "rules = ( { name = \"fails\"; on = \"report:auth_failure\";\n"
             "  limit = { key = \"client_address\"; count = 10; per = \"1h\"; }; } );\n",
             logfile);
    fgd_start_rules(&d, "watch-removed", store_conf, rules);
    wait_connected(&d, 0);
    assert_int_equal(kill(r.pid, SIGSTOP), 0);
    f = fopen(logfile, "a");
    assert_non_null(f);
    fprintf(f, "auth failed from 192.0.2.77\n");
    fclose(f);
    for (int i = 0; i < 500 && !strstr(ctl_out(&d, "--json watches"), "\"watch.sasl.matched\":1"); i++)
        poll(NULL, 0, 10);
    assert_non_null(strstr(ctl_out(&d, "--json watches"), "\"watch.sasl.matched\":1"));
    fgd_reload_rules(&d, store_conf, RULES);
    assert_int_equal(kill(r.pid, SIGCONT), 0);
    /* the report's answer comes back; then the daemon still answers, and stops with status 0 */
    wait_connected(&d, 0);
    assert_string_equal(wait_action(&d, "after@example.org", "192.0.2.78", "DUNNO"), "DUNNO");
    fgd_stop(&d);
    reap(r.pid, SIGKILL);
}

/* wait_mirror - until floodgatectl stats shows the fleet mirror listening (want "yes") or not ("no") */
static void wait_mirror(fgd *d, const char *want)
{
    for (int i = 0; i < 1000 && strcmp(ctl_stat(d, "mirror.up"), want); i++)
        poll(NULL, 0, 10);
    assert_string_equal(ctl_stat(d, "mirror.up"), want);
}

/* fleet - a redis-server and two daemons sharing it through the fleet mirror: the fleet tests' set-up */
typedef struct fleet {
    rsrv r;
    fgd a, b;
    char store_conf[256];
    const char *rules;        /* the daemons' rules (NULL: RULES); @NAME@ in them is the daemon's name */
} fleet;

/* fleet_daemon - start d as daemon NAME on the fleet's server, with the fleet's rules */
static void fleet_daemon(fleet *f, fgd *d, const char *name)
{
    static char rules[8192];
    const char *in = f->rules ? f->rules : RULES, *at;
    size_t n = 0, nl = strlen(name);

    while ((at = strstr(in, "@NAME@"))) {
        assert_true(n + (size_t)(at - in) + nl < sizeof rules);
        memcpy(rules + n, in, (size_t)(at - in));
        n += (size_t)(at - in);
        memcpy(rules + n, name, nl);
        n += nl;
        in = at + 6;
    }
    assert_true(n + strlen(in) < sizeof rules);
    memcpy(rules + n, in, strlen(in) + 1);
    fgd_start_rules(d, name, f->store_conf, rules);
}

/* fleet_start - a new redis-server, then the daemons NAME-a and NAME-b on it (the url's database path db, "" or
 * "/N", and more store settings in extra, "" none) with these rules (NULL: RULES), both mirrors listening */
static void fleet_start(fleet *f, const char *name, const char *db, const char *extra, const char *rules)
{
    char na[64], nb[64];

    redis_start(&f->r, 0, 0);
    snprintf(f->store_conf, sizeof f->store_conf,
             "type = \"redis\"; url = \"redis://127.0.0.1:%u%s\"; timeout = \"%s\";%s", f->r.port, db,
             short_timeout(), extra);
    f->rules = rules;
    snprintf(na, sizeof na, "%s-a", name);
    snprintf(nb, sizeof nb, "%s-b", name);
    fleet_daemon(f, &f->a, na);
    fleet_daemon(f, &f->b, nb);
    wait_mirror(&f->a, "yes");
    wait_mirror(&f->b, "yes");
}

/* fleet_stop - both daemons (each must exit 0), then the server */
static void fleet_stop(fleet *f)
{
    fgd_stop(&f->a);
    fgd_stop(&f->b);
    reap(f->r.pid, SIGKILL);
}

/* follower - floodgatectl bans --follow on a daemon, in a child */
typedef struct follower {
    pid_t pid;
    int fd;           /* its stdout */
    char text[16384]; /* what it printed so far */
    size_t len;
} follower;

/* follow_start - floodgatectl bans --follow on d, its output on a pipe; once it printed "synced" */
static void follow_start(follower *f, fgd *d)
{
    int p[2];
    memset(f, 0, sizeof *f);
    assert_int_equal(pipe(p), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even a killed one */
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(ctl_bin, ctl_bin, "-s", d->control, "bans", "--follow", (char *)NULL);
        _exit(127);
    }
    track(f->pid);
    close(p[1]);
    f->fd = p[0];
}

/* follow_wait - read until the output holds want (bounded) */
static void follow_wait(follower *f, const char *want)
{
    for (int i = 0; i < 1000 && !strstr(f->text, want); i++) {
        struct pollfd pf = {f->fd, POLLIN, 0};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        ssize_t n = read(f->fd, f->text + f->len, sizeof f->text - 1 - f->len);
        if (n <= 0)
            break;
        f->len += (size_t)n;
        f->text[f->len] = '\0';
    }
    if (!strstr(f->text, want))
        fail_msg("the follower did not print %s; it printed:\n%s", want, f->text);
}

/* follow_stop - end the follower */
static void follow_stop(follower *f)
{
    reap(f->pid, SIGTERM);
    close(f->fd);
}

/* Bans across a fleet (issue 10): a ban made through one daemon holds on the other within the poll, an unban
 * through the other lifts it on the first, a daemon that starts later has them, and a ban made while Redis
 * was away (and Redis restarted empty) reaches the others once it is back. */
static void test_fleet_bans(void **st)
{
    fleet f;
    fgd c;
    (void)st;

    fleet_start(&f, "fleet", "/6", "", NULL);
    assert_string_equal(query(&f.b, "x@example.org", "198.51.100.7"), "DUNNO");
    follower fa, fb;
    follow_start(&fa, &f.a);
    follow_start(&fb, &f.b);
    follow_wait(&fa, "synced 0\n");
    follow_wait(&fb, "synced 0\n");

    assert_non_null(strstr(ctl_out(&f.a, "ban 198.51.100.7 1h --reason 'seen by a'"), "198.51.100.7"));
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.7", "REJECT"),
                        "REJECT 5.7.1 Banned: seen by a");
    assert_non_null(strstr(ctl_out(&f.b, "--json bans"), "198.51.100.7"));
    follow_wait(&fb, "ban 198.51.100.7 "); /* b's --follow stream shows a's ban */
    ctl_out(&f.b, "unban 198.51.100.7");
    assert_string_equal(wait_action(&f.a, "x@example.org", "198.51.100.7", "DUNNO"), "DUNNO");
    follow_wait(&fa, "unban 198.51.100.7\n"); /* and a's shows b's unban */
    follow_stop(&fa);
    follow_stop(&fb);

    ctl_out(&f.b, "ban 203.0.113.0/24 2h --reason net");
    assert_string_equal(wait_action(&f.a, "x@example.org", "203.0.113.9", "REJECT"), "REJECT 5.7.1 Banned: net");
    fgd_start(&c, "fleet-c", f.store_conf);
    assert_string_equal(wait_action(&c, "x@example.org", "203.0.113.200", "REJECT"), "REJECT 5.7.1 Banned: net");
    fgd_stop(&c);

    /* Redis away: a's ban holds on a at once; Redis back empty: a writes its bans back and b gets them */
    reap(f.r.pid, SIGKILL);
    wait_mirror(&f.a, "no");
    ctl_out(&f.a, "ban 192.0.2.77 1h --reason 'during the outage'");
    assert_string_equal(query(&f.a, "x@example.org", "192.0.2.77"), "REJECT 5.7.1 Banned: during the outage");
    redis_start(&f.r, f.r.port, 0);
    wait_mirror(&f.a, "yes");
    assert_string_equal(wait_action(&f.b, "x@example.org", "192.0.2.77", "REJECT"),
                        "REJECT 5.7.1 Banned: during the outage");
    assert_string_equal(query(&f.b, "x@example.org", "203.0.113.1"), "REJECT 5.7.1 Banned: net");
    fleet_stop(&f);
}

/* Mirror writes call the script by its sha (EVALSHA: 40 bytes instead of the script's text each time, which a
 * big write-back after an outage held in memory once per ban); a server that lost its scripts (SCRIPT FLUSH)
 * answers NOSCRIPT once, gets the text, and the ban still reaches the other daemon. */
static void test_fleet_evalsha(void **st)
{
    fleet f;
    (void)st;

    fleet_start(&f, "sha", "/6", "", NULL);
    ctl_out(&f.a, "ban 198.51.100.9 1h --reason one");
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.9", "REJECT"), "REJECT 5.7.1 Banned: one");
    assert_true(cmd_calls(f.r.port, "evalsha") > 0);
    assert_int_equal(cmd_calls(f.r.port, "eval"), 0);

    redisReply *x = redis_cmd(f.r.port, "SCRIPT FLUSH");
    assert_non_null(x);
    freeReplyObject(x);
    ctl_out(&f.a, "ban 198.51.100.10 1h --reason two");
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.10", "REJECT"), "REJECT 5.7.1 Banned: two");
    assert_true(cmd_calls(f.r.port, "eval") >= 1);
    /* each store's counter script, flushed too, is sent once again by a request that counts */
    assert_string_equal(query(&f.a, "sha-a@example.org", "192.0.2.250"), "DUNNO");
    assert_string_equal(query(&f.b, "sha-b@example.org", "192.0.2.250"), "DUNNO");
    long long evals = cmd_calls(f.r.port, "eval");
    /* the EVAL cached the script again: the next ban goes by sha */
    ctl_out(&f.a, "ban 198.51.100.11 1h --reason three");
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.11", "REJECT"), "REJECT 5.7.1 Banned: three");
    assert_int_equal(cmd_calls(f.r.port, "eval"), evals);
    fleet_stop(&f);
}

/* A Redis server that hangs without closing its connections (SIGSTOP: a frozen VM, a stuck disk) is noticed by the
 * subscriber's heartbeat (store.heartbeat, answered within store.timeout), not minutes later by TCP keepalive:
 * the mirror is down in stats, one log line says why; once the server runs again (SIGCONT) the mirror is back and
 * a ban made on another daemon reaches this one. */
static void test_fleet_hung_server(void **st)
{
    fleet f;
    (void)st;

    fleet_start(&f, "hung", "/8", " heartbeat = \"200ms\";", NULL);
    assert_int_equal(kill(f.r.pid, SIGSTOP), 0);
    wait_mirror(&f.a, "no");
    for (int i = 0; i < 500 && !log_has(&f.a, "did not answer the subscriber's heartbeat"); i++)
        poll(NULL, 0, 10);
    assert_int_equal(log_has(&f.a, "did not answer the subscriber's heartbeat"), 1);
    assert_int_equal(kill(f.r.pid, SIGCONT), 0);
    wait_mirror(&f.a, "yes");
    wait_mirror(&f.b, "yes");
    ctl_out(&f.b, "ban 198.51.100.44 1h --reason thawed");
    assert_string_equal(wait_action(&f.a, "x@example.org", "198.51.100.44", "REJECT"), "REJECT 5.7.1 Banned: thawed");
    assert_int_equal(log_has(&f.a, "did not answer the subscriber's heartbeat"), 1); /* once per outage */
    fleet_stop(&f);
}

/* A Redis server slower than store.timeout for a moment (a fork for BGSAVE, a slow script: here a script that
 * holds it for the timeout and one heartbeat more) is not hung: the subscriber waits two heartbeats more than
 * a request would, so the mirror stays up, nothing is logged, and bans made after it still reach every daemon
 * without a resync of the whole fleet's state. */
static void test_fleet_slow_server(void **st)
{
    fleet f;
    char beat[48], hold[32];
    unsigned timeout_ms = getenv("FG_WRAPPER") ? 3000 : 300, beat_ms = 300;
    (void)st;

    snprintf(beat, sizeof beat, " heartbeat = \"%ums\";", beat_ms);
    fleet_start(&f, "slow", "/8", beat, NULL);
    /* a heartbeat goes out within the first beat_ms of the hold and waits more than the timeout for its answer */
    snprintf(hold, sizeof hold, "%u", (timeout_ms + beat_ms + 100) * 1000);
    struct timeval tv = {30, 0}; /* redis_cmd's 2 s is shorter than the hold under valgrind */
    redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)f.r.port, tv);
    assert_true(c && !c->err);
    redisSetTimeout(c, tv);
    redisReply *x = redisCommand(c, "EVAL %s 0 %s",
                                 "local s = redis.call('TIME') local n repeat n = redis.call('TIME') until "
                                 "(n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= tonumber(ARGV[1]) return 1",
                                 hold);
    redisFree(c);
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    ctl_out(&f.b, "ban 198.51.100.45 1h --reason slow");
    assert_string_equal(wait_action(&f.a, "x@example.org", "198.51.100.45", "REJECT"), "REJECT 5.7.1 Banned: slow");
    assert_string_equal(ctl_stat(&f.a, "mirror.up"), "yes");
    assert_string_equal(ctl_stat(&f.b, "mirror.up"), "yes");
    assert_int_equal(log_has(&f.a, "did not answer the subscriber's heartbeat"), 0);
    assert_int_equal(log_has(&f.b, "did not answer the subscriber's heartbeat"), 0);
    fleet_stop(&f);
}

/* peer_ban - publish, as a hostile fleet peer would, a ban of text (an address) with these times and reason on
 * the mirror's channel of database db (the hash is left alone: only the daemons that listen hear it) */
static void peer_ban(unsigned port, unsigned db, const char *text, uint64_t since, uint64_t expires,
                     const char *reason)
{
    unsigned char key[BANSTATE_KEY_MAX], val[BANSTATE_VALUE_MAX], msg[16 + 12 + BANSTATE_KEY_MAX + BANSTATE_VALUE_MAX];
    const char *why;
    ban_rec r;
    char channel[48];

    assert_int_equal(ban_parse(text, &r, &why), 0);
    r.since = since;
    r.expires = expires;
    r.times = 1;
    r.reason = reason;
    r.rule = "peer";
    size_t kl = banstate_key(KEY_BAN, &r, key), vl = banstate_encode_ban(&r, val), n = 0;
    memset(msg, 0x5a, 16); /* another daemon's id */
    n = 16;
    msg[n++] = MIRROR_PUT;
    msg[n++] = KEY_BAN;
    for (int i = 7; i >= 0; i--)
        msg[n++] = (unsigned char)(expires >> (8 * i));
    msg[n++] = (unsigned char)(kl >> 8);
    msg[n++] = (unsigned char)kl;
    memcpy(msg + n, key, kl);
    n += kl;
    memcpy(msg + n, val, vl);
    n += vl;
    snprintf(channel, sizeof channel, "floodgate:mirror:%u", db);
    redisReply *x = redis_cmd(port, "PUBLISH %s %b", channel, msg, n);
    assert_non_null(x);
    freeReplyObject(x);
}

/* A hostile fleet peer (anyone who can write to the fleet's Redis) publishes bans whose dates no calendar
 * holds (an expiry in the year 146 billion): every daemon goes on answering, and such a ban is refused;
 * a sane ban published after it still holds. */
static void test_fleet_hostile_peer(void **st)
{
    fgd a;
    rsrv r;
    char store_conf[256];
    (void)st;

    redis_start(&r, 0, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u/7\"; timeout = \"%s\";",
             r.port, short_timeout());
    fgd_start(&a, "hostile-a", store_conf);
    wait_mirror(&a, "yes");
    uint64_t now = (uint64_t)time(NULL);
    peer_ban(r.port, 7, "198.51.100.66", now, 1ULL << 62, "far future");
    peer_ban(r.port, 7, "198.51.100.67", 1ULL << 62, now + 3600, "since the far future");
    peer_ban(r.port, 7, "198.51.100.68", now, now + 3600, "sane");
    assert_string_equal(wait_action(&a, "x@example.org", "198.51.100.68", "REJECT"), "REJECT 5.7.1 Banned: sane");
    /* a flood of records that do not decode: a few log lines, not one each */
    for (int i = 0; i < 100; i++)
        peer_ban(r.port, 7, "198.51.100.66", now, 1ULL << 62, "far future");
    peer_ban(r.port, 7, "198.51.100.71", now, now + 3600, "after the flood");
    assert_string_equal(wait_action(&a, "x@example.org", "198.51.100.71", "REJECT"),
                        "REJECT 5.7.1 Banned: after the flood");
    FILE *lf = fopen(a.log, "r");
    char line[1024];
    int lines = 0;
    assert_non_null(lf);
    while (fgets(line, sizeof line, lf))
        lines += strstr(line, "does not decode") != NULL;
    fclose(lf);
    if (lines < 1 || lines > 8)
        fail_msg("%d log lines for 102 records that do not decode", lines);
    /* the two refused: not banned. Senders of their own: each DUNNO while a wait above polled for a ban to arrive
     * counted x@example.org, whose limit is 3 */
    assert_string_equal(query(&a, "y66@example.org", "198.51.100.66"), "DUNNO");
    assert_string_equal(query(&a, "y67@example.org", "198.51.100.67"), "DUNNO");
    assert_non_null(strstr(ctl_out(&a, "bans"), "198.51.100.68"));
    /* a reason with a newline and an escape sequence: the table and explain show them as \xNN */
    peer_ban(r.port, 7, "198.51.100.70", now, now + 3600, "two\nlines\x1b[2J");
    assert_string_equal(wait_action(&a, "x@example.org", "198.51.100.70", "REJECT"),
                        "REJECT 5.7.1 Banned: two?lines?[2J");
    const char *out = ctl_out(&a, "bans");
    if (!strstr(out, "two\\x0alines\\x1b[2J") || strchr(out, '\x1b'))
        fail_msg("bans:\n%s", out);
    out = ctl_out(&a, "explain smtp:RCPT client_address=198.51.100.70 sender=x@example.org");
    if (!strstr(out, "ban.reason") || !strstr(out, "  two\\x0alines\\x1b[2J\n") || strchr(out, '\x1b'))
        fail_msg("explain:\n%s", out);
    fgd_stop(&a);
    reap(r.pid, SIGKILL);
}

/* redis_hlen - records in the fleet mirror's hash of class cls (db 0; its epoch field not counted), -1 if
 * unreachable */
static long long redis_hlen(unsigned port, uint8_t cls)
{
    char h[8] = {(char)cls, (char)0xff, 'm', 'i', 'r', 'r', 'o', 'r'};
    redisReply *x = redis_cmd(port, "HLEN %b", h, sizeof h);
    long long n = x && x->type == REDIS_REPLY_INTEGER ? x->integer : -1;
    if (x)
        freeReplyObject(x);
    x = redis_cmd(port, "HEXISTS %b %b", h, sizeof h, "", (size_t)0);
    if (x && x->type == REDIS_REPLY_INTEGER && n > 0)
        n -= x->integer;
    if (x)
        freeReplyObject(x);
    return n;
}

/* wait_resyncs - until d's fleet mirror has finished more than `after` resyncs */
static void wait_resyncs(fgd *d, unsigned long long after)
{
    for (int i = 0; i < 1000 && strtoull(ctl_stat(d, "mirror.resyncs"), NULL, 10) <= after; i++)
        poll(NULL, 0, 10);
    assert_true(strtoull(ctl_stat(d, "mirror.resyncs"), NULL, 10) > after);
}

/* An unban made while Redis is away wins over the stale record (issue 10): Redis comes back with the ban still
 * in its hash (saved, restarted) and another daemon still holding it; the unbanning daemon's resync does not
 * bring the ban back, it writes the unban back, and the hash drops it. The other daemon, frozen meanwhile, comes
 * back after the write-back: it drops the ban too (Redis did not lose it: it was deleted) instead of writing its
 * copy back. */
static void test_fleet_unban_outage(void **st)
{
    fleet f;
    (void)st;

    fleet_start(&f, "unban", "", "", NULL);
    ctl_out(&f.a, "ban 198.51.100.8 1h --reason 'seen by a'");
    ctl_out(&f.a, "ban 198.51.100.9 1h --reason 'kept'");
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.8", "REJECT"), "REJECT 5.7.1 Banned: seen by a");
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.9", "REJECT"), "REJECT 5.7.1 Banned: kept");
    unsigned long long rb = strtoull(ctl_stat(&f.b, "mirror.resyncs"), NULL, 10);

    /* Redis goes away with the bans saved, b freezes; a unbans while Redis is away */
    redisReply *x = redis_cmd(f.r.port, "SAVE");
    assert_non_null(x);
    freeReplyObject(x);
    kill(f.b.pid, SIGSTOP);
    reap(f.r.pid, SIGKILL);
    wait_mirror(&f.a, "no");
    unsigned long long ra = strtoull(ctl_stat(&f.a, "mirror.resyncs"), NULL, 10);
    ctl_out(&f.a, "unban 198.51.100.8");
    assert_null(strstr(ctl_out(&f.a, "--json bans"), "198.51.100.8"));

    /* back with the saved hash: a's resync keeps the unban and writes it back; the hash keeps the other ban */
    redis_start(&f.r, f.r.port, 0);
    wait_mirror(&f.a, "yes");
    wait_resyncs(&f.a, ra);
    assert_string_equal(query(&f.a, "u1@example.org", "198.51.100.8"), "DUNNO");
    long long n = -1;
    for (int i = 0; i < 500 && n != 1; i++, poll(NULL, 0, 10))
        n = redis_hlen(f.r.port, 27);
    assert_int_equal(n, 1);

    /* b comes back: it drops the ban (its resync reads that Redis no longer has it) */
    kill(f.b.pid, SIGCONT);
    wait_mirror(&f.b, "yes");
    wait_resyncs(&f.b, rb);
    assert_string_equal(wait_action(&f.b, "u2@example.org", "198.51.100.8", "DUNNO"), "DUNNO");
    assert_string_equal(query(&f.b, "x@example.org", "198.51.100.9"), "REJECT 5.7.1 Banned: kept");
    assert_string_equal(query(&f.a, "x@example.org", "198.51.100.9"), "REJECT 5.7.1 Banned: kept");
    assert_string_equal(query(&f.a, "u3@example.org", "198.51.100.8"), "DUNNO");
    assert_int_equal(redis_hlen(f.r.port, 27), 1);
    fleet_stop(&f);
}

/* Redis loses a class's hash alone (evicted under an allkeys policy, deleted by hand): the daemons' next resync
 * writes their bans back instead of taking the missing hash for a fleet-wide unban. */
static void test_fleet_hash_lost(void **st)
{
    fleet f;
    const char hkey[8] = {27, (char)0xff, 'm', 'i', 'r', 'r', 'o', 'r'};
    (void)st;

    fleet_start(&f, "lost", "", "", NULL);
    ctl_out(&f.a, "ban 198.51.100.30 1h --reason 'kept by the fleet'");
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.30", "REJECT"),
                        "REJECT 5.7.1 Banned: kept by the fleet");
    unsigned long long ra = strtoull(ctl_stat(&f.a, "mirror.resyncs"), NULL, 10);
    unsigned long long rb = strtoull(ctl_stat(&f.b, "mirror.resyncs"), NULL, 10);
    redisReply *x = redis_cmd(f.r.port, "DEL %b", hkey, sizeof hkey);
    assert_non_null(x);
    freeReplyObject(x);
    x = redis_cmd(f.r.port, "CLIENT KILL TYPE pubsub"); /* both resync */
    assert_non_null(x);
    freeReplyObject(x);
    wait_resyncs(&f.a, ra);
    wait_resyncs(&f.b, rb);
    assert_string_equal(query(&f.a, "x@example.org", "198.51.100.30"), "REJECT 5.7.1 Banned: kept by the fleet");
    assert_string_equal(query(&f.b, "x@example.org", "198.51.100.30"), "REJECT 5.7.1 Banned: kept by the fleet");
    long long n = -1;
    for (int i = 0; i < 500 && n != 1; i++, poll(NULL, 0, 10))
        n = redis_hlen(f.r.port, 27);
    assert_int_equal(n, 1); /* written back */
    fleet_stop(&f);
}

/* file_lines - the lines of a file ("" when it is absent), in a static buffer */
static const char *file_lines(const char *path)
{
    static char buf[8192];
    FILE *fp = fopen(path, "r");
    size_t n = 0;

    if (fp) {
        n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
    }
    buf[n] = '\0';
    return buf;
}

/* sorted_lines - path's lines sorted (a hook's order is the order they ran in), in a static buffer */
static const char *sorted_lines(const char *path)
{
    static char out[8192];
    char copy[8192], *lines[64], *save = NULL;
    size_t n = 0;

    snprintf(copy, sizeof copy, "%s", file_lines(path));
    for (char *l = strtok_r(copy, "\n", &save); l && n < 64; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0, at = 0; i < n; i++)
        at += (size_t)snprintf(out + at, sizeof out - at, "%s\n", lines[i]);
    return out;
}

/* wait_lines - until path holds want (bounded); sorted: its lines in sorted order (a hook's lines come in the
 * order the hooks ran) */
static void wait_lines(const char *path, const char *want, int sorted)
{
    for (int i = 0; i < 1000 && strcmp(sorted ? sorted_lines(path) : file_lines(path), want); i++)
        poll(NULL, 0, 10);
    const char *got = sorted ? sorted_lines(path) : file_lines(path);
    if (strcmp(got, want))
        fail_msg("%s: want\n%s---\ngot\n%s---", path, want, got);
}

/* A daemon that (re)starts in a fleet reads the fleet's bans with its mirror's first resync, and restores them as
 * it restores a snapshot: no on_ban runs for them and no event=ban line is written (10,000 bans in the fleet were
 * 10,000 hook runs and lines per restart), one line says "bans: restored N bans", and its export file has them.
 * A resync after a reconnect restores nothing: a ban made, or made longer, elsewhere while it was not listening
 * runs on_ban and is logged, once; a ban it holds already, the same, runs nothing. */
static void test_fleet_restart_quiet(void **st)
{
    fleet f;
    char hook[700], hooks_b[700], export_b[700], rules[2048];
    (void)st;

    snprintf(hook, sizeof hook, "%s/fleet-hook.sh", dir);
    FILE *fp = fopen(hook, "w");
    assert_non_null(fp);
    fprintf(fp, "#!/bin/sh\nout=$1\nshift\necho \"$*\" >> \"$out\"\n");
    fclose(fp);
    assert_int_equal(chmod(hook, 0755), 0);
    snprintf(hooks_b, sizeof hooks_b, "%s/quiet-b.hooks", dir);
    snprintf(export_b, sizeof export_b, "%s/quiet-b.bans", dir);
    snprintf(rules, sizeof rules,
             "bans = { export = { format = \"plain\"; path = \"%s/@NAME@.bans\"; };\n"
             "         on_ban = [ \"%s\", \"%s/@NAME@.hooks\", \"$address\", \"$reason\" ]; hooks_max = 8; };\n%s",
             dir, hook, dir, RULES);
    fleet_start(&f, "quiet", "", "", rules); /* db 0: redis_hlen reads it */
    ctl_out(&f.a, "ban 198.51.100.1 1h --reason one");
    ctl_out(&f.a, "ban 198.51.100.2 1h --reason two");
    ctl_out(&f.a, "ban 198.51.100.3 1h --reason three");
    wait_lines(export_b, "198.51.100.1\n198.51.100.2\n198.51.100.3\n", 0);
    /* b heard them as they were made: its hooks ran then */
    wait_lines(hooks_b, "198.51.100.1 one\n198.51.100.2 two\n198.51.100.3 three\n", 1);

    /* b restarts: its first resync restores the three quietly; the export file (written at start) gets them */
    fgd_stop(&f.b);
    assert_int_equal(truncate(f.b.log, 0), 0);
    unlink(hooks_b);
    unlink(export_b);
    fleet_daemon(&f, &f.b, "quiet-b");
    wait_mirror(&f.b, "yes");
    wait_resyncs(&f.b, 0);
    wait_lines(export_b, "198.51.100.1\n198.51.100.2\n198.51.100.3\n", 0);
    assert_string_equal(query(&f.b, "x@example.org", "198.51.100.2"), "REJECT 5.7.1 Banned: two");
    assert_string_equal(ctl_stat(&f.b, "ban_hooks_started"), "0");
    assert_string_equal(ctl_stat(&f.b, "bans_issued"), "0");
    assert_int_equal(log_has(&f.b, "bans: restored 3 bans"), 1);
    assert_int_equal(log_has(&f.b, "event=ban "), 0);
    assert_int_equal(access(hooks_b, F_OK), -1);

    /* b stops listening (frozen, and the server drops its subscriber): a bans a new address and bans one again for
     * longer; b, back, reads them in a resync: on_ban runs for those two only */
    unsigned long long rb = strtoull(ctl_stat(&f.b, "mirror.resyncs"), NULL, 10);
    assert_int_equal(kill(f.b.pid, SIGSTOP), 0);
    redisReply *x = redis_cmd(f.r.port, "CLIENT KILL TYPE pubsub");
    assert_non_null(x);
    freeReplyObject(x);
    ctl_out(&f.a, "ban 198.51.100.4 1h --reason four");
    ctl_out(&f.a, "ban 198.51.100.2 2h --reason longer");
    long long n = -1;
    for (int i = 0; i < 500 && n != 4; i++, poll(NULL, 0, 10))
        n = redis_hlen(f.r.port, 27);
    assert_int_equal(n, 4);
    assert_int_equal(kill(f.b.pid, SIGCONT), 0);
    wait_resyncs(&f.b, rb);
    assert_string_equal(wait_action(&f.b, "x@example.org", "198.51.100.2", "REJECT 5.7.1 Banned: longer"),
                        "REJECT 5.7.1 Banned: longer");
    assert_string_equal(query(&f.b, "x@example.org", "198.51.100.4"), "REJECT 5.7.1 Banned: four");
    wait_lines(hooks_b, "198.51.100.2 longer\n198.51.100.4 four\n", 1);
    assert_string_equal(ctl_stat(&f.b, "ban_hooks_started"), "2");
    assert_int_equal(log_has(&f.b, "event=ban "), 2);
    assert_int_equal(log_has(&f.b, "bans: restored"), 1);
    fleet_stop(&f);
}

/* The ban history on Redis expires (issue 10): a ban's history entry carries its last ban plus the history
 * horizon (the longest history of the ban rules, here 30 days), so that the hash does not keep it for ever. */
static void test_fleet_history_expires(void **st)
{
    fgd d;
    rsrv r;
    char store_conf[256];
    const char hkey[8] = {28, (char)0xff, 'm', 'i', 'r', 'r', 'o', 'r'};
    (void)st;

    redis_start(&r, 0, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\";",
             r.port, short_timeout());
    fgd_start_rules(&d, "history", store_conf,
                    "rules = ( { name = \"rcpt-ban\"; on = \"smtp:RCPT\";\n"
                    "  ban = { key = \"client_address\"; count = 1; per = \"1h\"; history = \"30d\"; }; } );\n");
    wait_mirror(&d, "yes");
    query(&d, "h1@example.org", "192.0.2.66");
    query(&d, "h2@example.org", "192.0.2.66"); /* the second: banned by the rule, its history entry written */
    redisReply *x = NULL;
    for (int i = 0; i < 500; i++, poll(NULL, 0, 10)) {
        if (x)
            freeReplyObject(x);
        x = redis_cmd(r.port, "HGETALL %b", hkey, sizeof hkey);
        if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 4)
            break;
    }
    assert_non_null(x);
    assert_int_equal(x->elements, 4); /* the entry, and the hash's epoch (the empty field) */
    const redisReply *v = x->element[x->element[0]->len ? 1 : 3];
    assert_int_equal(v->len, 8 + 1 + 8 + 4); /* expiry, then version, last ban, times */
    uint64_t expires = 0, last = 0;
    for (int i = 0; i < 8; i++) {
        expires = expires << 8 | (unsigned char)v->str[i];
        last |= (uint64_t)(unsigned char)v->str[9 + i] << (8 * i);
    }
    freeReplyObject(x);
    assert_true(last > 1700000000);
    assert_int_equal(expires, last + 30 * 86400);
    fgd_stop(&d);
    reap(r.pid, SIGKILL);
}

/* Each rule's own on_error when Redis is gone: the rule that says allow lets its requests through, the
 * one that inherits store.on_error (tempfail) defers them; and explain reads the counters on Redis
 * (several rates) without counting. */
static void test_rule_on_error_and_explain(void **st)
{
    fgd d;
    rsrv s;
    char store_conf[256];
    (void)st;

    redis_start(&s, 0, 0);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\"; on_error = \"tempfail\";", s.port,
             short_timeout());
    fgd_start_rules(&d, "ruleerr", store_conf,
                    "rules = ( { name = \"open\"; on = \"smtp:RCPT\"; if = { sender = \"/^open/\"; };\n"
                    "            limit = { key = [\"sender\"]; count = 5; per = \"1m\"; }; on_error = \"allow\"; },\n"
                    "          { name = \"closed\"; on = \"smtp:RCPT\"; if = { sender = \"/^closed/\"; };\n"
                    "            limit = { key = [\"sender\"]; rates = [\"2/1m\", \"10/1h\"]; }; } );\n");
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "closed@example.org", "192.0.2.8"), "DUNNO");
    assert_string_equal(query(&d, "closed@example.org", "192.0.2.8"), "DUNNO");
    assert_true(!strncmp(query(&d, "closed@example.org", "192.0.2.8"), "DEFER_IF_PERMIT 4.7.1", 21));
    for (int i = 0; i < 3; i++) {
        const char *out = ctl_out(&d, "--json explain smtp:RCPT client_address=192.0.2.8 sender=closed@example.org");
        if (!strstr(out, "\"rule.closed.rates\":\"1m:2/2:") || !strstr(out, ",1h:2/10:0\"") ||
            !strstr(out, "\"decides\":\"closed\"") || !strstr(out, "\"rule.open.conditions\":\"if sender failed\""))
            fail_msg("explain on Redis:\n%s", out);
    }
    const char *out = ctl_out(&d, "counter closed closed@example.org");
    if (!strstr(out, "1m:2/2:") || !strstr(out, ",1h:2/10:0"))
        fail_msg("explain counted:\n%s", out);
    reap(s.pid, SIGKILL);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(query(&d, "open@example.org", "192.0.2.8"), "DUNNO");
        assert_true(!strncmp(query(&d, "closed@example.org", "192.0.2.8"), "DEFER_IF_PERMIT 4.3.0", 21));
    }
    out = ctl_out(&d, "explain smtp:RCPT client_address=192.0.2.8 sender=closed@example.org");
    if (!strstr(out, "the store did not answer"))
        fail_msg("explain without Redis:\n%s", out);
    fgd_stop(&d);
}

/* Redis killed mid-run: every query gets the on_error action within the timeout, no crash; a hung
 * server (SIGSTOP) likewise; normal service once Redis is back. */
static void test_outage(void **st)
{
    fgd d;
    rsrv s;
    char store_conf[256];
    (void)st;

    redis_start(&s, 0, 0);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\"; on_error = \"tempfail\";", s.port,
             short_timeout());
    fgd_start(&d, "outage", store_conf);
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "before@example.org", "192.0.2.8"), "DUNNO");
    reap(s.pid, SIGKILL);
    for (int i = 0; i < 20; i++)
        assert_true(!strncmp(query(&d, "during@example.org", "192.0.2.8"), "DEFER_IF_PERMIT 4.3.0", 21));
    assert_string_equal(ctl_stat(&d, "server.0.connected"), "no");
    redis_start(&s, s.port, 0);
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "after@example.org", "192.0.2.8"), "DUNNO");

    /* hung: the connection stays open but nothing answers; the first query waits the timeout, and
     * it and the ones after it get on_error */
    kill(s.pid, SIGSTOP);
    for (int i = 0; i < 5; i++)
        assert_true(!strncmp(query(&d, "hung@example.org", "192.0.2.8"), "DEFER_IF_PERMIT 4.3.0", 21));
    kill(s.pid, SIGCONT);
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "after2@example.org", "192.0.2.8"), "DUNNO");
    assert_int_equal(strtoull(ctl_stat(&d, "server.0.outages"), NULL, 10), 2);
    fgd_stop(&d);
    reap(s.pid, SIGKILL);
    /* one line when each outage started, one when it ended */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "grep -c 'unavailable (' %s", d.log);
    FILE *p = popen(cmd, "r");
    int starts = 0;
    assert_int_equal(fscanf(p, "%d", &starts), 1);
    pclose(p);
    assert_int_equal(starts, 2);
    snprintf(cmd, sizeof cmd, "grep -c 'back after' %s", d.log);
    p = popen(cmd, "r");
    int ends = 0;
    assert_int_equal(fscanf(p, "%d", &ends), 1);
    pclose(p);
    assert_int_equal(ends, 2);
}


/* ctl_num - a number of floodgatectl stats */
static unsigned long long ctl_num(fgd *d, const char *name)
{
    return strtoull(ctl_stat(d, name), NULL, 10);
}

/* wait_all_connected - until stats lists n servers, all connected */
static void wait_all_connected(fgd *d, unsigned n)
{
    char name[64];
    for (int tries = 0; tries < 1000; tries++) {
        unsigned up = 0;
        if (ctl_num(d, "store_servers") >= n)
            for (unsigned i = 0; i < n; i++) {
                snprintf(name, sizeof name, "server.%u.connected", i);
                up += !strcmp(ctl_stat(d, name), "yes");
            }
        if (up == n)
            return;
        poll(NULL, 0, 20);
    }
    fail_msg("%s: %u servers did not connect", d->conf, n);
}

/* stats_value - NAME's value in the text of floodgatectl stats (lines "NAME   VALUE") into val; 0, or -1 if absent */
static int stats_value(const char *stats, const char *name, char *val, size_t size)
{
    size_t l = strlen(name);

    for (const char *line = stats; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > l && !strncmp(line, name, l) && line[l] == ' ') {
            const char *v = line + l;
            while (*v == ' ')
                v++;
            snprintf(val, size, "%.*s", (int)(len - (size_t)(v - line)), v);
            return 0;
        }
        line += len + (nl != NULL);
    }
    return -1;
}

/* stats_num - a number of a stats text; fails the test if absent */
static unsigned long long stats_num(const char *stats, const char *name)
{
    char v[256];
    if (stats_value(stats, name, v, sizeof v) < 0)
        fail_msg("%s is not in floodgatectl stats:\n%s", name, stats);
    return strtoull(v, NULL, 10);
}

/* While Redis is down, floodgated tries again with capped exponential backoff (issue 10), as floodgatectl stats
 * shows it: each attempt after a failure counts in server.0.reconnects, and server.0.retry_ms is the wait
 * before the next one: 50 ms, doubled at each attempt, then 2000 ms for as long as the server stays down. The
 * outage is logged once, however many attempts fail. Once the server is back, no attempt is planned. */
static void test_reconnect_backoff_capped(void **st)
{
    fgd d;
    rsrv s;
    char store_conf[256];
    long long delay[16];
    (void)st;

    redis_start(&s, 0, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\";",
             s.port, short_timeout());
    fgd_start(&d, "backoff", store_conf);
    wait_connected(&d, 0);
    const char *out = ctl_out(&d, "stats");
    assert_int_equal(stats_num(out, "server.0.reconnects"), 0);
    assert_int_equal(stats_num(out, "server.0.retry_ms"), 0);
    reap(s.pid, SIGKILL);
    /* the wait planned after each attempt, as stats shows it between attempts (a condition, bounded: the 8th
     * attempt comes about 7 s after the kill) */
    for (int i = 0; i < 16; i++)
        delay[i] = -1;
    for (int tries = 0; tries < 3000 && delay[8] < 0; tries++) {
        out = ctl_out(&d, "stats");
        unsigned long long r = stats_num(out, "server.0.reconnects"), w = stats_num(out, "server.0.retry_ms");
        if (r < 16 && w)
            delay[r] = (long long)w;
        poll(NULL, 0, 10);
    }
    for (int r = 0; r <= 8; r++) {
        long long want = r < 6 ? 50LL << r : 2000;
        if (delay[r] >= 0 && delay[r] != want)
            fail_msg("after attempt %d the next was planned in %lld ms, want %lld", r, delay[r], want);
    }
    /* the doubling was seen (the waits of 400 ms and more outlast a few polls; 50 and 100 ms may pass unseen) */
    assert_int_equal(delay[3], 400);
    assert_int_equal(delay[4], 800);
    assert_int_equal(delay[5], 1600);
    /* the attempts at the cap were all seen: each waits 2 s */
    assert_int_equal(delay[6], 2000);
    assert_int_equal(delay[7], 2000);
    assert_int_equal(delay[8], 2000);
    assert_string_equal(ctl_stat(&d, "server.0.connected"), "no");
    assert_int_equal(log_has(&d, "unavailable ("), 1);
    redis_start(&s, s.port, 0);
    wait_connected(&d, 0);
    assert_int_equal(ctl_num(&d, "server.0.retry_ms"), 0);
    assert_int_equal(log_has(&d, "back after"), 1);
    fgd_stop(&d);
    reap(s.pid, SIGKILL);
}

#define OPEN_CLOSED_RULES                                                                                      \
    "rules = ( { name = \"open\"; on = \"smtp:RCPT\"; if = { sender = \"/^open/\"; };\n"                          \
    "            limit = { key = [\"sender\"]; count = 3; per = \"1h\"; }; on_error = \"allow\"; },\n"            \
    "          { name = \"closed\"; on = \"smtp:RCPT\"; if = { sender = \"/^closed/\"; };\n"                      \
    "            limit = { key = [\"sender\"]; count = 3; per = \"1h\"; }; } );\n"

/* ask_many - n policy requests in flight at once (one connection each, all written before any is read); their
 * actions, in order, into act */
static void ask_many(fgd *d, const char *const *senders, int n, char act[][128])
{
    int fd[16];
    char req[512], buf[4096];

    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        fd[i] = connect_unix(d->policy);
        assert_true(fd[i] >= 0);
        int len = snprintf(req, sizeof req,
                           "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.40\n"
                           "sender=%s\nrecipient=rcpt@example.com\n\n",
                           senders[i]);
        assert_int_equal(write(fd[i], req, (size_t)len), len);
    }
    for (int i = 0; i < n; i++) {
        sock_read_reply(fd[i], buf, sizeof buf);
        close(fd[i]);
        assert_true(!strncmp(buf, "action=", 7));
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        snprintf(act[i], 128, "%.120s", buf + 7);
    }
}

/* Redis stops answering (SIGSTOP: a hung server) while several requests are in flight (issue 10): each is
 * answered with its own rule's on_error (allow: DUNNO, tempfail: DEFER_IF_PERMIT 4.3.0), all by one outage;
 * while it lasts, new requests get theirs without being sent (no script call goes out), however many reconnects
 * fail meanwhile; one log line when it starts and one when it ends; after SIGCONT the limits count again,
 * and what was refused during the outage was counted nowhere. */
static void test_outage_in_flight(void **st)
{
    fgd d;
    rsrv s;
    char store_conf[320], act[8][128];
    static const char *const inflight[8] = {"open0@example.org",   "closed0@example.org", "open1@example.org",
                                            "closed1@example.org", "open2@example.org",   "closed2@example.org",
                                            "open3@example.org",   "closed3@example.org"};
    (void)st;

    redis_start(&s, 0, 0);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\"; connect_timeout = \"%s\";"
             " on_error = \"tempfail\";",
             s.port, short_timeout(), short_timeout());
    fgd_start_rules(&d, "inflight", store_conf, OPEN_CLOSED_RULES);
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "closed-a@example.org", "192.0.2.40"), "DUNNO");
    assert_string_equal(query(&d, "open-a@example.org", "192.0.2.40"), "DUNNO");

    assert_int_equal(kill(s.pid, SIGSTOP), 0);
    ask_many(&d, inflight, 8, act);
    for (int i = 0; i < 8; i++)
        if (i % 2 ? strncmp(act[i], "DEFER_IF_PERMIT 4.3.0", 21) : strcmp(act[i], "DUNNO"))
            fail_msg("%s in flight when Redis hung got %s", inflight[i], act[i]);
    const char *out = ctl_out(&d, "stats");
    assert_int_equal(stats_num(out, "server.0.outages"), 1);
    unsigned long long trips = stats_num(out, "server.0.round_trips"), failed = stats_num(out, "server.0.failed");
    unsigned long long reconnects = stats_num(out, "server.0.reconnects");
    /* reconnects fail meanwhile (the set-up is never answered): wait for two (a condition, bounded) */
    for (int tries = 0; tries < 1000 && ctl_num(&d, "server.0.reconnects") < reconnects + 2; tries++)
        poll(NULL, 0, 20);
    assert_true(ctl_num(&d, "server.0.reconnects") >= reconnects + 2);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(query(&d, "open-dur@example.org", "192.0.2.40"), "DUNNO");
        assert_true(!strncmp(query(&d, "closed-dur@example.org", "192.0.2.40"), "DEFER_IF_PERMIT 4.3.0", 21));
    }
    out = ctl_out(&d, "stats");
    assert_string_equal(ctl_stat(&d, "server.0.connected"), "no");
    assert_int_equal(stats_num(out, "server.0.round_trips"), trips); /* none was sent, so none waited */
    assert_true(stats_num(out, "server.0.failed") >= failed + 10);
    assert_int_equal(stats_num(out, "server.0.outages"), 1);
    assert_int_equal(log_has(&d, "unavailable ("), 1);
    assert_int_equal(log_has(&d, "back after"), 0);

    assert_int_equal(kill(s.pid, SIGCONT), 0);
    wait_connected(&d, 0);
    assert_int_equal(log_has(&d, "unavailable ("), 1);
    assert_int_equal(log_has(&d, "back after"), 1);
    assert_int_equal(ctl_num(&d, "server.0.outages"), 1);
    /* counting as before: closed-a had 1 of 3; the outage's refusals were counted nowhere */
    const char *const senders[3] = {"closed-a@example.org", "closed-dur@example.org", "open-dur@example.org"};
    const int left[3] = {2, 3, 3};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < left[k]; i++)
            assert_string_equal(query(&d, senders[k], "192.0.2.40"), "DUNNO");
        const char *v = query(&d, senders[k], "192.0.2.40");
        if (strncmp(v, "DEFER_IF_PERMIT 4.7.1", 21))
            fail_msg("%s past its limit after the outage: %s", senders[k], v);
    }
    fgd_stop(&d);
    reap(s.pid, SIGKILL);
}

static unsigned long long counter_of(fgd *d, const char *rule, const char *value);

/* keys_tagged - counter keys (names with a {tag}) on the server on port */
static long long keys_tagged(unsigned port)
{
    redisReply *r = redis_cmd(port, "KEYS {*");
    long long n = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

enum { LATE_TCP, LATE_UNIX, LATE_SHARDED };

/* late_calls - requests in flight when Redis hangs (SIGSTOP: a frozen VM, a fork stall) are answered on_error at
 * the timeout, and their script calls, already in the server's socket buffer (the daemon only closed its end),
 * are run when Redis resumes. They must count nothing: after SIGCONT the limit holds only the request answered
 * as counted before the hang, as floodgatectl counter and the next answers show (issue 10). Over TCP, a unix
 * socket, or on the shard of a sharded store that holds the counter (the other shard goes on answering) */
static void late_calls(int mode)
{
    fgd d;
    rsrv s[2];
    char store_conf[512], conf[300], act[6][128], name[64], stat[64];
    static const char *const inflight[6] = {"late@example.org", "late@example.org", "late@example.org",
                                            "late@example.org", "late@example.org", "late@example.org"};
    static const char *const how[] = {"TCP", "a unix socket", "a sharded store"};
    unsigned nsrv = mode == LATE_SHARDED ? 2 : 1, hung = 0;

    snprintf(conf, sizeof conf, "unixsocket %s/fg-late.sock\nunixsocketperm 700\n", dir);
    for (unsigned i = 0; i < nsrv; i++)
        redis_start_conf(&s[i], 0, 0, mode == LATE_UNIX ? conf : NULL);
    if (mode == LATE_UNIX)
        snprintf(store_conf, sizeof store_conf,
                 "type = \"redis\"; url = \"unix:%s/fg-late.sock\"; timeout = \"%s\"; connect_timeout = \"%s\";"
                 " on_error = \"tempfail\";",
                 dir, short_timeout(), short_timeout());
    else if (mode == LATE_TCP)
        snprintf(store_conf, sizeof store_conf,
                 "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\"; connect_timeout = \"%s\";"
                 " on_error = \"tempfail\";",
                 s[0].port, short_timeout(), short_timeout());
    else
        snprintf(store_conf, sizeof store_conf,
                 "type = \"sharded\"; timeout = \"%s\"; connect_timeout = \"%s\"; on_error = \"tempfail\"; stores = ("
                 " { type = \"redis\"; url = \"redis://127.0.0.1:%u\"; },"
                 " { type = \"redis\"; url = \"redis://127.0.0.1:%u\"; } );",
                 short_timeout(), short_timeout(), s[0].port, s[1].port);
    snprintf(name, sizeof name, "late-%d", mode);
    fgd_start_rules(&d, name, store_conf,
                    "rules = ( { name = \"late\"; on = \"smtp:RCPT\"; limit = { key = [\"sender\"]; count = 3;"
                    " per = \"1h\"; }; } );\n");
    wait_all_connected(&d, nsrv);
    assert_string_equal(query(&d, "late@example.org", "192.0.2.40"), "DUNNO");
    if (mode == LATE_SHARDED) { /* the shard that holds the counter hangs */
        hung = keys_tagged(s[1].port) > 0;
        assert_int_equal(keys_tagged(s[hung].port), 1);
        assert_int_equal(keys_tagged(s[!hung].port), 0);
    }
    snprintf(stat, sizeof stat, "server.%u.round_trips", hung);
    unsigned long long trips = ctl_num(&d, stat);
    long long calls = cmd_calls(s[hung].port, "evalsha");
    assert_true(calls >= 1);

    assert_int_equal(kill(s[hung].pid, SIGSTOP), 0);
    ask_many(&d, inflight, 6, act);
    for (int i = 0; i < 6; i++)
        if (strncmp(act[i], "DEFER_IF_PERMIT 4.3.0", 21))
            fail_msg("request %d in flight when Redis hung got %s", i, act[i]);
    /* the script calls that went out for them (requests of one turn share a call) */
    unsigned long long sent = ctl_num(&d, stat) - trips;
    assert_true(sent >= 1);
    assert_int_equal(kill(s[hung].pid, SIGCONT), 0);
    wait_all_connected(&d, nsrv);
    /* Redis has run them (an EVALSHA that fails is a call too): a condition, bounded */
    for (int i = 0; i < 500 && cmd_calls(s[hung].port, "evalsha") < calls + (long long)sent; i++)
        poll(NULL, 0, 10);
    assert_true(cmd_calls(s[hung].port, "evalsha") >= calls + (long long)sent);
    unsigned long long counted = counter_of(&d, "late", "late@example.org");
    if (counted != 1)
        fail_msg("over %s, late@example.org counts %llu after Redis resumed, want 1 (the %llu calls sent for the 6 "
                 "requests answered DEFER_IF_PERMIT 4.3.0 counted)",
                 how[mode], counted, sent);
    /* each of them ran past its deadline and did nothing, as Redis's own error count tells an admin (README) */
    long long late = late_errors(s[hung].port);
    if (late < (long long)sent)
        fail_msg("over %s, Redis refused %lld calls as LATE, want the %llu sent while it hung", how[mode], late, sent);
    assert_string_equal(query(&d, "late@example.org", "192.0.2.40"), "DUNNO");
    assert_string_equal(query(&d, "late@example.org", "192.0.2.40"), "DUNNO");
    assert_true(!strncmp(query(&d, "late@example.org", "192.0.2.40"), "DEFER_IF_PERMIT 4.7.1", 21));
    fgd_stop(&d);
    for (unsigned i = 0; i < nsrv; i++)
        reap(s[i].pid, SIGKILL);
}

/* The script calls of requests answered on_error while Redis hung count nothing when it resumes, over TCP */
static void test_late_calls_tcp(void **st)
{
    (void)st;
    late_calls(LATE_TCP);
}

/* The same over a unix socket */
static void test_late_calls_unix(void **st)
{
    (void)st;
    late_calls(LATE_UNIX);
}

/* The same on the hung shard of a sharded store */
static void test_late_calls_sharded(void **st)
{
    (void)st;
    late_calls(LATE_SHARDED);
}

/* http_get - GET path over the HTTP adapter's Unix socket, HTTP/1.0; the whole response (static buffer) */
static const char *http_get(const char *sock, const char *path)
{
    static char buf[262144];
    char req[256];
    size_t got = 0;
    int fd = connect_unix(sock);

    assert_true(fd >= 0);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        assert_true(poll(&p, 1, SOCKIO_WAIT_MS) == 1);
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    assert_true(!strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200", 4));
    return buf;
}

/* server_lines - the lines of the store server families (floodgate_store_server_*) of an exposition text, into
 * out, each after a newline */
static void server_lines(const char *text, char *out, size_t size)
{
    size_t at = 0;

    out[0] = '\0';
    for (const char *p = strstr(text, "\nfloodgate_store_server_"); p; p = strstr(p + 1, "\nfloodgate_store_server_")) {
        const char *nl = strchr(p + 1, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        assert_true(at + len + 1 < size);
        memcpy(out + at, p, len);
        at += len;
        out[at] = '\0';
    }
    assert_true(at > 0);
}

/* metric_of - the value of the sample NAME{server="SERVER"} in an exposition text; fails the test if absent */
static double metric_of(const char *text, const char *name, const char *server)
{
    char want[256];
    int n = snprintf(want, sizeof want, "\n%s{server=\"%s\"} ", name, server);
    const char *p = strstr(text, want);

    if (!p)
        fail_msg("no sample %s{server=\"%s\"} in /metrics:\n%s", name, server, text);
    return strtod(p + n, NULL);
}

/* /metrics carries each store server's families (issue 10), and they are the numbers of floodgatectl stats:
 * after an outage and a reconnect, every family of server 0 (up, outages, round trips, commands, failed,
 * pipeline depth and max, p99 latency, reconnects, the planned retry) equals its server.0.* value. */
static void test_metrics_servers(void **st)
{
    fgd d;
    rsrv s;
    char store_conf[256], http[700], listen_more[800], name[64], stats[65536];
    static const struct {
        const char *stat, *prom;
        double scale; /* prom = stat / scale */
    } fam[] = {
        {"outages", "floodgate_store_server_outages_total", 1},
        {"round_trips", "floodgate_store_server_round_trips_total", 1},
        {"commands", "floodgate_store_server_commands_total", 1},
        {"failed", "floodgate_store_server_failed_total", 1},
        {"pipeline_depth", "floodgate_store_server_pipeline_depth", 1},
        {"pipeline_max", "floodgate_store_server_pipeline_max", 1},
        {"p99_us", "floodgate_store_server_p99_seconds", 1e6},
        {"reconnects", "floodgate_store_server_reconnects_total", 1},
        {"retry_ms", "floodgate_store_server_retry_seconds", 1e3},
    };
    (void)st;

    redis_start(&s, 0, 0);
    snprintf(store_conf, sizeof store_conf,
             "type = \"redis\"; url = \"redis://127.0.0.1:%u\"; timeout = \"%s\"; on_error = \"tempfail\";", s.port,
             short_timeout());
    snprintf(http, sizeof http, "%s/metrics-http.sock", dir);
    snprintf(listen_more, sizeof listen_more, "http = \"unix:%s\";", http);
    fgd_start_listen(&d, "metrics", listen_more, store_conf, RULES);
    wait_connected(&d, 0);
    for (int i = 0; i < 3; i++)
        assert_string_equal(query(&d, "m-before@example.org", "192.0.2.30"), "DUNNO");
    reap(s.pid, SIGKILL);
    for (int i = 0; i < 3; i++)
        assert_true(!strncmp(query(&d, "m-during@example.org", "192.0.2.30"), "DEFER_IF_PERMIT 4.3.0", 21));
    redis_start(&s, s.port, 0);
    wait_connected(&d, 0);
    assert_string_equal(query(&d, "m-after@example.org", "192.0.2.30"), "DUNNO");

    /* stats between two /metrics whose server families agree: nothing moved meanwhile (bounded retries) */
    static char m1[65536];
    int same = 0;
    for (int tries = 0; tries < 20 && !same; tries++) {
        static char first[65536];
        server_lines(http_get(http, "/metrics"), first, sizeof first);
        snprintf(stats, sizeof stats, "%s", ctl_out(&d, "stats"));
        server_lines(http_get(http, "/metrics"), m1, sizeof m1);
        same = !strcmp(first, m1);
    }
    assert_true(same);
    char server[256];
    assert_int_equal(stats_value(stats, "server.0.name", server, sizeof server), 0);
    snprintf(name, sizeof name, "127.0.0.1:%u", s.port);
    assert_string_equal(server, name);
    char conn[16];
    assert_int_equal(stats_value(stats, "server.0.connected", conn, sizeof conn), 0);
    assert_string_equal(conn, "yes");
    assert_true(metric_of(m1, "floodgate_store_server_up", server) == 1);
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        snprintf(name, sizeof name, "server.0.%s", fam[f].stat);
        double a = (double)stats_num(stats, name), b = metric_of(m1, fam[f].prom, server) * fam[f].scale;
        if (a - b > 0.5 || b - a > 0.5)
            fail_msg("%s = %g in stats, %s = %g in /metrics", name, a, fam[f].prom, b / fam[f].scale);
    }
    /* the numbers compared are the outage's, not zeros */
    assert_int_equal(stats_num(stats, "server.0.outages"), 1);
    assert_true(stats_num(stats, "server.0.failed") >= 3);
    assert_true(stats_num(stats, "server.0.reconnects") >= 1);
    assert_true(stats_num(stats, "server.0.round_trips") >= 4);
    assert_true(stats_num(stats, "server.0.p99_us") > 0);
    fgd_stop(&d);
    reap(s.pid, SIGKILL);
}

/* counter_of - floodgatectl counter RULE VALUE: the count */
static unsigned long long counter_of(fgd *d, const char *rule, const char *value)
{
    long long c = counter_try(d, rule, value);
    assert_true(c >= 0);
    return (unsigned long long)c;
}

/* share_limits - 30 senders, 4 recipients each from two daemons: exactly 3 pass per sender, and the
 * per-client counter (keyed elsewhere) holds exactly the admitted ones: what another shard refused
 * was taken back */
static void share_limits(fgd *a, fgd *b, const char *client)
{
    char sender[64];
    int passed = 0;

    for (int s = 0; s < 30; s++) {
        snprintf(sender, sizeof sender, "sender%d@example.org", s);
        int mine = 0;
        for (int i = 0; i < 4; i++)
            mine += !strcmp(query((s + i) % 2 ? b : a, sender, client), "DUNNO");
        if (mine != 3)
            fail_msg("%s: %d passed, want 3", sender, mine);
        passed += mine;
    }
    /* the compensations were sent without waiting: wait for them to land (a condition, bounded) */
    for (int tries = 0; tries < 500 && counter_of(a, "per-client", client) != (unsigned long long)passed; tries++)
        poll(NULL, 0, 10);
    assert_int_equal(counter_of(a, "per-client", client), passed);
}

/* Sharded over two servers: keys land on both, two daemons share the limits exactly, refusals on one
 * shard are taken back on the other; one shard down affects only the keys that live on it. */
static void test_sharded(void **st)
{
    rsrv s1, s2;
    fgd a, b;
    char store_conf[512];
    char sender[64];
    int ok = 0, failed = 0;
    (void)st;

    redis_start(&s1, 0, 0);
    redis_start(&s2, 0, 0);
    snprintf(store_conf, sizeof store_conf,
             "type = \"sharded\"; timeout = \"%s\"; stores = ( { type = \"redis\"; url = \"redis://127.0.0.1:%u\"; },"
             " { type = \"redis\"; url = \"redis://127.0.0.1:%u\"; } );",
             short_timeout(), s1.port, s2.port);
    fgd_start(&a, "sharded-a", store_conf);
    fgd_start(&b, "sharded-b", store_conf);
    wait_all_connected(&a, 2);
    wait_all_connected(&b, 2);
    share_limits(&a, &b, "192.0.2.20");
    assert_true(redis_int(s1.port, "DBSIZE") > 5);
    assert_true(redis_int(s2.port, "DBSIZE") > 5);
    /* where other tools look for a counter (README): store H mod N, H the hash in the key's {tag} (the fleet
     * mirror's hashes, on the first store, have names of their own) */
    for (unsigned i = 0; i < 2; i++) {
        redisReply *r = redis_cmd(i ? s2.port : s1.port, "KEYS {*");
        assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements > 5);
        for (size_t k = 0; k < r->elements; k++) {
            const redisReply *e = r->element[k];
            assert_true(e->len > REDIS_TAG_LEN && e->str[REDIS_TAG_LEN - 1] == '}');
            if (strtoull(e->str + 1, NULL, 16) % 2 != i)
                fail_msg("key %.*s on store %u, not on store H mod 2", (int)e->len, e->str, i);
        }
        freeReplyObject(r);
    }
    assert_true(ctl_num(&a, "store_compensations") + ctl_num(&b, "store_compensations") > 0);
    fgd_stop(&a);
    fgd_stop(&b);

    /* one shard down: only the requests whose key lives there get on_error */
    fgd_start_rules(&a, "sharded-one", store_conf,
                    "rules = ( { name = \"per-sender\"; on = \"smtp:RCPT\"; limit = { key = [\"sender\"]; count = 3;"
                    " per = \"1h\"; }; action = \"DEFER_IF_PERMIT 4.7.1 Too many\"; } );\n");
    wait_all_connected(&a, 2);
    reap(s2.pid, SIGKILL);
    for (int s = 0; s < 20; s++) {
        snprintf(sender, sizeof sender, "down%d@example.org", s);
        const char *v = query(&a, sender, "192.0.2.21");
        ok += !strcmp(v, "DUNNO");
        failed += !strncmp(v, "DEFER_IF_PERMIT 4.3.0", 21);
    }
    assert_int_equal(ok + failed, 20);
    assert_true(ok > 0 && failed > 0);
    fgd_stop(&a);
    reap(s1.pid, SIGKILL);
}

/* node_id - CLUSTER MYID */
static void node_id(unsigned port, char *out, size_t size)
{
    redisReply *r = redis_cmd(port, "CLUSTER MYID");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(out, size, "%s", r->str);
    freeReplyObject(r);
}

/* ok_cmd - a command that must answer +OK */
static void ok_cmd(unsigned port, const char *fmt, const char *a1, const char *a2)
{
    redisReply *r = redis_cmd(port, fmt, a1, a2);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("port %u: %s: %s", port, fmt, r->str);
    freeReplyObject(r);
}

/* info_has - a node's INFO section (or CLUSTER INFO) holds this line */
static int info_has(unsigned port, const char *cmd, const char *line)
{
    redisReply *r = redis_cmd(port, cmd);
    int has = r && r->type == REDIS_REPLY_STRING && strstr(r->str, line) != NULL;
    if (r)
        freeReplyObject(r);
    return has;
}

/* cluster_agrees - within a bound, every node says the cluster is ok with nn nodes, of which
 * nn / (replicas + 1) masters own slots and the others replicate with their link up, and
 * redis-cli --cluster check finds every slot covered and every node agreeing; 0 if it never does */
static int cluster_agrees(rsrv *n, int nn, int replicas)
{
    char known[64], size[64], cmd[1024];

    snprintf(known, sizeof known, "cluster_known_nodes:%d\r", nn);
    snprintf(size, sizeof size, "cluster_size:%d\r", nn / (replicas + 1));
    snprintf(cmd, sizeof cmd, "%s --cluster check 127.0.0.1:%u >>%s/cluster.log 2>&1", cli_bin, n[0].port, dir);
    for (int tries = 0; tries < 600; tries++) {
        int ready = 0, slaves = 0;
        for (int i = 0; i < nn; i++) {
            int slave = info_has(n[i].port, "INFO replication", "role:slave");
            slaves += slave;
            ready += info_has(n[i].port, "CLUSTER INFO", "cluster_state:ok") &&
                     info_has(n[i].port, "CLUSTER INFO", known) && info_has(n[i].port, "CLUSTER INFO", size) &&
                     (!slave || info_has(n[i].port, "INFO replication", "master_link_status:up"));
        }
        if (ready == nn && slaves == nn - nn / (replicas + 1) && system(cmd) == 0)
            return 1;
        poll(NULL, 0, 50);
    }
    return 0;
}

/* make_cluster - nn cluster nodes joined by redis-cli --cluster create, replicas per master; up when this
 * returns. On a loaded machine create can fail (a replica told to follow a master it has not met yet) or
 * leave a node unjoined: then the nodes are killed and fresh ones tried, three times at most. */
static void make_cluster(rsrv *n, int nn, int replicas)
{
    char cmd[2048];

    for (int attempt = 1;; attempt++) {
        size_t at = 0;
        for (int i = 0; i < nn; i++)
            redis_start(&n[i], 0, 1);
        at += (size_t)snprintf(cmd + at, sizeof cmd - at, "%s --cluster create", cli_bin);
        for (int i = 0; i < nn; i++)
            at += (size_t)snprintf(cmd + at, sizeof cmd - at, " 127.0.0.1:%u", n[i].port);
        snprintf(cmd + at, sizeof cmd - at, " --cluster-replicas %d --cluster-yes >>%s/cluster.log 2>&1", replicas,
                 dir);
        if (system(cmd) == 0 && cluster_agrees(n, nn, replicas))
            return;
        for (int i = 0; i < nn; i++)
            reap(n[i].pid, SIGKILL);
        if (attempt == 3)
            fail_msg("redis-cli --cluster create made no working cluster in 3 attempts; see %s/cluster.log "
                     "(FG_KEEP_TEMP=1 keeps it)", dir);
        fprintf(stderr, "make_cluster: attempt %d failed; again with fresh nodes\n", attempt);
    }
}

/* A 3-master Redis Cluster: keys land on every master, limits stay exact across two daemons, and a
 * counter whose slot migrates while it counts (MIGRATING/IMPORTING: ASK, then MOVED) counts right. */
static void test_cluster(void **st)
{
    rsrv n[3];
    fgd a, b;
    char store_conf[512];
    (void)st;

    make_cluster(n, 3, 0);
    snprintf(store_conf, sizeof store_conf, "type = \"cluster\"; urls = [\"redis://127.0.0.1:%u\"]; timeout = \"1s\";",
             n[1].port);
    fgd_start(&a, "cluster-a", store_conf);
    fgd_start(&b, "cluster-b", store_conf);
    wait_all_connected(&a, 3);
    wait_all_connected(&b, 3);
    share_limits(&a, &b, "192.0.2.30");
    for (int i = 0; i < 3; i++)
        assert_true(redis_int(n[i].port, "DBSIZE") > 3);

    /* find the node and slot of one sender's counter */
    assert_string_equal(query(&a, "mig@example.org", "192.0.2.31"), "DUNNO");
    int src = -1;
    char key[512];
    size_t klen = 0;
    for (int i = 0; i < 3 && src < 0; i++) {
        redisReply *r = redis_cmd(n[i].port, "KEYS *mig@example.org*");
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            src = i;
            klen = r->element[0]->len;
            memcpy(key, r->element[0]->str, klen);
        }
        if (r)
            freeReplyObject(r);
    }
    assert_true(src >= 0);
    int dst = (src + 1) % 3;
    char slot[16], src_id[64], dst_id[64];
    snprintf(slot, sizeof slot, "%u", redis_slot(key, klen));
    node_id(n[src].port, src_id, sizeof src_id);
    node_id(n[dst].port, dst_id, sizeof dst_id);
    ok_cmd(n[dst].port, "CLUSTER SETSLOT %s IMPORTING %s", slot, src_id);
    ok_cmd(n[src].port, "CLUSTER SETSLOT %s MIGRATING %s", slot, dst_id);
    /* the key is still on the source: it answers */
    assert_string_equal(query(&b, "mig@example.org", "192.0.2.31"), "DUNNO");
    /* move every key of the slot: the source now answers ASK */
    redisReply *r = redis_cmd(n[src].port, "CLUSTER GETKEYSINSLOT %s 100", slot);
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1);
    for (size_t i = 0; i < r->elements; i++) {
        char port[16];
        snprintf(port, sizeof port, "%u", n[dst].port);
        redisReply *m = redis_cmd(n[src].port, "MIGRATE 127.0.0.1 %s %b 0 5000", port, r->element[i]->str,
                                  r->element[i]->len);
        assert_true(m && m->type == REDIS_REPLY_STATUS);
        freeReplyObject(m);
    }
    freeReplyObject(r);
    unsigned long long redirects = ctl_num(&a, "store_redirects");
    assert_string_equal(query(&a, "mig@example.org", "192.0.2.31"), "DUNNO");
    assert_true(ctl_num(&a, "store_redirects") > redirects);
    /* the slot is the destination's for good: MOVED, and the map follows */
    for (int i = 0; i < 3; i++)
        ok_cmd(n[i].port, "CLUSTER SETSLOT %s NODE %s", slot, dst_id);
    redirects = ctl_num(&b, "store_redirects");
    assert_true(!strncmp(query(&b, "mig@example.org", "192.0.2.31"), "DEFER_IF_PERMIT 4.7.1", 21));
    assert_true(ctl_num(&b, "store_redirects") > redirects);
    assert_true(!strncmp(query(&a, "mig@example.org", "192.0.2.31"), "DEFER_IF_PERMIT 4.7.1", 21));
    fgd_stop(&a);
    fgd_stop(&b);
    for (int i = 0; i < 3; i++)
        reap(n[i].pid, SIGKILL);
}

/* read_from_replicas: counter reads go to replicas (EVALSHA_RO there), counting stays on the masters */
static void test_cluster_replicas(void **st)
{
    rsrv n[6];
    fgd a;
    char store_conf[512];
    long long ro = 0;
    (void)st;

    make_cluster(n, 6, 1);
    snprintf(store_conf, sizeof store_conf,
             "type = \"cluster\"; urls = [\"redis://127.0.0.1:%u\"]; read_from_replicas = true; timeout = \"1s\";",
             n[0].port);
    fgd_start(&a, "replicas", store_conf);
    wait_all_connected(&a, 6);
    int passed = 0;
    for (int i = 0; i < 5; i++)
        passed += !strcmp(query(&a, "replica@example.org", "192.0.2.40"), "DUNNO");
    assert_int_equal(passed, 3);
    /* replication is asynchronous: the replica catches up (a condition, bounded) */
    for (int tries = 0; tries < 500 && counter_of(&a, "per-sender", "replica@example.org") != 3; tries++)
        poll(NULL, 0, 10);
    assert_int_equal(counter_of(&a, "per-sender", "replica@example.org"), 3);
    for (int i = 0; i < 6; i++) {
        redisReply *r = redis_cmd(n[i].port, "INFO commandstats");
        const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_evalsha_ro:calls=") : NULL;
        if (p)
            ro += atoll(p + strlen("cmdstat_evalsha_ro:calls="));
        if (r)
            freeReplyObject(r);
    }
    assert_true(ro >= 1);
    fgd_stop(&a);
    for (int i = 0; i < 6; i++)
        reap(n[i].pid, SIGKILL);
}

/* mirror_owner - the node of n (of nn) whose slots hold the fleet mirror's hashes: the one that answers for the tag */
static int mirror_owner(rsrv *n, int nn)
{
    int owner = -1;
    for (int i = 0; i < nn; i++) {
        redisReply *r = redis_cmd(n[i].port, "EXISTS {floodgate:mirror}");
        if (r && r->type == REDIS_REPLY_INTEGER)
            owner = i;
        if (r)
            freeReplyObject(r);
    }
    assert_true(owner >= 0);
    return owner;
}

/* cluster_conf - a cluster store found from the one seed node s */
static const char *cluster_conf(const rsrv *s)
{
    static char conf[256];
    snprintf(conf, sizeof conf, "type = \"cluster\"; urls = [\"redis://127.0.0.1:%u\"]; timeout = \"3s\";", s->port);
    return conf;
}

/* Bans and stored lists on a 3-master Redis Cluster (issue 10): a ban made through one daemon holds on the
 * other and an unban lifts it, a list edit through one is seen by the other, a daemon started later has both;
 * the mirror's slot migrates (ASK while it moves, then MOVED) and changes still go through; the node a
 * daemon's subscriber listens on dies, and that daemon still hears the fleet (its subscriber moves). */
static void test_cluster_fleet(void **st)
{
    rsrv n[3];
    fgd a, b, c;
    (void)st;

    make_cluster(n, 3, 0);
    /* the cluster keeps serving the slots it still covers when a node dies */
    for (int i = 0; i < 3; i++)
        ok_cmd(n[i].port, "CONFIG SET %s %s", "cluster-require-full-coverage", "no");
    int own = mirror_owner(n, 3), x = (own + 1) % 3, y = (own + 2) % 3;
    /* each daemon's subscriber listens on its seed: a on x, b on y, c on the owner */
    fgd_start_rules(&a, "cfleet-a", cluster_conf(&n[x]), STORED_LISTS);
    fgd_start_rules(&b, "cfleet-b", cluster_conf(&n[y]), STORED_LISTS);
    wait_mirror(&a, "yes");
    wait_mirror(&b, "yes");
    assert_string_equal(query(&b, "x@example.org", "198.51.100.7"), "DUNNO");

    assert_non_null(strstr(ctl_out(&a, "ban 198.51.100.7 1h --reason 'seen by a'"), "198.51.100.7"));
    assert_string_equal(wait_action(&b, "x@example.org", "198.51.100.7", "REJECT"),
                        "REJECT 5.7.1 Banned: seen by a");
    ctl_out(&b, "unban 198.51.100.7");
    assert_string_equal(wait_action(&a, "x@example.org", "198.51.100.7", "DUNNO"), "DUNNO");
    ctl_out(&b, "ban 203.0.113.0/24 2h --reason net");
    assert_string_equal(wait_action(&a, "x@example.org", "203.0.113.9", "REJECT"), "REJECT 5.7.1 Banned: net");

    assert_non_null(strstr(ctl_out(&a, "list blocked add spam@example.org 'sent spam'"), "count"));
    assert_string_equal(wait_action(&b, "spam@example.org", "192.0.2.40", "REJECT"), "REJECT 5.7.1 sent spam");
    assert_non_null(strstr(ctl_out(&b, "list blocked add @bad.example junk"), "count"));
    assert_string_equal(wait_action(&a, "y@bad.example", "192.0.2.40", "REJECT"), "REJECT 5.7.1 junk");
    /* the records live on the owner of {floodgate:mirror}, under the tagged names */
    redisReply *r = redis_cmd(n[own].port, "HLEN %b", "\x1b\xffmirror{floodgate:mirror}", (size_t)26);
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1 + 1); /* the ban, the hash's epoch */
    freeReplyObject(r);

    /* a daemon started later reads both; its store is sharded, the cluster first (the mirror's place) */
    char sharded[512];
    snprintf(sharded, sizeof sharded,
             "type = \"sharded\"; timeout = \"3s\"; stores = ( { type = \"cluster\"; urls = [\"redis://127.0.0.1:%u\"]; },"
             " { type = \"redis\"; url = \"redis://127.0.0.1:%u/7\"; } );", n[own].port, single.port);
    fgd_start_rules(&c, "cfleet-c", sharded, STORED_LISTS);
    assert_string_equal(wait_action(&c, "x@example.org", "203.0.113.200", "REJECT"), "REJECT 5.7.1 Banned: net");
    assert_string_equal(wait_action(&c, "spam@example.org", "192.0.2.40", "REJECT"), "REJECT 5.7.1 sent spam");

    /* the mirror's slot migrates to y: while it moves the owner answers ASK, then every node MOVED */
    char slot[16], own_id[64], y_id[64], port[16];
    snprintf(slot, sizeof slot, "%u", redis_slot("{floodgate:mirror}", 18));
    snprintf(port, sizeof port, "%u", n[y].port);
    node_id(n[own].port, own_id, sizeof own_id);
    node_id(n[y].port, y_id, sizeof y_id);
    ok_cmd(n[y].port, "CLUSTER SETSLOT %s IMPORTING %s", slot, own_id);
    ok_cmd(n[own].port, "CLUSTER SETSLOT %s MIGRATING %s", slot, y_id);
    r = redis_cmd(n[own].port, "CLUSTER GETKEYSINSLOT %s 100", slot);
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *m = redis_cmd(n[own].port, "MIGRATE 127.0.0.1 %s %b 0 5000", port, r->element[i]->str,
                                  r->element[i]->len);
        assert_true(m && m->type == REDIS_REPLY_STATUS);
        freeReplyObject(m);
    }
    freeReplyObject(r);
    ctl_out(&a, "ban 192.0.2.66 1h --reason 'asked'");
    assert_string_equal(wait_action(&c, "x@example.org", "192.0.2.66", "REJECT"), "REJECT 5.7.1 Banned: asked");
    for (int i = 0; i < 3; i++)
        ok_cmd(n[i].port, "CLUSTER SETSLOT %s NODE %s", slot, y_id);
    ctl_out(&c, "ban 192.0.2.67 1h --reason 'moved'");
    assert_string_equal(wait_action(&a, "x@example.org", "192.0.2.67", "REJECT"), "REJECT 5.7.1 Banned: moved");
    assert_string_equal(wait_action(&b, "x@example.org", "192.0.2.67", "REJECT"), "REJECT 5.7.1 Banned: moved");
    r = redis_cmd(n[y].port, "HLEN %b", "\x1b\xffmirror{floodgate:mirror}", (size_t)26);
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer == 3 + 1); /* three bans, the hash's epoch */
    freeReplyObject(r);

    /* x dies: a's subscriber listened there; it moves to a node that is up and a hears b's ban */
    reap(n[x].pid, SIGKILL);
    ctl_out(&b, "ban 192.0.2.68 1h --reason 'after x died'");
    for (int i = 0; i < 500 && strncmp(query(&a, "x@example.org", "192.0.2.68"), "REJECT", 6); i++)
        poll(NULL, 0, 20);
    assert_string_equal(query(&a, "x@example.org", "192.0.2.68"), "REJECT 5.7.1 Banned: after x died");
    assert_true(ctl_num(&a, "mirror.moves") >= 1);
    assert_string_equal(ctl_stat(&a, "mirror.up"), "yes");
    fgd_stop(&a);
    fgd_stop(&b);
    fgd_stop(&c);
    for (int i = 0; i < 3; i++)
        reap(n[i].pid, SIGKILL);
}

/* The master of the mirror's slot dies and its replica takes over (3 masters, 3 replicas): a ban made
 * meanwhile holds on its daemon at once and reaches the other once the replica is master (the resync
 * writes it back); a ban made after the failover goes through too. */
static void test_cluster_fleet_failover(void **st)
{
    rsrv n[6];
    fgd a, b;
    int seed[2], ns = 0;
    (void)st;

    make_cluster(n, 6, 1);
    for (int i = 0; i < 6; i++) {
        ok_cmd(n[i].port, "CONFIG SET %s %s", "cluster-node-timeout", "1000");
        ok_cmd(n[i].port, "CONFIG SET %s %s", "cluster-require-full-coverage", "no");
    }
    int own = mirror_owner(n, 6);
    for (int i = 0; i < 6 && ns < 2; i++)
        if (i != own && info_has(n[i].port, "INFO replication", "role:master"))
            seed[ns++] = i;
    assert_int_equal(ns, 2);
    fgd_start_rules(&a, "cfail-a", cluster_conf(&n[seed[0]]), STORED_LISTS);
    fgd_start_rules(&b, "cfail-b", cluster_conf(&n[seed[1]]), STORED_LISTS);
    wait_mirror(&a, "yes");
    wait_mirror(&b, "yes");
    ctl_out(&a, "ban 192.0.2.80 1h --reason before");
    assert_string_equal(wait_action(&b, "x@example.org", "192.0.2.80", "REJECT"), "REJECT 5.7.1 Banned: before");

    reap(n[own].pid, SIGKILL);
    wait_mirror(&a, "no");
    ctl_out(&a, "ban 192.0.2.81 1h --reason 'during the failover'");
    assert_string_equal(query(&a, "x@example.org", "192.0.2.81"), "REJECT 5.7.1 Banned: during the failover");
    /* the replica takes the slot (a condition, bounded) */
    int promoted = -1;
    for (int tries = 0; tries < 600 && promoted < 0; tries++) {
        for (int i = 0; i < 6; i++) {
            redisReply *r = i == own ? NULL : redis_cmd(n[i].port, "EXISTS {floodgate:mirror}");
            if (r && r->type == REDIS_REPLY_INTEGER)
                promoted = i;
            if (r)
                freeReplyObject(r);
        }
        poll(NULL, 0, 50);
    }
    assert_true(promoted >= 0);
    for (int i = 0; i < 500 && strncmp(query(&b, "x@example.org", "192.0.2.81"), "REJECT", 6); i++)
        poll(NULL, 0, 20);
    assert_string_equal(query(&b, "x@example.org", "192.0.2.81"), "REJECT 5.7.1 Banned: during the failover");
    wait_mirror(&a, "yes");
    wait_mirror(&b, "yes");
    ctl_out(&b, "ban 192.0.2.82 1h --reason after");
    assert_string_equal(wait_action(&a, "x@example.org", "192.0.2.82", "REJECT"), "REJECT 5.7.1 Banned: after");
    assert_string_equal(query(&b, "x@example.org", "192.0.2.80"), "REJECT 5.7.1 Banned: before");
    fgd_stop(&a);
    fgd_stop(&b);
    for (int i = 0; i < 6; i++)
        reap(n[i].pid, SIGKILL);
}

/* keys_on - how many counters of node port are of senders "<word>N@example.org"; with names, those senders into
 * names[0..max) */
static int keys_on(unsigned port, const char *word, char names[][64], int max)
{
    redisReply *r = redis_cmd(port, "KEYS *%s*@example.org*", word);
    int n = 0;

    assert_true(r && r->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str, *end = k + r->element[i]->len;
        const char *p = memmem(k, r->element[i]->len, word, strlen(word));
        const char *at = p ? memmem(p, (size_t)(end - p), "@example.org", 12) : NULL;
        if (!at)
            continue;
        if (names && n < max)
            snprintf(names[n], 64, "%.*s", (int)(at + 12 - p), p);
        n++;
    }
    freeReplyObject(r);
    return names && n > max ? max : n;
}

/* replica_caught_up - within a bound, the (one) replica of the master on port has acknowledged every write the
 * master had made when this was called: its port, or 0 if it never does. WAIT cannot tell: it counts the replicas
 * that acknowledged the writes of the connection that sends it, and the test's connection wrote nothing (the
 * daemon did), so WAIT 1 answers 1 at once even while the writes still sit in the master's buffer, as they do
 * for a moment after a replica's first sync (the master streams only after the replica's first REPLCONF ACK) */
static unsigned replica_caught_up(unsigned port)
{
    long long want = -1;

    for (int tries = 0; tries < 600; tries++) {
        redisReply *r = redis_cmd(port, "INFO replication");
        const char *m = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "master_repl_offset:") : NULL;
        const char *s = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "slave0:") : NULL;
        unsigned rport = 0;
        long long off = -1;
        char state[32] = "";
        if (m && want < 0)
            want = strtoll(m + 19, NULL, 10);
        if (s && sscanf(s, "slave0:ip=%*[^,],port=%u,state=%31[^,],offset=%lld", &rport, state, &off) != 3)
            off = -1;
        if (r)
            freeReplyObject(r);
        if (want >= 0 && off >= want && !strcmp(state, "online"))
            return rport;
        poll(NULL, 0, 50);
    }
    return 0;
}

/* the daemon reads a promoted replica's slots within this (the map: each second); under valgrind, 3 times that */
#define FAILOVER_SEEN_MS (getenv("FG_WRAPPER") ? 12000 : 4000)

/* A master of a 3-master cluster with replicas is killed (issue 10): the requests for its slots get on_error
 * (answered, no crash) until its replica is promoted and the map is read again, which the daemon does within
 * FAILOVER_SEEN_MS of the replica saying it is master (it reads the map each second while a master is down;
 * with only the 10 s period it took up to 10 s); then its keys count on from where they were, exactly, as
 * the other masters' keys did all along. */
static void test_cluster_failover_counts(void **st)
{
    rsrv n[6];
    fgd a;
    char store_conf[512], sender[64], probes[64][64], fo_victim[30][64];
    int seed = -1, victim = -1;
    (void)st;

    make_cluster(n, 6, 1);
    for (int i = 0; i < 6; i++) {
        ok_cmd(n[i].port, "CONFIG SET %s %s", "cluster-node-timeout", "1000");
        ok_cmd(n[i].port, "CONFIG SET %s %s", "cluster-require-full-coverage", "no");
    }
    /* the fleet mirror's master stays up (its failover is test_cluster_fleet_failover's); the seed too */
    int own = mirror_owner(n, 6);
    for (int i = 0; i < 6; i++)
        if (i != own && info_has(n[i].port, "INFO replication", "role:master"))
            *(seed < 0 ? &seed : &victim) = i;
    assert_true(seed >= 0 && victim >= 0);
    snprintf(store_conf, sizeof store_conf, "type = \"cluster\"; urls = [\"redis://127.0.0.1:%u\"]; timeout = \"%s\";",
             n[seed].port, getenv("FG_WRAPPER") ? "3s" : "1s");
    fgd_start_rules(&a, "cfail-count", store_conf,
                    "rules = ( { name = \"per-sender\"; on = \"smtp:RCPT\"; limit = { key = [\"sender\"]; count = 3;"
                    " per = \"1h\"; }; action = \"DEFER_IF_PERMIT 4.7.1 Too many\"; } );\n");
    wait_all_connected(&a, 3);
    for (int k = 0; k < 30; k++) {
        snprintf(sender, sizeof sender, "fo%d@example.org", k);
        for (int i = 0; i < 2; i++)
            assert_string_equal(query(&a, sender, "192.0.2.50"), "DUNNO");
    }
    /* probes: senders counted once whose counters live on the victim */
    for (int k = 0; k < 90; k++) {
        snprintf(sender, sizeof sender, "probe%d@example.org", k);
        assert_string_equal(query(&a, sender, "192.0.2.51"), "DUNNO");
    }
    int on_victim = keys_on(n[victim].port, "fo", fo_victim, 30);
    int nprobes = keys_on(n[victim].port, "probe", probes, 64);
    assert_true(on_victim > 0 && on_victim < 30);
    assert_true(nprobes > 0);
    /* its replica has every count before it dies: it acknowledged the victim's writes, and holds the same keys */
    unsigned replica = replica_caught_up(n[victim].port);
    if (!replica)
        fail_msg("the replica of 127.0.0.1:%u never acknowledged its writes", n[victim].port);
    assert_int_equal(keys_on(replica, "fo", NULL, 0), on_victim);
    assert_int_equal(keys_on(replica, "probe", NULL, 0), keys_on(n[victim].port, "probe", NULL, 0));
    unsigned long long refreshes = ctl_num(&a, "store_cluster_refreshes");
    reap(n[victim].pid, SIGKILL);

    /* at once (the replica takes a second at least to be promoted): on_error */
    assert_true(!strncmp(query(&a, probes[0], "192.0.2.51"), "DEFER_IF_PERMIT 4.3.0", 21));
    /* until the replica is promoted, requests for the victim's keys get on_error, or DUNNO once it is and the
     * map is read again; each probe is used at most twice more, so it stays under its limit */
    int promoted = 0, used = 0;
    for (int tries = 0; tries < 600 && !promoted; tries++) {
        promoted = info_has(replica, "INFO replication", "role:master");
        if (!promoted && used + 1 < 2 * nprobes) {
            used++;
            const char *v = query(&a, probes[used % nprobes], "192.0.2.51");
            if (strcmp(v, "DUNNO") && strncmp(v, "DEFER_IF_PERMIT 4.3.0", 21))
                fail_msg("%s during the failover: %s", probes[used % nprobes], v);
        }
        if (!promoted)
            poll(NULL, 0, 50);
    }
    if (!promoted)
        fail_msg("the replica 127.0.0.1:%u of the killed master never said it was master", replica);
    /* the daemon reads the new master's slots soon after (a deadline on that event, polled) */
    uint64_t t0 = rconn_now_ms();
    long long c = -1;
    while (c != 2 && rconn_now_ms() - t0 < FAILOVER_SEEN_MS) {
        c = counter_try(&a, "per-sender", fo_victim[0]);
        if (c >= 0 && c != 2)
            fail_msg("%s counts %lld after the failover, want 2", fo_victim[0], c);
        if (c != 2)
            poll(NULL, 0, 20);
    }
    if (c != 2)
        fail_msg("%s (on the killed master) still unreadable %d ms after its replica said it was master",
                 fo_victim[0], FAILOVER_SEEN_MS);
    /* the map was read again since the kill: when the node went down, and once the replica had the slots */
    assert_true(ctl_num(&a, "store_cluster_refreshes") >= refreshes + 2);
    int readable = 0;
    for (int tries = 0; tries < 250 && readable < 30; tries++) {
        readable = 0;
        for (int k = 0; k < 30; k++) {
            snprintf(sender, sizeof sender, "fo%d@example.org", k);
            long long c = counter_try(&a, "per-sender", sender);
            if (c >= 0 && c != 2)
                fail_msg("%s counts %lld during the failover, want 2", sender, c);
            readable += c == 2;
        }
        if (readable < 30)
            poll(NULL, 0, 20);
    }
    assert_int_equal(readable, 30);
    /* every counter on from where it was: one more, then refused */
    for (int k = 0; k < 30; k++) {
        snprintf(sender, sizeof sender, "fo%d@example.org", k);
        assert_string_equal(query(&a, sender, "192.0.2.50"), "DUNNO");
        const char *v = query(&a, sender, "192.0.2.50");
        if (strncmp(v, "DEFER_IF_PERMIT 4.7.1", 21))
            fail_msg("%s after the failover: %s, want its limit", sender, v);
    }
    fgd_stop(&a);
    for (int i = 0; i < 6; i++)
        reap(n[i].pid, SIGKILL);
}

/* floodgated -t checks the store settings with their lines, and connects to nothing */
static void test_check_mode(void **st)
{
    static const struct {
        const char *store;
        int ok;
        const char *want; /* in the output, after FILE:LINE: */
    } cases[] = {
        {"type = \"redis\";\n url = \"redis://10.0.0.1:6379/0\";", 1, "configuration OK"},
        {"type = \"redis\";\n url = \"redis://10.0.0.1:99999\";", 0, ":3: store.url: redis://10.0.0.1:99999: the port"},
        {"type = \"redis\";\n url = \"rediss://10.0.0.1\";", 0, ":3: store.url: rediss://10.0.0.1: TLS"},
        {"type = \"redis\";\n urls = [\"redis://10.0.0.1\"];", 0, ":2: store: type \"redis\" takes one url"},
        {"type = \"redis\";\n url = \"redis://h\"; snapshot = \"x\";", 0, "snapshot and max_keys are settings"},
        {"type = \"cluster\";\n urls = [\"redis://10.0.0.1:7000\",\n \"redis://10.0.0.2:7000/3\"];", 0,
         ":4: store.urls: a cluster node is reached over TCP and has only database 0"},
        {"type = \"sharded\";\n stores = ( { type = \"redis\"; url = \"redis://a:1\"; },\n { type = \"memcache\"; } );", 0,
         ":4: store.stores: each is"},
        {"type = \"sharded\";\n stores = ( { type = \"redis\"; url = \"redis://a:1\"; },\n"
         " { type = \"cluster\"; urls = [\"redis://b:2\"]; read_from_replicas = true; } ); timeout = \"50ms\";", 1,
         "configuration OK"},
        {"type = \"tokyo\";", 0, ":2: store.type: \"tokyo\" is unknown"},
    };
    char path[600], cmd[1400], out[4096];
    (void)st;

    snprintf(path, sizeof path, "%s/check.conf", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "listen = { policy = \"unix:/tmp/x\"; };\nstore = { %s };\n%s", cases[i].store, RULES);
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s -t -c %s 2>&1", daemon_bin, path);
        FILE *p = popen(cmd, "r");
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        int status = pclose(p);
        if ((WEXITSTATUS(status) == 0) != cases[i].ok || !strstr(out, cases[i].want))
            fail_msg("case %zu: exit %d, output: %s (want %s)", i, WEXITSTATUS(status), out, cases[i].want);
    }
}

static int group_setup(void **st)
{
    (void)st;
    if (!mkdtemp(dir))
        return -1;
    if (getenv("FG_KEEP_TEMP"))
        fprintf(stderr, "temp: %s\n", dir);
    atexit(kill_all);
    redis_start(&single, 0, 0);
    return 0;
}

static int group_teardown(void **st)
{
    char cmd[1024];
    (void)st;
    kill_all();
    if (getenv("FG_KEEP_TEMP")) /* to read the logs of a failure */
        return 0;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: test_redis FLOODGATED FLOODGATECTL REDIS_SERVER REDIS_CLI\n");
        return 2;
    }
    daemon_bin = argv[1];
    ctl_bin = argv[2];
    redis_bin = argv[3];
    cli_bin = argv[4];
    signal(SIGPIPE, SIG_IGN);
    if (getenv("FG_TEST_FILTER")) /* one test while developing: FG_TEST_FILTER=test_cluster* */
        cmocka_set_test_filter(getenv("FG_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_mode),
        cmocka_unit_test(test_script_matches_embedded_store),
        cmocka_unit_test(test_script_matches_embedded_merged),
        cmocka_unit_test(test_window_value_layout),
        cmocka_unit_test(test_distinct_matches_embedded),
        cmocka_unit_test(test_skewed_clocks_share_one_window),
        cmocka_unit_test(test_script_deadline),
        cmocka_unit_test(test_skewed_daemons_share_one_window),
        cmocka_unit_test(test_url_auth_select_unix),
        cmocka_unit_test(test_requests_share_one_call),
        cmocka_unit_test(test_call_written_in_its_turn),
        cmocka_unit_test(test_one_read_per_call),
        cmocka_unit_test(test_reply_objects),
        cmocka_unit_test(test_mirror),
        cmocka_unit_test(test_mirror_resync_error),
        cmocka_unit_test(test_mirror_sweep),
        cmocka_unit_test(test_subscribe_timeout),
        cmocka_unit_test(test_call_deadline),
        cmocka_unit_test(test_retry_keeps_deadline),
        cmocka_unit_test(test_held_while_a_call_is_in_flight),
        cmocka_unit_test(test_calls_take_half),
        cmocka_unit_test(test_moved_storm_bounded),
        cmocka_unit_test(test_mirror_retry_keeps_deadline),
        cmocka_unit_test(test_two_daemons_share_a_limit),
        cmocka_unit_test(test_fleet_distinct),
        cmocka_unit_test(test_lock_contention),
        cmocka_unit_test(test_stored_list),
        cmocka_unit_test(test_stored_list_reload),
        cmocka_unit_test(test_watch_removed_while_waiting),
        cmocka_unit_test(test_fleet_bans),
        cmocka_unit_test(test_fleet_evalsha),
        cmocka_unit_test(test_fleet_hung_server),
        cmocka_unit_test(test_fleet_slow_server),
        cmocka_unit_test(test_fleet_hostile_peer),
        cmocka_unit_test(test_fleet_unban_outage),
        cmocka_unit_test(test_fleet_hash_lost),
        cmocka_unit_test(test_fleet_restart_quiet),
        cmocka_unit_test(test_fleet_history_expires),
        cmocka_unit_test(test_outage), cmocka_unit_test(test_rule_on_error_and_explain),
        cmocka_unit_test(test_reconnect_backoff_capped),
        cmocka_unit_test(test_outage_in_flight),
        cmocka_unit_test(test_late_calls_tcp),
        cmocka_unit_test(test_late_calls_unix),
        cmocka_unit_test(test_late_calls_sharded),
        cmocka_unit_test(test_metrics_servers),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_cluster_replicas),
        cmocka_unit_test(test_cluster_fleet),
        cmocka_unit_test(test_cluster_fleet_failover),
        cmocka_unit_test(test_cluster_failover_counts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
