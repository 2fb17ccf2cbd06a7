/*
 * sockio - the client side of a Unix socket, as every integration test uses it: connect, and read one reply
 * (up to its empty line). Blocking, with a poll deadline so that a daemon that never answers fails the test
 * instead of hanging it.
 */
#ifndef FG_SOCKIO_H
#define FG_SOCKIO_H

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKIO_WAIT_MS 30000 /* a reply that takes longer is treated as none */

/* sock_connect_unix - a connection to a Unix socket, -1 if nobody listens */
static inline int sock_connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    int fd;

    if (len >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, len + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* sock_read_reply - read up to the reply's empty line (or the peer's close, or SOCKIO_WAIT_MS of silence) into
 * buf, NUL-terminated; returns buf */
static inline char *sock_read_reply(int fd, char *buf, size_t size)
{
    size_t got = 0;

    buf[0] = '\0';
    while (got < size - 1 && !strstr(buf, "\n\n")) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, SOCKIO_WAIT_MS) <= 0)
            break;
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    return buf;
}

/* sock_ask - one request on a new connection to path; the reply (up to its empty line) in buf, "" when the
 * connection failed */
static inline char *sock_ask(const char *path, const char *req, char *buf, size_t size)
{
    int fd = sock_connect_unix(path);
    size_t len = strlen(req);

    buf[0] = '\0';
    if (fd < 0)
        return buf;
    if (write(fd, req, len) == (ssize_t)len)
        sock_read_reply(fd, buf, size);
    close(fd);
    return buf;
}

#endif
