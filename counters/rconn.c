/*
 * rconn - one connection to one Redis server (see rconn.h; its URLs are
 * read in rconn_url.c)
 *
 * Our own FIFO mirrors hiredis's list of callbacks: each command pushes an
 * entry (callback, argument, deadline, send time), each reply pops the
 * head, since Redis answers a connection's commands in order. hiredis gets
 * the connection itself as private data, so nothing of a request is ever
 * reachable from hiredis once the connection that carried it is dropped.
 *
 * One timer per connection watches the deadlines. It is armed for the
 * earliest deadline and re-armed only when it fires, not at every reply,
 * so a busy connection costs no timer operation per command.
 *
 * A command may also carry its caller's own deadline (rconn_send_by: a
 * request retried after NOSCRIPT, MOVED or ASK has only what is left of
 * its timeout). Past it the caller is answered NULL and the entry stays in
 * the FIFO without a callback, so the order of replies holds and the late
 * reply is dropped; the connection itself is judged by the command's own
 * deadline (the full timeout), as for any other command.
 *
 * The clock here is CLOCK_MONOTONIC, read for deadlines and latencies
 * only: nothing here counts events, so the request clock of the engine is
 * not needed.
 */
#include "rconn.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"

typedef struct rconn_entry {
    rconn_reply_fn cb;     /* NULL: the reply is not wanted */
    void *arg;
    uint64_t deadline_ms;  /* drop the connection if not answered by then */
    uint64_t answer_by_ms; /* answer the caller NULL by then (the reply, if it comes, is dropped); 0 = none */
    uint64_t sent_us;      /* for the latency histogram */
    int script;            /* a script call */
    int answered;          /* its caller was answered NULL at answer_by_ms, and counted in failed then */
    int awaited;           /* rconn_await: its caller holds what it would send next until it is answered */
} rconn_entry;

struct rconn {
    struct event_base *base;
    rconn_url url;
    rconn_config cfg;
    char name[300];            /* host:port or the path, for logs and stats */
    char addr[INET6_ADDRSTRLEN]; /* the numeric address connected to */
    redisAsyncContext *ac;     /* current connection, NULL when there is none */
    int up;                    /* set up: requests are sent */
    int outage;                /* since a failure: requests are refused at once */
    uint64_t outage_start_ms;  /* when it started */
    uint64_t outage_refused;   /* requests refused or failed during it */
    uint64_t backoff_ms;       /* next reconnect delay */
    uint64_t retry_in_ms;      /* the delay the reconnect timer is armed with, 0 when it is not */
    struct event *retry;       /* reconnect timer */
    struct event *watch;       /* deadline timer */
    uint64_t watch_ms;         /* the deadline it is armed for, 0 = not armed */
    uint64_t sub_deadline_ms;  /* a subscriber: SUBSCRIBE (a heartbeat too) confirmed by then, 0 = not waiting */
    struct event *beat;        /* a subscriber's heartbeat timer (cfg.heartbeat_ms), NULL = none */
    char sha[41];              /* the script's sha once loaded */
    int clock_known;           /* clock_off holds (rconn_clock_sample), since the connection was made */
    int64_t clock_off;         /* the server's clock minus ours (ms): a lower bound */
    uint64_t clock_at_ms;      /* when it was taken */
    rconn_entry *q;            /* FIFO ring of commands in flight */
    size_t qcap, qhead, qlen;
    size_t awaited;            /* entries in q marked by rconn_await whose caller is not answered yet */
    rconn_stats st;
    uint64_t hist[RCONN_HIST]; /* reply latencies */
    uint64_t hist_n;
    char *cmd;                 /* a command in the protocol's form, built here (kept for reuse) */
    size_t cmd_cap;
};

/* mono_us - CLOCK_MONOTONIC in microseconds */
static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* say - a log line, if the owner gave a logger */
#define say(rc, level, ...)                                                                                       \
    do {                                                                                                          \
        if ((rc)->cfg.log)                                                                                        \
            (rc)->cfg.log(level, __VA_ARGS__);                                                                    \
    } while (0)

/* ---- the FIFO ---- */

/* q_push - append an entry */
static void q_push(rconn *rc, const rconn_entry *e)
{
    if (rc->qlen == rc->qcap) {
        size_t ncap = rc->qcap ? rc->qcap * 2 : 64;
        rconn_entry *nq = fg_malloc(ncap * sizeof *nq);
        for (size_t i = 0; i < rc->qlen; i++)
            nq[i] = rc->q[(rc->qhead + i) % rc->qcap];
        fg_free(rc->q);
        rc->q = nq;
        rc->qcap = ncap;
        rc->qhead = 0;
    }
    rc->q[(rc->qhead + rc->qlen) % rc->qcap] = *e;
    rc->qlen++;
    if (rc->qlen > rc->st.max_depth)
        rc->st.max_depth = rc->qlen;
}

/* q_pop - remove the head; 0 if the FIFO was empty */
static int q_pop(rconn *rc, rconn_entry *out)
{
    if (!rc->qlen)
        return 0;
    *out = rc->q[rc->qhead];
    rc->qhead = (rc->qhead + 1) % rc->qcap;
    rc->qlen--;
    rc->awaited -= out->awaited && out->cb; /* one answered at its answer_by was taken off then */
    return 1;
}

/* record_latency - one reply's latency into the histogram */
static void record_latency(rconn *rc, uint64_t us)
{
    unsigned msb = 0, i;

    while (msb < 63 && (us >> (msb + 1)))
        msb++;
    /* 8 buckets per power of two: the three bits below the top one */
    i = msb < 3 ? (unsigned)us : (msb - 2) * 8 + (unsigned)((us >> (msb - 3)) & 7);
    if (i >= RCONN_HIST)
        i = RCONN_HIST - 1;
    rc->hist[i]++;
    rc->hist_n++;
}

/* hist_upper - the largest latency that falls in bucket i */
static uint64_t hist_upper(unsigned i)
{
    if (i < 8)
        return i;
    unsigned msb = i / 8 + 2, sub = i % 8;
    return ((uint64_t)(8 + sub + 1) << (msb - 3)) - 1;
}

/* ---- connecting and dropping ---- */

static void connect_now(rconn *rc);

/* schedule_retry - the reconnect timer, with capped exponential backoff */
static void schedule_retry(rconn *rc)
{
    if (evtimer_pending(rc->retry, NULL))
        return;
    struct timeval tv = {(time_t)(rc->backoff_ms / 1000), (suseconds_t)(rc->backoff_ms % 1000 * 1000)};

    evtimer_add(rc->retry, &tv);
    rc->retry_in_ms = rc->backoff_ms;
    rc->backoff_ms = rc->backoff_ms * 2 > RCONN_BACKOFF_MAX_MS ? RCONN_BACKOFF_MAX_MS : rc->backoff_ms * 2;
}

/* fail_all - the connection is gone: an outage starts (logged once), every command in flight is answered NULL */
static void fail_all(rconn *rc, const char *why)
{
    rconn_entry e;
    int was_up = rc->up;

    rc->up = 0;
    rc->sub_deadline_ms = 0;
    rc->clock_known = 0; /* the next connection learns it again (TIME in its set-up) */
    if (!rc->outage) {
        rc->outage = 1;
        rc->outage_start_ms = mono_us() / 1000;
        rc->outage_refused = 0;
        rc->st.outages++;
        say(rc, 4, "redis %s: unavailable (%s); requests get their on_error action until it is back", rc->name, why);
    }
    while (q_pop(rc, &e)) {
        rc->st.failed += !e.answered;
        rc->outage_refused += e.script && !e.answered;
        if (e.cb)
            e.cb(rc, NULL, e.arg);
    }
    if (was_up && rc->cfg.on_state)
        rc->cfg.on_state(rc, 0, rc->cfg.state_arg);
}

/* drop - close the current connection on our side and plan a reconnect */
static void drop(rconn *rc, const char *why)
{
    redisAsyncContext *ac = rc->ac;

    rc->ac = NULL; /* first: hiredis's NULL replies for ac are then ignored */
    fail_all(rc, why);
    if (ac)
        redisAsyncFree(ac);
    schedule_retry(rc);
}

/* on_connect - hiredis: the TCP/unix connect finished */
static void on_connect(const redisAsyncContext *ac, int status)
{
    rconn *rc = ac->data;

    if (status == REDIS_OK || ac != rc->ac)
        return;
    /* hiredis frees ac after this returns */
    rc->ac = NULL;
    fail_all(rc, ac->errstr[0] ? ac->errstr : "cannot connect");
    schedule_retry(rc);
}

/* on_disconnect - hiredis: the connection was lost (ours are never current when we close them) */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rconn *rc = ac->data;

    (void)status;
    if (ac != rc->ac)
        return;
    rc->ac = NULL;
    fail_all(rc, ac->errstr[0] ? ac->errstr : "connection closed");
    schedule_retry(rc);
}

/* arm_watch - make sure the deadline timer fires by deadline_ms */
static void arm_watch(rconn *rc, uint64_t deadline_ms)
{
    uint64_t now = mono_us() / 1000, in;

    if (rc->watch_ms && rc->watch_ms <= deadline_ms)
        return;
    in = deadline_ms > now ? deadline_ms - now : 0;
    struct timeval tv = {(time_t)(in / 1000), (suseconds_t)(in % 1000 * 1000)};
    evtimer_add(rc->watch, &tv);
    rc->watch_ms = deadline_ms;
}

/* on_watch - a deadline passed: drop the connection if a command is late, else wait for the next deadline */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    rconn *rc = arg;
    uint64_t now = mono_us() / 1000, next = 0;

    (void)fd;
    (void)what;
    rc->watch_ms = 0;
    if (rc->sub_deadline_ms && rc->sub_deadline_ms <= now) {
        rc->st.timeouts++;
        drop(rc, rc->up ? "no answer to the heartbeat within the timeout"
                        : "SUBSCRIBE not confirmed within the timeout");
        return;
    }
    for (size_t i = 0; i < rc->qlen; i++)
        if (rc->q[(rc->qhead + i) % rc->qcap].deadline_ms <= now) {
            rc->st.timeouts++;
            drop(rc, "no answer within the timeout");
            return;
        }
    /* callers whose own deadline passed are answered NULL; a callback may send (the ring may grow and move, the
     * order of its entries holds), so each is looked up again by its place */
    for (size_t i = 0; i < rc->qlen; i++) {
        rconn_entry *e = &rc->q[(rc->qhead + i) % rc->qcap];
        if (e->cb && e->answer_by_ms && e->answer_by_ms <= now) {
            rconn_reply_fn cb = e->cb;
            e->cb = NULL;
            e->answered = 1;
            rc->awaited -= e->awaited;
            rc->st.failed++;
            cb(rc, NULL, e->arg);
        }
    }
    next = rc->sub_deadline_ms;
    for (size_t i = 0; i < rc->qlen; i++) {
        const rconn_entry *e = &rc->q[(rc->qhead + i) % rc->qcap];
        uint64_t d = e->cb && e->answer_by_ms && e->answer_by_ms < e->deadline_ms ? e->answer_by_ms : e->deadline_ms;
        if (!next || d < next)
            next = d;
    }
    if (next)
        arm_watch(rc, next);
}

/* on_reply - hiredis: a reply (or NULL while hiredis frees a context) */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    rconn *rc = privdata;
    rconn_entry e;

    if (ac != rc->ac || !q_pop(rc, &e))
        return;
    if (!r) {
        rc->st.failed += !e.answered;
    } else {
        rc->st.replies++;
        rc->st.errors += ((redisReply *)r)->type == REDIS_REPLY_ERROR;
        record_latency(rc, mono_us() - e.sent_us);
    }
    if (e.cb)
        e.cb(rc, r, e.arg);
}

/* put_len - "<c><n>\r\n" at p; returns the end */
static char *put_len(char *p, char c, size_t n)
{
    char tmp[24], *d = tmp + sizeof tmp;

    do {
        *--d = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    *p++ = c;
    memcpy(p, d, (size_t)(tmp + sizeof tmp - d));
    p += tmp + sizeof tmp - d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* format_command - the command in the protocol's form (RESP: *argc, then $len and the bytes of each), in
 * rc->cmd; hiredis would build it with a printf-like formatter, a third of a script call's cost here */
static size_t format_command(rconn *rc, int argc, const char **argv, const size_t *lens)
{
    size_t need = 24 + 2 + 1;
    for (int i = 0; i < argc; i++)
        need += 1 + 20 + 2 + lens[i] + 2;
    if (need > rc->cmd_cap) {
        rc->cmd_cap = need < 4096 ? 4096 : need;
        fg_free(rc->cmd);
        rc->cmd = fg_malloc(rc->cmd_cap);
    }
    char *p = put_len(rc->cmd, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_len(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0'; /* not sent: hiredis looks one byte past a command's last argument, as its own have a NUL there */
    return (size_t)(p - rc->cmd);
}

/* push_command - write a command on the current connection with its deadline (and the caller's, answer_by_ms) */
static int push_command(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg,
                        uint64_t timeout_ms, uint64_t answer_by_ms)
{
    uint64_t now_us = mono_us(), deadline_ms = now_us / 1000 + timeout_ms;
    /* the caller's deadline counts only when it comes first (and there is a caller to answer) */
    rconn_entry e = {cb, arg, deadline_ms, cb && answer_by_ms < deadline_ms ? answer_by_ms : 0, now_us, 0, 0, 0};

    if (argc >= 1 && lens[0] >= 4 && !strncasecmp(argv[0], "EVAL", 4))
        e.script = 1;
    if (!rc->ac)
        return -1;
    size_t len = format_command(rc, argc, argv, lens);
    if (redisAsyncFormattedCommand(rc->ac, on_reply, rc, rc->cmd, len) != REDIS_OK)
        return -1;
    q_push(rc, &e);
    rc->st.commands++;
    rc->st.scripts += (uint64_t)e.script;
    arm_watch(rc, e.answer_by_ms ? e.answer_by_ms : e.deadline_ms);
    return 0;
}

/* on_setup_reply - AUTH, SELECT, READONLY: anything but an error is fine */
static void on_setup_reply(rconn *rc, redisReply *r, void *arg)
{
    const char *what = arg;

    if (!r)
        return; /* the connection is already being dropped */
    if (r->type == REDIS_REPLY_ERROR) {
        say(rc, 3, "redis %s: %s refused: %.*s", rc->name, what, (int)r->len, r->str);
        drop(rc, "set-up refused");
    }
}

/* mark_up - set-up is complete: the connection is up, an outage ends */
static void mark_up(rconn *rc)
{
    rc->up = 1;
    rc->sub_deadline_ms = 0;
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->st.connects++;
    if (rc->outage) {
        rc->outage = 0;
        say(rc, 6, "redis %s: back after %llu ms (%llu requests got on_error meanwhile)", rc->name,
            (unsigned long long)(mono_us() / 1000 - rc->outage_start_ms), (unsigned long long)rc->outage_refused);
    }
    if (rc->cfg.on_state)
        rc->cfg.on_state(rc, 1, rc->cfg.state_arg);
}

/* on_subscribed - hiredis, subscriber mode: the SUBSCRIBE confirmation (the connection is up), then each
 * message; NULL (or an old context) while hiredis frees a context */
static void on_subscribed(redisAsyncContext *ac, void *reply, void *privdata)
{
    rconn *rc = privdata;
    redisReply *r = reply;

    if (ac != rc->ac || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    rc->st.replies++;
    if (!strcmp(r->element[0]->str, "subscribe")) {
        rc->sub_deadline_ms = 0; /* confirmed: the first SUBSCRIBE, or a heartbeat */
        if (!rc->up)
            mark_up(rc);
    } else if (!strcmp(r->element[0]->str, "message") && r->element[2]->type == REDIS_REPLY_STRING) {
        if (rc->cfg.on_message)
            rc->cfg.on_message(rc, r->element[2]->str, r->element[2]->len, rc->cfg.message_arg);
    }
}

/* subscribe - SUBSCRIBE to the channel, to be confirmed within the request timeout (the first one, and each
 * heartbeat: Redis answers a channel already subscribed to as a new one, and hiredis hands that answer to
 * on_subscribed, which a PING's "pong" would never reach). Not in the FIFO: its callback runs once per
 * message, for as long as the connection lives. 0, or -1 with the connection dropped */
static int subscribe(rconn *rc)
{
    const char *argv[2] = {"SUBSCRIBE", rc->cfg.subscribe};
    size_t lens[2] = {9, strlen(rc->cfg.subscribe)};

    if (redisAsyncCommandArgv(rc->ac, on_subscribed, rc, 2, argv, lens) != REDIS_OK) {
        drop(rc, "SUBSCRIBE failed");
        return -1;
    }
    rc->st.commands++;
    /* a server that never confirms is dropped, and reconnected to. A heartbeat has two heartbeats more than the
     * first SUBSCRIBE: a server a little slower than the request timeout for a moment (a fork for BGSAVE, a slow
     * command) is not hung, and dropping it would read every ban and list of the fleet again */
    uint64_t t = rc->cfg.timeout_ms ? rc->cfg.timeout_ms : rc->cfg.connect_timeout_ms;
    if (rc->up)
        t += 2 * rc->cfg.heartbeat_ms;
    rc->sub_deadline_ms = mono_us() / 1000 + t;
    arm_watch(rc, rc->sub_deadline_ms);
    return 0;
}

/* on_beat - a subscriber's heartbeat timer: subscribe again, unless it is down or the last one is unanswered */
static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    rconn *rc = arg;

    (void)fd;
    (void)what;
    if (rc->up && rc->ac && !rc->sub_deadline_ms)
        subscribe(rc);
}

/* on_script_loaded - the last set-up step: the connection is up (a subscriber subscribes first) */
static void on_script_loaded(rconn *rc, redisReply *r, void *arg)
{
    (void)arg;
    if (!r)
        return;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        say(rc, 3, "redis %s: SCRIPT LOAD refused: %.*s", rc->name, r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
            r->type == REDIS_REPLY_ERROR ? r->str : "");
        drop(rc, "SCRIPT LOAD refused");
        return;
    }
    memcpy(rc->sha, r->str, 40);
    rc->sha[40] = '\0';
    if (rc->cfg.subscribe) {
        subscribe(rc);
        return;
    }
    mark_up(rc);
}

/* on_time - TIME in the set-up: [seconds, microseconds], the server's clock (cfg.clock) */
static void on_time(rconn *rc, redisReply *r, void *arg)
{
    (void)arg;
    /* an error (an ACL without TIME) leaves the clock unknown: the scripts, which read TIME, fail anyway */
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return;
    long long sec = strtoll(r->element[0]->str, NULL, 10), usec = strtoll(r->element[1]->str, NULL, 10);
    rconn_clock_sample(rc, sec * 1000 + usec / 1000);
}

/* setup - the set-up commands, pipelined right behind the connect */
static void setup(rconn *rc)
{
    const char *argv[3];
    size_t lens[3];
    char db[16];
    uint64_t t = rc->cfg.connect_timeout_ms;

    if (rc->url.pass[0]) {
        int n = 0;
        argv[n] = "AUTH", lens[n++] = 4;
        if (rc->url.user[0])
            argv[n] = rc->url.user, lens[n++] = strlen(rc->url.user);
        argv[n] = rc->url.pass, lens[n++] = strlen(rc->url.pass);
        push_command(rc, n, argv, lens, on_setup_reply, "AUTH", t, 0);
    }
    if (rc->url.db) {
        snprintf(db, sizeof db, "%u", rc->url.db);
        argv[0] = "SELECT", lens[0] = 6, argv[1] = db, lens[1] = strlen(db);
        push_command(rc, 2, argv, lens, on_setup_reply, "SELECT", t, 0);
    }
    if (rc->cfg.readonly) {
        argv[0] = "READONLY", lens[0] = 8;
        push_command(rc, 1, argv, lens, on_setup_reply, "READONLY", t, 0);
    }
    if (rc->cfg.clock) {
        argv[0] = "TIME", lens[0] = 4;
        push_command(rc, 1, argv, lens, on_time, NULL, t, 0);
    }
    argv[0] = "SCRIPT", lens[0] = 6, argv[1] = "LOAD", lens[1] = 4;
    argv[2] = rc->cfg.script ? rc->cfg.script : "return 1", lens[2] = strlen(argv[2]);
    push_command(rc, 3, argv, lens, on_script_loaded, NULL, t, 0);
}

/* ---- hiredis on the event loop ----
 *
 * hiredis's own libevent adapter makes a command cost four epoll_ctl calls and a turn of the loop: its read
 * event is not persistent (removed when it fires, added again by hiredis), and each command adds a write
 * event that the next turn's epoll_wait reports and the write removes. Ours keeps the read event for the
 * connection's life, and writes what the turn's commands buffered at the end of the turn, through hiredis
 * (redisAsyncHandleWrite), from an event with no descriptor; only a write the socket does not take whole,
 * and the connect, wait for the descriptor's write event. */
typedef struct rconn_ev {
    redisAsyncContext *ac;
    struct event *rev;      /* read, persistent */
    struct event *wev;      /* write: the connect, and output the socket did not take */
    struct event *flush;    /* end of the turn: write the buffered commands */
    int reading;
    int in_write;           /* inside redisAsyncHandleWrite: hiredis asks for the descriptor's write event */
} rconn_ev;

/* ev_read - the socket has replies */
static void ev_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redisAsyncHandleRead(((rconn_ev *)arg)->ac);
}

/* ev_write - the socket takes output (or the connect finished), or the turn's commands are buffered */
static void ev_write(evutil_socket_t fd, short what, void *arg)
{
    rconn_ev *e = arg;

    (void)fd;
    (void)what;
    e->in_write = 1; /* hiredis may free the context in there (a failed write): e goes with it */
    redisAsyncHandleWrite(e->ac);
}

/* ev_add_read - hiredis wants replies: the read event is added once and stays */
static void ev_add_read(void *arg)
{
    rconn_ev *e = arg;

    if (!e->reading) {
        event_add(e->rev, NULL);
        e->reading = 1;
    }
}

/* ev_del_read - hiredis stops reading */
static void ev_del_read(void *arg)
{
    rconn_ev *e = arg;

    if (e->reading) {
        event_del(e->rev);
        e->reading = 0;
    }
}

/* ev_add_write - output is buffered: written at the end of the turn, or when the socket is writable if it did
 * not take it all (or the connection is still being made) */
static void ev_add_write(void *arg)
{
    rconn_ev *e = arg;

    if (e->in_write || !(e->ac->c.flags & REDIS_CONNECTED)) {
        e->in_write = 0;
        event_add(e->wev, NULL);
    } else if (!event_pending(e->wev, EV_WRITE, NULL)) {
        event_active(e->flush, EV_WRITE, 0);
    }
}

/* ev_del_write - everything is written */
static void ev_del_write(void *arg)
{
    rconn_ev *e = arg;

    e->in_write = 0;
    event_del(e->wev);
}

/* ev_cleanup - hiredis frees the context */
static void ev_cleanup(void *arg)
{
    rconn_ev *e = arg;

    if (e->rev) /* NULL only when ev_attach could not make them all */
        event_free(e->rev);
    if (e->wev)
        event_free(e->wev);
    if (e->flush)
        event_free(e->flush);
    fg_free(e);
}

/* ev_attach - the context's events on the loop; -1 without memory */
static int ev_attach(redisAsyncContext *ac, struct event_base *base)
{
    rconn_ev *e = fg_calloc(1, sizeof *e);

    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, ev_read, e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE, ev_write, e);
    e->flush = event_new(base, -1, 0, ev_write, e);
    if (!e->rev || !e->wev || !e->flush) {
        ev_cleanup(e);
        return -1;
    }
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ev_add_read(e);
    return 0;
}

/* ---- reply objects ----
 *
 * hiredis's reader allocates every object of a reply with calloc, each integer of a script's reply too (22 for
 * a request of 4 limits), and frees them after the callback: a third of what floodgated spent on a request's
 * reply. The reply objects (not their strings or element arrays) come from a free list here instead. The list
 * is the process's (hiredis's freeObject has no context); only this module's reader functions touch it, on
 * the event loop's thread, and it is freed with the last connection. */
#define RCONN_POOL_MAX 4096 /* reply objects kept for reuse */

static redisReply *pool;      /* free objects, linked through element */
static size_t pool_n;         /* objects in it */
static size_t live_conns;     /* rconns: the pool goes with the last */

/* reply_new - a zeroed reply object of this type; NULL without memory */
static redisReply *reply_new(int type)
{
    redisReply *r = pool;

    if (r) {
        pool = (redisReply *)r->element;
        pool_n--;
        memset(r, 0, sizeof *r);
    } else if (!(r = calloc(1, sizeof *r))) {
        return NULL;
    }
    r->type = type;
    return r;
}

/* reply_link - a complete object into its parent array (as hiredis's own, only once it is whole: the reader
 * frees a failed reply through the parent) */
static void *reply_link(const redisReadTask *task, redisReply *r)
{
    if (r && task->parent)
        ((redisReply *)task->parent->obj)->element[task->idx] = r;
    return r;
}

/* reply_free - an object and what it holds back to the pool (the reader's freeObject) */
static void reply_free(void *obj)
{
    redisReply *r = obj;

    if (!r)
        return;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; r->element && i < r->elements; i++)
            reply_free(r->element[i]);
        free(r->element);
    } else if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) {
        free(r->str);
    }
    if (pool_n >= RCONN_POOL_MAX) {
        free(r);
        return;
    }
    r->element = (redisReply **)pool;
    pool = r;
    pool_n++;
}

/* reply_string - a string, status or error */
static void *reply_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = reply_new(task->type);
    char *buf = r ? malloc(len + 1) : NULL;

    if (!buf) {
        if (r) {
            r->type = REDIS_REPLY_NIL; /* nothing to free in it */
            reply_free(r);
        }
        return NULL;
    }
    memcpy(buf, str, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return reply_link(task, r);
}

/* reply_array - an array of n elements, filled in by the reader */
static void *reply_array(const redisReadTask *task, int n)
{
    redisReply *r = reply_new(REDIS_REPLY_ARRAY);

    if (r && n > 0 && !(r->element = calloc((size_t)n, sizeof *r->element))) {
        reply_free(r);
        return NULL;
    }
    if (r)
        r->elements = n > 0 ? (size_t)n : 0;
    return reply_link(task, r);
}

/* reply_integer - an integer */
static void *reply_integer(const redisReadTask *task, long long v)
{
    redisReply *r = reply_new(REDIS_REPLY_INTEGER);

    if (r)
        r->integer = v;
    return reply_link(task, r);
}

/* reply_nil - a nil */
static void *reply_nil(const redisReadTask *task)
{
    return reply_link(task, reply_new(REDIS_REPLY_NIL));
}

static redisReplyObjectFunctions reply_fns = {
    .createString = reply_string,
    .createArray = reply_array,
    .createInteger = reply_integer,
    .createNil = reply_nil,
    .freeObject = reply_free,
};

/* pool_release - the free objects, when no connection is left */
static void pool_release(void)
{
    while (pool) {
        redisReply *r = pool;
        pool = (redisReply *)r->element;
        free(r);
    }
    pool_n = 0;
}

/* connect_now - start a non-blocking connect to the numeric address */
static void connect_now(rconn *rc)
{
    redisAsyncContext *ac = rc->url.path[0] ? redisAsyncConnectUnix(rc->url.path)
                                            : redisAsyncConnect(rc->addr, (int)rc->url.port);

    if (!ac || ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        fail_all(rc, why);
        schedule_retry(rc);
        return;
    }
    ac->data = rc;
    ac->c.reader->fn = &reply_fns;
    if (rc->cfg.subscribe && !rc->url.path[0])
        redisEnableKeepAlive(&ac->c);
    if (ev_attach(ac, rc->base) < 0) {
        redisAsyncFree(ac);
        fail_all(rc, "out of memory");
        schedule_retry(rc);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rc->ac = ac;
    setup(rc);
}

/* on_retry - reconnect timer */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    rconn *rc = arg;
    (void)fd;
    (void)what;
    rc->retry_in_ms = 0;
    if (!rc->ac) {
        rc->st.reconnects++;
        connect_now(rc);
    }
}

/* resolve - the numeric address of the host; names are resolved here, once, at startup */
static int resolve(rconn *rc, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rcode;

    if (rc->url.path[0])
        return 0;
    if (rc->cfg.numeric_only)
        hints.ai_flags = AI_NUMERICHOST;
    rcode = getaddrinfo(rc->url.host, NULL, &hints, &res);
    if (rcode || !res) {
        snprintf(err, errlen, "redis %s: cannot resolve %s: %s", rc->name, rc->url.host, gai_strerror(rcode));
        return -1;
    }
    if (res->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, rc->addr, sizeof rc->addr);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, rc->addr, sizeof rc->addr);
    freeaddrinfo(res);
    return 0;
}

/* rconn_new - a connection, connecting at once */
rconn *rconn_new(struct event_base *base, const rconn_url *url, const rconn_config *cfg, char *err, size_t errlen)
{
    rconn *rc = fg_calloc(1, sizeof *rc);

    rc->base = base;
    rc->url = *url;
    rc->cfg = *cfg;
    if (!rc->cfg.connect_timeout_ms)
        rc->cfg.connect_timeout_ms = 1000;
    if (url->path[0])
        snprintf(rc->name, sizeof rc->name, "%s", url->path);
    else
        snprintf(rc->name, sizeof rc->name, strchr(url->host, ':') ? "[%s]:%u" : "%s:%u", url->host, url->port);
    if (resolve(rc, err, errlen) < 0) {
        fg_free(rc);
        return NULL;
    }
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    live_conns++;
    rc->retry = evtimer_new(base, on_retry, rc);
    rc->watch = evtimer_new(base, on_watch, rc);
    if (cfg->subscribe && cfg->heartbeat_ms) {
        struct timeval tv = {(time_t)(cfg->heartbeat_ms / 1000), (suseconds_t)(cfg->heartbeat_ms % 1000 * 1000)};
        rc->beat = event_new(base, -1, EV_PERSIST, on_beat, rc);
        event_add(rc->beat, &tv);
    }
    connect_now(rc);
    return rc;
}

/* rconn_free - close; commands in flight are answered NULL */
void rconn_free(rconn *rc)
{
    if (!rc)
        return;
    rc->cfg.log = NULL;
    rc->cfg.on_state = NULL;
    redisAsyncContext *ac = rc->ac;
    rc->ac = NULL;
    fail_all(rc, "closing");
    if (ac)
        redisAsyncFree(ac);
    event_free(rc->retry);
    event_free(rc->watch);
    if (rc->beat)
        event_free(rc->beat);
    fg_free(rc->q);
    fg_free(rc->cmd);
    fg_free(rc);
    if (--live_conns == 0)
        pool_release();
}

/* rconn_send - queue a request; refused at once during an outage */
int rconn_send(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg)
{
    return rconn_send_by(rc, argc, argv, lens, cb, arg, 0);
}

/* rconn_send_by - rconn_send, the caller answered NULL at answer_by_ms (rconn_now_ms's clock) if no reply came */
int rconn_send_by(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg,
                  uint64_t answer_by_ms)
{
    if (rc->outage || !rc->ac) {
        rc->st.refused++;
        rc->outage_refused++;
        return -1;
    }
    return push_command(rc, argc, argv, lens, cb, arg, rc->cfg.timeout_ms, answer_by_ms);
}

/* rconn_now_ms - the clock of deadlines (CLOCK_MONOTONIC) */
uint64_t rconn_now_ms(void)
{
    return mono_us() / 1000;
}

/* rconn_clock_sample - a reading of the server's clock, taken before now */
void rconn_clock_sample(rconn *rc, int64_t server_ms)
{
    uint64_t now = mono_us() / 1000;

    if (server_ms < 0 || server_ms > (1LL << 53))
        return; /* not a clock in ms (a server that answers garbage) */
    int64_t off = server_ms - (int64_t)now;

    if (!rc->clock_known || off > rc->clock_off || now - rc->clock_at_ms >= RCONN_CLOCK_KEEP_MS) {
        rc->clock_known = 1;
        rc->clock_off = off;
        rc->clock_at_ms = now;
    }
}

/* rconn_fail_by - the earliest a command sent now may be answered NULL */
uint64_t rconn_fail_by(const rconn *rc, uint64_t answer_by_ms)
{
    uint64_t by = mono_us() / 1000 + rc->cfg.timeout_ms;

    if (answer_by_ms && answer_by_ms < by)
        by = answer_by_ms;
    /* the first deadline in flight drops the connection and answers every command on it, this one too. A scan:
     * the set-up and cluster discovery have their own timeout, so the head is not always the first */
    for (size_t i = 0; i < rc->qlen; i++)
        if (rc->q[(rc->qhead + i) % rc->qcap].deadline_ms < by)
            by = rc->q[(rc->qhead + i) % rc->qcap].deadline_ms;
    return by;
}

/* rconn_await - mark the command pushed last (if its caller waits for it) as one that later commands wait for */
void rconn_await(rconn *rc)
{
    if (!rc->qlen)
        return;
    rconn_entry *e = &rc->q[(rc->qhead + rc->qlen - 1) % rc->qcap];
    if (e->cb && !e->awaited) {
        e->awaited = 1;
        rc->awaited++;
    }
}

size_t rconn_awaited(const rconn *rc)
{
    return rc->awaited;
}

/* rconn_write_now - what is buffered for the server goes now, not at the end of the loop turn (ev_add_write) */
void rconn_write_now(rconn *rc)
{
    if (!rc->ac || !(rc->ac->c.flags & REDIS_CONNECTED))
        return;
    rconn_ev *e = rc->ac->ev.data;
    if (!e || !event_pending(e->flush, EV_WRITE, NULL))
        return;
    event_del(e->flush);
    ev_write(-1, EV_WRITE, e); /* a failed write drops the connection: e, and the callbacks in flight, run */
}

/* rconn_server_deadline - the latest the server may run a command sent now, in its clock */
uint64_t rconn_server_deadline(const rconn *rc, uint64_t answer_by_ms)
{
    if (!rc->clock_known)
        return 0;
    /* the offset is a lower bound and each clock is read in whole ms (floored): a command that reads the server's
     * clock at most fail_by + offset - 2 ran before our clock read fail_by, so before the connection dropped */
    int64_t d = (int64_t)rconn_fail_by(rc, answer_by_ms) + rc->clock_off - 2;
    return d > 0 ? (uint64_t)d : 0;
}

/* rconn_send_any - queue a command on any live connection, even one still being set up after an outage */
int rconn_send_any(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg)
{
    return push_command(rc, argc, argv, lens, cb, arg, rc->cfg.connect_timeout_ms, 0);
}

/* rconn_sha - the script's sha */
const char *rconn_sha(const rconn *rc)
{
    return rc->sha;
}

/* rconn_name - for logs and stats */
const char *rconn_name(const rconn *rc)
{
    return rc->name;
}

/* rconn_host - the numeric address */
const char *rconn_host(const rconn *rc)
{
    return rc->addr;
}

/* rconn_is_up - ready for requests */
int rconn_is_up(const rconn *rc)
{
    return rc->up && !rc->outage;
}

/* rconn_get_stats - counters, depth and the p99 latency */
void rconn_get_stats(const rconn *rc, rconn_stats *out)
{
    uint64_t want, seen = 0;

    *out = rc->st;
    out->up = rconn_is_up(rc);
    out->depth = rc->qlen;
    out->retry_ms = rc->retry_in_ms;
    out->p99_us = 0;
    if (!rc->hist_n)
        return;
    want = rc->hist_n - rc->hist_n / 100;
    for (unsigned i = 0; i < RCONN_HIST; i++) {
        seen += rc->hist[i];
        if (seen >= want) {
            out->p99_us = hist_upper(i);
            return;
        }
    }
}
