/*
 * itest - what the HTTP adapter's integration tests share: a temp folder,
 * free loopback ports, the real floodgated started and always stopped, a
 * small HTTP client, and other programs (nginx, Dovecot) run in the
 * foreground with their own files under the temp folder.
 *
 * Nothing sleeps for a window: every wait is for a condition (a socket
 * that answers, a file that appears), with a bound.
 */
#ifndef FG_ITEST_H
#define FG_ITEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockio.h"

#define ITEST_MAX_CHILDREN 8

static char it_dir[] = "/tmp/fghttpXXXXXX";
static pid_t it_children[ITEST_MAX_CHILDREN];

/* it_path - a path in the temp folder (one of 8 rotating buffers) */
static const char *it_path(const char *name)
{
    static char buf[8][512];
    static int at;
    char *p = buf[at++ % 8];
    snprintf(p, 512, "%s/%s", it_dir, name);
    return p;
}

/* it_write - a file in the temp folder */
static inline void it_write(const char *name, const char *text)
{
    FILE *f = fopen(it_path(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* it_free_port - a loopback TCP port nobody listens on now */
static inline int it_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* it_connect_tcp - a connection to 127.0.0.1:port, -1 if refused */
static inline int it_connect_tcp(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* it_connect_unix - a connection to a Unix socket, -1 if nobody listens */
static inline int it_connect_unix(const char *path)
{
    return sock_connect_unix(path);
}

/* it_spawn - run argv with stdout and stderr into log (a temp-folder file); returns the pid, remembered */
static inline pid_t it_spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(it_path(log), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < ITEST_MAX_CHILDREN; i++)
        if (!it_children[i]) {
            it_children[i] = pid;
            break;
        }
    return pid;
}

/* it_stop - SIGTERM a child and reap it; its exit status (128+signal if killed) */
static inline int it_stop(pid_t pid, int sig)
{
    int status = 0;

    if (pid <= 0)
        return -1;
    kill(pid, sig);
    waitpid(pid, &status, 0);
    for (int i = 0; i < ITEST_MAX_CHILDREN; i++)
        if (it_children[i] == pid)
            it_children[i] = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* it_cleanup - whatever happened: every child killed, the temp folder removed */
static inline void it_cleanup(void)
{
    char cmd[600];

    for (int i = 0; i < ITEST_MAX_CHILDREN; i++)
        if (it_children[i] > 0) {
            kill(it_children[i], SIGKILL);
            waitpid(it_children[i], NULL, 0);
            it_children[i] = 0;
        }
    if (strcmp(it_dir, "/tmp/fghttpXXXXXX") && !getenv("FG_KEEP_TEMP")) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", it_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", it_dir);
    }
}

/* it_start_dir - the temp folder, removed at exit */
static inline void it_start_dir(void)
{
    assert_non_null(mkdtemp(it_dir));
    chmod(it_dir, 0755); /* programs that drop privileges (nginx, Dovecot) read from it */
    atexit(it_cleanup);
}

/* it_wait_tcp - until something accepts on port (up to 60 s: valgrind) or pid exits */
static inline void it_wait_tcp(int port, pid_t pid, const char *log)
{
    for (int i = 0; i < 6000; i++) {
        int fd = it_connect_tcp(port), status;
        if (fd >= 0) {
            close(fd);
            return;
        }
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
            for (int k = 0; k < ITEST_MAX_CHILDREN; k++)
                if (it_children[k] == pid)
                    it_children[k] = 0;
            fail_msg("the program exited at start; see %s", it_path(log));
        }
        poll(NULL, 0, 10);
    }
    fail_msg("nothing listens on port %d; see %s", port, it_path(log));
}

/* it_start_floodgated - the daemon with FG_WRAPPER (valgrind) if set; waits until its HTTP port answers */
static inline pid_t it_start_floodgated(const char *bin, const char *conf, int http_port)
{
    char *argv[32], wrapper[1024];
    int argc = 0;
    pid_t pid;

    if (getenv("FG_WRAPPER")) {
        snprintf(wrapper, sizeof wrapper, "%s", getenv("FG_WRAPPER"));
        for (char *t = strtok(wrapper, " "); t && argc < 24; t = strtok(NULL, " "))
            argv[argc++] = t;
    }
    argv[argc++] = (char *)bin;
    argv[argc++] = "-c";
    argv[argc++] = (char *)conf;
    argv[argc] = NULL;
    pid = it_spawn(argv, "floodgated.log");
    it_wait_tcp(http_port, pid, "floodgated.log");
    return pid;
}

typedef struct it_response {
    int status;              /* HTTP status, 0 = no answer */
    char head[8192];         /* status line and headers */
    char body[65536];        /* the body */
    size_t body_len;
    int closed;              /* the server closed the connection after it */
} it_response;

/* it_header - a header's value in a response (static buffer), NULL if absent */
static const char *it_header(const it_response *r, const char *name)
{
    static char val[1024];
    size_t n = strlen(name);

    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, n) && line[n] == ':') {
            const char *v = line + n + 1, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(val, sizeof val, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
            return val;
        }
    }
    return NULL;
}

/* it_read_fd - read within 30 s; -1 on a timeout */
static inline ssize_t it_read_fd(int fd, char *buf, size_t size)
{
    struct pollfd p = {fd, POLLIN, 0};

    if (poll(&p, 1, 30000) <= 0)
        return -1;
    return read(fd, buf, size);
}

/* it_exchange - send raw bytes on fd and read one response (by Content-Length, or to EOF) */
static inline void it_exchange(int fd, const char *req, size_t len, it_response *r)
{
    static char buf[sizeof r->head + sizeof r->body];
    size_t got = 0, head_len = 0, want = (size_t)-1;

    memset(r, 0, sizeof *r);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, req + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    while (got < sizeof buf - 1) {
        /* the head a byte at a time (never read past the response), then the body by its length */
        size_t room = sizeof buf - 1 - got, ask = 1;
        if (head_len)
            ask = want != (size_t)-1 && want - (got - head_len) < room ? want - (got - head_len) : room;
        ssize_t n = it_read_fd(fd, buf + got, ask);
        if (n <= 0) {
            r->closed = 1;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        if (!head_len) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            head_len = (size_t)(end - buf) + 4;
            snprintf(r->head, sizeof r->head, "%.*s", (int)head_len, buf);
            r->status = atoi(buf + 9);
            const char *cl = it_header(r, "Content-Length");
            want = cl ? (size_t)atol(cl) : r->status == 204 || r->status == 304 ? 0 : (size_t)-1;
        }
        if (head_len && want != (size_t)-1 && got - head_len >= want)
            break;
    }
    if (head_len) {
        r->body_len = got - head_len;
        memcpy(r->body, buf + head_len, r->body_len < sizeof r->body - 1 ? r->body_len : sizeof r->body - 1);
    }
    if (!r->closed && r->head[0] && strcasestr(r->head, "Connection: close")) {
        /* the server says it closes: check that it does */
        char c;
        r->closed = it_read_fd(fd, &c, 1) == 0;
    }
}

/* it_http - one request on a new connection to 127.0.0.1:port */
static inline void it_http(int port, const char *req, it_response *r)
{
    int fd = it_connect_tcp(port);
    assert_true(fd >= 0);
    it_exchange(fd, req, strlen(req), r);
    close(fd);
}

/* it_run - a command's output (static) and exit status */
static char *it_run(const char *cmd, int *status)
{
    static char out[65536];
    FILE *p = popen(cmd, "r");
    size_t n;

    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

#endif
