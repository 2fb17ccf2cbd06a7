/*
 * bancost - what the ban check costs a request: the bench rule set on the embedded store, NBANS bans in the
 * index, NREQ requests shaped as policy-load sends them (client addresses 10.0.0.0 to 209.255.255.255, none
 * banned: every request passes the check, as nearly all do on a real server)
 *
 *     bancost CONF NBANS NREQ
 *
 * Not a test and not timed: make bench runs it under callgrind (--toggle-collect=engine_eval, then
 * ban_match) and divides the instructions by NREQ, a figure that does not move with the load of the machine.
 * The bans are spread as a real list would be, over the same four prefix lengths whatever NBANS is (IPv4
 * /32 and /24 in 210.0.0.0/7 and 212.0.0.0/6, IPv6 /128 and /64 in 2001:db8::/32), so that 10 and 1,000,000
 * bans cost the same number of probes and only the table size differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ban.h"
#include "conf.h"
#include "engine.h"
#include "mem.h"
#include "proto.h"

static unsigned rng = 2463534242u;

/* rnd - xorshift32, as policy-load draws its pools */
static unsigned rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* load_bans - n bans, a quarter of each kind */
static void load_bans(struct ban_index *bi, unsigned long n, uint64_t now_s)
{
    char text[64];
    const char *why;
    ban_rec r;

    for (unsigned long i = 0; i < n; i++) {
        unsigned long j = i / 4; /* a distinct key of each kind */
        switch (i % 4) {
        case 0: snprintf(text, sizeof text, "%lu.%lu.%lu.%lu", 210 + (j >> 24) % 2, (j >> 16) & 255, (j >> 8) & 255, j & 255); break;
        case 1: snprintf(text, sizeof text, "%lu.%lu.%lu.0/24", 212 + (j >> 16) % 4, (j >> 8) & 255, j & 255); break;
        case 2: snprintf(text, sizeof text, "2001:db8:1::%lx:%lx", (j >> 16) & 0xffff, j & 0xffff); break;
        default: snprintf(text, sizeof text, "2001:db8:%lx:%lx::/64", 16 + ((j >> 16) & 0xff), j & 0xffff); break;
        }
        if (ban_parse(text, &r, &why) < 0) {
            fprintf(stderr, "bancost: %s: %s\n", text, why);
            exit(1);
        }
        r.since = now_s;
        r.expires = now_s + 86400;
        r.times = 1;
        r.reason = "bench";
        if (ban_add(bi, &r) < 0) {
            fprintf(stderr, "bancost: out of memory at %lu bans\n", i);
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    conf_errors errs = {0};
    static char buf[4096];
    uint64_t now = 1800000000000ULL;
    unsigned long refused = 0, nbans, nreq;
    fg_conf *conf;
    fg_request req;
    eval ev = {0};

    if (argc != 4) {
        fprintf(stderr, "usage: bancost CONF NBANS NREQ\n");
        return 2;
    }
    nbans = strtoul(argv[2], NULL, 10);
    nreq = strtoul(argv[3], NULL, 10);
    if (!(conf = conf_load(argv[1], &errs))) {
        for (unsigned i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        return 1;
    }
    store *st = mem_store_new(&(mem_config){.seed = 1});
    engine eng = {.store = st, .bans = ban_index_new(), .on_error = ON_ERROR_TEMPFAIL};
    load_bans(eng.bans, nbans, now / 1000);
    for (unsigned long i = 0; i < nreq; i++, now += 1) {
        unsigned ip = rnd() % 5000, snd = rnd() % 2000, rcp = rnd() % 500;
        int n = snprintf(buf, sizeof buf,
                         "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                         "client_address=%u.%u.%u.%u\nclient_name=host%u.example.net\nhelo_name=mx%u.example.net\n"
                         "sender=user%u@sender%u.example.org\nrecipient=rcpt%u@example.com\nsize=%u\n\n",
                         10 + (ip >> 16) % 200, (ip >> 8) & 255, ip & 255, 1 + ip % 250, ip, ip, snd, snd % 97, rcp,
                         1000 + rnd() % 100000);
        if (proto_parse(buf, (size_t)n - 1, &req) != PROTO_OK) {
            fprintf(stderr, "bancost: bad request\n");
            return 1;
        }
        if (engine_eval(&eng, &ev, conf->rules, &req, now, NULL, NULL) != ENGINE_DONE)
            return 1;
        refused += (unsigned long)ev.v.refused;
    }
    printf("bans=%zu requests=%lu refused=%lu\n", ban_count(eng.bans), nreq, refused);
    eval_release(&ev);
    ban_index_free(eng.bans);
    store_free(st);
    conf_free(conf);
    return 0;
}
