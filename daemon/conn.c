/*
 * conn - one client connection (see conn.h)
 *
 * States: reading (rd event armed), paused (pipeline full or output above
 * the watermark), closing (no more reading; close once every slot is
 * answered and the output is sent), dead (freed when the last pending
 * store answer comes back). Everything happens in conn_process() and
 * conn_flush(), called from the two socket callbacks and from the engine's
 * completion callback.
 *
 * Two timers, one per direction. The idle timeout sits on the read event
 * and closes a connection with nothing in flight. The write timeout sits
 * on the write event, armed while output waits: a client that leaves its
 * answers unread (reading paused above the watermark, so the idle timer
 * is off) is closed once its output made no progress for write_timeout.
 * Progress is the daemon clock (server_now) of the last write that sent
 * bytes; libevent's timer only decides when to look, so a close comes
 * between write_timeout and twice that after the last progress.
 *
 * Answers leave at the end of the loop turn, not one by one as they are
 * ready: a connection with answers is queued on the server (flushq), and
 * one event, activated behind the turn's socket callbacks, writes every
 * queued connection back to back. What a write costs is mostly waking
 * the client when it sleeps; written together, a turn's answers find it
 * awake after the first (issue 7's benchmark, 16 connections: server CPU
 * per request down by a third). Nothing waits longer than its own turn.
 *
 * SECURITY
 *     What a client that never reads can make us hold: its unsent output
 *     (below CONN_OUT_HIGH plus the answers of one pipeline), the input of
 *     one request in progress (max_request + CONN_READ_MAX), and the ring
 *     of `pipeline` slots, whose buffers keep at most CONN_SLOT_KEEP bytes
 *     each between requests; all of it for write_timeout at most.
 */
#include "conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "bandump.h"
#include "control.h"
#include "dispatch.h"
#include "proto.h"

#define REPLY_MAX (ACTION_MAX + KEY_NAME_MAX + 96) /* action, retry_after, reason, framing */
#define CONN_SLOT_KEEP 4096 /* a slot's request buffer larger than this is freed once answered */

typedef struct slot {
    conn *c;                 /* owner */
    char *buf;               /* the request bytes, NUL-terminated in place by the parser */
    size_t cap;              /* allocated */
    fg_request req;          /* parsed */
    enum proto_status st;    /* parse result */
    dispatch job;            /* the engine's work (the verdict is job.ev.v) */
    struct evbuffer *ctl;    /* a control command's reply (kept for reuse) */
    int is_ctl;              /* this request is a control command: the answer is in ctl */
    int done;                /* answer ready */
    int dump;                /* a bans reply a child is to write (bandump.h): its kind + 1; 0 none or started */
} slot;

struct conn {
    server *srv;
    conn *prev, *next;       /* server's list */
    int fd;
    int is_control;          /* control socket */
    struct event *rd, *wr;
    struct evbuffer *in, *out;
    size_t scan;             /* framing resumes here */
    slot **ring;             /* in-flight requests, oldest at head */
    unsigned ring_cap, head, count;
    unsigned pending;        /* slots waiting on the store */
    int reading;             /* rd is armed */
    int writing;             /* wr is armed (with the write timeout): output waits for the socket */
    uint64_t progress_ms;    /* daemon clock of the last write that sent bytes (or of arming wr) */
    int closing;             /* read no more; close when all is answered and sent */
    int dead;                /* closed; freed when pending reaches 0 */
    int processing;          /* inside conn_process: do not re-enter */
    int held;                /* framing stopped at a full output or pipeline with whole requests left in
                              * `in`: they are framed when there is room, whether or not reading paused */
    int follow;              /* bans --follow: 0 no, 1 text lines, 2 JSON lines */
    int dumping;             /* a slot's reply is a child's (waiting for the replies before it, or written):
                              * nothing more is framed until the child is reaped */
    pid_t child;             /* that child while it runs: it alone writes to fd; our output waits */
    int queued;              /* on the server's flushq */
    conn *flush_next;        /* next on the flushq */
};

static void conn_process(conn *c);
static void conn_flush(conn *c);
static void flush_later(conn *c);

/* set_reading - arm or disarm the read event */
static void set_reading(conn *c, int on)
{
    if (on == c->reading || c->dead)
        return;
    if (on) {
        struct timeval tv = {(time_t)(c->srv->conf->listen.idle_timeout_ms / 1000),
                             (suseconds_t)(c->srv->conf->listen.idle_timeout_ms % 1000 * 1000)};
        event_add(c->rd, &tv);
    } else {
        event_del(c->rd);
    }
    c->reading = on;
}

/* release - free the connection's memory once nothing refers to it */
static void release(conn *c)
{
    for (unsigned i = 0; i < c->ring_cap; i++) {
        slot *s = c->ring[i];
        if (!s)
            continue;
        dispatch_release(&s->job);
        if (s->ctl)
            evbuffer_free(s->ctl);
        fg_free(s->buf);
        fg_free(s);
    }
    fg_free(c->ring);
    fg_free(c);
}

/* conn_free - close now; the memory goes when no store answer is pending */
void conn_free(conn *c)
{
    server *s = c->srv;

    if (c->dead)
        return;
    c->dead = 1;
    if (c->child) /* it writes to a client that is gone: killed, reaped by bandump */
        bandump_cancel(s->dump, c->child);
    c->child = 0;
    if (c->queued) {
        conn **p = &s->flushq;
        while (*p != c)
            p = &(*p)->flush_next;
        *p = c->flush_next;
        c->queued = 0;
    }
    event_free(c->rd);
    event_free(c->wr);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->is_control)
        s->ncontrol--;
    if (!c->pending)
        release(c);
    server_conn_closed(s);
}

/* slot_take - the next free slot of the ring, allocated on first use */
static slot *slot_take(conn *c)
{
    unsigned i = (c->head + c->count) % c->ring_cap;
    slot *s = c->ring[i];

    if (!s) {
        s = c->ring[i] = fg_calloc(1, sizeof *s);
        s->c = c;
    }
    s->done = 0;
    s->is_ctl = 0;
    c->count++;
    return s;
}

/* slot_done - a pending request (policy or control) has its answer */
static void slot_done(void *arg)
{
    slot *s = arg;
    conn *c = s->c;

    s->done = 1;
    c->pending--;
    if (c->dead) {
        if (!c->pending)
            release(c);
        return;
    }
    flush_later(c);
}

/* eval_done - the store answered a pending policy request */
static void eval_done(dispatch *d, void *arg)
{
    (void)d;
    slot_done(arg);
}

/* bad_request - count, log (rate-limited) and mark the slot answered */
static void bad_request(conn *c, slot *s)
{
    server *srv = c->srv;

    srv->st.bad_requests++;
    log_limited(&srv->bad_log, server_now(srv), LOG_WARN_, "connection %d: bad request: %s", c->fd,
                proto_error_action(s->st) + strlen("DEFER_IF_PERMIT 4.3.0 "));
    s->done = 1;
}

/* handle - one framed request in slot s */
static void handle(conn *c, slot *s, size_t len)
{
    server *srv = c->srv;
    size_t n;

    srv->st.requests++;
    s->st = proto_parse(s->buf, len, &s->req);
    /* a command; explain carries a query (request= and its attributes) along with command=explain */
    if (c->is_control && req_get(&s->req, ATTR_COMMAND, &n) && n &&
        (!s->req.val[ATTR_REQUEST] || (n == 7 && !memcmp(req_get(&s->req, ATTR_COMMAND, &n), "explain", 7)))) {
        if (!s->ctl)
            s->ctl = evbuffer_new();
        s->is_ctl = 1;
        srv->st.control++;
        int rc = control_exec(srv, &s->req, s->ctl, slot_done, s);
        if (rc == CONTROL_PENDING) {
            c->pending++;
            return;
        }
        if (rc >= CONTROL_DUMP) { /* a child writes it once the replies before it are sent (dump_start) */
            s->dump = rc - CONTROL_DUMP + 1;
            c->dumping = 1;
            return;
        }
        s->done = 1;
        if (rc == CONTROL_FOLLOW || rc == CONTROL_FOLLOW_JSON)
            c->follow = rc == CONTROL_FOLLOW_JSON ? 2 : 1;
        return;
    }
    const char *kind = req_get(&s->req, ATTR_REQUEST, &n);
    if (s->st == PROTO_UNKNOWN_KIND && !c->is_control && n == 2 && !strncasecmp(kind, "kv", 2)) {
        /* the store's other tenants: refused here unless listen.kv_on_policy (control_kv_policy) */
        if (!s->ctl)
            s->ctl = evbuffer_new();
        s->is_ctl = 1;
        if (control_kv_policy(srv, &s->req, s->ctl, slot_done, s) == CONTROL_DONE)
            s->done = 1;
        else
            c->pending++;
        return;
    }
    if (s->st != PROTO_OK) {
        bad_request(c, s);
        return;
    }
    if (dispatch_run(srv, &s->job, &s->req, FRONT_POLICY, eval_done, s) == DISPATCH_DONE)
        s->done = 1;
    else
        c->pending++;
}

/* too_large - answer the request that does not fit and close */
static void too_large(conn *c)
{
    slot *s = slot_take(c);

    s->st = PROTO_TOO_LARGE;
    c->srv->st.too_large++;
    bad_request(c, s);
    c->closing = 1;
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
}

static void write_reply(conn *c, slot *s);

/* drain_done - move the answers that are ready, in order, to the output */
static void drain_done(conn *c)
{
    while (c->count && c->ring[c->head]->done) {
        slot *s = c->ring[c->head];
        write_reply(c, s);
        if (s->cap > CONN_SLOT_KEEP) {
            /* a big request's buffer is not kept for reuse: pipeline x max_request would stay held */
            fg_free(s->buf);
            s->buf = NULL;
            s->cap = 0;
        }
        c->head = (c->head + 1) % c->ring_cap;
        c->count--;
    }
    /* an empty ring starts over at its first slot: a client that waits for each answer (Postfix does) reuses
     * one slot, still in cache, instead of walking all `pipeline` of them (64 by default, about 4 KiB each
     * with the request's buffer: 256 KiB of cold memory per connection, allocated and faulted in by its first
     * 64 requests, and a cache miss on every line of it after) */
    if (!c->count)
        c->head = 0;
}

/* frame_some - frame and hand on the complete requests of p[0..avail) that fit in the pipeline; returns the
 * bytes used (requests taken, or everything after a request too large). The caller holds c->processing. */
static size_t frame_some(conn *c, const char *p, size_t avail)
{
    uint64_t max = c->srv->conf->listen.max_request;
    size_t used = 0;

    c->held = 0;
    while (!c->closing && !c->dead && !c->follow && !c->dumping) {
        size_t left = avail - used, look, n;
        slot *s;

        if (!left)
            break;
        if (evbuffer_get_length(c->out) >= CONN_OUT_HIGH) {
            c->held = 1;
            break;
        }
        if (c->count == c->ring_cap) {
            drain_done(c);
            if (c->count == c->ring_cap) {
                c->held = 1;
                break; /* the oldest still waits on the store */
            }
        }
        look = left < max + 2 ? left : max + 2;
        n = proto_frame(p + used, look, &c->scan);
        if (!n) {
            if (left > max) {
                too_large(c);
                used = avail;
            }
            break;
        }
        if (n > max + 2) { /* + the empty line's "\r\n" */
            too_large(c);
            used = avail;
            break;
        }
        s = slot_take(c);
        if (s->cap < n + 1) {
            s->cap = n + 1 < 1024 ? 1024 : n + 1;
            fg_free(s->buf);
            s->buf = fg_malloc(s->cap);
        }
        memcpy(s->buf, p + used, n);
        s->buf[n] = '\0';
        used += n;
        handle(c, s, n);
    }
    return used;
}

/* conn_process - frame and hand on every complete request of the input buffer that fits in the pipeline */
static void conn_process(conn *c)
{
    size_t avail;

    if (c->processing)
        return;
    c->processing = 1;
    if (c->follow) /* a follower sends no more requests: what it writes is dropped */
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
    avail = evbuffer_get_length(c->in);
    if (avail && !c->closing && !c->follow) {
        const char *p = (const char *)evbuffer_pullup(c->in, -1);
        if (!p) {
            /* the buffer could not be made contiguous: this connection cannot go on */
            c->processing = 0;
            conn_free(c);
            return;
        }
        size_t used = frame_some(c, p, avail);
        if (!c->dead)
            evbuffer_drain(c->in, used); /* too_large() emptied it already: then this drains nothing */
    }
    c->processing = 0;
    if (!c->dead)
        flush_later(c);
}

/* process_read - the requests of one read, framed where they were read (no copy into the connection's input
 * buffer, no allocation); only what is left (the start of a request, or requests behind a
 * full pipeline) is kept in the input buffer for later */
static void process_read(conn *c, const char *p, size_t n)
{
    size_t used;

    c->processing = 1;
    used = frame_some(c, p, n);
    c->processing = 0;
    if (c->dead)
        return;
    if (used < n && !c->closing && !c->follow && evbuffer_add(c->in, p + used, n - used) != 0) {
        conn_free(c); /* no memory to keep the rest of the request */
        return;
    }
    flush_later(c);
}

/* write_reply - append the answer of a done slot to the output */
static void write_reply(conn *c, slot *s)
{
    char reply[REPLY_MAX];
    size_t len;

    if (s->is_ctl) {
        evbuffer_add_buffer(c->out, s->ctl);
        return;
    }
    if (s->st != PROTO_OK) {
        len = (size_t)snprintf(reply, sizeof reply, "action=%s\n\n", proto_error_action(s->st));
    } else {
        len = proto_reply(&s->job.ev.v, s->req.kind, reply, sizeof reply);
    }
    evbuffer_add(c->out, reply, len);
}

/* set_writing - wait for the socket to take more output, under the write timeout, or stop waiting */
static void set_writing(conn *c, int on)
{
    if (on == c->writing || c->dead)
        return;
    if (on) {
        uint64_t ms = c->srv->conf->listen.write_timeout_ms;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
        c->progress_ms = server_now(c->srv);
        event_add(c->wr, &tv);
    } else {
        event_del(c->wr);
    }
    c->writing = on;
}

/* write_some - send what the socket takes; -1 when the connection broke (and is freed) */
static int write_some(conn *c)
{
    int n = evbuffer_write(c->out, c->fd);

    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        conn_free(c);
        return -1;
    }
    if (n > 0 && c->writing)
        c->progress_ms = server_now(c->srv);
    return 0;
}

/* dump_done - the child of a bans reply was reaped: the slot is answered (by the child), and what waited
 * (a follower's events) goes out after it; a child that did not finish cut the reply: the connection ends */
static void dump_done(void *arg, int ok)
{
    conn *c = arg;
    server *srv = c->srv;

    c->child = 0;
    c->dumping = 0;
    c->ring[c->head]->done = 1; /* its reply buffer is empty: the child wrote it */
    if (!ok) {
        log_limited(&srv->timeout_log, server_now(srv), LOG_INFO_,
                    "connection %d: closed: the bans reply's writer did not finish (client gone or not reading)",
                    c->fd);
        conn_free(c);
        return;
    }
    conn_flush(c);
}

/* dump_start - the oldest slot's reply is a child's and everything before it is sent: fork it. 1 when it
 * runs; 0 when no child could be made (then the reply was built here, in the slot, as a small one is) */
static int dump_start(conn *c)
{
    server *srv = c->srv;
    slot *s = c->ring[c->head];
    int kind = s->dump - 1;
    pid_t pid = -1;

    s->dump = 0;
    if (!srv->dump)
        srv->dump = bandump_new(srv->base);
    if (srv->dump)
        pid = bandump_start(srv->dump, srv->pub, kind, c->fd, srv->conf->listen.write_timeout_ms, dump_done, c);
    if (kind == BANDUMP_FOLLOW || kind == BANDUMP_FOLLOW_JSON)
        c->follow = kind == BANDUMP_FOLLOW_JSON ? 2 : 1; /* the events after the child's list wait in out */
    if (pid < 0) {
        bandump_reply(srv->pub, kind, s->ctl);
        s->done = 1;
        c->dumping = 0;
        return 0;
    }
    c->child = pid;
    set_writing(c, 0);
    set_reading(c, 0);
    return 1;
}

/* conn_flush - send the answers that are ready, in order, and decide what comes next */
static void conn_flush(conn *c)
{
    if (c->child)
        return; /* the child writes to the socket until it is reaped (dump_done) */
    drain_done(c);
    if (evbuffer_get_length(c->out) && write_some(c) < 0)
        return;
    size_t unsent = evbuffer_get_length(c->out);
    if (!unsent && c->count && c->ring[c->head]->dump) {
        if (!dump_start(c))
            conn_flush(c); /* no child: the reply is in the slot, sent as any */
        return;
    }
    set_writing(c, unsent != 0);
    if (!unsent && c->closing && c->count == 0) {
        conn_free(c);
        return;
    }
    /* read on while there is room in the pipeline and the client reads its answers */
    int room = !c->closing && c->count < c->ring_cap && unsent < CONN_OUT_HIGH && (!c->dumping || c->follow);
    int was_reading = c->reading;
    set_reading(c, room);
    /* requests that waited in the buffer while reading was paused, or that framing left there at the mark when
     * this write took the output back under it with reading still on: the client may send nothing more */
    if (room && (!was_reading || c->held) && evbuffer_get_length(c->in))
        conn_process(c);
}

/* on_flush - the end of a loop turn: send what the queued connections have */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;

    (void)fd;
    (void)what;
    while (s->flushq) {
        conn *c = s->flushq;
        s->flushq = c->flush_next;
        c->queued = 0;
        conn_flush(c); /* may queue c again (it read on): it is then flushed in this loop */
    }
}

/* flush_later - have conn_flush(c) run at the end of this loop turn */
static void flush_later(conn *c)
{
    server *s = c->srv;

    if (c->queued)
        return;
    if (!s->flush_ev) {
        s->flush_ev = event_new(s->base, -1, 0, on_flush, s);
        if (!s->flush_ev) {
            conn_flush(c); /* no memory for the event: send now */
            return;
        }
    }
    if (!s->flushq)
        event_active(s->flush_ev, EV_WRITE, 0);
    c->queued = 1;
    c->flush_next = s->flushq;
    s->flushq = c;
}

/* read_some - read into the input buffer's free space; evbuffer_read would first ask the kernel
 * how much there is (an ioctl per read), which costs a syscall per request */
static int read_some(conn *c)
{
    struct evbuffer_iovec v;
    ssize_t n;

    if (evbuffer_reserve_space(c->in, CONN_READ_MAX, &v, 1) < 1)
        return -1;
    n = read(c->fd, v.iov_base, v.iov_len < CONN_READ_MAX ? v.iov_len : CONN_READ_MAX);
    if (n <= 0) {
        v.iov_len = 0;
        evbuffer_commit_space(c->in, &v, 0);
        return (int)n;
    }
    v.iov_len = (size_t)n;
    evbuffer_commit_space(c->in, &v, 1);
    return (int)n;
}

/* on_read - the socket has bytes, or the idle timeout passed */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    int n;

    (void)fd;
    if (what & EV_TIMEOUT) {
        if (c->count == 0 && !evbuffer_get_length(c->out) && !c->follow) {
            c->srv->st.idle_closed++;
            conn_free(c);
        }
        return;
    }
    if (!evbuffer_get_length(c->in) && !c->follow) {
        /* the usual case: nothing waits in the input buffer, so this read's requests are framed where they
         * were read, on the stack */
        char buf[CONN_READ_MAX];
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_shutdown(c); /* the client is gone or closed its side: answer what was asked, then close */
            return;
        }
        if (r > 0)
            process_read(c, buf, (size_t)r);
        return;
    }
    n = read_some(c);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        /* the client is gone or closed its side: answer what was asked, then close */
        conn_shutdown(c);
        return;
    }
    if (n > 0)
        conn_process(c);
}

/* on_write - the socket can take more output, or the write timeout passed */
static void on_write(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    server *srv = c->srv;

    (void)fd;
    if (what & EV_TIMEOUT) {
        uint64_t now = server_now(srv), waited = now - c->progress_ms;
        if (waited < srv->conf->listen.write_timeout_ms)
            return; /* bytes went out meanwhile: look again a write_timeout later */
        srv->st.write_timeouts++;
        log_limited(&srv->timeout_log, now, LOG_INFO_,
                    "connection %d: closed: %zu bytes of answers unread for %llu ms (listen.write_timeout)", c->fd,
                    evbuffer_get_length(c->out), (unsigned long long)waited);
        conn_free(c);
        return;
    }
    if (write_some(c) < 0)
        return;
    conn_flush(c);
}

/* conn_new - take over an accepted socket */
conn *conn_new(server *s, int fd, int is_control)
{
    conn *c = fg_calloc(1, sizeof *c);

    c->srv = s;
    c->fd = fd;
    c->is_control = is_control;
    c->ring_cap = (unsigned)s->conf->listen.pipeline;
    c->ring = fg_calloc(c->ring_cap, sizeof *c->ring);
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rd = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wr = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    if (!c->in || !c->out || !c->rd || !c->wr) {
        log_error("connection %d: out of memory for its buffers", fd);
        if (c->in) evbuffer_free(c->in);
        if (c->out) evbuffer_free(c->out);
        if (c->rd) event_free(c->rd);
        if (c->wr) event_free(c->wr);
        fg_free(c->ring);
        fg_free(c);
        close(fd);
        return NULL;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (is_control)
        s->ncontrol++;
    s->st.connections++;
    set_reading(c, 1);
    return c;
}

/* conn_shutdown - stop reading, answer what is in flight, then close */
void conn_shutdown(conn *c)
{
    if (c->dead)
        return;
    /* requests already received still get their answers */
    conn_process(c);
    if (c->dead)
        return;
    c->closing = 1;
    set_reading(c, 0);
    conn_flush(c);
}

/* conn_shutdown_all - conn_shutdown every connection */
void conn_shutdown_all(server *s)
{
    conn *c = s->conns, *next;

    for (; c; c = next) {
        next = c->next; /* c may be freed */
        conn_shutdown(c);
    }
}

/* conn_free_all - close every connection now */
void conn_free_all(server *s)
{
    while (s->conns)
        conn_free(s->conns);
    bandump_free(s->dump); /* the children of those connections: killed and reaped */
    s->dump = NULL;
    if (s->flush_ev) {
        event_free(s->flush_ev);
        s->flush_ev = NULL;
    }

}

/* conn_follow_push - one event to every follower, or drop the ones that do not keep up */
void conn_follow_push(server *s, const char *text, size_t tlen, const char *json, size_t jlen)
{
    conn *c = s->conns, *next;

    for (; c; c = next) {
        next = c->next; /* c may be freed */
        if (!c->follow || c->dead || c->closing)
            continue;
        size_t len = c->follow == 2 ? jlen : tlen, unsent = evbuffer_get_length(c->out);
        if (!len)
            continue; /* nothing in this form (a username ban for a text follower) */
        if (unsent + len > CONN_FOLLOW_MAX) {
            if (s->st.followers_dropped != UINT64_MAX)
                s->st.followers_dropped++;
            log_limited(&s->timeout_log, server_now(s), LOG_INFO_,
                        "connection %d: bans --follow dropped: %zu bytes unread (it does not keep up)", c->fd,
                        unsent);
            conn_free(c);
            continue;
        }
        if (evbuffer_add(c->out, c->follow == 2 ? json : text, len) != 0) {
            conn_free(c);
            continue;
        }
        conn_flush(c);
    }
}
