/*
 * rediscost - what a request costs Redis: the redis bench rule set through the engine and the redis store,
 * NREQ requests shaped as policy-load sends them (the same pools: 5,000 client addresses, 2,000 senders, 500
 * recipients), submitted K at a time in one turn of the event loop, then waiting for the K answers. The store
 * merges the requests of one turn in calls of half the requests outstanding at most (4 at least: redis.c
 * on_flush), so K requests go in calls of max(4, K/2): 1 a call for K = 1, 4 for 8, 8 for 16
 *
 *     rediscost CONF NREQ K [SKIP]
 *
 * SKIP: the first SKIP requests of the sequence are drawn and not sent (a Redis that was loaded with them
 * beforehand then sees hot keys, as in a long run).
 * Not a test and not timed: make bench runs the redis-server it starts under callgrind and divides the
 * instructions Redis spent by NREQ, a figure that the machine's load does not move (the ratio of make bench
 * does: the load generator, floodgated and Redis share the machine's cores). K fixes how many requests
 * share a call, which under load depends on timing (about 7 at 16 connections in make bench).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "engine.h"
#include "proto.h"
#include "redis.h"

#define K_MAX 64 /* requests per loop turn (REDIS_PARTS_MAX) */

static unsigned rng = 2463534242u;
static unsigned pending;

/* rnd - xorshift32, as policy-load draws its pools */
static unsigned rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* on_done - one request answered */
static void on_done(eval *ev, void *arg)
{
    (void)ev;
    (void)arg;
    pending--;
}

/* wait_up - run the loop until the store's servers are connected (at most 10 s) */
static int wait_up(struct event_base *base, store *s)
{
    store_server sv[16];
    for (int i = 0; i < 2000; i++) {
        size_t n = store_servers(s, sv, 16), up = 0;
        for (size_t j = 0; j < n && j < 16; j++)
            up += (size_t)sv[j].up;
        if (n && up == n)
            return 0;
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return -1;
}

int main(int argc, char **argv)
{
    conf_errors errs = {0};
    static char buf[K_MAX][4096];
    static fg_request req[K_MAX];
    static eval ev[K_MAX];
    unsigned long nreq, k, skip = 0, done = 0, refused = 0, failed = 0;
    fg_conf *conf;
    char err[512];
    store_server sv[1];

    if (argc < 4 || argc > 5 || (k = strtoul(argv[3], NULL, 10)) < 1 || k > K_MAX) {
        fprintf(stderr, "usage: rediscost CONF NREQ K [SKIP] (K from 1 to %d)\n", K_MAX);
        return 2;
    }
    nreq = strtoul(argv[2], NULL, 10);
    if (argc == 5)
        skip = strtoul(argv[4], NULL, 10);
    for (unsigned long i = 0; i < skip; i++) /* the draws of the requests skipped (3 + 1 for the size) */
        rnd(), rnd(), rnd(), rnd();
    if (!(conf = conf_load(argv[1], &errs))) {
        for (unsigned i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        return 1;
    }
    if (!conf->store.redis.kind) {
        fprintf(stderr, "rediscost: %s has no redis store\n", argv[1]);
        return 1;
    }
    struct event_base *base = event_base_new();
    redis_config rc = {.timeout_ms = 60000, .connect_timeout_ms = 60000}; /* Redis under callgrind is slow */
    store *st = redis_store_new(base, &conf->store.redis, &rc, err, sizeof err);
    if (!st || wait_up(base, st) < 0) {
        fprintf(stderr, "rediscost: %s\n", st ? "the store did not connect" : err);
        return 1;
    }
    engine eng = {.store = st, .on_error = ON_ERROR_TEMPFAIL};
    store_servers(st, sv, 1);
    uint64_t calls0 = sv[0].round_trips;
    while (done < nreq) {
        unsigned long n = nreq - done < k ? nreq - done : k;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        for (unsigned long i = 0; i < n; i++) {
            unsigned ip = rnd() % 5000, snd = rnd() % 2000, rcp = rnd() % 500;
            int len = snprintf(buf[i], sizeof buf[i],
                               "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                               "client_address=%u.%u.%u.%u\nclient_name=host%u.example.net\nhelo_name=mx%u.example.net\n"
                               "sender=user%u@sender%u.example.org\nrecipient=rcpt%u@example.com\nsize=%u\n\n",
                               10 + (ip >> 16) % 200, (ip >> 8) & 255, ip & 255, 1 + ip % 250, ip, ip, snd, snd % 97,
                               rcp, 1000 + rnd() % 100000);
            if (proto_parse(buf[i], (size_t)len - 1, &req[i]) != PROTO_OK) {
                fprintf(stderr, "rediscost: bad request\n");
                return 1;
            }
            pending++;
            if (engine_eval(&eng, &ev[i], conf->rules, &req[i], now, on_done, NULL) == ENGINE_DONE)
                pending--;
        }
        while (pending)
            event_base_loop(base, EVLOOP_ONCE);
        for (unsigned long i = 0; i < n; i++) {
            refused += (unsigned long)ev[i].v.refused;
            failed += ev[i].failed >= 0;
        }
        done += n;
    }
    store_servers(st, sv, 1);
    printf("requests=%lu per_call=%lu calls=%llu refused=%lu failed=%lu\n", nreq, k,
           (unsigned long long)(sv[0].round_trips - calls0), refused, failed);
    for (unsigned i = 0; i < K_MAX; i++)
        eval_release(&ev[i]);
    store_free(st);
    event_base_free(base);
    conf_free(conf);
    return failed ? 1 : 0;
}
