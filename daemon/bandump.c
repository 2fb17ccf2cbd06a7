/*
 * bandump - the replies of bans format= and follow=, big ones written by a child (see bandump.h)
 */
#include "bandump.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

typedef struct child {
    pid_t pid;
    bandump_done_fn done;  /* NULL once cancelled */
    void *arg;
} child;

struct bandump {
    struct event *timer;   /* reaping ticks while children run */
    child *v;
    size_t n, cap;
    bandump_stats st;
};

/* sat_inc - saturating counter */
static void sat_inc(uint64_t *c)
{
    if (*c != UINT64_MAX)
        (*c)++;
}

/* send_some - write b to fd in BANDUMP_CHUNK pieces until at most keep bytes are left, waiting for the socket
 * when it is full; -1 when it broke or took nothing for timeout_ms */
static int send_some(int fd, struct evbuffer *b, size_t keep, int timeout_ms)
{
    while (evbuffer_get_length(b) > keep) {
        int n = evbuffer_write_atmost(b, fd, BANDUMP_CHUNK);
        if (n > 0)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        struct pollfd pf = {fd, POLLOUT, 0};
        int r = poll(&pf, 1, timeout_ms);
        if (r == 0 || (r < 0 && errno != EINTR))
            return -1;
    }
    return 0;
}

/* frame - the text of a format as the reply's line[]= fields; with fd >= 0, written to it as it grows
 * (the child), else left in out (the loop): the same bytes either way */
static int frame(int fmt, struct evbuffer *text, struct evbuffer *out, int fd, int timeout_ms)
{
    size_t lines = 0, len = evbuffer_get_length(text);
    const char *p = (const char *)evbuffer_pullup(text, -1), *end = p + len;

    if (len && !p)
        return -1;
    for (const char *q = p; q < end; q++)
        lines += *q == '\n';
    evbuffer_add_printf(out, "status=ok\nformat=%s\ncount=%zu\n", banexport_format_name(fmt), lines);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        evbuffer_add(out, "line[]=", 7);
        evbuffer_add(out, p, n);
        evbuffer_add(out, "\n", 1);
        p += n + 1;
        if (fd >= 0 && evbuffer_get_length(out) >= BANDUMP_CHUNK && send_some(fd, out, 0, timeout_ms) < 0)
            return -1;
    }
    evbuffer_add(out, "\n", 1);
    return 0;
}

/* build - the reply of kind into out (fd: see frame) */
static int build(banpub *p, int kind, struct evbuffer *out, int fd, int timeout_ms)
{
    if (kind == BANDUMP_FOLLOW || kind == BANDUMP_FOLLOW_JSON) {
        evbuffer_add_printf(out, "status=ok\n\n");
        banpub_follow_start(p, kind == BANDUMP_FOLLOW_JSON, out);
        return 0;
    }
    struct evbuffer *text = evbuffer_new();
    if (!text)
        return -1;
    banpub_format(p, kind, text);
    int rc = frame(kind, text, out, fd, timeout_ms);
    evbuffer_free(text);
    return rc;
}

/* bandump_reply - the whole reply, on the loop */
void bandump_reply(banpub *p, int kind, struct evbuffer *out)
{
    build(p, kind, out, -1, 0);
}

/* bandump_child_signals - every signal back to its default action, none blocked: the child inherits
 * libevent's handlers, which write to the signal pipe it shares with the daemon, so a SIGTERM meant for
 * the child would stop the daemon; the snapshot and export children call it too */
void bandump_child_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL); /* fails only for numbers that are no signal */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* dump_child - in the forked child: the reply to fd, then _exit; never returns */
static void dump_child(banpub *p, int kind, int fd, uint64_t timeout_ms)
{
    int ms = timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
    struct evbuffer *out;

    bandump_child_signals();
    /* the parent's other descriptors are not ours to use; closed here, a connection the parent closes
     * meanwhile ends for its client at once instead of when we exit (fails harmlessly on old kernels) */
    if (fd > 3)
        close_range(3, (unsigned)fd - 1, 0);
    close_range((unsigned)fd + 1, ~0u, 0);
    out = evbuffer_new();
    if (!out || build(p, kind, out, fd, ms) < 0 || send_some(fd, out, 0, ms) < 0)
        _exit(1);
    _exit(0);
}

/* reap - collect the children that ended, and call their connections back */
static void reap(bandump *d)
{
    for (size_t i = 0; i < d->n;) {
        int status;
        pid_t r = waitpid(d->v[i].pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        child c = d->v[i];
        d->v[i] = d->v[--d->n]; /* before the callback: it may start or cancel another */
        int ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok)
            sat_inc(&d->st.failed);
        if (c.done)
            c.done(c.arg, ok);
    }
}

/* arm - look again in BANDUMP_REAP_MS while children run */
static void arm(bandump *d)
{
    struct timeval tv = {0, BANDUMP_REAP_MS * 1000};
    if (d->n && !evtimer_pending(d->timer, NULL))
        evtimer_add(d->timer, &tv);
}

/* on_timer - reap */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    bandump *d = arg;
    (void)fd;
    (void)what;
    reap(d);
    arm(d);
}

/* bandump_new - no child yet */
bandump *bandump_new(struct event_base *base)
{
    bandump *d = fg_calloc(1, sizeof *d);

    d->timer = evtimer_new(base, on_timer, d);
    if (!d->timer) {
        fg_free(d);
        return NULL;
    }
    return d;
}

/* bandump_start - fork the writer of one reply */
pid_t bandump_start(bandump *d, banpub *p, int kind, int fd, uint64_t timeout_ms, bandump_done_fn done, void *arg)
{
    sigset_t all, old;
    pid_t pid;

    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->v = fg_realloc(d->v, d->cap * sizeof *d->v);
    }
    /* signals blocked across the fork: none reaches the child's inherited handlers before it resets them */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0)
        dump_child(p, kind, fd, timeout_ms);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        log_error("bans: fork for a dump: %s; written on the loop instead", strerror(fork_errno));
        return -1;
    }
    d->v[d->n++] = (child){pid, done, arg};
    sat_inc(&d->st.forked);
    d->st.last_pid = pid;
    arm(d);
    return pid;
}

/* bandump_cancel - kill the child of a connection that went; reaped by the timer */
void bandump_cancel(bandump *d, pid_t pid)
{
    for (size_t i = 0; d && i < d->n; i++)
        if (d->v[i].pid == pid && d->v[i].done) {
            d->v[i].done = NULL;
            kill(pid, SIGTERM);
        }
}

/* bandump_free - kill and reap every child, then forget */
void bandump_free(bandump *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        kill(d->v[i].pid, SIGTERM);
        while (waitpid(d->v[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    event_free(d->timer);
    fg_free(d->v);
    fg_free(d);
}

/* bandump_running - children not reaped yet */
size_t bandump_running(const bandump *d)
{
    return d ? d->n : 0;
}

/* bandump_get_stats - counters */
bandump_stats bandump_get_stats(const bandump *d)
{
    bandump_stats none = {0};
    return d ? d->st : none;
}
