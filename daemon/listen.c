/*
 * listen - the sockets floodgated accepts on
 *
 * Unix sockets get their mode and group before listen(2), so that there is
 * no moment where clients could connect with the wrong rights. A stale
 * socket file left by a crash is removed, but a socket that another
 * running daemon still answers on is never stolen. TCP listeners take
 * "tcp:HOST:PORT" (IPv6 as tcp:[::1]:PORT).
 *
 * Pausing. Policy listeners pause at max_connections (policy connections
 * only); the control listener pauses at control_max_connections, counted
 * apart, so that policy traffic can never lock the admin out. Clients
 * then wait in the backlog instead of being refused. A failed accept
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog,
 * so a level-triggered listener would fail again at once, forever) pauses
 * that listener until a connection closes (a descriptor freed up) or
 * ACCEPT_BACKOFF_MS pass, as nginx does with accept_mutex_delay. At start
 * the soft RLIMIT_NOFILE goes up to the hard limit, and max_connections
 * is lowered, once and logged, when it and a reserve do not fit under it.
 *
 * SECURITY
 *     The control socket edits lists, counters and bans: it is Unix-only
 *     (conf.c refuses TCP) and every peer is checked with SO_PEERCRED when
 *     accepted (control_peer_allowed: root, our own uid, or the primary
 *     gid of listen.control_group). A refused peer is answered
 *     "status=error message=permission denied", closed, counted and
 *     logged (rate-limited). A flood of connections costs at most
 *     max_connections descriptors plus the backlog; a failed accept at
 *     most one retry per closed connection or per ACCEPT_BACKOFF_MS.
 *
 * BUGS
 *     Only the peer's primary group is compared with control_group:
 *     supplementary groups would need an NSS lookup per connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "control.h"
#include "server.h"

#define LISTEN_BACKLOG 1024
#define ACCEPT_BACKOFF_MS 500 /* longest pause after a failed accept when no connection closes meanwhile */

/* control_peer_ok - may this peer use the control socket? Refused ones are answered, closed and counted */
static int control_peer_ok(listener *l, int fd)
{
    static const char denied[] = "status=error\nmessage=permission denied\n\n";
    server *s = l->srv;
    struct ucred cred;
    socklen_t len = sizeof cred;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred &&
        control_peer_allowed(&s->conf->listen, s->uid, cred.uid, cred.gid))
        return 1;
    if (len != sizeof cred)
        cred.uid = (uid_t)-1, cred.gid = (gid_t)-1, cred.pid = 0;
    s->st.control_refused++;
    log_limited(&s->accept_log, server_now(s), LOG_WARN_,
                "%s: refused a peer (uid %ld, gid %ld, pid %ld): not root, not uid %ld, not of listen.control_group",
                l->addr, (long)(int)cred.uid, (long)(int)cred.gid, (long)cred.pid, (long)s->uid);
    /* a fresh socket's send buffer is empty: this never blocks, and a lost answer only means a bare close */
    if (send(fd, denied, sizeof denied - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_msg(LOG_DEBUG_, "%s: answering a refused peer: %s", l->addr, strerror(errno));
    close(fd);
    return 0;
}

/* on_accept - a new client */
static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
    listener *l = arg;
    server *s = l->srv;

    (void)evl;
    (void)sa;
    (void)socklen;
    if (s->stopping) {
        close(fd);
        return;
    }
    if (l->is_control && !control_peer_ok(l, fd))
        return;
    conn_new(s, fd, l->is_control);
    listeners_update(s);
}

/* on_accept_timer - the backoff after a failed accept is over: try again */
static void on_accept_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listeners_retry(arg);
}

/* on_accept_error - accept failed: pause this listener until a descriptor frees up or the timer fires */
static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    listener *l = arg;
    server *s = l->srv;
    int err = errno;
    struct timeval tv = {ACCEPT_BACKOFF_MS / 1000, ACCEPT_BACKOFF_MS % 1000 * 1000};

    (void)evl;
    /* libevent retries EINTR, EAGAIN and ECONNABORTED itself; whatever reaches here would come back at
     * once on the next turn of the loop, so every error pauses */
    s->st.accept_failures++;
    log_limited(&s->accept_log, server_now(s), LOG_ERR_,
                "accept on %s: %s: accepting there pauses until a connection closes (at most %d ms)", l->addr,
                strerror(err), ACCEPT_BACKOFF_MS);
    if (!l->backoff) {
        l->backoff = 1;
        s->st.accept_pauses++;
    }
    if (!s->accept_timer)
        s->accept_timer = evtimer_new(s->base, on_accept_timer, s);
    if (s->accept_timer && !evtimer_pending(s->accept_timer, NULL))
        evtimer_add(s->accept_timer, &tv);
    listeners_update(s);
}

/* open_unix - socket file with mode and group */
static int open_unix(const char *path, unsigned mode, const char *group, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "%s: path too long for a Unix socket", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s: exists and is not a socket", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            snprintf(err, errlen, "%s: another process is listening on it", path);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", path, strerror(errno));
        return -1;
    }
    /* bind under a umask that leaves the socket closed until chmod gives it the configured mode */
    mode_t old = umask(0777);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "%s: bind: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (group) {
        struct group *g = getgrnam(group);
        if (!g || chown(path, (uid_t)-1, g->gr_gid) < 0) {
            snprintf(err, errlen, "%s: group %s: %s", path, group, g ? strerror(errno) : "no such group");
            close(fd);
            unlink(path);
            return -1;
        }
    }
    if (chmod(path, mode) < 0) {
        snprintf(err, errlen, "%s: chmod: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* open_tcp - "HOST:PORT" */
static int open_tcp(const char *hostport, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai;
    int fd, one = 1, rc;

    if (!colon || (size_t)(colon - hostport) >= sizeof host) {
        snprintf(err, errlen, "tcp:%s: expected tcp:HOST:PORT", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    /* startup, not the request path: a numeric address needs no DNS */
    if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
        snprintf(err, errlen, "tcp:%s: %s (give a numeric address)", hostport, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        snprintf(err, errlen, "tcp:%s: %s", hostport, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* activated_fd - a socket systemd passed for this unix: address, -1 if none */
static int activated_fd(const char *addr)
{
    int n = sd_listen_fds(0);

    if (n <= 0 || strncmp(addr, "unix:", 5))
        return -1;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++)
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, addr + 5, 0) > 0)
            return fd;
    return -1;
}

/* listen_socket - a bound socket for "unix:PATH" or "tcp:HOST:PORT", not listening yet (the HTTP adapter's) */
int listen_socket(const char *addr, unsigned mode, const char *group, char *err, size_t errlen)
{
    if (!strncmp(addr, "unix:", 5))
        return open_unix(addr + 5, mode, group, err, errlen);
    if (!strncmp(addr, "tcp:", 4))
        return open_tcp(addr + 4, err, errlen);
    snprintf(err, errlen, "%s: expected unix:PATH or tcp:HOST:PORT", addr);
    return -1;
}

/* listener_open - bind and listen (or take the socket systemd made) */
int listener_open(server *s, const char *addr, int is_control, unsigned mode, const char *group, listener *out,
                  char *err, size_t errlen)
{
    int fd, adopted = 0;

    memset(out, 0, sizeof *out);
    if ((fd = activated_fd(addr)) >= 0) {
        /* socket activation: systemd owns the file, its mode and its removal */
        adopted = 1;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        log_info("%s: socket from systemd", addr);
    } else if (!strncmp(addr, "unix:", 5))
        fd = open_unix(addr + 5, mode, group, err, errlen);
    else if (!strncmp(addr, "tcp:", 4))
        fd = open_tcp(addr + 4, err, errlen);
    else {
        snprintf(err, errlen, "%s: expected unix:PATH or tcp:HOST:PORT", addr);
        return -1;
    }
    if (fd < 0)
        return -1;
    out->srv = s;
    out->addr = fg_strdup(addr);
    out->path = adopted || strncmp(addr, "unix:", 5) ? NULL : fg_strdup(addr + 5);
    out->is_control = is_control;
    out->evl = evconnlistener_new(s->base, on_accept, out, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                  LISTEN_BACKLOG, fd);
    if (!out->evl) {
        snprintf(err, errlen, "%s: listen: %s", addr, strerror(errno));
        close(fd);
        if (out->path)
            unlink(out->path);
        listener_close(out);
        return -1;
    }
    evconnlistener_set_error_cb(out->evl, on_accept_error);
    return 0;
}

/* listener_close - stop accepting and remove the socket file */
void listener_close(listener *l)
{
    if (l->evl)
        evconnlistener_free(l->evl);
    if (l->path)
        unlink(l->path);
    fg_free(l->path);
    fg_free(l->addr);
    memset(l, 0, sizeof *l);
}

/* listeners_update - pause or resume each listener by its own limit and backoff */
void listeners_update(server *s)
{
    const conf_listen *cl = &s->conf->listen;
    uint64_t npolicy = s->nconns - s->ncontrol;
    int policy_full = npolicy >= cl->max_connections;
    int control_full = s->ncontrol >= cl->control_max_connections;

    /* at the limit, every close lets one more in and pauses again: rate-limited, or a busy server floods the log */
    if (policy_full && !s->accepting_paused) {
        s->st.connections_paused++;
        log_limited(&s->accept_log, server_now(s), LOG_WARN_,
                    "%llu policy connections open (listen.max_connections): new clients wait until one closes",
                    (unsigned long long)npolicy);
    }
    if (control_full && !s->control_full)
        log_limited(&s->accept_log, server_now(s), LOG_WARN_,
                    "%llu control connections open (listen.control_max_connections): new ones wait until one closes",
                    (unsigned long long)s->ncontrol);
    s->accepting_paused = policy_full;
    s->control_full = control_full;
    for (unsigned i = 0; i < s->nlisteners; i++) {
        listener *l = &s->listeners[i];
        int pause = l->backoff || (l->is_control ? control_full : policy_full);

        if (!l->evl || pause == l->paused)
            continue;
        if (pause)
            evconnlistener_disable(l->evl);
        else
            evconnlistener_enable(l->evl);
        l->paused = pause;
    }
}

/* listeners_retry - end every accept backoff (a connection closed, or the timer fired) */
void listeners_retry(server *s)
{
    for (unsigned i = 0; i < s->nlisteners; i++)
        s->listeners[i].backoff = 0;
    listeners_update(s);
}

/* listen_fit_nofile - as many descriptors as we may have, and max_connections under them */
int listen_fit_nofile(conf_listen *l, uint64_t reserve)
{
    struct rlimit rl;
    uint64_t have;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("getrlimit(RLIMIT_NOFILE): %s; listen.max_connections is not checked", strerror(errno));
        return 0;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
        else
            log_warn("raising RLIMIT_NOFILE from %llu to %llu: %s", (unsigned long long)rl.rlim_cur,
                     (unsigned long long)rl.rlim_max, strerror(errno));
    }
    have = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    if (have <= reserve) {
        log_error("RLIMIT_NOFILE is %llu: floodgated needs more than %llu descriptors (LimitNOFILE= in the unit)",
                  (unsigned long long)have, (unsigned long long)reserve);
        return -1;
    }
    if (l->max_connections > have - reserve) {
        log_warn("listen.max_connections lowered from %llu to %llu: RLIMIT_NOFILE is %llu and %llu descriptors "
                 "are kept for listeners, control connections, the store, files and the snapshot",
                 (unsigned long long)l->max_connections, (unsigned long long)(have - reserve),
                 (unsigned long long)have, (unsigned long long)reserve);
        l->max_connections = have - reserve;
    }
    return 0;
}
