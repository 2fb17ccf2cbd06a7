/*
 * bandump - the replies of `bans format=FMT` and of a new `bans follow=yes`, big ones written by a child
 *
 * What the control connection gets is the same bytes whatever the size: `bans format=FMT` answers
 *     status=ok
 *     format=json
 *     count=N            (the lines that follow)
 *     line[]=...         (each line of banexport's text)
 *     <empty line>
 * and a new follower gets "status=ok", the empty line, a "ban ..." line (or JSON object) per current ban and
 * "synced N" (banpub_follow_start). Below BANDUMP_CHILD_MIN bans the loop builds that in the connection's
 * output (bandump_reply), as any reply.
 *
 * From BANDUMP_CHILD_MIN bans on, a forked child writes it (bandump_start): a million bans make 12 to 113 MB
 * of text and took the loop 0.3-3.4 s to build and queue, and every policy answer waited behind it. The
 * child has a copy-on-write image of the bans, resets every signal to its default (as the snapshot child:
 * the parent's handlers write to libevent's signal pipe), closes every descriptor but stderr and the
 * client's socket (a connection the parent closes meanwhile sees its end at once), formats, and writes the
 * reply to the socket in BANDUMP_CHUNK pieces, waiting with poll() when the socket is full; it gives up
 * (exit 1) when no byte left for the write timeout, and leaves by _exit, running no handler of the parent's.
 * The parent goes on serving; the connection (conn.c) writes nothing of its own until the child is reaped,
 * and holds what it must send after (a follower's ban events, bounded by CONN_FOLLOW_MAX), so the client
 * reads the reply, then those, in order. Children are reaped by pid on a BANDUMP_REAP_MS timer (never
 * waitpid(-1): the hooks and the writers have children too); one whose connection went is killed (SIGTERM)
 * and reaped all the same.
 *
 * INVARIANTS
 *     While a child runs for a connection, only the child writes to its socket. Every child started is
 *     reaped, by the timer or, at bandump_free, by a blocking wait after SIGTERM: no zombie stays.
 *
 * SECURITY
 *     What a client that never reads can cost: one child (its copy-on-write pages and its text) for the
 *     write timeout, per control connection, and the control connections are few and the admin's.
 *
 * BUGS
 *     The child's pages are the parent's until one of them writes: a busy parent copies those it changes,
 *     so a dump of a big index during a flood of bans costs memory for its duration.
 */
#ifndef FG_BANDUMP_H
#define FG_BANDUMP_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

#include "banpub.h"

#define BANDUMP_CHILD_MIN 10000   /* bans from which a dump is written by a child, off the loop */
#define BANDUMP_CHUNK (64 * 1024) /* bytes per write of the child */
#define BANDUMP_REAP_MS 20        /* how often running children are looked at */

/* what is dumped: a format (BANEXPORT_NFT..BANEXPORT_JSON), or the first list of a follower */
enum { BANDUMP_FOLLOW = 4, BANDUMP_FOLLOW_JSON = 5, BANDUMP_KINDS = 6 };

typedef struct bandump bandump;

typedef struct bandump_stats {
    uint64_t forked;   /* children started */
    uint64_t failed;   /* children that did not finish their reply (client gone, timeout, killed) */
    pid_t last_pid;    /* the last child started (tests look for its zombie) */
} bandump_stats;

/* bandump_done_fn - a child finished: ok when it wrote its whole reply */
typedef void (*bandump_done_fn)(void *arg, int ok);

/* bandump_new - children's bookkeeping on base */
bandump *bandump_new(struct event_base *base);
/* bandump_free - kill (SIGTERM) and reap every running child; no callback is called */
void bandump_free(bandump *d);
/* bandump_reply - the whole reply of kind, built here (small dumps, and when no child can be made) */
void bandump_reply(banpub *p, int kind, struct evbuffer *out);
/* bandump_start - fork a child that writes the reply of kind to fd; done(arg, ok) once it is reaped.
 * The child's pid, or -1 when fork failed (then nothing was written) */
pid_t bandump_start(bandump *d, banpub *p, int kind, int fd, uint64_t timeout_ms, bandump_done_fn done, void *arg);
/* bandump_cancel - the connection of child pid is gone: kill the child, reap it later, call nothing */
void bandump_cancel(bandump *d, pid_t pid);
/* bandump_running - children not reaped yet */
size_t bandump_running(const bandump *d);
/* bandump_get_stats - counters */
bandump_stats bandump_get_stats(const bandump *d);
/* bandump_child_signals - in a forked child: every signal to its default action, none blocked */
void bandump_child_signals(void);

#endif
