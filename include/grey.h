/*
 * grey - the greylisting state machine
 *
 * A triplet (client network, sender, recipient) is seen for the first time:
 * a token is written that lives for retry_window, and the client is told to
 * come back after delay. A retry before delay is deferred again and the
 * clock is not reset. A retry after delay and within retry_window passes;
 * the triplet is then remembered as passed for pass_lifetime, refreshed at
 * every later pass. Each triplet that passes adds one to its client
 * network's count; a network with auto_allow passed triplets is not
 * greylisted any more (postgrey's --auto-whitelist-clients), and that too
 * lasts pass_lifetime after its last pass.
 *
 * Beyond Stalwart's greylist, which has no minimum delay, no client
 * address in the token and never refreshes a pass.
 *
 * A first sight stamped later than now (written by a clock that was ahead)
 * reads as a first sight now and is written back so: the delay then runs
 * from now; a triplet never passes before delay has passed on our clock.
 *
 * Like window.h, this is pure: the store hands in the two states it holds
 * and writes back what grey_decide says, inside one atomic step.
 */
#ifndef FG_GREY_H
#define FG_GREY_H

#include <stddef.h>
#include <stdint.h>

#define GREY_TRIPLET_SIZE 16 /* first seen (8), passed (1), pad */
#define GREY_CLIENT_SIZE 8   /* passed triplets (4), pad */

typedef struct grey_spec {
    uint64_t delay_ms;         /* minimum wait before a retry passes */
    uint64_t retry_window_ms;  /* how long a token waits for its retry */
    uint64_t pass_lifetime_ms; /* how long a pass is remembered */
    uint32_t auto_allow;       /* passed triplets that allow a network; 0 = never */
} grey_spec;

enum grey_result {
    GREY_NEW = 1,    /* first sight: deferred, token written */
    GREY_EARLY,      /* retry before delay: deferred */
    GREY_PASS_FIRST, /* retry after delay: passes, remembered */
    GREY_PASS,       /* a remembered pass: passes, refreshed */
    GREY_AUTO,       /* the network is auto-allowed: passes */
};

typedef struct grey_step {
    enum grey_result result;
    uint64_t retry_ms;                          /* NEW, EARLY: until the delay is over */
    int write_triplet;                          /* write triplet with triplet_expires */
    unsigned char triplet[GREY_TRIPLET_SIZE];
    uint64_t triplet_expires;
    int write_client;                           /* write client with client_expires */
    unsigned char client[GREY_CLIENT_SIZE];
    uint64_t client_expires;
} grey_step;

/* grey_decide - one request's step; triplet/client are the stored states or NULL */
void grey_decide(const grey_spec *spec, uint64_t now_ms, const void *triplet, size_t tlen, const void *client,
                 size_t clen, grey_step *out);
/* grey_passes - does this result let the request through? */
static inline int grey_passes(enum grey_result r)
{
    return r >= GREY_PASS_FIRST;
}

#endif
