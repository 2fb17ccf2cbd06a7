/*
 * listen - the sockets floodgated accepts on
 *
 * Unix sockets get their mode and group before listen(2), so that there is
 * no moment where clients could connect with the wrong rights. A stale
 * socket file left by a crash is removed, but a socket that another
 * running daemon still answers on is never stolen. TCP listeners take
 * "tcp:HOST:PORT" (IPv6 as tcp:[::1]:PORT). Accepting pauses at
 * max_connections; clients then wait in the backlog instead of being
 * refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "server.h"

#define LISTEN_BACKLOG 1024

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
    conn_new(s, fd, l->is_control);
    if (s->nconns >= s->conf->listen.max_connections && !s->accepting_paused) {
        s->st.connections_paused++;
        log_warn("%llu connections open (listen.max_connections): new clients wait until one closes",
                 (unsigned long long)s->nconns);
        listeners_pause(s, 1);
    }
}

/* on_accept_error - accept failed (EMFILE and the like): log and go on */
static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    listener *l = arg;
    (void)evl;
    log_limited(&l->srv->bad_log, server_now(l->srv), LOG_ERR_, "accept on %s: %s", l->addr, strerror(errno));
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

/* listeners_pause - stop or resume accepting on every listener */
void listeners_pause(server *s, int pause)
{
    for (unsigned i = 0; i < s->nlisteners; i++) {
        if (!s->listeners[i].evl)
            continue;
        if (pause)
            evconnlistener_disable(s->listeners[i].evl);
        else
            evconnlistener_enable(s->listeners[i].evl);
    }
    s->accepting_paused = pause;
}
